//! Bundles in the catalog: `/pcm/products` with `components`, a bundle's component products,
//! bundles in published releases (components, default configuration, price, included component
//! products), `POST /catalog/products/{id}/configure`, and bundle lines in carts, orders and stock.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{create, hierarchy, price, pricebook, product, published_catalog, usd};
use crate::helpers::{Backend, Resp, TestApp, assert_same_dump};

backend_tests!(
    bundles_are_products_with_components,
    bad_bundles_change_nothing,
    published_bundles_show_components_configuration_and_price,
    configure_checks_and_prices_a_selection,
    bundle_lines_are_configured_priced_and_kept_apart,
    bad_bundle_items_change_nothing,
    bundle_lines_check_out_and_reorder_with_their_components,
    a_bundle_takes_its_components_stock_and_never_oversells,
    bundle_components_take_tax_items_of_their_own,
);

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

fn opt(id: &str, quantity: i64, default: bool) -> Value {
    json!({"id": id, "type": "product", "quantity": quantity, "default": default})
}

fn bundle_body(name: &str, sku: &str, components: Value) -> Value {
    json!({"data": {"type": "product", "attributes": {
        "name": name, "sku": sku, "slug": sku.to_lowercase(), "commodity_type": "physical",
        "status": "live", "components": components,
    }}})
}

/// A console bundle over `console`, `game_a`, `game_b`: one console (default), up to two games
/// (game_a, two of them, by default).
fn console_components(console: &str, game_a: &str, game_b: &str) -> Value {
    json!({
        "console": {"name": "Console", "min": 1, "max": 1, "sort_order": 1, "options": [opt(console, 1, true)]},
        "games": {"name": "Games", "min": 0, "max": 2, "sort_order": 2, "options": [
            opt(game_a, 2, true),
            {"id": game_b, "type": "product", "quantity": 1, "min": 1, "max": 3},
        ]},
    })
}

async fn bundles_are_products_with_components(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Games").await;
    let console = product(&app, &admin, &node, "Console", "CONSOLE", "live").await;
    let game_a = product(&app, &admin, &node, "Game A", "GAME-A", "live").await;
    let game_b = product(&app, &admin, &node, "Game B", "GAME-B", "live").await;
    let r = app
        .post(
            "/pcm/products",
            &admin,
            bundle_body(
                "Starter kit",
                "KIT",
                console_components(&console, &game_a, &game_b),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let kit = r.body["data"]["id"].as_str().unwrap().to_owned();
    let shown = app.get(&format!("/pcm/products/{kit}"), &admin).await;
    assert_eq!(shown.status, 200);
    let d = &shown.body["data"];
    assert_eq!(d["meta"]["product_types"], json!(["bundle"]));
    let games = &d["attributes"]["components"]["games"];
    assert_eq!(games["name"], "Games");
    assert_eq!((games["min"].as_i64(), games["max"].as_i64()), (Some(0), Some(2)));
    assert_eq!(games["options"][0], opt(&game_a, 2, true));
    assert_eq!(games["options"][1]["min"], 1);
    assert_eq!(games["options"][1]["max"], 3);
    assert_eq!(games["options"][1]["default"], false);
    let refs = |ids: &[&str]| {
        json!(
            ids.iter()
                .map(|id| json!({"type": "product", "id": id}))
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(
        d["relationships"]["component_products"]["data"],
        refs(&[&console, &game_a, &game_b])
    );
    let r = app
        .get(
            &format!("/pcm/products/{kit}/relationships/component_products"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"], refs(&[&console, &game_a, &game_b]));
    let r = app
        .get(
            &format!("/pcm/products/{console}/relationships/component_products"),
            &admin,
        )
        .await;
    assert_eq!(
        r.body["data"],
        json!([]),
        "a product that is not a bundle has none"
    );
    let plain = app.get(&format!("/pcm/products/{console}"), &admin).await;
    assert_eq!(plain.body["data"]["meta"]["product_types"], json!(["standard"]));
    assert!(plain.body["data"]["attributes"].get("components").is_none());

    // An update replaces the components; other attributes leave them be; null removes them.
    let r = app
        .put(
            &format!("/pcm/products/{kit}"),
            &admin,
            json!({"data": {"type": "product", "id": kit, "attributes": {
                "components": {"only": {"name": "Only", "options": [{"id": game_b}]}},
            }}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let only = &r.body["data"]["attributes"]["components"];
    assert_eq!(only.as_object().unwrap().len(), 1);
    assert_eq!(
        only["only"]["options"][0],
        opt(&game_b, 1, false),
        "quantity defaults to 1"
    );
    let r = app
        .put(
            &format!("/pcm/products/{kit}"),
            &admin,
            json!({"data": {"type": "product", "id": kit, "attributes": {"name": "Kit"}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"]["components"]["only"]["name"], "Only");
    let r = app
        .put(
            &format!("/pcm/products/{kit}"),
            &admin,
            json!({"data": {"type": "product", "id": kit, "attributes": {"components": null}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["data"]["attributes"].get("components").is_none());
    assert_eq!(r.body["data"]["meta"]["product_types"], json!(["standard"]));
    let r = app
        .get(
            &format!("/pcm/products/{kit}/relationships/component_products"),
            &admin,
        )
        .await;
    assert_eq!(r.body["data"], json!([]));
    let r = app
        .get(
            "/pcm/products/00000000-0000-0000-0000-000000000000/relationships/component_products",
            &admin,
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn bad_bundles_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Games").await;
    let console = product(&app, &admin, &node, "Console", "CONSOLE", "live").await;
    let game = product(&app, &admin, &node, "Game", "GAME", "live").await;
    let inner = create(
        &app,
        &admin,
        "/pcm/products",
        bundle_body(
            "Inner",
            "INNER",
            json!({"c": {"name": "C", "options": [opt(&game, 1, true)]}}),
        ),
    )
    .await;
    let missing = "00000000-0000-0000-0000-00000000beef";
    let c = "data.attributes.components";
    let cases = [
        (
            json!({"c": {"name": "C", "min": 2, "max": 1, "options": [opt(&console, 1, true), opt(&game, 1, false)]}}),
            vec![format!("{c}.c.min")],
        ),
        (
            json!({"c": {"name": "C", "options": [opt(&console, 0, true)]}}),
            vec![format!("{c}.c.options[0].quantity")],
        ),
        (
            json!({"c": {"name": "C", "options": [opt(missing, 1, true), opt(&game, 1, false)]}}),
            vec![format!("{c}.c.options[0].id")],
        ),
        (
            json!({"c": {"name": "C", "options": [opt(&game, 1, true)]}, "d": {"name": "D", "options": [opt(&inner, 1, true)]}}),
            vec![format!("{c}.d.options[0].id")],
        ),
        (
            json!({"c": {"options": [opt(&console, 1, true)]}, "d": {"name": "D", "options": []}}),
            vec![format!("{c}.c.name"), format!("{c}.d.options")],
        ),
        (
            json!({"c": {"name": "C", "options": [{"id": "nope"}]}}),
            vec![format!("{c}.c.options[0].id")],
        ),
        (json!("games"), vec![c.to_string()]),
    ];
    let before = app.db.dump().await;
    for (components, expected) in &cases {
        let r = app
            .post(
                "/pcm/products",
                &admin,
                bundle_body("Kit", "KIT", components.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{components}: {}", r.body);
        assert_eq!(&sources(&r), expected, "{components}");
        let r = app
            .put(
                &format!("/pcm/products/{console}"),
                &admin,
                json!({"data": {"type": "product", "id": console, "attributes": {"components": components}}}),
            )
            .await;
        assert_eq!(r.status, 400, "update {components}: {}", r.body);
        assert_eq!(&sources(&r), expected, "update {components}");
    }
    // A bundle of a bundle: named as such, whichever way.
    let r = app
        .post(
            "/pcm/products",
            &admin,
            bundle_body(
                "Kit",
                "KIT",
                json!({"c": {"name": "C", "options": [opt(&inner, 1, true)]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "bundle of a bundle");
    assert!(r.error()["detail"].as_str().unwrap().contains("is a bundle"));
    let r = app
        .put(
            &format!("/pcm/products/{inner}"),
            &admin,
            json!({"data": {"type": "product", "id": inner, "attributes": {
                "components": {"c": {"name": "C", "options": [opt(&inner, 1, true)]}},
            }}}),
        )
        .await;
    assert_eq!(r.status, 400, "a bundle is no option of itself: {}", r.body);
    assert_eq!(sources(&r), vec![format!("{c}.c.options[0].id")]);
    assert_same_dump(&before, &app.db.dump().await, "refused bundles");
}

/// A published catalog of a console (30.00), two games (5.00, 3.00), a dynamic bundle without a
/// price, a bundle with its own price and a bundle one of whose options is a draft; the ids.
struct Published {
    console: String,
    game_a: String,
    game_b: String,
    kit: String,
    priced_kit: String,
    shopper: String,
}

async fn published(app: &TestApp, admin: &str) -> Published {
    let node = hierarchy(app, admin, "Games").await;
    let console = product(app, admin, &node, "Console", "CONSOLE", "live").await;
    let game_a = product(app, admin, &node, "Game A", "GAME-A", "live").await;
    let game_b = product(app, admin, &node, "Game B", "GAME-B", "live").await;
    let draft = product(app, admin, &node, "Draft game", "GAME-DRAFT", "draft").await;
    let place = |id: String| {
        let node = node.clone();
        async move {
            let r = app
                .post(
                    &format!(
                        "/pcm/hierarchies/{}/nodes/{}/relationships/products",
                        node.0, node.1
                    ),
                    admin,
                    json!({"data": [{"type": "product", "id": id}]}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            id
        }
    };
    let kit = place(
        create(
            app,
            admin,
            "/pcm/products",
            bundle_body("Kit", "KIT", console_components(&console, &game_a, &game_b)),
        )
        .await,
    )
    .await;
    let mut priced = console_components(&console, &game_a, &game_b);
    priced["games"]["options"]
        .as_array_mut()
        .unwrap()
        .push(opt(&draft, 1, false));
    let priced_kit = place(
        create(
            app,
            admin,
            "/pcm/products",
            bundle_body("Priced kit", "PRICED-KIT", priced),
        )
        .await,
    )
    .await;
    let book = pricebook(app, admin, "Retail").await;
    price(app, admin, &book, "CONSOLE", usd(3000)).await;
    price(app, admin, &book, "GAME-A", usd(500)).await;
    price(app, admin, &book, "GAME-B", usd(300)).await;
    price(app, admin, &book, "PRICED-KIT", usd(3333)).await;
    published_catalog(app, admin, "Main", &node.0, &book).await;
    Published {
        console,
        game_a,
        game_b,
        kit,
        priced_kit,
        shopper: app.implicit_token().await,
    }
}

fn amount(d: &Value) -> Option<i64> {
    d["meta"]["display_price"]["without_tax"]["amount"].as_i64()
}

async fn published_bundles_show_components_configuration_and_price(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    let r = app
        .get(
            &format!("/catalog/products/{}?include=component_products", p.kit),
            &p.shopper,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["meta"]["product_types"], json!(["bundle"]));
    assert_eq!(
        d["attributes"]["components"]["console"]["options"][0]["id"],
        p.console.as_str()
    );
    assert_eq!(
        d["meta"]["bundle_configuration"],
        json!({"selected_options": {"console": {p.console.clone(): 1}, "games": {p.game_a.clone(): 2}}}),
        "the default options at their quantities"
    );
    assert_eq!(
        amount(d),
        Some(3000 + 2 * 500),
        "no price of its own: the defaults' sum"
    );
    assert_eq!(d["meta"]["display_price"]["with_tax"]["formatted"], "$40.00");
    assert_eq!(
        d["relationships"]["component_products"]["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let included: Vec<&str> = r.body["included"]["component_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        included,
        vec![p.console.as_str(), p.game_a.as_str(), p.game_b.as_str()]
    );
    let game_b = &r.body["included"]["component_products"][2];
    assert_eq!(amount(game_b), Some(300), "component products are priced");

    let r = app
        .get(&format!("/catalog/products/{}", p.priced_kit), &p.shopper)
        .await;
    let d = &r.body["data"];
    assert_eq!(amount(d), Some(3333), "its own price");
    assert_eq!(
        d["attributes"]["components"]["games"]["options"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the draft option is not published"
    );
    let r = app.get("/catalog/products?filter=eq(sku,KIT)", &p.shopper).await;
    assert_eq!(amount(&r.body["data"][0]), Some(4000), "listed the same way");
    let r = app
        .get(&format!("/catalog/products/{}", p.console), &p.shopper)
        .await;
    assert!(r.body["data"]["meta"].get("bundle_configuration").is_none());
    assert!(r.body["data"]["attributes"].get("components").is_none());
}

async fn configure_checks_and_prices_a_selection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    let configure = |id: String, body: Value| {
        let app = &app;
        let shopper = p.shopper.clone();
        async move {
            app.post(&format!("/catalog/products/{id}/configure"), &shopper, body)
                .await
        }
    };
    let selection =
        json!({"console": {p.console.clone(): 1}, "games": {p.game_a.clone(): 2, p.game_b.clone(): 3}});
    let r = configure(p.kit.clone(), json!({"data": {"selected_options": selection}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["id"], p.kit.as_str());
    assert_eq!(
        d["meta"]["bundle_configuration"],
        json!({"selected_options": selection})
    );
    assert_eq!(amount(d), Some(3000 + 2 * 500 + 3 * 300), "the selection's sum");
    let r = configure(
        p.kit.clone(),
        json!({"data": {"selected_options": {"console": {p.console.clone(): 1}}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(amount(&r.body["data"]), Some(3000), "no games");
    let r = configure(
        p.priced_kit.clone(),
        json!({"data": {"selected_options": selection}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        amount(&r.body["data"]),
        Some(3333),
        "a bundle with its own price keeps it"
    );

    let s = "data.selected_options";
    let bad = [
        (json!({"data": {}}), vec![s.to_string()]),
        (json!({"data": []}), vec!["data".to_string()]),
        (json!({}), vec!["data".to_string()]),
        (
            json!({"data": {"selected_options": {}}}),
            vec![format!("{s}.console")],
        ),
        (
            json!({"data": {"selected_options": {"console": {p.console.clone(): 1, p.game_a.clone(): 1}}}}),
            vec![format!("{s}.console.{}", p.game_a)],
        ),
        (
            json!({"data": {"selected_options": {"console": {p.console.clone(): 2}}}}),
            vec![format!("{s}.console.{}", p.console), format!("{s}.console")],
        ),
        (
            json!({"data": {"selected_options": {"console": {p.console.clone(): 1}, "games": {p.game_b.clone(): 4}}}}),
            vec![format!("{s}.games.{}", p.game_b)],
        ),
        (
            json!({"data": {"selected_options": {"console": {p.console.clone(): 1}, "dlc": {}}}}),
            vec![format!("{s}.dlc")],
        ),
    ];
    for (body, expected) in bad {
        let r = configure(p.kit.clone(), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
    let r = configure(p.console.clone(), json!({"data": {"selected_options": {}}})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error()["title"], "Not a bundle");
    let r = configure(
        "00000000-0000-0000-0000-000000000000".into(),
        json!({"data": {"selected_options": {}}}),
    )
    .await;
    assert_eq!(r.status, 404);
}

fn bundle_item(id: &str, quantity: i64, selected: Option<Value>) -> Value {
    let mut data = json!({"type": "cart_item", "id": id, "quantity": quantity});
    if let Some(selected) = selected {
        data["bundle_configuration"] = json!({"selected_options": selected});
    }
    json!({ "data": data })
}

/// The cart's lines, by id.
fn line<'a>(r: &'a Resp, id: &str) -> &'a Value {
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("no line {id}: {}", r.body))
}

/// A bundle is added with its default selection or the shopper's `bundle_configuration`,
/// priced by its own price or the sum of the selection, each selection its own line; the line
/// shows its configuration and components.
async fn bundle_lines_are_configured_priced_and_kept_apart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    let cart = "/v2/carts/bundle-lines/items";
    let r = app.post(cart, &p.shopper, bundle_item(&p.kit, 1, None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let defaults = r.body["data"][0].clone();
    assert_eq!(defaults["product_id"], p.kit.as_str());
    assert_eq!(
        defaults["unit_price"]["amount"],
        3000 + 2 * 500,
        "the defaults' sum"
    );
    assert_eq!(
        defaults["bundle_configuration"],
        json!({"selected_options": {"console": {p.console.clone(): 1}, "games": {p.game_a.clone(): 2}}})
    );
    assert_eq!(
        defaults["components"],
        json!({
            "console": {"name": "Console", "options": [{"id": p.console, "type": "product", "quantity": 1}]},
            "games": {"name": "Games", "options": [{"id": p.game_a, "type": "product", "quantity": 2}]},
        })
    );
    // Another selection is another line, priced by it: a console and three of game B.
    let three_b = json!({"console": {p.console.clone(): 1}, "games": {p.game_b.clone(): 3}});
    let r = app
        .post(cart, &p.shopper, bundle_item(&p.kit, 1, Some(three_b.clone())))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2, "{}", r.body);
    let other = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] != defaults["id"])
        .unwrap()
        .clone();
    assert_eq!(other["unit_price"]["amount"], 3000 + 3 * 300);
    assert_eq!(other["bundle_configuration"]["selected_options"], three_b);
    // The same selection again adds to its line; so does the default selection given in full.
    let r = app
        .post(cart, &p.shopper, bundle_item(&p.kit, 2, Some(three_b.clone())))
        .await;
    assert_eq!(line(&r, other["id"].as_str().unwrap())["quantity"], 3);
    let given_defaults = defaults["bundle_configuration"]["selected_options"].clone();
    let r = app
        .post(cart, &p.shopper, bundle_item(&p.kit, 1, Some(given_defaults)))
        .await;
    assert_eq!(line(&r, defaults["id"].as_str().unwrap())["quantity"], 2);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["meta"]["display_price"]["without_tax"]["amount"],
        2 * 4000 + 3 * 3900
    );
    // A bundle with a price of its own keeps it whatever is selected.
    let r = app
        .post(cart, &p.shopper, bundle_item(&p.priced_kit, 1, Some(three_b)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let priced = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == p.priced_kit.as_str())
        .unwrap();
    assert_eq!(priced["unit_price"]["amount"], 3333);
    // A changed quantity keeps the line's price (a bundle's sum has no volume tiers).
    let id = defaults["id"].as_str().unwrap();
    let r = app
        .put(
            &format!("{cart}/{id}"),
            &p.shopper,
            json!({"data": {"type": "cart_item", "id": id, "quantity": 5}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(line(&r, id)["unit_price"]["amount"], 4000);
    assert_eq!(line(&r, id)["value"]["amount"], 5 * 4000);
    // `include=component_products`: each bundle line's selected products, as the catalog shows
    // them (priced); asked on a read or on the add itself, and only then.
    assert!(
        line(&r, id)["bundle_configuration"]
            .get("component_products")
            .is_none()
    );
    // The selected products' skus and prices, from a list of lines.
    let shown = |lines: &Value| -> Vec<(String, i64)> {
        let line = lines.as_array().unwrap().iter().find(|l| l["id"] == id).unwrap();
        line["bundle_configuration"]["component_products"]
            .as_array()
            .unwrap_or_else(|| panic!("no component_products: {line}"))
            .iter()
            .map(|p| {
                let price = p["meta"]["display_price"]["without_tax"]["amount"].as_i64();
                (
                    p["attributes"]["sku"].as_str().unwrap().to_owned(),
                    price.unwrap(),
                )
            })
            .collect()
    };
    // In the order of the products' ids, as a selection lists them.
    let mut expected = vec![
        (p.console.clone(), ("CONSOLE".to_owned(), 3000)),
        (p.game_a.clone(), ("GAME-A".to_owned(), 500)),
    ];
    expected.sort();
    let expected: Vec<(String, i64)> = expected.into_iter().map(|(_, e)| e).collect();
    let r = app
        .get(&format!("{cart}?include=component_products"), &p.shopper)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(shown(&r.body["data"]), expected);
    let r = app
        .get(
            "/v2/carts/bundle-lines?include=items,component_products",
            &p.shopper,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(shown(&r.body["included"]["items"]), expected);
    let r = app
        .post(
            &format!("{cart}?include=component_products"),
            &p.shopper,
            bundle_item(&p.kit, 1, None),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(shown(&r.body["data"]), expected);
}

/// Each problem of a bundle item is a 400 naming its field, and the cart is left as it was.
async fn bad_bundle_items_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    let cart = "/v2/carts/bad-bundles/items";
    let r = app.post(cart, &p.shopper, bundle_item(&p.kit, 1, None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let s = "data.bundle_configuration.selected_options";
    let (console, a, b) = (p.console.clone(), p.game_a.clone(), p.game_b.clone());
    let cases: Vec<(Value, Vec<String>)> = vec![
        (
            bundle_item(
                &p.kit,
                1,
                Some(json!({"console": {console.clone(): 1}, "toys": {}})),
            ),
            vec![format!("{s}.toys")],
        ),
        (
            bundle_item(
                &p.kit,
                1,
                Some(
                    json!({"console": {console.clone(): 1}, "games": {a.clone(): 2, b.clone(): 1, console.clone(): 1}}),
                ),
            ),
            vec![format!("{s}.games.{console}")],
        ),
        (
            bundle_item(&p.kit, 1, Some(json!({"games": {b.clone(): 4}}))),
            vec![format!("{s}.games.{b}"), format!("{s}.console")],
        ),
        (
            bundle_item(&p.kit, 1, Some(json!(["not", "an", "object"]))),
            vec![s.to_owned()],
        ),
        (
            json!({"data": {"type": "cart_item", "id": p.kit, "quantity": 1, "bundle_configuration": {}}}),
            vec!["data.bundle_configuration".to_owned()],
        ),
        (
            bundle_item(&p.console, 1, Some(json!({}))),
            vec!["data.bundle_configuration".to_owned()],
        ),
    ];
    let before = app.db.dump().await;
    for (body, expected) in cases {
        let r = app.post(cart, &p.shopper, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(sources(&r), expected, "{body}");
    }
    assert_same_dump(&before, &app.db.dump().await, "refused bundle items");
}

/// Checkout copies a bundle line with its configuration and components into the order, priced
/// anew; re-ordering the order rebuilds the same line.
async fn bundle_lines_check_out_and_reorder_with_their_components(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    let two_b = json!({"console": {p.console.clone(): 1}, "games": {p.game_b.clone(): 2}});
    let r = app
        .post(
            "/v2/carts/bundle-order/items",
            &p.shopper,
            bundle_item(&p.kit, 2, Some(two_b.clone())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = crate::fixtures::checkout(
        &app,
        "bundle-order",
        &p.shopper,
        &[],
        crate::fixtures::guest_body(),
    )
    .await;
    let r = app
        .get(&format!("/v2/orders/{order}?include=items"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["included"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.body);
    let item = &items[0];
    assert_eq!(item["product_id"], p.kit.as_str());
    assert_eq!(item["quantity"], 2);
    assert_eq!(item["unit_price"]["amount"], 3000 + 2 * 300);
    assert_eq!(item["bundle_configuration"]["selected_options"], two_b);
    assert_eq!(item["components"]["games"]["name"], "Games");
    assert_eq!(
        item["components"]["games"]["options"],
        json!([{"id": p.game_b, "type": "product", "quantity": 2}])
    );
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["without_tax"]["amount"],
        2 * 3600
    );
    let r = app
        .post(
            "/v2/carts/bundle-reorder/items",
            &admin,
            json!({"data": {"type": "order_items", "order_id": order}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let lines = r.body["data"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{}", r.body);
    assert_eq!(lines[0]["quantity"], 2);
    assert_eq!(lines[0]["bundle_configuration"]["selected_options"], two_b);
    assert_eq!(lines[0]["unit_price"]["amount"], 3600);
}

/// Sets a product's stock.
async fn stock(app: &TestApp, admin: &str, product: &str, quantity: i64) {
    let r = app
        .post(
            &format!("/v2/inventories/{product}"),
            admin,
            json!({"data": {"type": "stock", "quantity": quantity}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// `(available, allocated)` of a product's stock.
async fn levels(app: &TestApp, admin: &str, product: &str) -> (i64, i64) {
    let r = app.get(&format!("/v2/inventories/{product}"), admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    (d["available"].as_i64().unwrap(), d["allocated"].as_i64().unwrap())
}

/// A bundle line takes its components' stock: the bundle shows the whole bundles they make, an
/// add beyond a component's stock is refused naming it, payment allocates each component, and
/// of orders paid at once only as many as the last console allows are paid.
async fn a_bundle_takes_its_components_stock_and_never_oversells(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    crate::fixtures::enable_manual(&app, &admin).await;
    stock(&app, &admin, &p.console, 2).await;
    stock(&app, &admin, &p.game_a, 100).await;
    // Its stock is what its components make: two consoles, fifty pairs of game A.
    assert_eq!(levels(&app, &admin, &p.kit).await, (2, 0));
    let r = app
        .get(&format!("/v2/inventories/{}", p.priced_kit), &p.shopper)
        .await;
    assert_eq!(r.status, 200, "a shopper reads it too: {}", r.body);
    let r = app.get(&format!("/v2/inventories/{}", p.game_b), &admin).await;
    assert_eq!(r.status, 404, "a product without stock has none: {}", r.body);
    // Three kits would take three consoles.
    let r = app
        .post(
            "/v2/carts/kit-stock/items",
            &p.shopper,
            bundle_item(&p.kit, 3, None),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    assert_eq!(r.error()["meta"]["id"], p.console.as_str());
    assert_eq!(sources(&r), ["data.quantity"]);
    let r = app
        .post(
            "/v2/carts/kit-late/items",
            &p.shopper,
            bundle_item(&p.kit, 1, None),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Five carts of one kit each pass checkout (stock is taken at payment); paid at once, two are.
    let mut orders = Vec::new();
    for n in 0..5 {
        let cart = format!("kit-race-{n}");
        let r = app
            .post(
                &format!("/v2/carts/{cart}/items"),
                &p.shopper,
                bundle_item(&p.kit, 1, None),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        orders.push(
            crate::fixtures::checkout(&app, &cart, &p.shopper, &[], crate::fixtures::guest_body()).await,
        );
    }
    let tasks: Vec<_> = orders
        .iter()
        .map(|order| {
            let (app, shopper, order) = (app.clone(), p.shopper.clone(), order.clone());
            tokio::spawn(async move {
                let r = crate::fixtures::pay(
                    &app,
                    &shopper,
                    &[],
                    &order,
                    crate::fixtures::payment("purchase", None),
                )
                .await;
                if r.status == 400 {
                    assert_eq!(r.error()["title"], "Insufficient stock", "{}", r.body);
                }
                r.status.as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 400, 400, 400]);
    assert_eq!(levels(&app, &admin, &p.console).await, (0, 2));
    assert_eq!(levels(&app, &admin, &p.game_a).await, (96, 4), "two games a kit");
    // The bundle holds no stock of its own: it shows how many its components make (none now).
    assert_eq!(levels(&app, &admin, &p.kit).await, (0, 0));
    // A cart holding a kit since before the consoles ran out is refused at checkout.
    let r = app
        .post(
            "/v2/carts/kit-late/checkout",
            &p.shopper,
            crate::fixtures::guest_body(),
        )
        .await;
    assert_eq!(r.status, 400, "no console left: {}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
}

/// The cart's tax total.
async fn cart_tax(app: &TestApp, token: &str, cart: &str) -> i64 {
    let r = app.get(&format!("/v2/carts/{cart}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["meta"]["display_price"]["tax"]["amount"]
        .as_i64()
        .unwrap()
}

fn tax_body(rate: Option<f64>, amount: Option<i64>) -> Value {
    let mut data = json!({"type": "tax_item", "name": "VAT", "code": "VAT", "jurisdiction": "UK"});
    if let Some(rate) = rate {
        data["rate"] = json!(rate);
    }
    if let Some(amount) = amount {
        data["amount"] = json!(amount);
    }
    json!({ "data": data })
}

/// Tax items on a bundle line's component products: a rate taxes the component's share of the
/// line (its part of the selection's value), an amount is added as it is; each is changed and
/// deleted only through its component, counted apart for the limit, and kept by the order.
async fn bundle_components_take_tax_items_of_their_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let p = published(&app, &admin).await;
    // A console (3000) and two of game B (300 each): 3600, the console 5/6 of it.
    let selected = json!({"console": {p.console.clone(): 1}, "games": {p.game_b.clone(): 2}});
    let r = app
        .post(
            "/v2/carts/taxed-kit/items",
            &p.shopper,
            bundle_item(&p.kit, 1, Some(selected.clone())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let line = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let component = |product: &str| format!("/v2/carts/taxed-kit/items/{line}/components/{product}/taxes");
    let r = app
        .post(&component(&p.console), &admin, tax_body(Some(0.2), None))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["meta"]["component_product_id"], p.console.as_str());
    let on_console = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cart_tax(&app, &admin, "taxed-kit").await, 600, "20 % of 3000");
    let r = app
        .post(&component(&p.game_b), &admin, tax_body(None, Some(50)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let on_games = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cart_tax(&app, &admin, "taxed-kit").await, 650);
    // Bulk, with the component in `meta`: 10 % of game B's 600.
    let bulk = |meta: Value| {
        json!({"data": [{"type": "tax_item", "name": "GST", "rate": 0.1, "meta": meta,
            "relationships": {"item": {"data": {"type": "cart_item", "id": line}}}}]})
    };
    let r = app
        .post(
            "/v2/carts/taxed-kit/taxes",
            &admin,
            bulk(json!({"component_product_id": p.game_b})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(cart_tax(&app, &admin, "taxed-kit").await, 710);
    // Components the bundle line lacks, and malformed ones, change nothing.
    let before = app.db.dump().await;
    let r = app
        .post(&component(&p.game_a), &admin, tax_body(Some(0.2), None))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.error()["meta"]["component_product_id"], p.game_a.as_str());
    let r = app
        .post(&component("not-a-product"), &admin, tax_body(Some(0.2), None))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app
        .post(
            "/v2/carts/taxed-kit/taxes",
            &admin,
            bulk(json!({"component_product_id": "nope"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(sources(&r), ["data[0].meta.component_product_id"]);
    let r = app
        .post(
            "/v2/carts/taxed-kit/taxes",
            &admin,
            bulk(json!({"component_product_id": p.game_a})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app
        .post(&component(&p.console), &p.shopper, tax_body(Some(0.2), None))
        .await;
    assert_eq!(r.status, 403, "only an admin sets tax: {}", r.body);
    assert_same_dump(&before, &app.db.dump().await, "refused component taxes");
    // Changed and deleted through its component only.
    let r = app
        .put(
            &format!("/v2/carts/taxed-kit/items/{line}/taxes/{on_console}"),
            &admin,
            tax_body(Some(0.1), None),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app
        .put(
            &format!("{}/{on_console}", component(&p.console)),
            &admin,
            tax_body(Some(0.1), None),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(cart_tax(&app, &admin, "taxed-kit").await, 300 + 50 + 60);
    let r = app
        .delete(
            &format!("/v2/carts/taxed-kit/items/{line}/taxes/{on_games}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app
        .delete(&format!("{}/{on_games}", component(&p.game_b)), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(cart_tax(&app, &admin, "taxed-kit").await, 360);
    // The order keeps them: the same tax.
    let order =
        crate::fixtures::checkout(&app, "taxed-kit", &p.shopper, &[], crate::fixtures::guest_body()).await;
    let r = app.get(&format!("/v2/orders/{order}"), &admin).await;
    assert_eq!(r.body["data"]["meta"]["display_price"]["tax"]["amount"], 360);
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["with_tax"]["amount"],
        3960
    );

    // Five tax items a component, counted apart from the line's.
    let r = app
        .post(
            "/v2/carts/taxed-kit-2/items",
            &p.shopper,
            bundle_item(&p.kit, 1, Some(selected)),
        )
        .await;
    let line = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/v2/carts/taxed-kit-2/items/{line}/components/{}/taxes",
        p.console
    );
    for _ in 0..5 {
        let r = app.post(&path, &admin, tax_body(None, Some(1))).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = app.post(&path, &admin, tax_body(None, Some(1))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.error()["detail"].as_str().unwrap().contains("bundle component"),
        "{}",
        r.body
    );
    let r = app
        .post(
            &format!("/v2/carts/taxed-kit-2/items/{line}/taxes"),
            &admin,
            tax_body(None, Some(1)),
        )
        .await;
    assert_eq!(r.status, 201, "the line's own: {}", r.body);
    assert_eq!(cart_tax(&app, &admin, "taxed-kit-2").await, 6);
}
