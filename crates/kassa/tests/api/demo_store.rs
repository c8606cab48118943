//! `kassa serve --demo` gives a storefront build the same ids on every fresh database.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestDatabase};
use crate::server_process::{Server, assert_fails_with, call, free_port, token};

backend_tests!(
    the_demo_ids_a_storefront_compiles_in_are_the_same_on_every_fresh_database,
    the_demo_fills_only_a_new_store,
);

/// The `export …` line's value of `name`.
fn exported(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {line}"))
        .to_owned()
}

async fn the_demo_ids_a_storefront_compiles_in_are_the_same_on_every_fresh_database(backend: Backend) {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let db = TestDatabase::create(backend).await;
        let server = Server::start_with(&["serve", "--demo"], &db.url, &[]);
        let line = server.line_containing("export KASSA=");
        seen.push((exported(&line, "DEMO_CLIENT_ID"), exported(&line, "DEMO_PROFILE")));
    }
    assert_eq!(seen[0], seen[1], "two fresh databases, the same ids");
    assert_eq!(
        seen[0],
        (
            kassa::demo::DEMO_CLIENT_ID.to_owned(),
            kassa::demo::DEMO_PASSWORD_PROFILE_ID.to_string()
        )
    );
}

/// The demo is a fixture, which replaces what a store holds: it fills a new store, finds itself
/// in a store it filled, and refuses a store with products of its own.
async fn the_demo_fills_only_a_new_store(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let admin = [
        ("KASSA_CLIENT_ID", "admin"),
        ("KASSA_CLIENT_SECRET", "admin-secret"),
    ];
    let mut server = Server::start(&db.url, &admin);
    let http = reqwest::Client::new();
    let token = token(&http, &server, "admin", "admin-secret").await;
    let r = call(
        &http,
        &server,
        Method::POST,
        "/pcm/products",
        &token,
        Some(json!({"data": {"type": "product", "attributes": {"name": "Mine", "sku": "MINE", "commodity_type": "physical"}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)));
    let listen = format!("127.0.0.1:{}", free_port());
    let env = [
        ("KASSA_DATABASE_URL", db.url.as_str()),
        ("KASSA_LISTEN", listen.as_str()),
    ];
    assert_fails_with(&["serve", "--demo"], &env, "--demo fills a new store");
}
