//! `POST /catalog/multi-search`: relevance, typos, prefixes, each filter operator, facets,
//! currency, paging, bad inputs, catalog visibility, publish → searchable, the atomic swap of a
//! second publish, and a node restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{catalog, create, hierarchy, pricebook, publish};
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    search_ranks_tolerates_typos_and_completes_prefixes,
    search_filters_facets_sorts_and_pages,
    search_refuses_bad_input_with_the_specs_errors,
    search_sees_only_the_shoppers_catalog,
    a_second_publish_swaps_the_index_atomically_and_a_restart_reopens_it,
    search_and_catalog_answers_are_compact_json_with_sorted_keys,
    search_indexes_children_under_their_parent,
);

/// A live product with a description, extensions and a USD (and EUR) price, in the node.
#[allow(clippy::too_many_arguments)]
async fn item(
    app: &TestApp,
    admin: &str,
    (h, n): &(String, String),
    book: &str,
    name: &str,
    sku: &str,
    description: &str,
    brand: Option<&str>,
    cents: i64,
) -> String {
    let mut attributes = json!({
        "name": name, "sku": sku, "slug": sku.to_lowercase(), "description": description,
        "commodity_type": "physical", "status": "live",
    });
    if let Some(brand) = brand {
        attributes["extensions"] = json!({"products(Details)": {"brand": brand, "weight": cents / 100}});
    }
    let p = create(
        app,
        admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": attributes}}),
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
    create(
        app,
        admin,
        &format!("/pcm/pricebooks/{book}/prices"),
        json!({"data": {"type": "product-price", "attributes": {"sku": sku, "currencies": {
            "USD": {"amount": cents, "includes_tax": false},
            "EUR": {"amount": cents * 2, "includes_tax": false},
        }}}}),
    )
    .await;
    p
}

/// One multi-search as a shopper, with extra headers.
async fn search(app: &TestApp, url: &str, token: &str, searches: Value, headers: &[(&str, &str)]) -> Resp {
    let mut req = app
        .http
        .post(format!("{url}/catalog/multi-search"))
        .bearer_auth(token)
        .json(&json!({ "searches": searches }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    Resp::read(req.send().await.unwrap()).await
}

/// Searches until the index answers (it is built in the background after a publish).
async fn searchable(app: &TestApp, url: &str, token: &str, headers: &[(&str, &str)]) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = search(app, url, token, json!([{"q": "*"}]), headers).await;
        if r.status == 200 {
            return r;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.body["errors"][0]["title"], "Search Index Building");
        assert_eq!(r.headers["retry-after"], "1");
        assert!(Instant::now() < deadline, "not searchable within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(r: &Resp, result: usize) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["results"][result]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["document"]["attributes"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The fixed catalog: five live products (and a draft) in "Tools", priced in USD and EUR.
async fn tool_shop(app: &TestApp, admin: &str) -> String {
    let r = app
        .post(
            "/v2/currencies",
            admin,
            json!({"data": {"type": "currency", "code": "EUR", "format": "{price} €", "decimal_point": ",",
                "thousand_separator": ".", "decimal_places": 2, "enabled": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tree = hierarchy(app, admin, "Tools").await;
    let book = pricebook(app, admin, "Prices").await;
    for (name, sku, description, brand, cents) in [
        (
            "Claw Hammer",
            "HAM-1",
            "A steel hammer for nails",
            Some("Acme"),
            1999,
        ),
        (
            "Sledge",
            "SLG-1",
            "Heavy hammer for demolition",
            Some("Acme"),
            4900,
        ),
        ("Hammock", "HMK-1", "Sleep outside", Some("Outdoor Co"), 8000),
        ("Nail Box", "NAIL-200", "Two hundred nails", None, 500),
        (
            "Trowel",
            "TRW-1",
            "For planting; fits HAM-1 holsters",
            Some("Acme"),
            750,
        ),
    ] {
        item(app, admin, &tree, &book, name, sku, description, brand, cents).await;
    }
    let draft = create(
        app,
        admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {
            "name": "Secret Hammer", "sku": "SECRET", "commodity_type": "physical", "status": "draft"}}}),
    )
    .await;
    let r = app
        .post(
            &format!(
                "/pcm/hierarchies/{}/nodes/{}/relationships/products",
                tree.0, tree.1
            ),
            admin,
            json!({"data": [{"type": "product", "id": draft}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cat = catalog(
        app,
        admin,
        "Shop",
        json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
    )
    .await;
    publish(app, admin, &cat).await;
    cat
}

async fn search_ranks_tolerates_typos_and_completes_prefixes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    tool_shop(&app, &admin).await;
    let all = searchable(&app, &app.url, &shopper, &[]).await;
    assert_eq!(all.body["results"][0]["found"], 5, "the draft is not searchable");
    assert_eq!(all.body["results"][0]["out_of"], 5);

    let q = |q: &str| json!([{"q": q}]);
    // The exact sku first, though another product's description mentions it.
    let r = search(&app, &app.url, &shopper, q("HAM-1"), &[]).await;
    assert_eq!(names(&r, 0)[0], "Claw Hammer");
    // A name match before a description match.
    let r = search(&app, &app.url, &shopper, q("hammer"), &[]).await;
    assert_eq!(names(&r, 0)[..2], ["Claw Hammer", "Sledge"]);
    let hit = &r.body["results"][0]["hits"][0];
    assert_eq!(hit["highlights"][0]["field"], "attributes.name");
    assert_eq!(hit["highlights"][0]["snippet"], "Claw <mark>Hammer</mark>");
    assert!(
        hit["text_match"].as_u64().unwrap() > r.body["results"][0]["hits"][1]["text_match"].as_u64().unwrap()
    );
    assert!(!names(&r, 0).contains(&"Secret Hammer".to_owned()));
    // Typos: one from four letters, two from seven; none below four.
    let r = search(&app, &app.url, &shopper, q("sldge"), &[]).await;
    assert_eq!(names(&r, 0), ["Sledge"]);
    let r = search(&app, &app.url, &shopper, q("demolitoin"), &[]).await;
    assert_eq!(names(&r, 0), ["Sledge"]);
    let r = search(&app, &app.url, &shopper, q("xyzzy"), &[]).await;
    assert_eq!(r.body["results"][0]["found"], 0);
    // The last word is a prefix.
    let r = search(&app, &app.url, &shopper, q("tro"), &[]).await;
    assert_eq!(names(&r, 0), ["Trowel"]);

    // The storefront's autocomplete call: suggestions `{id, q, count}`, highlighted on `q`.
    let r = search(
        &app,
        &app.url,
        &shopper,
        json!([{"type": "autocomplete", "highlight_full_fields": "name", "q": "hamm", "include_fields": "name"}]),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let result = &r.body["results"][0];
    assert_eq!(result["type"], "autocomplete");
    let suggestions: Vec<&str> = result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["document"]["q"].as_str().unwrap())
        .collect();
    assert!(
        suggestions.contains(&"Claw Hammer") && suggestions.contains(&"Hammock"),
        "{suggestions:?}"
    );
    let hammock = result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["document"]["q"] == "Hammock")
        .unwrap();
    assert_eq!(hammock["document"]["count"], 1);
    assert_eq!(hammock["highlights"][0]["field"], "q");
    assert_eq!(hammock["highlights"][0]["value"], "<mark>Hammock</mark>");
}

async fn search_filters_facets_sorts_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    tool_shop(&app, &admin).await;
    searchable(&app, &app.url, &shopper, &[]).await;

    let table: &[(&str, &[&str])] = &[
        ("brand:=Acme", &["Claw Hammer", "Sledge", "Trowel"]),
        ("brand:outdoor", &["Hammock"]),
        ("brand:!=Acme", &["Hammock", "Nail Box"]),
        (
            "brand:=[Acme,`Outdoor Co`]",
            &["Claw Hammer", "Sledge", "Hammock", "Trowel"],
        ),
        ("price:>19.99", &["Sledge", "Hammock"]),
        ("price:>=19.99", &["Claw Hammer", "Sledge", "Hammock"]),
        ("price:<7.5", &["Nail Box"]),
        ("price:<=7.50", &["Nail Box", "Trowel"]),
        ("price:=49", &["Sledge"]),
        (
            "price.USD.float_price:[5..10, 80]",
            &["Hammock", "Nail Box", "Trowel"],
        ),
        ("price:>40 && brand:=Acme", &["Sledge"]),
        ("price:<6 || brand:outdoor", &["Hammock", "Nail Box"]),
        ("sku:=NAIL-200", &["Nail Box"]),
        ("extensions.Details.weight:>=49", &["Sledge", "Hammock"]),
        (
            "categories:=Tools",
            &["Claw Hammer", "Sledge", "Hammock", "Nail Box", "Trowel"],
        ),
        (
            "meta.search.categories.lvl1:=[`Tools > Tools node`]",
            &["Claw Hammer", "Sledge", "Hammock", "Nail Box", "Trowel"],
        ),
    ];
    for (filter, expected) in table {
        let r = search(
            &app,
            &app.url,
            &shopper,
            json!([{"q": "*", "filter_by": filter}]),
            &[],
        )
        .await;
        assert_eq!(&names(&r, 0), expected, "{filter}");
    }

    // The storefront's listing call: hierarchical and price facets, a backtick filter, a sort.
    let r = search(
        &app,
        &app.url,
        &shopper,
        json!([{
            "type": "search", "q": "*", "query_by": null,
            "facet_by": "meta.search.categories.lvl0,brand,price.USD.float_price",
            "filter_by": "meta.search.categories.lvl0:=[`Tools`] && price.USD.float_price:=[1..60]",
            "sort_by": "price.USD.float_price:asc", "max_facet_values": 10, "page": 1, "per_page": 20,
        }]),
        &[],
    )
    .await;
    assert_eq!(names(&r, 0), ["Nail Box", "Trowel", "Claw Hammer", "Sledge"]);
    let result = &r.body["results"][0];
    assert_eq!(result["found"], 4);
    let facets = result["facet_counts"].as_array().unwrap();
    assert_eq!(facets[0]["field_name"], "meta.search.categories.lvl0");
    assert_eq!(
        facets[0]["counts"],
        json!([{"value": "Tools", "highlighted": "Tools", "count": 4}])
    );
    assert_eq!(
        facets[1]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["value"].as_str().unwrap(), c["count"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [("Acme", 3)]
    );
    assert_eq!(facets[2]["stats"]["min"], 5.0);
    assert_eq!(facets[2]["stats"]["max"], 49.0);
    // Hits are the shopper catalog's products, priced.
    let hit = &result["hits"][0]["document"];
    assert_eq!(hit["type"], "product");
    assert_eq!(hit["meta"]["display_price"]["without_tax"]["amount"], 500);
    assert_eq!(hit["meta"]["display_price"]["without_tax"]["currency"], "USD");

    // Currency: `price` is the shopper's; hits are priced in it.
    let eur = [("X-MOLTIN-CURRENCY", "EUR")];
    let r = search(
        &app,
        &app.url,
        &shopper,
        json!([{"q": "*", "filter_by": "price:<=15", "sort_by": "price:desc"}]),
        &eur,
    )
    .await;
    assert_eq!(names(&r, 0), ["Trowel", "Nail Box"]);
    let hit = &r.body["results"][0]["hits"][0]["document"];
    assert_eq!(hit["meta"]["display_price"]["without_tax"]["currency"], "EUR");
    assert_eq!(hit["meta"]["display_price"]["without_tax"]["amount"], 1500);

    // Sorts and pages, several searches in one request.
    let r = search(
        &app,
        &app.url,
        &shopper,
        json!([
            {"q": "*", "sort_by": "name:asc", "per_page": 2, "page": 2},
            {"q": "*", "sort_by": "price:desc", "per_page": 2},
            {"q": "*", "per_page": 2, "page": 3},
        ]),
        &[],
    )
    .await;
    assert_eq!(names(&r, 0), ["Nail Box", "Sledge"]);
    assert_eq!(names(&r, 1), ["Hammock", "Sledge"]);
    assert_eq!(names(&r, 2), ["Trowel"]);
    assert_eq!(r.body["results"][0]["page"], 2);
    assert_eq!(r.body["results"][0]["found"], 5);
}

async fn search_refuses_bad_input_with_the_specs_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    tool_shop(&app, &admin).await;
    searchable(&app, &app.url, &shopper, &[]).await;

    for (searches, title) in [
        (json!([{"filter_by": "price:>"}]), "Invalid Filter"),
        (json!([{"filter_by": "colour:=red"}]), "Invalid Filter"),
        (json!([{"filter_by": "brand:>3"}]), "Invalid Filter"),
        (json!([{"filter_by": "price:abc"}]), "Invalid Filter"),
        (json!([{"filter_by": "(brand:=Acme"}]), "Invalid Filter"),
        (json!([{"facet_by": "description"}]), "Invalid Facet"),
        (json!([{"facet_by": "colour"}]), "Invalid Facet"),
        (json!([{"max_facet_values": -1}]), "Invalid Facet"),
        (json!([{"page": 0}]), "Invalid Pagination"),
        (json!([{"per_page": 101}]), "Invalid Pagination"),
        (json!([{"page": 10_000, "per_page": 100}]), "Invalid Pagination"),
        (json!([{"page": "two"}]), "Invalid Pagination"),
        (json!([{"sort_by": "description:asc"}]), "Invalid Sort"),
        (json!([{"type": "vector"}]), "Invalid Search"),
        (json!([]), "Invalid Search"),
        (json!([{"q": "*"}, {"filter_by": "x"}]), "Invalid Filter"),
    ] {
        let r = search(&app, &app.url, &shopper, searches.clone(), &[]).await;
        assert_eq!(r.status, 400, "{searches}: {}", r.body);
        assert_eq!(r.body["errors"][0]["title"], title, "{searches}: {}", r.body);
        assert_eq!(r.body["errors"][0]["status"], "400");
    }
    // Not JSON, no searches, no token.
    let r = Resp::read(
        app.http
            .post(format!("{}/catalog/multi-search", app.url))
            .bearer_auth(&shopper)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app.post("/catalog/multi-search", &shopper, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app
        .post("/catalog/multi-search", "garbage", json!({"searches": [{}]}))
        .await;
    assert_eq!(r.status, 401);
    // Odd but valid input answers.
    for searches in [
        json!([{"q": "))((&&||``"}]),
        json!([{"q": "é".repeat(2000)}]),
        json!([{"q": "*", "filter_by": "brand:=`&& ||`"}]),
        json!([{"q": "hammer", "per_page": 0, "facet_by": "brand"}]),
    ] {
        let r = search(&app, &app.url, &shopper, searches.clone(), &[]).await;
        assert_eq!(r.status, 200, "{searches}: {}", r.body);
    }
}

async fn search_sees_only_the_shoppers_catalog(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let book = pricebook(&app, &admin, "B").await;
    let mut catalogs = Vec::new();
    for name in ["Default", "Mobile"] {
        let tree = hierarchy(&app, &admin, name).await;
        item(
            &app,
            &admin,
            &tree,
            &book,
            &format!("{name} Lamp"),
            &name.to_uppercase(),
            "A lamp",
            None,
            1000,
        )
        .await;
        catalogs.push(
            catalog(
                &app,
                &admin,
                name,
                json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
            )
            .await,
        );
    }
    for c in &catalogs {
        publish(&app, &admin, c).await;
    }
    let r = app
        .post(
            "/catalogs/rules",
            &admin,
            json!({"data": {"type": "catalog_rule", "attributes": {
                "name": "mobile", "catalog_id": catalogs[1], "channels": ["mobile"]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mobile = [("EP-Channel", "mobile")];
    searchable(&app, &app.url, &shopper, &[]).await;
    searchable(&app, &app.url, &shopper, &mobile).await;
    let lamps = json!([{"q": "lamp"}, {"q": "*", "filter_by": "sku:=[DEFAULT,MOBILE]"}]);
    let r = search(&app, &app.url, &shopper, lamps.clone(), &[]).await;
    assert_eq!(names(&r, 0), ["Default Lamp"]);
    assert_eq!(names(&r, 1), ["Default Lamp"]);
    let r = search(&app, &app.url, &shopper, lamps, &mobile).await;
    assert_eq!(names(&r, 0), ["Mobile Lamp"]);
    assert_eq!(names(&r, 1), ["Mobile Lamp"]);
    assert_eq!(
        r.body["results"][0]["hits"][0]["document"]["meta"]["catalog_id"],
        catalogs[1].as_str()
    );
}

async fn a_second_publish_swaps_the_index_atomically_and_a_restart_reopens_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let tree = hierarchy(&app, &admin, "Garden").await;
    let book = pricebook(&app, &admin, "B").await;
    item(&app, &admin, &tree, &book, "Rake", "RAKE", "Leaves", None, 900).await;
    let cat = catalog(
        &app,
        &admin,
        "Garden",
        json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
    )
    .await;
    let first = publish(&app, &admin, &cat).await;
    searchable(&app, &app.url, &shopper, &[]).await;

    // A second release with one more product, published while shoppers search: every answer is
    // whole, from one release or the other, never an error.
    item(
        &app, &admin, &tree, &book, "Spade", "SPADE", "Digging", None, 1500,
    )
    .await;
    let searching = {
        let (http, url, token) = (app.http.clone(), app.url.clone(), shopper.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let r = http
                    .post(format!("{url}/catalog/multi-search"))
                    .bearer_auth(&token)
                    .json(&json!({"searches": [{"q": "*", "sort_by": "name:asc"}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let body: Value = r.json().await.unwrap();
                let result = &body["results"][0];
                let release = result["hits"][0]["document"]["meta"]["release_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let names: Vec<String> = result["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        assert_eq!(
                            h["document"]["meta"]["release_id"],
                            release.as_str(),
                            "one release per answer"
                        );
                        h["document"]["attributes"]["name"].as_str().unwrap().to_owned()
                    })
                    .collect();
                assert_eq!(result["found"].as_u64().unwrap() as usize, names.len());
                let done = names.len() == 2;
                seen.push((release, names));
                if done || Instant::now() > deadline {
                    return seen;
                }
            }
        })
    };
    let second = publish(&app, &admin, &cat).await;
    let seen = searching.await.unwrap();
    for (release, names) in &seen {
        if *release == first {
            assert_eq!(names, &["Rake"]);
        } else {
            assert_eq!(release, &second);
            assert_eq!(names, &["Rake", "Spade"]);
        }
    }
    assert_eq!(
        seen.last().unwrap().0,
        second,
        "the second release became searchable"
    );

    // Another node (a restart, on SQLite, reopens the index kept beside the database).
    if backend == Backend::Sqlite {
        let db = app.db.url.strip_prefix("sqlite://").unwrap();
        let kept = std::path::PathBuf::from(format!("{db}.search")).join(&second);
        assert!(kept.is_dir(), "{kept:?}");
        assert!(
            !std::path::PathBuf::from(format!("{db}.search"))
                .join(&first)
                .exists()
        );
    }
    let node = app.second_node().await;
    searchable(&app, &node.url, &shopper, &[]).await;
    let r = search(&app, &node.url, &shopper, json!([{"q": "spade"}]), &[]).await;
    assert_eq!(names(&r, 0), ["Spade"]);
}

/// Search answers and shopper catalog products are rendered from typed views borrowing the
/// release; their bytes are compact JSON with every object's keys in byte order, what
/// serialising their parsed `Value` again gives (docs/ARCHITECTURE.md, "Responses are typed").
async fn search_and_catalog_answers_are_compact_json_with_sorted_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    tool_shop(&app, &admin).await;
    searchable(&app, &app.url, &shopper, &[]).await;
    let searches = json!({"searches": [
        {"q": "hamer", "facet_by": "brand,price", "filter_by": "price:>1", "highlight_full_fields": "name"},
        {"type": "autocomplete", "q": "ham"},
    ]});
    let shopper = &shopper;
    let text = |req: reqwest::RequestBuilder| async move {
        let r = req.bearer_auth(shopper).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    let searched = text(
        app.http
            .post(format!("{}/catalog/multi-search", app.url))
            .json(&searches),
    )
    .await;
    let listed = text(app.http.get(format!("{}/catalog/products", app.url))).await;
    let parsed: Value = serde_json::from_str(&searched).unwrap();
    let hits = &parsed["results"][0]["hits"];
    assert_eq!(hits.as_array().map(Vec::len), Some(2), "{parsed}");
    assert!(
        parsed["results"][0]["facet_counts"][1]["stats"].is_object(),
        "{parsed}"
    );
    assert_eq!(
        parsed["results"][1]["hits"][0]["document"]["count"], 1,
        "{parsed}"
    );
    let id = hits[0]["document"]["id"].as_str().unwrap().to_owned();
    let shown = text(app.http.get(format!("{}/catalog/products/{id}", app.url))).await;
    for body in [searched, listed, shown] {
        let again = serde_json::to_string(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
        assert_eq!(body, again);
    }
}

fn skus(r: &Resp, result: usize) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["results"][result]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["document"]["attributes"]["sku"].as_str().unwrap().to_owned())
        .collect()
}

async fn search_indexes_children_under_their_parent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let tree = hierarchy(&app, &admin, "Clothes").await;
    let book = pricebook(&app, &admin, "Prices").await;
    item(&app, &admin, &tree, &book, "Cap", "CAP", "A cap", None, 900).await;
    // A release without children: the fields exist, and match nothing.
    let cat = catalog(
        &app,
        &admin,
        "Shop",
        json!({"hierarchy_ids": [tree.0], "pricebook_id": book}),
    )
    .await;
    publish(&app, &admin, &cat).await;
    searchable(&app, &app.url, &shopper, &[]).await;
    let r = search(
        &app,
        &app.url,
        &shopper,
        json!([{"q": "*", "filter_by": "base_product_id:=x"}, {"q": "*", "filter_by": "product_types:=standard"}]),
        &[],
    )
    .await;
    assert_eq!(skus(&r, 0), Vec::<String>::new(), "{}", r.body);
    assert_eq!(skus(&r, 1), ["CAP"]);

    // A parent with two children (S and M).
    let tee = item(
        &app,
        &admin,
        &tree,
        &book,
        "Tee",
        "TEE",
        "A cotton tee",
        None,
        2000,
    )
    .await;
    let size = create(
        &app,
        &admin,
        "/pcm/variations",
        json!({"data": {"type": "product-variation", "attributes": {"name": "Size"}}}),
    )
    .await;
    for name in ["S", "M"] {
        create(
            &app,
            &admin,
            &format!("/pcm/variations/{size}/options"),
            json!({"data": {"type": "product-variation-option", "attributes": {"name": name, "description": name}}}),
        )
        .await;
    }
    let r = app
        .post(
            &format!("/pcm/products/{tee}/relationships/variations"),
            &admin,
            json!({"data": [{"type": "product-variation", "id": size}]}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .call(
            reqwest::Method::POST,
            &format!("/pcm/products/{tee}/build"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    publish(&app, &admin, &cat).await;
    // The new release's index is built in the background: wait for the children to show.
    let deadline = Instant::now() + Duration::from_secs(30);
    while skus(
        &search(&app, &app.url, &shopper, json!([{"q": "*"}]), &[]).await,
        0,
    )
    .len()
        < 4
    {
        assert!(
            Instant::now() < deadline,
            "the second release was not searchable within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let r = search(
        &app,
        &app.url,
        &shopper,
        json!([
            // A listing of one item per product family: parents and standalone products.
            {"q": "*", "filter_by": "product_types:!=child"},
            // A parent's children, under it.
            {"q": "*", "filter_by": format!("base_product_id:={tee}")},
            // How many children each parent has.
            {"q": "*", "facet_by": "base_product_id,product_types"},
            // A typed query finds the children too, each carrying its parent.
            {"q": "tee", "filter_by": "product_types:=child"},
        ]),
        &[],
    )
    .await;
    assert_eq!(skus(&r, 0), ["CAP", "TEE"], "{}", r.body);
    assert_eq!(skus(&r, 1), ["TEE-S", "TEE-M"]);
    let facets = &r.body["results"][2]["facet_counts"];
    assert_eq!(facets[0]["field_name"], "base_product_id");
    assert_eq!(
        facets[0]["counts"],
        json!([{"value": tee, "highlighted": tee, "count": 2}])
    );
    let types: Vec<(String, u64)> = facets[1]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("child".to_owned(), 2),
            ("parent".to_owned(), 1),
            ("standard".to_owned(), 1)
        ]
    );
    let hits = r.body["results"][3]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{}", r.body);
    for hit in hits {
        assert_eq!(hit["document"]["attributes"]["base_product_id"], tee.as_str());
        assert_eq!(hit["document"]["meta"]["product_types"], json!(["child"]));
    }
}
