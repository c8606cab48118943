//! The multi-location inventory API (`EP-Inventories-Multi-Location: true`): stock locations,
//! stock per location in both shapes, transactions at a location, cart items drawing from a
//! location through checkout, payment, cancel and fulfilment, and the last-unit race per
//! location.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend_tests;
use crate::fixtures::{
    enable_manual, guest_body, hierarchy, pay, payment, price, pricebook, product, published_catalog, usd,
};
use crate::helpers::{Backend, Resp, TestApp, req};

backend_tests!(
    locations_are_created_read_listed_updated_and_deleted,
    bad_location_input_is_refused_naming_the_field_and_changes_nothing,
    a_location_holding_stock_cannot_be_deleted,
    one_stock_in_both_shapes,
    stock_at_locations_is_created_and_set,
    transactions_move_one_locations_position,
    the_storefronts_product_page_reads,
    implicit_tokens_read_stock_and_locations_but_never_write,
    cart_items_draw_from_a_location,
    checkout_payment_cancel_and_fulfilment_move_the_lines_location,
    reserving_at_checkout_allocates_from_the_lines_location,
    concurrent_payments_sell_exactly_one_locations_last_units,
    concurrent_allocations_at_a_location_never_oversell,
);

const ML: (&str, &str) = ("EP-Inventories-Multi-Location", "true");

async fn ml(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
    req(app, method, path, token, &[ML], body).await
}

async fn ml_get(app: &TestApp, path: &str, token: &str) -> Resp {
    ml(app, Method::GET, path, token, None).await
}

/// A location; returns its id.
async fn location(app: &TestApp, admin: &str, name: &str, slug: &str) -> String {
    let r = app
        .post(
            "/v2/inventories/locations",
            admin,
            json!({"data": {"type": "inventory_location", "attributes": {"name": name, "slug": slug}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

/// Stock for the product at these locations (`(slug, available)`), through the multi-location
/// create.
async fn stock_at(app: &TestApp, admin: &str, product: &str, at: &[(&str, i64)]) {
    let locations: serde_json::Map<String, Value> = at
        .iter()
        .map(|(slug, n)| ((*slug).to_owned(), json!({ "available": n })))
        .collect();
    let r = ml(
        app,
        Method::POST,
        "/v2/inventories",
        admin,
        Some(json!({"data": {"type": "stock", "id": product, "attributes": {"locations": locations}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// `(available, allocated, total)` of a levels object.
fn lv(v: &Value) -> (i64, i64, i64) {
    (
        v["available"].as_i64().unwrap(),
        v["allocated"].as_i64().unwrap(),
        v["total"].as_i64().unwrap(),
    )
}

/// The product's stock in the multi-location shape: the totals and each location's levels.
async fn ml_stock(
    app: &TestApp,
    token: &str,
    product: &str,
) -> ((i64, i64, i64), Vec<(String, (i64, i64, i64))>) {
    let r = ml_get(app, &format!("/v2/inventories/{product}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["data"]["attributes"];
    let locations = a["locations"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), lv(v))).collect())
        .unwrap_or_default();
    (lv(a), locations)
}

fn at(slug: &str, levels: (i64, i64, i64)) -> (String, (i64, i64, i64)) {
    (slug.to_owned(), levels)
}

fn ml_transaction(action: &str, quantity: Value, location: Option<&str>) -> Value {
    let mut attributes = json!({"action": action, "quantity": quantity});
    if let Some(l) = location {
        attributes["location"] = json!(l);
    }
    json!({"data": {"type": "stock-transaction", "attributes": attributes}})
}

async fn ml_transact(
    app: &TestApp,
    admin: &str,
    product: &str,
    action: &str,
    quantity: i64,
    location: Option<&str>,
) -> Resp {
    ml(
        app,
        Method::POST,
        &format!("/v2/inventories/{product}/transactions"),
        admin,
        Some(ml_transaction(action, json!(quantity), location)),
    )
    .await
}

fn sources(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {}", r.body))
        .iter()
        .map(|e| e["source"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A published catalog with these products at 100 USD each; returns their ids.
async fn shop_products(app: &TestApp, admin: &str, skus: &[&str]) -> Vec<String> {
    let node = hierarchy(app, admin, "Shop").await;
    let book = pricebook(app, admin, "Prices").await;
    let mut ids = Vec::new();
    for sku in skus {
        ids.push(product(app, admin, &node, &format!("Product {sku}"), sku, "live").await);
        price(app, admin, &book, sku, usd(100)).await;
    }
    published_catalog(app, admin, "Shop", &node.0, &book).await;
    ids
}

async fn shop_product(app: &TestApp, admin: &str, sku: &str) -> String {
    shop_products(app, admin, &[sku]).await.remove(0)
}

async fn add(app: &TestApp, token: &str, cart: &str, data: Value) -> Resp {
    app.post(&format!("/v2/carts/{cart}/items"), token, json!({ "data": data }))
        .await
}

fn cart_item(product: &str, quantity: i64, location: Option<&str>) -> Value {
    let mut item = json!({"type": "cart_item", "id": product, "quantity": quantity});
    if let Some(l) = location {
        item["location"] = json!(l);
    }
    item
}

async fn checkout(app: &TestApp, token: &str, cart: &str) -> Resp {
    app.post(&format!("/v2/carts/{cart}/checkout"), token, guest_body())
        .await
}

/// A guest order of `quantity` of the product at `location`, through the cart and checkout.
async fn located_order(
    app: &TestApp,
    token: &str,
    product: &str,
    quantity: i64,
    location: Option<&str>,
) -> String {
    let cart = format!("c{}", Uuid::new_v4().simple());
    let r = add(app, token, &cart, cart_item(product, quantity, location)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = checkout(app, token, &cart).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn order_update(app: &TestApp, admin: &str, order: &str, data: Value) -> Resp {
    app.put(&format!("/v2/orders/{order}"), admin, json!({ "data": data }))
        .await
}

async fn location_count(app: &TestApp, token: &str) -> u64 {
    let r = app.get("/v2/inventories/locations", token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["meta"]["results"]["total"].as_u64().unwrap()
}

async fn locations_are_created_read_listed_updated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // Elastic Path's example location, as its spec writes it.
    let example = json!({"data": {"type": "inventory_location", "attributes": {
        "name": "Milton Keynes Warehouse", "external_ref": "mk-stock-warehouse-walnut-tree",
        "slug": "milton-keynes-warehouse", "description": "Southern dispatch location for all inventory",
        "address": ["Troughton Supplies", "38 Pipernel Grove", "Walnut Tree", "MK7 4UL"],
        "geolocation": {"lat": -90, "lon": 180}}}});
    let r = app
        .post("/v2/inventories/locations", &admin, example.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    let id = d["id"].as_str().unwrap().to_owned();
    assert_eq!(d["type"], "inventory_location");
    assert_eq!(d["attributes"]["slug"], "milton-keynes-warehouse");
    assert_eq!(d["attributes"]["address"][3], "MK7 4UL");
    assert_eq!(d["attributes"]["geolocation"]["lat"].as_f64(), Some(-90.0));
    assert_eq!(d["attributes"]["geolocation"]["lon"].as_f64(), Some(180.0));
    assert!(d["meta"]["timestamps"]["created_at"].is_string());
    assert!(
        d["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v2/inventories/locations/{id}"))
    );
    // Without a type, as the spec's LocationRequest allows; optional attributes left out.
    let r = app
        .post(
            "/v2/inventories/locations",
            &admin,
            json!({"data": {"attributes": {"name": "York", "slug": "york"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let york = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["data"]["attributes"],
        json!({"name": "York", "slug": "york"})
    );

    let r = app.get(&format!("/v2/inventories/locations/{id}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["name"], "Milton Keynes Warehouse");
    let r = app.get("/v2/inventories/locations", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let slugs: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["attributes"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["milton-keynes-warehouse", "york"], "oldest first");
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    let r = app
        .get("/v2/inventories/locations?page[limit]=1&page[offset]=1", &admin)
        .await;
    assert_eq!(r.body["data"][0]["id"], york.as_str());

    // An update changes what it names; null clears the optional attributes.
    let r = app
        .put(
            &format!("/v2/inventories/locations/{id}"),
            &admin,
            json!({"data": {"type": "inventory_location", "id": id, "attributes": {
                "name": "MK Warehouse", "description": null, "geolocation": null}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["data"]["attributes"];
    assert_eq!(a["name"], "MK Warehouse");
    assert_eq!(a["slug"], "milton-keynes-warehouse");
    assert_eq!(a["external_ref"], "mk-stock-warehouse-walnut-tree");
    assert!(
        a.get("description").is_none() && a.get("geolocation").is_none(),
        "{a}"
    );
    assert_eq!(
        app.get(&format!("/v2/inventories/locations/{id}"), &admin)
            .await
            .body["data"]["attributes"],
        *a
    );

    // Slugs are unique, on create and on update.
    let r = app
        .post(
            "/v2/inventories/locations",
            &admin,
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Another", "slug": "york"}}}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    r.error();
    let r = app
        .put(
            &format!("/v2/inventories/locations/{id}"),
            &admin,
            json!({"data": {"type": "inventory_location", "id": id, "attributes": {"slug": "york"}}}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(location_count(&app, &admin).await, 2);
    assert_eq!(
        app.get(&format!("/v2/inventories/locations/{id}"), &admin)
            .await
            .body["data"]["attributes"]["slug"],
        "milton-keynes-warehouse"
    );

    // Unknown and malformed ids are 404 everywhere.
    let unknown = Uuid::now_v7();
    for (method, path, body) in [
        (Method::GET, format!("/v2/inventories/locations/{unknown}"), None),
        (
            Method::GET,
            "/v2/inventories/locations/not-an-id".to_owned(),
            None,
        ),
        (
            Method::PUT,
            format!("/v2/inventories/locations/{unknown}"),
            Some(json!({"data": {"type": "inventory_location", "attributes": {"name": "Nope"}}})),
        ),
        (
            Method::DELETE,
            format!("/v2/inventories/locations/{unknown}"),
            None,
        ),
    ] {
        let r = app.call(method.clone(), &path, Some(&admin), body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert_eq!(r.error()["detail"], "No location found");
    }

    let r = app
        .delete(&format!("/v2/inventories/locations/{york}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        app.get(&format!("/v2/inventories/locations/{york}"), &admin)
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/v2/inventories/locations/{york}"), &admin)
            .await
            .status,
        404
    );
    assert_eq!(location_count(&app, &admin).await, 1);
    // Its slug is free again.
    location(&app, &admin, "York again", "york").await;
}

async fn bad_location_input_is_refused_naming_the_field_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = location(&app, &admin, "Leeds Depot", "leeds").await;
    // (body, the sources refused)
    let creates = [
        (
            json!({"data": {"type": "inventory_location"}}),
            vec!["data.attributes"],
        ),
        (
            json!({"data": {"type": "inventory_location", "attributes": {}}}),
            vec!["data.attributes.name", "data.attributes.slug"],
        ),
        (
            json!({"data": {"type": "warehouse", "attributes": {"name": "Hull", "slug": "hull"}}}),
            vec!["data.type"],
        ),
        (
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Hu", "slug": "hull city"}}}),
            vec!["data.attributes.name", "data.attributes.slug"],
        ),
        (
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Hull", "slug": "hull",
                "address": [], "geolocation": {"lat": 100, "lon": 0}, "external_ref": 7}}}),
            vec![
                "data.attributes.external_ref",
                "data.attributes.address",
                "data.attributes.geolocation.lat",
            ],
        ),
        (
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Hull", "slug": "hull", "rank": 1}}}),
            vec!["data.attributes.rank"],
        ),
    ];
    for (body, expected) in creates {
        let r = app.post("/v2/inventories/locations", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        r.error();
        assert_eq!(sources(&r), expected, "{body}");
    }
    assert_eq!(location_count(&app, &admin).await, 1, "nothing was created");

    let before = app
        .get(&format!("/v2/inventories/locations/{id}"), &admin)
        .await
        .body;
    let updates = [
        (
            json!({"data": {"type": "inventory_location", "attributes": {"name": null}}}),
            vec!["data.attributes.name"],
        ),
        (
            json!({"data": {"attributes": {"name": "Leeds"}}}),
            vec!["data.type"],
        ),
        (
            json!({"data": {"type": "inventory_location", "id": Uuid::now_v7(), "attributes": {"name": "Leeds"}}}),
            vec!["data.id"],
        ),
        (
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Leeds", "address": ["a", 2]}}}),
            vec!["data.attributes.address[1]"],
        ),
        (
            json!({"data": {"type": "inventory_location", "attributes": {"slug": "", "description": "ab"}}}),
            vec!["data.attributes.slug", "data.attributes.description"],
        ),
    ];
    for (body, expected) in updates {
        let r = app
            .put(&format!("/v2/inventories/locations/{id}"), &admin, body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
    assert_eq!(
        app.get(&format!("/v2/inventories/locations/{id}"), &admin)
            .await
            .body,
        before
    );
    // Malformed JSON and wrong types are the shared 400s.
    let r = app
        .post("/v2/inventories/locations", &admin, json!({"data": "x"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(location_count(&app, &admin).await, 1);
}

async fn a_location_holding_stock_cannot_be_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let york = location(&app, &admin, "York", "york").await;
    let empty = location(&app, &admin, "Empty", "empty").await;
    let product = Uuid::now_v7().to_string();
    stock_at(&app, &admin, &product, &[("york", 3), ("empty", 0)]).await;
    let r = app
        .delete(&format!("/v2/inventories/locations/{york}"), &admin)
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error()["title"], "Conflict");
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((3, 0, 3), vec![at("empty", (0, 0, 0)), at("york", (3, 0, 3))]),
        "nothing changed"
    );
    // A location whose positions are all empty goes, with them.
    let r = app
        .delete(&format!("/v2/inventories/locations/{empty}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((3, 0, 3), vec![at("york", (3, 0, 3))])
    );

    // Allocated stock there: its position cannot be removed either.
    let r = ml_transact(&app, &admin, &product, "allocate", 1, Some("york")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let remove =
        json!({"data": {"type": "stock", "id": product, "attributes": {"locations": {"york": null}}}});
    let r = ml(
        &app,
        Method::PUT,
        &format!("/v2/inventories/{product}"),
        &admin,
        Some(remove.clone()),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        app.delete(&format!("/v2/inventories/locations/{york}"), &admin)
            .await
            .status,
        409
    );
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((2, 1, 3), vec![at("york", (2, 1, 3))])
    );
    // Once deallocated, the position can be removed, and then the location deleted.
    ml_transact(&app, &admin, &product, "deallocate", 1, Some("york")).await;
    let r = ml(
        &app,
        Method::PUT,
        &format!("/v2/inventories/{product}"),
        &admin,
        Some(remove),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["data"]["attributes"].get("locations").is_none(),
        "{}",
        r.body
    );
    let r = app
        .delete(&format!("/v2/inventories/locations/{york}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(ml_stock(&app, &admin, &product).await, ((0, 0, 0), vec![]));
}

async fn one_stock_in_both_shapes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    location(&app, &admin, "York", "york_warehouse").await;
    location(&app, &admin, "Stevenage", "stevenage_warehouse").await;
    // Stock created with the basic API, read with the header: the same numbers nested under
    // `attributes`, no `locations` member at all (the storefront shows no location selector).
    let basic = Uuid::now_v7().to_string();
    let r = app
        .post(
            &format!("/v2/inventories/{basic}"),
            &admin,
            json!({"data": {"type": "stock", "quantity": 7}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = ml_get(&app, &format!("/v2/inventories/{basic}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "stock");
    assert_eq!(d["id"], basic.as_str());
    assert_eq!(
        d["attributes"],
        json!({"available": 7, "allocated": 0, "total": 7})
    );
    assert_eq!(d["meta"]["stock_id"], basic.as_str());
    assert!(d["meta"]["timestamps"]["updated_at"].is_string());
    assert!(d.get("total").is_none(), "{d}");
    // Moved with the other API, seen by both: they share the stock outside locations.
    let r = ml_transact(&app, &admin, &basic, "allocate", 2, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.get(&format!("/v2/inventories/{basic}"), &admin).await;
    assert_eq!(
        (
            r.body["data"]["total"].as_i64(),
            r.body["data"]["available"].as_i64()
        ),
        (Some(7), Some(5))
    );
    assert!(r.body["data"].get("attributes").is_none(), "{}", r.body);

    // Elastic Path's create example: stock at two locations.
    let product = Uuid::now_v7().to_string();
    let r = ml(
        &app,
        Method::POST,
        "/v2/inventories",
        &admin,
        Some(
            json!({"data": {"type": "stock", "id": product, "attributes": {"locations": {
            "york_warehouse": {"available": 10}, "stevenage_warehouse": {"available": 20}}}}}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = &r.body["data"]["attributes"];
    assert_eq!(lv(a), (30, 0, 30));
    assert_eq!(lv(&a["locations"]["york_warehouse"]), (10, 0, 10));
    assert_eq!(lv(&a["locations"]["stevenage_warehouse"]), (20, 0, 20));
    // Without the header: the basic shape, with the product's totals.
    let r = app.get(&format!("/v2/inventories/{product}"), &admin).await;
    let d = &r.body["data"];
    assert_eq!(
        (
            d["total"].as_i64(),
            d["available"].as_i64(),
            d["allocated"].as_i64()
        ),
        (Some(30), Some(30), Some(0))
    );
    assert!(
        d.get("attributes").is_none() && d.get("locations").is_none(),
        "{d}"
    );
    // The same create without the header answers in the basic shape.
    let other = Uuid::now_v7().to_string();
    let r = app
        .post(
            "/v2/inventories",
            &admin,
            json!({"data": {"type": "stock", "id": other, "attributes": {"available": 4}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["available"], 4);

    // Listing and `multiple` follow the header too.
    let r = ml_get(&app, "/v2/inventories", &admin).await;
    let listed: Vec<&Value> = r.body["data"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|s| s["attributes"]["total"].is_i64()),
        "{}",
        r.body
    );
    assert_eq!(
        listed[1]["attributes"]["locations"]["york_warehouse"]["available"],
        10
    );
    let r = ml(
        &app,
        Method::POST,
        "/v2/inventories/multiple",
        &admin,
        Some(json!({"data": [{"id": product}, {"id": basic}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"][0]["attributes"]["locations"]["stevenage_warehouse"]["total"],
        20
    );
    assert_eq!(r.body["data"][1]["attributes"]["available"], 5);
    let r = app
        .post(
            "/v2/inventories/multiple",
            &admin,
            json!({"data": [{"id": product}]}),
        )
        .await;
    assert_eq!(r.body["data"][0]["total"], 30);

    // The header only counts when it says `true`.
    let r = req(
        &app,
        Method::GET,
        &format!("/v2/inventories/{product}"),
        &admin,
        &[(ML.0, "false")],
        None,
    )
    .await;
    assert_eq!(r.body["data"]["total"], 30);
    let r = req(
        &app,
        Method::GET,
        &format!("/v2/inventories/{product}"),
        &admin,
        &[(ML.0, "TRUE")],
        None,
    )
    .await;
    assert_eq!(r.body["data"]["attributes"]["total"], 30);

    // The OpenAPI document names the header on the operations whose shape it changes.
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    let params = &doc["paths"]["/v2/inventories/{product_id}"]["get"]["parameters"];
    assert!(
        params
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == ML.0 && p["in"] == "header"),
        "{params}"
    );
}

async fn stock_at_locations_is_created_and_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    location(&app, &admin, "York", "york").await;
    location(&app, &admin, "Stevenage", "stevenage").await;
    let product = Uuid::now_v7().to_string();
    let create =
        |attributes: Value| json!({"data": {"type": "stock", "id": product, "attributes": attributes}});
    // Bad creates: every problem named, nothing created.
    for (body, expected) in [
        (
            create(json!({"available": 5, "locations": {"york": {"available": 1}}})),
            vec!["data.attributes.available"],
        ),
        (
            create(
                json!({"locations": {"york": {"available": -1}, "a b": {"available": 1}, "stevenage": 3}}),
            ),
            vec![
                "data.attributes.locations.a b",
                "data.attributes.locations.stevenage",
                "data.attributes.locations.york.available",
            ],
        ),
        (
            create(json!({"locations": {"leeds": {"available": 1}}})),
            vec!["data.attributes.locations.leeds"],
        ),
        (
            json!({"data": {"type": "stock", "attributes": {"available": 1}}}),
            vec!["data.id"],
        ),
        (
            json!({"data": {"type": "stock", "id": "nope", "attributes": {}}}),
            vec!["data.id"],
        ),
        (
            json!({"data": {"id": product, "attributes": {}}}),
            vec!["data.type"],
        ),
        (
            json!({"data": {"type": "stock", "id": product}}),
            vec!["data.attributes"],
        ),
        (
            create(json!({"available": "5"})),
            vec!["data.attributes.available"],
        ),
    ] {
        let r = ml(&app, Method::POST, "/v2/inventories", &admin, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let mut got = sources(&r);
        got.sort();
        assert_eq!(got, expected, "{body}");
    }
    assert_eq!(
        app.get(&format!("/v2/inventories/{product}"), &admin)
            .await
            .status,
        404,
        "nothing was created"
    );

    stock_at(&app, &admin, &product, &[("york", 2)]).await;
    let r = ml(
        &app,
        Method::POST,
        "/v2/inventories",
        &admin,
        Some(create(json!({"available": 1}))),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((2, 0, 2), vec![at("york", (2, 0, 2))])
    );

    // PUT sets the available stock at each location it names; allocations there stay.
    ml_transact(&app, &admin, &product, "allocate", 1, Some("york")).await;
    let path = format!("/v2/inventories/{product}");
    let update = |locations: Value| json!({"data": {"type": "stock", "id": product, "attributes": {"locations": locations}}});
    let r = ml(
        &app,
        Method::PUT,
        &path,
        &admin,
        Some(update(
            json!({"york": {"available": 10}, "stevenage": {"available": 4}}),
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["data"]["attributes"];
    assert_eq!(lv(a), (14, 1, 15));
    assert_eq!(lv(&a["locations"]["york"]), (10, 1, 11));
    assert_eq!(lv(&a["locations"]["stevenage"]), (4, 0, 4));
    // Each change is in the history as a `set` of the location's total.
    let r = ml_get(&app, &format!("{path}/transactions"), &admin).await;
    let sets: Vec<(String, i64)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["attributes"]["action"] == "set")
        .map(|t| {
            (
                t["attributes"]["location"].as_str().unwrap().to_owned(),
                t["attributes"]["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sets.len(), 2);
    assert!(
        sets.contains(&("york".into(), 11)) && sets.contains(&("stevenage".into(), 4)),
        "{sets:?}"
    );

    // Bad updates name the field and change nothing.
    let before = ml_stock(&app, &admin, &product).await;
    for (body, expected) in [
        (
            update(json!({"york": {"available": 1}, "leeds": {"available": 1}})),
            vec!["data.attributes.locations.leeds"],
        ),
        (
            update(json!({"york": {"available": 1.5}})),
            vec!["data.attributes.locations.york.available"],
        ),
        (
            update(json!({"york": {}})),
            vec!["data.attributes.locations.york.available"],
        ),
        (update(json!([1])), vec!["data.attributes.locations"]),
        (
            json!({"data": {"type": "stock", "id": product, "attributes": {"available": 3}}}),
            vec!["data.attributes.available", "data.attributes.locations"],
        ),
        (
            json!({"data": {"type": "stock", "id": Uuid::now_v7(), "attributes": {"locations": {}}}}),
            vec!["data.id"],
        ),
    ] {
        let r = ml(&app, Method::PUT, &path, &admin, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let mut got = sources(&r);
        got.sort();
        assert_eq!(got, expected, "{body}");
    }
    assert_eq!(ml_stock(&app, &admin, &product).await, before);
    let r = ml(
        &app,
        Method::PUT,
        &format!("/v2/inventories/{}", Uuid::now_v7()),
        &admin,
        Some(json!({"data": {"type": "stock", "attributes": {"locations": {"york": {"available": 1}}}}})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Without the header the body is the same and the answer basic.
    let r = app
        .put(&path, &admin, update(json!({"stevenage": {"available": 6}})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["total"], 17);
}

async fn transactions_move_one_locations_position(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    location(&app, &admin, "York", "york").await;
    location(&app, &admin, "Stevenage", "stevenage").await;
    let product = Uuid::now_v7().to_string();
    let r = app
        .post(
            &format!("/v2/inventories/{product}"),
            &admin,
            json!({"data": {"type": "stock", "quantity": 50}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // An increment at a location the product is not stocked at yet starts its position there.
    let r = ml_transact(&app, &admin, &product, "increment", 5, Some("york")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t = &r.body["data"];
    assert_eq!(t["type"], "stock-transaction");
    assert_eq!(
        t["attributes"],
        json!({"action": "increment", "product_id": product, "quantity": 5, "location": "york"})
    );
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((55, 0, 55), vec![at("york", (5, 0, 5))])
    );
    for (action, quantity, expected) in [
        ("allocate", 2, (3, 2, 5)),
        ("deallocate", 1, (4, 1, 5)),
        ("decrement", 4, (0, 1, 1)),
        ("set", 6, (5, 1, 6)),
        ("set", 1, (0, 1, 1)),
    ] {
        let r = ml_transact(&app, &admin, &product, action, quantity, Some("york")).await;
        assert_eq!(r.status, 201, "{action} {quantity}: {}", r.body);
        let (_, locations) = ml_stock(&app, &admin, &product).await;
        assert_eq!(locations, vec![at("york", expected)], "{action} {quantity}");
    }
    // Short at the location while plenty is kept outside it: refused, nothing recorded.
    let count = |r: Resp| r.body["meta"]["results"]["total"].as_u64().unwrap();
    let history = count(ml_get(&app, &format!("/v2/inventories/{product}/transactions"), &admin).await);
    for (action, quantity, location, title) in [
        ("allocate", 1, "york", "Insufficient stock"),
        ("decrement", 1, "york", "Insufficient stock"),
        ("deallocate", 2, "york", "Insufficient allocated stock"),
        ("set", 0, "york", "Insufficient stock"),
        ("allocate", 1, "stevenage", "Insufficient stock"),
        ("deallocate", 1, "stevenage", "Insufficient allocated stock"),
    ] {
        let r = ml_transact(&app, &admin, &product, action, quantity, Some(location)).await;
        assert_eq!(r.status, 400, "{action} at {location}: {}", r.body);
        assert_eq!(r.error()["title"], title, "{}", r.body);
        assert!(
            r.error()["detail"].as_str().unwrap().contains(location),
            "{}",
            r.body
        );
    }
    let r = ml_transact(&app, &admin, &product, "allocate", 1, Some("leeds")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.attributes.location");
    assert_eq!(r.error()["title"], "Location not found");
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((50, 1, 51), vec![at("york", (0, 1, 1))])
    );
    assert_eq!(
        count(ml_get(&app, &format!("/v2/inventories/{product}/transactions"), &admin).await),
        history
    );
    // Outside locations: `set` too; the basic API refuses `set` as before.
    let r = ml_transact(&app, &admin, &product, "set", 20, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["data"]["attributes"].get("location").is_none(),
        "{}",
        r.body
    );
    assert_eq!(ml_stock(&app, &admin, &product).await.0, (20, 1, 21));
    let r = app
        .post(
            &format!("/v2/inventories/{product}/transactions"),
            &admin,
            json!({"data": {"type": "stock-transaction", "action": "set", "quantity": 3}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.action");

    // Bad multi-location bodies name their fields.
    for (body, expected) in [
        (
            ml_transaction("fling", json!(1), None),
            vec!["data.attributes.action"],
        ),
        (
            ml_transaction("increment", json!(0), None),
            vec!["data.attributes.quantity"],
        ),
        (
            ml_transaction("set", json!(-1), None),
            vec!["data.attributes.quantity"],
        ),
        (
            ml_transaction("increment", json!(1), Some("no way")),
            vec!["data.attributes.location"],
        ),
        (
            json!({"data": {"type": "stock-transaction", "attributes": {"action": "increment", "quantity": 1,
                "product_id": Uuid::now_v7()}}}),
            vec!["data.attributes.product_id"],
        ),
        (
            json!({"data": {"type": "stock-transaction", "action": "increment", "quantity": 1}}),
            vec!["data.attributes"],
        ),
        (
            json!({"data": {"type": "stock-transaction", "attributes": {"action": "increment", "quantity": 1, "location": 5}}}),
            vec!["data.attributes.location"],
        ),
    ] {
        let r = ml(
            &app,
            Method::POST,
            &format!("/v2/inventories/{product}/transactions"),
            &admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
    let r = ml_transact(
        &app,
        &admin,
        &Uuid::now_v7().to_string(),
        "increment",
        1,
        Some("york"),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // The history in both shapes: the location is named on the moves that had one.
    let r = ml_get(&app, &format!("/v2/inventories/{product}/transactions"), &admin).await;
    let newest = &r.body["data"][0];
    assert_eq!(newest["attributes"]["action"], "set");
    let york_tx = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attributes"]["location"] == "york")
        .unwrap()
        .clone();
    let id = york_tx["id"].as_str().unwrap();
    let r = ml_get(
        &app,
        &format!("/v2/inventories/{product}/transactions/{id}"),
        &admin,
    )
    .await;
    assert_eq!(r.body["data"], york_tx);
    let r = app
        .get(&format!("/v2/inventories/{product}/transactions/{id}"), &admin)
        .await;
    assert_eq!(r.body["data"]["location"], "york");
    assert_eq!(r.body["data"]["action"], york_tx["attributes"]["action"]);
    assert!(r.body["data"].get("attributes").is_none());
}

/// Exactly what Elastic Path's storefront sends on the product page: the header on every
/// request, an implicit token, `GET /v2/inventories/{id}` and `GET /v2/inventories/locations`.
async fn the_storefronts_product_page_reads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    location(&app, &admin, "Milton Keynes Warehouse", "milton-keynes-warehouse").await;
    location(&app, &admin, "York", "york").await;
    let located = Uuid::now_v7().to_string();
    stock_at(
        &app,
        &admin,
        &located,
        &[("milton-keynes-warehouse", 4), ("york", 0)],
    )
    .await;
    let plain = Uuid::now_v7().to_string();
    app.post(
        &format!("/v2/inventories/{plain}"),
        &admin,
        json!({"data": {"type": "stock", "quantity": 9}}),
    )
    .await;
    let shopper = app.implicit_token().await;

    let stock = ml_get(&app, &format!("/v2/inventories/{located}"), &shopper).await;
    assert_eq!(stock.status, 200, "{}", stock.body);
    let inventory = &stock.body["data"];
    // `inventory.attributes.available` and `inventory.attributes.locations[slug].available`.
    assert_eq!(inventory["attributes"]["available"], 4);
    let locations = inventory["attributes"]["locations"].as_object().unwrap();
    assert_eq!(locations.len(), 2);
    assert_eq!(locations["milton-keynes-warehouse"]["available"], 4);
    assert_eq!(locations["york"]["available"], 0);
    let list = ml_get(&app, "/v2/inventories/locations", &shopper).await;
    assert_eq!(list.status, 200, "{}", list.body);
    // The selector finds each stock location's name by its slug.
    for slug in locations.keys() {
        let found = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["attributes"]["slug"] == slug.as_str())
            .unwrap_or_else(|| panic!("{slug} listed"));
        assert!(found["attributes"]["name"].is_string());
    }
    // A product with no stock at locations: `attributes` alone, so the page shows its stock.
    let r = ml_get(&app, &format!("/v2/inventories/{plain}"), &shopper).await;
    assert_eq!(
        r.body["data"]["attributes"],
        json!({"available": 9, "allocated": 0, "total": 9})
    );
    // A product without stock: 404, as the page expects of an unmanaged product.
    let r = ml_get(&app, &format!("/v2/inventories/{}", Uuid::now_v7()), &shopper).await;
    assert_eq!(r.status, 404, "{}", r.body);
    r.error();
}

async fn implicit_tokens_read_stock_and_locations_but_never_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let york = location(&app, &admin, "York", "york").await;
    let product = Uuid::now_v7().to_string();
    stock_at(&app, &admin, &product, &[("york", 3)]).await;
    let tx = ml_transact(&app, &admin, &product, "allocate", 1, Some("york"))
        .await
        .body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/v2/inventories".to_owned(),
        format!("/v2/inventories/{product}"),
        format!("/v2/inventories/{product}/transactions"),
        format!("/v2/inventories/{product}/transactions/{tx}"),
        "/v2/inventories/locations".to_owned(),
        format!("/v2/inventories/locations/{york}"),
    ] {
        let r = ml_get(&app, &path, &implicit).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let writes = [
        (
            Method::POST,
            "/v2/inventories".to_owned(),
            json!({"data": {"type": "stock", "id": Uuid::now_v7(), "attributes": {"available": 1}}}),
        ),
        (
            Method::PUT,
            format!("/v2/inventories/{product}"),
            json!({"data": {"type": "stock", "attributes": {"locations": {"york": {"available": 99}}}}}),
        ),
        (
            Method::POST,
            format!("/v2/inventories/{product}/transactions"),
            ml_transaction("increment", json!(5), Some("york")),
        ),
        (
            Method::POST,
            "/v2/inventories/locations".to_owned(),
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Mine", "slug": "mine"}}}),
        ),
        (
            Method::PUT,
            format!("/v2/inventories/locations/{york}"),
            json!({"data": {"type": "inventory_location", "attributes": {"name": "Mine"}}}),
        ),
        (
            Method::DELETE,
            format!("/v2/inventories/locations/{york}"),
            Value::Null,
        ),
    ];
    for (method, path, body) in writes {
        let body = (!body.is_null()).then_some(body);
        let r = ml(&app, method.clone(), &path, &implicit, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        r.error();
    }
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((2, 1, 3), vec![at("york", (2, 1, 3))])
    );
    assert_eq!(location_count(&app, &admin).await, 1);
    // Without a token, nothing.
    let r = app
        .call(Method::GET, "/v2/inventories/locations", None, None)
        .await;
    assert_eq!(r.status, 401);
}

async fn cart_items_draw_from_a_location(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let product = shop_product(&app, &admin, "BENCH").await;
    location(&app, &admin, "York", "york").await;
    location(&app, &admin, "Stevenage", "stevenage").await;
    stock_at(&app, &admin, &product, &[("york", 1), ("stevenage", 10)]).await;
    let shopper = app.implicit_token().await;
    let cart = "located";
    let lines = |r: &Resp| -> Vec<(i64, Option<String>)> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["quantity"].as_i64().unwrap(),
                    l["location"].as_str().map(str::to_owned),
                )
            })
            .collect()
    };

    // Short at York while Stevenage has plenty: refused, and nothing is added.
    let r = add(&app, &shopper, cart, cart_item(&product, 2, Some("york"))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    assert_eq!(r.error()["source"], "data.quantity");
    // An unknown location is named.
    let r = add(&app, &shopper, cart, cart_item(&product, 1, Some("leeds"))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Location not found");
    assert_eq!(r.error()["source"], "data.location");
    assert!(
        r.error()["detail"].as_str().unwrap().contains("leeds"),
        "{}",
        r.body
    );
    for (bad, source) in [
        (json!(""), "data.location"),
        (json!("a,b"), "data.location"),
        (json!(7), "data.location"),
    ] {
        let mut item = cart_item(&product, 1, None);
        item["location"] = bad.clone();
        let r = add(&app, &shopper, cart, item).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.error()["source"], source, "{bad}");
    }
    // A bulk add names the item: `data[1].location`.
    let r = add(
        &app,
        &shopper,
        cart,
        json!([
            cart_item(&product, 1, Some("stevenage")),
            cart_item(&product, 1, Some("leeds"))
        ]),
    )
    .await;
    assert_eq!(r.status, 201, "partial success, as bulk adds are: {}", r.body);
    assert_eq!(r.body["errors"][0]["source"], "data[1].location");
    assert_eq!(lines(&r), vec![(1, Some("stevenage".into()))]);

    // Elastic Path: one location per line; adding the product again with another location moves
    // the whole line there, and the stock check counts the whole line at the new location.
    let r = add(&app, &shopper, cart, cart_item(&product, 1, Some("york"))).await;
    assert_eq!(r.status, 400, "2 at York, where 1 is: {}", r.body);
    let r = app.get(&format!("/v2/carts/{cart}/items"), &shopper).await;
    assert_eq!(lines(&r), vec![(1, Some("stevenage".into()))], "nothing changed");
    let r = add(&app, &shopper, cart, cart_item(&product, 2, Some("stevenage"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(lines(&r), vec![(3, Some("stevenage".into()))]);
    // An add naming no location keeps the line's location, and is checked there.
    let r = add(&app, &shopper, cart, cart_item(&product, 7, None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(lines(&r), vec![(10, Some("stevenage".into()))]);
    let r = add(&app, &shopper, cart, cart_item(&product, 1, None)).await;
    assert_eq!(r.status, 400, "11 at Stevenage, where 10 are: {}", r.body);
    // The line reads back with its location; the storefront's quantity update sends it along.
    let r = app
        .get(&format!("/v2/carts/{cart}?include=items"), &shopper)
        .await;
    assert_eq!(r.body["included"]["items"][0]["location"], "stevenage");
    let item = r.body["included"]["items"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/carts/{cart}/items/{item}"),
            &shopper,
            json!({"data": {"id": item, "quantity": 4, "location": "stevenage"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(lines(&r), vec![(4, Some("stevenage".into()))]);

    // Merging the cart into another keeps the line's location.
    let r = add(
        &app,
        &shopper,
        "merged",
        json!({"type": "cart_items", "cart_id": cart}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(lines(&r), vec![(4, Some("stevenage".into()))]);

    // Without stock outside locations, a line naming no location has nothing to draw from.
    let r = add(&app, &shopper, "plain", cart_item(&product, 1, None)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    // A cart that defers its stock check still needs a real location.
    let r = app
        .post(
            "/v2/carts",
            &shopper,
            json!({"data": {"name": "Later", "inventory_settings": {"defer_inventory_check": true}}}),
        )
        .await;
    let deferred = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = add(&app, &shopper, &deferred, cart_item(&product, 5, Some("york"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = add(&app, &shopper, &deferred, cart_item(&product, 1, Some("leeds"))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.location");
}

async fn checkout_payment_cancel_and_fulfilment_move_the_lines_location(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    enable_manual(&app, &admin).await;
    let products = shop_products(&app, &admin, &["LAMP", "POSTER"]).await;
    let (product, unmanaged) = (products[0].clone(), products[1].clone());
    let york = location(&app, &admin, "York", "york").await;
    location(&app, &admin, "Stevenage", "stevenage").await;
    stock_at(&app, &admin, &product, &[("york", 5), ("stevenage", 5)]).await;
    let shopper = app.implicit_token().await;

    // The order item keeps the line's location; checkout allocates nothing.
    let order = located_order(&app, &shopper, &product, 2, Some("york")).await;
    let r = app
        .get(&format!("/v2/orders/{order}?include=items"), &admin)
        .await;
    assert_eq!(r.body["included"]["items"][0]["location"], "york");
    let r = app.get(&format!("/v2/orders/{order}/items"), &admin).await;
    assert_eq!(r.body["data"][0]["location"], "york");
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (10, 0, 10),
            vec![at("stevenage", (5, 0, 5)), at("york", (5, 0, 5))]
        )
    );
    // A renamed location: the order's stock moves still find it (the item keeps its id).
    let r = app
        .put(
            &format!("/v2/inventories/locations/{york}"),
            &admin,
            json!({"data": {"type": "inventory_location", "attributes": {"slug": "york-north"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Payment allocates from the line's location only.
    let r = pay(&app, &shopper, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (8, 2, 10),
            vec![at("stevenage", (5, 0, 5)), at("york-north", (3, 2, 5))]
        )
    );
    let r = ml_get(&app, &format!("/v2/inventories/{product}/transactions"), &admin).await;
    assert_eq!(r.body["data"][0]["attributes"]["action"], "allocate");
    assert_eq!(r.body["data"][0]["attributes"]["location"], "york-north");
    // Cancelling gives it back there.
    let r = order_update(
        &app,
        &admin,
        &order,
        json!({"type": "order", "status": "cancelled"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (10, 0, 10),
            vec![at("stevenage", (5, 0, 5)), at("york-north", (5, 0, 5))]
        )
    );

    // Lines at Stevenage: paid, then fulfilled: the units leave Stevenage.
    let order = located_order(&app, &shopper, &product, 3, Some("stevenage")).await;
    let r = pay(&app, &shopper, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (7, 3, 10),
            vec![at("stevenage", (2, 3, 5)), at("york-north", (5, 0, 5))]
        )
    );
    let r = order_update(
        &app,
        &admin,
        &order,
        json!({"type": "order", "shipping": "fulfilled"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (7, 0, 7),
            vec![at("stevenage", (2, 0, 2)), at("york-north", (5, 0, 5))]
        )
    );
    // The basic API sees the product's totals throughout.
    let r = app.get(&format!("/v2/inventories/{product}"), &admin).await;
    assert_eq!(
        (
            r.body["data"]["total"].as_i64(),
            r.body["data"]["available"].as_i64()
        ),
        (Some(7), Some(7))
    );

    // Short at the line's location by the time of checkout (another cart took it): 400, no order.
    let cart = "late";
    let r = add(&app, &shopper, cart, cart_item(&product, 2, Some("stevenage"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = located_order(&app, &shopper, &product, 2, Some("stevenage")).await;
    pay(&app, &shopper, &[], &first, payment("purchase", None)).await;
    let r = checkout(&app, &shopper, cart).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    assert_eq!(r.error()["meta"]["location"], "stevenage");
    // Short at payment: refused, nothing recorded, the other location untouched.
    let order = located_order(&app, &shopper, &product, 5, Some("york-north")).await;
    let racing = located_order(&app, &shopper, &product, 1, Some("york-north")).await;
    assert_eq!(
        pay(&app, &shopper, &[], &order, payment("purchase", None))
            .await
            .status,
        200
    );
    let r = pay(&app, &shopper, &[], &racing, payment("purchase", None)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (0, 7, 7),
            vec![at("stevenage", (0, 2, 2)), at("york-north", (0, 5, 5))]
        )
    );

    // A line whose location was deleted since it was added cannot be checked out.
    let gone = location(&app, &admin, "Pop-up", "pop-up").await;
    let r = add(&app, &shopper, "popup", cart_item(&unmanaged, 1, Some("pop-up"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        app.delete(&format!("/v2/inventories/locations/{gone}"), &admin)
            .await
            .status,
        204
    );
    let r = checkout(&app, &shopper, "popup").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Location not found");
    assert_eq!(r.error()["meta"]["location"], "pop-up");
}

async fn reserving_at_checkout_allocates_from_the_lines_location(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "inventory": {"reserve_at": "checkout"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    enable_manual(&app, &admin).await;
    let product = shop_product(&app, &admin, "KETTLE").await;
    location(&app, &admin, "York", "york").await;
    location(&app, &admin, "Stevenage", "stevenage").await;
    stock_at(&app, &admin, &product, &[("york", 2), ("stevenage", 9)]).await;
    let shopper = app.implicit_token().await;
    let order = located_order(&app, &shopper, &product, 2, Some("york")).await;
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (9, 2, 11),
            vec![at("stevenage", (9, 0, 9)), at("york", (0, 2, 2))]
        )
    );
    // Paying allocates nothing more.
    assert_eq!(
        pay(&app, &shopper, &[], &order, payment("purchase", None))
            .await
            .status,
        200
    );
    assert_eq!(ml_stock(&app, &admin, &product).await.0, (9, 2, 11));
    // Nothing left at York: the next checkout of a York line fails, Stevenage ones go through.
    let cart = "york-again";
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "inventory": {"reserve_at": "payment"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = ml_transact(&app, &admin, &product, "increment", 1, Some("york")).await;
    assert_eq!(r.status, 201);
    let r = add(&app, &shopper, cart, cart_item(&product, 1, Some("york"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    ml_transact(&app, &admin, &product, "allocate", 1, Some("york")).await;
    app.put(
        "/v2/settings",
        &admin,
        json!({"data": {"type": "settings", "inventory": {"reserve_at": "checkout"}}}),
    )
    .await;
    let r = checkout(&app, &shopper, cart).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    located_order(&app, &shopper, &product, 4, Some("stevenage")).await;
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (5, 7, 12),
            vec![at("stevenage", (5, 4, 9)), at("york", (0, 3, 3))]
        )
    );
}

async fn concurrent_payments_sell_exactly_one_locations_last_units(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    enable_manual(&app, &admin).await;
    let product = shop_product(&app, &admin, "LAST").await;
    location(&app, &admin, "York", "york").await;
    location(&app, &admin, "Stevenage", "stevenage").await;
    stock_at(&app, &admin, &product, &[("york", 3), ("stevenage", 100)]).await;
    let shopper = app.implicit_token().await;
    // Ten orders of one unit at York (3 there) and five at Stevenage, all checked out (checkout
    // allocates nothing), then all paid at once.
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push((
            "york",
            located_order(&app, &shopper, &product, 1, Some("york")).await,
        ));
    }
    for _ in 0..5 {
        orders.push((
            "stevenage",
            located_order(&app, &shopper, &product, 1, Some("stevenage")).await,
        ));
    }
    let tasks: Vec<_> = orders
        .iter()
        .map(|(slug, order)| {
            let (app, shopper, order, slug) = (app.clone(), shopper.clone(), order.clone(), *slug);
            tokio::spawn(async move {
                let r = pay(&app, &shopper, &[], &order, payment("purchase", None)).await;
                (slug, r.status.as_u16())
            })
        })
        .collect();
    let mut paid = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            ("york", 200) => paid.0 += 1,
            ("stevenage", 200) => paid.1 += 1,
            (_, 400) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        paid,
        (3, 5),
        "York sells exactly its last units; Stevenage sells every order"
    );
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        (
            (95, 8, 103),
            vec![at("stevenage", (95, 5, 100)), at("york", (0, 3, 3))]
        )
    );
    // Each allocation is in the history once, at its location.
    let r = ml_get(
        &app,
        &format!("/v2/inventories/{product}/transactions?page[limit]=100"),
        &admin,
    )
    .await;
    let allocations: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["attributes"]["action"] == "allocate")
        .map(|t| t["attributes"]["location"].as_str().unwrap())
        .collect();
    assert_eq!(allocations.iter().filter(|l| **l == "york").count(), 3);
    assert_eq!(allocations.iter().filter(|l| **l == "stevenage").count(), 5);
}

async fn concurrent_allocations_at_a_location_never_oversell(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    location(&app, &admin, "York", "york").await;
    let product = Uuid::now_v7().to_string();
    stock_at(&app, &admin, &product, &[("york", 5)]).await;
    // Plenty outside the location, which the allocations at York must not touch.
    ml_transact(&app, &admin, &product, "increment", 100, None).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, admin, product) = (app.clone(), admin.clone(), product.clone());
            tokio::spawn(async move {
                ml_transact(&app, &admin, &product, "allocate", 1, Some("york"))
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => ok += 1,
            400 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(
        ml_stock(&app, &admin, &product).await,
        ((100, 5, 105), vec![at("york", (0, 5, 5))])
    );
}
