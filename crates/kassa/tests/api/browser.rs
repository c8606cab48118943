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
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let profile = std::env::temp_dir().join(format!("kassa-chromium-{}", uuid::Uuid::new_v4().simple()));
        // Off the network (this machine has only loopback) and without first-run work.
        let out = Command::new("chromium")
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
