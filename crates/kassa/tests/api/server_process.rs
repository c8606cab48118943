//! A kassa server process, for the tests that drive the compiled binary: starting it on a port
//! of its own, reading its log, signalling it, and tokens from it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::Resp;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_kassa");

pub(crate) fn kassa(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir());
    cmd
}

/// A port for a server process to listen on. Picked below Linux's ephemeral range (32768+),
/// where the suite's many client connections take their local ports: a port asked of the kernel
/// with `:0` and released again could be taken by one of them before the child binds it (a
/// server then exits during start-up). A counter keeps this process's picks apart; a port some
/// other program holds is skipped.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    // Where this run starts in the span: two suites on one machine rarely begin at one place.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = (std::process::id() % u32::from(SPAN)) as u16;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (offset + n % SPAN) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether a server at `addr` answers `GET /healthz` with 200 (waiting for it while it starts).
/// An HTTPS port (`tls`) serves once it refuses the plain request, closing without an HTTP answer.
fn answers_healthz(addr: &str, tls: bool) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let sent = write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        // A TLS alert, or nothing, and the connection closed.
        Ok(_) if tls => sent.is_ok() && !answer.starts_with(b"HTTP/"),
        Err(e) if tls => e.kind() == std::io::ErrorKind::ConnectionReset,
        read => sent.is_ok() && read.is_ok() && answer.starts_with(b"HTTP/1.1 200"),
    }
}

/// Runs to completion and checks the failure is exactly one clear line; returns what it printed.
pub(crate) fn assert_fails_with(args: &[&str], env: &[(&str, &str)], expected: &str) -> Output {
    let out: Output = kassa(args, env).stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kassa: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line, got: {stderr}");
    assert!(lines[0].contains(expected), "{expected:?} not in {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    out
}

/// A `kassa serve` child process.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    /// What the process printed to stdout before it was listening.
    pub(crate) stdout: String,
    /// What it prints after.
    later: std::sync::mpsc::Receiver<String>,
}

impl Server {
    pub(crate) fn start(database_url: &str, extra: &[(&str, &str)]) -> Self {
        Self::start_with(&["serve"], database_url, extra)
    }

    pub(crate) fn start_with(args: &[&str], database_url: &str, extra: &[(&str, &str)]) -> Self {
        Self::start_logging_to(args, database_url, extra, Stdio::inherit())
    }

    /// As [`Server::start_with`], with the server's stderr (its log) going to `stderr`.
    pub(crate) fn start_logging_to(
        args: &[&str],
        database_url: &str,
        extra: &[(&str, &str)],
        stderr: Stdio,
    ) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = vec![
            ("KASSA_DATABASE_URL", database_url),
            ("KASSA_LISTEN", addr.as_str()),
            ("KASSA_LOG", "warn"),
        ];
        env.extend_from_slice(extra);
        let mut child = kassa(args, &env)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        // Start-up prints any generated credentials to stdout, then serves.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // The port is bound before start-up writes anything, so a connection is not enough:
        // wait for an answer.
        let deadline = Instant::now() + Duration::from_secs(15);
        let tls = args.iter().any(|a| *a == "--tls" || *a == "--tls-cert");
        while !answers_healthz(&addr, tls) {
            assert!(Instant::now() < deadline, "kassa did not start on {addr}");
            assert!(
                child.try_wait().unwrap().is_none(),
                "kassa exited during start-up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Start-up printed everything before it served; let the reader thread pass it on.
        let mut printed = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            printed.push(line);
        }
        let stdout = printed.join("\n");
        Self {
            child,
            addr,
            stdout,
            later: rx,
        }
    }

    /// The first line printed (at any time) that contains `needle`.
    pub(crate) fn line_containing(&self, needle: &str) -> String {
        if let Some(line) = self.stdout.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        loop {
            match self.later.recv_timeout(Duration::from_secs(15)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(e) => panic!("kassa never printed {needle:?}: {e}"),
            }
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub(crate) fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for the process to exit; returns whether it exited successfully.
    pub(crate) fn wait(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(Instant::now() < deadline, "kassa did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn token(http: &reqwest::Client, server: &Server, id: &str, secret: &str) -> String {
    let res = http
        .post(server.url("/oauth/access_token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    let r = Resp::read(res).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// A request to a server process with a Bearer token and an optional JSON body.
pub(crate) async fn call(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<serde_json::Value>,
) -> Resp {
    let mut request = http.request(method, server.url(path)).bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Resp::read(request.send().await.unwrap()).await
}

/// A shopper (implicit) token for `client_id`.
pub(crate) async fn implicit_token(http: &reqwest::Client, server: &Server, client_id: &str) -> String {
    let res = http
        .post(server.url("/oauth/access_token"))
        .form(&[("grant_type", "implicit"), ("client_id", client_id)])
        .send()
        .await
        .unwrap();
    let r = Resp::read(res).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}
