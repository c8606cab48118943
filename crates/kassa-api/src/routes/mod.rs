//! One module per resource. Each `router()` returns [`Routes`] (`crate::route_table`): an axum
//! router that also remembers the paths it registered, so the OpenAPI document can be checked
//! against what is really served (see `crate::openapi` and docs/ARCHITECTURE.md). Route modules
//! depend on `crate::views`, `crate::auth`, `crate::extract` and `kassa-core`, not on each other
//! (`pcm` is the PCM admin routes' shared body parsing).

pub mod account_members;
pub mod accounts;
pub mod addresses;
pub mod application_keys;
pub mod cart_taxes;
pub mod carts;
pub mod catalogs;
pub mod currencies;
pub mod custom_discounts;
pub mod customers;
pub mod docs;
pub mod emulator;
pub mod files;
pub mod gateways;
pub mod health;
pub mod hierarchies;
pub mod integrations;
pub mod inventories;
pub mod metrics;
pub mod oauth;
pub mod order_updates;
pub mod orders;
pub mod payments;
mod pcm;
pub mod pricebooks;
mod product_media;
mod product_variations;
pub mod products;
pub mod realms;
pub mod rule_promotions;
pub mod search;
pub mod settings;
pub mod shopper_catalog;
pub mod variations;

pub use crate::error::StatusStyle;
pub use crate::route_table::{RegisteredPath, Routes};

/// The table of contents: every resource's routes.
pub fn all() -> Routes {
    Routes::new()
        .merge(health::router())
        .merge(docs::router())
        .merge(metrics::router())
        .merge(oauth::router())
        .merge(application_keys::router())
        .merge(integrations::router())
        .merge(realms::router())
        .merge(accounts::router())
        .merge(account_members::router())
        .merge(addresses::router())
        .merge(customers::router())
        .merge(carts::router())
        .merge(cart_taxes::router())
        .merge(custom_discounts::router())
        .merge(orders::router())
        .merge(order_updates::router())
        .merge(payments::router())
        .merge(gateways::router())
        .merge(settings::router())
        .merge(products::router())
        .merge(variations::router())
        .merge(files::router())
        .merge(hierarchies::router())
        .merge(pricebooks::router())
        .merge(currencies::router())
        .merge(rule_promotions::router())
        .merge(inventories::router())
        .merge(catalogs::router())
        .merge(shopper_catalog::router())
        .merge(search::router())
}
