//! Configuration: command-line flags, then `KASSA_*` environment variables, then an optional
//! `kassa.toml`, then defaults — the first that sets a value wins.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use kassa_api::cors::AllowedOrigins;
use serde::Deserialize;

use crate::listen::{NetArgs, NetConfig, NetFile};

#[derive(Debug, Parser)]
#[command(
    name = "kassa",
    version,
    about = "A self-hosted commerce API server that speaks the Elastic Path Composable Commerce API"
)]
pub struct Cli {
    /// Configuration file (TOML). Defaults to ./kassa.toml when that exists.
    #[arg(long, global = true, env = "KASSA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start; boxing `serve`'s many flags would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Apply migrations, then serve the API until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Write the store's data as a fixture file (every table but its credentials, secrets
    /// redacted): the same bytes from SQLite and PostgreSQL.
    Export {
        /// Where to write it. [default: stdout]
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Replace the store's data with a fixture file's, in one transaction (its application keys
    /// stay). Stop the servers of this database first, or use `POST
    /// /_kassa/stores/default/import`: a running server does not see the change in its caches.
    Import {
        /// The fixture file.
        file: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Manage administrator application keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print a completion script for a shell, e.g. `kassa completions bash > /etc/bash_completion.d/kassa`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an application key and print its client_id and client_secret (shown only once).
    Create {
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Args, Default)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (created if missing), `postgres://USER@HOST:PORT/DB`, or `sqlite::memory:`
    /// (a store in memory, gone when `kassa serve` stops). [default: sqlite://kassa.db]
    #[arg(long, env = "KASSA_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT or HOST:PORT (e.g. localhost:8080, 0.0.0.0:8080, [::]:8080).
    /// [default: 127.0.0.1:8080]
    #[arg(long, env = "KASSA_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The URL clients reach kassa at, used in `links`. [default: from the Host header]
    #[arg(long, env = "KASSA_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Lifetime of access tokens in seconds. [default: 3600]
    #[arg(long, env = "KASSA_ACCESS_TOKEN_TTL", value_name = "SECONDS")]
    pub access_token_ttl: Option<u64>,
    /// Largest file `POST /v2/files` accepts, in bytes. [default: 10485760 (10 MiB)]
    #[arg(long, env = "KASSA_MAX_FILE_SIZE", value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// With --client-secret: an admin application key with exactly these credentials is
    /// created or updated at start.
    #[arg(long, env = "KASSA_CLIENT_ID", hide_env_values = true, value_name = "ID")]
    pub client_id: Option<String>,
    /// The secret of the admin key named by --client-id (both or neither).
    #[arg(
        long,
        env = "KASSA_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// A web origin (`scheme://host[:port]`) whose pages may call the API from a browser;
    /// repeat the flag (or separate with commas) for several, `*` for any.
    /// [default: none; any with --demo]
    #[arg(
        long = "cors-origin",
        env = "KASSA_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// When set, `GET /metrics` answers only requests with `Authorization: Bearer <TOKEN>`.
    /// [default: none: the metrics are open to anyone who can reach the port]
    #[arg(
        long,
        env = "KASSA_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub metrics_token: Option<String>,
    /// Seed a small demo store (products with prices and stock, the manual gateway, an account
    /// with a member) if it is not there yet, and print how to shop in it.
    #[arg(long)]
    pub demo: bool,
    /// Serve kassa's own test endpoints under `/_kassa/` (a journal of every request, fault
    /// rules) for storefront test suites; `--emulator` alone means true.
    /// [default: true with SQLite, false with PostgreSQL]
    #[arg(long, env = "KASSA_EMULATOR", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub emulator: Option<bool>,
    /// Make ids, generated client ids and secrets from a generator seeded with N, so that the
    /// same requests made one after another make the same ids on every run (tests only: seeded
    /// secrets are predictable). [default: none: random]
    #[arg(long, env = "KASSA_SEED", value_name = "N")]
    pub seed: Option<u64>,
    /// At every start, replace the store's data with this fixture (`kassa export`'s file, or
    /// `GET /_kassa/stores/default/export`'s); `/_kassa/stores/default/reset` goes back to it.
    /// Needs the emulator. [default: none]
    #[arg(long, env = "KASSA_FIXTURE", value_name = "FILE")]
    pub fixture: Option<PathBuf>,
    /// HTTPS and connection limits.
    #[command(flatten)]
    pub net: NetArgs,
    /// After SIGTERM (or Ctrl-C), how long requests in flight may run before kassa exits anyway,
    /// in seconds (0–600). [default: 10]
    #[arg(long, env = "KASSA_SHUTDOWN_DRAIN", value_name = "SECONDS")]
    pub shutdown_drain: Option<u64>,
}

/// The optional `kassa.toml`; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub max_file_size: Option<u64>,
    pub cors_origins: Option<Vec<String>>,
    // HTTPS and connection limits (`listen.rs`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls: Option<String>,
    pub tls_names: Option<Vec<String>>,
    pub tls_dir: Option<PathBuf>,
    pub listen_http: Option<String>,
    pub header_read_timeout: Option<f64>,
    pub body_read_timeout: Option<f64>,
    pub idle_timeout: Option<f64>,
    pub max_connections: Option<usize>,
    pub max_header_size: Option<usize>,
    pub shutdown_drain: Option<u64>,
    pub metrics_token: Option<String>,
    pub emulator: Option<bool>,
    pub seed: Option<u64>,
    pub fixture: Option<PathBuf>,
}

impl FileConfig {
    /// Reads the file named by `--config` (which must exist) or `./kassa.toml` (if it exists).
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("kassa.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read config file {}", path.display()));
            }
        };
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://kassa.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Uploads are held in memory while they are checked and stored, so the limit is bounded.
pub const MAX_FILE_SIZE_LIMIT: u64 = 100 * 1024 * 1024;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
    /// `sqlite::memory:`: a SQLite store in memory for one `kassa serve`, gone when it stops.
    Memory,
}

impl Database {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path == ":memory:" {
                return Ok(Database::Memory);
            }
            if path.is_empty() {
                bail!("invalid database URL {url:?}: give a file path, e.g. sqlite://kassa.db");
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        bail!(
            "invalid database URL {:?}: expected sqlite://PATH or postgres://…",
            redact(url)
        )
    }

    pub fn resolve(args: &DatabaseArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let url = args.database_url.clone().or_else(|| file.database_url.clone());
        Self::parse(url.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
    }

    /// The directory local files belong in: the SQLite file's, else the working directory.
    pub fn local_dir(&self) -> PathBuf {
        match self {
            Database::Sqlite(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            Database::Postgres(_) | Database::Memory => PathBuf::from("."),
        }
    }

    /// Refuses the in-memory store where nothing would outlive the command (`migrate`, `keys`).
    pub fn persistent(self, command: &str) -> anyhow::Result<Self> {
        if self == Database::Memory {
            bail!(
                "`kassa {command}` needs a database that outlives it: sqlite::memory: lives only inside one `kassa serve` (give sqlite://PATH or postgres://…)"
            );
        }
        Ok(self)
    }
}

/// A URL with any password replaced, fit for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Everything `serve` needs, resolved and validated.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database: Database,
    pub public_url: Option<String>,
    pub access_token_ttl: Duration,
    /// Largest file upload, in bytes.
    pub max_file_bytes: usize,
    /// Lifetime of customer tokens: Elastic Path's 24 hours, not configurable (tests shorten it).
    pub customer_token_ttl: Duration,
    pub admin_credentials: Option<(String, String)>,
    pub demo: bool,
    /// The web origins browsers may call the API from.
    pub cors: AllowedOrigins,
    /// HTTPS, a plain HTTP listener beside it, and connection limits.
    pub net: NetConfig,
    /// The bearer token `GET /metrics` asks for, if any.
    pub metrics_token: Option<String>,
    /// How long in-flight requests may run after the shutdown signal.
    pub shutdown_drain: Duration,
    /// Whether `/_kassa/` is served and requests are journaled.
    pub emulator: bool,
    /// The seed of ids and generated secrets, if they are to repeat from run to run.
    pub seed: Option<u64>,
    /// The fixture loaded at start and reset to (`--fixture`).
    pub fixture: Option<PathBuf>,
    /// How integration events are delivered: Elastic Path's 10 s timeout and kassa's retry
    /// schedule, unless `KASSA_INTEGRATION_*` say otherwise ([`delivery_policy`]).
    pub delivery: kassa_core::integrations::RetryPolicy,
}

/// The delivery policy: the defaults, each overridable by an environment variable (for tests
/// and for receivers that need longer): `KASSA_INTEGRATION_TIMEOUT_MS`,
/// `KASSA_INTEGRATION_RETRY_BASE_MS`, `KASSA_INTEGRATION_RETRY_MAX_MS`,
/// `KASSA_INTEGRATION_MAX_ATTEMPTS`.
pub fn delivery_policy() -> anyhow::Result<kassa_core::integrations::RetryPolicy> {
    let mut p = kassa_core::integrations::RetryPolicy::default();
    let var = |name: &str| -> anyhow::Result<Option<u64>> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("{name} must be a positive integer, not {v:?}")),
            Err(_) => Ok(None),
        }
    };
    if let Some(v) = var("KASSA_INTEGRATION_TIMEOUT_MS")? {
        p.timeout_ms = v;
    }
    if let Some(v) = var("KASSA_INTEGRATION_RETRY_BASE_MS")? {
        p.base_delay_ms = v;
    }
    if let Some(v) = var("KASSA_INTEGRATION_RETRY_MAX_MS")? {
        p.max_delay_ms = v;
    }
    if let Some(v) = var("KASSA_INTEGRATION_MAX_ATTEMPTS")? {
        p.max_attempts = u32::try_from(v).unwrap_or(u32::MAX);
    }
    Ok(p)
}

/// `IP:PORT`, or `HOST:PORT` with a host name resolved now (IPv4 preferred: `localhost` is
/// then `127.0.0.1`, which every client reaches).
pub fn parse_listen(listen: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = listen.parse() {
        return Ok(addr);
    }
    let invalid = || {
        anyhow::anyhow!(
            "invalid listen address {listen:?}: expected IP:PORT or HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080"
        )
    };
    let (host, port) = listen.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    if host.is_empty() || host.contains([':', '/', '[', ']']) {
        return Err(invalid());
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("invalid listen address {listen:?}: cannot resolve {host:?}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("invalid listen address {listen:?}: {host:?} has no address"))
}

impl ServeConfig {
    pub fn resolve(args: ServeArgs, file: FileConfig) -> anyhow::Result<Self> {
        let listen = args
            .listen
            .or(file.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = parse_listen(&listen)?;
        let database = Database::resolve(&args.database, &file)?;
        let ttl = args.access_token_ttl.or(file.access_token_ttl).unwrap_or(3600);
        if !(60..=86_400).contains(&ttl) {
            bail!("invalid access token lifetime {ttl}s: it must be between 60 and 86400 seconds");
        }
        let max_file = args
            .max_file_size
            .or(file.max_file_size)
            .unwrap_or(kassa_core::file::DEFAULT_MAX_FILE_BYTES as u64);
        if !(1024..=MAX_FILE_SIZE_LIMIT).contains(&max_file) {
            bail!(
                "invalid largest file size {max_file} bytes: it must be between 1024 and {MAX_FILE_SIZE_LIMIT}"
            );
        }
        let admin_credentials = match (args.client_id, args.client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some((id, secret)),
            (None, None) => None,
            _ => {
                bail!("KASSA_CLIENT_ID and KASSA_CLIENT_SECRET must be set together, and not empty")
            }
        };
        let origins = match args.cors_origins {
            flags if !flags.is_empty() => flags,
            _ => file.cors_origins.unwrap_or_default(),
        };
        let cors = match AllowedOrigins::parse(&origins).map_err(anyhow::Error::msg)? {
            // The demo store is for trying things out, storefronts on any port included.
            AllowedOrigins::None if args.demo => AllowedOrigins::Any,
            cors => cors,
        };
        let net_file = NetFile {
            tls_cert: file.tls_cert,
            tls_key: file.tls_key,
            tls: file.tls,
            tls_names: file.tls_names,
            tls_dir: file.tls_dir,
            listen_http: file.listen_http,
            header_read_timeout: file.header_read_timeout,
            body_read_timeout: file.body_read_timeout,
            idle_timeout: file.idle_timeout,
            max_connections: file.max_connections,
            max_header_size: file.max_header_size,
        };
        let net = NetConfig::resolve(args.net, net_file, &database.local_dir())?;
        let drain = args
            .shutdown_drain
            .or(file.shutdown_drain)
            .map_or(crate::drain::DEFAULT_DRAIN, Duration::from_secs);
        if drain > crate::drain::MAX_DRAIN {
            bail!(
                "invalid shutdown drain {}s: it must be between 0 and {} seconds",
                drain.as_secs(),
                crate::drain::MAX_DRAIN.as_secs()
            );
        }
        let metrics_token = args.metrics_token.or(file.metrics_token);
        if metrics_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            bail!("the metrics token must not be empty: leave it unset for open metrics");
        }
        // The emulator is for development and test stores: on by default with the embedded
        // SQLite, off with PostgreSQL (a production deployment), either way when asked.
        let emulator = args
            .emulator
            .or(file.emulator)
            .unwrap_or(!matches!(database, Database::Postgres(_)));
        Ok(Self {
            emulator,
            seed: args.seed.or(file.seed),
            fixture: match args.fixture.or(file.fixture) {
                Some(_) if !emulator => bail!(
                    "--fixture replaces the store's data at every start, which only an emulator does: add --emulator"
                ),
                fixture => fixture,
            },
            listen,
            database,
            public_url: args.public_url.or(file.public_url),
            access_token_ttl: Duration::from_secs(ttl),
            max_file_bytes: max_file as usize,
            customer_token_ttl: kassa_api::auth::CUSTOMER_TOKEN_TTL,
            delivery: delivery_policy()?,
            admin_credentials,
            demo: args.demo,
            cors,
            net,
            shutdown_drain: drain,
            metrics_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            Database::parse("sqlite://kassa.db").unwrap(),
            Database::Sqlite("kassa.db".into())
        );
        assert_eq!(
            Database::parse("sqlite:///var/lib/k.db?mode=rwc").unwrap(),
            Database::Sqlite("/var/lib/k.db".into())
        );
        assert_eq!(
            Database::parse("sqlite:data/k.db").unwrap(),
            Database::Sqlite("data/k.db".into())
        );
        assert!(matches!(
            Database::parse("postgres://u@h/db").unwrap(),
            Database::Postgres(_)
        ));
        assert!(matches!(
            Database::parse("postgresql://u@h/db").unwrap(),
            Database::Postgres(_)
        ));
        assert_eq!(Database::parse("sqlite::memory:").unwrap(), Database::Memory);
        assert_eq!(Database::parse("sqlite://:memory:").unwrap(), Database::Memory);
        assert!(Database::Memory.persistent("migrate").is_err());
        for bad in ["", "mysql://x", "sqlite://", "kassa.db"] {
            assert!(Database::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        let err = Database::parse("mysql://u:hunter2@h/db").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    fn serve_args() -> ServeArgs {
        ServeArgs {
            listen: None,
            database: DatabaseArgs::default(),
            public_url: None,
            access_token_ttl: None,
            max_file_size: None,
            client_id: None,
            client_secret: None,
            cors_origins: Vec::new(),
            metrics_token: None,
            demo: false,
            emulator: None,
            seed: None,
            fixture: None,
            net: NetArgs::default(),
            shutdown_drain: None,
        }
    }

    #[test]
    fn the_emulator_is_on_with_sqlite_and_off_with_postgres_unless_told() {
        let on = |database_url: &str, flag: Option<bool>, file: Option<bool>| {
            let args = ServeArgs {
                database: DatabaseArgs {
                    database_url: Some(database_url.into()),
                },
                emulator: flag,
                ..serve_args()
            };
            let file = FileConfig {
                emulator: file,
                ..Default::default()
            };
            ServeConfig::resolve(args, file).unwrap().emulator
        };
        assert!(on("sqlite://kassa.db", None, None));
        assert!(!on("postgres://u@h/db", None, None));
        assert!(!on("sqlite://kassa.db", Some(false), None));
        assert!(on("postgres://u@h/db", None, Some(true)));
        assert!(
            !on("postgres://u@h/db", Some(false), Some(true)),
            "the flag beats the file"
        );
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file = FileConfig {
            listen: Some("0.0.0.0:9000".into()),
            database_url: Some("sqlite://file.db".into()),
            public_url: None,
            access_token_ttl: Some(120),
            max_file_size: Some(2048),
            cors_origins: None,
            shutdown_drain: Some(30),
            metrics_token: Some("from-the-file".into()),
            ..Default::default()
        };
        let c = ServeConfig::resolve(serve_args(), file).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.database, Database::Sqlite("file.db".into()));
        assert_eq!(c.access_token_ttl, Duration::from_secs(120));
        assert_eq!(c.max_file_bytes, 2048);
        assert_eq!(c.shutdown_drain, Duration::from_secs(30));
        assert_eq!(c.metrics_token.as_deref(), Some("from-the-file"));
        assert!(c.emulator, "on by default with SQLite");

        let args = ServeArgs {
            listen: Some("127.0.0.1:1234".into()),
            ..serve_args()
        };
        let c = ServeConfig::resolve(
            args,
            FileConfig {
                listen: Some("0.0.0.0:9000".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:1234");

        let c = ServeConfig::resolve(serve_args(), FileConfig::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database, Database::Sqlite("kassa.db".into()));
        assert_eq!(c.access_token_ttl, Duration::from_secs(3600));
        assert_eq!(c.max_file_bytes, 10 * 1024 * 1024);
        assert_eq!(c.shutdown_drain, crate::drain::DEFAULT_DRAIN);
    }

    #[test]
    fn cors_origins_come_from_flags_or_the_file_and_the_demo_allows_any() {
        let resolve = |args: ServeArgs, file: FileConfig| ServeConfig::resolve(args, file).unwrap().cors;
        assert_eq!(resolve(serve_args(), FileConfig::default()), AllowedOrigins::None);
        let demo = ServeArgs {
            demo: true,
            ..serve_args()
        };
        assert_eq!(resolve(demo, FileConfig::default()), AllowedOrigins::Any);
        let file = FileConfig {
            cors_origins: Some(vec!["http://localhost:3000".into()]),
            ..Default::default()
        };
        let one = |o: &'static str| AllowedOrigins::List(vec![axum::http::HeaderValue::from_static(o)]);
        assert_eq!(resolve(serve_args(), file), one("http://localhost:3000"));
        let flags = ServeArgs {
            cors_origins: vec!["https://shop.example.com".into()],
            demo: true,
            ..serve_args()
        };
        let file = FileConfig {
            cors_origins: Some(vec!["http://localhost:3000".into()]),
            ..Default::default()
        };
        assert_eq!(resolve(flags, file), one("https://shop.example.com"));
        let bad = ServeArgs {
            cors_origins: vec!["localhost:3000".into()],
            ..serve_args()
        };
        let err = ServeConfig::resolve(bad, FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid CORS origin \"localhost:3000\""), "{err}");
    }

    #[test]
    fn listen_takes_an_ip_or_a_host_name() {
        let addr = |s: &str| parse_listen(s).unwrap().to_string();
        assert_eq!(addr("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(addr("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(addr("[::1]:9000"), "[::1]:9000");
        // A name resolves, IPv4 first: what `curl localhost:8080` reaches.
        assert_eq!(addr("localhost:8080"), "127.0.0.1:8080");
        for bad in [
            "localhost",
            "localhost:",
            ":8080",
            "localhost:99999",
            "localhost:http",
            "http://localhost:8080",
            "",
        ] {
            let err = parse_listen(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid listen address"), "{bad}: {err}");
        }
    }

    /// `kassa … --help` explains every flag and command.
    #[test]
    fn every_flag_and_command_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut cli = <Cli as clap::CommandFactory>::command();
        cli.build();
        let mut missing = Vec::new();
        walk(&cli, "kassa", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }

    /// The names of every key `kassa.toml` may hold, as serde knows them: asking for an unknown
    /// one lists the real ones.
    fn file_settings() -> Vec<String> {
        let err = toml::from_str::<FileConfig>("no_such_setting = 1")
            .unwrap_err()
            .to_string();
        let expected = err.split("expected").nth(1).unwrap_or_else(|| panic!("{err}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// `kassa.example.toml` names every setting, each commented out (so the file as shipped
    /// changes nothing), and uncommented it is a valid configuration. The README's table
    /// names every setting too.
    #[test]
    fn the_example_file_lists_every_setting_and_parses() {
        let example = include_str!("../../../kassa.example.toml");
        let shipped: FileConfig = toml::from_str(example).unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{:?}", FileConfig::default()));

        let is_setting = |l: &str| {
            l.strip_prefix("# ")
                .and_then(|rest| rest.split_once(" = "))
                .is_some_and(|(key, _)| {
                    !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
        };
        let uncommented: String = example
            .lines()
            .map(|l| if is_setting(l) { &l[2..] } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        let table: toml::Table = toml::from_str(&uncommented).unwrap();
        let file: FileConfig = toml::from_str(&uncommented)
            .unwrap_or_else(|e| panic!("the example's settings are not kassa's: {e}"));
        ServeConfig::resolve(serve_args(), file).expect("the example's values are valid");

        let settings = file_settings();
        assert!(settings.len() >= 7, "{settings:?}");
        let readme = include_str!("../../../README.md");
        for name in &settings {
            assert!(
                table.contains_key(name),
                "kassa.example.toml does not show `{name}`"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "README.md's configuration table does not name `{name}`"
            );
        }
        assert_eq!(table.len(), settings.len(), "{table:?}");
    }

    #[test]
    fn rejects_bad_settings() {
        let bad = [
            ServeArgs {
                listen: Some("localhost".into()),
                ..serve_args()
            },
            ServeArgs {
                access_token_ttl: Some(5),
                ..serve_args()
            },
            ServeArgs {
                max_file_size: Some(10),
                ..serve_args()
            },
            ServeArgs {
                max_file_size: Some(MAX_FILE_SIZE_LIMIT + 1),
                ..serve_args()
            },
            ServeArgs {
                client_id: Some("only-id".into()),
                ..serve_args()
            },
            ServeArgs {
                shutdown_drain: Some(601),
                ..serve_args()
            },
            ServeArgs {
                metrics_token: Some(" ".into()),
                ..serve_args()
            },
            ServeArgs {
                listen: Some("localhost:http".into()),
                ..serve_args()
            },
            ServeArgs {
                database: DatabaseArgs {
                    database_url: Some("redis://x".into()),
                },
                ..serve_args()
            },
        ];
        for args in bad {
            assert!(ServeConfig::resolve(args, FileConfig::default()).is_err());
        }
    }
}
