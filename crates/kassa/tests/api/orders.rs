//! Reading orders: `GET /v2/orders` (who sees what, every filter, sorting, pagination,
//! `include=items`), `GET /v2/orders/{id}?include=items` and `GET /v2/orders/{id}/items`.
//!
//! Orders are mostly placed straight through the store, so each test controls statuses, times
//! and parties exactly (statuses change only through payments, which are another part); one
//! order per visibility test goes through a real checkout.

use std::sync::Arc;

use crate::backend_tests;
use crate::fixtures::{
    Customer, account, add_custom, enable_manual, guest_body, join, login, payment, realm, user,
};
use crate::helpers::{AM, Backend, CT, Resp, TestApp, raw, req};
use kassa_core::cart_totals::CalculationMethod;
use kassa_core::carts::ItemKind;
use kassa_core::order_state::{OrderStatus, PaymentStatus, ShippingStatus};
use kassa_core::orders::{OrderItem, PlacedOrder};
use kassa_core::store::Store;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    who_sees_which_orders,
    every_filter_kind,
    sorting_and_pagination,
    include_items_and_the_items_endpoint,
    bad_list_queries_are_400,
    order_responses_are_compact_json_with_sorted_keys,
);

/// 2023-11-14T22:13:20Z; order `n` is created `n` seconds later.
const BASE: i64 = 1_700_000_000_000;

async fn get(app: &TestApp, path: &str, bearer: &str, headers: &[(&str, &str)]) -> Resp {
    req(app, Method::GET, path, bearer, headers, None).await
}

fn v(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The ids of a listing, in order (asserting a 200).
async fn ids(app: &TestApp, query: &str, bearer: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let r = get(app, &format!("/v2/orders{query}"), bearer, headers).await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    let ids: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(r.body["meta"]["results"]["total"].as_u64().unwrap() as usize >= ids.len());
    ids
}

/// Order `n`: a guest order created (and updated) `n` seconds after [`BASE`].
fn order(n: i64) -> PlacedOrder {
    PlacedOrder {
        discounts: vec![],
        id: Uuid::new_v4(),
        status: OrderStatus::Incomplete,
        payment: PaymentStatus::Unpaid,
        shipping: ShippingStatus::Unfulfilled,
        cart_id: format!("cart-{n}"),
        currency: "USD".into(),
        order_number: None,
        external_ref: None,
        contact_name: None,
        contact_email: None,
        customer_name: Some(format!("Guest {n}")),
        customer_email: Some(format!("guest{n}@example.com")),
        customer_id: None,
        account_id: None,
        account_member_id: None,
        billing_address: json!({"first_name": "John", "last_name": "Doe", "line_1": "1 Main St", "postcode": format!("B{n}"), "country": "US", "region": "CA"}),
        shipping_address: json!({"first_name": "John", "last_name": "Doe", "line_1": "1 Main St", "postcode": format!("S{n}"), "country": "US", "region": "CA"}),
        custom_attributes: json!({}),
        calculation_method: CalculationMethod::Line,
        with_tax: 1000 * n,
        without_tax: 1000 * n,
        tax: 0,
        discount: 0,
        without_discount: 1000 * n,
        shipping_amount: 0,
        shipping_discount: 0,
        paid: 0,
        authorized: 0,
        balance_owing: 1000 * n,
        fully_paid_at: None,
        stock_allocated: false,
        created_at: BASE + n * 1000,
        updated_at: BASE + n * 1000,
    }
}

/// A custom line (`product` none) or a product line of `o`.
fn item(o: &PlacedOrder, position: i64, sku: &str, product: Option<Uuid>, quantity: i64) -> OrderItem {
    OrderItem {
        discounts: vec![],
        bundle: None,
        id: Uuid::new_v4(),
        order_id: o.id,
        position,
        cart_item_id: Uuid::new_v4(),
        kind: if product.is_some() {
            ItemKind::Product
        } else {
            ItemKind::Custom
        },
        product_id: product,
        sku: Some(sku.to_owned()),
        name: format!("Item {sku}"),
        description: None,
        quantity,
        unit_amount: 500,
        includes_tax: false,
        custom_inputs: json!({}),
        catalog_id: None,
        location: None,
        location_id: None,
        taxes: Vec::new(),
        created_at: o.created_at,
        updated_at: o.created_at,
    }
}

/// Places `o` with one 2 × 500 line (or the given items); returns its id as text.
async fn place(store: &Arc<dyn Store>, o: PlacedOrder, items: Option<Vec<OrderItem>>) -> String {
    let items = items.unwrap_or_else(|| vec![item(&o, 0, "DEFAULT", None, 2)]);
    let id = o.id.to_string();
    store.place_order(o, items, vec![], None, vec![]).await.unwrap();
    id
}

fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"][0]["token"].as_str().unwrap().to_owned()
}

async fn who_sees_which_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let store = app.store().await;
    let realm = realm(&app, &admin).await;
    let m1 = user(&app, &admin, &realm, "m1@example.com", "pa55word-x").await;
    let m2 = user(&app, &admin, &realm, "m2@example.com", "pa55word-x").await;
    let m3 = user(&app, &admin, &realm, "m3@example.com", "pa55word-x").await;
    let a = account(&app, &admin, "Pawnee").await;
    let b = account(&app, &admin, "Eagleton").await;
    for (acc, member) in [(&a, &m1), (&a, &m2), (&b, &m3)] {
        assert_eq!(join(&app, &admin, acc, member).await.status, 201);
    }
    let t1 = token_of(&login(&app, &realm, "m1@example.com", "pa55word-x").await);
    let t2 = token_of(&login(&app, &realm, "m2@example.com", "pa55word-x").await);
    let t3 = token_of(&login(&app, &realm, "m3@example.com", "pa55word-x").await);
    let Customer { id: c1, token: ct1 } = app.customer(&admin, "c1@example.com").await;
    let Customer { id: c2, token: ct2 } = app.customer(&admin, "c2@example.com").await;
    let (c1, c2) = (Uuid::parse_str(&c1).unwrap(), Uuid::parse_str(&c2).unwrap());
    let uuid = |s: &str| Uuid::parse_str(s).unwrap();
    let (admin, implicit) = (admin.as_str(), implicit.as_str());
    let (t1, t2, t3, ct1, ct2) = (t1.as_str(), t2.as_str(), t3.as_str(), ct1.as_str(), ct2.as_str());

    let of_account = |n, acc: &str, member: &str| PlacedOrder {
        account_id: Some(uuid(acc)),
        account_member_id: Some(uuid(member)),
        customer_name: None,
        customer_email: None,
        contact_name: Some("Ron".into()),
        contact_email: Some("ron@example.com".into()),
        ..order(n)
    };
    let of_customer = |n, c: Uuid| PlacedOrder {
        customer_id: Some(c),
        ..order(n)
    };
    let oa1 = place(&store, of_account(1, &a, &m1), None).await;
    let oa2 = place(&store, of_account(2, &a, &m2), None).await;
    let ob = place(&store, of_account(3, &b, &m3), None).await;
    let oc1 = place(&store, of_customer(4, c1), None).await;
    let oc2 = place(&store, of_customer(5, c2), None).await;
    let og = place(&store, order(6), None).await;
    // And one through a real checkout, by member 1 of account A: it is the newest order.
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/real/items",
        admin,
        &[],
        Some(json!({"data": {"type": "custom_item", "name": "Mug", "sku": "MUG", "quantity": 1, "price": {"amount": 1000}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let address = json!({"first_name": "John", "last_name": "Doe", "line_1": "1 Main St", "postcode": "92802",
                         "country": "US", "region": "CA"});
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/real/checkout",
        implicit,
        &[(AM, t1)],
        Some(
            json!({"data": {"contact": {"name": "Ron", "email": "ron@example.com"},
                             "billing_address": address, "shipping_address": address}}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let real = r.body["data"]["id"].as_str().unwrap().to_owned();

    // client_credentials: everything, newest first.
    assert_eq!(
        ids(&app, "", admin, &[]).await,
        v(&[&real, &og, &oc2, &oc1, &ob, &oa2, &oa1])
    );
    // An account token: every order of that account, whichever member placed it.
    for t in [t1, t2] {
        assert_eq!(ids(&app, "", implicit, &[(AM, t)]).await, v(&[&real, &oa2, &oa1]));
    }
    assert_eq!(ids(&app, "", implicit, &[(AM, t3)]).await, v(&[&ob]));
    // A filter cannot widen the scope.
    let other = format!("?filter=eq(account_id,{b})");
    assert!(ids(&app, &other, implicit, &[(AM, t1)]).await.is_empty());
    // A customer token: that customer's orders.
    assert_eq!(ids(&app, "", implicit, &[(CT, ct1)]).await, v(&[&oc1]));
    assert_eq!(ids(&app, "", implicit, &[(CT, ct2)]).await, v(&[&oc2]));
    // A shopper token narrows a client_credentials token too.
    assert_eq!(ids(&app, "", admin, &[(AM, t3)]).await, v(&[&ob]));
    // An implicit token alone may list nothing.
    let r = get(&app, "/v2/orders", implicit, &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["errors"][0]["status"], 403);
    // No token at all.
    let r = app.call(Method::GET, "/v2/orders", None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Single reads and items follow the same rule; what is not yours is 404, like a missing order.
    // (bearer, shopper headers, order id, expected status)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a String, u16);
    let cases: Vec<Case> = vec![
        (admin, vec![], &ob, 200),
        (implicit, vec![(AM, t1)], &oa2, 200),
        (implicit, vec![(AM, t2)], &real, 200),
        (implicit, vec![(AM, t1)], &ob, 404),
        (implicit, vec![(AM, t3)], &oa1, 404),
        (implicit, vec![(AM, t1)], &oc1, 404),
        (implicit, vec![(CT, ct1)], &oc1, 200),
        (implicit, vec![(CT, ct1)], &oc2, 404),
        (implicit, vec![(CT, ct1)], &oa1, 404),
        (implicit, vec![(CT, ct2)], &og, 404),
        (implicit, vec![], &oc1, 404),
        (admin, vec![(CT, ct1)], &oc2, 404),
    ];
    let missing = Uuid::new_v4().to_string();
    for (bearer, headers, id, status) in cases {
        for path in [format!("/v2/orders/{id}"), format!("/v2/orders/{id}/items")] {
            let r = get(&app, &path, bearer, &headers).await;
            assert_eq!(r.status, status, "{path} {headers:?}: {}", r.body);
            if status == 404 {
                // Indistinguishable from an order that does not exist.
                let gone = get(&app, &path.replace(id, &missing), bearer, &headers).await;
                assert_eq!(gone.status, 404);
                assert_eq!(r.body, gone.body);
            }
        }
    }
}

async fn every_filter_kind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let store = app.store().await;
    let (acc, member, customer, product) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let o1 = place(
        &store,
        PlacedOrder {
            status: OrderStatus::Complete,
            payment: PaymentStatus::Paid,
            shipping: ShippingStatus::Fulfilled,
            order_number: Some("ORD-100".into()),
            external_ref: Some("ext-abc".into()),
            customer_id: Some(customer),
            customer_name: Some("Ron Swanson".into()),
            customer_email: Some("ron@pawnee.gov".into()),
            ..order(1)
        },
        None,
    )
    .await;
    let mut second = PlacedOrder {
        status: OrderStatus::Processing,
        payment: PaymentStatus::Authorized,
        currency: "EUR".into(),
        order_number: Some("ORD-200".into()),
        external_ref: Some("ext-def".into()),
        account_id: Some(acc),
        account_member_id: Some(member),
        customer_name: None,
        customer_email: None,
        contact_name: Some("Leslie Knope".into()),
        contact_email: Some("leslie@pawnee.gov".into()),
        ..order(2)
    };
    second.updated_at = BASE + 10_000;
    let items = vec![
        item(&second, 0, "WAFFLE", Some(product), 1),
        item(&second, 1, "SYRUP", None, 3),
    ];
    let o2 = place(&store, second, Some(items)).await;
    let o3 = place(&store, order(3), None).await;

    let all = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases: Vec<(String, Vec<String>)> = vec![
        ("eq(status,complete)".into(), all(&[&o1])),
        ("eq(status,processing)".into(), all(&[&o2])),
        ("eq(status,cancelled)".into(), vec![]),
        ("eq(payment,paid)".into(), all(&[&o1])),
        ("eq(payment,unpaid)".into(), all(&[&o3])),
        ("eq(shipping,fulfilled)".into(), all(&[&o1])),
        ("eq(shipping,unfulfilled)".into(), all(&[&o3, &o2])),
        ("eq(currency,EUR)".into(), all(&[&o2])),
        (format!("eq(product_id,{product})"), all(&[&o2])),
        (format!("eq(product_id,{})", Uuid::new_v4()), vec![]),
        ("eq(product_sku,SYRUP)".into(), all(&[&o2])),
        ("eq(product_sku,DEFAULT)".into(), all(&[&o3, &o1])),
        ("eq(name,Ron Swanson)".into(), all(&[&o1])),
        ("like(name,Ron*)".into(), all(&[&o1])),
        ("like(name,Guest*)".into(), all(&[&o3])),
        ("eq(email,ron@pawnee.gov)".into(), all(&[&o1])),
        ("like(email,*@pawnee.gov)".into(), all(&[&o1])),
        (format!("eq(customer_id,{customer})"), all(&[&o1])),
        (
            format!("like(customer_id,{}*)", &customer.to_string()[..8]),
            all(&[&o1]),
        ),
        (format!("eq(account_id,{acc})"), all(&[&o2])),
        (
            format!("like(account_id,{}*)", &acc.to_string()[..8]),
            all(&[&o2]),
        ),
        (format!("eq(account_member_id,{member})"), all(&[&o2])),
        ("eq(contact.name,Leslie Knope)".into(), all(&[&o2])),
        ("like(contact.name,*Knope)".into(), all(&[&o2])),
        ("eq(contact.email,leslie@pawnee.gov)".into(), all(&[&o2])),
        ("like(contact.email,leslie*)".into(), all(&[&o2])),
        ("eq(shipping_postcode,S2)".into(), all(&[&o2])),
        ("like(shipping_postcode,S*)".into(), all(&[&o3, &o2, &o1])),
        ("eq(billing_postcode,B3)".into(), all(&[&o3])),
        ("like(billing_postcode,B1*)".into(), all(&[&o1])),
        ("gt(with_tax,1000)".into(), all(&[&o3, &o2])),
        ("ge(with_tax,2000):le(with_tax,2000)".into(), all(&[&o2])),
        ("lt(without_tax,2000)".into(), all(&[&o1])),
        ("le(without_tax,2000)".into(), all(&[&o2, &o1])),
        (format!("gt(created_at,{})", BASE + 1000), all(&[&o3, &o2])),
        (format!("ge(created_at,{})", BASE + 1000), all(&[&o3, &o2, &o1])),
        (format!("lt(created_at,{})", BASE + 2000), all(&[&o1])),
        (format!("le(created_at,{})", BASE + 2000), all(&[&o2, &o1])),
        (format!("eq(created_at,{})", BASE + 3000), all(&[&o3])),
        // Dates are whole days in UTC: all three are on 2023-11-14.
        (
            "ge(created_at,2023-11-14):lt(created_at,2023-11-15)".into(),
            all(&[&o3, &o2, &o1]),
        ),
        ("gt(created_at,2023-11-14T22:13:21Z)".into(), all(&[&o3, &o2])),
        (format!("ge(updated_at,{})", BASE + 5000), all(&[&o2])),
        (format!("lt(updated_at,{})", BASE + 5000), all(&[&o3, &o1])),
        ("eq(external_ref,ext-abc)".into(), all(&[&o1])),
        ("like(external_ref,ext-*)".into(), all(&[&o2, &o1])),
        ("eq(order_number,ORD-200)".into(), all(&[&o2])),
        ("like(order_number,ORD-*)".into(), all(&[&o2, &o1])),
        // Several filters are ANDed.
        ("eq(shipping,unfulfilled):eq(currency,USD)".into(), all(&[&o3])),
        ("eq(status,complete):eq(currency,EUR)".into(), vec![]),
    ];
    for (filter, expected) in cases {
        let query = format!("?filter={}", urlencode(&filter));
        let got = ids(&app, &query, &admin, &[]).await;
        assert_eq!(got, expected, "{filter}");
        let r = get(&app, &format!("/v2/orders{query}"), &admin, &[]).await;
        assert_eq!(r.body["meta"]["results"]["total"], expected.len(), "{filter}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn sorting_and_pagination(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let store = app.store().await;
    // 30 orders; `updated_at` runs the other way round from `created_at`.
    let mut placed = Vec::new();
    for n in 1..=30 {
        let o = PlacedOrder {
            updated_at: BASE + (100 - n) * 1000,
            ..order(n)
        };
        placed.push(place(&store, o, None).await);
    }
    // Two orders created in the same millisecond are still in a stable order (by id).
    let mut twins = Vec::new();
    for _ in 0..2 {
        twins.push(place(&store, order(40), None).await);
    }
    twins.sort();
    let newest_first: Vec<String> = twins.iter().rev().chain(placed.iter().rev()).cloned().collect();
    let oldest_first: Vec<String> = placed.iter().chain(twins.iter()).cloned().collect();

    let page =
        |limit: usize, offset: usize, sort: &str| format!("?page[limit]={limit}&page[offset]={offset}{sort}");
    // The default: newest first, 25 a page.
    let r = get(&app, "/v2/orders", &admin, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 25);
    assert_eq!(r.body["meta"]["results"]["total"], 32);
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 25, "offset": 0, "current": 1, "total": 2})
    );
    assert_eq!(ids(&app, "", &admin, &[]).await, newest_first[..25]);
    assert_eq!(
        ids(&app, "?sort=-created_at", &admin, &[]).await,
        newest_first[..25]
    );
    assert_eq!(
        ids(&app, "?sort=created_at", &admin, &[]).await,
        oldest_first[..25]
    );
    // updated_at: order 30 was updated first, order 1 last (the twins, at n = 40, earlier still).
    let by_update = ids(&app, &page(100, 0, "&sort=updated_at"), &admin, &[]).await;
    assert_eq!(
        by_update[2..],
        placed.iter().rev().cloned().collect::<Vec<_>>()[..]
    );
    let by_update_desc = ids(&app, &page(100, 0, "&sort=-updated_at"), &admin, &[]).await;
    assert_eq!(
        by_update_desc,
        by_update.iter().rev().cloned().collect::<Vec<_>>()
    );

    // Pages walk the whole list without gaps or repeats, in both directions.
    for (sort, expected) in [("", &newest_first), ("&sort=created_at", &oldest_first)] {
        let mut walked = Vec::new();
        for offset in (0..40).step_by(7) {
            walked.extend(ids(&app, &page(7, offset, sort), &admin, &[]).await);
        }
        assert_eq!(&walked, expected, "{sort}");
    }
    let r = get(&app, &format!("/v2/orders{}", page(10, 10, "")), &admin, &[]).await;
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 10, "offset": 10, "current": 2, "total": 4})
    );
    for link in ["current", "first", "last", "next", "prev"] {
        assert!(
            r.body["links"][link].as_str().unwrap().contains("page[limit]=10"),
            "{link}: {}",
            r.body["links"]
        );
    }
    assert!(
        r.body["links"]["next"]
            .as_str()
            .unwrap()
            .contains("page[offset]=20")
    );
    assert!(
        r.body["links"]["prev"]
            .as_str()
            .unwrap()
            .contains("page[offset]=0")
    );
    // Past the end: an empty page with the right total.
    let r = get(&app, &format!("/v2/orders{}", page(10, 100, "")), &admin, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["meta"]["results"]["total"], 32);
    // The 10,000 offset cap (EP's hard limit for orders) and the 100 page limit.
    let r = get(&app, &format!("/v2/orders{}", page(10, 10_000, "")), &admin, &[]).await;
    assert_eq!(r.status, 200);
    for (query, source) in [
        (page(10, 10_001, ""), "page[offset]"),
        (page(101, 0, ""), "page[limit]"),
        (page(0, 0, ""), "page[limit]"),
        ("?sort=with_tax".to_owned(), "sort"),
        ("?sort=-name".to_owned(), "sort"),
    ] {
        let r = get(&app, &format!("/v2/orders{query}"), &admin, &[]).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.body["errors"][0]["source"], source, "{query}");
    }
}

async fn include_items_and_the_items_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let store = app.store().await;
    let product = Uuid::new_v4();
    let first = order(1);
    let first_items = vec![
        item(&first, 0, "A", Some(product), 2),
        item(&first, 1, "B", None, 1),
        item(&first, 2, "C", None, 5),
    ];
    let first_item_ids: Vec<String> = first_items.iter().map(|i| i.id.to_string()).collect();
    let o1 = place(&store, first, Some(first_items)).await;
    let second = order(2);
    let second_items = vec![item(&second, 0, "D", None, 1)];
    let second_item_ids: Vec<String> = second_items.iter().map(|i| i.id.to_string()).collect();
    let o2 = place(&store, second, Some(second_items)).await;
    let item_ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // Without include: relationships name the items, nothing is included.
    let r = get(&app, "/v2/orders", &admin, &[]).await;
    assert!(r.body.get("included").is_none(), "{}", r.body);
    assert_eq!(
        item_ids(&r.body["data"][1]["relationships"]["items"]["data"]),
        first_item_ids
    );
    assert_eq!(
        r.body["data"][1]["relationships"]["items"]["data"][0]["type"],
        "item"
    );

    // include=items: every listed order's items at the top level, in order.
    let r = get(&app, "/v2/orders?include=items", &admin, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let included = &r.body["included"]["items"];
    let expected: Vec<String> = second_item_ids.iter().chain(&first_item_ids).cloned().collect();
    assert_eq!(item_ids(included), expected);
    assert_eq!(
        item_ids(&r.body["data"][0]["relationships"]["items"]["data"]),
        second_item_ids
    );
    let a = &included[1];
    assert_eq!(a["type"], "order_item");
    assert_eq!(a["sku"], "A");
    assert_eq!(a["quantity"], 2);
    assert_eq!(a["product_id"], product.to_string());
    assert_eq!(
        a["unit_price"],
        json!({"amount": 500, "currency": "USD", "includes_tax": false})
    );
    assert_eq!(a["value"]["amount"], 1000);
    // A page holds only its orders' items.
    let r = get(&app, "/v2/orders?include=items&page[limit]=1", &admin, &[]).await;
    assert_eq!(item_ids(&r.body["included"]["items"]), second_item_ids);
    let r = get(
        &app,
        "/v2/orders?include=items&filter=eq(currency,GBP)",
        &admin,
        &[],
    )
    .await;
    assert_eq!(r.body["included"]["items"], json!([]));

    // One order with include=items.
    let r = get(&app, &format!("/v2/orders/{o1}?include=items"), &admin, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(item_ids(&r.body["included"]["items"]), first_item_ids);
    let r = get(&app, &format!("/v2/orders/{o1}"), &admin, &[]).await;
    assert!(r.body.get("included").is_none());

    // The items endpoint: the same items, in cart order.
    let r = get(&app, &format!("/v2/orders/{o1}/items"), &admin, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(item_ids(&r.body["data"]), first_item_ids);
    assert_eq!(r.body["data"][2]["quantity"], 5);
    assert_eq!(r.body["data"][2]["value"]["amount"], 2500);
    let r = get(&app, &format!("/v2/orders/{o2}/items"), &admin, &[]).await;
    assert_eq!(item_ids(&r.body["data"]), second_item_ids);
    for path in [
        format!("/v2/orders/{}/items", Uuid::new_v4()),
        "/v2/orders/nope/items".into(),
    ] {
        assert_eq!(get(&app, &path, &admin, &[]).await.status, 404, "{path}");
    }
}

async fn bad_list_queries_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let store = app.store().await;
    let only = place(&store, order(1), None).await;
    let eleven = ["eq(currency,USD)"; 11].join(":");
    let ten = ["eq(currency,USD)"; 10].join(":");
    let cases = [
        ("eq(password,x)", "password"),
        ("like(status,c*)", "status"),
        ("gt(email,a)", "email"),
        ("eq(with_tax,100)", "with_tax"),
        ("gt(with_tax,lots)", "with_tax"),
        ("gt(created_at,yesterday)", "created_at"),
        ("eq(status,shipped)", "status"),
        ("eq(payment,free)", "payment"),
        ("eq(shipping,lost)", "shipping"),
        ("eq(account_id,not-a-uuid)", "account_id"),
        ("eq(customer_id,42)", "customer_id"),
        ("eq(product_id,x)", "product_id"),
        ("like(product_sku,A*)", "product_sku"),
        ("eq(status", "filter"),
        ("nope(status,complete)", "filter"),
        ("eq(status,complete):", "filter"),
        (eleven.as_str(), "10"),
    ];
    for (filter, named) in cases {
        let r = get(
            &app,
            &format!("/v2/orders?filter={}", urlencode(filter)),
            &admin,
            &[],
        )
        .await;
        assert_eq!(r.status, 400, "{filter}: {}", r.body);
        let e = &r.body["errors"][0];
        assert_eq!(e["status"], 400);
        assert_eq!(e["source"], "filter", "{filter}");
        assert!(
            e["detail"].as_str().unwrap().contains(named)
                || e["detail"] == "Could not parse the supplied filter",
            "{filter}: {e}"
        );
        if named != "filter" {
            assert!(e["detail"].as_str().unwrap().contains(named), "{filter}: {e}");
        }
    }
    // Ten filters are fine; nothing changed.
    assert_eq!(
        ids(&app, &format!("?filter={}", urlencode(&ten)), &admin, &[]).await,
        vec![only]
    );
}

/// The order and payment responses are compact JSON with the keys of every object in byte order:
/// exactly what serializing their parsed `Value` again gives. They are rendered from typed views
/// whose fields must stay in that order to keep the bytes of the former `Value` rendering. A
/// replayed `Idempotency-Key` response is the same bytes as the first.
async fn order_responses_are_compact_json_with_sorted_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let store = app.store().await;
    let mut bodies = Vec::new();
    let mut call = async |method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>| {
        let (status, content_type, text) = raw(&app, method, path, &admin, headers, body).await;
        assert_eq!(
            (status < 300, content_type.as_str()),
            (true, "application/json"),
            "{path}: {status} {text}"
        );
        bodies.push(text.clone());
        text
    };

    // A checked-out order: a taxed and an untaxed line, an order number and an external reference.
    add_custom(&app, &admin, "sorted", "MUG", 2, 1000).await;
    add_custom(&app, &admin, "sorted", "PEN", 1, 550).await;
    let cart = app.get("/v2/carts/sorted/items", &admin).await;
    let line = cart.body["data"][0]["id"].as_str().unwrap().to_owned();
    let tax = json!({"data": {"type": "tax_item", "name": "VAT", "jurisdiction": "UK", "rate": 0.2}});
    let r = app
        .post(&format!("/v2/carts/sorted/items/{line}/taxes"), &admin, tax)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut body = guest_body();
    body["data"]["order_number"] = json!("ORD-1");
    body["data"]["external_ref"] = json!("ext-1");
    let key = [("Idempotency-Key", "sorted-checkout")];
    let placed = call(
        Method::POST,
        "/v2/carts/sorted/checkout",
        &key,
        Some(body.clone()),
    )
    .await;
    let replayed = call(Method::POST, "/v2/carts/sorted/checkout", &key, Some(body)).await;
    assert_eq!(replayed, placed, "a replay is the first response's bytes");
    let id = serde_json::from_str::<Value>(&placed).unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A stored order with a contact, a named customer and a product line.
    let mut other = order(1);
    other.contact_name = Some("Ann".into());
    other.contact_email = Some("ann@example.com".into());
    other.custom_attributes = json!({"z": 1, "a": {"type": "string", "value": "x"}});
    let lines = vec![item(&other, 0, "P", Some(Uuid::new_v4()), 3)];
    place(&store, other, Some(lines)).await;

    for include in [
        "",
        "?include=items",
        "?include=tax_items",
        "?include=items,tax_items",
    ] {
        call(Method::GET, &format!("/v2/orders/{id}{include}"), &[], None).await;
        call(Method::GET, &format!("/v2/orders{include}"), &[], None).await;
    }
    call(
        Method::GET,
        "/v2/orders?include=items&page[limit]=1&page[offset]=1",
        &[],
        None,
    )
    .await;
    call(Method::GET, &format!("/v2/orders/{id}/items"), &[], None).await;

    // Paying it (with a replay), its transactions, a refund, and the paid order.
    enable_manual(&app, &admin).await;
    let key = [("Idempotency-Key", "sorted-payment")];
    let path = format!("/v2/orders/{id}/payments");
    let paid = call(Method::POST, &path, &key, Some(payment("purchase", None))).await;
    let replayed = call(Method::POST, &path, &key, Some(payment("purchase", None))).await;
    assert_eq!(replayed, paid, "a replay is the first response's bytes");
    let tx = serde_json::from_str::<Value>(&paid).unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(Method::GET, &format!("/v2/orders/{id}/transactions"), &[], None).await;
    call(
        Method::GET,
        &format!("/v2/orders/{id}/transactions/{tx}"),
        &[],
        None,
    )
    .await;
    let refund = json!({"data": {"amount": 100}});
    let path = format!("/v2/orders/{id}/transactions/{tx}/refund");
    call(Method::POST, &path, &[], Some(refund)).await;
    let order = call(Method::GET, &format!("/v2/orders/{id}?include=items"), &[], None).await;
    assert!(order.contains("\"fully_paid_at\""), "{order}");

    for body in bodies {
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap().to_string(), body);
    }
}
