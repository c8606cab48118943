//! Catalogs, published releases, catalog rules and the shopper catalog (`/catalogs...`,
//! `/catalog...`).

use crate::backend_tests;
use crate::fixtures::{self, add_euro, catalog, create, hierarchy, price, pricebook, product, publish, usd};
use crate::helpers::{Backend, Resp, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    publish_and_shop,
    releases_are_snapshots,
    priority_sale_and_currency,
    shopper_filters_and_pages,
    hierarchy_and_node_children_and_products,
    rules_choose_the_catalog,
    catalog_validation_and_conflicts,
);

/// A shopper GET with extra headers.
async fn shop(app: &TestApp, token: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = app.http.get(format!("{}{path}", app.url)).bearer_auth(token);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    Resp::read(req.send().await.unwrap()).await
}

fn skus(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["attributes"]["sku"].as_str().unwrap().to_owned())
        .collect()
}

async fn publish_and_shop(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let r = shop(&app, &shopper, "/catalog/products", &[]).await;
    assert_eq!(r.status, 404, "nothing published yet: {}", r.body);

    let tree = hierarchy(&app, &admin, "Whisky").await;
    let p = product(&app, &admin, &tree, "Lagavulin 16", "LAG-16", "live").await;
    product(&app, &admin, &tree, "Secret", "DRAFT-1", "draft").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "LAG-16", usd(123_450)).await;
    price(&app, &admin, &book, "DRAFT-1", usd(100)).await;
    let c = catalog(
        &app,
        &admin,
        "Main",
        json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
    )
    .await;
    let r = app.get(&format!("/pcm/catalogs/{c}"), &admin).await;
    assert_eq!(r.status, 200, "the classic client's path: {}", r.body);
    assert_eq!(
        r.body["data"]["attributes"]["pricebook_ids"][0]["id"],
        book.as_str()
    );
    let release = publish(&app, &admin, &c).await;

    let r = shop(&app, &shopper, "/catalog", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["id"], release.as_str());
    assert_eq!(r.body["data"]["attributes"]["catalog_id"], c.as_str());

    let r = shop(&app, &shopper, "/catalog/products", &[]).await;
    assert_eq!(skus(&r), ["LAG-16"], "drafts are not published");
    let r = shop(&app, &shopper, &format!("/catalog/products/{p}"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "product");
    assert_eq!(d["attributes"]["name"], "Lagavulin 16");
    assert_eq!(
        d["attributes"]["price"],
        json!({"USD": {"amount": 123_450, "includes_tax": false}})
    );
    assert_eq!(d["meta"]["catalog_id"], c.as_str());
    assert_eq!(d["meta"]["catalog_source"], "pim");
    assert_eq!(d["meta"]["pricebook_id"], book.as_str());
    let shown =
        json!({"amount": 123_450, "currency": "USD", "formatted": "$1,234.50", "float_price": 1234.5});
    assert_eq!(
        d["meta"]["display_price"],
        json!({"with_tax": shown, "without_tax": shown})
    );
    assert!(d["meta"].get("original_price").is_none() && d["meta"].get("sale_id").is_none());

    let r = shop(
        &app,
        &shopper,
        &format!("/catalog/products/{}", uuid::Uuid::new_v4()),
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Product not found");
    assert_eq!(r.error()["status"], "404");

    // Hierarchies and nodes of the release.
    let (h, n) = &tree;
    let r = shop(&app, &shopper, "/catalog/hierarchies", &[]).await;
    assert_eq!(r.body["data"][0]["id"], h.as_str());
    let r = shop(&app, &shopper, &format!("/catalog/hierarchies/{h}"), &[]).await;
    assert_eq!(r.body["data"]["attributes"]["name"], "Whisky");
    let r = shop(&app, &shopper, &format!("/catalog/hierarchies/{h}/nodes"), &[]).await;
    assert_eq!(r.body["data"][0]["id"], n.as_str());
    let r = shop(&app, &shopper, "/catalog/nodes", &[]).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    let r = shop(&app, &shopper, &format!("/catalog/nodes/{n}"), &[]).await;
    assert_eq!(r.body["data"]["attributes"]["name"], "Whisky node");
    let r = shop(
        &app,
        &shopper,
        &format!("/catalog/nodes/{n}/relationships/products"),
        &[],
    )
    .await;
    assert_eq!(skus(&r), ["LAG-16"]);
    let r = shop(&app, &shopper, &format!("/catalog/nodes/{h}"), &[]).await;
    assert_eq!(r.status, 404);

    // Shoppers read, only admins write.
    let r = app
        .post(
            "/catalogs",
            &shopper,
            json!({"data": {"type": "catalog", "attributes": {"name": "X"}}}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = app.get("/catalogs", &shopper).await;
    assert_eq!(r.status, 403);
    let r = app.get("/catalog/products", "not-a-token").await;
    assert_eq!(r.status, 401);
    let r = app.get("/catalogs", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
}

async fn releases_are_snapshots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let tree = hierarchy(&app, &admin, "H").await;
    let p = product(&app, &admin, &tree, "Mug", "MUG", "live").await;
    let book = pricebook(&app, &admin, "B").await;
    let pr = price(&app, &admin, &book, "MUG", usd(500)).await;
    let c = catalog(
        &app,
        &admin,
        "C",
        json!({"hierarchy_ids": [tree.0], "pricebook_ids": [{"id": book, "priority": 1}]}),
    )
    .await;
    let first = publish(&app, &admin, &c).await;
    let path = format!("/catalog/products/{p}");
    let seen = |r: &Resp| {
        (
            r.body["data"]["attributes"]["name"].as_str().unwrap().to_owned(),
            r.body["data"]["meta"]["display_price"]["without_tax"]["amount"]
                .as_i64()
                .unwrap(),
        )
    };
    assert_eq!(seen(&shop(&app, &shopper, &path, &[]).await), ("Mug".into(), 500));

    // Edits without a publish change nothing shoppers see.
    let r = app
        .put(
            &format!("/pcm/products/{p}"),
            &admin,
            json!({"data": {"type": "product", "id": p, "attributes": {"name": "Big Mug"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .put(
            &format!("/pcm/pricebooks/{book}/prices/{pr}"),
            &admin,
            json!({"data": {"type": "product-price", "id": pr, "attributes": usd(650)}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let late = product(&app, &admin, &tree, "Late", "LATE", "live").await;
    assert_eq!(seen(&shop(&app, &shopper, &path, &[]).await), ("Mug".into(), 500));
    let r = shop(&app, &shopper, &format!("/catalog/products/{late}"), &[]).await;
    assert_eq!(r.status, 404);

    // The next publish shows them.
    publish(&app, &admin, &c).await;
    assert_eq!(
        seen(&shop(&app, &shopper, &path, &[]).await),
        ("Big Mug".into(), 650)
    );
    let r = shop(&app, &shopper, &format!("/catalog/products/{late}"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["data"]["meta"].get("display_price").is_none(),
        "a product without a price is listed without display_price"
    );

    // Only the newest three releases are kept.
    publish(&app, &admin, &c).await;
    let newest = publish(&app, &admin, &c).await;
    let r = app.get(&format!("/catalogs/{c}/releases"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], newest);
    assert!(!ids.contains(&first.as_str()));
    let r = app
        .get(&format!("/pcm/catalogs/{c}/releases/{newest}"), &admin)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["meta"]["total_products"], 2);
    let r = app.get(&format!("/catalogs/{c}/releases/{first}"), &admin).await;
    assert_eq!(r.status, 404);
    let r = shop(&app, &shopper, "/catalog", &[]).await;
    assert_eq!(r.body["data"]["id"], newest.as_str());
}

async fn priority_sale_and_currency(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    add_euro(&app, &admin).await;
    let tree = hierarchy(&app, &admin, "H").await;
    let p = product(&app, &admin, &tree, "Gin", "GIN", "live").await;
    let plain = product(&app, &admin, &tree, "Tonic", "TONIC", "live").await;
    let low = pricebook(&app, &admin, "Low").await;
    let high = pricebook(&app, &admin, "High").await;
    price(&app, &admin, &low, "GIN", usd(3000)).await;
    price(&app, &admin, &low, "TONIC", usd(300)).await;
    price(
        &app,
        &admin,
        &high,
        "GIN",
        json!({
            "currencies": {
                "USD": {"amount": 2500, "includes_tax": false,
                        "tiers": {"six": {"minimum_quantity": 6, "amount": 2200}}},
                "EUR": {"amount": 123_456, "includes_tax": true}
            },
            "sales": {"summer": {
                "schedule": {"valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z"},
                "currencies": {"USD": {"amount": 1999, "includes_tax": false}}
            }}
        }),
    )
    .await;
    let c = catalog(
        &app,
        &admin,
        "C",
        json!({"hierarchy_ids": [tree.0], "pricebook_ids": [{"id": low, "priority": 1}, {"id": high, "priority": 5}]}),
    )
    .await;
    publish(&app, &admin, &c).await;

    let r = shop(&app, &shopper, &format!("/catalog/products/{p}"), &[]).await;
    let meta = &r.body["data"]["meta"];
    assert_eq!(meta["pricebook_id"], high.as_str(), "the higher priority wins");
    assert_eq!(meta["display_price"]["with_tax"]["amount"], 1999);
    assert_eq!(meta["display_price"]["with_tax"]["formatted"], "$19.99");
    assert_eq!(meta["sale_id"], "summer");
    assert_eq!(meta["sale_expires"], "2099-01-01T00:00:00Z");
    assert_eq!(
        meta["original_price"],
        json!({"USD": {"amount": 2500, "includes_tax": false}})
    );
    assert_eq!(
        meta["original_display_price"]["without_tax"]["formatted"],
        "$25.00"
    );
    assert!(meta.get("tiers").is_none(), "the sale has no tiers");
    assert_eq!(
        r.body["data"]["attributes"]["price"]["USD"]["tiers"]["six"]["amount"],
        2200
    );

    let r = shop(&app, &shopper, &format!("/catalog/products/{plain}"), &[]).await;
    assert_eq!(
        r.body["data"]["meta"]["pricebook_id"],
        low.as_str(),
        "only the low book prices it"
    );
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["without_tax"]["amount"],
        300
    );

    let eur = [("X-MOLTIN-CURRENCY", "EUR")];
    let r = shop(&app, &shopper, &format!("/catalog/products/{p}"), &eur).await;
    let meta = &r.body["data"]["meta"];
    assert_eq!(
        meta["display_price"]["with_tax"],
        json!({"amount": 123_456, "currency": "EUR", "formatted": "1.234,56 €", "float_price": 1234.56})
    );
    assert!(meta.get("sale_id").is_none(), "the sale has no EUR price");
    let r = shop(&app, &shopper, &format!("/catalog/products/{plain}"), &eur).await;
    assert_eq!(r.status, 200);
    assert!(r.body["data"]["meta"].get("display_price").is_none());
    let r = shop(
        &app,
        &shopper,
        "/catalog/products",
        &[("X-MOLTIN-CURRENCY", "GBP")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

async fn shopper_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let tree = hierarchy(&app, &admin, "H").await;
    let mut ids = Vec::new();
    for (name, sku) in [
        ("Red Shirt", "SHIRT-R"),
        ("Blue Shirt", "SHIRT-B"),
        ("Hat", "HAT"),
    ] {
        ids.push(product(&app, &admin, &tree, name, sku, "live").await);
    }
    let r = app
        .put(
            &format!("/pcm/products/{}", ids[2]),
            &admin,
            json!({"data": {"type": "product", "id": ids[2], "attributes": {"mpn": "HAT-MPN", "upc_ean": "0042"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let book = pricebook(&app, &admin, "B").await;
    let c = catalog(
        &app,
        &admin,
        "C",
        json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
    )
    .await;
    publish(&app, &admin, &c).await;
    let list = |q: &str| format!("/catalog/products?{q}");
    // The storefront's lookups: by ids (cart, checkout and order pages) and by slug (product page).
    let by_ids = format!("filter=in(id,{},{},{})", ids[2], ids[0], uuid::Uuid::new_v4());
    let r = shop(&app, &shopper, &list(&by_ids), &[]).await;
    assert_eq!(skus(&r), ["SHIRT-R", "HAT"], "catalog order, unknown ids ignored");
    assert_eq!(r.body["data"][0]["meta"]["product_types"], json!(["standard"]));
    // An empty cart's lookup.
    let r = shop(&app, &shopper, &list("filter=in(id,)"), &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.body["data"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let by_id_and_name = format!("filter=in(id,{},{}):eq(name,Hat)", ids[2], ids[0]);
    assert_eq!(
        skus(&shop(&app, &shopper, &list(&by_id_and_name), &[]).await),
        ["HAT"]
    );
    let cases: &[(&str, &[&str])] = &[
        ("filter=eq(slug,shirt-b)", &["SHIRT-B"]),
        ("filter=in(slug,hat,shirt-r)", &["SHIRT-R", "HAT"]),
        ("filter=eq(manufacturer_part_num,HAT-MPN)", &["HAT"]),
        ("filter=eq(upc_ean,0042)", &["HAT"]),
        (
            "filter=eq(product_types,standard)",
            &["SHIRT-R", "SHIRT-B", "HAT"],
        ),
        ("filter=in(product_types,parent,child)", &[]),
        ("filter=eq(tags,sale)", &[]),
        ("filter=eq(sku,HAT)", &["HAT"]),
        ("filter=in(sku,HAT,SHIRT-B)", &["SHIRT-B", "HAT"]),
        ("filter=like(name,*shirt)", &["SHIRT-R", "SHIRT-B"]),
        ("filter=like(slug,shirt-*):eq(name,Blue Shirt)", &["SHIRT-B"]),
        ("page[limit]=2", &["SHIRT-R", "SHIRT-B"]),
        ("page[limit]=2&page[offset]=2", &["HAT"]),
    ];
    for (q, expected) in cases {
        let r = shop(&app, &shopper, &list(q), &[]).await;
        assert_eq!(skus(&r), *expected, "{q}");
    }
    let r = shop(&app, &shopper, &list("page[limit]=1&page[offset]=1"), &[]).await;
    assert_eq!(r.body["meta"]["results"]["total"], 3);
    assert_eq!(r.body["meta"]["page"]["current"], 2);
    assert!(r.body["links"]["next"].is_string());
    for bad in [
        "filter=eq(status,live)",
        "filter=in(id,not-an-id)",
        "filter=like(id,*)",
    ] {
        let r = shop(&app, &shopper, &list(bad), &[]).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.error()["source"], "filter", "{bad}");
    }
}

/// Navigation: a hierarchy's top-level nodes, a node's children, and the products of a node and
/// of a whole hierarchy, with filters and pages.
async fn hierarchy_and_node_children_and_products(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let (h, clothes) = hierarchy(&app, &admin, "Shop").await;
    let node = |name: &str, parent: Option<&str>| {
        let mut body =
            json!({"data": {"type": "node", "attributes": {"name": name, "slug": name.to_lowercase()}}});
        if let Some(parent) = parent {
            body["data"]["relationships"] = json!({"parent": {"data": {"type": "node", "id": parent}}});
        }
        body
    };
    let shirts = create(
        &app,
        &admin,
        &format!("/pcm/hierarchies/{h}/nodes"),
        node("Shirts", Some(&clothes)),
    )
    .await;
    let hats = create(
        &app,
        &admin,
        &format!("/pcm/hierarchies/{h}/nodes"),
        node("Hats", Some(&clothes)),
    )
    .await;
    let sale = create(
        &app,
        &admin,
        &format!("/pcm/hierarchies/{h}/nodes"),
        node("Sale", None),
    )
    .await;
    let other = hierarchy(&app, &admin, "Other").await;
    let in_clothes = product(
        &app,
        &admin,
        &(h.clone(), clothes.clone()),
        "Coat",
        "COAT",
        "live",
    )
    .await;
    let in_shirts = product(
        &app,
        &admin,
        &(h.clone(), shirts.clone()),
        "Shirt",
        "SHIRT",
        "live",
    )
    .await;
    product(&app, &admin, &(h.clone(), sale.clone()), "Scarf", "SCARF", "live").await;
    product(&app, &admin, &other, "Elsewhere", "ELSE", "live").await;
    let book = pricebook(&app, &admin, "B").await;
    let c = catalog(
        &app,
        &admin,
        "C",
        json!({"hierarchy_ids": [h, other.0], "pricebook_id": book}),
    )
    .await;
    publish(&app, &admin, &c).await;

    let names = |r: &Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["attributes"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |path: String| {
        let (app, shopper) = (&app, &shopper);
        async move { shop(app, shopper, &path, &[]).await }
    };
    let r = get(format!("/catalog/hierarchies/{h}/children")).await;
    assert_eq!(names(&r), ["Shop node", "Sale"]);
    assert_eq!(r.body["data"][0]["type"], "node");
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    let r = get(format!("/catalog/nodes/{clothes}/relationships/children")).await;
    assert_eq!(names(&r), ["Shirts", "Hats"]);
    assert_eq!(
        r.body["data"][0]["relationships"]["parent"]["data"]["id"],
        clothes.as_str()
    );
    let r = get(format!(
        "/catalog/nodes/{clothes}/relationships/children?filter=eq(slug,hats)"
    ))
    .await;
    assert_eq!(names(&r), ["Hats"]);
    let r = get(format!(
        "/catalog/nodes/{clothes}/relationships/children?page[limit]=1&page[offset]=1"
    ))
    .await;
    assert_eq!(names(&r), ["Hats"]);
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    assert_eq!(
        names(&get(format!("/catalog/nodes/{hats}/relationships/children")).await),
        Vec::<String>::new()
    );
    let r = get(format!("/catalog/nodes?filter=in(id,{shirts},{sale})")).await;
    assert_eq!(names(&r), ["Shirts", "Sale"]);
    let r = get("/catalog/hierarchies?filter=eq(name,Other)".into()).await;
    assert_eq!(names(&r), ["Other"]);

    let r = get(format!("/catalog/hierarchies/{h}/products")).await;
    assert_eq!(skus(&r), ["COAT", "SHIRT", "SCARF"]);
    let r = get(format!(
        "/catalog/hierarchies/{h}/products?filter=in(id,{in_shirts},{in_clothes})&page[limit]=1"
    ))
    .await;
    assert_eq!(skus(&r), ["COAT"]);
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    let r = get(format!("/catalog/nodes/{clothes}/relationships/products")).await;
    assert_eq!(skus(&r), ["COAT"], "a node lists the products placed in it");
    let r = get(format!(
        "/catalog/nodes/{shirts}/relationships/products?filter=eq(slug,shirt)"
    ))
    .await;
    assert_eq!(skus(&r), ["SHIRT"]);

    for path in [
        format!("/catalog/hierarchies/{}/children", uuid::Uuid::new_v4()),
        format!("/catalog/hierarchies/{}/products", uuid::Uuid::new_v4()),
        format!("/catalog/nodes/{}/relationships/children", uuid::Uuid::new_v4()),
        "/catalog/hierarchies/not-an-id/children".into(),
    ] {
        assert_eq!(get(path.clone()).await.status, 404, "{path}");
    }
    let r = get(format!("/catalog/hierarchies/{h}/children?filter=eq(sku,X)")).await;
    assert_eq!((r.status.as_u16(), &r.error()["source"]), (400, &json!("filter")));
}

async fn rules_choose_the_catalog(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let book = pricebook(&app, &admin, "B").await;
    let mut catalogs = Vec::new();
    for name in ["Default", "Mobile", "Wholesale"] {
        let tree = hierarchy(&app, &admin, name).await;
        product(&app, &admin, &tree, name, &name.to_uppercase(), "live").await;
        let c = catalog(
            &app,
            &admin,
            name,
            json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
        )
        .await;
        catalogs.push(c);
    }
    // Publish newest first: the default is the oldest catalog, not the first published.
    for c in catalogs.iter().rev() {
        publish(&app, &admin, c).await;
    }
    let realm = fixtures::realm(&app, &admin).await;
    let member = fixtures::user(&app, &admin, &realm, "ann@perkins.com", "secret-pass-1").await;
    let acc = fixtures::account(&app, &admin, "Perkins Wholesale").await;
    assert_eq!(fixtures::join(&app, &admin, &acc, &member).await.status, 201);
    let r = fixtures::login(&app, &realm, "ann@perkins.com", "secret-pass-1").await;
    let account_token = r.body["data"][0]["token"].as_str().unwrap().to_owned();

    let r = app
        .post(
            "/catalogs/rules",
            &admin,
            json!({"data": {"type": "catalog_rule", "attributes": {
                "name": "mobile", "catalog_id": catalogs[1], "channels": ["mobile"]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["channels"], json!(["mobile"]));
    let rule = create(
        &app,
        &admin,
        "/pcm/catalogs/rules",
        json!({"data": {"type": "catalog_rule", "attributes": {
            "name": "wholesale", "catalog_id": catalogs[2], "account_ids": [acc],
            "schedules": [{"valid_from": "2020-01-01T00:00:00Z"}]}}}),
    )
    .await;

    let seen = |r: Resp| skus(&r);
    assert_eq!(
        seen(shop(&app, &shopper, "/catalog/products", &[]).await),
        ["DEFAULT"]
    );
    assert_eq!(
        seen(shop(&app, &shopper, "/catalog/products", &[("EP-Channel", "mobile")]).await),
        ["MOBILE"]
    );
    let as_account = [(
        "EP-Account-Management-Authentication-Token",
        account_token.as_str(),
    )];
    assert_eq!(
        seen(shop(&app, &shopper, "/catalog/products", &as_account).await),
        ["WHOLESALE"]
    );
    let r = shop(&app, &shopper, "/catalog", &as_account).await;
    assert_eq!(r.body["data"]["attributes"]["catalog_id"], catalogs[2].as_str());

    // A rule change applies at once on this node.
    let r = app
        .put(
            &format!("/catalogs/rules/{rule}"),
            &admin,
            json!({"data": {"type": "catalog_rule", "id": rule, "attributes": {"channels": ["pos"]}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        seen(shop(&app, &shopper, "/catalog/products", &as_account).await),
        ["DEFAULT"]
    );
    let r = app.get("/catalogs/rules", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    let r = app.delete(&format!("/catalogs/rules/{rule}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app.get(&format!("/catalogs/rules/{rule}"), &admin).await;
    assert_eq!(r.status, 404);
}

fn first_source(r: &Resp) -> String {
    r.error()["source"].as_str().unwrap_or_default().to_owned()
}

async fn catalog_validation_and_conflicts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let book = pricebook(&app, &admin, "B").await;
    let (h, _) = hierarchy(&app, &admin, "H").await;
    let missing = uuid::Uuid::new_v4().to_string();
    let post = |attributes: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            app.post(
                "/catalogs",
                admin,
                json!({"data": {"type": "catalog", "attributes": attributes}}),
            )
            .await
        }
    };
    let r = post(json!({"hierarchy_ids": [h]})).await;
    assert_eq!(
        (r.status.as_u16(), first_source(&r)),
        (400, "data.attributes.name".into())
    );
    let r = post(json!({"name": "C", "hierarchy_ids": [missing]})).await;
    assert_eq!(
        (r.status.as_u16(), first_source(&r)),
        (400, "data.attributes.hierarchy_ids".into()),
        "{}",
        r.body
    );
    let r = post(json!({"name": "C", "pricebook_ids": [{"id": missing, "priority": 1}]})).await;
    assert_eq!(
        (r.status.as_u16(), first_source(&r)),
        (400, "data.attributes.pricebook_ids".into())
    );
    let r = post(json!({"name": "C", "pricebook_id": book, "pricebook_ids": [{"id": book, "priority": 1}]}))
        .await;
    assert_eq!(r.status, 400);
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"id": uuid::Uuid::new_v4(), "priority": i}))
        .collect();
    let r = post(json!({"name": "C", "pricebook_ids": six})).await;
    assert_eq!(r.status, 400);

    // Publishing needs a price book.
    let c = catalog(&app, &admin, "Bare", json!({"hierarchy_ids": [h]})).await;
    let r = app
        .call(
            Method::POST,
            &format!("/catalogs/{c}/releases"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "Catalog has no price book");
    let r = app
        .call(
            Method::POST,
            &format!("/catalogs/{missing}/releases"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 404);

    // A price book in use cannot be deleted.
    let r = app
        .put(
            &format!("/catalogs/{c}"),
            &admin,
            json!({"data": {"type": "catalog", "id": c, "attributes": {"pricebook_id": book}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["hierarchy_ids"], json!([h]));
    let r = app.delete(&format!("/pcm/pricebooks/{book}"), &admin).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error()["status"], "409");

    // A rule needs an existing catalog.
    let r = app
        .post(
            "/catalogs/rules",
            &admin,
            json!({"data": {"type": "catalog_rule", "attributes": {"name": "R", "catalog_id": missing}}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), first_source(&r)),
        (400, "data.attributes.catalog_id".into())
    );
    let r = app
        .post(
            "/catalogs/rules",
            &admin,
            json!({"data": {"type": "catalog_rule", "attributes": {"name": "R"}}}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Once the catalog is gone, so is the hold on the price book.
    let r = app.delete(&format!("/catalogs/{c}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app.get(&format!("/catalogs/{c}"), &admin).await;
    assert_eq!(r.status, 404);
    let r = app.delete(&format!("/pcm/pricebooks/{book}"), &admin).await;
    assert_eq!(r.status, 204);
}
