//! The shopper catalog, `/catalog...`: the published release the catalog rules choose for the
//! caller, priced in the `X-MOLTIN-CURRENCY` currency (else the store's default). Any valid
//! access token may read it.
//!
//! There is no tax engine: `display_price.with_tax` and `without_tax` show the same amount. A
//! product without a price in the currency is still listed, without `display_price`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use kassa_core::catalog::{Hierarchy, Node};
use kassa_core::catalog_filter::{NODE_FILTERS, PRODUCT_FILTERS, check_ids, named_matches, product_types};
use kassa_core::money::Currency;
use kassa_core::pricing::CurrencyPrice;
use kassa_core::query::check_filters;
use kassa_core::release::ReleasedProduct;
use kassa_core::time::{Millis, rfc3339};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{files, pcm};
use crate::catalog_view::{ShopperRelease, ShopperRequest, price_product};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ListQuery, parse_uuid};
use crate::routes::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    pcm::router(
        Routes::new()
            .route("/catalog", get(show_catalog))
            .route("/catalog/products", get(list_products))
            .route("/catalog/products/{id}", get(show_product))
            .route("/catalog/hierarchies", get(list_hierarchies))
            .route("/catalog/hierarchies/{id}", get(show_hierarchy))
            .route("/catalog/hierarchies/{id}/nodes", get(hierarchy_nodes))
            .route("/catalog/hierarchies/{id}/children", get(hierarchy_children))
            .route("/catalog/hierarchies/{id}/products", get(hierarchy_products))
            .route("/catalog/nodes", get(list_nodes))
            .route("/catalog/nodes/{id}", get(show_node))
            .route("/catalog/nodes/{id}/relationships/children", get(node_children))
            .route("/catalog/nodes/{id}/relationships/products", get(node_products)),
    )
}

fn product_not_found() -> ApiError {
    ApiError::not_found("Product not found", "No published product with this id")
}

fn hierarchy_not_found() -> ApiError {
    ApiError::not_found("Hierarchy not found", "No published hierarchy with this id")
}

fn node_not_found() -> ApiError {
    ApiError::not_found("Node not found", "No published node with this id")
}

/// The caller's release, or 404 when no catalog is published.
async fn release(state: &AppState, request: &ShopperRequest) -> ApiResult<Arc<ShopperRelease>> {
    state
        .catalog_view
        .shopper_release(&*state.store, &request.context)
        .await?
        .ok_or_else(|| ApiError::not_found("Catalog not found", "No catalog is published"))
}

/// One page of `items`, each rendered, as a collection.
fn page<'a, T: 'a>(
    items: impl Iterator<Item = &'a T>,
    render: impl Fn(&T) -> Value,
    query: &ListQuery,
    origin: &Origin,
    uri: &Uri,
) -> Value {
    let (total, shown) = page_slice(items, query);
    let shown: Vec<Value> = shown.into_iter().map(render).collect();
    envelope::collection(shown, total, query, origin, uri)
}

/// The number of `items` and those on the query's page.
fn page_slice<'a, T: 'a>(items: impl Iterator<Item = &'a T>, query: &ListQuery) -> (u64, Vec<&'a T>) {
    let items: Vec<&T> = items.collect();
    let total = items.len() as u64;
    let shown = items
        .into_iter()
        .skip(usize::try_from(query.page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(query.page.limit).unwrap_or(usize::MAX))
        .collect();
    (total, shown)
}

fn formatted(currency: &Currency, amount: i64) -> Value {
    json!({
        "amount": amount,
        "currency": currency.code,
        "formatted": currency.money.format(amount),
        "float_price": currency.money.float(amount),
    })
}

/// `with_tax` and `without_tax`: the same amount, as there is no tax engine.
fn display(currency: &Currency, amount: i64) -> Value {
    json!({ "with_tax": formatted(currency, amount), "without_tax": formatted(currency, amount) })
}

fn amount(price: &CurrencyPrice) -> Value {
    json!({ "amount": price.amount, "includes_tax": price.includes_tax })
}

/// A product priced for one unit at `now`.
pub(crate) fn render_product(
    r: &ShopperRelease,
    p: &ReleasedProduct,
    currency: &Currency,
    now: Millis,
    origin: &Origin,
) -> Value {
    let product = &p.product;
    let mut meta = Map::new();
    meta.insert("catalog_id".into(), json!(r.catalog_id()));
    meta.insert("release_id".into(), json!(r.release.id));
    meta.insert("catalog_source".into(), json!("pim"));
    meta.insert("bread_crumb_nodes".into(), json!(p.node_ids));
    // Storefronts choose the product page's layout by the first type.
    meta.insert("product_types".into(), json!(product_types(product)));
    let mut price = None;
    if let Some(sku) = product.sku.as_deref()
        && let Some((pricebook_id, sheet)) = r.deciding_sheet(sku)
    {
        price = Some(serde_json::to_value(&sheet.currencies).unwrap_or_default());
        meta.insert("pricebook_id".into(), json!(pricebook_id));
        if let Ok(resolved) = price_product(r, sku, &currency.code, 1, now) {
            meta.insert("display_price".into(), display(currency, resolved.amount));
            // The tiers of the price that applies: the sale's while a sale runs.
            let applying = match &resolved.sale_id {
                Some(sale) => sheet
                    .sales
                    .get(sale)
                    .and_then(|s| s.currencies.get(&currency.code)),
                None => sheet.currencies.get(&currency.code),
            };
            if let Some(original) = &resolved.original {
                let list = json!({ currency.code.clone(): { "amount": original.amount, "includes_tax": original.includes_tax } });
                meta.insert("original_price".into(), list);
                meta.insert(
                    "original_display_price".into(),
                    display(currency, original.amount),
                );
                meta.insert("sale_id".into(), json!(resolved.sale_id));
                meta.insert("sale_expires".into(), json!(resolved.sale_expires.map(rfc3339)));
            }
            if let Some(applying) = applying.filter(|a| !a.tiers.is_empty()) {
                let tiers: Map<String, Value> = applying
                    .tiers
                    .iter()
                    .map(|(name, t)| {
                        let price = CurrencyPrice {
                            amount: t.amount,
                            includes_tax: applying.includes_tax,
                            tiers: Default::default(),
                        };
                        (
                            name.clone(),
                            json!({
                                "minimum_quantity": t.minimum_quantity,
                                "price": { currency.code.clone(): amount(&price) },
                                "display_price": display(currency, t.amount),
                            }),
                        )
                    })
                    .collect();
                meta.insert("tiers".into(), Value::Object(tiers));
            }
        }
    }
    let mut rendered = json!({
        "type": "product",
        "id": product.id,
        "attributes": pcm::compact(json!({
            "name": product.name,
            "sku": product.sku,
            "slug": product.slug,
            "description": product.description,
            "status": product.status,
            "commodity_type": product.commodity_type,
            "upc_ean": product.upc_ean,
            "mpn": product.mpn,
            "external_ref": product.external_ref,
            "extensions": product.extensions,
            "price": price,
            "published_at": rfc3339(r.release.published_at),
            "created_at": rfc3339(product.created_at),
            "updated_at": rfc3339(product.updated_at),
        })),
        "meta": meta,
        "links": { "self": origin.url(&format!("/catalog/products/{}", product.id)) },
    });
    if let Some(relationships) = media_relationships(r, p) {
        rendered["relationships"] = relationships;
    }
    rendered
}

fn render_hierarchy(r: &ShopperRelease, h: &Hierarchy, origin: &Origin) -> Value {
    json!({
        "type": "hierarchy",
        "id": h.id,
        "attributes": pcm::compact(json!({
            "name": h.name,
            "description": h.description,
            "slug": h.slug,
            "created_at": rfc3339(h.created_at),
            "updated_at": rfc3339(h.updated_at),
            "published_at": rfc3339(r.release.published_at),
        })),
        "meta": { "catalog_id": r.catalog_id(), "release_id": r.release.id },
        "links": { "self": origin.url(&format!("/catalog/hierarchies/{}", h.id)) },
    })
}

fn render_node(r: &ShopperRelease, n: &Node, origin: &Origin) -> Value {
    let mut relationships = json!({
        "products": { "links": { "related": origin.url(&format!("/catalog/nodes/{}/relationships/products", n.id)) } },
    });
    if let Some(parent) = n.parent_id {
        relationships["parent"] = json!({ "data": { "type": "node", "id": parent } });
    }
    json!({
        "type": "node",
        "id": n.id,
        "attributes": pcm::compact(json!({
            "name": n.name,
            "description": n.description,
            "slug": n.slug,
            "created_at": rfc3339(n.created_at),
            "updated_at": rfc3339(n.updated_at),
            "published_at": rfc3339(r.release.published_at),
        })),
        "relationships": relationships,
        "meta": pcm::compact(json!({
            "catalog_id": r.catalog_id(),
            "release_id": r.release.id,
            "hierarchy_id": n.hierarchy_id,
            "parent_id": n.parent_id,
            "sort_order": n.sort_order,
        })),
        "links": { "self": origin.url(&format!("/catalog/nodes/{}", n.id)) },
    })
}

async fn show_catalog(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
) -> ApiResult<Json<Value>> {
    let r = release(&state, &request).await?;
    let published = rfc3339(r.release.published_at);
    let roots: Vec<Value> = r
        .snapshot
        .hierarchies
        .iter()
        .map(|h| json!({ "id": h.id, "type": "hierarchy", "label": h.name, "name": h.name }))
        .collect();
    Ok(Json(json!({
        "data": {
            "type": "catalog-release",
            "id": r.release.id,
            "attributes": {
                "name": r.snapshot.catalog_name,
                "catalog_id": r.catalog_id(),
                "published_at": published,
                "hierarchies": roots,
            },
            "meta": {
                "created_at": published,
                "release_status": "PUBLISHED",
                "total_products": r.release.total_products,
                "total_nodes": r.release.total_nodes,
                "owner": "store",
            },
        },
        "links": { "self": origin.url("/catalog") },
    })))
}

/// Checks a product listing's filters: the documented fields and operators, ids that are ids.
fn check_product_filters(query: &ListQuery) -> ApiResult<()> {
    check_filters(&query.filters, PRODUCT_FILTERS)?;
    Ok(check_ids(&query.filters)?)
}

/// Checks a hierarchy or node listing's filters.
fn check_node_filters(query: &ListQuery) -> ApiResult<()> {
    check_filters(&query.filters, NODE_FILTERS)?;
    Ok(check_ids(&query.filters)?)
}

/// One page of the release's products that are in `scope` and pass the query's filters.
async fn product_page(
    state: &AppState,
    request: &ShopperRequest,
    r: &ShopperRelease,
    scope: impl Fn(&ReleasedProduct) -> bool,
    query: &ListQuery,
    origin: &Origin,
    uri: &Uri,
) -> ApiResult<Json<Value>> {
    let currency = state
        .catalog_view
        .currency(&*state.store, request.currency.as_deref())
        .await?;
    let matching = r
        .products_matching(&query.filters)
        .into_iter()
        .filter(|p| scope(p));
    let render = |p: &ReleasedProduct| render_product(r, p, &currency, request.context.now, origin);
    let (total, shown) = page_slice(matching, query);
    let data: Vec<Value> = shown.iter().map(|p| render(p)).collect();
    let mut body = envelope::collection(data, total, query, origin, uri);
    if let Some(included) = included(r, &shown, &query.include, origin) {
        body["included"] = included;
    }
    Ok(Json(body))
}

async fn list_products(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_product_filters(&query)?;
    let r = release(&state, &request).await?;
    product_page(&state, &request, &r, |_| true, &query, &origin, &uri).await
}

async fn show_product(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, product_not_found)?;
    let r = release(&state, &request).await?;
    let product = r.product(id).ok_or_else(product_not_found)?;
    let currency = state
        .catalog_view
        .currency(&*state.store, request.currency.as_deref())
        .await?;
    let now = request.context.now;
    let mut body = envelope::single(render_product(&r, product, &currency, now, &origin));
    if let Some(included) = included(&r, &[product], &query.include, &origin) {
        body["included"] = included;
    }
    Ok(Json(body))
}

async fn list_hierarchies(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_node_filters(&query)?;
    let r = release(&state, &request).await?;
    let render = |h: &Hierarchy| render_hierarchy(&r, h, &origin);
    let matching = r
        .snapshot
        .hierarchies
        .iter()
        .filter(|h| named_matches(h.id, &h.name, h.slug.as_deref(), &query.filters));
    Ok(Json(page(matching, render, &query, &origin, &uri)))
}

/// One page of the nodes that pass `scope` and the query's filters.
fn node_page(
    r: &ShopperRelease,
    scope: impl Fn(&Node) -> bool,
    query: &ListQuery,
    origin: &Origin,
    uri: &Uri,
) -> Json<Value> {
    let matching = r
        .snapshot
        .nodes
        .iter()
        .filter(|n| scope(n) && named_matches(n.id, &n.name, n.slug.as_deref(), &query.filters));
    let render = |n: &Node| render_node(r, n, origin);
    Json(page(matching, render, query, origin, uri))
}

fn find_hierarchy(r: &ShopperRelease, id: &str) -> ApiResult<Hierarchy> {
    let id = parse_uuid(id, hierarchy_not_found)?;
    r.snapshot
        .hierarchies
        .iter()
        .find(|h| h.id == id)
        .cloned()
        .ok_or_else(hierarchy_not_found)
}

async fn show_hierarchy(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let r = release(&state, &request).await?;
    let h = find_hierarchy(&r, &id)?;
    Ok(Json(envelope::single(render_hierarchy(&r, &h, &origin))))
}

async fn hierarchy_nodes(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_node_filters(&query)?;
    let r = release(&state, &request).await?;
    let h = find_hierarchy(&r, &id)?;
    Ok(node_page(&r, |n| n.hierarchy_id == h.id, &query, &origin, &uri))
}

/// The hierarchy's top-level nodes (EP's "parent nodes" of a hierarchy).
async fn hierarchy_children(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_node_filters(&query)?;
    let r = release(&state, &request).await?;
    let h = find_hierarchy(&r, &id)?;
    let top = |n: &Node| n.hierarchy_id == h.id && n.parent_id.is_none();
    Ok(node_page(&r, top, &query, &origin, &uri))
}

/// The products placed in any node of the hierarchy.
async fn hierarchy_products(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_product_filters(&query)?;
    let r = release(&state, &request).await?;
    let h = find_hierarchy(&r, &id)?;
    let nodes: HashSet<Uuid> = r
        .snapshot
        .nodes
        .iter()
        .filter(|n| n.hierarchy_id == h.id)
        .map(|n| n.id)
        .collect();
    let in_hierarchy = |p: &ReleasedProduct| p.node_ids.iter().any(|n| nodes.contains(n));
    product_page(&state, &request, &r, in_hierarchy, &query, &origin, &uri).await
}

async fn list_nodes(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_node_filters(&query)?;
    let r = release(&state, &request).await?;
    Ok(node_page(&r, |_| true, &query, &origin, &uri))
}

fn find_node<'a>(r: &'a ShopperRelease, id: &str) -> ApiResult<&'a Node> {
    let id = parse_uuid(id, node_not_found)?;
    r.snapshot
        .nodes
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(node_not_found)
}

async fn show_node(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let r = release(&state, &request).await?;
    let node = find_node(&r, &id)?;
    Ok(Json(envelope::single(render_node(&r, node, &origin))))
}

/// The node's direct children.
async fn node_children(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_node_filters(&query)?;
    let r = release(&state, &request).await?;
    let node = find_node(&r, &id)?.id;
    Ok(node_page(
        &r,
        |n| n.parent_id == Some(node),
        &query,
        &origin,
        &uri,
    ))
}

/// The products placed in the node itself.
async fn node_products(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_product_filters(&query)?;
    let r = release(&state, &request).await?;
    let node = find_node(&r, &id)?.id;
    let in_node = |p: &ReleasedProduct| p.node_ids.contains(&node);
    product_page(&state, &request, &r, in_node, &query, &origin, &uri).await
}

// --- Product media -------------------------------------------------------------------------

/// `relationships.main_image` and `relationships.files` of a product that has them
/// (`catalog_view.yaml`: `main_image` names a `main_image`, each file a `file` with its
/// `created_at`), from the release alone.
fn media_relationships(r: &ShopperRelease, p: &ReleasedProduct) -> Option<Value> {
    let product = &p.product;
    if product.main_image.is_none() && product.files.is_empty() {
        return None;
    }
    let mut relationships = Map::new();
    if let Some(id) = product.main_image {
        relationships.insert(
            "main_image".into(),
            json!({ "data": { "type": "main_image", "id": id } }),
        );
    }
    if !product.files.is_empty() {
        let data: Vec<Value> = product
            .files
            .iter()
            .map(|id| {
                let mut reference = json!({ "type": "file", "id": id });
                if let Some(f) = r.file(*id) {
                    reference["created_at"] = json!(rfc3339(f.created_at));
                }
                reference
            })
            .collect();
        relationships.insert("files".into(), json!({ "data": data }));
    }
    Some(Value::Object(relationships))
}

/// `included` for `products` as `include` asks: `main_images` and `files` (each file once, in
/// the order the products show them) and `component_products` (always empty: kassa has no
/// bundles). Other values are ignored, as `include` is elsewhere; nothing asked, no `included`.
fn included(
    r: &ShopperRelease,
    products: &[&ReleasedProduct],
    include: &[String],
    origin: &Origin,
) -> Option<Value> {
    let asked = |name: &str| include.iter().any(|i| i == name);
    let mut included = Map::new();
    let collect = |ids: &mut dyn Iterator<Item = Uuid>| {
        let mut seen = HashSet::new();
        ids.filter(|id| seen.insert(*id))
            .filter_map(|id| r.file(id))
            .map(|f| files::render(f, origin))
            .collect::<Vec<Value>>()
    };
    if asked("main_image") {
        let mut ids = products.iter().filter_map(|p| p.product.main_image);
        included.insert("main_images".into(), Value::Array(collect(&mut ids)));
    }
    if asked("files") {
        let mut ids = products.iter().flat_map(|p| p.product.files.iter().copied());
        included.insert("files".into(), Value::Array(collect(&mut ids)));
    }
    if asked("component_products") {
        included.insert("component_products".into(), json!([]));
    }
    (!included.is_empty()).then_some(Value::Object(included))
}
