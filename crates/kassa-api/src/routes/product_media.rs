//! A product's pictures: `/pcm/products/{id}/relationships/main_image` (one file) and
//! `…/relationships/files` (an ordered list), as `pim.yaml` shapes them. Writes answer 204, as the
//! spec says. Shoppers see them once the product's catalog is published again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use kassa_core::file::{FilesChange, MAX_PRODUCT_FILES, MediaChange};
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub(crate) fn routes() -> Routes {
    Routes::new()
        .route(
            "/pcm/products/{id}/relationships/main_image",
            get(main_image)
                .post(set_main_image)
                .put(set_main_image)
                .delete(clear_main_image),
        )
        .route(
            "/pcm/products/{id}/relationships/files",
            get(files).post(add_files).put(replace_files).delete(remove_files),
        )
}

fn product_not_found() -> ApiError {
    ApiError::not_found("Product not found", "No product with this id")
}

/// Checks one `{"type": "file", "id": …}` at `at` (`data`, `data[2]`) and returns its id.
/// `meta` is allowed only where a list item may carry it, and then must be empty: kassa keeps
/// no file tags.
fn file_ref(v: &mut Validator, value: &Value, at: &str, meta_allowed: bool) -> Option<Uuid> {
    let Some(object) = value.as_object() else {
        v.push(
            at,
            "invalid",
            format!("{at} must be an object {{\"type\": \"file\", \"id\"}}"),
        );
        return None;
    };
    match object.get("type").and_then(Value::as_str) {
        Some("file") => {}
        Some(_) => v.push(format!("{at}.type"), "invalid", "type must be file"),
        None => v.push(format!("{at}.type"), "required", "type is required"),
    }
    for (key, value) in object {
        match key.as_str() {
            "type" | "id" => {}
            "meta" if meta_allowed => match value {
                Value::Null => {}
                Value::Object(meta) => {
                    for key in meta.keys() {
                        v.push(
                            format!("{at}.meta.{key}"),
                            "Not Supported",
                            format!("File {key} are not supported by this server"),
                        );
                    }
                }
                _ => v.push(format!("{at}.meta"), "invalid", "meta must be an object"),
            },
            _ => v.push(
                format!("{at}.{key}"),
                "Not Supported",
                format!("{key} is not supported here"),
            ),
        }
    }
    match object.get("id").and_then(Value::as_str).map(Uuid::parse_str) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            v.push(format!("{at}.id"), "invalid", "id must be the id of a file");
            None
        }
        None => {
            v.push(format!("{at}.id"), "required", "id is required");
            None
        }
    }
}

/// The one file of a main image body.
fn one_file(body: &Value) -> Result<Uuid, Error> {
    let mut v = Validator::new();
    let id = match body.get("data") {
        Some(data) => file_ref(&mut v, data, "data", false),
        None => v.required(None, "data"),
    };
    v.finish()?;
    id.ok_or_else(|| Error::internal("a checked file reference is missing"))
}

/// The files of a files body, in order.
fn file_list(body: &Value) -> Result<Vec<Uuid>, Error> {
    let mut v = Validator::new();
    let mut ids = Vec::new();
    match body.get("data") {
        Some(Value::Array(items)) if items.len() > MAX_PRODUCT_FILES => v.push(
            "data",
            "invalid",
            format!("A product has at most {MAX_PRODUCT_FILES} files"),
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(id) = file_ref(&mut v, item, &format!("data[{i}]"), true) {
                    ids.push(id);
                }
            }
        }
        Some(_) => v.push(
            "data",
            "invalid",
            "data must be an array of {\"type\": \"file\", \"id\"}",
        ),
        None => {
            v.required(None::<()>, "data");
        }
    }
    v.finish()?;
    Ok(ids)
}

/// The answer to a change: 204, or why nothing changed. `source` names where a file was given.
fn outcome(change: MediaChange, source: impl Fn(Uuid) -> String) -> ApiResult<StatusCode> {
    match change {
        MediaChange::Done => Ok(StatusCode::NO_CONTENT),
        MediaChange::NoProduct => Err(product_not_found()),
        MediaChange::NoFile(id) => {
            Err(ApiError::not_found("File not found", format!("No file {id}")).with_source(source(id)))
        }
        MediaChange::TooManyFiles => Err(ApiError::bad_request(format!(
            "A product has at most {MAX_PRODUCT_FILES} files"
        ))
        .with_source("data")),
    }
}

fn references(ids: impl IntoIterator<Item = Uuid>) -> Value {
    json!({ "data": ids.into_iter().map(|id| json!({ "type": "file", "id": id })).collect::<Vec<_>>() })
}

/// `{"data": [{"type": "file", "id"}]}`, or `{"data": []}`: `pim.yaml` answers a list here.
async fn main_image(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, product_not_found)?;
    let product = state.store.product(id).await?.ok_or_else(product_not_found)?;
    Ok(Json(references(product.main_image)))
}

async fn set_main_image(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, product_not_found)?;
    let file = one_file(&body)?;
    let change = state.store.set_main_image(id, Some(file), now_millis()).await?;
    outcome(change, |_| "data.id".into())
}

async fn clear_main_image(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, product_not_found)?;
    let change = state.store.set_main_image(id, None, now_millis()).await?;
    outcome(change, |_| "data.id".into())
}

async fn files(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, product_not_found)?;
    let product = state.store.product(id).await?.ok_or_else(product_not_found)?;
    Ok(Json(references(product.files)))
}

async fn change_files(
    state: &AppState,
    id: &str,
    body: &Value,
    change: FilesChange,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(id, product_not_found)?;
    let files = file_list(body)?;
    let outcome_files = files.clone();
    let result = state
        .store
        .change_product_files(id, change, files, now_millis())
        .await?;
    outcome(result, |missing| {
        let at = outcome_files.iter().position(|f| *f == missing).unwrap_or(0);
        format!("data[{at}].id")
    })
}

async fn add_files(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    change_files(&state, &id, &body, FilesChange::Add).await
}

async fn replace_files(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    change_files(&state, &id, &body, FilesChange::Replace).await
}

async fn remove_files(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    change_files(&state, &id, &body, FilesChange::Remove).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(e: Error) -> Vec<String> {
        match e {
            Error::Validation(problems) => problems.into_iter().map(|p| p.source).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn main_image_bodies() {
        let id = "00000000-0000-4000-8000-000000000001";
        assert_eq!(
            one_file(&json!({"data": {"type": "file", "id": id}})).unwrap(),
            Uuid::parse_str(id).unwrap()
        );
        let cases = [
            (json!({}), vec!["data"]),
            (json!({"data": []}), vec!["data"]),
            (
                json!({"data": {"type": "image", "id": "x"}}),
                vec!["data.type", "data.id"],
            ),
            (json!({"data": {"id": id}}), vec!["data.type"]),
            (json!({"data": {"type": "file"}}), vec!["data.id"]),
            (
                json!({"data": {"type": "file", "id": id, "meta": {}}}),
                vec!["data.meta"],
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(sources(one_file(&body).unwrap_err()), expected, "{body}");
        }
    }

    #[test]
    fn file_list_bodies() {
        let id = "00000000-0000-4000-8000-000000000001";
        assert_eq!(file_list(&json!({"data": []})).unwrap(), Vec::<Uuid>::new());
        assert_eq!(
            file_list(&json!({"data": [{"type": "file", "id": id, "meta": {}}]}))
                .unwrap()
                .len(),
            1
        );
        let many: Vec<Value> = (0..=MAX_PRODUCT_FILES)
            .map(|_| json!({"type": "file", "id": id}))
            .collect();
        let cases = [
            (json!({}), vec!["data"]),
            (json!({"data": {"type": "file", "id": id}}), vec!["data"]),
            (json!({"data": many}), vec!["data"]),
            (
                json!({"data": [{"type": "file", "id": id}, {"type": "file", "id": 7}]}),
                vec!["data[1].id"],
            ),
            (
                json!({"data": [{"type": "file", "id": id, "meta": {"tags": ["front"]}}]}),
                vec!["data[0].meta.tags"],
            ),
            (json!({"data": [5]}), vec!["data[0]"]),
        ];
        for (body, expected) in cases {
            assert_eq!(sources(file_list(&body).unwrap_err()), expected, "{body}");
        }
    }
}
