//! A real browser for the tests: headless Chromium (Debian's `chromium`) loading a page and
//! dumping its DOM once the page's scripts have run. Required, like PostgreSQL and Node.js: a
//! machine without it fails these tests rather than skipping them.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use tokio::net::TcpListener;

/// A page served at `/` on a port of its own, so it has an origin of its own, until the test
/// ends. Its HTML can be set after it listens (when the page must name what only then exists).
pub struct Page {
    /// e.g. `http://127.0.0.1:41234`
    pub origin: String,
    html: Arc<Mutex<String>>,
}

impl Page {
    pub async fn serve(html: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let html = Arc::new(Mutex::new(html));
        let shared = Arc::clone(&html);
        let app = Router::new().route(
            "/",
            get(move || {
                let html = shared.lock().unwrap().clone();
                async move { Html(html) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { origin, html }
    }

    pub fn set(&self, html: String) {
        *self.html.lock().unwrap() = html;
    }

    pub fn url(&self) -> String {
        format!("{}/", self.origin)
    }
}

/// Loads `url` in headless Chromium and returns the DOM after its scripts ran (network requests
/// included: `--virtual-time-budget` advances only while nothing is pending).
pub async fn rendered_dom(url: &str) -> String {
    rendered_dom_with_home(url, None).await
}

/// As [`rendered_dom`], with `HOME` set: Chromium on Linux trusts the certificate authorities in
/// `$HOME/.pki/nssdb` (see [`trust_ca_in`]).
pub async fn rendered_dom_with_home(url: &str, home: Option<&std::path::Path>) -> String {
    let url = url.to_owned();
    let home = home.map(std::path::Path::to_path_buf);
    tokio::task::spawn_blocking(move || {
        let profile = std::env::temp_dir().join(format!("kassa-chromium-{}", uuid::Uuid::new_v4().simple()));
        // Off the network (this machine has only loopback) and without first-run work.
        let mut chromium = Command::new("chromium");
        if let Some(home) = &home {
            chromium.env("HOME", home);
        }
        let out = chromium
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&url)
            .output()
            .expect("headless Chromium is required for the browser tests: apt-get install -y chromium");
        let _ = std::fs::remove_dir_all(&profile);
        assert!(
            out.status.success(),
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap()
}

/// Makes `home` a home directory whose NSS database (what Chromium on Linux reads) trusts the CA
/// in `ca_pem`, as a developer does with `certutil` (Debian's `libnss3-tools`).
pub fn trust_ca_in(home: &std::path::Path, ca_pem: &std::path::Path) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db = format!("sql:{}", db.display());
    let run = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil is required for the HTTPS browser test: apt-get install -y libnss3-tools");
        assert!(
            out.status.success(),
            "certutil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["-N", "-d", &db, "--empty-password"]);
    run(&[
        "-A",
        "-d",
        &db,
        "-t",
        "C,,",
        "-n",
        "kassa development CA",
        "-i",
        &ca_pem.display().to_string(),
    ]);
}

/// The text of the element with this id in a dumped DOM (`<p id="out">…</p>`).
pub fn element_text<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\">");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no element #{id} in {dom}"))
        + open.len();
    let end = dom[start..].find('<').map_or(dom.len(), |e| start + e);
    &dom[start..end]
}
