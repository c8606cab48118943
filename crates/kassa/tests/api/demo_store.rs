//! `kassa serve --demo` gives a storefront build the same ids on every fresh database.

use crate::backend_tests;
use crate::helpers::{Backend, TestDatabase};
use crate::server_process::Server;

backend_tests!(the_demo_ids_a_storefront_compiles_in_are_the_same_on_every_fresh_database);

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
