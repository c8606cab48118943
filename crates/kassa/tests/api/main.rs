//! Behaviour tests over the real HTTP stack, each run against SQLite and PostgreSQL.

mod helpers;

mod accounts;
mod application_keys;
mod auth;
mod catalog_admin;
mod catalogs;
mod conventions;
mod customers;
mod process;
mod sdk;
