//! The official Elastic Path JS clients (`sdk-tests/`, pinned in its package.json) driven against
//! a real kassa on each backend. Node.js and npm are required; the node modules are installed by
//! this test itself (`npm ci`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::backend_tests;
use crate::helpers::{Backend, TestDatabase};

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sdk-tests")
}

/// `npm ci` once per test run (both backends share the install).
fn install() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(sdk_dir())
        .output()
        .expect("npm is required to run the SDK suite (Node.js 20)");
    assert!(
        out.status.success(),
        "npm ci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    *done = true;
}

backend_tests!(
    official_js_clients_pass,
    the_storefront_replay_runs_over_https_with_node_trusting_the_development_ca,
);

/// Each test file gets its own server and a fresh database.
async fn official_js_clients_pass(backend: Backend) {
    let mut files: Vec<String> = std::fs::read_dir(sdk_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no SDK test files");
    for file in files {
        let db = TestDatabase::create(backend).await;
        let url = db.url.clone();
        let name = file.clone();
        let out = tokio::task::spawn_blocking(move || {
            install();
            Command::new("node")
                .args(["--test", &name])
                .current_dir(sdk_dir())
                .env("KASSA_BIN", env!("CARGO_BIN_EXE_kassa"))
                .env("KASSA_SDK_DATABASE_URL", url)
                .output()
                .expect("node is required to run the SDK suite")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "SDK suite {file} failed on {backend:?}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
            "{file}: {stdout}"
        );
    }
}

/// Elastic Path's storefront builds every API URL as `https://host:port`: its replay
/// (`storefront.test.mjs`) runs against `kassa serve --tls self-signed` on `localhost`, with
/// Node.js's `fetch` trusting the development CA through the `NODE_EXTRA_CA_CERTS` line kassa
/// prints.
async fn the_storefront_replay_runs_over_https_with_node_trusting_the_development_ca(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let tls_dir = crate::fixtures::ca_dir();
    let creds = [
        ("KASSA_CLIENT_ID", "storefront-admin"),
        ("KASSA_CLIENT_SECRET", "storefront-secret"),
    ];
    let tls_dir_arg = tls_dir.display().to_string();
    let server = crate::server_process::Server::start_with(
        &["serve", "--tls", "self-signed", "--tls-dir", &tls_dir_arg],
        &db.url,
        &creds,
    );
    let line = server.line_containing("NODE_EXTRA_CA_CERTS=");
    let ca = line
        .split("NODE_EXTRA_CA_CERTS=")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        install();
        Command::new("node")
            .args(["--test", "storefront.test.mjs"])
            .current_dir(sdk_dir())
            .env("NODE_EXTRA_CA_CERTS", ca)
            .env("KASSA_SDK_BASE_URL", format!("https://localhost:{port}"))
            .env("KASSA_SDK_CLIENT_ID", "storefront-admin")
            .env("KASSA_SDK_CLIENT_SECRET", "storefront-secret")
            .output()
            .expect("node is required to run the SDK suite")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the storefront replay over HTTPS failed on {backend:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "{stdout}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(tls_dir);
}
