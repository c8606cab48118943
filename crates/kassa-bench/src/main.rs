//! `kassa-bench`: starts a fresh `kassa serve` on a fresh database, seeds it through the API, runs
//! closed-loop scenarios at several concurrency levels and reports throughput, latency
//! percentiles per endpoint, errors, and the server's CPU and memory. See `BENCHMARKS.md`.

mod api_client;
mod orders;
mod receiver;
mod report;
mod scenario;
mod seed;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use crate::report::{Report, RunResult};
use crate::scenario::{Protocol, Scenario, Target, Window};
use crate::server::{Backend, BenchDatabase, CpuSample, Server};

/// mimalloc instead of the system allocator: allocation was ~17 % of kassa's CPU on the write
/// paths under glibc malloc, and glibc kept the 19 MiB Argon2 blocks of past logins as RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "kassa-bench",
    about = "Benchmark a fresh kassa server: seed through the API, then measure scenarios",
    after_help = "Every non-2xx answer is an error; the run exits non-zero if there was any. \
                  Traffic goes only to the server started on 127.0.0.1."
)]
struct Cli {
    /// The kassa binary [default: `kassa` next to this executable].
    #[arg(long)]
    kassa: Option<PathBuf>,
    /// The database the server runs on; a fresh one is made and removed again.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Where to create (and drop) the fresh PostgreSQL database `kassa_bench_<random>`.
    #[arg(
        long,
        env = "KASSA_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Live products in the published catalog.
    #[arg(long, default_value_t = 1000)]
    products: usize,
    /// Accounts, each with one member who logs in with a password (one account token each).
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    /// Orders seeded straight into the database for the `orders` scenario (only when it runs).
    #[arg(long, default_value_t = 1_000_000)]
    orders: usize,
    /// Measured seconds per scenario and concurrency level.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before each measurement (same load, not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Virtual users (closed loop: each has one request in flight), comma-separated levels.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    concurrency: Vec<usize>,
    /// Concurrency levels for `login` (Argon2 is slow on purpose: ~20 ms of CPU per login).
    #[arg(long, value_delimiter = ',', default_value = "2,8")]
    login_concurrency: Vec<usize>,
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "floor,catalog,cart,journey,checkout,edit,login"
    )]
    scenarios: Vec<Scenario>,
    /// How the virtual users talk to kassa, comma-separated: `http` (HTTP/1.1), `https`
    /// (HTTP/1.1 over TLS), `h2` (HTTP/2 over TLS). With a TLS one, kassa serves HTTPS with a
    /// development certificate and plain HTTP on a second address: every scenario runs once per
    /// protocol against the same server, side by side.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "http")]
    protocols: Vec<Protocol>,
    /// Create one webhook integration observing every event kassa emits, delivering to a tiny
    /// receiver in this process, and report the events delivered per second and their delivery
    /// lag (p50, p99) for each run.
    #[arg(long)]
    webhook: bool,
    /// Per-test stores (`POST /_kassa/stores`) made before measuring and kept: how a server
    /// holding many of them serves its own store (needs the emulator on).
    #[arg(long, default_value_t = 0)]
    test_stores: usize,
    /// Also write the results as JSON to this file (`-` for stdout).
    #[arg(long)]
    json: Option<PathBuf>,
    /// For CI: every scenario for ~1.5 s at concurrency 4 on SQLite, small seed; checks that the
    /// tool works and that there are no errors, not the speed.
    #[arg(long)]
    smoke: bool,
}

impl Cli {
    fn apply_smoke(&mut self) {
        if self.smoke {
            self.backend = Backend::Sqlite;
            self.products = 120;
            self.accounts = 8;
            self.duration = 1.0;
            self.warmup = 0.5;
            self.concurrency = vec![4];
            self.login_concurrency = vec![4];
            self.orders = 2_000;
            self.protocols = vec![Protocol::Http, Protocol::Https, Protocol::H2];
            self.scenarios = vec![
                Scenario::Floor,
                Scenario::Handshake,
                Scenario::Catalog,
                Scenario::Cart,
                Scenario::Journey,
                Scenario::Checkout,
                Scenario::Checkout100,
                Scenario::CheckoutBundle,
                Scenario::Edit,
                Scenario::Login,
                Scenario::Orders,
                Scenario::Search,
                Scenario::Autocomplete,
                Scenario::Stores,
            ];
        }
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.apply_smoke();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kassa-bench: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_async(cli)) {
        Ok(report) if report.total_errors() == 0 => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!(
                "kassa-bench: {} requests failed (see the errors column)",
                report.total_errors()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("kassa-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn main_async(cli: Cli) -> anyhow::Result<Report> {
    for levels in [&cli.concurrency, &cli.login_concurrency] {
        anyhow::ensure!(
            !levels.is_empty() && levels.iter().all(|&c| (1..=4096).contains(&c)),
            "concurrency levels must be 1..=4096"
        );
    }
    anyhow::ensure!(
        cli.products >= 1 && cli.accounts >= 1,
        "need at least one product and one account"
    );
    anyhow::ensure!(
        cli.duration > 0.0 && cli.duration <= 3600.0 && (0.0..=600.0).contains(&cli.warmup),
        "--duration must be in (0, 3600] and --warmup in [0, 600] seconds"
    );
    let kassa = match &cli.kassa {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this executable has no directory")?
            .join("kassa"),
    };
    anyhow::ensure!(
        kassa.is_file(),
        "no kassa binary at {} (build it, or pass --kassa)",
        kassa.display()
    );

    anyhow::ensure!(!cli.protocols.is_empty(), "--protocols needs at least one");
    let tls = cli.protocols.iter().any(|p| *p != Protocol::Http);
    let db = BenchDatabase::create(cli.backend, &cli.postgres_url).await?;
    let outcome = match Server::start(&kassa, db.url(), tls).await {
        Ok(server) => {
            let fresh_start = server.ready_after;
            let outcome = measure(&cli, &server, &db).await;
            // A second start, on the store the run has filled.
            let restarted = server.restart(&kassa, db.url()).await;
            let restart = restarted.as_ref().map(|s| s.ready_after).ok();
            let stopped = match restarted {
                Ok(server) => server.stop().await,
                Err(e) => Err(e),
            };
            outcome.and_then(|mut r| {
                r.start_ms = fresh_start.as_secs_f64() * 1e3;
                r.restart_ms = restart.map_or(0.0, |d| d.as_secs_f64() * 1e3);
                stopped.map(|()| r)
            })
        }
        Err(e) => Err(e),
    };
    let removed = db.remove().await;
    let report = outcome?;
    removed?;

    println!("{}", report.markdown());
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&report)?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json).with_context(|| format!("write {}", path.display()))?;
        }
    }
    Ok(report)
}

/// Makes `count` per-test stores, eight at a time, and says how fast.
async fn make_test_stores(server: &Server, admin: &str, count: usize) -> anyhow::Result<()> {
    let api = api_client::Api {
        http: reqwest::Client::new(),
        base: server.url.clone(),
    };
    let started = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (api, admin) = (api.clone(), admin.to_owned());
        set.spawn(async move {
            for _ in (worker..count).step_by(8) {
                api.send(reqwest::Method::POST, "/_kassa/stores", Some(&admin), None)
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "made {count} test stores in {secs:.2} s ({:.0}/s); server RSS now {} MiB",
        count as f64 / secs,
        server::status_kib(server.pid, "VmRSS").unwrap_or(0) / 1024
    );
    Ok(())
}

async fn measure(cli: &Cli, server: &Server, db: &BenchDatabase) -> anyhow::Result<Report> {
    let orders = if cli.scenarios.contains(&Scenario::Orders) {
        cli.orders
    } else {
        0
    };
    // The bundle and its component products only when a scenario adds it: the other scenarios
    // keep the catalog they always had.
    let bundle = cli.scenarios.contains(&Scenario::CheckoutBundle);
    let fixture = Arc::new(seed::seed(server, db, cli.products, cli.accounts, orders, bundle).await?);
    let receiver = if cli.webhook {
        let api = api_client::Api {
            http: reqwest::Client::new(),
            base: server.url.clone(),
        };
        Some(receiver::Receiver::start(&api, &fixture.admin_token).await?)
    } else {
        None
    };
    if cli.test_stores > 0 {
        make_test_stores(server, &fixture.admin_token, cli.test_stores).await?;
    }
    let ticks = server::clock_ticks();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let with_postgres = cli.backend == Backend::Postgres;
    let mut report = Report::new(
        cli.backend,
        cli.products,
        cli.accounts,
        orders,
        cli.duration,
        cli.warmup,
    );

    let mut scenarios = cli.scenarios.clone();
    scenarios.sort(); // the floor first: the others are reported against it
    scenarios.dedup();
    let mut protocols = cli.protocols.clone();
    protocols.sort();
    protocols.dedup();
    let targets: Vec<Target> = protocols
        .iter()
        .map(|&protocol| match (protocol, &server.https) {
            (Protocol::Http, _) => Ok(Target {
                protocol,
                base: server.url.clone(),
                ca: None,
            }),
            (_, Some((base, ca))) => Ok(Target {
                protocol,
                base: base.clone(),
                ca: Some(ca.clone()),
            }),
            (_, None) => Err(anyhow::anyhow!("the server was started without TLS")),
        })
        .collect::<anyhow::Result<_>>()?;
    let mut runs = Vec::new();
    for &scenario in &scenarios {
        let levels = if scenario == Scenario::Login {
            &cli.login_concurrency
        } else {
            &cli.concurrency
        };
        for &concurrency in levels {
            runs.extend(targets.iter().map(|target| (scenario, concurrency, target)));
        }
    }
    let mut promotions_seeded = false;
    for (scenario, concurrency, target) in runs {
        if scenario == Scenario::CheckoutPromo && !promotions_seeded {
            let api = api_client::Api {
                http: reqwest::Client::new(),
                base: server.url.clone(),
            };
            seed::promotions(&api, &fixture.admin_token).await?;
            promotions_seeded = true;
        }
        {
            let start = Instant::now();
            let window = Window {
                measure_from: start + Duration::from_secs_f64(cli.warmup),
                until: start + Duration::from_secs_f64(cli.warmup + cli.duration),
            };
            // CPU and memory are sampled over the measured window only.
            let pid = server.pid;
            let sampler = tokio::spawn(async move {
                tokio::time::sleep_until(window.measure_from.into()).await;
                let first = CpuSample::now(pid, with_postgres);
                let mut peak_rss = 0;
                while Instant::now() < window.until {
                    peak_rss = peak_rss.max(server::status_kib(pid, "VmRSS").unwrap_or(0));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (first, CpuSample::now(pid, with_postgres), peak_rss)
            });
            // `checkout-indexing`: publish again as the measured window opens, and time the
            // rebuild of the search index that runs beside the checkouts.
            let republish = (scenario == Scenario::CheckoutIndexing).then(|| {
                let (api, fixture) = (
                    api_client::Api {
                        http: reqwest::Client::new(),
                        base: server.url.clone(),
                    },
                    fixture.clone(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep_until(window.measure_from.into()).await;
                    let started = Instant::now();
                    let r = api
                        .send(
                            reqwest::Method::POST,
                            &format!("/catalogs/{}/releases", fixture.catalog_id),
                            Some(&fixture.admin_token),
                            None,
                        )
                        .await?;
                    let published = started.elapsed();
                    let release = r["data"]["id"].as_str().unwrap_or_default().to_owned();
                    seed::searchable(&api, &fixture.admin_token, &release).await?;
                    anyhow::Ok((published, started.elapsed()))
                })
            });
            let stats = scenario::run(scenario, concurrency, fixture.clone(), window, target).await?;
            if let Some(republish) = republish {
                let (published, searchable) = republish.await??;
                eprintln!(
                    "kassa-bench: under the checkout load, {} products republished in {:.1} s, searchable {:.1} s after the request",
                    fixture.product_ids.len(),
                    published.as_secs_f64(),
                    searchable.as_secs_f64()
                );
            }
            let (first, last, peak_rss) = sampler.await?;
            if let Some(receiver) = &receiver {
                // Deliveries still under way at the window's end arrive just after it.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let ms = |t: Instant| {
                    let back = Instant::now().saturating_duration_since(t);
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.saturating_sub(back).as_millis() as i64)
                };
                let (per_s, p50, p99) = receiver.summary(ms(window.measure_from), ms(window.until));
                eprintln!(
                    "kassa-bench: webhook: {per_s:.0} events/s delivered, delivery lag p50 {p50} ms, p99 {p99} ms"
                );
            }
            let run = RunResult::new(
                scenario,
                target.protocol,
                concurrency,
                cli.duration,
                stats,
                last.since(&first, ticks, cores),
                peak_rss,
                server::status_kib(server.pid, "VmHWM").unwrap_or(0),
            );
            eprintln!("kassa-bench: {}", run.one_line());
            report.push(run);
        }
    }
    Ok(report)
}
