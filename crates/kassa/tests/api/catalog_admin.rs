//! Catalog administration: `/pcm/products`, `/pcm/hierarchies`, `/pcm/pricebooks` and
//! `/v2/currencies`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    products_crud,
    products_validation_and_unsupported_features,
    products_filters_and_pages,
    hierarchies_and_nodes,
    node_products,
    pricebooks_crud,
    prices_crud_and_validation,
    currencies_crud_and_defaults,
    currency_limit,
    implicit_tokens_are_refused,
);

fn product(name: &str, sku: &str) -> Value {
    json!({"data": {"type": "product", "attributes": {
        "name": name, "sku": sku, "commodity_type": "physical"
    }}})
}

fn id(r: &Resp) -> String {
    r.body["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {}", r.body))
        .to_owned()
}

/// The sources of every error object, in order.
fn sources(r: &Resp) -> Vec<String> {
    r.error();
    r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let r = app.post(path, token, body).await;
    assert_eq!(r.status, 201, "{path}: {}", r.body);
    id(&r)
}

async fn products_crud(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let body = json!({"data": {"type": "product", "attributes": {
        "name": "T-Shirt", "sku": "TS-1", "slug": "t-shirt", "description": "Cotton.",
        "status": "live", "commodity_type": "physical", "upc_ean": "123", "mpn": "M-1",
        "external_ref": "ext-1", "extensions": {"products(size)": {"chest": 40, "fit": "slim", "tall": false}}
    }}});
    let r = app.post("/pcm/products", &admin, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "product");
    assert_eq!(
        d["attributes"], body["data"]["attributes"],
        "attributes come back as given"
    );
    assert_eq!(d["meta"]["owner"], "store");
    assert!(d["meta"]["created_at"].as_str().unwrap().ends_with('Z'));
    let pid = id(&r);

    let r = app.get(&format!("/pcm/products/{pid}"), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"]["sku"], "TS-1");

    // A minimal product: status defaults to draft, absent attributes are left out.
    let r = app.post("/pcm/products", &admin, product("Mug", "MUG")).await;
    assert_eq!(
        r.body["data"]["attributes"],
        json!({"name": "Mug", "sku": "MUG", "status": "draft", "commodity_type": "physical"})
    );

    // PUT changes only what it names; null clears an optional attribute.
    let r = app
        .put(
            &format!("/pcm/products/{pid}"),
            &admin,
            json!({"data": {"type": "product", "id": pid, "attributes": {"name": "Tee", "mpn": null, "status": "draft"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["data"]["attributes"];
    assert_eq!(
        (a["name"].as_str(), a["sku"].as_str(), a["status"].as_str()),
        (Some("Tee"), Some("TS-1"), Some("draft"))
    );
    assert!(a.get("mpn").is_none());
    assert_eq!(a["extensions"], body["data"]["attributes"]["extensions"]);

    // The sku and slug are unique.
    let r = app.post("/pcm/products", &admin, product("Other", "TS-1")).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error()["status"], "409", "PCM errors carry string statuses");
    let r = app
        .put(
            &format!("/pcm/products/{pid}"),
            &admin,
            json!({"data": {"type": "product", "attributes": {"sku": "MUG"}}}),
        )
        .await;
    assert_eq!(r.status, 409);

    // Unknown and malformed ids.
    let r = app.delete(&format!("/pcm/products/{pid}"), &admin).await;
    assert_eq!(r.status, 204);
    for path in [
        format!("/pcm/products/{pid}"),
        "/pcm/products/not-a-uuid".to_owned(),
    ] {
        let r = app.get(&path, &admin).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.error()["title"], "Product not found");
    }
    let r = app.delete(&format!("/pcm/products/{pid}"), &admin).await;
    assert_eq!(r.status, 404);
    let r = app
        .put(&format!("/pcm/products/{pid}"), &admin, product("x", "y"))
        .await;
    assert_eq!(r.status, 404);
}

async fn products_validation_and_unsupported_features(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let cases = [
        (
            json!({"data": {"type": "product", "attributes": {"commodity_type": "physical"}}}),
            vec!["data.attributes.name"],
        ),
        (
            json!({"data": {"type": "product", "attributes": {"name": "x"}}}),
            vec!["data.attributes.commodity_type"],
        ),
        (
            json!({"data": {"type": "product", "attributes": {"name": "", "commodity_type": "solid", "status": "gone"}}}),
            vec![
                "data.attributes.name",
                "data.attributes.commodity_type",
                "data.attributes.status",
            ],
        ),
        (
            json!({"data": {"type": "product", "attributes": {"name": "x", "commodity_type": "digital", "slug": "no spaces"}}}),
            vec!["data.attributes.slug"],
        ),
        (
            json!({"data": {"type": "node", "attributes": {"name": "x", "commodity_type": "digital"}}}),
            vec!["data.type"],
        ),
        (json!({"data": {"type": "product"}}), vec!["data.attributes"]),
        (
            json!({"data": {"type": "product", "attributes": {"name": 5}}}),
            vec!["data.attributes.name"],
        ),
        (
            json!({"data": {"type": "product", "attributes": {"name": "x", "commodity_type": "physical", "extensions": "flat"}}}),
            vec!["data.attributes.extensions"],
        ),
        // A bundle without components, build rules without a default, relationships set on the
        // product and templates are refused, naming them.
        (
            json!({"data": {"type": "product", "attributes": {"name": "x", "commodity_type": "physical", "components": {}}}}),
            vec!["data.attributes.components"],
        ),
        (
            json!({"data": {"type": "product", "attributes": {"name": "x", "commodity_type": "physical", "build_rules": {}}}}),
            vec!["data.attributes.build_rules.default"],
        ),
        (
            json!({"data": {"type": "product", "attributes": {"name": "x", "commodity_type": "physical"},
                "relationships": {"variations": {"data": []}}}}),
            vec!["data.relationships.variations"],
        ),
    ];
    for (body, expected) in cases {
        let r = app.post("/pcm/products", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
    let pid = create(&app, &admin, "/pcm/products", product("P", "P")).await;
    for (method, path) in [
        (
            Method::PUT,
            format!("/pcm/products/{pid}/relationships/templates"),
        ),
        (
            Method::POST,
            format!("/pcm/products/{pid}/relationships/component_products"),
        ),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&admin), Some(json!({"data": []})))
            .await;
        assert_eq!(r.status, 400, "{method} {path}");
        assert_eq!(r.error()["title"], "Not Supported");
        assert!(r.error()["detail"].as_str().unwrap().contains("not supported"));
    }
    let r = app.get("/pcm/products", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1, "nothing else was created");
}

async fn products_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for (name, sku, status, kind) in [
        ("Red Shirt", "SH-RED", "live", "physical"),
        ("Blue Shirt", "SH-BLUE", "draft", "physical"),
        ("Green Mug", "MUG-GREEN", "live", "physical"),
        ("E-Book", "EBOOK_1", "live", "digital"),
        ("100% Cotton", "COT", "draft", "physical"),
    ] {
        let body = json!({"data": {"type": "product", "attributes": {
            "name": name, "sku": sku, "status": status, "commodity_type": kind, "external_ref": format!("ref-{sku}")
        }}});
        create(&app, &admin, "/pcm/products", body).await;
    }
    let skus = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["attributes"]["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases: &[(&str, &[&str])] = &[
        ("eq(sku,SH-RED)", &["SH-RED"]),
        ("eq(status,live)", &["SH-RED", "MUG-GREEN", "EBOOK_1"]),
        ("eq(commodity_type,digital)", &["EBOOK_1"]),
        ("like(name,*Shirt)", &["SH-RED", "SH-BLUE"]),
        ("like(name,*shirt*)", &["SH-RED", "SH-BLUE"]),
        ("like(sku,SH-*)", &["SH-RED", "SH-BLUE"]),
        ("like(sku,EBOOK_*)", &["EBOOK_1"]),
        ("like(sku,EBOOK%*)", &[]),
        ("like(name,100%*)", &["COT"]),
        ("in(sku,COT,MUG-GREEN,NOPE)", &["MUG-GREEN", "COT"]),
        ("eq(status,live):like(name,*Shirt*)", &["SH-RED"]),
        ("eq(external_ref,ref-COT)", &["COT"]),
        ("eq(name,Nothing)", &[]),
        ("eq(name,\"x'); DROP TABLE products; --\")", &[]),
    ];
    for (filter, expected) in cases {
        let r = app.get(&format!("/pcm/products?filter={filter}"), &admin).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(skus(&r), *expected, "{filter}");
        assert_eq!(r.body["meta"]["results"]["total"], expected.len(), "{filter}");
    }
    for filter in ["eq(price,1)", "gt(sku,A)", "eq(sku"] {
        let r = app.get(&format!("/pcm/products?filter={filter}"), &admin).await;
        assert_eq!(r.status, 400, "{filter}");
        assert_eq!(r.error()["source"], "filter");
    }
    // Pages, oldest first, with a filter kept in the links.
    let r = app
        .get("/pcm/products?page[limit]=2&page[offset]=2", &admin)
        .await;
    assert_eq!(skus(&r), ["MUG-GREEN", "EBOOK_1"]);
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 2, "offset": 2, "current": 2, "total": 3})
    );
    assert_eq!(r.body["meta"]["results"]["total"], 5);
    let r = app
        .get("/pcm/products?filter=eq(status,live)&page[limit]=2", &admin)
        .await;
    assert_eq!(skus(&r), ["SH-RED", "MUG-GREEN"]);
    assert!(
        r.body["links"]["next"]
            .as_str()
            .unwrap()
            .contains("filter=eq(status,live)")
    );
}

async fn hierarchies_and_nodes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/pcm/hierarchies",
            &admin,
            json!({"data": {"type": "hierarchy", "attributes": {"name": "Shoes", "description": "All shoes", "slug": "shoes"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["attributes"],
        json!({"name": "Shoes", "description": "All shoes", "slug": "shoes"})
    );
    let h = id(&r);
    let other = create(
        &app,
        &admin,
        "/pcm/hierarchies",
        json!({"data": {"type": "hierarchy", "attributes": {"name": "Hats"}}}),
    )
    .await;

    let r = app
        .post(
            "/pcm/hierarchies",
            &admin,
            json!({"data": {"type": "hierarchy", "attributes": {}}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), sources(&r)),
        (400, vec!["data.attributes.name".to_owned()])
    );

    let r = app
        .put(
            &format!("/pcm/hierarchies/{h}"),
            &admin,
            json!({"data": {"type": "hierarchy", "id": h, "attributes": {"name": "Footwear"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"]["name"], "Footwear");
    assert_eq!(r.body["data"]["attributes"]["slug"], "shoes");
    let r = app.get("/pcm/hierarchies", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);

    // Nodes, nested through the parent relationship.
    let nodes = format!("/pcm/hierarchies/{h}/nodes");
    let node = |name: &str, parent: Option<&str>| {
        let mut body =
            json!({"data": {"type": "node", "attributes": {"name": name, "slug": name.to_lowercase()}}});
        if let Some(parent) = parent {
            body["data"]["relationships"] = json!({"parent": {"data": {"type": "node", "id": parent}}});
        }
        body
    };
    let r = app.post(&nodes, &admin, node("Running", None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["meta"]["hierarchy_id"], h.as_str());
    let running = id(&r);
    let mut trail = node("Trail", Some(&running));
    trail["data"]["meta"] = json!({"sort_order": 3});
    let r = app.post(&nodes, &admin, trail).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["relationships"]["parent"]["data"],
        json!({"type": "node", "id": running})
    );
    assert_eq!(r.body["data"]["meta"]["sort_order"], 3);
    let trail = id(&r);
    let road = create(&app, &admin, &nodes, node("Road", Some(&running))).await;

    // Names and slugs are unique among siblings only.
    let r = app.post(&nodes, &admin, node("Trail", Some(&running))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = app.post(&nodes, &admin, node("Trail", None)).await;
    assert_eq!(r.status, 201, "a top-level Trail is no sibling of Running's");
    let r = app.post(&nodes, &admin, node("Running", None)).await;
    assert_eq!(r.status, 409, "top-level nodes are siblings");

    // A parent must be a node of the same hierarchy; a node cannot move under its own subtree.
    let foreign = create(
        &app,
        &admin,
        &format!("/pcm/hierarchies/{other}/nodes"),
        node("Caps", None),
    )
    .await;
    let r = app.post(&nodes, &admin, node("Lost", Some(&foreign))).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app
        .post(
            &nodes,
            &admin,
            json!({"data": {"type": "node", "attributes": {"name": "x"},
        "relationships": {"parent": {"data": {"type": "node", "id": "nope"}}}}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), sources(&r)),
        (400, vec!["data.relationships.parent.data.id".to_owned()])
    );
    let move_to = |parent: Value| json!({"data": {"type": "node", "attributes": {}, "relationships": {"parent": {"data": parent}}}});
    let r = app
        .put(
            &format!("{nodes}/{running}"),
            &admin,
            move_to(json!({"type": "node", "id": trail})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app
        .put(
            &format!("{nodes}/{running}"),
            &admin,
            move_to(json!({"type": "node", "id": running})),
        )
        .await;
    assert_eq!(r.status, 400);
    // Road moves to the top level, then under Trail.
    let r = app
        .put(&format!("{nodes}/{road}"), &admin, move_to(Value::Null))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"]["relationships"].get("parent").is_none());
    let r = app
        .put(
            &format!("{nodes}/{road}"),
            &admin,
            move_to(json!({"type": "node", "id": trail})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Listing: every node at any depth, or a parent's children.
    let r = app.get(&nodes, &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 4);
    let r = app
        .get(&format!("{nodes}?filter=eq(parent_id,{running})"), &admin)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], trail.as_str());
    let r = app.get(&format!("{nodes}?filter=eq(name,x)"), &admin).await;
    assert_eq!(r.status, 400);

    // A node is found only in its own hierarchy.
    let r = app
        .get(&format!("/pcm/hierarchies/{other}/nodes/{trail}"), &admin)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Node not found");
    let r = app.get(&format!("{nodes}/{trail}"), &admin).await;
    assert_eq!(r.body["data"]["attributes"]["name"], "Trail");

    // Deleting a node deletes its descendants; deleting a hierarchy deletes its nodes.
    let r = app.delete(&format!("{nodes}/{running}"), &admin).await;
    assert_eq!(r.status, 204);
    for gone in [&running, &trail, &road] {
        assert_eq!(app.get(&format!("{nodes}/{gone}"), &admin).await.status, 404);
    }
    assert_eq!(app.get(&nodes, &admin).await.body["meta"]["results"]["total"], 1);
    let r = app.delete(&format!("/pcm/hierarchies/{h}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app.get(&nodes, &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Hierarchy not found");
    assert_eq!(app.get("/pcm/hierarchies/not-a-uuid", &admin).await.status, 404);
}

async fn node_products(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let h = create(
        &app,
        &admin,
        "/pcm/hierarchies",
        json!({"data": {"type": "hierarchy", "attributes": {"name": "H"}}}),
    )
    .await;
    let node = create(
        &app,
        &admin,
        &format!("/pcm/hierarchies/{h}/nodes"),
        json!({"data": {"type": "node", "attributes": {"name": "N"}}}),
    )
    .await;
    let a = create(&app, &admin, "/pcm/products", product("A", "A")).await;
    let b = create(&app, &admin, "/pcm/products", product("B", "B")).await;
    let rel = format!("/pcm/hierarchies/{h}/nodes/{node}/relationships/products");
    let listing = format!("/pcm/hierarchies/{h}/nodes/{node}/products");
    let refs = |ids: &[&str]| json!({"data": ids.iter().map(|id| json!({"type": "product", "id": id})).collect::<Vec<_>>()});

    let r = app.post(&rel, &admin, refs(&[&a, &b])).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["id"], node.as_str());
    let r = app.post(&rel, &admin, refs(&[&a])).await;
    assert_eq!(r.status, 201, "placing a product twice changes nothing");
    let r = app.get(&listing, &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    assert_eq!(r.body["data"][0]["type"], "product");
    assert_eq!(r.body["data"][0]["attributes"]["sku"], "A");
    let r = app
        .get(&format!("{listing}?page[limit]=1&page[offset]=1"), &admin)
        .await;
    assert_eq!(r.body["data"][0]["attributes"]["sku"], "B");

    // Unknown products: 404 and nothing placed; malformed references: 400 naming them.
    let missing = uuid::Uuid::now_v7().to_string();
    let c = create(&app, &admin, "/pcm/products", product("C", "C")).await;
    let r = app.post(&rel, &admin, refs(&[&c, &missing])).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.error()["title"], "Product not found");
    assert_eq!(
        app.get(&listing, &admin).await.body["meta"]["results"]["total"],
        2
    );
    let r = app
        .post(&rel, &admin, json!({"data": [{"type": "node", "id": "x"}]}))
        .await;
    assert_eq!(sources(&r), ["data[0].type", "data[0].id"]);
    let r = app.post(&rel, &admin, json!({"data": []})).await;
    assert_eq!(r.status, 400);

    // Removing, and deleting a product, take products out of the node.
    let r = app
        .call(Method::DELETE, &rel, Some(&admin), Some(refs(&[&a])))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get(&listing, &admin).await.body["meta"]["results"]["total"],
        1
    );
    assert_eq!(
        app.delete(&format!("/pcm/products/{b}"), &admin).await.status,
        204
    );
    assert_eq!(
        app.get(&listing, &admin).await.body["meta"]["results"]["total"],
        0
    );

    let r = app
        .post(
            &format!("/pcm/hierarchies/{h}/nodes/{missing}/relationships/products"),
            &admin,
            refs(&[&a]),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Node not found");
}

async fn pricebooks_crud(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let body = json!({"data": {"type": "pricebook", "attributes": {"name": "Retail", "description": "Standard", "external_ref": "pb-1"}}});
    let r = app.post("/pcm/pricebooks", &admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "pricebook");
    assert_eq!(d["attributes"]["name"], "Retail");
    assert!(d["attributes"]["created_at"].as_str().unwrap().ends_with('Z'));
    let pb = id(&r);
    let r = app
        .post(
            "/pcm/pricebooks",
            &admin,
            json!({"data": {"type": "pricebook", "attributes": {"name": "Retail"}}}),
        )
        .await;
    assert_eq!(r.status, 409, "price book names are unique");
    create(
        &app,
        &admin,
        "/pcm/pricebooks",
        json!({"data": {"type": "pricebook", "attributes": {"name": "Wholesale"}}}),
    )
    .await;

    let r = app
        .get("/pcm/pricebooks?filter=eq(external_ref,pb-1)", &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    assert_eq!(r.body["data"][0]["id"], pb.as_str());
    assert_eq!(
        app.get("/pcm/pricebooks?filter=eq(name,Retail)", &admin)
            .await
            .status,
        400
    );
    assert_eq!(
        app.get("/pcm/pricebooks?page[limit]=1", &admin).await.body["meta"]["page"]["total"],
        2
    );

    let r = app
        .put(
            &format!("/pcm/pricebooks/{pb}"),
            &admin,
            json!({"data": {"type": "pricebook", "id": pb, "attributes": {"description": null}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["name"], "Retail");
    assert!(r.body["data"]["attributes"].get("description").is_none());
    let r = app
        .put(
            &format!("/pcm/pricebooks/{pb}"),
            &admin,
            json!({"data": {"type": "pricebook", "id": "other", "attributes": {"name": null}}}),
        )
        .await;
    assert_eq!(sources(&r), ["data.id", "data.attributes.name"]);

    let r = app.delete(&format!("/pcm/pricebooks/{pb}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app.get(&format!("/pcm/pricebooks/{pb}"), &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Price book not found");
    assert_eq!(
        app.delete(&format!("/pcm/pricebooks/{pb}"), &admin).await.status,
        404
    );
}

async fn prices_crud_and_validation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let pb = create(
        &app,
        &admin,
        "/pcm/pricebooks",
        json!({"data": {"type": "pricebook", "attributes": {"name": "Retail"}}}),
    )
    .await;
    let prices = format!("/pcm/pricebooks/{pb}/prices");
    let attributes = json!({
        "sku": "TS-1",
        "currencies": {
            "USD": {"amount": 1000, "includes_tax": false, "tiers": {"min_5": {"minimum_quantity": 5, "amount": 900}}},
            "EUR": {"amount": 950, "includes_tax": true}
        },
        "sales": {
            "summer": {
                "schedule": {"valid_from": "2026-06-01T00:00:00Z", "valid_to": "2026-09-01T00:00:00Z"},
                "currencies": {"USD": {"amount": 800, "includes_tax": false}}
            }
        },
        "external_ref": "price-1"
    });
    let r = app
        .post(
            &prices,
            &admin,
            json!({"data": {"type": "product-price", "attributes": attributes}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "product-price");
    assert_eq!(d["meta"]["pricebook_id"], pb.as_str());
    assert_eq!(d["attributes"]["currencies"], attributes["currencies"]);
    assert_eq!(d["attributes"]["sales"], attributes["sales"]);
    let price = id(&r);

    // One price per sku per book.
    let r = app.post(&prices, &admin, json!({"data": {"type": "product-price", "attributes": {"sku": "TS-1", "currencies": {"USD": {"amount": 1}}}}})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let other = create(
        &app,
        &admin,
        "/pcm/pricebooks",
        json!({"data": {"type": "pricebook", "attributes": {"name": "Other"}}}),
    )
    .await;
    create(
        &app,
        &admin,
        &format!("/pcm/pricebooks/{other}/prices"),
        json!({"data": {"type": "product-price", "attributes": {"sku": "TS-1", "currencies": {"USD": {"amount": 1}}}}}),
    )
    .await;

    let cases = [
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": -1}}}),
            vec!["data.attributes.currencies.USD.amount"],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": 10.5}}}),
            vec!["data.attributes.currencies.USD.amount"],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": "10"}}}),
            vec!["data.attributes.currencies.USD.amount"],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {}}}),
            vec!["data.attributes.currencies.USD.amount"],
        ),
        (
            json!({"sku": "x", "currencies": {}}),
            vec!["data.attributes.currencies"],
        ),
        (
            json!({"currencies": {"usd": {"amount": 1}}}),
            vec!["data.attributes.sku", "data.attributes.currencies.usd"],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": 1, "tiers": {"a": {"minimum_quantity": 0, "amount": 1}, "b": {"amount": 1}}}}}),
            vec![
                "data.attributes.currencies.USD.tiers.b.minimum_quantity",
                "data.attributes.currencies.USD.tiers.a.minimum_quantity",
            ],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": 1}}, "sales": {"s": {"schedule": {"valid_from": "soon"}, "currencies": {"USD": {"amount": 1}}}}}),
            vec!["data.attributes.sales.s.schedule.valid_from"],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": 1}}, "sales": {"s": {"bundle_ids": ["b"], "currencies": {"USD": {"amount": 1}}}}}),
            vec!["data.attributes.sales.s.bundle_ids"],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": 1}}, "sales": {
                "a": {"currencies": {"USD": {"amount": 1}}},
                "b": {"schedule": {"valid_from": "2026-01-02T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"}, "currencies": {"USD": {"amount": 1}}}
            }}),
            vec![
                "data.attributes.sales.a.schedule",
                "data.attributes.sales.b.schedule.valid_to",
            ],
        ),
        (
            json!({"sku": "x", "currencies": {"USD": {"amount": 1}}, "admin_attributes": {}}),
            vec!["data.attributes"],
        ),
    ];
    for (attributes, expected) in cases {
        let body = json!({"data": {"type": "product-price", "attributes": attributes}});
        let r = app.post(&prices, &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let got = sources(&r);
        let got: Vec<&str> = got
            .iter()
            .map(|s| s.split(".admin_attributes").next().unwrap())
            .collect();
        assert_eq!(got, expected, "{body}");
    }

    // Filters.
    create(&app, &admin, &prices, json!({"data": {"type": "product-price", "attributes": {"sku": "MUG", "currencies": {"USD": {"amount": 500}}}}})).await;
    let count = |filter: &str| {
        let path = format!("{prices}?filter={filter}");
        let app = &app;
        let admin = &admin;
        async move {
            app.get(&path, admin).await.body["meta"]["results"]["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count("eq(sku,MUG)").await, 1);
    assert_eq!(count("in(sku,MUG,TS-1,NOPE)").await, 2);
    assert_eq!(count("eq(external_ref,price-1)").await, 1);
    assert_eq!(
        app.get(&format!("{prices}?filter=like(sku,M*)"), &admin)
            .await
            .status,
        400
    );

    // Partial update: new currencies replace the old map; sales stay unless given.
    let r = app
        .put(&format!("{prices}/{price}"), &admin, json!({"data": {"type": "product-price", "id": price, "attributes": {"currencies": {"USD": {"amount": 1200}}}}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["attributes"]["currencies"],
        json!({"USD": {"amount": 1200, "includes_tax": false}})
    );
    assert_eq!(r.body["data"]["attributes"]["sales"], attributes["sales"]);
    assert_eq!(r.body["data"]["attributes"]["sku"], "TS-1");
    let r = app
        .put(
            &format!("{prices}/{price}"),
            &admin,
            json!({"data": {"type": "product-price", "attributes": {"sales": null}}}),
        )
        .await;
    assert!(r.body["data"]["attributes"].get("sales").is_none(), "{}", r.body);
    let r = app
        .put(
            &format!("{prices}/{price}"),
            &admin,
            json!({"data": {"type": "product-price", "attributes": {"sku": "MUG"}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = app
        .put(
            &format!("{prices}/{price}"),
            &admin,
            json!({"data": {"type": "product-price", "attributes": {"currencies": {"USD": {"amount": -5}}}}}),
        )
        .await;
    assert_eq!(sources(&r), ["data.attributes.currencies.USD.amount"]);

    // A price is found only in its own book.
    assert_eq!(
        app.get(&format!("/pcm/pricebooks/{other}/prices/{price}"), &admin)
            .await
            .status,
        404
    );
    let r = app.get(&format!("{prices}/{price}"), &admin).await;
    assert_eq!(r.body["data"]["attributes"]["currencies"]["USD"]["amount"], 1200);
    assert_eq!(app.delete(&format!("{prices}/{price}"), &admin).await.status, 204);
    let r = app.get(&format!("{prices}/{price}"), &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Price not found");

    // Deleting a book deletes its prices.
    assert_eq!(
        app.delete(&format!("/pcm/pricebooks/{pb}"), &admin).await.status,
        204
    );
    assert_eq!(app.get(&prices, &admin).await.status, 404);
}

async fn currencies_crud_and_defaults(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // A store starts with USD as its default.
    let r = app.get("/v2/currencies", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    let usd = &r.body["data"][0];
    assert_eq!(
        (
            &usd["code"],
            &usd["default"],
            &usd["format"],
            &usd["decimal_places"]
        ),
        (&json!("USD"), &json!(true), &json!("${price}"), &json!(2))
    );
    let usd = usd["id"].as_str().unwrap().to_owned();

    let eur = json!({"data": {"type": "currency", "code": "EUR", "exchange_rate": 0.9, "format": "{price} €",
        "decimal_point": ",", "thousand_separator": ".", "decimal_places": 2, "default": false, "enabled": true}});
    let r = app.post("/v2/currencies", &admin, eur.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["type"], "currency");
    assert_eq!(r.body["data"]["exchange_rate"], 0.9);
    assert!(r.body["data"]["meta"]["timestamps"]["created_at"].is_string());
    let eur_id = id(&r);
    let r = app.post("/v2/currencies", &admin, eur).await;
    assert_eq!(r.status, 409, "codes are unique");
    assert_eq!(r.error()["status"], 409);

    // Making EUR the default takes it from USD.
    let r = app
        .put(
            &format!("/v2/currencies/{eur_id}"),
            &admin,
            json!({"data": {"type": "currency", "default": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["default"], true);
    assert_eq!(r.body["data"]["code"], "EUR");
    assert_eq!(
        app.get(&format!("/v2/currencies/{usd}"), &admin).await.body["data"]["default"],
        false
    );
    // The default cannot be taken away or deleted, only moved.
    let r = app
        .put(
            &format!("/v2/currencies/{eur_id}"),
            &admin,
            json!({"data": {"type": "currency", "default": false}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), sources(&r)),
        (400, vec!["data.default".to_owned()])
    );
    let r = app.delete(&format!("/v2/currencies/{eur_id}"), &admin).await;
    assert_eq!(r.status, 409);
    // A new currency created as default takes it too.
    let r = app
        .post("/v2/currencies", &admin, json!({"data": {"type": "currency", "code": "JPY", "format": "¥{price}", "decimal_places": 0, "default": true}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let defaults: Vec<String> = app.get("/v2/currencies", &admin).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["default"] == true)
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(defaults, ["JPY"]);
    assert_eq!(
        app.delete(&format!("/v2/currencies/{eur_id}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/v2/currencies/{eur_id}"), &admin).await.status,
        404
    );
    assert_eq!(app.get("/v2/currencies/nope", &admin).await.status, 404);

    let cases = [
        (
            json!({"data": {"type": "currency", "format": "{price}"}}),
            vec!["data.code"],
        ),
        (
            json!({"data": {"type": "currency", "code": "usd", "format": "{price}"}}),
            vec!["data.code"],
        ),
        (
            json!({"data": {"type": "currency", "code": "GBP"}}),
            vec!["data.format"],
        ),
        (
            json!({"data": {"type": "currency", "code": "GBP", "format": "£"}}),
            vec!["data.format"],
        ),
        (
            json!({"data": {"type": "currency", "code": "GBP", "format": "£{price}", "decimal_places": 9, "exchange_rate": -1}}),
            vec!["data.decimal_places", "data.exchange_rate"],
        ),
        (
            json!({"data": {"type": "currency", "code": "GBP", "format": "£{price}", "decimal_places": 1.5}}),
            vec!["data.decimal_places"],
        ),
        (
            json!({"data": {"code": "GBP", "format": "£{price}"}}),
            vec!["data.type"],
        ),
    ];
    for (body, expected) in cases {
        let r = app.post("/v2/currencies", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
}

async fn currency_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for code in ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH", "III"] {
        create(
            &app,
            &admin,
            "/v2/currencies",
            json!({"data": {"type": "currency", "code": code, "format": "{price}"}}),
        )
        .await;
    }
    let r = app
        .post(
            "/v2/currencies",
            &admin,
            json!({"data": {"type": "currency", "code": "JJJ", "format": "{price}"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Currency limit reached");
    assert_eq!(
        app.get("/v2/currencies?page[limit]=100", &admin).await.body["meta"]["results"]["total"],
        10
    );
}

async fn implicit_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let shopper = app.implicit_token().await;
    let id = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::GET, "/pcm/products".to_owned()),
        (Method::POST, "/pcm/products".to_owned()),
        (Method::PUT, format!("/pcm/products/{id}")),
        (Method::GET, "/pcm/hierarchies".to_owned()),
        (Method::POST, format!("/pcm/hierarchies/{id}/nodes")),
        (
            Method::POST,
            format!("/pcm/hierarchies/{id}/nodes/{id}/relationships/products"),
        ),
        (Method::GET, format!("/pcm/hierarchies/{id}/nodes/{id}/products")),
        (Method::GET, "/pcm/pricebooks".to_owned()),
        (Method::POST, format!("/pcm/pricebooks/{id}/prices")),
        (Method::DELETE, format!("/pcm/pricebooks/{id}/prices/{id}")),
        (Method::POST, "/v2/currencies".to_owned()),
        (Method::PUT, format!("/v2/currencies/{id}")),
        (Method::DELETE, format!("/v2/currencies/{id}")),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&shopper), Some(json!({"data": {}})))
            .await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        r.error();
        let r = app.call(method.clone(), &path, None, None).await;
        assert_eq!(r.status, 401, "{method} {path}");
    }
}
