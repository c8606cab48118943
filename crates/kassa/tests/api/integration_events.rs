//! The events of issue 23's second part, delivered to a real HTTP receiver: each with its
//! payload (the resource as the API renders it, or `{type, id}` for a deletion), and none
//! written for a change no integration observes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::add_custom;
use crate::helpers::{Backend, Options, TestApp};
use crate::integrations::{Delivery, Receiver, fast_policy, webhook};

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            delivery: fast_policy(),
            ..Options::default()
        },
    )
    .await
}

async fn integration(app: &TestApp, admin: &str, body: Value) -> String {
    let r = app.post("/v2/integrations", admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn jobs(app: &TestApp, admin: &str, hook: &str) -> u64 {
    let r = app
        .get(&format!("/v2/integrations/{hook}/jobs?page[limit]=1"), admin)
        .await;
    r.body["meta"]["results"]["total"].as_u64().unwrap()
}

fn of_kind<'a>(got: &'a [Delivery], kind: &str) -> Vec<&'a Delivery> {
    got.iter().filter(|d| d.body["triggered_by"] == kind).collect()
}

fn cart_total(d: &Delivery) -> i64 {
    d.body["payload"]["data"]["meta"]["display_price"]["with_tax"]["amount"]
        .as_i64()
        .unwrap()
}

/// `cart.updated` for a change of the cart's fields and of its lines (add, quantity, removal),
/// each carrying the cart after the change as `GET /v2/carts/{id}` renders it; `cart.deleted`
/// with only the type and id. Creating a cart is no event (Elastic Path's table has none).
async fn cart_events_carry_the_cart(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let hook = integration(
        &app,
        &admin,
        webhook(&receiver.url, &["cart.updated", "cart.deleted"]),
    )
    .await;
    let mut bystander = webhook(&receiver.url, &["order.created"]);
    bystander["data"]["name"] = json!("bystander");
    let bystander = integration(&app, &admin, bystander).await;

    let r = app
        .post("/v2/carts", &admin, json!({"data": {"name": "Wish list"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cart = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/carts/{cart}"),
            &admin,
            json!({"data": {"name": "Gifts"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    add_custom(&app, &admin, &cart, "mug", 2, 1250).await;
    let r = app.get(&format!("/v2/carts/{cart}/items"), &admin).await;
    let item = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/carts/{cart}/items/{item}"),
            &admin,
            json!({"data": {"quantity": 3}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .delete(&format!("/v2/carts/{cart}/items/{item}"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.delete(&format!("/v2/carts/{cart}"), &admin).await.status, 204);

    let got = receiver.wait_for(Duration::from_secs(10), |g| g.len() >= 5).await;
    let updated = of_kind(&got, "cart.updated");
    assert_eq!(updated.len(), 4, "{got:#?}");
    for d in &updated {
        let data = &d.body["payload"]["data"];
        assert_eq!(data["type"], "cart");
        assert_eq!(data["id"], cart.as_str());
        assert_eq!(data["name"], "Gifts");
        assert!(data["meta"]["timestamps"]["updated_at"].is_string(), "{data}");
        assert_eq!(d.body["integration"]["id"], hook.as_str());
    }
    let mut totals: Vec<i64> = updated.iter().map(|d| cart_total(d)).collect();
    totals.sort_unstable();
    assert_eq!(totals, [0, 0, 2500, 3750]);
    let with_item = updated.iter().find(|d| cart_total(d) == 2500).unwrap();
    assert_eq!(
        with_item.body["payload"]["data"]["relationships"]["items"]["data"][0]["id"],
        item.as_str()
    );
    let deleted = of_kind(&got, "cart.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].body["payload"], json!({"type": "cart", "id": cart}));
    // One job per observed change; the integration observing something else got none.
    assert_eq!(jobs(&app, &admin, &hook).await, 5);
    assert_eq!(jobs(&app, &admin, &bystander).await, 0);
}

/// `cart.updated` also for a promotion code added (alone, or in a bulk add of codes only) or
/// removed, a tax item added, changed or deleted (one or in bulk), and a clear of all the lines,
/// each with the cart as it is after the change; a removal of a code the cart does not hold
/// emits nothing.
async fn cart_events_for_codes_tax_items_and_a_clear(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let r = app
        .post(
            "/v2/rule-promotions",
            &admin,
            json!({"data": {"type": "rule_promotion", "name": "Ten off", "enabled": true,
                   "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let promotion = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/v2/rule-promotions/{promotion}/codes"),
            &admin,
            json!({"data": {"type": "promotion_codes", "codes": [{"code": "TEN"}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let hook = integration(&app, &admin, webhook(&receiver.url, &["cart.updated"])).await;

    let r = app
        .post("/v2/carts", &admin, json!({"data": {"name": "Codes"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cart = r.body["data"]["id"].as_str().unwrap().to_owned();
    add_custom(&app, &admin, &cart, "mug", 2, 1250).await;
    let items = format!("/v2/carts/{cart}/items");
    let code = json!({"type": "promotion_item", "code": "ten"});
    let r = app.post(&items, &admin, json!({ "data": code })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let discounts = format!("/v2/carts/{cart}/discounts/TEN");
    assert_eq!(app.delete(&discounts, &admin).await.status, 204);
    assert_eq!(app.delete(&discounts, &admin).await.status, 404);
    let r = app.post(&items, &admin, json!({ "data": [code] })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let line = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "custom_item")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tax = |rate: f64| json!({"type": "tax_item", "name": "VAT", "code": "VAT", "jurisdiction": "UK", "rate": rate});
    let taxes = format!("/v2/carts/{cart}/items/{line}/taxes");
    let r = app.post(&taxes, &admin, json!({ "data": tax(0.2) })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let vat = format!("{taxes}/{}", r.body["data"]["id"].as_str().unwrap());
    let r = app.put(&vat, &admin, json!({ "data": tax(0.1) })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.delete(&vat, &admin).await.status, 204);
    let mut bulk = tax(0.2);
    bulk["relationships"] = json!({"item": {"data": {"type": "custom_item", "id": line}}});
    let cart_taxes = format!("/v2/carts/{cart}/taxes");
    let r = app.post(&cart_taxes, &admin, json!({ "data": [bulk] })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(app.delete(&cart_taxes, &admin).await.status, 204);
    assert_eq!(app.delete(&items, &admin).await.status, 204);

    let got = receiver
        .wait_for(Duration::from_secs(10), |g| g.len() >= 10)
        .await;
    let updated = of_kind(&got, "cart.updated");
    assert_eq!(updated.len(), 10, "{got:#?}");
    let figure = |d: &Delivery, name: &str| {
        d.body["payload"]["data"]["meta"]["display_price"][name]["amount"]
            .as_i64()
            .unwrap()
    };
    // Without tax: the line, the code on it, off again, on again (in a bulk add), then with the
    // code the five tax item changes, then the lines cleared.
    let mut totals: Vec<i64> = updated.iter().map(|d| figure(d, "without_tax")).collect();
    totals.sort_unstable();
    assert_eq!(totals, [0, 2250, 2250, 2250, 2250, 2250, 2250, 2250, 2500, 2500]);
    for d in updated.iter().filter(|d| figure(d, "without_tax") == 2250) {
        assert_eq!(figure(d, "discount"), -250);
    }
    // The tax: 20 %, 10 %, none, 20 % in bulk, none.
    let mut tax_amounts: Vec<i64> = updated.iter().map(|d| figure(d, "tax")).collect();
    tax_amounts.sort_unstable();
    assert_eq!(tax_amounts, [0, 0, 0, 0, 0, 0, 0, 225, 450, 450]);
    let cleared = updated.iter().find(|d| cart_total(d) == 0).unwrap();
    let lines = &cleared.body["payload"]["data"]["relationships"]["items"]["data"];
    assert!(
        lines.as_array().unwrap().iter().all(|l| l["type"] != "cart_item"),
        "{lines}"
    );
    assert_eq!(jobs(&app, &admin, &hook).await, 10);
}

/// `cart.updated` for a custom discount added (on the cart, on a line, in bulk), changed or
/// deleted (one or all), each with the cart priced with its custom discounts after the change; a
/// deletion of a discount the cart does not have emits nothing.
async fn cart_events_for_custom_discounts(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let r = app
        .put(
            "/v2/carts/cd",
            &admin,
            json!({"data": {"discount_settings": {"custom_discounts_enabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    add_custom(&app, &admin, "cd", "mug", 2, 1250).await;
    let line = app.get("/v2/carts/cd/items", &admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Observed from here on: the five changes below.
    let hook = integration(&app, &admin, webhook(&receiver.url, &["cart.updated"])).await;
    let discount = |code: &str, amount: i64| {
        json!({"type": "custom_discount", "external_id": format!("ext-{code}"), "discount_engine": "Talon.one",
               "description": code, "discount_code": code, "amount": amount})
    };
    let on_cart = "/v2/carts/cd/custom-discounts";
    let r = app
        .post(on_cart, &admin, json!({ "data": discount("CART", -300) }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cart_discount = format!("{on_cart}/{}", r.body["data"]["id"].as_str().unwrap());
    let on_line = format!("/v2/carts/cd/items/{line}/custom-discounts");
    let r = app
        .post(&on_line, &admin, json!({ "data": discount("LINE", -200) }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .put(
            &cart_discount,
            &admin,
            json!({"data": {"type": "custom_discount", "amount": -100}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.delete(&cart_discount, &admin).await.status, 204);
    assert_eq!(app.delete(&cart_discount, &admin).await.status, 404);
    assert_eq!(app.delete(on_cart, &admin).await.status, 204);

    let got = receiver.wait_for(Duration::from_secs(10), |g| g.len() >= 5).await;
    let updated = of_kind(&got, "cart.updated");
    assert_eq!(updated.len(), 5, "{got:#?}");
    let mut discounts: Vec<i64> = updated
        .iter()
        .map(|d| {
            d.body["payload"]["data"]["meta"]["display_price"]["discount"]["amount"]
                .as_i64()
                .unwrap()
        })
        .collect();
    discounts.sort_unstable();
    // −3.00; −3.00 and −2.00; −1.00 and −2.00; −2.00; none.
    assert_eq!(discounts, [-500, -300, -300, -200, 0]);
    assert_eq!(jobs(&app, &admin, &hook).await, 5);
}

/// The payload of every delivery of `kind`, in the order the changes were made (by the
/// resource's `updated_at`, then arrival).
fn payloads(got: &[Delivery], kind: &str) -> Vec<Value> {
    of_kind(got, kind)
        .into_iter()
        .map(|d| d.body["payload"].clone())
        .collect()
}

/// Address books, currencies, catalog rules and releases: created, updated and deleted events,
/// each with the resource as the API answered the change (a deletion: its type and id).
async fn catalog_and_address_events_carry_their_resources(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let observes = [
        "address.created",
        "address.updated",
        "address.deleted",
        "currency.created",
        "currency.updated",
        "currency.deleted",
        "catalog-rule.created",
        "catalog-rule.updated",
        "catalog-rule.deleted",
        "catalog-release.created",
    ];
    let hook = integration(&app, &admin, webhook(&receiver.url, &observes)).await;

    // An address of a customer's book.
    let customer = app.customer(&admin, "ann@example.com").await.id;
    let book = format!("/v2/customers/{customer}/addresses");
    let mut address = crate::fixtures::address();
    address["type"] = json!("address");
    address["name"] = json!("Home");
    let r = app.post(&book, &admin, json!({ "data": address })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created_address = r.body.clone();
    let address_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("{book}/{address_id}"),
            &admin,
            json!({"data": {"type": "address", "name": "Work"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated_address = r.body.clone();
    let r = app.delete(&format!("{book}/{address_id}"), &admin).await;
    assert_eq!(r.status, 204);

    // A currency.
    let eur = json!({"data": {"type": "currency", "code": "EUR", "exchange_rate": 0.9, "format": "{price} €",
        "decimal_point": ",", "thousand_separator": ".", "decimal_places": 2, "default": false, "enabled": true}});
    let r = app.post("/v2/currencies", &admin, eur).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created_currency = r.body.clone();
    let currency = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/currencies/{currency}"),
            &admin,
            json!({"data": {"type": "currency", "exchange_rate": 0.95}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated_currency = r.body.clone();
    assert_eq!(
        app.delete(&format!("/v2/currencies/{currency}"), &admin)
            .await
            .status,
        204
    );

    // A catalog, published, and a rule for it.
    let (hierarchy, _) = crate::fixtures::hierarchy(&app, &admin, "Shop").await;
    let pricebook = crate::fixtures::pricebook(&app, &admin, "Prices").await;
    let catalog = crate::fixtures::catalog(
        &app,
        &admin,
        "Main",
        json!({"hierarchy_ids": [hierarchy], "pricebook_id": pricebook}),
    )
    .await;
    let release = crate::fixtures::publish(&app, &admin, &catalog).await;
    let r = app
        .post(
            "/catalogs/rules",
            &admin,
            json!({"data": {"type": "catalog_rule", "attributes": {
                "name": "mobile", "catalog_id": catalog, "channels": ["mobile"]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created_rule = r.body.clone();
    let rule = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/catalogs/rules/{rule}"),
            &admin,
            json!({"data": {"type": "catalog_rule", "id": rule, "attributes": {"name": "phones"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated_rule = r.body.clone();
    assert_eq!(
        app.delete(&format!("/catalogs/rules/{rule}"), &admin)
            .await
            .status,
        204
    );

    let got = receiver
        .wait_for(Duration::from_secs(10), |g| g.len() >= 10)
        .await;
    assert_eq!(got.len(), 10, "{got:#?}");
    assert_eq!(payloads(&got, "address.created"), [created_address]);
    assert_eq!(payloads(&got, "address.updated"), [updated_address]);
    assert_eq!(
        payloads(&got, "address.deleted"),
        [json!({"type": "address", "id": address_id})]
    );
    assert_eq!(payloads(&got, "currency.created"), [created_currency]);
    assert_eq!(payloads(&got, "currency.updated"), [updated_currency]);
    assert_eq!(
        payloads(&got, "currency.deleted"),
        [json!({"type": "currency", "id": currency})]
    );
    assert_eq!(payloads(&got, "catalog-rule.created"), [created_rule]);
    assert_eq!(payloads(&got, "catalog-rule.updated"), [updated_rule]);
    assert_eq!(
        payloads(&got, "catalog-rule.deleted"),
        [json!({"type": "catalog_rule", "id": rule})]
    );
    let released = payloads(&got, "catalog-release.created");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["data"]["id"], release.as_str());
    assert_eq!(jobs(&app, &admin, &hook).await, 10);
}

/// `settings.updated` (both settings documents), `payment-gateway.updated` and
/// `stock-transaction.created`, each with the API's answer; a refused stock transaction (more
/// than is available) emits nothing.
async fn settings_gateway_and_stock_events_carry_their_resources(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let observes = [
        "settings.created",
        "settings.updated",
        "payment-gateway.updated",
        "stock-transaction.created",
    ];
    let hook = integration(&app, &admin, webhook(&receiver.url, &observes)).await;
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "page_length": 50}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let settings = r.body.clone();
    let r = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "cart_expiry_days": 14}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cart_settings = r.body.clone();
    let r = app
        .put("/v2/gateways/manual", &admin, json!({"data": {"enabled": true}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let gateway = r.body.clone();
    let product = uuid::Uuid::now_v7();
    let r = app
        .post(
            &format!("/v2/inventories/{product}"),
            &admin,
            json!({"data": {"type": "stock", "quantity": 5}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let transactions = format!("/v2/inventories/{product}/transactions");
    let r = app
        .post(
            &transactions,
            &admin,
            json!({"data": {"type": "stock-transaction", "action": "increment", "quantity": 3}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let transaction = r.body.clone();
    let r = app
        .post(
            &transactions,
            &admin,
            json!({"data": {"type": "stock-transaction", "action": "decrement", "quantity": 99}}),
        )
        .await;
    assert!(r.status.as_u16() >= 400, "{}", r.body);

    let got = receiver.wait_for(Duration::from_secs(10), |g| g.len() >= 4).await;
    let mut updated = payloads(&got, "settings.updated");
    updated.sort_by_key(|p| p.to_string());
    let mut want = vec![settings, cart_settings];
    want.sort_by_key(|p| p.to_string());
    assert_eq!(updated, want);
    assert_eq!(payloads(&got, "payment-gateway.updated"), [gateway]);
    assert_eq!(payloads(&got, "stock-transaction.created"), [transaction]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 4);
    assert_eq!(jobs(&app, &admin, &hook).await, 4);
}

/// A member is both an account member and a user authentication info: each change of one emits
/// `account-member.*` and `user-authentication-info.*` (each with its own rendering);
/// memberships emit `account-membership.created` / `.deleted`.
async fn member_and_membership_events_carry_their_resources(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let observes = [
        "account-member.created",
        "account-member.updated",
        "account-member.deleted",
        "account-membership.created",
        "account-membership.updated",
        "account-membership.deleted",
        "user-authentication-info.created",
        "user-authentication-info.updated",
        "user-authentication-info.deleted",
    ];
    let hook = integration(&app, &admin, webhook(&receiver.url, &observes)).await;
    let realm = crate::fixtures::realm(&app, &admin).await;
    let r = app
        .post(
            &format!("/v2/authentication-realms/{}/user-authentication-info", realm.id),
            &admin,
            json!({"data": {"type": "user_authentication_info", "name": "Ron Swanson", "email": "ron@example.com"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created_user = r.body.clone();
    let member = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/account-members/{member}"),
            &admin,
            json!({"data": {"type": "account_member", "name": "Ron S."}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated_member = r.body.clone();
    let account = crate::fixtures::account(&app, &admin, "Pawnee").await;
    let r = crate::fixtures::join(&app, &admin, &account, &member).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created_membership = r.body.clone();
    let membership = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .delete(
            &format!("/v2/accounts/{account}/account-memberships/{membership}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .delete(
            &format!(
                "/v2/authentication-realms/{}/user-authentication-info/{member}",
                realm.id
            ),
            &admin,
        )
        .await;
    assert_eq!(r.status, 204);

    let got = receiver.wait_for(Duration::from_secs(10), |g| g.len() >= 8).await;
    assert_eq!(payloads(&got, "user-authentication-info.created"), [created_user]);
    let created_member = payloads(&got, "account-member.created");
    assert_eq!(created_member.len(), 1);
    assert_eq!(created_member[0]["data"]["type"], "account_member");
    assert_eq!(created_member[0]["data"]["id"], member.as_str());
    assert_eq!(payloads(&got, "account-member.updated"), [updated_member]);
    let updated_user = payloads(&got, "user-authentication-info.updated");
    assert_eq!(updated_user.len(), 1);
    assert_eq!(updated_user[0]["data"]["name"], "Ron S.");
    assert_eq!(payloads(&got, "account-membership.created"), [created_membership]);
    assert_eq!(
        payloads(&got, "account-membership.deleted"),
        [json!({"type": "account_membership", "id": membership})]
    );
    assert_eq!(
        payloads(&got, "account-member.deleted"),
        [json!({"type": "account_member", "id": member})]
    );
    assert_eq!(
        payloads(&got, "user-authentication-info.deleted"),
        [json!({"type": "user_authentication_info", "id": member})]
    );
    assert_eq!(jobs(&app, &admin, &hook).await, 8);
}

/// `file.created` with the file as the upload answered it, `file.deleted` with its type and id.
async fn file_events_carry_the_file(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let hook = integration(
        &app,
        &admin,
        webhook(&receiver.url, &["file.created", "file.deleted"]),
    )
    .await;
    let file = crate::fixtures::uploaded(&app, &admin, "logo.png", &crate::fixtures::png(2, 2)).await;
    let id = file["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/v2/files/{id}"), &admin).await.status, 204);
    let got = receiver.wait_for(Duration::from_secs(10), |g| g.len() >= 2).await;
    assert_eq!(payloads(&got, "file.created"), [json!({ "data": file })]);
    assert_eq!(
        payloads(&got, "file.deleted"),
        [json!({"type": "file", "id": id})]
    );
    assert_eq!(jobs(&app, &admin, &hook).await, 2);
}

/// A store has at most 100 integrations (Elastic Path's limit): the 101st create is refused and
/// stores nothing; after a delete there is room again.
async fn a_store_has_at_most_100_integrations(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let mut first = String::new();
    for n in 0..100 {
        let mut body = webhook("https://example.com/hook", &["order.created"]);
        body["data"]["name"] = json!(format!("hook {n}"));
        let id = integration(&app, &admin, body).await;
        if n == 0 {
            first = id;
        }
    }
    let r = app
        .post(
            "/v2/integrations",
            &admin,
            webhook("https://example.com/hook", &["order.created"]),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["errors"][0]["title"], "Integration limit reached");
    let r = app.get("/v2/integrations?page[limit]=1", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 100);
    assert_eq!(
        app.delete(&format!("/v2/integrations/{first}"), &admin)
            .await
            .status,
        204
    );
    integration(
        &app,
        &admin,
        webhook("https://example.com/hook", &["order.created"]),
    )
    .await;
}

backend_tests!(
    cart_events_carry_the_cart,
    cart_events_for_codes_tax_items_and_a_clear,
    cart_events_for_custom_discounts,
    catalog_and_address_events_carry_their_resources,
    settings_gateway_and_stock_events_carry_their_resources,
    member_and_membership_events_carry_their_resources,
    file_events_carry_the_file,
    a_store_has_at_most_100_integrations,
);
