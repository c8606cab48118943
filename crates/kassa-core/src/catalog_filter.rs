//! What the shopper catalog's `filter` parameter matches (`catalog_view.yaml`): products by id,
//! name, sku, slug, manufacturer part number, UPC/EAN, product type and tag; hierarchies and nodes
//! by id, name and slug. Pure functions over a published release's records.

use uuid::Uuid;

use crate::catalog::Product;
use crate::query::{Filter, FilterOp, like_matches};
use crate::{Error, Result};

const EQ_IN_LIKE: &[FilterOp] = &[FilterOp::Eq, FilterOp::In, FilterOp::Like];
const IN: &[FilterOp] = &[FilterOp::In, FilterOp::Eq];

/// The product filters of `/catalog/products` and the product listings of nodes and hierarchies:
/// Elastic Path's `eq`/`in` fields, plus kassa's `like` on the text fields.
pub const PRODUCT_FILTERS: &[(&str, &[FilterOp])] = &[
    ("id", IN),
    ("name", EQ_IN_LIKE),
    ("sku", EQ_IN_LIKE),
    ("slug", EQ_IN_LIKE),
    ("manufacturer_part_num", EQ_IN_LIKE),
    ("upc_ean", EQ_IN_LIKE),
    ("product_types", IN),
    ("tags", IN),
];

/// The filters of hierarchy and node listings: `eq` on `name` and `slug`, `in` on `id`.
pub const NODE_FILTERS: &[(&str, &[FilterOp])] = &[("id", IN), ("name", EQ_IN_LIKE), ("slug", EQ_IN_LIKE)];

/// Every value of an `id` filter must be an id: a malformed one is the caller's mistake, not a
/// filter that matches nothing. An empty operand is allowed and matches nothing: a storefront
/// looks up the products of an empty cart as `in(id,)`.
pub fn check_ids(filters: &[Filter]) -> Result<()> {
    let bad = filters
        .iter()
        .filter(|f| f.field == "id")
        .flat_map(|f| &f.values)
        .find(|v| !v.is_empty() && Uuid::parse_str(v).is_err());
    match bad {
        Some(value) => Err(Error::field(
            "filter",
            "Bad Request",
            format!("{value} is not a valid id"),
        )),
        None => Ok(()),
    }
}

/// The product types of a product as the shopper catalog lists them: `parent` once children are
/// built from it, `child` for one of those, `bundle` for a product with components, else `standard`.
pub fn product_types(product: &Product) -> &'static [&'static str] {
    match product.product_type() {
        "parent" => &["parent"],
        "child" => &["child"],
        "bundle" => &["bundle"],
        _ => &["standard"],
    }
}

/// Whether one filter term accepts any of a field's values.
fn term_matches<'a>(f: &Filter, mut values: impl Iterator<Item = &'a str>) -> bool {
    match f.op {
        FilterOp::Eq => values.any(|v| v == f.value()),
        FilterOp::In => values.any(|v| f.values.iter().any(|w| w == v)),
        FilterOp::Like => values.any(|v| like_matches(f.value(), v)),
        _ => false,
    }
}

/// Whether a published product passes every filter (checked against [`PRODUCT_FILTERS`]).
pub fn product_matches(product: &Product, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let id = product.id.to_string();
        fn one(v: Option<&str>) -> Vec<&str> {
            v.into_iter().collect()
        }
        let values: Vec<&str> = match f.field.as_str() {
            "id" => vec![id.as_str()],
            "name" => vec![&product.name],
            "sku" => one(product.sku.as_deref()),
            "slug" => one(product.slug.as_deref()),
            "manufacturer_part_num" => one(product.mpn.as_deref()),
            "upc_ean" => one(product.upc_ean.as_deref()),
            "product_types" => product_types(product).to_vec(),
            // Products have no tags yet.
            _ => Vec::new(),
        };
        term_matches(f, values.into_iter())
    })
}

/// Whether a hierarchy or node passes every filter (checked against [`NODE_FILTERS`]).
pub fn named_matches(id: Uuid, name: &str, slug: Option<&str>, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let id = id.to_string();
        let value = match f.field.as_str() {
            "id" => Some(id.as_str()),
            "name" => Some(name),
            "slug" => slug,
            _ => None,
        };
        term_matches(f, value.into_iter())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_filter;

    fn product() -> Product {
        Product {
            id: Uuid::from_u128(7),
            name: "Blue Mug".into(),
            sku: Some("MUG-1".into()),
            slug: Some("blue-mug".into()),
            description: None,
            status: crate::catalog::ProductStatus::Live,
            commodity_type: crate::catalog::CommodityType::Physical,
            upc_ean: Some("0123".into()),
            mpn: Some("BM-9".into()),
            external_ref: None,
            extensions: None,
            main_image: None,
            files: Box::default(),
            parent_id: None,
            child_options: Box::default(),
            is_parent: false,
            components: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn products_match_the_documented_fields() {
        let id = Uuid::from_u128(7);
        let other = Uuid::from_u128(8);
        for (filter, want) in [
            (format!("in(id,{other},{id})"), true),
            (format!("in(id,{other})"), false),
            ("eq(slug,blue-mug)".into(), true),
            ("eq(slug,red-mug)".into(), false),
            ("in(sku,X,MUG-1)".into(), true),
            ("eq(name,Blue Mug)".into(), true),
            ("like(name,Blue*)".into(), true),
            ("eq(manufacturer_part_num,BM-9)".into(), true),
            ("eq(upc_ean,0123)".into(), true),
            ("eq(product_types,standard)".into(), true),
            ("in(product_types,parent,child)".into(), false),
            ("eq(tags,sale)".into(), false),
            ("eq(slug,blue-mug):eq(sku,MUG-1)".into(), true),
            ("eq(slug,blue-mug):eq(sku,MUG-2)".into(), false),
        ] {
            let filters = parse_filter(&filter).unwrap();
            assert_eq!(product_matches(&product(), &filters), want, "{filter}");
        }
    }

    #[test]
    fn hierarchies_and_nodes_match_id_name_and_slug() {
        let id = Uuid::from_u128(3);
        for (filter, want) in [
            (format!("in(id,{id})"), true),
            ("eq(name,Shoes)".into(), true),
            ("eq(slug,shoes)".into(), true),
            ("eq(slug,hats)".into(), false),
        ] {
            let filters = parse_filter(&filter).unwrap();
            assert_eq!(
                named_matches(id, "Shoes", Some("shoes"), &filters),
                want,
                "{filter}"
            );
        }
        let filters = parse_filter("eq(slug,shoes)").unwrap();
        assert!(!named_matches(id, "Shoes", None, &filters));
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!(check_ids(&parse_filter("in(id,not-an-id)").unwrap()).is_err());
        assert!(check_ids(&parse_filter(&format!("in(id,{})", Uuid::from_u128(1))).unwrap()).is_ok());
        assert!(check_ids(&parse_filter("eq(slug,not-an-id)").unwrap()).is_ok());
        let empty = parse_filter("in(id,)").unwrap();
        assert!(check_ids(&empty).is_ok());
        assert!(!product_matches(&product(), &empty));
    }
}
