//! `/pcm/hierarchies`: hierarchies, their nodes (nested through a parent relationship) and the
//! products placed in nodes.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::catalog::{Hierarchy, Node};
use kassa_core::query::{FilterOp, check_filters};
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::pcm::{
    self, Body, Patch, check_required_text, check_slug, check_text, present, present_text, set,
};
use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    pcm::router(
        Routes::new()
            .route("/pcm/hierarchies", get(list).post(create))
            .route("/pcm/hierarchies/{id}", get(show).put(update).delete(remove))
            .route("/pcm/hierarchies/{id}/nodes", get(list_nodes).post(create_node))
            .route(
                "/pcm/hierarchies/{id}/nodes/{node}",
                get(show_node).put(update_node).delete(remove_node),
            )
            .route(
                "/pcm/hierarchies/{id}/nodes/{node}/relationships/products",
                axum::routing::post(add_products).delete(remove_products),
            )
            .route("/pcm/hierarchies/{id}/nodes/{node}/products", get(node_products)),
    )
}

/// Name, description and slug: what hierarchies and nodes both have.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    description: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    slug: Patch<String>,
}

impl Attributes {
    fn check(&self, v: &mut Validator, create: bool) {
        check_required_text(v, &self.name, "data.attributes.name", 255, create);
        check_text(v, &self.description, "data.attributes.description", 10_000);
        check_slug(v, &self.slug, "data.attributes.slug");
    }
}

/// Validates a create (no path id) or update body of `kind`.
fn parse(
    body: Body<Attributes>,
    kind: &str,
    path_id: Option<Uuid>,
) -> Result<(Attributes, NodeExtras), Error> {
    let mut v = Validator::new();
    let extras = NodeExtras::parse(&mut v, &body.data.relationships, &body.data.meta, kind == "node");
    let attributes = body.data.checked(&mut v, kind, path_id);
    if let Some(a) = &attributes {
        a.check(&mut v, path_id.is_none());
    }
    v.finish()?;
    let attributes = attributes.ok_or_else(|| Error::internal("validated attributes missing"))?;
    Ok((attributes, extras))
}

/// A node's `relationships.parent` and `meta.sort_order`.
#[derive(Default)]
struct NodeExtras {
    parent: Patch<Uuid>,
    sort_order: Patch<i64>,
}

impl NodeExtras {
    fn parse(
        v: &mut Validator,
        relationships: &Option<Map<String, Value>>,
        meta: &Option<Map<String, Value>>,
        node: bool,
    ) -> Self {
        let mut extras = Self::default();
        for (name, value) in relationships.iter().flatten() {
            let source = format!("data.relationships.{name}");
            if !node || name != "parent" {
                v.push(
                    &source,
                    "Not Supported",
                    format!("The relationship {name} cannot be set here"),
                );
                continue;
            }
            extras.parent = match value.get("data") {
                Some(Value::Null) => Some(None),
                Some(data) if data.get("type").and_then(Value::as_str) == Some("node") => {
                    match data
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|id| Uuid::parse_str(id).ok())
                    {
                        Some(id) => Some(Some(id)),
                        None => {
                            v.push(
                                format!("{source}.data.id"),
                                "invalid",
                                "id must be the id of a node",
                            );
                            None
                        }
                    }
                }
                _ => {
                    v.push(
                        format!("{source}.data"),
                        "invalid",
                        "parent must be {\"data\": {\"type\": \"node\", \"id\": …}} or {\"data\": null}",
                    );
                    None
                }
            };
        }
        for (name, value) in meta.iter().flatten() {
            let source = format!("data.meta.{name}");
            match (node, name.as_str(), value) {
                (true, "sort_order", Value::Null) => extras.sort_order = Some(None),
                (true, "sort_order", n) if n.as_i64().is_some() => extras.sort_order = Some(n.as_i64()),
                (true, "sort_order", _) => v.push(&source, "invalid", "sort_order must be an integer"),
                _ => v.push(
                    &source,
                    "Not Supported",
                    format!("meta.{name} cannot be set here"),
                ),
            }
        }
        extras
    }
}

fn render(h: &Hierarchy) -> Value {
    json!({
        "type": "hierarchy",
        "id": h.id,
        "attributes": pcm::compact(json!({"name": h.name, "description": h.description, "slug": h.slug})),
        "relationships": {
            "children": { "data": [], "links": { "related": format!("/hierarchies/{}/children", h.id) } },
        },
        "meta": pcm::meta(h.created_at, h.updated_at, json!({
            "breadcrumbs": [pcm::compact(json!({"id": h.id, "name": h.name, "slug": h.slug}))],
        })),
    })
}

fn render_node(n: &Node) -> Value {
    let base = format!("/hierarchies/{}/nodes/{}", n.hierarchy_id, n.id);
    let mut relationships = json!({
        "children": { "data": [], "links": { "related": format!("{base}/children") } },
        "products": { "data": [], "links": { "related": format!("{base}/products") } },
    });
    if let Some(parent) = n.parent_id {
        relationships["parent"] = json!({ "data": { "type": "node", "id": parent } });
    }
    json!({
        "type": "node",
        "id": n.id,
        "attributes": pcm::compact(json!({"name": n.name, "description": n.description, "slug": n.slug})),
        "relationships": relationships,
        "meta": pcm::meta(n.created_at, n.updated_at, pcm::compact(json!({
            "hierarchy_id": n.hierarchy_id,
            "sort_order": n.sort_order,
        }))),
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("Hierarchy not found", "No hierarchy with this id")
}

fn node_not_found() -> ApiError {
    ApiError::not_found("Node not found", "No node with this id in this hierarchy")
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (a, _) = parse(body, "hierarchy", None)?;
    let now = now_millis();
    let hierarchy = Hierarchy {
        id: kassa_core::ids::new_id(),
        name: a.name.flatten().unwrap_or_default(),
        description: a.description.flatten(),
        slug: a.slug.flatten(),
        created_at: now,
        updated_at: now,
    };
    let hierarchy = state.store.create_hierarchy(hierarchy).await?;
    Ok((StatusCode::CREATED, Json(envelope::single(render(&hierarchy)))))
}

async fn show(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let hierarchy = state.store.hierarchy(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&hierarchy))))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let page = state.store.hierarchies(query.page).await?;
    let items = page.items.iter().map(render).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let (a, _) = parse(body, "hierarchy", Some(id))?;
    let now = now_millis();
    let hierarchy = state
        .store
        .update_hierarchy(
            id,
            Box::new(move |h| {
                set!(h.name, a.name.flatten());
                set!(h.description, a.description);
                set!(h.slug, a.slug);
                h.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&hierarchy))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    if !state.store.delete_hierarchy(id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The hierarchy id of the path, which must exist.
async fn existing_hierarchy(state: &AppState, id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(id, not_found)?;
    state.store.hierarchy(id).await?.ok_or_else(not_found)?;
    Ok(id)
}

/// The hierarchy and node ids of the path; the node must exist in the hierarchy.
async fn existing_node(state: &AppState, hierarchy: &str, node: &str) -> ApiResult<Node> {
    let hierarchy = existing_hierarchy(state, hierarchy).await?;
    let node = parse_uuid(node, node_not_found)?;
    state
        .store
        .node(hierarchy, node)
        .await?
        .ok_or_else(node_not_found)
}

async fn create_node(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(hierarchy): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let hierarchy_id = existing_hierarchy(&state, &hierarchy).await?;
    let (a, extras) = parse(body, "node", None)?;
    let now = now_millis();
    let node = Node {
        id: kassa_core::ids::new_id(),
        hierarchy_id,
        parent_id: extras.parent.flatten(),
        name: a.name.flatten().unwrap_or_default(),
        description: a.description.flatten(),
        slug: a.slug.flatten(),
        sort_order: extras.sort_order.flatten(),
        created_at: now,
        updated_at: now,
    };
    let node = state.store.create_node(node).await?;
    Ok((StatusCode::CREATED, Json(envelope::single(render_node(&node)))))
}

async fn show_node(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((hierarchy, node)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let node = existing_node(&state, &hierarchy, &node).await?;
    Ok(Json(envelope::single(render_node(&node))))
}

async fn list_nodes(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(hierarchy): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[("parent_id", &[FilterOp::Eq])])?;
    let hierarchy_id = existing_hierarchy(&state, &hierarchy).await?;
    let page = state
        .store
        .nodes(hierarchy_id, &query.filters, query.page)
        .await?;
    let items = page.items.iter().map(render_node).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update_node(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((hierarchy, node)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<Json<Value>> {
    let node = existing_node(&state, &hierarchy, &node).await?;
    let (a, extras) = parse(body, "node", Some(node.id))?;
    let now = now_millis();
    let node = state
        .store
        .update_node(
            node.hierarchy_id,
            node.id,
            Box::new(move |n| {
                set!(n.name, a.name.flatten());
                set!(n.description, a.description);
                set!(n.slug, a.slug);
                set!(n.parent_id, extras.parent);
                set!(n.sort_order, extras.sort_order);
                n.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(node_not_found)?;
    Ok(Json(envelope::single(render_node(&node))))
}

async fn remove_node(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((hierarchy, node)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let node = existing_node(&state, &hierarchy, &node).await?;
    if !state.store.delete_node(node.hierarchy_id, node.id).await? {
        return Err(node_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `{"data": [{"type": "product", "id": …}, …]}`
#[derive(Deserialize)]
struct ProductRefs {
    data: Vec<ProductRef>,
}

#[derive(Deserialize)]
struct ProductRef {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
}

fn product_ids(body: ProductRefs) -> Result<Vec<Uuid>, Error> {
    let mut v = Validator::new();
    let mut ids = Vec::new();
    if body.data.is_empty() {
        v.push("data", "required", "List at least one product");
    }
    for (i, r) in body.data.into_iter().enumerate() {
        if r.kind.as_deref() != Some("product") {
            v.push(format!("data[{i}].type"), "invalid", "type must be product");
        }
        match r.id.as_deref().map(Uuid::parse_str) {
            Some(Ok(id)) => ids.push(id),
            _ => v.push(
                format!("data[{i}].id"),
                "invalid",
                "id must be the id of a product",
            ),
        }
    }
    v.finish()?;
    Ok(ids)
}

async fn add_products(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((hierarchy, node)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ProductRefs>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let node = existing_node(&state, &hierarchy, &node).await?;
    let ids = product_ids(body)?;
    state.store.add_node_products(node.id, ids, now_millis()).await?;
    Ok((StatusCode::CREATED, Json(envelope::single(render_node(&node)))))
}

async fn remove_products(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((hierarchy, node)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ProductRefs>,
) -> ApiResult<Json<Value>> {
    let node = existing_node(&state, &hierarchy, &node).await?;
    let ids = product_ids(body)?;
    state.store.remove_node_products(node.id, ids).await?;
    Ok(Json(envelope::single(render_node(&node))))
}

async fn node_products(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath((hierarchy, node)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let node = existing_node(&state, &hierarchy, &node).await?;
    let page = state.store.node_products(node.id, query.page).await?;
    let items = crate::routes::products::render_all(&state, &page.items, &origin).await?;
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}
