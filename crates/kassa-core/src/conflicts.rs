//! What a caller is told when a write breaks a uniqueness rule or finds a row in the way: one
//! table for both stores, so each message is written once. A store recognises its own
//! database's report of the rule — SQLite names the columns of a column index
//! (`products.sku`) or the index of an expression index, PostgreSQL names the constraint — and
//! answers [`Error::Conflict`] with the rule's detail (409).

use crate::Error;

/// One uniqueness rule: how each database names it, and what the caller is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniqueRule {
    /// A substring of SQLite's `UNIQUE constraint failed: …` message that names this rule.
    pub sqlite: &'static str,
    /// PostgreSQL's constraint (or unique index) name.
    pub postgres: &'static str,
    pub detail: &'static str,
}

impl UniqueRule {
    pub fn error(&self) -> Error {
        Error::Conflict(self.detail.to_owned())
    }
}

const fn rule(sqlite: &'static str, postgres: &'static str, detail: &'static str) -> UniqueRule {
    UniqueRule {
        sqlite,
        postgres,
        detail,
    }
}

pub const PRODUCT_SKU: UniqueRule = rule(
    "products.sku",
    "products_sku_key",
    "A product with this sku already exists",
);
pub const PRODUCT_SLUG: UniqueRule = rule(
    "products.slug",
    "products_slug_key",
    "A product with this slug already exists",
);
pub const NODE_SIBLING_NAME: UniqueRule = rule(
    "nodes_sibling_name_key",
    "nodes_sibling_name_key",
    "A sibling node with this name already exists",
);
pub const NODE_SIBLING_SLUG: UniqueRule = rule(
    "nodes_sibling_slug_key",
    "nodes_sibling_slug_key",
    "A sibling node with this slug already exists",
);
pub const PRICEBOOK_NAME: UniqueRule = rule(
    "pricebooks.name",
    "pricebooks_name_key",
    "A price book with this name already exists",
);
pub const PRICE_SKU: UniqueRule = rule(
    "prices.pricebook_id, prices.sku",
    "prices_pricebook_sku_key",
    "The price book already has a price for this sku",
);
pub const CURRENCY_CODE: UniqueRule = rule(
    "currencies.code",
    "currencies_code_key",
    "A currency with this code already exists",
);
pub const LOCATION_SLUG: UniqueRule = rule(
    "slug",
    "inventory_locations_slug",
    "A location with this slug already exists",
);
pub const CUSTOMER_EMAIL: UniqueRule = rule(
    "customers.email_normalized",
    "customers_email_key",
    crate::customer::DUPLICATE_EMAIL,
);
pub const USERNAME: UniqueRule = rule(
    "username_key",
    "username_key",
    "The username is already taken in this password profile",
);

pub const PRODUCT: &[UniqueRule] = &[PRODUCT_SKU, PRODUCT_SLUG];
pub const NODE: &[UniqueRule] = &[NODE_SIBLING_NAME, NODE_SIBLING_SLUG];
pub const PRICEBOOK: &[UniqueRule] = &[PRICEBOOK_NAME];
pub const PRICE: &[UniqueRule] = &[PRICE_SKU];
pub const CURRENCY: &[UniqueRule] = &[CURRENCY_CODE];
pub const LOCATION: &[UniqueRule] = &[LOCATION_SLUG];

// Statements with one uniqueness rule each: any unique violation of theirs means this.

pub const CART_ID: &str = "A cart with this id already exists";
pub const APPLICATION_KEY_CLIENT_ID: &str = "An application key with this client_id already exists";
pub const STOCK_RECORD: &str = "Stock already exists for this product";
pub const USER_ID: &str = "A user with this id already exists";
pub const ACCOUNT_REGISTRATION_ID: &str = "An account with this registration_id already exists";
pub const ACCOUNT_MEMBERSHIP: &str =
    "account membership with the given account id and account member id already exists";
/// A password credential whose username did not collide ([`USERNAME`]): the user already has one.
pub const PASSWORD_CREDENTIAL: &str = "The user already has a password for this password profile";

// Rows in the way of a change.

pub const PRICEBOOK_IN_USE: &str = "The price book is used by a catalog";
pub const ACCOUNT_HAS_CHILDREN: &str = "The account has child accounts; delete those first";
pub const IDEMPOTENCY_KEY_LOST: &str = "The idempotency key is no longer claimed by this request";

/// [`Error::Conflict`] with `detail`.
pub fn conflict(detail: &str) -> Error {
    Error::Conflict(detail.to_owned())
}

/// The rule of `rules` that a violation names, by the store's `names` test.
pub fn broken(rules: &[UniqueRule], names: impl Fn(&UniqueRule) -> bool) -> Option<&UniqueRule> {
    rules.iter().find(|r| names(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_finds_the_rule_its_database_names() {
        // (rules, SQLite's message, PostgreSQL's constraint) → detail
        let cases = [
            (
                PRODUCT,
                "UNIQUE constraint failed: products.slug",
                "products_slug_key",
                Some("A product with this slug already exists"),
            ),
            (
                PRICE,
                "UNIQUE constraint failed: prices.pricebook_id, prices.sku",
                "prices_pricebook_sku_key",
                Some("The price book already has a price for this sku"),
            ),
            (
                NODE,
                "UNIQUE constraint failed: index 'nodes_sibling_name_key'",
                "nodes_sibling_name_key",
                Some("A sibling node with this name already exists"),
            ),
            (
                CURRENCY,
                "UNIQUE constraint failed: currencies.id",
                "currencies_pkey",
                None,
            ),
        ];
        for (rules, sqlite, postgres, detail) in cases {
            let by_sqlite = broken(rules, |r| sqlite.contains(r.sqlite)).map(|r| r.detail);
            let by_postgres = broken(rules, |r| r.postgres == postgres).map(|r| r.detail);
            assert_eq!((by_sqlite, by_postgres), (detail, detail), "{sqlite}");
        }
    }

    #[test]
    fn every_rule_has_its_own_message() {
        let all = [
            PRODUCT_SKU,
            PRODUCT_SLUG,
            NODE_SIBLING_NAME,
            NODE_SIBLING_SLUG,
            PRICEBOOK_NAME,
            PRICE_SKU,
            CURRENCY_CODE,
            LOCATION_SLUG,
            CUSTOMER_EMAIL,
            USERNAME,
        ];
        let mut details: Vec<&str> = all.iter().map(|r| r.detail).collect();
        details.sort_unstable();
        details.dedup();
        assert_eq!(details.len(), all.len());
        assert!(matches!(PRODUCT_SKU.error(), Error::Conflict(d) if d == PRODUCT_SKU.detail));
    }
}
