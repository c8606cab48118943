//! The SQLite execution model: one writer thread with group commit, a few reader threads.

use std::fs::{File, OpenOptions};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kassa_core::Error;
use kassa_core::conflicts::{self, UniqueRule};
use kassa_core::stats::{Histogram, SqliteWriterStats};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub(crate) const DEFAULT_READERS: usize = 4;
/// Upper bound on use-cases per commit: keeps one batch's latency bounded under a flood.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer beyond this make callers wait (backpressure, bounded memory).
const WRITE_QUEUE: usize = 8192;
/// The checkpointer copies the WAL back into the database at most this often while writes go on.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);
/// WAL pages after which the writer checkpoints itself, so that the WAL restarts from its start
/// (only the writer can restart it) and stays bounded (~32 MiB) even under a constant flood.
const WRITER_CHECKPOINT_PAGES: u32 = 8192;
/// The writer's own checkpoint threshold where there is no checkpointer thread (SQLite's default).
const SMALL_CHECKPOINT_PAGES: u32 = 1000;

/// What a use-case closure returns: SQL errors convert with `?`, domain errors pass through.
pub(crate) type DbResult<T> = Result<T, DbError>;

#[derive(Debug)]
pub(crate) enum DbError {
    Sql(rusqlite::Error),
    Domain(Error),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sql(e)
    }
}

impl From<Error> for DbError {
    fn from(e: Error) -> Self {
        DbError::Domain(e)
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Domain(e) => e,
            DbError::Sql(e) if cannot_write(&e) => Error::unavailable(format!("sqlite: {e}")),
            DbError::Sql(e) => Error::internal(format!("sqlite: {e}")),
        }
    }
}

/// Whether a statement failed because the database file cannot be written (or read) just now —
/// a read-only file or file system, a full disk, an I/O error, a lock held too long — rather
/// than because of the statement.
pub(crate) fn cannot_write(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            ReadOnly
                | DiskFull
                | SystemIoFailure
                | CannotOpen
                | DatabaseBusy
                | DatabaseLocked
                | PermissionDenied
        )
    )
}

/// The name of the unique index a statement violated, if that is why it failed.
pub(crate) fn unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Some(msg.as_str())
        }
        _ => None,
    }
}

/// True if a statement failed on a foreign key (a referenced row is missing or still referenced).
pub(crate) fn foreign_key_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// Runs after the batch's commit to answer the caller; `Err` carries why the commit failed.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A use-case for the writer: runs inside its own savepoint and says whether it succeeded.
/// Given no connection (its batch could not start a transaction) it must fail without running.
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> (bool, Reply) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

#[derive(Clone)]
pub(crate) struct Db {
    writer: SyncSender<WriteJob>,
    readers: Sender<ReadJob>,
    path: Arc<Path>,
    stats: Arc<WriterStats>,
    context: Arc<kassa_core::context::StoreContext>,
}

/// Upper bounds of the batch-size buckets: use-cases per commit, up to [`MAX_BATCH`].
const BATCH_SIZE_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Upper bounds, in seconds, of the writer's and the syncer's time buckets.
const SECONDS_BOUNDS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// What the writer and the syncer record for `/metrics`: a few relaxed atomic additions per
/// batch, not per use-case.
struct WriterStats {
    batch_size: Histogram,
    batch_seconds: Histogram,
    wal_sync_seconds: Histogram,
}

impl WriterStats {
    fn new() -> Self {
        Self {
            batch_size: Histogram::new(BATCH_SIZE_BOUNDS),
            batch_seconds: Histogram::new(SECONDS_BOUNDS),
            wal_sync_seconds: Histogram::new(SECONDS_BOUNDS),
        }
    }
}

impl Db {
    pub(crate) fn open(path: &Path, readers: usize) -> Result<Self, Error> {
        Self::open_with(path, readers, true)
    }

    /// [`Db::open`]; without a `checkpointer` thread the writer checkpoints itself every
    /// [`SMALL_CHECKPOINT_PAGES`]: for a small store (a per-test one), where a thread and a
    /// connection fewer (each connection parses the schema, ~220 KiB) matter more than the
    /// writer's latency.
    pub(crate) fn open_with(path: &Path, readers: usize, checkpointer: bool) -> Result<Self, Error> {
        let open_err = |e: rusqlite::Error| {
            let hint = if cannot_write(&e) {
                " (the file and its directory must be writable: check their owner, permissions and attributes, and that the file system is not read-only or full)"
            } else {
                ""
            };
            Error::internal(format!(
                "cannot open SQLite database {}: {e}{hint}",
                path.display()
            ))
        };
        let writer_conn = Connection::open(path).map_err(open_err)?;
        // SQLite opens a file it may not write read-only rather than failing: say so now, not at
        // the first write.
        if writer_conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(Error::internal(format!(
                "cannot write the SQLite database {}: it is read-only (check the file's owner, permissions and attributes, and that its file system is mounted read-write)",
                path.display()
            )));
        }
        configure(&writer_conn, Role::Writer).map_err(open_err)?;
        let checkpoint_conn = if checkpointer {
            let conn = Connection::open(path).map_err(open_err)?;
            configure(&conn, Role::Checkpointer).map_err(open_err)?;
            Some(conn)
        } else {
            writer_conn
                .pragma_update(None, "wal_autocheckpoint", SMALL_CHECKPOINT_PAGES)
                .map_err(open_err)?;
            None
        };
        let wal = PathBuf::from(format!("{}-wal", writer_conn.path().unwrap_or_default()));
        // Every thread of this database works for the store it was opened for: its test clock
        // and ids (see `kassa_core::context`).
        let context = kassa_core::context::current();
        let (write_tx, write_rx) = mpsc::sync_channel(WRITE_QUEUE);
        let (committed_tx, committed_rx) = mpsc::channel();
        let (checkpoint_tx, checkpoint_rx) = mpsc::sync_channel(1);
        let stats = Arc::new(WriterStats::new());
        let writer_stats = Arc::clone(&stats);
        thread::Builder::new()
            .name("kassa-sqlite-writer".into())
            .spawn(bound_to(&context, move || {
                writer_loop(writer_conn, write_rx, committed_tx, &writer_stats)
            }))
            .map_err(Error::internal)?;
        let syncer_stats = Arc::clone(&stats);
        thread::Builder::new()
            .name("kassa-sqlite-syncer".into())
            .spawn(bound_to(&context, move || {
                syncer_loop(&wal, committed_rx, checkpoint_tx, &syncer_stats)
            }))
            .map_err(Error::internal)?;
        if let Some(conn) = checkpoint_conn {
            thread::Builder::new()
                .name("kassa-sqlite-checkpointer".into())
                .spawn(bound_to(&context, move || checkpointer_loop(conn, checkpoint_rx)))
                .map_err(Error::internal)?;
        }

        let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for n in 0..readers.max(1) {
            let conn = open_reader(path).map_err(open_err)?;
            let rx = Arc::clone(&read_rx);
            thread::Builder::new()
                .name(format!("kassa-sqlite-reader-{n}"))
                .spawn(bound_to(&context, move || reader_loop(conn, &rx)))
                .map_err(Error::internal)?;
        }
        Ok(Self {
            writer: write_tx,
            readers: read_tx,
            path: Arc::from(path),
            stats,
            context,
        })
    }

    /// The writer's and the syncer's numbers so far.
    pub(crate) fn stats(&self) -> SqliteWriterStats {
        SqliteWriterStats {
            batch_size: self.stats.batch_size.snapshot(),
            batch_seconds: self.stats.batch_seconds.snapshot(),
            wal_sync_seconds: self.stats.wal_sync_seconds.snapshot(),
        }
    }

    /// Copies the whole WAL into the database and empties it (`TRUNCATE`), waiting up to the busy
    /// timeout for readers and the writer to finish; for a clean stop, when no request is left.
    pub(crate) async fn checkpoint_all(&self) -> Result<(), Error> {
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || {
            let conn = Connection::open(&*path)?;
            configure(&conn, Role::Checkpointer)?;
            // Busy (1) while the checkpointer thread is in the middle of its own: try again.
            for _ in 0..50 {
                let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
                if busy == 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            Ok::<_, rusqlite::Error>(())
        })
        .await
        .map_err(Error::internal)?
        .map_err(|e| Error::internal(format!("sqlite: final checkpoint failed: {e}")))
    }

    /// Runs `f` as one atomic unit on the writer thread; resolves once its batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => catch_unwind(AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(DbError::Domain(Error::internal("a storage use-case panicked"))))
                    .map_err(Error::from),
                None => Err(Error::unavailable("sqlite: could not start a write transaction")),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                // A batch that cannot be committed (or flushed) is a database that cannot be
                // written just now, whatever the use-case was.
                let _ = tx.send(commit.map_err(Error::unavailable).and(result));
            });
            (ok, reply)
        });
        let writer = self.writer.clone();
        // The queue is bounded; waiting for room must not block an async worker.
        match writer.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(job)) => {
                tokio::task::spawn_blocking(move || writer.send(job))
                    .await
                    .map_err(Error::internal)?
                    .map_err(|_| writer_gone())?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(writer_gone()),
        }
        rx.await.map_err(|_| writer_gone())?
    }

    /// Runs `f` on a reader connection inside one read transaction (a consistent snapshot).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(read_transaction(conn, f));
        });
        self.readers.send(job).map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// Runs `f` as [`Self::read`] does, but on a connection and a thread of its own at the lowest
    /// scheduling priority: for a read of seconds (a publish's read of a whole large catalog)
    /// that should neither hold one of the few shared readers nor take the CPU from requests.
    pub(crate) async fn read_in_background<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let path = Arc::clone(&self.path);
        let (tx, rx) = oneshot::channel();
        thread::Builder::new()
            .name("kassa-sqlite-background".into())
            .spawn(bound_to(&self.context, move || {
                #[cfg(target_os = "linux")]
                lower_own_priority();
                let result = match open_reader(&path) {
                    Ok(conn) => read_transaction(&conn, f),
                    Err(e) => Err(Error::internal(format!("sqlite: cannot open a reader: {e}"))),
                };
                let _ = tx.send(result);
            }))
            .map_err(Error::internal)?;
        rx.await.map_err(|_| writer_gone())?
    }
}

/// `f`, on a thread that works for `context`'s store (its test clock and ids) all its life.
fn bound_to<F: FnOnce() + Send + 'static>(
    context: &Arc<kassa_core::context::StoreContext>,
    f: F,
) -> impl FnOnce() + Send + 'static {
    let context = Arc::clone(context);
    move || {
        kassa_core::context::bind_thread(context);
        f()
    }
}

/// Linux's `SCHED_IDLE` policy for this thread: a request thread that wakes takes the core from
/// it at once.
#[cfg(target_os = "linux")]
fn lower_own_priority() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let _ = set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle);
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, Role::Reader)?;
    Ok(conn)
}

/// Runs `f` inside one read transaction on `conn`, rolling back whatever it left open.
fn read_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> DbResult<T>) -> Result<T, Error> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        run(conn, "BEGIN")?;
        let out = f(conn);
        run(conn, "COMMIT")?;
        out
    }))
    .unwrap_or_else(|_| Err(DbError::Domain(Error::internal("a storage read panicked"))));
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result.map_err(Error::from)
}

fn writer_gone() -> Error {
    Error::internal("the SQLite worker threads have stopped")
}

#[derive(Clone, Copy)]
enum Role {
    Writer,
    Checkpointer,
    Reader,
}

fn configure(conn: &Connection, role: Role) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    match role {
        Role::Writer => {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
            // NORMAL: a commit writes the WAL frames without flushing them; the syncer thread
            // flushes them before anyone hears of the commit (see `syncer_loop`), so every
            // acknowledged write is as durable as with FULL, and the flush of one batch overlaps
            // the statements of the next.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
            // Every job runs in a SAVEPOINT, whose sub-journal SQLite writes to a temporary file
            // by default: a write syscall per changed page that profiling showed on the writer.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
        }
        // A checkpoint with NORMAL flushes the WAL before copying it into the database and the
        // database before it lets the WAL be overwritten, so no committed frame is ever lost.
        Role::Checkpointer => conn.pragma_update(None, "synchronous", "NORMAL")?,
        Role::Reader => {}
    }
    // A page cache (KiB, negative) big enough for the hot pages of carts, orders and their
    // indexes, so reads are not a `pread` each: 2 MiB for the writer, 8 MiB per reader. The
    // writer's is full on any node that takes writes (seeding or publishing 100,000 products
    // fills it), and its pages are glibc's (SQLite does not allocate through mimalloc), which
    // keeps them: 16 and 8 MiB cost their size in resident memory for no checkout or journey
    // speed measured over 2 (BENCHMARKS.md, sessions 30 and 31); the OS's page cache holds the
    // rest. A reader's is emptied by its next read after any write, so it rarely fills.
    let cache_kib = match role {
        Role::Writer => -2_048,
        Role::Reader => -8_192,
        Role::Checkpointer => -1_024,
    };
    conn.pragma_update(None, "cache_size", cache_kib)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

fn writer_loop(
    conn: Connection,
    jobs: Receiver<WriteJob>,
    committed: Sender<Vec<Reply>>,
    stats: &WriterStats,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let size = batch.len();
        if let Err(e) = run(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "sqlite: cannot begin a write transaction");
            for job in batch.drain(..) {
                let (_, reply) = job(None);
                reply(Err(e.to_string()));
            }
            continue;
        }
        // Handed to the syncer with the batch, so a new one per batch.
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            let savepoint = run(&conn, "SAVEPOINT unit");
            let staged = crate::handoff::staged();
            let (ok, reply) = job(savepoint.is_ok().then_some(&conn));
            if !ok {
                crate::handoff::discard_since(staged);
            }
            if savepoint.is_ok() {
                let rolled_back = if ok {
                    Ok(())
                } else {
                    run(&conn, "ROLLBACK TO unit")
                };
                if let Err(e) = rolled_back.and_then(|()| run(&conn, "RELEASE unit")) {
                    tracing::error!(error = %e, "sqlite: savepoint end failed");
                }
            }
            replies.push(reply);
        }
        // Jobs for this node's delivery worker, handed over when the syncer answers (only if the
        // batch is durable: otherwise they wait for their lease to end, see `handoff`), before the
        // batch's callers hear that their writes are done.
        if let Some(hand_over) = crate::handoff::take_staged() {
            replies.insert(
                0,
                Box::new(move |durable: Result<(), String>| {
                    if durable.is_ok() {
                        hand_over();
                    }
                }),
            );
        }
        match run(&conn, "COMMIT") {
            // The syncer answers once the batch is durable; meanwhile the next batch runs.
            Ok(()) => {
                stats.batch_size.observe(size as f64);
                stats.batch_seconds.observe(started.elapsed().as_secs_f64());
                if let Err(mpsc::SendError(lost)) = committed.send(replies) {
                    lost.into_iter()
                        .for_each(|reply| reply(Err("sqlite: the syncer has stopped".into())));
                }
            }
            Err(e) => {
                let _ = run(&conn, "ROLLBACK");
                let failed = format!("sqlite: commit failed: {e}");
                replies.into_iter().for_each(|reply| reply(Err(failed.clone())));
            }
        }
    }
}

/// Makes committed batches durable, then answers their callers, in commit order.
///
/// The writer commits with `synchronous=NORMAL`: its frames are in the WAL file but maybe not on
/// the disk yet. One `fdatasync` of the WAL here covers every batch committed before it, so the
/// batches that piled up while the last one ran share it. A commit is acknowledged only after
/// that, so an acknowledged write survives power loss as with `synchronous=FULL`; frames are
/// only ever overwritten (WAL restart) after a checkpoint has flushed them into the database.
/// What this does allow: a reader may see a batch's rows a few milliseconds before they are on
/// the disk, while the batch's own callers are still waiting.
fn syncer_loop(wal: &Path, committed: Receiver<Vec<Reply>>, checkpoint: SyncSender<()>, stats: &WriterStats) {
    let mut wal_file: Option<File> = None;
    while let Ok(first) = committed.recv() {
        let mut ready = vec![first];
        ready.extend(committed.try_iter());
        let started = Instant::now();
        let synced = flush(&mut wal_file, wal);
        stats.wal_sync_seconds.observe(started.elapsed().as_secs_f64());
        let synced = synced.map_err(|e| {
            tracing::error!(error = %e, wal = %wal.display(), "sqlite: cannot flush the WAL");
            format!("sqlite: cannot flush the WAL: {e}")
        });
        for reply in ready.into_iter().flatten() {
            reply(synced.clone());
        }
        // Coalesces: the checkpointer is told once however many batches arrive meanwhile.
        let _ = checkpoint.try_send(());
    }
}

/// `fdatasync`s the WAL, opening it once: SQLite keeps the file (it restarts it in place) for as
/// long as a connection is open, and this store's connections live as long as the process.
fn flush(file: &mut Option<File>, wal: &Path) -> std::io::Result<()> {
    if file.is_none() {
        *file = Some(OpenOptions::new().write(true).open(wal)?);
    }
    file.as_ref().map_or(Ok(()), File::sync_data)
}

/// Copies the WAL back into the database off the writer's thread (a checkpoint is page copies and
/// two `fsync`s), at most every [`CHECKPOINT_INTERVAL`] while writes go on, never when idle.
/// `PASSIVE` never blocks the writer or the readers.
fn checkpointer_loop(conn: Connection, wake: Receiver<()>) {
    while wake.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "sqlite: checkpoint failed");
        }
        thread::sleep(CHECKPOINT_INTERVAL);
    }
}

/// Runs one transaction-control statement from the statement cache: `execute_batch` would parse
/// it again for every job, which showed up as ~15 % of the writer thread's time.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn reader_loop(conn: Connection, jobs: &Mutex<Receiver<ReadJob>>) {
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job(&conn);
    }
}

/// Maps a unique violation to `Conflict` with the message of the first rule whose needle the
/// error names (SQLite names the columns of a column index, `products.sku`, and the index of an
/// expression index, `nodes_sibling_name_key`); other errors pass through.
pub(crate) fn conflict_on(e: rusqlite::Error, rules: &[UniqueRule]) -> DbError {
    if let Some(msg) = unique_violation(&e)
        && let Some(rule) = conflicts::broken(rules, |r| msg.contains(r.sqlite))
    {
        return rule.error().into();
    }
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows a connection sees in the database file alone, as if the WAL were lost.
    fn rows_in_database_file(db: &Path, scratch: &Path) -> i64 {
        std::fs::copy(db, scratch).unwrap();
        let _ = std::fs::remove_file(format!("{}-wal", scratch.display()));
        let conn = Connection::open(scratch).unwrap();
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn committed_writes_are_answered_and_checkpointed_off_the_writer() {
        let dir = std::env::temp_dir().join(format!("kassa-db-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kassa.db");
        let db = Db::open(&path, 1).unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?))
            .await
            .unwrap();

        // Many concurrent writes share batches; each is answered once, after its commit.
        let writes = (0..200).map(|n| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| Ok(c.execute("INSERT INTO t (n) VALUES (?1)", [n])?))
                    .await
            })
        });
        for write in writes.collect::<Vec<_>>() {
            assert_eq!(write.await.unwrap().unwrap(), 1);
        }
        let seen: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(seen, 200);

        // Every use-case was in exactly one recorded batch, and each batch was made durable by a
        // recorded WAL flush (one flush may cover several batches) before it was answered.
        let stats = db.stats();
        let batches = stats.batch_size.count();
        assert_eq!(stats.batch_size.sum, 201.0);
        assert!((1..=201).contains(&batches), "{batches} batches");
        assert_eq!(stats.batch_seconds.count(), batches);
        let syncs = stats.wal_sync_seconds.count();
        assert!(
            (1..=batches).contains(&syncs),
            "{syncs} flushes for {batches} batches"
        );

        // 201 small commits are far below the writer's own checkpoint threshold: only the
        // checkpointer thread can have copied them into the database file.
        let scratch = dir.join("copy.db");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while rows_in_database_file(&path, &scratch) < 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was never checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
