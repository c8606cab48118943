//! One module per resource. Each `router()` returns [`Routes`]: an axum router that also
//! remembers the paths it registered, so the OpenAPI document can be checked against what is
//! really served (see `crate::openapi` and docs/ARCHITECTURE.md).

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use tower::{Layer, Service};

use crate::state::AppState;

pub mod account_members;
pub mod accounts;
pub mod addresses;
pub mod application_keys;
pub mod cart_taxes;
pub mod carts;
pub mod catalogs;
pub mod currencies;
pub mod customers;
pub mod docs;
pub mod files;
pub mod gateways;
pub mod health;
pub mod hierarchies;
pub mod inventories;
pub mod metrics;
pub mod oauth;
pub mod order_updates;
pub mod orders;
pub mod payments;
mod pcm;
pub mod pricebooks;
mod product_media;
pub mod products;
pub mod realms;
pub mod search;
pub mod settings;
pub mod shopper_catalog;

/// How a route writes the `status` of its error objects: Elastic Path's account, auth,
/// settings and PCM services write a string (`"400"`), carts and orders a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusStyle {
    Number,
    String,
}

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

/// The table of contents: every resource's routes.
pub fn all() -> Routes {
    Routes::new()
        .merge(health::router())
        .merge(docs::router())
        .merge(metrics::router())
        .merge(oauth::router())
        .merge(application_keys::router())
        .merge(realms::router())
        .merge(accounts::router())
        .merge(account_members::router())
        .merge(addresses::router())
        .merge(customers::router())
        .merge(carts::router())
        .merge(cart_taxes::router())
        .merge(orders::router())
        .merge(order_updates::router())
        .merge(payments::router())
        .merge(gateways::router())
        .merge(settings::router())
        .merge(products::router())
        .merge(files::router())
        .merge(hierarchies::router())
        .merge(pricebooks::router())
        .merge(currencies::router())
        .merge(inventories::router())
        .merge(catalogs::router())
        .merge(shopper_catalog::router())
        .merge(search::router())
}
