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
use axum::routing::{get, post};
use kassa_core::Validator;
use kassa_core::bundles::{check_selection, option_ids};
use kassa_core::catalog::{Hierarchy, Node};
use kassa_core::catalog_filter::{NODE_FILTERS, PRODUCT_FILTERS, check_ids, named_matches, product_matches};
use kassa_core::money::Currency;
use kassa_core::query::check_filters;
use kassa_core::release::ReleasedProduct;
use kassa_core::time::{Millis, rfc3339};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::pcm;
use crate::auth::ShopperRequest;
use crate::catalog_view::ShopperRelease;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::catalog_product;
use crate::views::file::render as render_file;

pub fn router() -> Routes {
    pcm::router(
        Routes::new()
            .route("/catalog", get(show_catalog))
            .route("/catalog/products", get(list_products))
            .route("/catalog/products/{id}", get(show_product))
            .route(
                "/catalog/products/{id}/relationships/children",
                get(product_children),
            )
            .route("/catalog/products/{id}/configure", post(configure_product))
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
    let matching = r
        .products_matching(&query.filters)
        .into_iter()
        .filter(|p| scope(p));
    render_page(state, request, r, matching, query, origin, uri).await
}

/// One page of `matching`, priced in the shopper's currency, with what `include` asks for.
async fn render_page<'a>(
    state: &AppState,
    request: &ShopperRequest,
    r: &'a ShopperRelease,
    matching: impl Iterator<Item = &'a ReleasedProduct>,
    query: &ListQuery,
    origin: &Origin,
    uri: &Uri,
) -> ApiResult<Json<Value>> {
    let currency = state
        .catalog_view
        .currency(&*state.store, request.currency.as_deref())
        .await?;
    let (total, shown) = page_slice(matching, query);
    let data: Vec<_> = shown
        .iter()
        .map(|p| catalog_product::render(r, p, &currency, request.context.now, origin))
        .collect();
    let mut body = envelope::collection(data, total, query, origin, uri);
    if let Some(included) = included(r, &shown, &query.include, &currency, request.context.now, origin) {
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
    let mut body = envelope::single(catalog_product::render(&r, product, &currency, now, &origin));
    if let Some(included) = included(&r, &[product], &query.include, &currency, now, &origin) {
        body["included"] = included;
    }
    Ok(Json(body))
}

/// A parent's published children, priced like any product. A product that is not a parent is
/// refused with a 422, as `catalog_view.yaml` says.
async fn product_children(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_product_filters(&query)?;
    let id = parse_uuid(&id, product_not_found)?;
    let r = release(&state, &request).await?;
    let product = r.product(id).ok_or_else(product_not_found)?;
    if !product.product.is_parent {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Not a parent product",
            "Only a parent product (one whose child products are built) has children",
        ));
    }
    let matching = r
        .children_of(id)
        .filter(|p| product_matches(&p.product, &query.filters));
    render_page(&state, &request, &r, matching, &query, &origin, &uri).await
}

/// A bundle configured with the shopper's `selected_options`: checked against its components
/// (each problem named in `source`, 400) and answered as the product with that
/// `bundle_configuration`, priced by it when the bundle has no price of its own. A product that
/// is not a bundle is refused with a 422, as for the children of a product that is no parent.
async fn configure_product(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, product_not_found)?;
    let r = release(&state, &request).await?;
    let product = r.product(id).ok_or_else(product_not_found)?;
    let mut v = Validator::new();
    let selected = match body.get("data") {
        Some(Value::Object(data)) => v.required(data.get("selected_options"), "data.selected_options"),
        Some(_) => {
            v.push("data", "invalid", "data must be an object");
            None
        }
        None => v.required(None::<&Value>, "data"),
    };
    v.finish()?;
    if !product.product.is_bundle() {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Not a bundle",
            "Only a bundle (a product with components) is configured",
        ));
    }
    let mut v = Validator::new();
    let selection = selected
        .map(|s| check_selection(&product.product.components, s, "data.selected_options", &mut v))
        .unwrap_or_default();
    v.finish()?;
    let currency = state
        .catalog_view
        .currency(&*state.store, request.currency.as_deref())
        .await?;
    let now = request.context.now;
    let rendered = catalog_product::render_configured(&r, product, Some(selection), &currency, now, &origin);
    let mut body = envelope::single(rendered);
    if let Some(included) = included(&r, &[product], &query.include, &currency, now, &origin) {
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
/// `included` for `products` as `include` asks: `main_images` and `files` (each file once, in
/// the order the products show them) and `component_products` (always empty: kassa has no
/// bundles). Other values are ignored, as `include` is elsewhere; nothing asked, no `included`.
fn included(
    r: &ShopperRelease,
    products: &[&ReleasedProduct],
    include: &[String],
    currency: &Currency,
    now: Millis,
    origin: &Origin,
) -> Option<Value> {
    let asked = |name: &str| include.iter().any(|i| i == name);
    let mut included = Map::new();
    let collect = |ids: &mut dyn Iterator<Item = Uuid>| {
        let mut seen = HashSet::new();
        ids.filter(|id| seen.insert(*id))
            .filter_map(|id| r.file(id))
            .map(|f| render_file(f, origin))
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
        let mut seen = HashSet::new();
        let components: Vec<Value> = products
            .iter()
            .flat_map(|p| option_ids(&p.product.components))
            .filter(|id| seen.insert(*id))
            .filter_map(|id| r.product(id))
            .map(|c| json!(catalog_product::render(r, c, currency, now, origin)))
            .collect();
        included.insert("component_products".into(), Value::Array(components));
    }
    (!included.is_empty()).then_some(Value::Object(included))
}
