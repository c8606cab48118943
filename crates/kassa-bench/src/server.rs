//! The server under test: a fresh `kassa serve` child process on a fresh database, and what
//! `/proc` says about it (and about the rest of the machine) while it runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database made for one run and removed after it.
pub enum BenchDatabase {
    Sqlite {
        dir: PathBuf,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl BenchDatabase {
    pub async fn create(backend: Backend, postgres_admin_url: &str) -> anyhow::Result<Self> {
        let suffix = Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("kassa-bench-{suffix}"));
                std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
                let url = format!("sqlite://{}", dir.join("kassa.db").display());
                Ok(Self::Sqlite { dir, url })
            }
            Backend::Postgres => {
                let name = format!("kassa_bench_{}", &suffix[..12]);
                let mut conn = pg_connect(postgres_admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("CREATE DATABASE {name}"))?;
                let url = with_database(postgres_admin_url, &name)?;
                Ok(Self::Postgres {
                    admin_url: postgres_admin_url.to_owned(),
                    name,
                    url,
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// Removes the database; call after the server has stopped.
    pub async fn remove(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { dir, .. } => {
                std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))
            }
            Self::Postgres { admin_url, name, .. } => {
                let mut conn = pg_connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .with_context(|| format!("DROP DATABASE {name}"))?;
                Ok(())
            }
        }
    }
}

async fn pg_connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {url}"))
}

/// The admin URL with its database name replaced.
fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let Some(authority_end) = base.find("://").map(|i| i + 3) else {
        bail!("not a PostgreSQL URL: {admin_url}");
    };
    let host_part = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    })
}

/// A running `kassa serve`.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// Plain HTTP (with TLS: the `--listen-http` address).
    pub url: String,
    /// With TLS: `https://…` of `--listen`, and the development CA (PEM) it is signed by.
    pub https: Option<(String, Vec<u8>)>,
    /// Where the development CA is kept (removed with the server).
    tls_dir: Option<PathBuf>,
    pub client_id: String,
    pub client_secret: String,
    /// From spawning the process to its first `200` from `/readyz` (the database answers).
    pub ready_after: Duration,
}

impl Server {
    /// With `tls`, `--listen` serves HTTPS with a development certificate and plain HTTP is on
    /// a second address (`--listen-http`), so one server takes both.
    pub async fn start(kassa: &Path, database_url: &str, tls: bool) -> anyhow::Result<Self> {
        let client_id = format!("bench-{}", Uuid::new_v4().simple());
        let client_secret = format!("secret-{}", Uuid::new_v4().simple());
        let tls_dir =
            tls.then(|| std::env::temp_dir().join(format!("kassa-bench-tls-{}", Uuid::new_v4().simple())));
        Self::start_as(kassa, database_url, client_id, client_secret, tls_dir).await
    }

    /// Starts another server on the same database with the same admin credentials: measures a
    /// start on an existing store.
    pub async fn restart(self, kassa: &Path, database_url: &str) -> anyhow::Result<Self> {
        let (id, secret) = (self.client_id.clone(), self.client_secret.clone());
        self.stop().await?;
        Self::start_as(kassa, database_url, id, secret, None).await
    }

    async fn start_as(
        kassa: &Path,
        database_url: &str,
        client_id: String,
        client_secret: String,
        tls_dir: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let free = || -> anyhow::Result<String> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            Ok(format!("127.0.0.1:{port}"))
        };
        let main = free()?;
        let mut command = Command::new(kassa);
        command.arg("serve");
        let addr = match &tls_dir {
            Some(dir) => {
                let plain = free()?;
                command
                    .args(["--tls", "self-signed", "--tls-dir"])
                    .arg(dir)
                    .args(["--listen-http", &plain]);
                plain
            }
            None => main.clone(),
        };
        let started = Instant::now();
        let mut child = command
            .env("KASSA_DATABASE_URL", database_url)
            .env("KASSA_LISTEN", &main)
            .env("KASSA_LOG", "warn")
            .env("KASSA_CLIENT_ID", &client_id)
            .env("KASSA_CLIENT_SECRET", &client_secret)
            .env_remove("KASSA_CONFIG")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", kassa.display()))?;
        let pid = child.id();
        let url = format!("http://{addr}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("kassa exited during start-up: {status}");
            }
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("kassa was not ready (/readyz) on {addr} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let https = match &tls_dir {
            Some(dir) => {
                let ca = std::fs::read(dir.join("ca.pem")).context("the development CA")?;
                Some((format!("https://{main}"), ca))
            }
            None => None,
        };
        Ok(Self {
            child,
            pid,
            url,
            https,
            tls_dir,
            client_id,
            client_secret,
            ready_after: started.elapsed(),
        })
    }

    /// SIGTERM (graceful), then SIGKILL after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(dir) = self.tls_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    eprintln!("kassa-bench: kassa exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!("kassa did not stop within 10 s of SIGTERM; killed");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached with the child still running when the run failed half-way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from 3 here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Sum of utime + stime over every process whose command is `postgres`.
pub fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(|e| cpu_ticks(&e.file_name().to_string_lossy()))
        .sum()
}

/// (busy, total) jiffies of the whole machine, from the `cpu` line of `/proc/stat`.
pub fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU used between two samples, each taken by [`CpuSample::now`].
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    server: u64,
    bench: u64,
    postgres: u64,
    machine_busy: u64,
    machine_total: u64,
}

/// CPU over an interval, as % of one core (200 % = both cores of this machine).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuUse {
    pub server_pct: f64,
    pub bench_pct: f64,
    pub postgres_pct: f64,
    pub machine_busy_pct: f64,
}

impl CpuSample {
    pub fn now(server_pid: u32, with_postgres: bool) -> Self {
        let (machine_busy, machine_total) = machine_ticks();
        Self {
            at: Instant::now(),
            server: cpu_ticks(&server_pid.to_string()).unwrap_or(0),
            bench: cpu_ticks("self").unwrap_or(0),
            postgres: if with_postgres { postgres_ticks() } else { 0 },
            machine_busy,
            machine_total,
        }
    }

    pub fn since(&self, earlier: &CpuSample, ticks_per_s: f64, cores: f64) -> CpuUse {
        let secs = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let pct = |a: u64, b: u64| a.saturating_sub(b) as f64 / ticks_per_s / secs * 100.0;
        let total = self.machine_total.saturating_sub(earlier.machine_total).max(1) as f64;
        CpuUse {
            server_pct: pct(self.server, earlier.server),
            bench_pct: pct(self.bench, earlier.bench),
            postgres_pct: pct(self.postgres, earlier.postgres),
            machine_busy_pct: self.machine_busy.saturating_sub(earlier.machine_busy) as f64 / total
                * 100.0
                * cores,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x").unwrap(), "postgres://h/x");
    }

    #[test]
    fn own_cpu_and_memory_are_readable() {
        assert!(cpu_ticks("self").is_some());
        assert!(status_kib(std::process::id(), "VmHWM").unwrap() > 0);
        let (busy, total) = machine_ticks();
        assert!(total >= busy && total > 0);
    }
}
