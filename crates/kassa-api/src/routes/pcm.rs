//! What the `/pcm/...` services share: the JSON:API body `{"data":{"type","id","attributes",
//! "relationships","meta"}}`, partial updates, string error statuses, and a clear refusal of the
//! parts of Elastic Path's product model kassa does not implement.

use axum::http::Uri;
use kassa_core::Validator;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::route_table::Routes;
pub(crate) use crate::views::pcm::{compact, meta};

/// A write body. `attributes` is required.
#[derive(Deserialize)]
pub(crate) struct Body<A> {
    pub data: Resource<A>,
}

#[derive(Deserialize)]
pub(crate) struct Resource<A> {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub attributes: Option<A>,
    pub relationships: Option<Map<String, Value>>,
    pub meta: Option<Map<String, Value>>,
}

impl<A> Resource<A> {
    /// Checks `type`, and `id` against the path on updates; returns the attributes.
    pub fn checked(self, v: &mut Validator, kind: &str, path_id: Option<Uuid>) -> Option<A> {
        v.resource_type(self.kind.as_deref(), kind);
        if let (Some(path_id), Some(id)) = (path_id, self.id.as_deref())
            && Uuid::parse_str(id).ok() != Some(path_id)
        {
            v.push("data.id", "invalid", "id must match the id in the path");
        }
        v.required(self.attributes, "data.attributes")
    }
}

/// A field that may be absent (`None`: keep), null (`Some(None)`: clear) or set.
pub(crate) type Patch<T> = Option<Option<T>>;

/// Deserializes a present field, null included, as `Some`; use with `#[serde(default)]`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Patch<T>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// As [`present`] for an optional text attribute: blank (`""`, as a form sends an empty input)
/// clears it like `null`.
pub(crate) fn present_text<'de, D: Deserializer<'de>>(d: D) -> Result<Patch<String>, D::Error> {
    Option::<String>::deserialize(d).map(|text| Some(text.filter(|t| !t.trim().is_empty())))
}

/// Checks an optional text field if it is being set.
pub(crate) fn check_text(v: &mut Validator, value: &Patch<String>, source: &str, max: usize) {
    if let Some(Some(text)) = value {
        v.optional_text(Some(text.clone()), source, max);
    }
}

/// Checks a required text field: on create it must be present, and it can never be cleared.
pub(crate) fn check_required_text(
    v: &mut Validator,
    value: &Patch<String>,
    source: &str,
    max: usize,
    create: bool,
) {
    match value {
        None if create => {
            v.required(None::<()>, source);
        }
        Some(None) => {
            let field = source.rsplit('.').next().unwrap_or(source);
            v.push(source, "required", format!("{field} cannot be null"));
        }
        Some(Some(text)) => {
            v.text(Some(text.clone()), source, max);
        }
        None => {}
    }
}

/// Checks a field whose value must be one of `allowed`.
pub(crate) fn check_enum(v: &mut Validator, value: &Patch<String>, source: &str, allowed: &[&str]) {
    if let Some(value) = value
        && !value.as_deref().is_some_and(|s| allowed.contains(&s))
    {
        let field = source.rsplit('.').next().unwrap_or(source);
        v.push(
            source,
            "invalid",
            format!("{field} must be one of: {}", allowed.join(", ")),
        );
    }
}

/// Slugs: A-Z, a-z, 0-9, `-`, `_` and `.` only.
pub(crate) fn check_slug(v: &mut Validator, value: &Patch<String>, source: &str) {
    check_text(v, value, source, 255);
    if let Some(Some(slug)) = value
        && !slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        v.push(
            source,
            "invalid",
            "slug may only contain A-Z, a-z, 0-9, hyphen, underscore and period",
        );
    }
}

/// Applies a patch field: `set!(target.field, patch.field)`.
macro_rules! set {
    ($target:expr, $patch:expr) => {
        if let Some(value) = $patch {
            $target = value;
        }
    };
}
pub(crate) use set;

/// The PCM services write error statuses as strings (`"404"`).
pub(crate) fn router(routes: Routes) -> Routes {
    routes.string_status()
}

/// Answers requests for parts of the product model kassa does not implement.
pub(crate) async fn unsupported(uri: Uri) -> ApiError {
    let path = uri.path();
    let feature = [
        ("component_products", "Bundles"),
        ("templates", "Product templates"),
        ("import", "Product imports"),
        ("export", "Product exports"),
    ]
    .iter()
    .find(|(segment, _)| path.split('/').any(|s| s == *segment))
    .map_or("This feature", |(_, f)| f);
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "Not Supported",
        format!("{feature} are not supported by this server ({path})"),
    )
}
