//! `/pcm/variations`: variations, their options (`…/options`) and the options' modifiers
//! (`…/options/{id}/modifiers`), which say how each child product built with an option differs
//! from its parent (`kassa_core::variations`).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::query::check_filters;
use kassa_core::time::now_millis;
use kassa_core::variations::{Modifier, Variation, VariationOption, check_modifier, slug_safe};
use kassa_core::{Error, Validator};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::pcm::{self, Body, Patch, check_required_text, check_text, present, present_text, set};
use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::variation::{render, render_modifier, render_option, render_tree};

pub fn router() -> Routes {
    pcm::router(
        Routes::new()
            .route("/pcm/variations", get(list).post(create))
            .route("/pcm/variations/{id}", get(show).put(update).delete(remove))
            .route(
                "/pcm/variations/{id}/options",
                get(list_options).post(create_option),
            )
            .route(
                "/pcm/variations/{id}/options/{option}",
                get(show_option).put(update_option).delete(remove_option),
            )
            .route(
                "/pcm/variations/{id}/options/{option}/modifiers",
                get(list_modifiers).post(create_modifier),
            )
            .route(
                "/pcm/variations/{id}/options/{option}/modifiers/{modifier}",
                get(show_modifier).put(update_modifier).delete(remove_modifier),
            ),
    )
}

fn not_found() -> ApiError {
    ApiError::not_found("Variation not found", "No variation with this id")
}

fn option_not_found() -> ApiError {
    ApiError::not_found("Option not found", "No option of this variation with this id")
}

fn modifier_not_found() -> ApiError {
    ApiError::not_found("Modifier not found", "No modifier of this option with this id")
}

/// Checks the body's `type` and path id and no relationships; returns its attributes.
fn attributes<A>(
    body: Body<A>,
    kind: &str,
    path_id: Option<Uuid>,
    check: impl FnOnce(&A, &mut Validator),
) -> Result<A, Error> {
    let mut v = Validator::new();
    for name in body.data.relationships.iter().flat_map(|r| r.keys()) {
        v.push(
            format!("data.relationships.{name}"),
            "Not Supported",
            format!("The relationship {name} cannot be set here"),
        );
    }
    let attributes = body.data.checked(&mut v, kind, path_id);
    if let Some(a) = &attributes {
        check(a, &mut v);
    }
    v.finish()?;
    attributes.ok_or_else(|| Error::internal("validated attributes missing"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariationAttributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    sort_order: Patch<i64>,
}

fn parse_variation(
    body: Body<VariationAttributes>,
    path_id: Option<Uuid>,
) -> Result<VariationAttributes, Error> {
    attributes(body, "product-variation", path_id, |a, v| {
        check_required_text(v, &a.name, "data.attributes.name", 255, path_id.is_none());
    })
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body<VariationAttributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let a = parse_variation(body, None)?;
    let now = now_millis();
    let variation = Variation {
        id: kassa_core::ids::new_id(),
        name: a.name.flatten().unwrap_or_default(),
        sort_order: a.sort_order.flatten(),
        created_at: now,
        updated_at: now,
    };
    let variation = state.store.create_variation(variation).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&variation, None, &origin))),
    ))
}

async fn show(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let tree = state.store.variation(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render_tree(&tree, &origin))))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let page = state.store.variations(query.page).await?;
    let items = page.items.iter().map(|v| render(v, None, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<VariationAttributes>>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let a = parse_variation(body, Some(id))?;
    let now = now_millis();
    let variation = state
        .store
        .update_variation(
            id,
            Box::new(move |v| {
                set!(v.name, a.name.flatten());
                set!(v.sort_order, a.sort_order);
                v.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&variation, None, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    if !state.store.delete_variation(id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionAttributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    description: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    sort_order: Patch<i64>,
}

fn parse_option(body: Body<OptionAttributes>, path_id: Option<Uuid>) -> Result<OptionAttributes, Error> {
    attributes(body, "product-variation-option", path_id, |a, v| {
        let create = path_id.is_none();
        check_required_text(v, &a.name, "data.attributes.name", 255, create);
        if let Some(Some(name)) = &a.name
            && !slug_safe(name)
        {
            v.push(
                "data.attributes.name",
                "invalid",
                "An option name may only contain A-Z, a-z, 0-9, hyphen, underscore and period",
            );
        }
        if create && a.description.is_none() {
            v.required(None::<()>, "data.attributes.description");
        }
        check_text(v, &a.description, "data.attributes.description", 10_000);
    })
}

/// The variation id of the path, which must exist.
async fn existing_variation(state: &AppState, id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(id, not_found)?;
    state.store.variation(id).await?.ok_or_else(not_found)?;
    Ok(id)
}

/// The variation and option ids of the path; the option must be one of the variation's.
async fn existing_option(state: &AppState, variation: &str, option: &str) -> ApiResult<(Uuid, Uuid)> {
    let variation = existing_variation(state, variation).await?;
    let option = parse_uuid(option, option_not_found)?;
    state
        .store
        .option(variation, option)
        .await?
        .ok_or_else(option_not_found)?;
    Ok((variation, option))
}

async fn create_option(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(variation): ApiPath<String>,
    ApiJson(body): ApiJson<Body<OptionAttributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let variation_id = parse_uuid(&variation, not_found)?;
    let a = parse_option(body, None)?;
    let now = now_millis();
    let option = VariationOption {
        id: kassa_core::ids::new_id(),
        variation_id,
        name: a.name.flatten().unwrap_or_default(),
        description: a.description.flatten(),
        sort_order: a.sort_order.flatten(),
        created_at: now,
        updated_at: now,
    };
    let option = state.store.create_option(option).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_option(&option, &origin))),
    ))
}

async fn show_option(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((variation, option)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let variation = parse_uuid(&variation, not_found)?;
    let option = parse_uuid(&option, option_not_found)?;
    let option = state
        .store
        .option(variation, option)
        .await?
        .ok_or_else(option_not_found)?;
    Ok(Json(envelope::single(render_option(&option, &origin))))
}

async fn list_options(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(variation): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let variation = existing_variation(&state, &variation).await?;
    let page = state.store.options(variation, query.page).await?;
    let items = page.items.iter().map(|o| render_option(o, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update_option(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((variation, option)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Body<OptionAttributes>>,
) -> ApiResult<Json<Value>> {
    let variation = parse_uuid(&variation, not_found)?;
    let option = parse_uuid(&option, option_not_found)?;
    let a = parse_option(body, Some(option))?;
    let now = now_millis();
    let option = state
        .store
        .update_option(
            variation,
            option,
            Box::new(move |o| {
                set!(o.name, a.name.flatten());
                set!(o.description, a.description);
                set!(o.sort_order, a.sort_order);
                o.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(option_not_found)?;
    Ok(Json(envelope::single(render_option(&option, &origin))))
}

async fn remove_option(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((variation, option)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let variation = parse_uuid(&variation, not_found)?;
    let option = parse_uuid(&option, option_not_found)?;
    if !state.store.delete_option(variation, option).await? {
        return Err(option_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifierAttributes {
    #[serde(default, rename = "type", deserialize_with = "present")]
    kind: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    value: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    seek: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    set: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    reference_name: Patch<String>,
}

impl ModifierAttributes {
    fn apply(self, m: &mut Modifier) {
        set!(m.kind, self.kind.flatten());
        set!(m.value, self.value);
        set!(m.seek, self.seek);
        set!(m.set, self.set);
        set!(m.reference_name, self.reference_name);
    }
}

/// Parses a modifier body; the modifier it makes is checked by `check_modifier` where it is
/// applied (an update checks the modifier as it would be after the change).
fn parse_modifier(
    body: Body<ModifierAttributes>,
    path_id: Option<Uuid>,
) -> Result<ModifierAttributes, Error> {
    attributes(body, "product-variation-modifier", path_id, |a, v| {
        check_required_text(v, &a.kind, "data.attributes.type", 255, path_id.is_none());
        check_text(v, &a.reference_name, "data.attributes.reference_name", 255);
    })
}

/// Checks a modifier as it will be stored.
fn checked(m: &Modifier) -> Result<(), Error> {
    let mut v = Validator::new();
    check_modifier(m, &mut v);
    v.finish()
}

async fn create_modifier(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((variation, option)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Body<ModifierAttributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (variation, option_id) = existing_option(&state, &variation, &option).await?;
    let a = parse_modifier(body, None)?;
    let now = now_millis();
    let mut modifier = Modifier {
        id: kassa_core::ids::new_id(),
        option_id,
        kind: String::new(),
        value: None,
        seek: None,
        set: None,
        reference_name: None,
        created_at: now,
        updated_at: now,
    };
    a.apply(&mut modifier);
    checked(&modifier)?;
    let modifier = state.store.create_modifier(variation, modifier).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_modifier(&modifier))),
    ))
}

/// The ids of a modifier's path.
fn modifier_path(variation: &str, option: &str, modifier: &str) -> ApiResult<(Uuid, Uuid, Uuid)> {
    Ok((
        parse_uuid(variation, not_found)?,
        parse_uuid(option, option_not_found)?,
        parse_uuid(modifier, modifier_not_found)?,
    ))
}

async fn show_modifier(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((variation, option, modifier)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (variation, option, modifier) = modifier_path(&variation, &option, &modifier)?;
    let modifier = state
        .store
        .modifier(variation, option, modifier)
        .await?
        .ok_or_else(modifier_not_found)?;
    Ok(Json(envelope::single(render_modifier(&modifier))))
}

async fn list_modifiers(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath((variation, option)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let (variation, option) = existing_option(&state, &variation, &option).await?;
    let page = state.store.modifiers(variation, option, query.page).await?;
    let items = page.items.iter().map(render_modifier).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update_modifier(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((variation, option, modifier)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<Body<ModifierAttributes>>,
) -> ApiResult<Json<Value>> {
    let (variation, option, modifier) = modifier_path(&variation, &option, &modifier)?;
    let a = parse_modifier(body, Some(modifier))?;
    let now = now_millis();
    let modifier = state
        .store
        .update_modifier(
            variation,
            option,
            modifier,
            Box::new(move |m| {
                a.apply(m);
                checked(m)?;
                m.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(modifier_not_found)?;
    Ok(Json(envelope::single(render_modifier(&modifier))))
}

async fn remove_modifier(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((variation, option, modifier)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (variation, option, modifier) = modifier_path(&variation, &option, &modifier)?;
    if !state.store.delete_modifier(variation, option, modifier).await? {
        return Err(modifier_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
