//! `/v2/files`: images and documents for products, and `/files/{id}/{file_name}`, where kassa
//! serves an upload's bytes (`link.href`).
//!
//! Who may do what: a client_credentials token uploads and deletes; any access token reads the
//! metadata (the shopper permission matrix gives implicit tokens read on `/files`, and the
//! reference storefront lists files with one). The content needs no token, like Elastic Path's
//! CDN: a storefront puts `link.href` straight into an `<img>`.
//!
//! An upload is `multipart/form-data` with a `file` part (or a `file_location` URL, and then no
//! bytes are stored) and optional `public` and `file_name`. It has its own size limit
//! (`ApiConfig::max_file_bytes`), not the JSON body limit; its type is read from its bytes
//! (`kassa_core::file::analyze`), never from the client's content type or file name.

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kassa_core::Validator;
use kassa_core::file::{self, File};
use kassa_core::integrations::{EventKind, deleted_payload};
use kassa_core::time::now_millis;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Admin, Caller};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ListQuery, has_content_type, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::file::render;

/// Room for the form's boundaries, part headers and text fields beside the file itself.
const FORM_OVERHEAD: usize = 64 * 1024;
/// The longest text field of the form (`file_location`, `file_name`, `public`).
const MAX_TEXT_FIELD: usize = 4096;
/// A file's content never changes (an id is never reused), so clients and caches may keep it.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/v2/files",
            // The upload reads its body itself, with its own limit.
            post(create).layer(DefaultBodyLimit::disable()).get(list),
        )
        .route("/v2/files/{id}", get(show).delete(remove))
        .route("/files/{id}/{file_name}", get(content))
}

fn not_found() -> ApiError {
    ApiError::not_found("File not found", "No file with this id")
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload Too Large",
        format!("The file is larger than the {limit} bytes this server accepts"),
    )
    .with_source("file")
}

/// What the form held.
#[derive(Default)]
struct Form {
    /// The `file` part's bytes and its own file name.
    file: Option<(Vec<u8>, Option<String>)>,
    file_location: Option<String>,
    public: Option<String>,
    file_name: Option<String>,
}

/// Maps a failure to read the form: over the limit is 413, anything else 400 (never a 500).
fn form_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::bad_request(format!(
            "The multipart/form-data body could not be read: {}",
            e.body_text()
        ))
        .with_source("request")
    }
}

fn duplicate(name: &str) -> ApiError {
    ApiError::bad_request(format!("The form has more than one {name}")).with_source(name)
}

/// Reads the form, holding at most `limit` bytes of file.
async fn read_form(req: Request, limit: usize) -> ApiResult<Form> {
    if !has_content_type(req.headers(), |m| m == "multipart/form-data") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "Expected a body with Content-Type: multipart/form-data",
        ));
    }
    let body_limit = limit + FORM_OVERHEAD;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > body_limit) {
        return Err(too_large(limit));
    }
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, body_limit)));
    let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::bad_request(format!(
            "The multipart/form-data body could not be read: {}",
            e.body_text()
        ))
        .with_source("request")
    })?;
    let mut form = Form::default();
    while let Some(mut field) = multipart.next_field().await.map_err(|e| form_error(e, limit))? {
        let name = field.name().unwrap_or_default().to_owned();
        let cap = if name == "file" { limit } else { MAX_TEXT_FIELD };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, limit))? {
            if bytes.len() + chunk.len() > cap {
                return Err(if name == "file" {
                    too_large(limit)
                } else {
                    ApiError::bad_request(format!("{name} must be at most {MAX_TEXT_FIELD} bytes"))
                        .with_source(&name)
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = |bytes: Vec<u8>| {
            String::from_utf8(bytes)
                .map_err(|_| ApiError::bad_request(format!("{name} must be UTF-8 text")).with_source(&name))
        };
        match name.as_str() {
            "file" => {
                if form.file.is_some() {
                    return Err(duplicate("file"));
                }
                let part_name = field.file_name().and_then(file::part_file_name);
                form.file = Some((bytes, part_name));
            }
            "file_location" | "public" | "file_name" => {
                let slot = match name.as_str() {
                    "file_location" => &mut form.file_location,
                    "public" => &mut form.public,
                    _ => &mut form.file_name,
                };
                if slot.is_some() {
                    return Err(duplicate(&name));
                }
                *slot = Some(text(bytes)?);
            }
            "" => {
                return Err(ApiError::bad_request("A form part has no name").with_source("request"));
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Not Supported",
                    format!("The form field {other} is not supported; send file or file_location, and optionally public and file_name"),
                )
                .with_source(other));
            }
        }
    }
    Ok(form)
}

/// Checks the form and makes the file (and its bytes, for an upload); every problem at once.
fn new_file(form: Form, id: Uuid) -> Result<(File, Option<Vec<u8>>), kassa_core::Error> {
    let mut v = Validator::new();
    let public = match form.public.as_deref().map(str::trim) {
        None => true,
        Some(p) if p.eq_ignore_ascii_case("true") => true,
        Some(p) if p.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            v.push("public", "Validation Failed", "public must be true or false");
            true
        }
    };
    if let Some(name) = &form.file_name
        && let Err(kassa_core::Error::Validation(problems)) = file::check_file_name(name, "file_name")
    {
        for p in problems {
            v.push(p.source, p.title, p.detail);
        }
    }
    let add = |v: &mut Validator, e: kassa_core::Error| {
        if let kassa_core::Error::Validation(problems) = e {
            for p in problems {
                v.push(p.source, p.title, p.detail);
            }
        }
    };
    let made = match (form.file, form.file_location) {
        (Some(_), Some(_)) => {
            v.push(
                "file_location",
                "Validation Failed",
                "Send either file or file_location, not both",
            );
            None
        }
        (None, None) => {
            v.push(
                "file",
                "Validation Failed",
                "You have not supplied a file to store",
            );
            None
        }
        (Some((bytes, part_name)), None) => match file::analyze(&bytes) {
            Ok(a) => {
                let ext = file::extension(a.mime_type).unwrap_or("bin");
                let name = form
                    .file_name
                    .or(part_name)
                    .unwrap_or_else(|| format!("{id}.{ext}"));
                let f = File {
                    id,
                    file_name: name,
                    mime_type: a.mime_type.to_owned(),
                    file_size: Some(bytes.len() as i64),
                    public,
                    width: a.width,
                    height: a.height,
                    sha256: Some(a.sha256),
                    location: None,
                    created_at: now_millis(),
                };
                Some((f, Some(bytes)))
            }
            Err(e) => {
                add(&mut v, e);
                None
            }
        },
        (None, Some(url)) => match file::check_location(url.trim()) {
            Ok((name, mime_type)) => {
                let f = File {
                    id,
                    file_name: form.file_name.or(name).unwrap_or_else(|| "file".into()),
                    mime_type,
                    file_size: None,
                    public,
                    width: None,
                    height: None,
                    sha256: None,
                    location: Some(url.trim().to_owned()),
                    created_at: now_millis(),
                };
                Some((f, None))
            }
            Err(e) => {
                add(&mut v, e);
                None
            }
        },
    };
    v.finish()?;
    made.ok_or_else(|| kassa_core::Error::internal("a checked file is missing"))
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let form = read_form(req, state.config.max_file_bytes).await?;
    let (f, content) = new_file(form, kassa_core::ids::new_id())?;
    let document = envelope::single(render(&f, &origin));
    let events = state
        .integrations
        .events(EventKind::FileCreated, || document.to_string());
    let emitted = !events.is_empty();
    state.store.create_file(f, content, events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((StatusCode::CREATED, Json(document)))
}

async fn list(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let conditions = file::file_conditions(&query.filters)?;
    let page = state.store.files(&conditions, query.page).await?;
    let items = page.items.iter().map(|f| render(f, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn show(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let f = state.store.file(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&f, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    let events = state
        .integrations
        .events(EventKind::FileDeleted, || deleted_payload("file", id));
    let emitted = !events.is_empty();
    if !state.store.delete_file(id, events).await? {
        return Err(not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The entity tags of `If-None-Match`, without quotes (a weak `W/` tag compares as its value, as
/// RFC 9110 has `If-None-Match` compare weakly); `*` matches any.
fn if_none_match(headers: &HeaderMap) -> (Vec<String>, bool) {
    let mut tags = Vec::new();
    let mut any = false;
    for value in headers.get_all(header::IF_NONE_MATCH) {
        for tag in value.to_str().unwrap_or_default().split(',') {
            let tag = tag.trim();
            if tag == "*" {
                any = true;
            }
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            if let Some(inner) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
                && !inner.is_empty()
                && inner.len() <= 128
            {
                tags.push(inner.to_owned());
            }
        }
    }
    tags.truncate(32);
    (tags, any)
}

/// An upload's bytes, for anyone holding the link. The name in the path is the file's name for
/// the reader's sake (a download keeps it); the id alone decides what is served.
async fn content(
    State(state): State<AppState>,
    ApiPath((id, _name)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_uuid(&id, not_found)?;
    let (known, any) = if_none_match(&headers);
    let found = state.store.file_content(id, known).await?.ok_or_else(not_found)?;
    let etag =
        HeaderValue::from_str(&format!("\"{}\"", found.sha256)).map_err(kassa_core::Error::internal)?;
    let cache = HeaderValue::from_static(IMMUTABLE);
    let Some(bytes) = found.bytes.filter(|_| !any) else {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    };
    let content_type = HeaderValue::from_str(&found.mime_type).map_err(kassa_core::Error::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_if_none_match() {
        let mut h = HeaderMap::new();
        h.append(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"abc\", W/\"def\""),
        );
        h.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"ghi\""));
        assert_eq!(
            if_none_match(&h),
            (vec!["abc".into(), "def".into(), "ghi".into()], false)
        );
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_none_match(&h), (vec![], true));
        assert_eq!(if_none_match(&HeaderMap::new()), (vec![], false));
    }
}
