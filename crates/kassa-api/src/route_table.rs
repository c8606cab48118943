//! [`Routes`]: an axum router that also records each path it registers and the error style its
//! router renders, so the OpenAPI document can be checked against what is really served. Kept
//! apart from `crate::routes` (the table of contents) so that route modules and the OpenAPI
//! document depend on it without depending on each other.

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use tower::{Layer, Service};

use crate::error::StatusStyle;
use crate::state::AppState;

/// A registered path and the error style its router renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPath {
    pub path: String,
    pub style: StatusStyle,
}

/// `axum::Router` plus the list of paths registered on it. `.route` has axum's signature, so
/// adding a route reads as it always did; the OpenAPI agreement test then names the route
/// until it is documented in `crate::openapi::operations`.
pub struct Routes {
    router: Router<AppState>,
    paths: Vec<RegisteredPath>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub fn route(mut self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(RegisteredPath {
            path: path.to_owned(),
            style: StatusStyle::Number,
        });
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// Renders this router's error statuses as strings (see [`crate::error::string_status`]).
    pub fn string_status(mut self) -> Self {
        self.router = self
            .router
            .layer(axum::middleware::map_response(crate::error::string_status));
        for p in &mut self.paths {
            p.style = StatusStyle::String;
        }
        self
    }

    /// A tower layer around every route registered so far, as `axum::Router::layer`.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    pub fn paths(&self) -> &[RegisteredPath] {
        &self.paths
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
