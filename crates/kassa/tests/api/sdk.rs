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

backend_tests!(official_js_clients_pass);

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
