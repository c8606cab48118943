//! `DELETE /pcm/products/{id}`: a product a bundle has as a component option is not deleted
//! (Elastic Path: "You cannot delete a product if it is part of a bundle"), nor a parent one of
//! whose children a bundle has; a bundle written while the product is deleted never ends up
//! naming a product that is gone.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::create;
use crate::helpers::{Backend, TestApp, assert_same_dump};

backend_tests!(
    products_a_bundle_uses_are_not_deleted,
    a_bundle_written_during_a_delete_never_names_a_deleted_product,
);

fn product_body(name: &str, sku: &str) -> Value {
    json!({"data": {"type": "product", "attributes": {"name": name, "sku": sku, "commodity_type": "physical"}}})
}

fn bundle_body(sku: &str, options: &[&str]) -> Value {
    let options: Vec<Value> = options
        .iter()
        .map(|id| json!({"id": id, "type": "product", "quantity": 1}))
        .collect();
    json!({"data": {"type": "product", "attributes": {
        "name": sku, "sku": sku, "commodity_type": "physical",
        "components": {"things": {"name": "Things", "options": options}},
    }}})
}

async fn delete(app: &TestApp, admin: &str, id: &str) -> crate::helpers::Resp {
    app.delete(&format!("/pcm/products/{id}"), admin).await
}

async fn products_a_bundle_uses_are_not_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mug = create(&app, &admin, "/pcm/products", product_body("Mug", "MUG")).await;
    let tea = create(&app, &admin, "/pcm/products", product_body("Tea", "TEA")).await;
    let bundle = create(&app, &admin, "/pcm/products", bundle_body("GIFT", &[&mug, &tea])).await;

    // A parent whose child is an option of another bundle.
    let v = create(
        &app,
        &admin,
        "/pcm/variations",
        json!({"data": {"type": "product-variation", "attributes": {"name": "Size"}}}),
    )
    .await;
    for size in ["S", "M"] {
        create(
            &app,
            &admin,
            &format!("/pcm/variations/{v}/options"),
            json!({"data": {"type": "product-variation-option", "attributes": {"name": size, "description": size}}}),
        )
        .await;
    }
    let shirt = create(&app, &admin, "/pcm/products", product_body("Shirt", "SHIRT")).await;
    let r = app
        .post(
            &format!("/pcm/products/{shirt}/relationships/variations"),
            &admin,
            json!({"data": [{"type": "product-variation", "id": v}]}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .call(
            Method::POST,
            &format!("/pcm/products/{shirt}/build"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.get("/pcm/products?filter=eq(sku,SHIRT-S)", &admin).await;
    let small = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let outfit = create(
        &app,
        &admin,
        "/pcm/products",
        bundle_body("OUTFIT", &[&small, &tea]),
    )
    .await;

    let cases = [
        (&mug, &bundle, "The product"),
        (&tea, &bundle, "The product"),
        (&small, &outfit, "The product"),
        (&shirt, &outfit, "Its child product"),
    ];
    for (product, by, what) in cases {
        let before = app.db.dump().await;
        let r = delete(&app, &admin, product).await;
        assert_eq!(r.status, 422, "{product}: {}", r.body);
        let e = r.error();
        assert_eq!(e["status"], "422", "PCM statuses are strings: {}", r.body);
        assert_eq!(e["title"], "Product In Bundle");
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.starts_with(what), "{detail}");
        assert!(detail.contains(by.as_str()), "names the bundle: {detail}");
        if what != "The product" {
            assert!(detail.contains(&small), "names the child: {detail}");
        }
        assert_same_dump(&before, &app.db.dump().await, product);
    }

    // Once no bundle names it, it goes (a parent with its children).
    let r = app
        .put(
            &format!("/pcm/products/{outfit}"),
            &admin,
            json!({"data": {"type": "product", "attributes": {"components": {"things": {"name": "Things", "options": [{"id": tea, "type": "product", "quantity": 1}]}}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(delete(&app, &admin, &shirt).await.status, 204);
    assert_eq!(
        app.get(&format!("/pcm/products/{small}"), &admin).await.status,
        404,
        "children go with their parent"
    );
    // Deleting a bundle frees its options.
    assert_eq!(delete(&app, &admin, &bundle).await.status, 204);
    assert_eq!(delete(&app, &admin, &mug).await.status, 204);
    assert_eq!(delete(&app, &admin, &tea).await.status, 422, "still in OUTFIT");
    // A bundle that stops being one frees them too.
    let r = app
        .put(
            &format!("/pcm/products/{outfit}"),
            &admin,
            json!({"data": {"type": "product", "attributes": {"components": null}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(delete(&app, &admin, &tea).await.status, 204);
    assert_eq!(delete(&app, &admin, &mug).await.status, 404);
}

async fn a_bundle_written_during_a_delete_never_names_a_deleted_product(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (mut kept, mut deleted) = (0, 0);
    for round in 0..12 {
        let part = create(
            &app,
            &admin,
            "/pcm/products",
            product_body("Part", &format!("PART-{round}")),
        )
        .await;
        let bundle = app.post(
            "/pcm/products",
            &admin,
            bundle_body(&format!("KIT-{round}"), &[&part]),
        );
        let gone = delete(&app, &admin, &part);
        let (bundle, gone) = futures_util::future::join(bundle, gone).await;
        match (bundle.status.as_u16(), gone.status.as_u16()) {
            (201, 422) => kept += 1,
            (400, 204) => {
                deleted += 1;
                let source = bundle.error()["source"].as_str().unwrap_or_default().to_owned();
                assert!(
                    source.starts_with("data.attributes.components"),
                    "{}",
                    bundle.body
                );
            }
            other => panic!("round {round}: {other:?}: {} / {}", bundle.body, gone.body),
        }
        let r = app.get(&format!("/pcm/products/{part}"), &admin).await;
        assert_eq!(
            r.status == 200,
            bundle.status == 201,
            "a bundle exists exactly when its option does"
        );
    }
    assert_eq!(kept + deleted, 12);
}
