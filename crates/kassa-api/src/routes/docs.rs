//! The API's own description: `GET /openapi.json` (built from [`crate::openapi`]) and an
//! interactive reference at `GET /docs` (Swagger UI, vendored under `assets/swagger-ui/` and
//! compiled into the binary, so it works offline), where `GET /` sends a browser.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::route_table::Routes;
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../assets/docs.html");
const BUNDLE_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const UI_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

pub fn router() -> Routes {
    Routes::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(index))
        .route("/docs/swagger-ui-bundle.js", get(bundle_js))
        .route("/docs/swagger-ui.css", get(ui_css))
        .route("/", get(root))
}

/// Someone opening the server's address in a browser gets the API reference. Temporary (307):
/// a later version may serve something else here.
async fn root() -> Redirect {
    Redirect::temporary("/docs")
}

async fn openapi_json(State(state): State<AppState>) -> Response {
    asset("application/json", state.api_document.bytes(), "no-cache")
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML.as_bytes(), "no-cache")
}

async fn bundle_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        BUNDLE_JS,
        "public, max-age=86400",
    )
}

async fn ui_css() -> Response {
    asset("text/css; charset=utf-8", UI_CSS, "public, max-age=86400")
}

fn asset(content_type: &'static str, body: impl Into<Bytes>, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body.into(),
    )
        .into_response()
}
