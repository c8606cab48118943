//! Behaviour tests over the real HTTP stack, each run against SQLite and PostgreSQL.

mod browser;
mod fixtures;
mod helpers;
mod server_process;

mod account_self_service;
mod accounts;
mod addresses;
mod application_keys;
mod auth;
mod cart_taxes;
mod carts;
mod catalog_admin;
mod catalogs;
mod checkout;
mod connections;
mod conventions;
mod cors;
mod customers;
mod demo_store;
mod files;
mod inventories;
mod inventory_locations;
mod metrics;
mod openapi;
mod order_updates;
mod orders;
mod outages;
mod payments;
mod process;
mod refusals;
mod sdk;
mod search;
mod shopper_reads;
mod tls;
mod tls_process;
