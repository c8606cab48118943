//! `/catalogs` (also under `/pcm/catalogs`, as the classic client calls it): catalogs, their
//! published releases and catalog rules. Admin only.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::catalog::{Catalog, MAX_CATALOG_PRICEBOOKS, PrioritizedPricebook};
use kassa_core::catalog_rule::CatalogRule;
use kassa_core::integrations::{EventKind, deleted_payload};
use kassa_core::pricing::Schedule;
use kassa_core::release::{Release, build_snapshot};
use kassa_core::time::{now_millis, rfc3339};
use kassa_core::{Error, Validator};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::pcm::{self, Body, Patch, check_required_text, check_text, present, present_text, set};
use crate::auth::Admin;
use crate::background::run_at_lowest_priority;
use crate::catalog_view::ShopperRelease;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, moment, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    let mut routes = Routes::new();
    for prefix in ["", "/pcm"] {
        routes = routes
            .route(&format!("{prefix}/catalogs"), get(list).post(create))
            .route(
                &format!("{prefix}/catalogs/{{id}}"),
                get(show).put(update).delete(remove),
            )
            .route(
                &format!("{prefix}/catalogs/{{id}}/releases"),
                get(list_releases).post(publish),
            )
            .route(
                &format!("{prefix}/catalogs/{{id}}/releases/{{release}}"),
                get(show_release),
            )
            .route(
                &format!("{prefix}/catalogs/rules"),
                get(list_rules).post(create_rule),
            )
            .route(
                &format!("{prefix}/catalogs/rules/{{id}}"),
                get(show_rule).put(update_rule).delete(remove_rule),
            );
    }
    pcm::router(routes)
}

fn not_found() -> ApiError {
    ApiError::not_found("Catalog not found", "No catalog with this id")
}

fn release_not_found() -> ApiError {
    ApiError::not_found("Release not found", "No release with this id in this catalog")
}

fn rule_not_found() -> ApiError {
    ApiError::not_found("Catalog rule not found", "No catalog rule with this id")
}

/// Ids given as strings; a malformed one is reported against `source`.
fn ids(v: &mut Validator, values: &[String], source: &str) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, raw) in values.iter().enumerate() {
        match Uuid::parse_str(raw) {
            Ok(id) if seen.insert(id) => out.push(id),
            Ok(_) => v.push(format!("{source}.{i}"), "invalid", "An id may be given only once"),
            Err(_) => v.push(format!("{source}.{i}"), "invalid", "Expected a UUID"),
        }
    }
    out
}

// ---- catalogs ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    description: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    hierarchy_ids: Patch<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pricebook_id: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    pricebook_ids: Patch<Vec<PricebookIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricebookIn {
    id: String,
    priority: i64,
}

/// A validated catalog body: each field `None` when it keeps its value.
struct CatalogChange {
    name: Option<String>,
    description: Patch<String>,
    hierarchy_ids: Option<Vec<Uuid>>,
    pricebooks: Option<Vec<PrioritizedPricebook>>,
}

impl CatalogChange {
    fn apply(self, c: &mut Catalog) {
        set!(c.name, self.name);
        set!(c.description, self.description);
        set!(c.hierarchy_ids, self.hierarchy_ids);
        set!(c.pricebooks, self.pricebooks);
    }
}

fn parse(body: Body<Attributes>, path_id: Option<Uuid>) -> Result<CatalogChange, Error> {
    let mut v = Validator::new();
    let Some(a) = body.data.checked(&mut v, "catalog", path_id) else {
        v.finish()?;
        return Err(Error::internal("validated attributes missing"));
    };
    check_required_text(&mut v, &a.name, "data.attributes.name", 255, path_id.is_none());
    check_text(&mut v, &a.description, "data.attributes.description", 10_000);
    let hierarchy_ids = a
        .hierarchy_ids
        .map(|h| ids(&mut v, &h.unwrap_or_default(), "data.attributes.hierarchy_ids"));
    let pricebooks = match (a.pricebook_id, a.pricebook_ids) {
        (Some(Some(_)), Some(Some(_))) => {
            v.push(
                "data.attributes.pricebook_ids",
                "invalid",
                "Give either pricebook_id or pricebook_ids, not both",
            );
            None
        }
        (Some(Some(id)), _) => {
            let id = ids(&mut v, &[id], "data.attributes.pricebook_id");
            Some(
                id.into_iter()
                    .map(|id| PrioritizedPricebook { id, priority: 1 })
                    .collect(),
            )
        }
        (_, Some(Some(books))) => {
            if books.is_empty() || books.len() > MAX_CATALOG_PRICEBOOKS {
                v.push(
                    "data.attributes.pricebook_ids",
                    "invalid",
                    format!("A catalog has 1 to {MAX_CATALOG_PRICEBOOKS} price books"),
                );
            }
            let raw: Vec<String> = books.iter().map(|b| b.id.clone()).collect();
            let parsed = ids(&mut v, &raw, "data.attributes.pricebook_ids");
            Some(
                parsed
                    .into_iter()
                    .zip(&books)
                    .map(|(id, b)| PrioritizedPricebook {
                        id,
                        priority: b.priority,
                    })
                    .collect(),
            )
        }
        (Some(None), _) | (_, Some(None)) => Some(Vec::new()),
        (None, None) => None,
    };
    v.finish()?;
    Ok(CatalogChange {
        name: a.name.flatten(),
        description: a.description,
        hierarchy_ids,
        pricebooks,
    })
}

fn render(c: &Catalog, origin: &Origin) -> Value {
    let books: Vec<Value> = c
        .pricebooks
        .iter()
        .map(|b| json!({"id": b.id, "priority": b.priority}))
        .collect();
    let single = match c.pricebooks.as_slice() {
        [one] => Some(one.id),
        _ => None,
    };
    let base = format!("/catalogs/{}", c.id);
    json!({
        "type": "catalog",
        "id": c.id,
        "attributes": pcm::compact(json!({
            "name": c.name,
            "description": c.description.clone().unwrap_or_default(),
            "hierarchy_ids": c.hierarchy_ids,
            "pricebook_id": single,
            "pricebook_ids": books,
            "created_at": rfc3339(c.created_at),
            "updated_at": rfc3339(c.updated_at),
            "owner": "store",
        })),
        "relationships": {
            "releases": { "links": { "related": origin.url(&format!("{base}/releases")) } },
            "rules": { "links": { "related": origin.url("/catalogs/rules") } },
        },
        "links": { "self": origin.url(&base) },
    })
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let change = parse(body, None)?;
    let now = now_millis();
    let mut catalog = Catalog {
        id: kassa_core::ids::new_id(),
        name: String::new(),
        description: None,
        hierarchy_ids: Vec::new(),
        pricebooks: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    change.apply(&mut catalog);
    let catalog = state.store.create_catalog(catalog).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&catalog, &origin))),
    ))
}

async fn show(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let catalog = state.store.catalog(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&catalog, &origin))))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    kassa_core::query::check_filters(&query.filters, &[])?;
    let page = state.store.catalogs(query.page).await?;
    let items = page.items.iter().map(|c| render(c, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let change = parse(body, Some(id))?;
    let now = now_millis();
    let catalog = state
        .store
        .update_catalog(
            id,
            Box::new(move |c| {
                change.apply(c);
                c.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(not_found)?;
    state.catalog_view.invalidate();
    Ok(Json(envelope::single(render(&catalog, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    if !state.store.delete_catalog(id).await? {
        return Err(not_found());
    }
    state.catalog_view.invalidate();
    Ok(StatusCode::NO_CONTENT)
}

// ---- releases ----

fn render_release(r: &Release, origin: &Origin) -> Value {
    let published = rfc3339(r.published_at);
    json!({
        "type": "catalog-release",
        "id": r.id,
        "attributes": {
            "catalog_id": r.catalog_id,
            "published_at": published,
        },
        "meta": {
            "created_at": published,
            "started_at": published,
            "updated_at": published,
            "release_status": "PUBLISHED",
            "is_full_publish": true,
            "is_full_delta": true,
            "percent_completed": 100,
            "total_products": r.total_products,
            "total_nodes": r.total_nodes,
            "owner": "store",
        },
        "links": { "self": origin.url(&format!("/catalogs/{}/releases/{}", r.catalog_id, r.id)) },
    })
}

/// Publishes: one consistent read of the catalog's content, a pure snapshot of it, and one write
/// that stores it and drops releases beyond the newest three. The request body (publish options)
/// is not needed and not read.
///
/// The snapshot, its JSON and its parsed form for this node's shoppers are made on a thread at
/// the lowest priority: seconds of CPU for a large catalog that carts and checkouts running
/// meanwhile should not feel.
async fn publish(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = parse_uuid(&id, not_found)?;
    let source = state.store.release_source(id).await?.ok_or_else(not_found)?;
    if source.catalog.pricebooks.is_empty() {
        return Err(Error::bad_request(
            "Catalog has no price book",
            "A catalog needs at least one price book (pricebook_id or pricebook_ids) before it can be published",
        )
        .into());
    }
    let (parsed, document) = run_at_lowest_priority("publish", move || {
        let snapshot = build_snapshot(source);
        let document = snapshot.to_document();
        let release = Release {
            id: kassa_core::ids::new_id(),
            catalog_id: id,
            published_at: now_millis(),
            total_products: snapshot.products.len() as i64,
            total_nodes: snapshot.nodes.len() as i64,
        };
        (Arc::new(ShopperRelease::new(release, snapshot)), document)
    })
    .await
    .map_err(Error::internal)?;
    let events = state.integrations.events(EventKind::CatalogReleaseCreated, || {
        envelope::single(render_release(&parsed.release, &origin)).to_string()
    });
    let emitted = !events.is_empty();
    let release = state
        .catalog_view
        .publish(Arc::clone(&parsed), || {
            state
                .store
                .publish_release(parsed.release.clone(), document, events)
        })
        .await?;
    if emitted {
        state.integrations.committed();
    }
    let indexing = state.clone();
    kassa_core::context::spawn(async move { indexing.search.refresh(indexing.search_sources()).await });
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_release(&release, &origin))),
    ))
}

async fn list_releases(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    state.store.catalog(id).await?.ok_or_else(not_found)?;
    let releases = state.store.releases(id).await?;
    let items: Vec<Value> = releases.iter().map(|r| render_release(r, &origin)).collect();
    Ok(Json(json!({
        "data": items,
        "links": { "self": origin.url(&format!("/catalogs/{id}/releases")) },
        "meta": { "results": { "total": releases.len() } },
    })))
}

async fn show_release(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, release)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let release = parse_uuid(&release, release_not_found)?;
    let release = state
        .store
        .release(id, release)
        .await?
        .ok_or_else(release_not_found)?;
    Ok(Json(envelope::single(render_release(&release, &origin))))
}

// ---- rules ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleAttributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    description: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    catalog_id: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    account_ids: Patch<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    customer_ids: Patch<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    channels: Patch<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    tags: Patch<Vec<String>>,
    /// Elastic Path's form: several periods.
    #[serde(default, deserialize_with = "present")]
    schedules: Patch<Vec<ScheduleIn>>,
    /// One period, a shorthand for `schedules: [schedule]`.
    #[serde(default, deserialize_with = "present")]
    schedule: Patch<ScheduleIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleIn {
    valid_from: Option<String>,
    valid_to: Option<String>,
}

struct RuleChange {
    name: Option<String>,
    description: Patch<String>,
    catalog_id: Option<Uuid>,
    account_ids: Option<Vec<String>>,
    customer_ids: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    schedules: Option<Vec<Schedule>>,
}

impl RuleChange {
    fn apply(self, r: &mut CatalogRule) {
        set!(r.name, self.name);
        set!(r.description, self.description);
        set!(r.catalog_id, self.catalog_id);
        set!(r.account_ids, self.account_ids);
        set!(r.customer_ids, self.customer_ids);
        set!(r.channels, self.channels);
        set!(r.tags, self.tags);
        set!(r.schedules, self.schedules);
    }
}

fn schedules(v: &mut Validator, input: Vec<ScheduleIn>, source: &str) -> Vec<Schedule> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let source = format!("{source}.{i}");
            let valid_from = moment(v, s.valid_from, &format!("{source}.valid_from"));
            let valid_to = moment(v, s.valid_to, &format!("{source}.valid_to"));
            if let (Some(from), Some(to)) = (valid_from, valid_to)
                && to <= from
            {
                v.push(
                    format!("{source}.valid_to"),
                    "invalid",
                    "valid_to must be after valid_from",
                );
            }
            Schedule { valid_from, valid_to }
        })
        .collect()
}

/// A list criterion: each value a non-blank string.
fn criterion(v: &mut Validator, value: Patch<Vec<String>>, source: &str) -> Option<Vec<String>> {
    let list = value?.unwrap_or_default();
    for (i, item) in list.iter().enumerate() {
        if item.trim().is_empty() {
            v.push(format!("{source}.{i}"), "invalid", "Values must not be empty");
        }
    }
    Some(list)
}

fn parse_rule(body: Body<RuleAttributes>, path_id: Option<Uuid>) -> Result<RuleChange, Error> {
    let create = path_id.is_none();
    let mut v = Validator::new();
    let Some(a) = body.data.checked(&mut v, "catalog_rule", path_id) else {
        v.finish()?;
        return Err(Error::internal("validated attributes missing"));
    };
    check_required_text(&mut v, &a.name, "data.attributes.name", 255, create);
    check_text(&mut v, &a.description, "data.attributes.description", 10_000);
    check_required_text(&mut v, &a.catalog_id, "data.attributes.catalog_id", 64, create);
    let catalog_id = match a.catalog_id.flatten() {
        Some(raw) => {
            let id = Uuid::parse_str(&raw).ok();
            if id.is_none() {
                v.push("data.attributes.catalog_id", "invalid", "Expected a UUID");
            }
            id
        }
        None => None,
    };
    let account_ids = criterion(&mut v, a.account_ids, "data.attributes.account_ids");
    let customer_ids = criterion(&mut v, a.customer_ids, "data.attributes.customer_ids");
    let channels = criterion(&mut v, a.channels, "data.attributes.channels");
    let tags = criterion(&mut v, a.tags, "data.attributes.tags");
    let schedules = match (a.schedules, a.schedule) {
        (Some(Some(_)), Some(Some(_))) => {
            v.push(
                "data.attributes.schedule",
                "invalid",
                "Give either schedule or schedules, not both",
            );
            None
        }
        (Some(list), _) => Some(schedules(
            &mut v,
            list.unwrap_or_default(),
            "data.attributes.schedules",
        )),
        (_, Some(one)) => Some(schedules(
            &mut v,
            one.into_iter().collect(),
            "data.attributes.schedule",
        )),
        (None, None) => None,
    };
    v.finish()?;
    Ok(RuleChange {
        name: a.name.flatten(),
        description: a.description,
        catalog_id,
        account_ids,
        customer_ids,
        channels,
        tags,
        schedules,
    })
}

fn render_rule(r: &CatalogRule, origin: &Origin) -> Value {
    let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.clone());
    let schedules: Vec<Value> = r
        .schedules
        .iter()
        .map(|s| {
            pcm::compact(json!({
                "valid_from": s.valid_from.map(rfc3339),
                "valid_to": s.valid_to.map(rfc3339),
            }))
        })
        .collect();
    json!({
        "type": "catalog_rule",
        "id": r.id,
        "attributes": pcm::compact(json!({
            "name": r.name,
            "description": r.description,
            "catalog_id": r.catalog_id,
            "account_ids": list(&r.account_ids),
            "customer_ids": list(&r.customer_ids),
            "channels": list(&r.channels),
            "tags": list(&r.tags),
            "schedules": (!schedules.is_empty()).then_some(schedules),
            "created_at": rfc3339(r.created_at),
            "updated_at": rfc3339(r.updated_at),
        })),
        "links": { "self": origin.url(&format!("/catalogs/rules/{}", r.id)) },
    })
}

async fn create_rule(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body<RuleAttributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let change = parse_rule(body, None)?;
    let now = now_millis();
    let mut rule = CatalogRule {
        id: kassa_core::ids::new_id(),
        name: String::new(),
        description: None,
        catalog_id: Uuid::nil(),
        account_ids: Vec::new(),
        customer_ids: Vec::new(),
        channels: Vec::new(),
        tags: Vec::new(),
        schedules: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    change.apply(&mut rule);
    let events = state.integrations.events(EventKind::CatalogRuleCreated, || {
        envelope::single(render_rule(&rule, &origin)).to_string()
    });
    let emitted = !events.is_empty();
    let rule = state.store.create_catalog_rule(rule, events).await?;
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_rule(&rule, &origin))),
    ))
}

async fn show_rule(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, rule_not_found)?;
    let rule = state.store.catalog_rule(id).await?.ok_or_else(rule_not_found)?;
    Ok(Json(envelope::single(render_rule(&rule, &origin))))
}

async fn list_rules(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    kassa_core::query::check_filters(&query.filters, &[])?;
    let page = state.store.catalog_rules(query.page).await?;
    let items = page.items.iter().map(|r| render_rule(r, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update_rule(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<RuleAttributes>>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, rule_not_found)?;
    let change = parse_rule(body, Some(id))?;
    let now = now_millis();
    let shown = origin.clone();
    let emit = state
        .integrations
        .emit(EventKind::CatalogRuleUpdated, move |r: &CatalogRule| {
            envelope::single(render_rule(r, &shown)).to_string()
        });
    let emitted = emit.is_some();
    let rule = state
        .store
        .update_catalog_rule(
            id,
            Box::new(move |r| {
                change.apply(r);
                r.updated_at = now;
                Ok(())
            }),
            emit,
        )
        .await?
        .ok_or_else(rule_not_found)?;
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok(Json(envelope::single(render_rule(&rule, &origin))))
}

async fn remove_rule(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, rule_not_found)?;
    let events = state.integrations.events(EventKind::CatalogRuleDeleted, || {
        deleted_payload("catalog_rule", id)
    });
    let emitted = !events.is_empty();
    if !state.store.delete_catalog_rule(id, events).await? {
        return Err(rule_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
