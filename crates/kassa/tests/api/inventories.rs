//! `/v2/inventories`: stock records, transactions, the stock invariant under concurrency, and the
//! multi-product store use-case the cart and checkout build on.

use std::sync::Arc;

use kassa_core::inventory::StockAction;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    admin_creates_reads_lists_and_deletes_stock,
    second_create_for_a_product_is_409,
    every_action_moves_stock_and_is_recorded,
    refused_actions_leave_stock_unchanged,
    validates_stock_and_transactions_naming_each_field,
    implicit_token_reads_but_cannot_write,
    stock_for_multiple_products,
    concurrent_allocations_never_oversell,
    concurrent_increments_are_all_counted,
    multi_product_allocation_is_all_or_nothing,
);

fn stock_body(quantity: Value) -> Value {
    json!({"data": {"type": "stock", "quantity": quantity}})
}

fn transaction_body(action: &str, quantity: Value) -> Value {
    json!({"data": {"type": "stock-transaction", "action": action, "quantity": quantity}})
}

async fn create_stock(app: &TestApp, token: &str, quantity: i64) -> String {
    let id = Uuid::now_v7().to_string();
    let r = app
        .post(
            &format!("/v2/inventories/{id}"),
            token,
            stock_body(json!(quantity)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    id
}

async fn transact(app: &TestApp, token: &str, id: &str, action: &str, quantity: i64) -> Resp {
    app.post(
        &format!("/v2/inventories/{id}/transactions"),
        token,
        transaction_body(action, json!(quantity)),
    )
    .await
}

/// `(total, available, allocated)` as the API reports them.
async fn levels(app: &TestApp, token: &str, id: &str) -> (i64, i64, i64) {
    let r = app.get(&format!("/v2/inventories/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    let l = (
        d["total"].as_i64().unwrap(),
        d["available"].as_i64().unwrap(),
        d["allocated"].as_i64().unwrap(),
    );
    assert_eq!(l.0, l.1 + l.2, "total = available + allocated");
    l
}

async fn transaction_count(app: &TestApp, token: &str, id: &str) -> u64 {
    let r = app
        .get(&format!("/v2/inventories/{id}/transactions"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["meta"]["results"]["total"].as_u64().unwrap()
}

async fn admin_creates_reads_lists_and_deletes_stock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = Uuid::now_v7().to_string();
    let r = app
        .post(&format!("/v2/inventories/{id}"), &admin, stock_body(json!(25)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "stock");
    assert_eq!(d["id"], id.as_str());
    assert_eq!(
        (&d["total"], &d["available"], &d["allocated"]),
        (&json!(25), &json!(25), &json!(0))
    );
    assert!(
        d["meta"]["timestamps"]["created_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        d["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v2/inventories/{id}"))
    );

    assert_eq!(levels(&app, &admin, &id).await, (25, 25, 0));
    let zero = create_stock(&app, &admin, 0).await;
    assert_eq!(
        levels(&app, &admin, &zero).await,
        (0, 0, 0),
        "stock of 0 is valid"
    );

    // Unknown and malformed ids are 404.
    let r = app
        .get(&format!("/v2/inventories/{}", Uuid::now_v7()), &admin)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Not Found");
    assert!(r.error()["status"].is_u64(), "integer status: {}", r.body);
    assert_eq!(app.get("/v2/inventories/not-a-uuid", &admin).await.status, 404);

    // The list pages with the shared conventions, oldest first.
    let third = create_stock(&app, &admin, 7).await;
    let r = app.get("/v2/inventories?page[limit]=2", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), zero.as_str()]);
    assert_eq!(r.body["meta"]["results"]["total"], 3);
    assert_eq!(r.body["meta"]["page"]["total"], 2);
    assert!(r.body["links"]["next"].is_string());
    let r = app
        .get("/v2/inventories?page[limit]=2&page[offset]=2", &admin)
        .await;
    assert_eq!(r.body["data"][0]["id"], third.as_str());
    assert_eq!(
        app.get("/v2/inventories?filter=eq(total,1)", &admin).await.status,
        400,
        "no filters are supported"
    );

    // Delete: 204, then gone (with its history), and a second delete is 404.
    transact(&app, &admin, &id, "allocate", 1).await;
    let r = app.delete(&format!("/v2/inventories/{id}"), &admin).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    assert_eq!(
        app.get(&format!("/v2/inventories/{id}"), &admin).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/v2/inventories/{id}/transactions"), &admin)
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/v2/inventories/{id}"), &admin).await.status,
        404
    );
    // The product can be stock-managed again, from a clean slate.
    let r = app
        .post(&format!("/v2/inventories/{id}"), &admin, stock_body(json!(3)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(transaction_count(&app, &admin, &id).await, 0);
}

async fn second_create_for_a_product_is_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = create_stock(&app, &admin, 5).await;
    let r = app
        .post(&format!("/v2/inventories/{id}"), &admin, stock_body(json!(99)))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error()["title"], "Conflict");
    assert_eq!(levels(&app, &admin, &id).await, (5, 5, 0), "unchanged");
}

async fn every_action_moves_stock_and_is_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = create_stock(&app, &admin, 10).await;

    let r = transact(&app, &admin, &id, "increment", 5).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "stock-transaction");
    assert_eq!(d["action"], "increment");
    assert_eq!(d["quantity"], 5);
    assert_eq!(d["product_id"], id.as_str());
    assert!(d["meta"]["timestamps"]["created_at"].is_string());
    let first = d["id"].as_str().unwrap().to_owned();
    assert_eq!(levels(&app, &admin, &id).await, (15, 15, 0));

    assert_eq!(transact(&app, &admin, &id, "allocate", 6).await.status, 201);
    assert_eq!(levels(&app, &admin, &id).await, (15, 9, 6));
    assert_eq!(transact(&app, &admin, &id, "deallocate", 2).await.status, 201);
    assert_eq!(levels(&app, &admin, &id).await, (15, 11, 4));
    assert_eq!(transact(&app, &admin, &id, "decrement", 11).await.status, 201);
    assert_eq!(levels(&app, &admin, &id).await, (4, 0, 4));

    // The history, newest first, and each entry on its own.
    let r = app
        .get(&format!("/v2/inventories/{id}/transactions"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let actions: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["decrement", "deallocate", "allocate", "increment"]);
    assert_eq!(r.body["meta"]["results"]["total"], 4);
    let r = app
        .get(
            &format!("/v2/inventories/{id}/transactions?page[limit]=1&page[offset]=3"),
            &admin,
        )
        .await;
    assert_eq!(r.body["data"][0]["id"], first.as_str());

    let r = app
        .get(&format!("/v2/inventories/{id}/transactions/{first}"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["action"], "increment");
    assert_eq!(r.body["data"]["quantity"], 5);
    // A transaction is addressed under its own product only.
    let other = create_stock(&app, &admin, 1).await;
    for path in [
        format!("/v2/inventories/{other}/transactions/{first}"),
        format!("/v2/inventories/{id}/transactions/{}", Uuid::now_v7()),
        format!("/v2/inventories/{id}/transactions/nope"),
    ] {
        assert_eq!(app.get(&path, &admin).await.status, 404, "{path}");
    }

    // No stock record: 404, nothing recorded.
    let unknown = Uuid::now_v7();
    let r = transact(&app, &admin, &unknown.to_string(), "increment", 1).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        app.get(&format!("/v2/inventories/{unknown}/transactions"), &admin)
            .await
            .status,
        404
    );
}

async fn refused_actions_leave_stock_unchanged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = create_stock(&app, &admin, 5).await;
    assert_eq!(transact(&app, &admin, &id, "allocate", 2).await.status, 201);
    let before = levels(&app, &admin, &id).await;
    assert_eq!(before, (5, 3, 2));

    for (action, quantity, title) in [
        ("allocate", 4, "Insufficient stock"),
        ("decrement", 4, "Insufficient stock"),
        ("deallocate", 3, "Insufficient allocated stock"),
    ] {
        let r = transact(&app, &admin, &id, action, quantity).await;
        assert_eq!(r.status, 400, "{action}: {}", r.body);
        let e = r.error();
        assert_eq!(e["title"], title, "{action}");
        assert_eq!(e["status"], 400);
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(&id), "names the product: {detail}");
        assert_eq!(
            levels(&app, &admin, &id).await,
            before,
            "{action} changed nothing"
        );
    }
    assert_eq!(
        transaction_count(&app, &admin, &id).await,
        1,
        "refusals are not recorded"
    );

    // Exactly the available amount is fine.
    assert_eq!(transact(&app, &admin, &id, "allocate", 3).await.status, 201);
    assert_eq!(transact(&app, &admin, &id, "deallocate", 5).await.status, 201);
    assert_eq!(transact(&app, &admin, &id, "decrement", 5).await.status, 201);
    assert_eq!(levels(&app, &admin, &id).await, (0, 0, 0));
}

async fn validates_stock_and_transactions_naming_each_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = create_stock(&app, &admin, 5).await;
    let sources = |r: &Resp| -> Vec<String> {
        r.error();
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["source"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // Stock: a non-negative integer quantity and type "stock".
    let product = Uuid::now_v7();
    let path = format!("/v2/inventories/{product}");
    for (body, expected) in [
        (stock_body(json!("2")), vec!["data.quantity"]),
        (stock_body(json!(-1)), vec!["data.quantity"]),
        (stock_body(json!(1.5)), vec!["data.quantity"]),
        (stock_body(Value::Null), vec!["data.quantity"]),
        (json!({"data": {"type": "stock"}}), vec!["data.quantity"]),
        (
            json!({"data": {"type": "product", "quantity": "x"}}),
            vec!["data.type", "data.quantity"],
        ),
    ] {
        let r = app.post(&path, &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
    assert_eq!(app.get(&path, &admin).await.status, 404, "nothing was created");
    let r = app
        .post("/v2/inventories/not-a-uuid", &admin, stock_body(json!(1)))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "product_id");

    // Transactions: a positive integer quantity and a known action, all reported at once.
    let path = format!("/v2/inventories/{id}/transactions");
    for (body, expected) in [
        (transaction_body("allocate", json!("2")), vec!["data.quantity"]),
        (transaction_body("allocate", json!(0)), vec!["data.quantity"]),
        (transaction_body("allocate", json!(-3)), vec!["data.quantity"]),
        (transaction_body("allocate", json!(2.5)), vec!["data.quantity"]),
        (transaction_body("set", json!(1)), vec!["data.action"]),
        (
            json!({"data": {"type": "stock-transaction", "quantity": 1}}),
            vec!["data.action"],
        ),
        (
            json!({"data": {"type": "stock", "action": "steal", "quantity": "lots"}}),
            vec!["data.type", "data.action", "data.quantity"],
        ),
    ] {
        let r = app.post(&path, &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
        assert!(r.error()["status"].is_u64());
    }
    // Malformed JSON is a 400 too, never a 500.
    let r = Resp::read(
        app.http
            .post(format!("{}{path}", app.url))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{\"data\":")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(levels(&app, &admin, &id).await, (5, 5, 0));
    assert_eq!(transaction_count(&app, &admin, &id).await, 0);
}

async fn implicit_token_reads_but_cannot_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let id = create_stock(&app, &admin, 4).await;
    let tx = transact(&app, &admin, &id, "allocate", 1).await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(levels(&app, &implicit, &id).await, (4, 3, 1));
    for path in [
        "/v2/inventories".to_owned(),
        format!("/v2/inventories/{id}/transactions"),
        format!("/v2/inventories/{id}/transactions/{tx}"),
    ] {
        assert_eq!(app.get(&path, &implicit).await.status, 200, "{path}");
    }
    let r = app
        .post(
            "/v2/inventories/multiple",
            &implicit,
            json!({"data": [{"id": id}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let writes = [
        (
            Method::POST,
            format!("/v2/inventories/{}", Uuid::now_v7()),
            Some(stock_body(json!(1))),
        ),
        (Method::DELETE, format!("/v2/inventories/{id}"), None),
        (
            Method::POST,
            format!("/v2/inventories/{id}/transactions"),
            Some(transaction_body("allocate", json!(1))),
        ),
    ];
    for (method, path, body) in writes {
        let r = app.call(method.clone(), &path, Some(&implicit), body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.error()["title"], "Forbidden");
    }
    assert_eq!(levels(&app, &admin, &id).await, (4, 3, 1));

    // No token at all: 401.
    let r = app
        .call(Method::GET, &format!("/v2/inventories/{id}"), None, None)
        .await;
    assert_eq!(r.status, 401);
}

async fn stock_for_multiple_products(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let a = create_stock(&app, &admin, 1).await;
    let b = create_stock(&app, &admin, 2).await;
    let unmanaged = Uuid::now_v7().to_string();
    let r = app
        .post(
            "/v2/inventories/multiple",
            &admin,
            json!({"data": [{"type": "stock", "id": b}, {"id": unmanaged}, {"id": a}, {"id": b}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got: Vec<(&str, i64)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["available"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        got,
        [(b.as_str(), 2), (a.as_str(), 1)],
        "asked-for order, unmanaged left out"
    );

    let r = app
        .post(
            "/v2/inventories/multiple",
            &admin,
            json!({"data": [{"id": "nope"}, {}, {"id": a}]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["data[0].id", "data[1].id"]);

    let too_many: Vec<Value> = (0..101).map(|_| json!({"id": Uuid::now_v7()})).collect();
    let r = app
        .post("/v2/inventories/multiple", &admin, json!({ "data": too_many }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data");

    let r = app
        .post("/v2/inventories/multiple", &admin, json!({"data": []}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!([]));
}

async fn concurrent_allocations_never_oversell(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = Arc::new(app.admin_token().await);
    let id = Arc::new(create_stock(&app, &admin, 10).await);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, admin, id) = (Arc::clone(&app), Arc::clone(&admin), Arc::clone(&id));
            tokio::spawn(async move { transact(&app, &admin, &id, "allocate", 1).await })
        })
        .collect();
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        let r = task.await.unwrap();
        match r.status.as_u16() {
            201 => created += 1,
            400 => {
                assert_eq!(r.error()["title"], "Insufficient stock");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((created, refused), (10, 40));
    assert_eq!(levels(&app, &admin, &id).await, (10, 0, 10));
    assert_eq!(transaction_count(&app, &admin, &id).await, 10);
}

async fn concurrent_increments_are_all_counted(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = Arc::new(app.admin_token().await);
    let id = Arc::new(create_stock(&app, &admin, 0).await);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (app, admin, id) = (Arc::clone(&app), Arc::clone(&admin), Arc::clone(&id));
            // Interleave allocations of what is already there with the increments.
            let action = if i % 4 == 3 { "allocate" } else { "increment" };
            tokio::spawn(async move { (action, transact(&app, &admin, &id, action, 2).await) })
        })
        .collect();
    let mut allocated = 0;
    for task in tasks {
        let (action, r) = task.await.unwrap();
        match (action, r.status.as_u16()) {
            ("increment", 201) => {}
            ("allocate", 201) => allocated += 2,
            ("allocate", 400) => {}
            (action, status) => panic!("{action} → {status}: {}", r.body),
        }
    }
    // 30 increments of 2, whatever the interleaving.
    assert_eq!(levels(&app, &admin, &id).await, (60, 60 - allocated, allocated));
}

async fn multi_product_allocation_is_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let a = create_stock(&app, &admin, 5).await;
    let b = create_stock(&app, &admin, 1).await;
    let store = kassa::prepare_store(&kassa::config::Database::parse(&app.db.url).unwrap())
        .await
        .unwrap();
    let (ua, ub) = (Uuid::parse_str(&a).unwrap(), Uuid::parse_str(&b).unwrap());
    let unmanaged = Uuid::now_v7();

    // b is short: nothing moves, not even a.
    let refusal = store
        .allocate_stock(&[(ua, 3), (unmanaged, 100), (ub, 2)])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refusal.product_id, ub);
    assert_eq!(refusal.action, StockAction::Allocate);
    assert_eq!(refusal.levels.available, 1);
    assert_eq!(levels(&app, &admin, &a).await, (5, 5, 0));
    assert_eq!(levels(&app, &admin, &b).await, (1, 1, 0));
    assert_eq!(transaction_count(&app, &admin, &a).await, 0);

    // Repeated products are summed before the check.
    let refusal = store
        .allocate_stock(&[(ub, 1), (ub, 1)])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refusal.requested, 2);

    // Enough of everything: all move, one transaction each; products without stock are skipped.
    store
        .allocate_stock(&[(ub, 1), (ua, 3), (unmanaged, 100)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(levels(&app, &admin, &a).await, (5, 2, 3));
    assert_eq!(levels(&app, &admin, &b).await, (1, 0, 1));
    assert_eq!(transaction_count(&app, &admin, &a).await, 1);
    assert_eq!(transaction_count(&app, &admin, &b).await, 1);

    // The other actions go through the same use-case.
    store
        .adjust_stock(
            StockAction::Deallocate,
            &[(ua, 3), (ub, 1)],
            kassa_core::time::now_millis(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(levels(&app, &admin, &a).await, (5, 5, 0));

    // Levels for checks: only stock-managed products appear.
    let found = store.stock_levels(&[unmanaged, ua, ub]).await.unwrap();
    let mut ids: Vec<Uuid> = found.iter().map(|s| s.product_id).collect();
    ids.sort();
    let mut expected = vec![ua, ub];
    expected.sort();
    assert_eq!(ids, expected);

    // A non-positive quantity is bad input, not a refusal.
    assert!(store.allocate_stock(&[(ua, 0)]).await.is_err());
    assert!(store.allocate_stock(&[]).await.unwrap().is_ok());
}
