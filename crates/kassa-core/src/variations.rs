//! Variations and child products (`/pcm/variations`, `POST /pcm/products/{id}/build`): a
//! variation's options, the modifiers that make each child differ from its parent, and the pure
//! rules that turn a parent and its variations into children (one per combination of options)
//! and price a child that has no price of its own.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Validator;
use crate::catalog::{COMMODITY_TYPES, PRODUCT_STATUSES, Product};
use crate::pricing::{CurrencyPrice, PriceSheet};
use crate::time::Millis;
use crate::{Error, Result};

/// The most children one parent may have: one build writes them all in one transaction.
pub const MAX_CHILDREN: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variation {
    pub id: Uuid,
    pub name: String,
    pub sort_order: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An option of a variation. Its name is slug-safe: a child's default sku and slug use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariationOption {
    pub id: Uuid,
    pub variation_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub sort_order: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A modifier of an option: how a child with this option differs from its parent. `kind` is the
/// wire `type`; builders (`sku_builder`, `slug_builder`) use `seek` and `set`, the others `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modifier {
    pub id: Uuid,
    pub option_id: Uuid,
    pub kind: String,
    pub value: Option<String>,
    pub seek: Option<String>,
    pub set: Option<String>,
    pub reference_name: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A variation with its options, each with its modifiers, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariationTree {
    pub variation: Variation,
    pub options: Vec<OptionTree>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionTree {
    pub option: VariationOption,
    pub modifiers: Vec<Modifier>,
}

/// Puts variations, options and modifiers read apart together: each variation with its options
/// and each option with its modifiers, in the order read (options and modifiers of variations
/// not given are left out).
pub fn assemble(
    variations: Vec<Variation>,
    options: Vec<VariationOption>,
    modifiers: Vec<Modifier>,
) -> Vec<VariationTree> {
    let mut trees: Vec<VariationTree> = variations
        .into_iter()
        .map(|variation| VariationTree {
            variation,
            options: Vec::new(),
        })
        .collect();
    let mut option_trees: Vec<OptionTree> = options
        .into_iter()
        .map(|option| OptionTree {
            option,
            modifiers: Vec::new(),
        })
        .collect();
    for m in modifiers {
        if let Some(o) = option_trees.iter_mut().find(|o| o.option.id == m.option_id) {
            o.modifiers.push(m);
        }
    }
    for o in option_trees {
        if let Some(t) = trees.iter_mut().find(|t| t.variation.id == o.option.variation_id) {
            t.options.push(o);
        }
    }
    trees
}

/// The modifier types kassa applies.
pub const MODIFIER_TYPES: &[&str] = &[
    "commodity_type",
    "status",
    "name_append",
    "name_prepend",
    "name_equals",
    "sku_append",
    "sku_prepend",
    "sku_equals",
    "sku_builder",
    "slug_append",
    "slug_prepend",
    "slug_equals",
    "slug_builder",
    "description_append",
    "description_prepend",
    "description_equals",
    "upc_ean_equals",
    "mpn_equals",
    "external_ref_equals",
    "price_increment",
    "price_decrement",
    "price_equals",
];

/// Types Elastic Path lists that kassa refuses: `price` names a price book modifier (kassa has
/// none; `price_increment`/`price_decrement`/`price_equals` take the amount themselves), and
/// custom inputs, build rules and locales are not part of kassa's products.
pub const UNSUPPORTED_MODIFIER_TYPES: &[&str] = &[
    "price",
    "custom_inputs_equals",
    "build_rules_equals",
    "locales_equals",
];

/// The largest amount a price modifier may carry, in minor units.
pub const MAX_PRICE_MODIFIER: i64 = 1_000_000_000_000;

fn is_builder(kind: &str) -> bool {
    kind.ends_with("_builder")
}

/// Slug-safe text: A-Z, a-z, 0-9, `-`, `_` and `.`.
pub fn slug_safe(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks a modifier as it would be stored (after an update's changes), each problem at its
/// `data.attributes` field.
pub fn check_modifier(m: &Modifier, v: &mut Validator) {
    const AT: &str = "data.attributes";
    let kind = m.kind.as_str();
    if UNSUPPORTED_MODIFIER_TYPES.contains(&kind) {
        let detail = if kind == "price" {
            "Price book modifiers are not supported by this server: use price_increment, \
             price_decrement or price_equals with the amount in minor units as the value"
                .to_owned()
        } else {
            format!("The modifier type {kind} is not supported by this server")
        };
        v.push(format!("{AT}.type"), "Not Supported", detail);
        return;
    }
    if !MODIFIER_TYPES.contains(&kind) {
        v.push(
            format!("{AT}.type"),
            "invalid",
            format!("type must be one of: {}", MODIFIER_TYPES.join(", ")),
        );
        return;
    }
    if is_builder(kind) {
        for (field, text) in [("seek", &m.seek), ("set", &m.set)] {
            match text.as_deref() {
                None | Some("") => v.push(
                    format!("{AT}.{field}"),
                    "required",
                    format!("{field} is required for a {kind} modifier"),
                ),
                Some(t) if t.chars().count() > 255 => v.push(
                    format!("{AT}.{field}"),
                    "invalid",
                    format!("{field} must be at most 255 characters"),
                ),
                Some(_) => {}
            }
        }
        if kind == "slug_builder"
            && let Some(set) = &m.set
            && !slug_safe(set)
        {
            v.push(
                format!("{AT}.set"),
                "invalid",
                "set may only contain A-Z, a-z, 0-9, hyphen, underscore and period",
            );
        }
        return;
    }
    let source = format!("{AT}.value");
    let Some(value) = m.value.as_deref().filter(|t| !t.is_empty()) else {
        v.push(
            source,
            "required",
            format!("value is required for a {kind} modifier"),
        );
        return;
    };
    let max = if kind.starts_with("description") {
        10_000
    } else {
        255
    };
    if value.chars().count() > max {
        v.push(
            source,
            "invalid",
            format!("value must be at most {max} characters"),
        );
        return;
    }
    let allowed = match kind {
        "commodity_type" => Some(COMMODITY_TYPES),
        "status" => Some(PRODUCT_STATUSES),
        _ => None,
    };
    if let Some(allowed) = allowed {
        if !allowed.contains(&value) {
            v.push(
                source,
                "invalid",
                format!("value must be one of: {}", allowed.join(", ")),
            );
        }
    } else if kind.starts_with("slug_") && !slug_safe(value) {
        v.push(
            source,
            "invalid",
            "value may only contain A-Z, a-z, 0-9, hyphen, underscore and period",
        );
    } else if kind.starts_with("price_") && price_amount(value).is_none() {
        v.push(
            source,
            "invalid",
            format!(
                "value must be a whole number of minor units from 0 to {MAX_PRICE_MODIFIER}, \
                 as a string (\"500\" is 5.00 in a currency with two decimals)"
            ),
        );
    }
}

/// A price modifier's amount: digits only, within [`MAX_PRICE_MODIFIER`].
fn price_amount(value: &str) -> Option<i64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|a| *a <= MAX_PRICE_MODIFIER)
}

/// A child's key as the stores keep it: its sorted option ids joined by `,`; `None` for a
/// product that is not a child.
pub fn child_key_text(options: &[Uuid]) -> Option<String> {
    (!options.is_empty()).then(|| options.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
}

/// The option ids of a stored child key (ids that do not parse are left out).
pub fn parse_child_key(text: Option<&str>) -> Vec<Uuid> {
    text.into_iter()
        .flat_map(|t| t.split(','))
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect()
}

/// Why variations cannot be attached to a child product.
pub fn child_cannot_have_variations() -> Error {
    Error::bad_request(
        "Cannot attach variations",
        "This product is a child product: only a parent product has variations",
    )
}

/// A variation to attach that does not exist.
pub fn unknown_variation(id: Uuid) -> Error {
    Error::field("data", "not_found", format!("No variation with id {id}"))
}

/// Every combination of one option per variation, in the variations' order and each
/// variation's option order. None when there is no variation or one has no option.
pub fn combinations(trees: &[VariationTree]) -> Vec<Vec<&OptionTree>> {
    if trees.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Vec<&OptionTree>> = vec![Vec::new()];
    for tree in trees {
        out = out
            .iter()
            .flat_map(|prefix| {
                tree.options.iter().map(move |o| {
                    let mut next = prefix.clone();
                    next.push(o);
                    next
                })
            })
            .collect();
    }
    out
}

/// A child's key: its option ids, sorted (unique per parent).
pub fn child_key(options: &[&OptionTree]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = options.iter().map(|o| o.option.id).collect();
    ids.sort_unstable();
    ids
}

fn edit(field: &mut Option<String>, how: &str, value: &str) {
    let current = field.take().unwrap_or_default();
    *field = Some(match how {
        "append" => current + value,
        "prepend" => format!("{value}{current}"),
        _ => value.to_owned(),
    });
}

/// The child of `parent` with `options` (one per variation, in the variations' order): a copy
/// of the parent's attributes (name, description, sku, slug, status, commodity type, codes,
/// extensions) with each option's modifiers applied in turn, oldest first. A sku or slug no
/// modifier touches becomes the parent's followed by the options' names (`SHIRT-Red-M`), so
/// children never take their parent's. Price modifiers act on prices, not here ([`price_child`]).
pub fn child_product(parent: &Product, options: &[&OptionTree], id: Uuid, now: Millis) -> Product {
    let mut child = parent.clone();
    child.id = id;
    child.parent_id = Some(parent.id);
    child.components = Default::default();
    child.child_options = child_key(options);
    child.is_parent = false;
    child.main_image = None;
    child.files = Vec::new();
    child.created_at = now;
    child.updated_at = now;
    let (mut sku_modified, mut slug_modified) = (false, false);
    for m in options.iter().flat_map(|o| &o.modifiers) {
        let value = m.value.as_deref().unwrap_or_default();
        let (field, how) = m.kind.split_once('_').unwrap_or((m.kind.as_str(), ""));
        match (field, how) {
            ("name", how) => {
                let mut name = Some(std::mem::take(&mut child.name));
                edit(&mut name, how, value);
                child.name = name.unwrap_or_default();
            }
            ("description", how) => edit(&mut child.description, how, value),
            ("sku" | "slug", "builder") => {
                let target = if field == "sku" {
                    &mut child.sku
                } else {
                    &mut child.slug
                };
                if let (Some(text), Some(seek), Some(set)) = (target.as_mut(), &m.seek, &m.set) {
                    *text = text.replace(seek.as_str(), set);
                }
            }
            ("sku", how) => {
                sku_modified = true;
                edit(&mut child.sku, how, value);
            }
            ("slug", how) => {
                slug_modified = true;
                edit(&mut child.slug, how, value);
            }
            ("commodity", _) => child.commodity_type = value.to_owned(),
            ("status", _) => child.status = value.to_owned(),
            ("upc", _) => child.upc_ean = Some(value.to_owned()),
            ("mpn", _) => child.mpn = Some(value.to_owned()),
            ("external", _) => child.external_ref = Some(value.to_owned()),
            _ => {}
        }
    }
    let names: String = options.iter().map(|o| format!("-{}", o.option.name)).collect();
    if !sku_modified && child.sku.is_some() && child.sku == parent.sku {
        child.sku = child.sku.map(|s| s + &names);
    }
    if !slug_modified && child.slug.is_some() && child.slug == parent.slug {
        child.slug = child.slug.map(|s| s + &names);
    }
    child
}

/// The children a build of `parent` adds: one per combination of the options of its variations
/// (in the order they were attached) that has no child yet (`existing` holds the keys of those
/// that do). Refused for a child product, a product without variations, a variation without
/// options, and past [`MAX_CHILDREN`].
pub fn plan_build(
    parent: &Product,
    trees: &[VariationTree],
    existing: &HashSet<Vec<Uuid>>,
    now: Millis,
    mut new_id: impl FnMut() -> Uuid,
) -> Result<Vec<Product>> {
    if parent.parent_id.is_some() {
        return Err(Error::bad_request(
            "Cannot build child products",
            "This product is a child product; only its parent can be built",
        ));
    }
    if trees.is_empty() {
        return Err(Error::bad_request(
            "Cannot build child products",
            "The product has no variations: attach some with /pcm/products/{id}/relationships/variations",
        ));
    }
    if let Some(empty) = trees.iter().find(|t| t.options.is_empty()) {
        return Err(Error::bad_request(
            "Cannot build child products",
            format!(
                "The variation {} ({}) has no options",
                empty.variation.name, empty.variation.id
            ),
        ));
    }
    let count = trees
        .iter()
        .try_fold(1usize, |n, t| n.checked_mul(t.options.len()))
        .unwrap_or(usize::MAX);
    if count > MAX_CHILDREN {
        return Err(Error::bad_request(
            "Cannot build child products",
            format!("The variations make {count} combinations; at most {MAX_CHILDREN} are allowed"),
        ));
    }
    Ok(combinations(trees)
        .into_iter()
        .filter(|combo| !existing.contains(&child_key(combo)))
        .map(|combo| child_product(parent, &combo, new_id(), now))
        .collect())
}

/// A change a child's options make to its parent's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PriceChange {
    Increment(i64),
    Decrement(i64),
    Equals(i64),
}

/// The price modifiers of a child's options, in the order they apply.
pub fn price_changes<'a>(options: impl IntoIterator<Item = &'a OptionTree>) -> Vec<PriceChange> {
    options
        .into_iter()
        .flat_map(|o| &o.modifiers)
        .filter_map(|m| {
            let amount = price_amount(m.value.as_deref()?)?;
            match m.kind.as_str() {
                "price_increment" => Some(PriceChange::Increment(amount)),
                "price_decrement" => Some(PriceChange::Decrement(amount)),
                "price_equals" => Some(PriceChange::Equals(amount)),
                _ => None,
            }
        })
        .collect()
}

fn adjust(amount: i64, changes: &[PriceChange]) -> i64 {
    changes.iter().fold(amount, |a, c| match *c {
        PriceChange::Increment(x) => a.saturating_add(x),
        PriceChange::Decrement(x) => a.saturating_sub(x).max(0),
        PriceChange::Equals(x) => x,
    })
}

fn adjust_currency(price: &mut CurrencyPrice, changes: &[PriceChange]) {
    price.amount = adjust(price.amount, changes);
    for tier in price.tiers.values_mut() {
        tier.amount = adjust(tier.amount, changes);
    }
}

/// The price sheet of a child without a price of its own in a price book: its parent's, every
/// amount (each currency, tier and sale) changed by the child's price modifiers in turn; an
/// increment adds, a decrement subtracts (never below zero), an equals sets. The amounts are
/// minor units, the same number in every currency.
pub fn price_child(parent: &PriceSheet, changes: &[PriceChange]) -> PriceSheet {
    let mut sheet = parent.clone();
    for price in sheet.currencies.values_mut() {
        adjust_currency(price, changes);
    }
    for sale in sheet.sales.values_mut() {
        for price in sale.currencies.values_mut() {
            adjust_currency(price, changes);
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{Sale, Tier};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn parent() -> Product {
        Product {
            id: id(1),
            name: "Shirt".into(),
            sku: Some("SHIRT".into()),
            slug: Some("shirt".into()),
            description: Some("Cotton.".into()),
            status: "live".into(),
            commodity_type: "physical".into(),
            upc_ean: None,
            mpn: Some("M-1".into()),
            external_ref: None,
            extensions: Some(serde_json::json!({"shirt": {"fit": "slim"}})),
            main_image: Some(id(99)),
            files: vec![id(98)],
            parent_id: None,
            child_options: Vec::new(),
            is_parent: true,
            components: Default::default(),
            created_at: 1,
            updated_at: 1,
        }
    }

    fn modifier(kind: &str, value: Option<&str>, seek: Option<&str>, set: Option<&str>) -> Modifier {
        Modifier {
            id: id(500),
            option_id: id(0),
            kind: kind.into(),
            value: value.map(str::to_owned),
            seek: seek.map(str::to_owned),
            set: set.map(str::to_owned),
            reference_name: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn value(kind: &str, value: &str) -> Modifier {
        modifier(kind, Some(value), None, None)
    }

    fn option(n: u128, name: &str, modifiers: Vec<Modifier>) -> OptionTree {
        OptionTree {
            option: VariationOption {
                id: id(n),
                variation_id: id(n / 10 * 10),
                name: name.into(),
                description: None,
                sort_order: None,
                created_at: n as i64,
                updated_at: n as i64,
            },
            modifiers,
        }
    }

    fn variation(n: u128, options: Vec<OptionTree>) -> VariationTree {
        VariationTree {
            variation: Variation {
                id: id(n),
                name: format!("v{n}"),
                sort_order: None,
                created_at: 0,
                updated_at: 0,
            },
            options,
        }
    }

    #[test]
    fn each_modifier_type_changes_its_field() {
        struct Case {
            modifiers: Vec<Modifier>,
            check: fn(&Product) -> bool,
            what: &'static str,
        }
        let cases = [
            Case {
                modifiers: vec![value("name_append", " (Red)")],
                check: |c| c.name == "Shirt (Red)",
                what: "name_append",
            },
            Case {
                modifiers: vec![value("name_prepend", "Red ")],
                check: |c| c.name == "Red Shirt",
                what: "name_prepend",
            },
            Case {
                modifiers: vec![value("name_equals", "Red shirt")],
                check: |c| c.name == "Red shirt",
                what: "name_equals",
            },
            Case {
                modifiers: vec![value("description_append", " Red.")],
                check: |c| c.description.as_deref() == Some("Cotton. Red."),
                what: "description_append",
            },
            Case {
                modifiers: vec![value("description_prepend", "Red. ")],
                check: |c| c.description.as_deref() == Some("Red. Cotton."),
                what: "description_prepend",
            },
            Case {
                modifiers: vec![value("description_equals", "Red.")],
                check: |c| c.description.as_deref() == Some("Red."),
                what: "description_equals",
            },
            Case {
                modifiers: vec![value("sku_append", "-R")],
                check: |c| c.sku.as_deref() == Some("SHIRT-R") && c.slug.as_deref() == Some("shirt-Red"),
                what: "sku_append (the slug takes its default)",
            },
            Case {
                modifiers: vec![value("sku_prepend", "R-")],
                check: |c| c.sku.as_deref() == Some("R-SHIRT"),
                what: "sku_prepend",
            },
            Case {
                modifiers: vec![value("sku_equals", "RED-SHIRT")],
                check: |c| c.sku.as_deref() == Some("RED-SHIRT"),
                what: "sku_equals",
            },
            Case {
                modifiers: vec![value("slug_append", "-r")],
                check: |c| c.slug.as_deref() == Some("shirt-r") && c.sku.as_deref() == Some("SHIRT-Red"),
                what: "slug_append (the sku takes its default)",
            },
            Case {
                modifiers: vec![value("slug_prepend", "r-")],
                check: |c| c.slug.as_deref() == Some("r-shirt"),
                what: "slug_prepend",
            },
            Case {
                modifiers: vec![value("slug_equals", "red")],
                check: |c| c.slug.as_deref() == Some("red"),
                what: "slug_equals",
            },
            Case {
                modifiers: vec![
                    value("sku_equals", "SHIRT-{colour}"),
                    modifier("sku_builder", None, Some("{colour}"), Some("RED")),
                ],
                check: |c| c.sku.as_deref() == Some("SHIRT-RED"),
                what: "sku_builder replaces its seek",
            },
            Case {
                modifiers: vec![
                    value("slug_equals", "shirt-{colour}"),
                    modifier("slug_builder", None, Some("{colour}"), Some("red")),
                ],
                check: |c| c.slug.as_deref() == Some("shirt-red"),
                what: "slug_builder replaces its seek",
            },
            Case {
                modifiers: vec![value("commodity_type", "digital")],
                check: |c| c.commodity_type == "digital",
                what: "commodity_type",
            },
            Case {
                modifiers: vec![value("status", "draft")],
                check: |c| c.status == "draft",
                what: "status",
            },
            Case {
                modifiers: vec![value("upc_ean_equals", "123")],
                check: |c| c.upc_ean.as_deref() == Some("123"),
                what: "upc_ean_equals",
            },
            Case {
                modifiers: vec![value("mpn_equals", "M-R")],
                check: |c| c.mpn.as_deref() == Some("M-R"),
                what: "mpn_equals",
            },
            Case {
                modifiers: vec![value("external_ref_equals", "x-r")],
                check: |c| c.external_ref.as_deref() == Some("x-r"),
                what: "external_ref_equals",
            },
            Case {
                modifiers: vec![value("price_increment", "100")],
                check: |c| c.name == "Shirt" && c.sku.as_deref() == Some("SHIRT-Red"),
                what: "a price modifier leaves the attributes alone",
            },
        ];
        for case in cases {
            let red = option(11, "Red", case.modifiers);
            let child = child_product(&parent(), &[&red], id(7), 5);
            assert!((case.check)(&child), "{}: {child:?}", case.what);
        }
    }

    #[test]
    fn a_child_inherits_what_no_modifier_changes() {
        let red = option(11, "Red", vec![]);
        let m = option(21, "M", vec![value("name_append", " M")]);
        let child = child_product(&parent(), &[&red, &m], id(7), 5);
        assert_eq!(child.id, id(7));
        assert_eq!(child.parent_id, Some(id(1)));
        assert_eq!(child.child_options, vec![id(11), id(21)]);
        assert!(!child.is_parent);
        assert_eq!(child.name, "Shirt M");
        assert_eq!(
            child.sku.as_deref(),
            Some("SHIRT-Red-M"),
            "the options' names, in order"
        );
        assert_eq!(child.slug.as_deref(), Some("shirt-Red-M"));
        assert_eq!(child.description.as_deref(), Some("Cotton."));
        assert_eq!(child.extensions, parent().extensions);
        assert_eq!(
            (child.status.as_str(), child.commodity_type.as_str()),
            ("live", "physical")
        );
        assert_eq!(child.mpn.as_deref(), Some("M-1"));
        assert_eq!(
            (child.main_image, child.files.len()),
            (None, 0),
            "files are the parent's own"
        );
        assert_eq!((child.created_at, child.updated_at), (5, 5));
    }

    #[test]
    fn modifiers_apply_in_option_order() {
        let red = option(
            11,
            "Red",
            vec![value("name_append", " Red"), value("sku_equals", "S")],
        );
        let m = option(
            21,
            "M",
            vec![value("name_append", " M"), value("sku_append", "-M")],
        );
        let child = child_product(&parent(), &[&red, &m], id(7), 5);
        assert_eq!(child.name, "Shirt Red M");
        assert_eq!(child.sku.as_deref(), Some("S-M"));
    }

    #[test]
    fn a_build_makes_each_missing_combination_once() {
        let trees = vec![
            variation(10, vec![option(11, "Red", vec![]), option(12, "Blue", vec![])]),
            variation(
                20,
                vec![
                    option(21, "S", vec![]),
                    option(22, "M", vec![]),
                    option(23, "L", vec![]),
                ],
            ),
        ];
        let mut n = 100;
        let mut ids = || {
            n += 1;
            id(n)
        };
        let all = plan_build(&parent(), &trees, &HashSet::new(), 5, &mut ids).unwrap();
        let skus: Vec<&str> = all.iter().filter_map(|c| c.sku.as_deref()).collect();
        assert_eq!(
            skus,
            [
                "SHIRT-Red-S",
                "SHIRT-Red-M",
                "SHIRT-Red-L",
                "SHIRT-Blue-S",
                "SHIRT-Blue-M",
                "SHIRT-Blue-L"
            ]
        );
        let keys: HashSet<Vec<Uuid>> = all.iter().map(|c| c.child_options.clone()).collect();
        assert_eq!(keys.len(), 6);
        let again = plan_build(&parent(), &trees, &keys, 6, &mut ids).unwrap();
        assert!(again.is_empty(), "a second build adds nothing");
        let mut some = keys.clone();
        some.remove(&vec![id(12), id(23)]);
        let missing = plan_build(&parent(), &trees, &some, 6, &mut ids).unwrap();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].sku.as_deref(), Some("SHIRT-Blue-L"));
    }

    #[test]
    fn builds_that_cannot_be_made_are_refused() {
        let child = Product {
            parent_id: Some(id(2)),
            ..parent()
        };
        let one = vec![variation(10, vec![option(11, "Red", vec![])])];
        let empty = vec![
            variation(10, vec![option(11, "Red", vec![])]),
            variation(20, vec![]),
        ];
        let many: Vec<VariationTree> = (1..=4u128)
            .map(|v| {
                variation(
                    v * 1000,
                    (1..=6u128).map(|o| option(v * 1000 + o, "o", vec![])).collect(),
                )
            })
            .collect();
        let cases: [(&Product, &[VariationTree], &str); 4] = [
            (&child, &one, "child product"),
            (&parent(), &[], "no variations"),
            (&parent(), &empty, "has no options"),
            (&parent(), &many, "1296 combinations"),
        ];
        for (product, trees, expected) in cases {
            let err = plan_build(product, trees, &HashSet::new(), 0, Uuid::now_v7).unwrap_err();
            assert!(
                matches!(&err, Error::BadRequest { detail, .. } if detail.contains(expected)),
                "{expected}: {err:?}"
            );
        }
    }

    #[test]
    fn modifiers_are_checked_by_type() {
        let cases: [(Modifier, &[&str]); 16] = [
            (value("name_append", " Red"), &[]),
            (value("sku_equals", "S-1"), &[]),
            (modifier("sku_builder", None, Some("{c}"), Some("RED")), &[]),
            (value("price_increment", "500"), &[]),
            (value("status", "live"), &[]),
            (value("colour_equals", "x"), &["data.attributes.type"]),
            (value("price", "x"), &["data.attributes.type"]),
            (value("locales_equals", "x"), &["data.attributes.type"]),
            (
                modifier("name_equals", None, None, None),
                &["data.attributes.value"],
            ),
            (value("name_equals", ""), &["data.attributes.value"]),
            (
                modifier("slug_builder", None, None, Some("a b")),
                &["data.attributes.seek", "data.attributes.set"],
            ),
            (value("slug_append", "a b"), &["data.attributes.value"]),
            (value("status", "gone"), &["data.attributes.value"]),
            (value("commodity_type", "service"), &["data.attributes.value"]),
            (value("price_decrement", "-5"), &["data.attributes.value"]),
            (value("price_equals", "9.99"), &["data.attributes.value"]),
        ];
        for (m, expected) in cases {
            let mut v = Validator::new();
            check_modifier(&m, &mut v);
            let sources: Vec<String> = match v.finish() {
                Ok(()) => Vec::new(),
                Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.source).collect(),
                Err(e) => panic!("{e:?}"),
            };
            assert_eq!(sources, expected, "{} {:?}", m.kind, m.value);
        }
    }

    fn sheet(amount: i64) -> PriceSheet {
        let price = CurrencyPrice {
            amount,
            includes_tax: false,
            tiers: [(
                "ten".to_owned(),
                Tier {
                    minimum_quantity: 10,
                    amount: amount - 100,
                },
            )]
            .into(),
        };
        PriceSheet {
            currencies: [
                ("USD".to_owned(), price.clone()),
                ("EUR".to_owned(), price.clone()),
            ]
            .into(),
            sales: [(
                "summer".to_owned(),
                Sale {
                    schedule: None,
                    currencies: [(
                        "USD".to_owned(),
                        CurrencyPrice {
                            amount: amount / 2,
                            ..price
                        },
                    )]
                    .into(),
                },
            )]
            .into(),
        }
    }

    #[test]
    fn a_child_without_a_price_takes_its_parents_changed_by_its_modifiers() {
        use PriceChange::*;
        let cases: [(&[PriceChange], i64, i64, i64); 5] = [
            (&[], 1000, 900, 500),
            (&[Increment(250)], 1250, 1150, 750),
            (&[Decrement(950)], 50, 0, 0),
            (&[Equals(700)], 700, 700, 700),
            (&[Equals(700), Increment(50)], 750, 750, 750),
        ];
        for (changes, amount, tier, sale) in cases {
            let s = price_child(&sheet(1000), changes);
            for code in ["USD", "EUR"] {
                assert_eq!(s.currencies[code].amount, amount, "{changes:?} {code}");
                assert_eq!(s.currencies[code].tiers["ten"].amount, tier, "{changes:?} tier");
            }
            assert_eq!(
                s.sales["summer"].currencies["USD"].amount, sale,
                "{changes:?} sale"
            );
        }
    }

    #[test]
    fn price_changes_come_from_the_price_modifiers_in_order() {
        let red = option(
            11,
            "Red",
            vec![value("price_increment", "100"), value("name_append", "x")],
        );
        let m = option(
            21,
            "M",
            vec![value("price_equals", "900"), value("price_decrement", "5")],
        );
        assert_eq!(
            price_changes([&red, &m]),
            vec![
                PriceChange::Increment(100),
                PriceChange::Equals(900),
                PriceChange::Decrement(5)
            ]
        );
    }
}
