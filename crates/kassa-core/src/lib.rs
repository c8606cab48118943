//! kassa's domain: the rules of the shop as pure functions over plain types, and the storage
//! interface ([`store::Store`]) that the backends implement. No HTTP and no SQL live here.

/// Declares a closed set of values EP puts on the wire as strings, kept as a one-byte `Copy` enum
/// with its wire name (`as_str`), the inverse (`parse`) and `Display`. Attributes given before the
/// name (docs, further derives such as serde's) go on the enum.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The string EP puts on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The inverse of [`Self::as_str`]; exact and case-sensitive, like EP's filters.
            pub fn parse(input: &str) -> Option<Self> {
                match input {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

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
