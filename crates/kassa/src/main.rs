use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use kassa::config::{Cli, Command, Database, FileConfig, KeysCommand, ServeConfig};

/// mimalloc instead of the system allocator: allocation was ~17 % of kassa's CPU on the write
/// paths under glibc malloc, and glibc kept the 19 MiB Argon2 blocks of past logins as RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // mimalloc asks for transparent huge pages for its arena, and a 2 MiB page is resident as soon
    // as one byte of it is used: ~10 MiB of RSS on a small store, ~15–25 MiB with 100,000 products,
    // for no speed measured (BENCHMARKS.md, session 29). Off for the whole process, at fault time
    // (the arena mimalloc reserved before `main` included); where refused, nothing changes.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    purge_freed_memory_soon();
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "kassa", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    init_tracing();
    // Few blocking threads: each one that ever hashes a password keeps its ~19 MiB Argon2 arena.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// mimalloc's `mi_option_purge_delay` (`mi_option_t` in its `mimalloc.h`), for which
/// `libmimalloc-sys` names no constant; it comes just before the one it does name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const _: () = assert!(MI_OPTION_PURGE_DELAY + 1 == libmimalloc_sys::mi_option_use_numa_nodes);

/// How long mimalloc keeps freed memory before it gives it back to the OS, in milliseconds.
/// Its default, a second, and then only when an allocation comes by: a quiet node kept the
/// garbage of a catalog load or an index build (~30 MiB more with 100,000 products). At once (0),
/// the madvise calls of a large republish cost checkouts running beside it ~12 %. 10 ms keeps
/// nearly all of the memory and costs them nothing measurable (BENCHMARKS.md, session 30).
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets [`PURGE_DELAY_MS`]; an operator's own `MIMALLOC_PURGE_DELAY` wins.
fn purge_freed_memory_soon() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table. Its one condition
    // (not thread-safe) holds: `main` calls this before it starts any other thread.
    #[expect(unsafe_code, reason = "the one setter mimalloc offers is its C API")]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

/// One clear line, no backtrace.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("kassa: error: {e:#}");
    ExitCode::FAILURE
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KASSA_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The search engine logs every index commit at info: routine, not news. A filter that names
    // `tantivy` (`KASSA_LOG=info,tantivy=info`) keeps what it says.
    let asked = std::env::var("KASSA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let filter = if asked.contains("tantivy") {
        filter
    } else {
        filter.add_directive("tantivy=warn".parse().expect("a valid directive"))
    };
    // Colours only for a person at a terminal: a file, a pipe or a log collector gets plain
    // text. `NO_COLOR` (no-color.org) turns them off everywhere.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if std::env::var("KASSA_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = FileConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => {
            let config = ServeConfig::resolve(args, file)?;
            // The certificate and the ports first: a bad certificate or a taken port must stop
            // the start before a database is created or an admin key is made and printed.
            let bound = kassa::bind(&config).await?;
            let state = kassa::prepare(&config).await?;
            let demo = match config.demo {
                true => Some(kassa::demo::seed(&state).await?),
                false => None,
            };
            for listener in &bound.listeners {
                let address = listener.local_addr()?;
                tracing::info!(%address, scheme = listener.scheme(), "kassa is listening");
            }
            if let Some(ca) = &bound.dev_ca {
                println!("{}", ca.banner());
            }
            if let Some(demo) = demo {
                let base = config.public_url.clone().unwrap_or_else(|| bound.base_url());
                println!("{}", demo.banner(&base));
            }
            kassa::serve_with_drain(bound, state, kassa::shutdown_signal(), config.shutdown_drain).await
        }
        Command::Migrate(args) => {
            let database = Database::resolve(&args, &file)?.persistent("migrate")?;
            let store = kassa::prepare_store(&database).await?;
            store.close().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("kassa: database is up to date");
            Ok(())
        }
        Command::Export { output, database } => {
            let database = Database::resolve(&database, &file)?.persistent("export")?;
            let store = kassa::prepare_store(&database).await?;
            let fixture = store.export().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            store.close().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let bytes = fixture.to_bytes();
            match output {
                Some(path) => std::fs::write(&path, bytes)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
                None => std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?,
            }
            Ok(())
        }
        Command::Import {
            file: fixture,
            database,
        } => {
            let database = Database::resolve(&database, &file)?.persistent("import")?;
            let store = kassa::prepare_store(&database).await?;
            let imported = kassa::import_fixture(&*store, &fixture).await;
            store.close().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let rows: usize = imported?.tables.values().map(Vec::len).sum();
            println!("kassa: imported {rows} rows from {}", fixture.display());
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Create { name, database },
        } => {
            let database = Database::resolve(&database, &file)?.persistent("keys create")?;
            let store = kassa::prepare_store(&database).await?;
            let (key, secret) = kassa::create_key(&*store, &name).await?;
            store.close().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("id:            {}", key.id);
            println!("client_id:     {}", key.client_id);
            println!("client_secret: {secret}");
            Ok(())
        }
        Command::Completions { .. } => unreachable!("answered before the runtime starts"),
    }
}

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    #[test]
    fn the_option_set_at_start_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // The tests never call `main`, so the option still has mimalloc's default: 1,000 ms for
        // the purge delay, and no other option has that default.
        // SAFETY: reads an integer from mimalloc's option table.
        #[expect(unsafe_code, reason = "mimalloc's option table is read through its C API")]
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
