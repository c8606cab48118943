//! The fixtures every test module shares: typed set-ups of the resources tests need (an account
//! shopper, a customer, a guest order, a published catalog, a file, a payment), so that no test
//! module imports another. Each asserts that its requests succeeded, so a test reads as what it
//! checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kassa_core::carts::{CartItem, ItemKind};
use kassa_core::time::now_millis;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, req};

/// A customer with a password (`waffles-4ever`), and a customer token for them.
pub(crate) struct Customer {
    pub id: String,
    pub token: String,
}

/// A member of a new account in a new realm, logged in with an account token.
pub(crate) struct AccountShopper {
    pub account: String,
    pub member: String,
    pub token: String,
}

impl TestApp {
    /// A new customer "Leslie Knope" with this email, and their customer token.
    pub(crate) async fn customer(&self, admin: &str, email: &str) -> Customer {
        let r = self
            .post(
                "/v2/customers",
                admin,
                json!({"data": {"type": "customer", "name": "Leslie Knope", "email": email, "password": "waffles-4ever"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["data"]["id"].as_str().unwrap().to_owned();
        let token = self.customer_login(email, "waffles-4ever").await;
        Customer { id, token }
    }

    /// A customer token for an existing customer's email and password.
    pub(crate) async fn customer_login(&self, email: &str, password: &str) -> String {
        let implicit = self.implicit_token().await;
        let r = self
            .post(
                "/v2/customers/tokens",
                &implicit,
                json!({"data": {"type": "token", "email": email, "password": password, "authentication_mechanism": "password"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["data"]["token"].as_str().unwrap().to_owned()
    }

    /// A member (`email`, password `pa55word-x`) of a new account named `account_name`, logged in.
    pub(crate) async fn account_shopper(
        &self,
        admin: &str,
        account_name: &str,
        email: &str,
    ) -> AccountShopper {
        let realm = realm(self, admin).await;
        let member = user(self, admin, &realm, email, "pa55word-x").await;
        let account = account(self, admin, account_name).await;
        assert_eq!(join(self, admin, &account, &member).await.status, 201);
        let r = login(self, &realm, email, "pa55word-x").await;
        assert_eq!(r.status, 201, "{}", r.body);
        let token = r.body["data"][0]["token"].as_str().unwrap().to_owned();
        AccountShopper {
            account,
            member,
            token,
        }
    }

    /// A guest order totalling `total`, checked out with an implicit token; returns its id.
    pub(crate) async fn guest_order(&self, admin: &str, total: i64) -> String {
        let cart = format!("c-{}", Uuid::new_v4().simple());
        add_custom(self, admin, &cart, "CUSTOM", 1, total).await;
        let implicit = self.implicit_token().await;
        checkout(self, &cart, &implicit, &[], guest_body()).await
    }
}

/// The realm and a password profile, as an admin sets them up.
pub(crate) struct Realm {
    pub id: String,
    pub profile: String,
}

pub(crate) async fn realm(app: &TestApp, admin: &str) -> Realm {
    let r = app.get("/v2/settings/account-authentication", admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["type"], "account_authentication_settings");
    assert_eq!(
        r.body["data"]["account_management_authentication_token_timeout_secs"],
        86400
    );
    let id = r.body["data"]["relationships"]["authentication_realm"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/v2/authentication-realms/{id}/password-profiles"),
            admin,
            json!({"data": {"type": "password_profile", "name": "passwords", "username_format": "email", "enable_one_time_password_token": false}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    Realm {
        id,
        profile: r.body["data"]["id"].as_str().unwrap().to_owned(),
    }
}

/// A user with a password; returns the member id.
pub(crate) async fn user(app: &TestApp, admin: &str, realm: &Realm, email: &str, password: &str) -> String {
    let r = app
        .post(
            &format!("/v2/authentication-realms/{}/user-authentication-info", realm.id),
            admin,
            json!({"data": {"type": "user_authentication_info", "name": "Ron Swanson", "email": email}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/v2/authentication-realms/{}/user-authentication-info/{id}/user-authentication-password-profile-info", realm.id),
            admin,
            json!({"data": {"type": "user_authentication_password_profile_info", "password_profile_id": realm.profile, "username": email, "password": password}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["data"].get("password").is_none());
    id
}

pub(crate) async fn account(app: &TestApp, admin: &str, name: &str) -> String {
    let r = app
        .post(
            "/v2/accounts",
            admin,
            json!({"data": {"type": "account", "name": name, "legal_name": format!("{name} Ltd")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn join(app: &TestApp, admin: &str, account: &str, member: &str) -> Resp {
    app.post(
        &format!("/v2/accounts/{account}/account-memberships"),
        admin,
        json!({"data": {"type": "account_membership", "account_member_id": member}}),
    )
    .await
}

pub(crate) async fn login(app: &TestApp, realm: &Realm, username: &str, password: &str) -> Resp {
    let implicit = app.implicit_token().await;
    app.post(
        "/v2/account-members/tokens",
        &implicit,
        json!({"data": {"type": "account_management_authentication_token", "authentication_mechanism": "password",
                        "password_profile_id": realm.profile, "username": username, "password": password}}),
    )
    .await
}

pub(crate) fn id(r: &Resp) -> String {
    r.body["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {}", r.body))
        .to_owned()
}

pub(crate) async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let r = app.post(path, token, body).await;
    assert_eq!(r.status, 201, "{path}: {}", r.body);
    id(&r)
}

/// A hierarchy with one node; returns both ids.
pub(crate) async fn hierarchy(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let h = create(
        app,
        admin,
        "/pcm/hierarchies",
        json!({"data": {"type": "hierarchy", "attributes": {"name": name}}}),
    )
    .await;
    let n = create(
        app,
        admin,
        &format!("/pcm/hierarchies/{h}/nodes"),
        json!({"data": {"type": "node", "attributes": {"name": format!("{name} node")}}}),
    )
    .await;
    (h, n)
}

/// A product of `status` placed in the node.
pub(crate) async fn product(
    app: &TestApp,
    admin: &str,
    (h, n): &(String, String),
    name: &str,
    sku: &str,
    status: &str,
) -> String {
    let p = create(
        app,
        admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {
            "name": name, "sku": sku, "slug": sku.to_lowercase(), "commodity_type": "physical", "status": status
        }}}),
    )
    .await;
    let r = app
        .post(
            &format!("/pcm/hierarchies/{h}/nodes/{n}/relationships/products"),
            admin,
            json!({"data": [{"type": "product", "id": p}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    p
}

pub(crate) async fn pricebook(app: &TestApp, admin: &str, name: &str) -> String {
    create(
        app,
        admin,
        "/pcm/pricebooks",
        json!({"data": {"type": "pricebook", "attributes": {"name": name}}}),
    )
    .await
}

/// A price of `sku` in the book; `attributes` extends `{sku}`.
pub(crate) async fn price(
    app: &TestApp,
    admin: &str,
    book: &str,
    sku: &str,
    mut attributes: Value,
) -> String {
    attributes["sku"] = json!(sku);
    create(
        app,
        admin,
        &format!("/pcm/pricebooks/{book}/prices"),
        json!({"data": {"type": "product-price", "attributes": attributes}}),
    )
    .await
}

/// Adds the currency EUR (not the default; 1:1, formatted `1.234,56 €`).
pub(crate) async fn add_euro(app: &TestApp, admin: &str) {
    let r = app
        .post(
            "/v2/currencies",
            admin,
            json!({"data": {"type": "currency", "code": "EUR", "exchange_rate": 1, "format": "{price} €",
                            "decimal_point": ",", "thousand_separator": ".", "decimal_places": 2,
                            "default": false, "enabled": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

pub(crate) fn usd(amount: i64) -> Value {
    json!({"currencies": {"USD": {"amount": amount, "includes_tax": false}}})
}

pub(crate) async fn catalog(app: &TestApp, admin: &str, name: &str, attributes: Value) -> String {
    let mut body = json!({"data": {"type": "catalog", "attributes": {"name": name}}});
    for (k, v) in attributes.as_object().unwrap() {
        body["data"]["attributes"][k] = v.clone();
    }
    create(app, admin, "/catalogs", body).await
}

/// A catalog over one hierarchy and one price book, published; its id.
pub(crate) async fn published_catalog(
    app: &TestApp,
    admin: &str,
    name: &str,
    node: &str,
    book: &str,
) -> String {
    let cat = catalog(
        app,
        admin,
        name,
        json!({"hierarchy_ids": [node], "pricebook_id": book}),
    )
    .await;
    publish(app, admin, &cat).await;
    cat
}

pub(crate) async fn publish(app: &TestApp, admin: &str, catalog: &str) -> String {
    let r = app
        .call(
            Method::POST,
            &format!("/catalogs/{catalog}/releases"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["meta"]["release_status"], "PUBLISHED");
    id(&r)
}

pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real (decodable) RGB PNG of `width`×`height`: zlib with stored blocks, no compression.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(&[(x * 40) as u8, (y * 40) as u8, 200]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    out
}

/// One part of a `multipart/form-data` body.
pub(crate) struct Part<'a> {
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub bytes: &'a [u8],
}

pub(crate) fn file_part<'a>(file_name: &'a str, bytes: &'a [u8]) -> Part<'a> {
    Part {
        name: "file",
        file_name: Some(file_name),
        content_type: Some("application/octet-stream"),
        bytes,
    }
}

pub(crate) fn text_part<'a>(name: &'a str, value: &'a str) -> Part<'a> {
    Part {
        name,
        file_name: None,
        content_type: None,
        bytes: value.as_bytes(),
    }
}

pub(crate) const BOUNDARY: &str = "kassa-test-boundary-7f3a9c";

pub(crate) fn form(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = p.file_name {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(t) = p.content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(p.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `POST /v2/files` with a multipart body made of `parts`.
pub(crate) async fn upload_to(url: &str, http: &reqwest::Client, token: &str, parts: &[Part<'_>]) -> Resp {
    let res = http
        .post(format!("{url}/v2/files"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form(parts))
        .send()
        .await
        .unwrap();
    Resp::read(res).await
}

pub(crate) async fn upload(app: &TestApp, token: &str, parts: &[Part<'_>]) -> Resp {
    upload_to(&app.url, &app.http, token, parts).await
}

/// Uploads `bytes` as `file_name`; the new file's `data`.
pub(crate) async fn uploaded(app: &TestApp, admin: &str, file_name: &str, bytes: &[u8]) -> Value {
    let r = upload(app, admin, &[file_part(file_name, bytes)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"].clone()
}

pub(crate) fn address() -> Value {
    json!({"first_name": "Ann", "last_name": "Perkins", "line_1": "1 Main St", "city": "Pawnee",
           "region": "IN", "postcode": "47998", "country": "US"})
}

pub(crate) fn guest_body() -> Value {
    json!({"data": {"customer": {"name": "Ann Perkins", "email": "ann@pawnee.gov"},
                    "billing_address": address(), "shipping_address": address()}})
}

/// Adds a custom line of `quantity` × `amount` (untaxed) to the cart.
pub(crate) async fn add_custom(
    app: &TestApp,
    admin: &str,
    cart: &str,
    sku: &str,
    quantity: i64,
    amount: i64,
) {
    let r = app
        .post(
            &format!("/v2/carts/{cart}/items"),
            admin,
            json!({"data": {"type": "custom_item", "name": sku, "sku": sku, "quantity": quantity,
                             "price": {"amount": amount, "includes_tax": false}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

pub(crate) async fn checkout(
    app: &TestApp,
    cart: &str,
    bearer: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> String {
    let r = req(
        app,
        Method::POST,
        &format!("/v2/carts/{cart}/checkout"),
        bearer,
        headers,
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn enable_manual(app: &TestApp, admin: &str) {
    let r = app
        .put("/v2/gateways/manual", admin, json!({"data": {"enabled": true}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

pub(crate) fn payment(method: &str, amount: Option<i64>) -> Value {
    let mut data = json!({"gateway": "manual", "method": method,
                          "paymentmethod_meta": {"custom_reference": "till-7", "name": "Cash"}});
    if let Some(a) = amount {
        data["amount"] = json!(a);
    }
    json!({ "data": data })
}

pub(crate) async fn pay(
    app: &TestApp,
    token: &str,
    headers: &[(&str, &str)],
    order: &str,
    body: Value,
) -> Resp {
    req(
        app,
        Method::POST,
        &format!("/v2/orders/{order}/payments"),
        token,
        headers,
        Some(body),
    )
    .await
}

/// The order as the admin reads it: `(status, payment, shipping, paid, authorized, balance_owing)`.
pub(crate) async fn order_state(
    app: &TestApp,
    admin: &str,
    order: &str,
) -> (String, String, String, i64, i64, i64) {
    let r = app.get(&format!("/v2/orders/{order}"), admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    let p = &d["meta"]["display_price"];
    (
        d["status"].as_str().unwrap().to_owned(),
        d["payment"].as_str().unwrap().to_owned(),
        d["shipping"].as_str().unwrap().to_owned(),
        p["paid"]["amount"].as_i64().unwrap(),
        p["authorized"]["amount"].as_i64().unwrap(),
        p["balance_owing"]["amount"].as_i64().unwrap(),
    )
}

pub(crate) async fn transactions(app: &TestApp, admin: &str, order: &str) -> Vec<Value> {
    let r = app.get(&format!("/v2/orders/{order}/transactions"), admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// A line of `quantity` × the product at 100 each, as adding a catalog product makes it (tests
/// write it through the store to skip publishing a catalog).
pub(crate) fn product_line(cart: &str, product: Uuid, sku: &str, quantity: i64) -> CartItem {
    let now = now_millis();
    CartItem {
        id: Uuid::now_v7(),
        cart_id: cart.into(),
        kind: ItemKind::Product,
        line_key: kassa_core::carts::product_line_key(product, &json!({})),
        product_id: Some(product),
        sku: Some(sku.into()),
        name: "Gift".into(),
        description: None,
        slug: None,
        quantity,
        unit_amount: 100,
        includes_tax: false,
        custom_inputs: json!({}),
        catalog_id: None,
        location: None,
        image: None,
        bundle: None,
        created_at: now,
        updated_at: now,
    }
}

/// A parsed HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Reads one response (head and a `Content-Length` body) within `limit`.
pub async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> RawResponse {
    tokio::time::timeout(limit, async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed before a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = head[9..12].parse().expect("status");
        let mut response = RawResponse {
            status,
            head,
            body: buf[head_end..].to_vec(),
        };
        let length: usize = response
            .header("content-length")
            .map_or(0, |v| v.parse().expect("content-length"));
        while response.body.len() < length {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed inside a body");
            response.body.extend_from_slice(&chunk[..n]);
        }
        response
    })
    .await
    .expect("a response in time")
}

/// Whether the server closes the connection within `limit` (reading and dropping anything sent).
pub async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A fresh directory for a development CA.
pub fn ca_dir() -> PathBuf {
    std::env::temp_dir().join(format!("kassa-tls-test-{}", uuid::Uuid::new_v4().simple()))
}

pub fn trusting(ca: &Path) -> reqwest::ClientBuilder {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
}
