//! The searchable fields and their names. A field is named as in the hit's document
//! (`attributes.name`, `attributes.extensions.<template>.<key>`, `price.<CURRENCY>.float_price`)
//! and, for the common ones, by a short name (`name`, `brand`, `price`…), which is what
//! [`canonical_field`] turns into the document name.

/// Node (category) paths by depth: `Hierarchy`, `Hierarchy > Node`, `Hierarchy > Node > Child`…
pub const CATEGORY_LEVELS: usize = 5;
pub const CATEGORY_SEPARATOR: &str = " > ";

pub const ID: &str = "id";
pub const NAME: &str = "attributes.name";
pub const SKU: &str = "attributes.sku";
pub const SLUG: &str = "attributes.slug";
pub const COMMODITY_TYPE: &str = "attributes.commodity_type";
pub const CREATED_AT: &str = "attributes.created_at";
pub const BRAND: &str = "brand";
/// The names of every node a product is in, and of their hierarchies.
pub const CATEGORIES: &str = "categories";
/// The ids of the nodes a product is in.
pub const NODES: &str = "meta.bread_crumb_nodes";
/// The product's type: `standard`, `parent`, `child` or `bundle` (as `meta.product_types`).
pub const PRODUCT_TYPES: &str = "meta.product_types";
/// A child product's parent (as `attributes.base_product_id`): what groups children under their
/// parent. Other products have none.
pub const BASE_PRODUCT_ID: &str = "attributes.base_product_id";
/// String fields every index has, even when no product has a value for them (a release without
/// children), so filtering on them finds nothing rather than failing.
pub const DECLARED_STRINGS: &[&str] = &[PRODUCT_TYPES, BASE_PRODUCT_ID];
/// The text-only fields: searched by `q`, never filtered or faceted.
pub const TEXT_ONLY: &[&str] = &["attributes.description", "description"];

/// `meta.search.categories.lvl<level>`.
pub fn category_level(level: usize) -> String {
    format!("meta.search.categories.lvl{level}")
}

/// `price.<CURRENCY>.float_price`: the price in major units.
pub fn price(currency: &str) -> String {
    format!("price.{}.float_price", currency.to_ascii_uppercase())
}

/// The document name of a field name a client sent; `currency` is the shopper's, which the
/// short name `price` means.
pub fn canonical_field(name: &str, currency: &str) -> String {
    match name {
        "name" => NAME.into(),
        "sku" => SKU.into(),
        "slug" => SLUG.into(),
        "commodity_type" => COMMODITY_TYPE.into(),
        "created_at" => CREATED_AT.into(),
        "price" => price(currency),
        "nodes" | "node_ids" => NODES.into(),
        "id" => ID.into(),
        "product_types" | "product_type" => PRODUCT_TYPES.into(),
        "base_product_id" => BASE_PRODUCT_ID.into(),
        _ => {
            if let Some(level) = name.strip_prefix("categories.lvl") {
                return format!("meta.search.categories.lvl{level}");
            }
            if let Some(rest) = name.strip_prefix("extensions.") {
                return format!("attributes.extensions.{rest}");
            }
            // `price.usd.float_price`, `price.USD`: the currency in either case.
            if let Some(rest) = name.strip_prefix("price.") {
                let code = rest.strip_suffix(".float_price").unwrap_or(rest);
                if !code.contains('.') {
                    return price(code);
                }
            }
            name.into()
        }
    }
}

/// Extension keys whose values are also the `brand` field.
pub fn is_brand_key(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().replace('_', "-").as_str(),
        "brand" | "brand-name" | "manufacturer"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_become_document_names() {
        for (name, expected) in [
            ("name", "attributes.name"),
            ("price", "price.EUR.float_price"),
            ("price.usd.float_price", "price.USD.float_price"),
            ("price.GBP", "price.GBP.float_price"),
            ("categories.lvl1", "meta.search.categories.lvl1"),
            (
                "extensions.Details.BRAND-NAME",
                "attributes.extensions.Details.BRAND-NAME",
            ),
            (
                "attributes.extensions.Details.BRAND-NAME",
                "attributes.extensions.Details.BRAND-NAME",
            ),
            ("brand", "brand"),
            ("nodes", "meta.bread_crumb_nodes"),
            ("created_at", "attributes.created_at"),
            ("colour", "colour"),
            ("product_types", "meta.product_types"),
            ("base_product_id", "attributes.base_product_id"),
        ] {
            assert_eq!(canonical_field(name, "eur"), expected, "{name}");
        }
    }

    #[test]
    fn brand_keys() {
        assert!(is_brand_key("Brand"));
        assert!(is_brand_key("BRAND-NAME"));
        assert!(is_brand_key("brand_name"));
        assert!(!is_brand_key("colour"));
    }
}
