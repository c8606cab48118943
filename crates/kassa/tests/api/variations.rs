//! Variations and child products: `/pcm/variations` with options and modifiers, a product's
//! variations, `POST /pcm/products/{id}/build`, the children in published releases and the
//! shopper catalog, and carts that take children but refuse parents.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{create, hierarchy, price, pricebook, product, publish, published_catalog, usd};
use crate::helpers::{Backend, Resp, TestApp, assert_same_dump};

backend_tests!(
    variations_options_and_modifiers_crud,
    bad_variations_options_and_modifiers_change_nothing,
    attaching_variations_to_products,
    build_makes_each_combination_once_with_modifiers,
    concurrent_builds_never_duplicate_a_child,
    bad_builds_change_nothing,
    published_parents_and_children_with_prices,
    carts_take_children_and_refuse_parents,
    a_product_that_became_a_parent_is_not_checked_out,
    build_rules_decide_what_a_build_makes,
    bad_build_rules_change_nothing,
);

fn variation(name: &str) -> Value {
    json!({"data": {"type": "product-variation", "attributes": {"name": name}}})
}

fn option(name: &str) -> Value {
    json!({"data": {"type": "product-variation-option", "attributes": {"name": name, "description": format!("{name}.")}}})
}

fn modifier(attributes: Value) -> Value {
    json!({"data": {"type": "product-variation-modifier", "attributes": attributes}})
}

fn refs(ids: &[&str]) -> Value {
    json!({"data": ids.iter().map(|id| json!({"type": "product-variation", "id": id})).collect::<Vec<_>>()})
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

/// A variation with options, each with the modifiers given; the variation's and options' ids.
async fn variation_with(
    app: &TestApp,
    admin: &str,
    name: &str,
    options: &[(&str, Vec<Value>)],
) -> (String, Vec<String>) {
    let v = create(app, admin, "/pcm/variations", variation(name)).await;
    let mut ids = Vec::new();
    for (option_name, modifiers) in options {
        let o = create(
            app,
            admin,
            &format!("/pcm/variations/{v}/options"),
            option(option_name),
        )
        .await;
        for m in modifiers {
            create(
                app,
                admin,
                &format!("/pcm/variations/{v}/options/{o}/modifiers"),
                modifier(m.clone()),
            )
            .await;
        }
        ids.push(o);
    }
    (v, ids)
}

async fn build(app: &TestApp, admin: &str, product: &str) -> Resp {
    app.call(
        Method::POST,
        &format!("/pcm/products/{product}/build"),
        Some(admin),
        None,
    )
    .await
}

async fn children(app: &TestApp, admin: &str, product: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/pcm/products/{product}/children?page[limit]=100"),
            admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

fn by_sku(children: &[Value], sku: &str) -> Value {
    children
        .iter()
        .find(|c| c["attributes"]["sku"] == sku)
        .unwrap_or_else(|| panic!("no child {sku} among {children:?}"))
        .clone()
}

fn skus(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|c| c["attributes"]["sku"].as_str().unwrap().to_owned())
        .collect()
}

async fn variations_options_and_modifiers_crud(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/pcm/variations",
            &admin,
            json!({"data": {"type": "product-variation", "attributes": {"name": "Colour", "sort_order": 3}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "product-variation");
    assert_eq!(d["attributes"], json!({"name": "Colour", "sort_order": 3}));
    assert_eq!(d["meta"]["owner"], "store");
    let v = d["id"].as_str().unwrap().to_owned();

    let red = create(
        &app,
        &admin,
        &format!("/pcm/variations/{v}/options"),
        option("Red"),
    )
    .await;
    let blue = create(
        &app,
        &admin,
        &format!("/pcm/variations/{v}/options"),
        option("Blue"),
    )
    .await;
    let r = app.get(&format!("/pcm/variations/{v}"), &admin).await;
    assert_eq!(r.status, 200);
    let options: Vec<&str> = r.body["data"]["meta"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["Red", "Blue"], "meta.options, oldest first");

    let r = app
        .put(
            &format!("/pcm/variations/{v}/options/{blue}"),
            &admin,
            json!({"data": {"type": "product-variation-option", "id": blue, "attributes": {"sort_order": 9}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["attributes"],
        json!({"name": "Blue", "description": "Blue.", "sort_order": 9})
    );
    let r = app.get(&format!("/pcm/variations/{v}/options"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);

    // Every modifier type kassa applies is accepted, as given.
    let modifiers = [
        json!({"type": "name_append", "value": " Red"}),
        json!({"type": "name_prepend", "value": "Red "}),
        json!({"type": "name_equals", "value": "Red shirt"}),
        json!({"type": "description_append", "value": " Red."}),
        json!({"type": "description_prepend", "value": "Red. "}),
        json!({"type": "description_equals", "value": "Red."}),
        json!({"type": "sku_append", "value": "-R"}),
        json!({"type": "sku_prepend", "value": "R-"}),
        json!({"type": "sku_equals", "value": "RED"}),
        json!({"type": "sku_builder", "seek": "{colour}", "set": "RED"}),
        json!({"type": "slug_append", "value": "-r"}),
        json!({"type": "slug_prepend", "value": "r-"}),
        json!({"type": "slug_equals", "value": "red"}),
        json!({"type": "slug_builder", "seek": "{colour}", "set": "red"}),
        json!({"type": "commodity_type", "value": "digital"}),
        json!({"type": "status", "value": "draft"}),
        json!({"type": "upc_ean_equals", "value": "123"}),
        json!({"type": "mpn_equals", "value": "M-1"}),
        json!({"type": "external_ref_equals", "value": "x-1"}),
        json!({"type": "price_increment", "value": "100", "reference_name": "Red surcharge"}),
        json!({"type": "price_decrement", "value": "50"}),
        json!({"type": "price_equals", "value": "900"}),
    ];
    let path = format!("/pcm/variations/{v}/options/{red}/modifiers");
    let mut first = String::new();
    for m in &modifiers {
        let r = app.post(&path, &admin, modifier(m.clone())).await;
        assert_eq!(r.status, 201, "{m}: {}", r.body);
        assert_eq!(r.body["data"]["type"], "product-variation-modifier");
        assert_eq!(&r.body["data"]["attributes"], m);
        if first.is_empty() {
            first = r.body["data"]["id"].as_str().unwrap().to_owned();
        }
    }
    let r = app.get(&format!("{path}?page[limit]=100"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], modifiers.len());
    let r = app
        .put(
            &format!("{path}/{first}"),
            &admin,
            modifier(json!({"value": " Crimson"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["attributes"],
        json!({"type": "name_append", "value": " Crimson"})
    );
    let r = app.get(&format!("{path}/{first}"), &admin).await;
    assert_eq!(r.body["data"]["attributes"]["value"], " Crimson");
    // A modifier is only found under its own variation and option.
    let r = app
        .get(
            &format!("/pcm/variations/{v}/options/{blue}/modifiers/{first}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 404);

    let r = app.delete(&format!("{path}/{first}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app.delete(&format!("{path}/{first}"), &admin).await;
    assert_eq!(r.status, 404);
    let r = app
        .put(
            &format!("/pcm/variations/{v}"),
            &admin,
            json!({"data": {"type": "product-variation", "id": v, "attributes": {"sort_order": null}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"], json!({"name": "Colour"}));
    let r = app.get("/pcm/variations", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    let r = app
        .delete(&format!("/pcm/variations/{v}/options/{red}"), &admin)
        .await;
    assert_eq!(r.status, 204);
    let r = app.get(&path, &admin).await;
    assert_eq!(r.status, 404, "the option and its modifiers are gone");
    let r = app.delete(&format!("/pcm/variations/{v}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app
        .get(&format!("/pcm/variations/{v}/options/{blue}"), &admin)
        .await;
    assert_eq!(r.status, 404, "the variation's options went with it");
    let r = app.get(&format!("/pcm/variations/{v}"), &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Variation not found");
}

async fn bad_variations_options_and_modifiers_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (v, options) = variation_with(
        &app,
        &admin,
        "Colour",
        &[("Red", vec![json!({"type": "sku_append", "value": "-R"})])],
    )
    .await;
    let red = &options[0];
    let m = app
        .get(&format!("/pcm/variations/{v}/options/{red}/modifiers"), &admin)
        .await
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unknown = "00000000-0000-7000-8000-00000000abcd";
    let modifiers = format!("/pcm/variations/{v}/options/{red}/modifiers");
    let cases: Vec<(Method, String, Value, u16, Vec<&str>)> = vec![
        (
            Method::POST,
            "/pcm/variations".into(),
            json!({"data": {"type": "product-variation", "attributes": {}}}),
            400,
            vec!["data.attributes.name"],
        ),
        (
            Method::POST,
            "/pcm/variations".into(),
            json!({"data": {"type": "variation", "attributes": {"name": "x"}}}),
            400,
            vec!["data.type"],
        ),
        (
            Method::POST,
            "/pcm/variations".into(),
            json!({"data": {"type": "product-variation", "attributes": {"name": "x", "sort_order": "high"}}}),
            400,
            vec!["data.attributes.sort_order"],
        ),
        (
            Method::POST,
            "/pcm/variations".into(),
            json!({"data": {"type": "product-variation", "attributes": {"name": "x", "colour": "red"}}}),
            400,
            vec!["data.attributes.colour"],
        ),
        (
            Method::POST,
            format!("/pcm/variations/{v}/options"),
            json!({"data": {"type": "product-variation-option", "attributes": {"name": "Dark red"}}}),
            400,
            vec!["data.attributes.name", "data.attributes.description"],
        ),
        (
            Method::POST,
            format!("/pcm/variations/{unknown}/options"),
            option("Green"),
            404,
            vec![""],
        ),
        (
            Method::PUT,
            format!("/pcm/variations/{v}/options/{unknown}"),
            option("Green"),
            404,
            vec![""],
        ),
        (
            Method::POST,
            format!("/pcm/variations/{v}/options/{unknown}/modifiers"),
            modifier(json!({"type": "sku_append", "value": "-G"})),
            404,
            vec![""],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "colour_equals", "value": "red"})),
            400,
            vec!["data.attributes.type"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "price", "reference_name": "Surcharge"})),
            400,
            vec!["data.attributes.type"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "locales_equals", "value": "{}"})),
            400,
            vec!["data.attributes.type"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"value": "-R"})),
            400,
            vec!["data.attributes.type"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "name_append"})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "status", "value": "gone"})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "commodity_type", "value": "service"})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "slug_append", "value": "a b"})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "price_increment", "value": "1.50"})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "price_decrement", "value": 150})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::POST,
            modifiers.clone(),
            modifier(json!({"type": "sku_builder", "value": "x"})),
            400,
            vec!["data.attributes.seek", "data.attributes.set"],
        ),
        // An update is checked as the modifier it would make.
        (
            Method::PUT,
            format!("{modifiers}/{m}"),
            modifier(json!({"type": "status"})),
            400,
            vec!["data.attributes.value"],
        ),
        (
            Method::PUT,
            format!("{modifiers}/{m}"),
            modifier(json!({"type": "price_equals"})),
            400,
            vec!["data.attributes.value"],
        ),
    ];
    for (method, path, body, status, expected) in cases {
        let before = app.db.dump().await;
        let r = app
            .call(method.clone(), &path, Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{method} {path} {body}");
        assert_same_dump(&before, &app.db.dump().await, &format!("{method} {path} {body}"));
    }
    let r = app
        .post(
            &modifiers,
            &admin,
            modifier(json!({"type": "price", "reference_name": "Surcharge"})),
        )
        .await;
    assert_eq!(r.error()["title"], "Not Supported");
    assert!(
        r.error()["detail"].as_str().unwrap().contains("price_increment"),
        "the refusal names what to use instead: {}",
        r.body
    );
    // Implicit tokens may not administer variations.
    let shopper = app.implicit_token().await;
    let r = app.get("/pcm/variations", &shopper).await;
    assert_eq!(r.status, 403, "{}", r.body);
}

async fn attaching_variations_to_products(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (colour, _) = variation_with(&app, &admin, "Colour", &[("Red", vec![])]).await;
    let (size, _) = variation_with(&app, &admin, "Size", &[("S", vec![])]).await;
    let (fit, _) = variation_with(&app, &admin, "Fit", &[("Slim", vec![])]).await;
    let p = create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "Shirt", "sku": "SHIRT", "commodity_type": "physical"}}}),
    )
    .await;
    let rel = format!("/pcm/products/{p}/relationships/variations");
    let attached = |r: Resp| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                assert_eq!(v["type"], "product-variation");
                v["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert!(attached(app.get(&rel, &admin).await).is_empty());
    let r = app.post(&rel, &admin, refs(&[&colour, &size])).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = app.post(&rel, &admin, refs(&[&size, &fit])).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        attached(app.get(&rel, &admin).await),
        [colour.clone(), size.clone(), fit.clone()],
        "in the order attached; attaching one twice is no change"
    );
    let r = app
        .call(Method::DELETE, &rel, Some(&admin), Some(refs(&[&size])))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        attached(app.get(&rel, &admin).await),
        [colour.clone(), fit.clone()]
    );
    let r = app.put(&rel, &admin, refs(&[&fit, &size])).await;
    assert_eq!(r.status, 204);
    assert_eq!(attached(app.get(&rel, &admin).await), [fit.clone(), size.clone()]);

    let unknown = "00000000-0000-7000-8000-00000000abcd";
    let cases: Vec<(String, Value, u16, Vec<&str>)> = vec![
        (rel.clone(), refs(&[&colour, unknown]), 400, vec!["data"]),
        (
            rel.clone(),
            json!({"data": [{"type": "product", "id": colour}]}),
            400,
            vec!["data[0].type"],
        ),
        (
            rel.clone(),
            json!({"data": [{"type": "product-variation", "id": "red"}]}),
            400,
            vec!["data[0].id"],
        ),
        (
            rel.clone(),
            json!({"data": {"type": "product-variation", "id": colour}}),
            400,
            vec!["data"],
        ),
        (rel.clone(), json!({}), 400, vec!["data"]),
        (
            format!("/pcm/products/{unknown}/relationships/variations"),
            refs(&[&colour]),
            404,
            vec![""],
        ),
    ];
    for (path, body, status, expected) in cases {
        let before = app.db.dump().await;
        let r = app.post(&path, &admin, body.clone()).await;
        assert_eq!(r.status, status, "{path} {body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
        assert_same_dump(&before, &app.db.dump().await, &body.to_string());
    }
    // Deleting a variation detaches it.
    let r = app.delete(&format!("/pcm/variations/{fit}"), &admin).await;
    assert_eq!(r.status, 204);
    assert_eq!(attached(app.get(&rel, &admin).await), vec![size]);
}

async fn build_makes_each_combination_once_with_modifiers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (colour, colours) = variation_with(
        &app,
        &admin,
        "Colour",
        &[
            (
                "Red",
                vec![
                    json!({"type": "name_append", "value": " Red"}),
                    json!({"type": "sku_equals", "value": "SHIRT-{size}-RED"}),
                    json!({"type": "slug_append", "value": "-red"}),
                ],
            ),
            (
                "Blue",
                vec![
                    json!({"type": "name_append", "value": " Blue"}),
                    json!({"type": "sku_equals", "value": "SHIRT-{size}-BLUE"}),
                ],
            ),
        ],
    )
    .await;
    let (size, _) = variation_with(
        &app,
        &admin,
        "Size",
        &[
            (
                "S",
                vec![
                    json!({"type": "sku_builder", "seek": "{size}", "set": "S"}),
                    json!({"type": "status", "value": "draft"}),
                ],
            ),
            (
                "M",
                vec![
                    json!({"type": "sku_builder", "seek": "{size}", "set": "M"}),
                    json!({"type": "description_append", "value": " Medium."}),
                    json!({"type": "slug_prepend", "value": "m-"}),
                ],
            ),
        ],
    )
    .await;
    let body = json!({"data": {"type": "product", "attributes": {
        "name": "Shirt", "sku": "SHIRT", "slug": "shirt", "description": "Cotton.", "status": "live",
        "commodity_type": "physical", "mpn": "MPN-1", "extensions": {"products(shirt)": {"fit": "slim"}}
    }}});
    let p = create(&app, &admin, "/pcm/products", body).await;
    let r = app
        .post(
            &format!("/pcm/products/{p}/relationships/variations"),
            &admin,
            refs(&[&colour, &size]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let r = build(&app, &admin, &p).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let job = &r.body["data"];
    assert_eq!(job["type"], "pim-job");
    assert_eq!(job["attributes"]["type"], "child-products");
    assert_eq!(job["attributes"]["status"], "success");
    assert_eq!(
        (
            job["meta"]["children_created"].as_u64(),
            job["meta"]["children_total"].as_u64()
        ),
        (Some(4), Some(4))
    );

    let built = children(&app, &admin, &p).await;
    assert_eq!(
        skus(&built),
        ["SHIRT-M-BLUE", "SHIRT-M-RED", "SHIRT-S-BLUE", "SHIRT-S-RED"]
            .map(String::from)
            .into(),
    );
    let red_m = by_sku(&built, "SHIRT-M-RED");
    assert_eq!(red_m["attributes"]["name"], "Shirt Red");
    assert_eq!(red_m["attributes"]["description"], "Cotton. Medium.");
    assert_eq!(
        red_m["attributes"]["slug"], "m-shirt-red",
        "the options' slug modifiers in turn"
    );
    assert_eq!(red_m["attributes"]["status"], "live");
    assert_eq!(red_m["attributes"]["mpn"], "MPN-1", "inherited");
    assert_eq!(
        red_m["attributes"]["extensions"],
        json!({"products(shirt)": {"fit": "slim"}})
    );
    assert_eq!(red_m["meta"]["product_types"], json!(["child"]));
    assert_eq!(
        red_m["relationships"]["base_product"]["data"],
        json!({"type": "product", "id": p})
    );
    let blue_s = by_sku(&built, "SHIRT-S-BLUE");
    assert_eq!(blue_s["attributes"]["status"], "draft");
    assert_eq!(blue_s["attributes"]["description"], "Cotton.");
    assert_eq!(
        blue_s["attributes"]["slug"], "shirt-Blue-S",
        "the options' names by default"
    );
    let r = app.get(&format!("/pcm/products/{p}"), &admin).await;
    assert_eq!(r.body["data"]["meta"]["product_types"], json!(["parent"]));
    let r = app.get("/pcm/products?filter=eq(sku,SHIRT-S-RED)", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1, "children are products");

    // A second build adds nothing and changes nothing.
    let before = app.db.dump().await;
    let r = build(&app, &admin, &p).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.body["data"]["meta"]["children_created"].as_u64(),
            r.body["data"]["meta"]["children_total"].as_u64()
        ),
        (Some(0), Some(4))
    );
    assert_same_dump(&before, &app.db.dump().await, "a second build");

    // A new option: only its combinations are added; the others keep their ids.
    let ids: BTreeSet<String> = built
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let l = create(
        &app,
        &admin,
        &format!("/pcm/variations/{size}/options"),
        option("L"),
    )
    .await;
    for m in [
        json!({"type": "sku_builder", "seek": "{size}", "set": "L"}),
        json!({"type": "slug_prepend", "value": "l-"}),
    ] {
        create(
            &app,
            &admin,
            &format!("/pcm/variations/{size}/options/{l}/modifiers"),
            modifier(m),
        )
        .await;
    }
    let r = build(&app, &admin, &p).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.body["data"]["meta"]["children_created"].as_u64(),
            r.body["data"]["meta"]["children_total"].as_u64()
        ),
        (Some(2), Some(6))
    );
    let rebuilt = children(&app, &admin, &p).await;
    assert!(skus(&rebuilt).contains("SHIRT-L-RED") && skus(&rebuilt).contains("SHIRT-L-BLUE"));
    let kept: BTreeSet<String> = rebuilt
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.is_subset(&kept));

    // A child changed directly keeps the change through a rebuild.
    let child = red_m["id"].as_str().unwrap();
    let r = app
        .put(
            &format!("/pcm/products/{child}"),
            &admin,
            json!({"data": {"type": "product", "id": child, "attributes": {"name": "Crimson shirt"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    build(&app, &admin, &p).await;
    let r = app.get(&format!("/pcm/products/{child}"), &admin).await;
    assert_eq!(r.body["data"]["attributes"]["name"], "Crimson shirt");

    // Deleting the parent deletes its children.
    let r = app.delete(&format!("/pcm/products/{p}"), &admin).await;
    assert_eq!(r.status, 204);
    let r = app.get(&format!("/pcm/products/{child}"), &admin).await;
    assert_eq!(r.status, 404);
    let _ = colours;
}

async fn concurrent_builds_never_duplicate_a_child(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (colour, _) = variation_with(
        &app,
        &admin,
        "Colour",
        &[("Red", vec![]), ("Blue", vec![]), ("Green", vec![])],
    )
    .await;
    let (size, _) = variation_with(
        &app,
        &admin,
        "Size",
        &[("S", vec![]), ("M", vec![]), ("L", vec![])],
    )
    .await;
    let p = create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "Tee", "sku": "TEE", "commodity_type": "physical"}}}),
    )
    .await;
    let r = app
        .post(
            &format!("/pcm/products/{p}/relationships/variations"),
            &admin,
            refs(&[&colour, &size]),
        )
        .await;
    assert_eq!(r.status, 204);
    let builds = (0..6).map(|_| build(&app, &admin, &p));
    let answers = futures_util::future::join_all(builds).await;
    let mut created = 0;
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.body);
        created += r.body["data"]["meta"]["children_created"].as_u64().unwrap();
    }
    assert_eq!(created, 9, "each combination built by exactly one of the builds");
    let built = children(&app, &admin, &p).await;
    assert_eq!(built.len(), 9);
    assert_eq!(skus(&built).len(), 9);
}

async fn bad_builds_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (colour, _) = variation_with(&app, &admin, "Colour", &[("Red", vec![]), ("Blue", vec![])]).await;
    let empty = create(&app, &admin, "/pcm/variations", variation("Empty")).await;
    let product = |name: &str, sku: &str| json!({"data": {"type": "product", "attributes": {"name": name, "sku": sku, "commodity_type": "physical"}}});
    let plain = create(&app, &admin, "/pcm/products", product("Plain", "PLAIN")).await;
    let hollow = create(&app, &admin, "/pcm/products", product("Hollow", "HOLLOW")).await;
    let r = app
        .post(
            &format!("/pcm/products/{hollow}/relationships/variations"),
            &admin,
            refs(&[&colour, &empty]),
        )
        .await;
    assert_eq!(r.status, 204);
    let parent = create(&app, &admin, "/pcm/products", product("Shirt", "SHIRT")).await;
    let r = app
        .post(
            &format!("/pcm/products/{parent}/relationships/variations"),
            &admin,
            refs(&[&colour]),
        )
        .await;
    assert_eq!(r.status, 204);
    // A child whose sku another product already has: the build is refused whole.
    create(&app, &admin, "/pcm/products", product("Squatter", "SHIRT-Blue")).await;
    let r = build(&app, &admin, &parent).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(children(&app, &admin, &parent).await.is_empty(), "all or nothing");
    let r = app
        .delete(
            &format!("/pcm/products/{}", {
                let r = app.get("/pcm/products?filter=eq(sku,SHIRT-Blue)", &admin).await;
                r.body["data"][0]["id"].as_str().unwrap().to_owned()
            }),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = build(&app, &admin, &parent).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let child = children(&app, &admin, &parent).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let unknown = "00000000-0000-7000-8000-00000000abcd";
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("/pcm/products/{plain}/build"), 400, "no variations"),
        (format!("/pcm/products/{hollow}/build"), 400, "has no options"),
        (format!("/pcm/products/{child}/build"), 400, "child product"),
        (format!("/pcm/products/{unknown}/build"), 404, "No product"),
        ("/pcm/products/not-an-id/build".to_owned(), 404, "No product"),
    ];
    for (path, status, detail) in cases {
        let before = app.db.dump().await;
        let r = app.call(Method::POST, &path, Some(&admin), None).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert!(
            r.error()["detail"].as_str().unwrap().contains(detail),
            "{path}: {}",
            r.body
        );
        assert_same_dump(&before, &app.db.dump().await, &path);
    }
    // A child cannot have variations of its own.
    let before = app.db.dump().await;
    let r = app
        .post(
            &format!("/pcm/products/{child}/relationships/variations"),
            &admin,
            refs(&[&colour]),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_same_dump(&before, &app.db.dump().await, "variations on a child");
    let r = app
        .get(&format!("/pcm/products/{unknown}/children"), &admin)
        .await;
    assert_eq!(r.status, 404);
}

async fn published_parents_and_children_with_prices(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (colour, colours) = variation_with(
        &app,
        &admin,
        "Colour",
        &[
            ("Red", vec![json!({"type": "price_increment", "value": "200"})]),
            ("Blue", vec![]),
        ],
    )
    .await;
    let (size, sizes) = variation_with(
        &app,
        &admin,
        "Size",
        &[
            ("S", vec![json!({"type": "price_decrement", "value": "100"})]),
            ("M", vec![]),
        ],
    )
    .await;
    let r = app
        .put(
            &format!("/pcm/variations/{size}/options/{}", sizes[1]),
            &admin,
            json!({"data": {"type": "product-variation-option", "attributes": {"sort_order": 5}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let node = hierarchy(&app, &admin, "Clothes").await;
    let shirt = product(&app, &admin, &node, "Shirt", "SHIRT", "live").await;
    let mug = product(&app, &admin, &node, "Mug", "MUG", "live").await;
    let r = app
        .post(
            &format!("/pcm/products/{shirt}/relationships/variations"),
            &admin,
            refs(&[&colour, &size]),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(build(&app, &admin, &shirt).await.status, 201);
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "SHIRT", usd(1000)).await;
    price(&app, &admin, &book, "SHIRT-Blue-M", usd(1500)).await;
    price(&app, &admin, &book, "MUG", usd(500)).await;
    let cat = published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let shopper = app.implicit_token().await;

    let r = app.get(&format!("/catalog/products/{shirt}"), &shopper).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["attributes"]["base_product"], true);
    assert_eq!(d["meta"]["product_types"], json!(["parent"]));
    let variations = d["meta"]["variations"].as_array().unwrap();
    assert_eq!(variations.len(), 2);
    let size_shown = variations.iter().find(|v| v["id"] == size.as_str()).unwrap();
    assert_eq!(
        size_shown["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["M", "S"],
        "highest sort_order first"
    );
    let matrix = &d["meta"]["variation_matrix"];
    let kids = app
        .get(
            &format!("/catalog/products/{shirt}/relationships/children"),
            &shopper,
        )
        .await;
    assert_eq!(kids.status, 200, "{}", kids.body);
    assert_eq!(kids.body["meta"]["results"]["total"], 4);
    let kids = kids.body["data"].as_array().unwrap().clone();
    let red_s = by_sku(&kids, "SHIRT-Red-S");
    assert_eq!(
        matrix[&colours[0]][&sizes[0]], red_s["id"],
        "variation_matrix: colour option, then size option, to the child"
    );
    assert_eq!(
        d["relationships"]["children"]["data"].as_array().unwrap().len(),
        4
    );
    let amount = |c: &Value| c["meta"]["display_price"]["without_tax"]["amount"].as_i64();
    assert_eq!(amount(&red_s), Some(1100), "the parent's 1000 + 200 - 100");
    assert_eq!(amount(&by_sku(&kids, "SHIRT-Red-M")), Some(1200));
    assert_eq!(amount(&by_sku(&kids, "SHIRT-Blue-S")), Some(900));
    assert_eq!(
        amount(&by_sku(&kids, "SHIRT-Blue-M")),
        Some(1500),
        "its own price wins"
    );
    assert_eq!(red_s["attributes"]["base_product"], false);
    assert_eq!(red_s["attributes"]["base_product_id"], shirt.as_str());
    assert_eq!(red_s["meta"]["product_types"], json!(["child"]));
    assert_eq!(red_s["relationships"]["parent"]["data"]["id"], shirt.as_str());
    let named: Vec<(&str, &str)> = red_s["meta"]["child_variations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["option"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(named, [("Colour", "Red"), ("Size", "S")]);
    assert_eq!(
        red_s["meta"]["bread_crumb_nodes"], d["meta"]["bread_crumb_nodes"],
        "the parent's nodes"
    );

    // Children are catalog products; filters narrow them.
    let r = app
        .get("/catalog/products?filter=eq(product_types,child)", &shopper)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 4);
    let r = app
        .get(
            &format!("/catalog/products/{shirt}/relationships/children?filter=eq(sku,SHIRT-Blue-M)"),
            &shopper,
        )
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    let r = app
        .get(
            &format!("/catalog/products/{}", red_s["id"].as_str().unwrap()),
            &shopper,
        )
        .await;
    assert_eq!(amount(&r.body["data"]), Some(1100));

    let r = app
        .get(
            &format!("/catalog/products/{mug}/relationships/children"),
            &shopper,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    r.error();
    let r = app
        .get(
            "/catalog/products/00000000-0000-7000-8000-00000000abcd/relationships/children",
            &shopper,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app.get(&format!("/catalog/products/{mug}"), &shopper).await;
    assert_eq!(
        r.body["data"]["attributes"].get("base_product"),
        None,
        "standard products say nothing"
    );

    // Children whose option is gone stay products but leave the next release.
    let r = app
        .delete(&format!("/pcm/variations/{size}/options/{}", sizes[0]), &admin)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(children(&app, &admin, &shirt).await.len(), 4);
    publish(&app, &admin, &cat).await;
    let r = app
        .get(
            &format!("/catalog/products/{shirt}/relationships/children"),
            &shopper,
        )
        .await;
    assert_eq!(
        skus(r.body["data"].as_array().unwrap()),
        ["SHIRT-Blue-M", "SHIRT-Red-M"].map(String::from).into(),
    );
    let r = app.get(&format!("/catalog/products/{shirt}"), &shopper).await;
    let matrix = r.body["data"]["meta"]["variation_matrix"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(matrix.len(), 2);
    assert!(
        matrix
            .values()
            .all(|by_size| by_size.as_object().unwrap().len() == 1)
    );
}

async fn carts_take_children_and_refuse_parents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (colour, _) = variation_with(
        &app,
        &admin,
        "Colour",
        &[
            ("Red", vec![json!({"type": "price_equals", "value": "750"})]),
            ("Blue", vec![]),
        ],
    )
    .await;
    let node = hierarchy(&app, &admin, "Clothes").await;
    let shirt = product(&app, &admin, &node, "Shirt", "SHIRT", "live").await;
    let r = app
        .post(
            &format!("/pcm/products/{shirt}/relationships/variations"),
            &admin,
            refs(&[&colour]),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(build(&app, &admin, &shirt).await.status, 201);
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "SHIRT", usd(1000)).await;
    published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let red = by_sku(&children(&app, &admin, &shirt).await, "SHIRT-Red");
    let red = red["id"].as_str().unwrap();
    let shopper = app.implicit_token().await;

    let r = app
        .post(
            "/v2/carts/c1/items",
            &shopper,
            json!({"data": {"type": "cart_item", "id": red, "quantity": 2}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let item = &r.body["data"][0];
    assert_eq!(item["sku"], "SHIRT-Red");
    assert_eq!(item["product_id"], red);
    assert_eq!(
        item["unit_price"]["amount"], 750,
        "price_equals on the parent's price"
    );
    let r = app
        .post(
            "/v2/carts/c1/items",
            &shopper,
            json!({"data": {"type": "cart_item", "sku": "SHIRT-Blue", "quantity": 1}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let blue = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "SHIRT-Blue")
        .unwrap()
        .clone();
    assert_eq!(blue["unit_price"]["amount"], 1000, "the parent's price");

    for body in [
        json!({"data": {"type": "cart_item", "id": shirt, "quantity": 1}}),
        json!({"data": {"type": "cart_item", "sku": "SHIRT", "quantity": 1}}),
    ] {
        let before = app.db.dump().await;
        let r = app.post("/v2/carts/c1/items", &shopper, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let e = r.error();
        assert_eq!(e["title"], "Cannot add a parent product");
        assert_eq!(e["source"], "data.id");
        assert!(e["detail"].as_str().unwrap().contains("child products"));
        assert_same_dump(&before, &app.db.dump().await, &body.to_string());
    }
    let r = app.get("/v2/carts/c1/items", &shopper).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["meta"]["display_price"]["without_tax"]["amount"], 2500);

    // In a bulk add that may partly succeed, the parent is listed and the child added.
    let r = app
        .post(
            "/v2/carts/c2/items",
            &shopper,
            json!({"data": [
                {"type": "cart_item", "sku": "SHIRT-Red", "quantity": 1},
                {"type": "cart_item", "id": shirt, "quantity": 1},
            ], "options": {"add_all_or_nothing": false}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["errors"][0]["source"], "data[1].id");
    assert_eq!(r.body["errors"][0]["title"], "Cannot add a parent product");
}

async fn a_product_that_became_a_parent_is_not_checked_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Clothes").await;
    let shirt = product(&app, &admin, &node, "Shirt", "SHIRT", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "SHIRT", usd(1000)).await;
    let cat = published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let shopper = app.implicit_token().await;
    let r = app
        .post(
            "/v2/carts/c1/items",
            &shopper,
            json!({"data": {"type": "cart_item", "id": shirt, "quantity": 1}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (colour, _) = variation_with(&app, &admin, "Colour", &[("Red", vec![])]).await;
    let r = app
        .post(
            &format!("/pcm/products/{shirt}/relationships/variations"),
            &admin,
            refs(&[&colour]),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(build(&app, &admin, &shirt).await.status, 201);
    publish(&app, &admin, &cat).await;
    let address = json!({"first_name": "Ada", "last_name": "Lovelace", "line_1": "1 Main St",
        "city": "Springfield", "postcode": "12345", "country": "US", "region": "IL"});
    let before = app.db.dump().await;
    let r = app
        .post(
            "/v2/carts/c1/checkout",
            &shopper,
            json!({"data": {"customer": {"name": "Ada", "email": "ada@example.com"},
                "billing_address": address, "shipping_address": address}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Product not found");
    assert_same_dump(&before, &app.db.dump().await, "checkout of a parent");
}

fn rules_body(rules: Value) -> Value {
    json!({"data": {"type": "product", "attributes": {"build_rules": rules}}})
}

/// A shirt with Colour (Red, Blue) and Size (S, M, L) attached: the shirt's, the colours' and
/// the sizes' ids.
async fn shirt_with_variations(app: &TestApp, admin: &str) -> (String, Vec<String>, Vec<String>) {
    let (colour, colours) = variation_with(app, admin, "Colour", &[("Red", vec![]), ("Blue", vec![])]).await;
    let (size, sizes) =
        variation_with(app, admin, "Size", &[("S", vec![]), ("M", vec![]), ("L", vec![])]).await;
    let shirt = create(
        app,
        admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "Shirt", "sku": "SHIRT", "commodity_type": "physical"}}}),
    )
    .await;
    let r = app
        .post(
            &format!("/pcm/products/{shirt}/relationships/variations"),
            admin,
            refs(&[&colour, &size]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    (shirt, colours, sizes)
}

async fn build_rules_decide_what_a_build_makes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // Rules on a new product: only a default (it has no variations yet), shown as given.
    let r = app
        .post(
            "/pcm/products",
            &admin,
            json!({"data": {"type": "product", "attributes": {
                "name": "Plain", "commodity_type": "physical", "build_rules": {"default": "exclude"}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["attributes"]["build_rules"],
        json!({"default": "exclude"})
    );

    let (shirt, colours, sizes) = shirt_with_variations(&app, &admin).await;
    let [red, blue] = [&colours[0], &colours[1]];
    let [s, m, l] = [&sizes[0], &sizes[1], &sizes[2]];
    let path = format!("/pcm/products/{shirt}");
    let rules = json!({"default": "include", "exclude": [[blue]]});
    let r = app.put(&path, &admin, rules_body(rules.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["build_rules"], rules);
    assert_eq!(r.body["data"]["attributes"]["name"], "Shirt", "the rest is kept");
    // Shown on reads; kept by an update that does not name them.
    let r = app
        .put(
            &path,
            &admin,
            json!({"data": {"type": "product", "attributes": {"description": "Cotton."}}}),
        )
        .await;
    assert_eq!(r.body["data"]["attributes"]["build_rules"], rules, "{}", r.body);
    assert_eq!(
        app.get(&path, &admin).await.body["data"]["attributes"]["build_rules"],
        rules
    );
    let r = app.get("/pcm/products?filter=eq(sku,SHIRT)", &admin).await;
    assert_eq!(r.body["data"][0]["attributes"]["build_rules"], rules);

    // Excluded: Blue. Built: Red in every size.
    let r = build(&app, &admin, &shirt).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["meta"]["children_created"], 3, "{}", r.body);
    assert_eq!(
        skus(&children(&app, &admin, &shirt).await),
        ["SHIRT-Red-S", "SHIRT-Red-M", "SHIRT-Red-L"]
            .map(String::from)
            .into()
    );

    // New rules: Blue only in M (the longer rule wins), and Red-S excluded now. A rebuild adds
    // Blue-M; Red-S, built before, stays.
    let rules = json!({"default": "include", "include": [[blue, m]], "exclude": [[blue], [red, s]]});
    let r = app.put(&path, &admin, rules_body(rules.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = build(&app, &admin, &shirt).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["meta"]["children_created"], 1, "{}", r.body);
    assert_eq!(r.body["data"]["meta"]["children_total"], 4, "{}", r.body);
    let built = skus(&children(&app, &admin, &shirt).await);
    assert!(
        built.contains("SHIRT-Blue-M") && built.contains("SHIRT-Red-S"),
        "{built:?}"
    );

    // default exclude: only what a rule includes.
    let r = app
        .put(
            &path,
            &admin,
            rules_body(json!({"default": "exclude", "include": [[l]]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = build(&app, &admin, &shirt).await;
    assert_eq!(
        r.body["data"]["meta"]["children_created"], 1,
        "Blue-L: {}",
        r.body
    );

    // null clears the rules: every combination again.
    let r = app.put(&path, &admin, rules_body(Value::Null)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["data"]["attributes"].get("build_rules").is_none(),
        "{}",
        r.body
    );
    assert!(
        app.get(&path, &admin).await.body["data"]["attributes"]
            .get("build_rules")
            .is_none()
    );
    let r = build(&app, &admin, &shirt).await;
    assert_eq!(
        r.body["data"]["meta"]["children_created"], 1,
        "Blue-S: {}",
        r.body
    );
    assert_eq!(r.body["data"]["meta"]["children_total"], 6, "{}", r.body);

    // A rule naming an option deleted since matches nothing: the build goes on.
    let rules = json!({"default": "include", "exclude": [[l]]});
    let r = app.put(&path, &admin, rules_body(rules.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let size = app
        .get(&format!("/pcm/products/{shirt}/relationships/variations"), &admin)
        .await
        .body["data"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(&format!("/pcm/variations/{size}/options/{l}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    create(
        &app,
        &admin,
        &format!("/pcm/variations/{size}/options"),
        option("XL"),
    )
    .await;
    let r = build(&app, &admin, &shirt).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["meta"]["children_created"], 2,
        "Red-XL, Blue-XL: {}",
        r.body
    );
    assert_eq!(
        app.get(&path, &admin).await.body["data"]["attributes"]["build_rules"],
        rules,
        "kept as given"
    );
}

async fn bad_build_rules_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (shirt, colours, sizes) = shirt_with_variations(&app, &admin).await;
    let [red, blue] = [&colours[0], &colours[1]];
    let s = &sizes[0];
    let (_, others) = variation_with(&app, &admin, "Fit", &[("Slim", vec![])]).await;
    let slim = &others[0];
    let path = format!("/pcm/products/{shirt}");
    let r = app
        .put(
            &path,
            &admin,
            rules_body(json!({"default": "include", "exclude": [[blue]]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let at = "data.attributes.build_rules";
    let cases: Vec<(Value, Vec<String>, &str)> = vec![
        (json!("include"), vec![at.into()], "invalid"),
        (
            json!({"include": [[red]]}),
            vec![format!("{at}.default")],
            "required",
        ),
        (
            json!({"default": "all"}),
            vec![format!("{at}.default")],
            "invalid",
        ),
        (
            json!({"default": "include", "include": [red]}),
            vec![format!("{at}.include[0]")],
            "invalid",
        ),
        (
            json!({"default": "include", "exclude": [[red, "nope"]], "extra": 1}),
            vec![format!("{at}.extra"), format!("{at}.exclude[0][1]")],
            "invalid",
        ),
        (
            json!({"default": "include", "exclude": [[slim]]}),
            vec![format!("{at}.exclude[0][0]")],
            "not_found",
        ),
        (
            json!({"default": "include", "include": [[red, blue]]}),
            vec![format!("{at}.include[0]")],
            "invalid",
        ),
        (
            json!({"default": "include", "include": [[red]], "exclude": [[s]]}),
            vec![at.into()],
            "ambiguous",
        ),
    ];
    for (rules, expected, title) in cases {
        let before = app.db.dump().await;
        let r = app
            .put(
                &path,
                &admin,
                json!({"data": {"type": "product", "attributes": {"name": "Renamed", "build_rules": rules}}}),
            )
            .await;
        assert_eq!(r.status, 400, "{rules}: {}", r.body);
        assert_eq!(sources(&r), expected, "{rules}");
        assert_eq!(r.error()["title"], title, "{rules}: {}", r.body);
        assert_same_dump(&before, &app.db.dump().await, &rules.to_string());
    }
    let r = app
        .put(
            &path,
            &admin,
            rules_body(json!({"default": "include", "include": [[red]], "exclude": [[s]]})),
        )
        .await;
    assert!(
        r.error()["detail"].as_str().unwrap().starts_with(
            "could not determine whether to include or exclude a child product due to ambiguous rules"
        ),
        "Elastic Path's words: {}",
        r.body
    );
    // A new product has no variations: a rule naming an option is refused, nothing created.
    let before = app.db.dump().await;
    let r = app
        .post(
            "/pcm/products",
            &admin,
            json!({"data": {"type": "product", "attributes": {"name": "New", "commodity_type": "physical",
                "build_rules": {"default": "exclude", "include": [[red]]}}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(sources(&r), [format!("{at}.include[0][0]")]);
    assert!(
        r.error()["detail"].as_str().unwrap().contains("no variations"),
        "{}",
        r.body
    );
    assert_same_dump(&before, &app.db.dump().await, "rules on create");
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["data"]["attributes"]["name"], "Shirt");
    assert_eq!(
        r.body["data"]["attributes"]["build_rules"],
        json!({"default": "include", "exclude": [[blue]]})
    );
}
