//! kassa's domain: the rules of the shop as pure functions over plain types, and the storage
//! interface ([`store::Store`]) that the backends implement. No HTTP and no SQL live here.

pub mod account;
pub mod address;
pub mod bundles;
pub mod cart_change;
pub mod cart_pricing;
pub mod cart_totals;
pub mod carts;
pub mod catalog;
pub mod catalog_filter;
pub mod catalog_rule;
pub mod checkout;
pub mod conflicts;
pub mod context;
pub mod custom_discounts;
pub mod customer;
pub mod error;
pub mod file;
pub mod ids;
pub mod integrations;
pub mod inventory;
pub mod money;
pub mod order_state;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod promotion_checkout;
pub mod promotion_jobs;
pub mod promotion_rules;
pub mod promotions;
pub mod query;
pub mod release;
pub mod requester;
pub mod secret;
pub mod settings;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod time;
pub mod token;
pub mod variations;

pub use error::{Error, FieldError, Result, Validator};
