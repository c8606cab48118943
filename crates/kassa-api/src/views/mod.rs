//! The wire shapes kassa answers with, shared by the route modules: route files depend on these
//! renderers, never on each other. Each module renders one kind of resource (or the parts every
//! document shares) from `kassa-core` types; no rule is decided here.
//!
//! The cart, order and payment responses are rendered from typed views rather than from a
//! `serde_json::Value` tree: no maps to build, sort and drop on the hottest paths. Until these
//! views existed the responses were `Value`s, whose objects are `BTreeMap`s and so list their keys
//! in byte order; every view declares its fields in that same alphabetical order (by wire name) so
//! the bytes stay identical. Keep it so when adding a field.

pub(crate) mod account;
pub(crate) mod cart;
pub(crate) mod catalog_product;
pub(crate) mod custom_discount;
pub(crate) mod customer;
pub(crate) mod document;
pub(crate) mod file;
pub(crate) mod money;
pub(crate) mod order;
pub(crate) mod pcm;
pub(crate) mod product;
pub(crate) mod promotion;
pub(crate) mod tax_item;
pub(crate) mod timestamps;
pub(crate) mod transaction;
pub(crate) mod variation;
