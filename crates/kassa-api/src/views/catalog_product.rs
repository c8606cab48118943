//! A product of the shopper catalog (`/catalog/products`, and the hits of
//! `/catalog/multi-search`): the released product priced for one unit at a moment in the
//! shopper's currency.

use std::collections::BTreeMap;

use kassa_core::bundles::{
    Components, Selection, bundle_price, configuration_json, default_selection, option_ids,
};
use kassa_core::catalog::Extensions;
use kassa_core::catalog_filter::product_types;
use kassa_core::money::Currency;
use kassa_core::pricing::Currencies;
use kassa_core::release::{
    ReleasedProduct, ReleasedVariation, child_variations, display_order, variation_matrix,
};
use kassa_core::time::{Millis, rfc3339};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::catalog_view::{ShopperRelease, price_product};
use crate::envelope::Origin;

/// A product of the shopper catalog, serialised straight from the release it borrows from: a
/// search page renders twenty of these, so no text or extension is copied into a `Value` tree.
/// Fields in alphabetical order, the order the former `Value` rendering wrote (docs/ARCHITECTURE.md).
#[derive(Serialize)]
pub(crate) struct CatalogProduct<'a> {
    attributes: Attributes<'a>,
    id: Uuid,
    links: SelfLink,
    meta: Meta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    relationships: Option<Value>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The product's attributes; absent values are left out, as Elastic Path does.
#[derive(Serialize)]
struct Attributes<'a> {
    /// Whether the product is a parent: given for parents and their children.
    #[serde(skip_serializing_if = "Option::is_none")]
    base_product: Option<bool>,
    /// A child's parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    base_product_id: Option<Uuid>,
    commodity_type: &'a str,
    /// A bundle's components (those published with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<&'a Components>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a Extensions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mpn: Option<&'a str>,
    name: &'a str,
    /// The deciding price book's prices, every currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<&'a Currencies>,
    published_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slug: Option<&'a str>,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    upc_ean: Option<&'a str>,
    updated_at: String,
}

/// The price members are there when the product has a price for one unit at the moment in the
/// shopper's currency; the `original_*` and `sale_*` ones while a sale runs.
#[derive(Serialize)]
struct Meta<'a> {
    bread_crumb_nodes: &'a [Uuid],
    /// A bundle's selection: its default options, or the shopper's (`configure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_configuration: Option<Value>,
    catalog_id: Uuid,
    catalog_source: &'static str,
    /// A child's options.
    #[serde(skip_serializing_if = "Option::is_none")]
    child_option_ids: Option<&'a [Uuid]>,
    /// A child's variations, each with the option it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    child_variations: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_price: Option<Display<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_display_price: Option<Display<'a>>,
    /// The list price a sale replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_price: Option<BTreeMap<&'a str, Amount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricebook_id: Option<Uuid>,
    /// Storefronts choose the product page's layout by the first type.
    product_types: &'static [&'static str],
    release_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    sale_expires: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sale_id: Option<Option<String>>,
    /// The tiers of the price that applies: the sale's while a sale runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    tiers: Option<BTreeMap<&'a str, TierMeta<'a>>>,
    /// A parent's children by option, nested in the order of its variations.
    #[serde(skip_serializing_if = "Option::is_none")]
    variation_matrix: Option<Value>,
    /// A parent's variations with all their options, highest `sort_order` first.
    #[serde(skip_serializing_if = "Option::is_none")]
    variations: Option<Vec<ReleasedVariation>>,
}

#[derive(Serialize)]
struct TierMeta<'a> {
    display_price: Display<'a>,
    minimum_quantity: i64,
    price: BTreeMap<&'a str, Amount>,
}

#[derive(Serialize)]
struct Amount {
    amount: i64,
    includes_tax: bool,
}

/// `with_tax` and `without_tax`: the same amount, as there is no tax engine.
#[derive(Serialize)]
struct Display<'a> {
    with_tax: Formatted<'a>,
    without_tax: Formatted<'a>,
}

#[derive(Serialize, Clone)]
struct Formatted<'a> {
    amount: i64,
    currency: &'a str,
    float_price: f64,
    formatted: String,
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    self_: String,
}

fn display(currency: &Currency, amount: i64) -> Display<'_> {
    let formatted = Formatted {
        amount,
        currency: &currency.code,
        formatted: currency.money.format(amount),
        float_price: currency.money.float(amount),
    };
    Display {
        with_tax: formatted.clone(),
        without_tax: formatted,
    }
}

/// A product priced for one unit at `now`; a bundle with its default selection.
pub(crate) fn render<'a>(
    r: &'a ShopperRelease,
    p: &'a ReleasedProduct,
    currency: &'a Currency,
    now: Millis,
    origin: &Origin,
) -> CatalogProduct<'a> {
    let selection = p
        .product
        .is_bundle()
        .then(|| default_selection(&p.product.components));
    render_configured(r, p, selection, currency, now, origin)
}

/// The unit price of a published product in `currency` at `now`, if it has one.
pub(crate) fn unit_amount(r: &ShopperRelease, id: Uuid, currency: &str, now: Millis) -> Option<i64> {
    let sku = r.product(id)?.product.sku.as_deref()?;
    price_product(r, sku, currency, 1, now).ok().map(|p| p.amount)
}

/// A product priced for one unit at `now`; a bundle with `selection` as its configuration and,
/// when it has no price of its own, priced as the sum of the selection
/// ([`kassa_core::bundles::bundle_price`]).
pub(crate) fn render_configured<'a>(
    r: &'a ShopperRelease,
    p: &'a ReleasedProduct,
    selection: Option<Selection>,
    currency: &'a Currency,
    now: Millis,
    origin: &Origin,
) -> CatalogProduct<'a> {
    let product = &p.product;
    let sheet = product.sku.as_deref().and_then(|sku| r.deciding_sheet(sku));
    let resolved = sheet.and_then(|_| price_product(r, product.sku.as_deref()?, &currency.code, 1, now).ok());
    let summed = match (&selection, &resolved) {
        (Some(selection), None) => {
            bundle_price(None, selection, |id| unit_amount(r, id, &currency.code, now))
        }
        _ => None,
    };
    let code = currency.code.as_str();
    let one = |amount: i64, includes_tax: bool| BTreeMap::from([(code, Amount { amount, includes_tax })]);
    let sale = resolved.as_ref().and_then(|r| Some((r, r.original.as_ref()?)));
    let tiers = resolved.as_ref().zip(sheet).and_then(|(resolved, (_, sheet))| {
        let applying = match &resolved.sale_id {
            Some(sale) => sheet.sales.get(sale).and_then(|s| s.currencies.get(code)),
            None => sheet.currencies.get(code),
        }
        .filter(|a| !a.tiers.is_empty())?;
        let tiers = applying.tiers.iter().map(|(name, t)| {
            let tier = TierMeta {
                display_price: display(currency, t.amount),
                minimum_quantity: t.minimum_quantity,
                price: one(t.amount, applying.includes_tax),
            };
            (name.as_str(), tier)
        });
        Some(tiers.collect())
    });
    let variations = Variations::of(r, p);
    CatalogProduct {
        attributes: Attributes {
            base_product: variations.base_product,
            base_product_id: product.parent_id,
            commodity_type: product.commodity_type.as_str(),
            components: product.is_bundle().then_some(&product.components),
            created_at: rfc3339(product.created_at),
            description: product.description.as_deref(),
            extensions: product.extensions.as_ref().filter(|e| !e.is_null()),
            external_ref: product.external_ref.as_deref(),
            mpn: product.mpn.as_deref(),
            name: &product.name,
            price: sheet.map(|(_, sheet)| &sheet.currencies),
            published_at: rfc3339(r.release.published_at),
            sku: product.sku.as_deref(),
            slug: product.slug.as_deref(),
            status: product.status.as_str(),
            upc_ean: product.upc_ean.as_deref(),
            updated_at: rfc3339(product.updated_at),
        },
        id: product.id,
        links: SelfLink {
            self_: origin.url(&format!("/catalog/products/{}", product.id)),
        },
        meta: Meta {
            bread_crumb_nodes: &p.node_ids,
            bundle_configuration: selection.as_ref().map(configuration_json),
            catalog_id: r.catalog_id(),
            catalog_source: "pim",
            child_option_ids: product.parent_id.map(|_| &*product.child_options),
            child_variations: variations.child_variations,
            display_price: resolved
                .as_ref()
                .map(|r| r.amount)
                .or(summed)
                .map(|amount| display(currency, amount)),
            original_display_price: sale.map(|(_, original)| display(currency, original.amount)),
            original_price: sale.map(|(_, original)| one(original.amount, original.includes_tax)),
            pricebook_id: sheet.map(|(id, _)| id),
            product_types: product_types(product),
            release_id: r.release.id,
            sale_expires: sale.map(|(r, _)| r.sale_expires.map(rfc3339)),
            sale_id: sale.map(|(r, _)| r.sale_id.clone()),
            tiers,
            variation_matrix: variations.matrix,
            variations: variations.variations,
        },
        relationships: relationships(r, p),
        kind: "product",
    }
}

/// What a parent or a child shows of its variations.
#[derive(Default)]
struct Variations {
    base_product: Option<bool>,
    variations: Option<Vec<ReleasedVariation>>,
    matrix: Option<Value>,
    child_variations: Option<Vec<Value>>,
}

impl Variations {
    fn of(r: &ShopperRelease, p: &ReleasedProduct) -> Self {
        let product = &p.product;
        if let Some(parent) = product.parent_id {
            let of_parent = r.product(parent).map_or(&[][..], |p| &*p.variations);
            let named = child_variations(of_parent, &product.child_options)
                .map(|(v, o)| {
                    json!({
                        "id": v.id,
                        "name": v.name,
                        "sort_order": v.sort_order,
                        "option": { "id": o.id, "name": o.name, "description": o.description, "sort_order": o.sort_order },
                    })
                })
                .collect();
            return Self {
                base_product: Some(false),
                child_variations: Some(named),
                ..Self::default()
            };
        }
        if !product.is_parent {
            return Self::default();
        }
        let children = r
            .children_of(product.id)
            .map(|c| (&*c.product.child_options, c.product.id));
        Self {
            base_product: Some(true),
            matrix: Some(variation_matrix(&p.variations, children)),
            variations: Some(display_order(&p.variations)),
            child_variations: None,
        }
    }
}

/// The product's files, and a parent's children or a child's parent.
fn relationships(r: &ShopperRelease, p: &ReleasedProduct) -> Option<Value> {
    let product = &p.product;
    let mut relationships = match media_relationships(r, p) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if product.is_bundle() {
        relationships.insert(
            "component_products".into(),
            json!({
                "data": option_ids(&product.components).into_iter().map(|id| json!({ "type": "product", "id": id })).collect::<Vec<_>>(),
                "links": { "self": format!("/catalog/products/{}/relationships/component_products", product.id) },
            }),
        );
    }
    if let Some(parent) = product.parent_id {
        relationships.insert(
            "parent".into(),
            json!({ "data": { "type": "product", "id": parent } }),
        );
    } else if product.is_parent {
        relationships.insert(
            "children".into(),
            json!({
                "data": r.children_of(product.id).map(|c| json!({ "type": "product", "id": c.product.id })).collect::<Vec<_>>(),
                "links": { "self": format!("/catalog/products/{}/relationships/children", product.id) },
            }),
        );
    }
    (!relationships.is_empty()).then_some(Value::Object(relationships))
}

fn media_relationships(r: &ShopperRelease, p: &ReleasedProduct) -> Option<Value> {
    let product = &p.product;
    if product.main_image.is_none() && product.files.is_empty() {
        return None;
    }
    let mut relationships = Map::new();
    if let Some(id) = product.main_image {
        relationships.insert(
            "main_image".into(),
            json!({ "data": { "type": "main_image", "id": id } }),
        );
    }
    if !product.files.is_empty() {
        let data: Vec<Value> = product
            .files
            .iter()
            .map(|id| {
                let mut reference = json!({ "type": "file", "id": id });
                if let Some(f) = r.file(*id) {
                    reference["created_at"] = json!(rfc3339(f.created_at));
                }
                reference
            })
            .collect();
        relationships.insert("files".into(), json!({ "data": data }));
    }
    Some(Value::Object(relationships))
}
