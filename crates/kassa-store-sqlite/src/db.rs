//! The SQLite execution model: one writer thread with group commit, a few reader threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use kassa_core::Error;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub(crate) const DEFAULT_READERS: usize = 4;
/// Upper bound on use-cases per commit: keeps one batch's latency bounded under a flood.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer beyond this make callers wait (backpressure, bounded memory).
const WRITE_QUEUE: usize = 8192;

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
            DbError::Sql(e) => Error::internal(format!("sqlite: {e}")),
        }
    }
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
}

impl Db {
    pub(crate) fn open(path: &Path, readers: usize) -> Result<Self, Error> {
        let open_err = |e: rusqlite::Error| {
            Error::internal(format!("cannot open SQLite database {}: {e}", path.display()))
        };
        let writer_conn = Connection::open(path).map_err(open_err)?;
        configure(&writer_conn, true).map_err(open_err)?;

        let (write_tx, write_rx) = mpsc::sync_channel(WRITE_QUEUE);
        thread::Builder::new()
            .name("kassa-sqlite-writer".into())
            .spawn(move || writer_loop(writer_conn, write_rx))
            .map_err(Error::internal)?;

        let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for n in 0..readers.max(1) {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(open_err)?;
            configure(&conn, false).map_err(open_err)?;
            let rx = Arc::clone(&read_rx);
            thread::Builder::new()
                .name(format!("kassa-sqlite-reader-{n}"))
                .spawn(move || reader_loop(conn, &rx))
                .map_err(Error::internal)?;
        }
        Ok(Self {
            writer: write_tx,
            readers: read_tx,
        })
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
                None => Err(Error::internal("sqlite: could not start a write transaction")),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let _ = tx.send(commit.map_err(Error::internal).and(result));
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
            let _ = tx.send(result.map_err(Error::from));
        });
        self.readers.send(job).map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> Error {
    Error::internal("the SQLite worker threads have stopped")
}

fn configure(conn: &Connection, writer: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if writer {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        // FULL: a committed order survives power loss, not only a crash of kassa. Measured cost
        // with group commit is ~10-20 % of write throughput.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Every job runs in a SAVEPOINT, whose sub-journal SQLite writes to a temporary file by
        // default: a write syscall per changed page that profiling showed on the writer thread.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
    }
    // A page cache (KiB, negative) big enough for the hot carts, orders and their indexes, so
    // reads are not a `pread` each: 16 MiB for the writer, 8 MiB per reader.
    conn.pragma_update(None, "cache_size", if writer { -16_384 } else { -8_192 })?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

fn writer_loop(conn: Connection, jobs: Receiver<WriteJob>) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = run(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "sqlite: cannot begin a write transaction");
            for job in batch.drain(..) {
                let (_, reply) = job(None);
                reply(Err(e.to_string()));
            }
            continue;
        }
        for job in batch.drain(..) {
            let savepoint = run(&conn, "SAVEPOINT unit");
            let (ok, reply) = job(savepoint.is_ok().then_some(&conn));
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
        let commit = run(&conn, "COMMIT").map_err(|e| {
            let _ = run(&conn, "ROLLBACK");
            format!("sqlite: commit failed: {e}")
        });
        for reply in replies.drain(..) {
            reply(commit.clone());
        }
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
pub(crate) fn conflict_on(e: rusqlite::Error, rules: &[(&str, &str)]) -> DbError {
    if let Some(msg) = unique_violation(&e)
        && let Some((_, detail)) = rules.iter().find(|(needle, _)| msg.contains(needle))
    {
        return Error::Conflict((*detail).to_owned()).into();
    }
    e.into()
}
