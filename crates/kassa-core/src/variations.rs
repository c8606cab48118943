//! Variations and child products (`/pcm/variations`, `POST /pcm/products/{id}/build`): a
//! variation's options, the modifiers that make each child differ from its parent, and the pure
//! rules that turn a parent and its variations into children (one per combination of options)
//! and price a child that has no price of its own.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::Validator;
use crate::catalog::{COMMODITY_TYPES, CommodityType, PRODUCT_STATUSES, Product, ProductStatus};
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
/// none; `price_increment`/`price_decrement`/`price_equals` take the amount themselves), custom
/// inputs and locales are not part of kassa's products, and build rules are a parent's only.
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

fn edit(field: &mut Option<Box<str>>, how: &str, value: &str) {
    let current = field.take().unwrap_or_default();
    *field = Some(match how {
        "append" => format!("{current}{value}").into(),
        "prepend" => format!("{value}{current}").into(),
        _ => value.into(),
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
    child.child_options = child_key(options).into();
    child.is_parent = false;
    child.main_image = None;
    child.files = Box::default();
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
                    *text = text.replace(seek.as_str(), set).into();
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
            // Both were checked against their names when the variation was written.
            ("commodity", _) => {
                child.commodity_type = CommodityType::parse(value).unwrap_or(child.commodity_type)
            }
            ("status", _) => child.status = ProductStatus::parse(value).unwrap_or(child.status),
            ("upc", _) => child.upc_ean = Some(value.into()),
            ("mpn", _) => child.mpn = Some(value.into()),
            ("external", _) => child.external_ref = Some(value.into()),
            _ => {}
        }
    }
    let names: String = options.iter().map(|o| format!("-{}", o.option.name)).collect();
    if !sku_modified && child.sku.is_some() && child.sku == parent.sku {
        child.sku = child.sku.map(|s| format!("{s}{names}").into());
    }
    if !slug_modified && child.slug.is_some() && child.slug == parent.slug {
        child.slug = child.slug.map(|s| format!("{s}{names}").into());
    }
    child
}

/// A parent's build rules (`data.attributes.build_rules`): which combinations of options a build
/// makes children of. Each rule is a combination of option ids, each of another variation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRules {
    pub default: RuleKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<Vec<Uuid>>,
}

/// Whether a rule (or the default) includes or excludes the combinations it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Include,
    Exclude,
}

/// The most rules `include` and `exclude` may each hold.
pub const MAX_BUILD_RULES: usize = 1_000;

/// Two rules of the same length, one including and one excluding, that both match a
/// combination no longer rule matches: by their indexes in `include` and `exclude`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguity {
    pub include: usize,
    pub exclude: usize,
}

/// Elastic Path's words for an [`Ambiguity`].
pub const AMBIGUOUS_RULES: &str =
    "could not determine whether to include or exclude a child product due to ambiguous rules";

/// Whether the rules build the child with `options`. A rule matches when every option it names
/// is one of `options`; the longest matching rules decide (the most specific), and when none
/// matches, `default` does. Longest matching rules of both kinds are an [`Ambiguity`]. No rules
/// build every combination.
pub fn builds(rules: Option<&BuildRules>, options: &[Uuid]) -> std::result::Result<bool, Ambiguity> {
    let Some(rules) = rules else { return Ok(true) };
    let longest = |list: &[Vec<Uuid>]| {
        list.iter()
            .enumerate()
            .filter(|(_, rule)| rule.iter().all(|id| options.contains(id)))
            .map(|(i, rule)| (rule.len(), i))
            .max_by_key(|(len, i)| (*len, std::cmp::Reverse(*i)))
    };
    match (longest(&rules.include), longest(&rules.exclude)) {
        (None, None) => Ok(rules.default == RuleKind::Include),
        (Some(_), None) => Ok(true),
        (None, Some(_)) => Ok(false),
        (Some((i_len, include)), Some((e_len, exclude))) => match i_len.cmp(&e_len) {
            std::cmp::Ordering::Greater => Ok(true),
            std::cmp::Ordering::Less => Ok(false),
            std::cmp::Ordering::Equal => Err(Ambiguity { include, exclude }),
        },
    }
}

/// Reads `build_rules` as a request gives them (`source` names it), each problem at its field:
/// an object of `default` (`include` or `exclude`, required) and optional `include` and
/// `exclude` lists of combinations, each a non-empty list of distinct option ids.
pub fn parse_build_rules(value: &Value, source: &str, v: &mut Validator) -> Option<BuildRules> {
    let Some(object) = value.as_object() else {
        v.push(
            source,
            "invalid",
            "build_rules must be an object with default, include and exclude",
        );
        return None;
    };
    let before = v.problem_count();
    for name in object
        .keys()
        .filter(|k| !["default", "include", "exclude"].contains(&k.as_str()))
    {
        v.push(
            format!("{source}.{name}"),
            "invalid",
            format!("{name} is not a member of build_rules (default, include, exclude)"),
        );
    }
    let default = match object.get("default") {
        None | Some(Value::Null) => {
            v.push(format!("{source}.default"), "required", "default is required");
            None
        }
        Some(Value::String(t)) if t == "include" => Some(RuleKind::Include),
        Some(Value::String(t)) if t == "exclude" => Some(RuleKind::Exclude),
        Some(_) => {
            v.push(
                format!("{source}.default"),
                "invalid",
                "default must be one of: include, exclude",
            );
            None
        }
    };
    let mut lists = [Vec::new(), Vec::new()];
    for (list, name) in lists.iter_mut().zip(["include", "exclude"]) {
        let at = format!("{source}.{name}");
        let rules = match object.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(rules)) => rules,
            Some(_) => {
                v.push(
                    at,
                    "invalid",
                    format!("{name} must be a list of lists of option ids"),
                );
                continue;
            }
        };
        if rules.len() > MAX_BUILD_RULES {
            v.push(
                at.clone(),
                "invalid",
                format!("{name} may hold at most {MAX_BUILD_RULES} combinations"),
            );
            continue;
        }
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let ids = match rule.as_array() {
                Some(ids) if !ids.is_empty() => ids,
                _ => {
                    v.push(
                        at,
                        "invalid",
                        "a combination must be a non-empty list of option ids",
                    );
                    continue;
                }
            };
            let mut combination = Vec::with_capacity(ids.len());
            for (j, id) in ids.iter().enumerate() {
                match id.as_str().and_then(|t| Uuid::parse_str(t).ok()) {
                    Some(id) if combination.contains(&id) => v.push(
                        format!("{at}[{j}]"),
                        "invalid",
                        format!("the option {id} is already in this combination"),
                    ),
                    Some(id) => combination.push(id),
                    None => v.push(
                        format!("{at}[{j}]"),
                        "invalid",
                        "an option id must be a UUID string",
                    ),
                }
            }
            list.push(combination);
        }
    }
    let [include, exclude] = lists;
    let default = default.filter(|_| v.problem_count() == before)?;
    Some(BuildRules {
        default,
        include,
        exclude,
    })
}

/// Checks rules against the product's variations (`trees`, as attached): every option id must
/// be an option of one of them, the options of a combination of different variations, and no
/// combination of the variations may be decided by an [`Ambiguity`] (checked when they make at
/// most [`MAX_CHILDREN`] combinations; a build refuses more anyway).
pub fn check_build_rules(rules: &BuildRules, trees: &[VariationTree], source: &str, v: &mut Validator) {
    let variation_of: HashMap<Uuid, &Variation> = trees
        .iter()
        .flat_map(|t| t.options.iter().map(move |o| (o.option.id, &t.variation)))
        .collect();
    let before = v.problem_count();
    for (name, list) in [("include", &rules.include), ("exclude", &rules.exclude)] {
        for (i, rule) in list.iter().enumerate() {
            let at = format!("{source}.{name}[{i}]");
            let mut seen: HashMap<Uuid, Uuid> = HashMap::new();
            for (j, id) in rule.iter().enumerate() {
                let Some(variation) = variation_of.get(id) else {
                    let detail = if trees.is_empty() {
                        format!(
                            "No option {id}: the product has no variations (attach them with \
                             /pcm/products/{{id}}/relationships/variations, then set build_rules)"
                        )
                    } else {
                        format!("No option {id} among the options of the product's variations")
                    };
                    v.push(format!("{at}[{j}]"), "not_found", detail);
                    continue;
                };
                if let Some(other) = seen.insert(variation.id, *id) {
                    v.push(
                        at.clone(),
                        "invalid",
                        format!(
                            "Combinations of option ids must come from different variations: {other} \
                             and {id} are both options of {} ({})",
                            variation.name, variation.id
                        ),
                    );
                }
            }
        }
    }
    if v.problem_count() > before {
        return;
    }
    let count = trees
        .iter()
        .try_fold(1usize, |n, t| n.checked_mul(t.options.len()))
        .unwrap_or(usize::MAX);
    if trees.is_empty() || count > MAX_CHILDREN {
        return;
    }
    if let Some((combo, a)) = combinations(trees)
        .into_iter()
        .find_map(|combo| builds(Some(rules), &child_key(&combo)).err().map(|a| (combo, a)))
    {
        v.push(source, "ambiguous", ambiguity_detail(&combo, a));
    }
}

fn ambiguity_detail(combo: &[&OptionTree], a: Ambiguity) -> String {
    let names: Vec<&str> = combo.iter().map(|o| o.option.name.as_str()).collect();
    format!(
        "{AMBIGUOUS_RULES}: include[{}] and exclude[{}] both decide the combination {}",
        a.include,
        a.exclude,
        names.join(", ")
    )
}

/// The children a build of `parent` adds: one per combination of the options of its variations
/// (in the order they were attached) that its build `rules` include ([`builds`]) and that has no
/// child yet (`existing` holds the keys of those that do). Refused for a child product, a product
/// without variations, a variation without options, past [`MAX_CHILDREN`] combinations (before
/// the rules), and for a combination the rules decide ambiguously.
pub fn plan_build(
    parent: &Product,
    trees: &[VariationTree],
    rules: Option<&BuildRules>,
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
    let mut children = Vec::new();
    for combo in combinations(trees) {
        let key = child_key(&combo);
        let included = builds(rules, &key)
            .map_err(|a| Error::bad_request("Cannot build child products", ambiguity_detail(&combo, a)))?;
        if included && !existing.contains(&key) {
            children.push(child_product(parent, &combo, new_id(), now));
        }
    }
    Ok(children)
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
            status: ProductStatus::Live,
            commodity_type: CommodityType::Physical,
            upc_ean: None,
            mpn: Some("M-1".into()),
            external_ref: None,
            extensions: Some(crate::catalog::Extensions::new(
                &serde_json::json!({"shirt": {"fit": "slim"}}),
            )),
            main_image: Some(id(99)),
            files: [id(98)].into(),
            parent_id: None,
            child_options: Box::default(),
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
                check: |c| &*c.name == "Shirt (Red)",
                what: "name_append",
            },
            Case {
                modifiers: vec![value("name_prepend", "Red ")],
                check: |c| &*c.name == "Red Shirt",
                what: "name_prepend",
            },
            Case {
                modifiers: vec![value("name_equals", "Red shirt")],
                check: |c| &*c.name == "Red shirt",
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
                check: |c| c.commodity_type == CommodityType::Digital,
                what: "commodity_type",
            },
            Case {
                modifiers: vec![value("status", "draft")],
                check: |c| c.status == ProductStatus::Draft,
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
                check: |c| &*c.name == "Shirt" && c.sku.as_deref() == Some("SHIRT-Red"),
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
        assert_eq!(*child.child_options, [id(11), id(21)]);
        assert!(!child.is_parent);
        assert_eq!(&*child.name, "Shirt M");
        assert_eq!(
            child.sku.as_deref(),
            Some("SHIRT-Red-M"),
            "the options' names, in order"
        );
        assert_eq!(child.slug.as_deref(), Some("shirt-Red-M"));
        assert_eq!(child.description.as_deref(), Some("Cotton."));
        assert_eq!(child.extensions, parent().extensions);
        assert_eq!(
            (child.status, child.commodity_type),
            (ProductStatus::Live, CommodityType::Physical)
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
        assert_eq!(&*child.name, "Shirt Red M");
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
        let all = plan_build(&parent(), &trees, None, &HashSet::new(), 5, &mut ids).unwrap();
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
        let keys: HashSet<Vec<Uuid>> = all.iter().map(|c| c.child_options.to_vec()).collect();
        assert_eq!(keys.len(), 6);
        let again = plan_build(&parent(), &trees, None, &keys, 6, &mut ids).unwrap();
        assert!(again.is_empty(), "a second build adds nothing");
        let mut some = keys.clone();
        some.remove(&vec![id(12), id(23)]);
        let missing = plan_build(&parent(), &trees, None, &some, 6, &mut ids).unwrap();
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
            let err = plan_build(product, trees, None, &HashSet::new(), 0, Uuid::now_v7).unwrap_err();
            assert!(
                matches!(&err, Error::BadRequest { detail, .. } if detail.contains(expected)),
                "{expected}: {err:?}"
            );
        }
    }

    fn rules(default: RuleKind, include: &[&[u128]], exclude: &[&[u128]]) -> BuildRules {
        let ids = |list: &[&[u128]]| list.iter().map(|r| r.iter().map(|n| id(*n)).collect()).collect();
        BuildRules {
            default,
            include: ids(include),
            exclude: ids(exclude),
        }
    }

    #[test]
    fn the_longest_matching_rule_decides_a_combination() {
        use RuleKind::*;
        // Options 11, 12 of variation 10; 21, 22 of 20; 31 of 30.
        struct Case {
            rules: Option<BuildRules>,
            options: &'static [u128],
            builds: std::result::Result<bool, Ambiguity>,
            what: &'static str,
        }
        let cases = [
            Case {
                rules: None,
                options: &[11, 21],
                builds: Ok(true),
                what: "no rules build everything",
            },
            Case {
                rules: Some(rules(Include, &[], &[])),
                options: &[11, 21],
                builds: Ok(true),
                what: "default include",
            },
            Case {
                rules: Some(rules(Exclude, &[], &[])),
                options: &[11, 21],
                builds: Ok(false),
                what: "default exclude",
            },
            Case {
                rules: Some(rules(Include, &[], &[&[11, 21]])),
                options: &[11, 21, 31],
                builds: Ok(false),
                what: "an exclude rule matches a combination holding all its options",
            },
            Case {
                rules: Some(rules(Include, &[], &[&[11, 21]])),
                options: &[11, 22, 31],
                builds: Ok(true),
                what: "a rule with an option the combination lacks does not match",
            },
            Case {
                rules: Some(rules(Exclude, &[&[11]], &[])),
                options: &[11, 22],
                builds: Ok(true),
                what: "default exclude, an include rule",
            },
            Case {
                rules: Some(rules(Exclude, &[&[11]], &[])),
                options: &[12, 21],
                builds: Ok(false),
                what: "default exclude, no rule matches",
            },
            Case {
                rules: Some(rules(Include, &[&[11]], &[&[11, 21]])),
                options: &[11, 21],
                builds: Ok(false),
                what: "the longer exclude wins over a shorter include",
            },
            Case {
                rules: Some(rules(Include, &[&[11]], &[&[11, 21]])),
                options: &[11, 22],
                builds: Ok(true),
                what: "only the include matches",
            },
            Case {
                rules: Some(rules(Exclude, &[&[11, 21]], &[&[11]])),
                options: &[11, 21],
                builds: Ok(true),
                what: "the longer include wins over a shorter exclude",
            },
            Case {
                rules: Some(rules(Include, &[&[11]], &[&[21]])),
                options: &[11, 21],
                builds: Err(Ambiguity {
                    include: 0,
                    exclude: 0,
                }),
                what: "an include and an exclude of one length both match",
            },
            Case {
                rules: Some(rules(Include, &[&[31], &[11, 21]], &[&[22], &[21, 11]])),
                options: &[11, 21, 31],
                builds: Err(Ambiguity {
                    include: 1,
                    exclude: 1,
                }),
                what: "the same combination in both lists",
            },
            Case {
                rules: Some(rules(Include, &[&[11]], &[&[21], &[11, 21, 31]])),
                options: &[11, 21, 31],
                builds: Ok(false),
                what: "a longer rule settles a tie of shorter ones",
            },
            Case {
                rules: Some(rules(Include, &[], &[&[99]])),
                options: &[11, 21],
                builds: Ok(true),
                what: "a rule naming an option no longer offered matches nothing",
            },
        ];
        for case in cases {
            let options: Vec<Uuid> = case.options.iter().map(|n| id(*n)).collect();
            assert_eq!(
                builds(case.rules.as_ref(), &options),
                case.builds,
                "{}",
                case.what
            );
        }
    }

    #[test]
    fn build_rules_are_read_with_each_problem_at_its_field() {
        let a = id(11).to_string();
        let b = id(21).to_string();
        let at = "data.attributes.build_rules";
        let cases: [(Value, &[&str]); 10] = [
            (serde_json::json!({"default": "include"}), &[]),
            (
                serde_json::json!({"default": "exclude", "include": [[a, b]], "exclude": null}),
                &[],
            ),
            (serde_json::json!([]), &[at]),
            (serde_json::json!({}), &["data.attributes.build_rules.default"]),
            (
                serde_json::json!({"default": "maybe", "other": 1}),
                &[
                    "data.attributes.build_rules.other",
                    "data.attributes.build_rules.default",
                ],
            ),
            (
                serde_json::json!({"default": "include", "include": "x"}),
                &["data.attributes.build_rules.include"],
            ),
            (
                serde_json::json!({"default": "include", "exclude": [[a], []]}),
                &["data.attributes.build_rules.exclude[1]"],
            ),
            (
                serde_json::json!({"default": "include", "exclude": [[a, "nope", 3]]}),
                &[
                    "data.attributes.build_rules.exclude[0][1]",
                    "data.attributes.build_rules.exclude[0][2]",
                ],
            ),
            (
                serde_json::json!({"default": "include", "include": [[a, a]]}),
                &["data.attributes.build_rules.include[0][1]"],
            ),
            (
                serde_json::json!({"default": "include", "include": vec![vec![a.clone()]; MAX_BUILD_RULES + 1]}),
                &["data.attributes.build_rules.include"],
            ),
        ];
        for (value, expected) in cases {
            let mut v = Validator::new();
            let parsed = parse_build_rules(&value, at, &mut v);
            let sources: Vec<String> = match v.finish() {
                Ok(()) => Vec::new(),
                Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.source).collect(),
                Err(e) => panic!("{e:?}"),
            };
            assert_eq!(sources, expected, "{value}");
            assert_eq!(parsed.is_some(), expected.is_empty(), "{value}");
        }
        let mut v = Validator::new();
        let parsed = parse_build_rules(
            &serde_json::json!({"default": "exclude", "include": [[a, b]]}),
            at,
            &mut v,
        );
        assert_eq!(
            parsed,
            Some(rules(RuleKind::Exclude, &[&[11, 21]], &[])),
            "kept as given"
        );
    }

    #[test]
    fn build_rules_name_options_of_the_products_variations() {
        use RuleKind::*;
        let trees = vec![
            variation(10, vec![option(11, "Red", vec![]), option(12, "Blue", vec![])]),
            variation(20, vec![option(21, "S", vec![]), option(22, "M", vec![])]),
        ];
        let cases: [(BuildRules, &[VariationTree], &[&str]); 6] = [
            (rules(Include, &[&[11, 21]], &[&[12]]), &trees, &[]),
            (rules(Include, &[&[11, 99]], &[]), &trees, &["b.include[0][1]"]),
            (rules(Include, &[], &[&[11]]), &[], &["b.exclude[0][0]"]),
            (rules(Include, &[], &[&[11, 12]]), &trees, &["b.exclude[0]"]),
            (rules(Include, &[&[11]], &[&[21]]), &trees, &["b"]),
            (rules(Include, &[&[11]], &[&[21], &[11, 21]]), &trees, &[]),
        ];
        for (r, trees, expected) in cases {
            let mut v = Validator::new();
            check_build_rules(&r, trees, "b", &mut v);
            let problems: Vec<(String, String)> = match v.finish() {
                Ok(()) => Vec::new(),
                Err(Error::Validation(errors)) => errors.into_iter().map(|e| (e.source, e.detail)).collect(),
                Err(e) => panic!("{e:?}"),
            };
            let sources: Vec<&str> = problems.iter().map(|(s, _)| s.as_str()).collect();
            assert_eq!(sources, expected, "{r:?}: {problems:?}");
            if expected == ["b"] {
                assert!(problems[0].1.starts_with(AMBIGUOUS_RULES), "{problems:?}");
                assert!(problems[0].1.contains("Red, S"), "{problems:?}");
            }
        }
    }

    #[test]
    fn a_build_follows_the_rules_and_a_rebuild_adds_what_they_newly_include() {
        use RuleKind::*;
        let trees = vec![
            variation(10, vec![option(11, "Red", vec![]), option(12, "Blue", vec![])]),
            variation(20, vec![option(21, "S", vec![]), option(22, "M", vec![])]),
        ];
        let skus = |children: &[Product]| -> Vec<String> {
            children
                .iter()
                .filter_map(|c| c.sku.as_deref().map(str::to_owned))
                .collect()
        };
        let first = rules(Include, &[], &[&[12]]);
        let built = plan_build(&parent(), &trees, Some(&first), &HashSet::new(), 5, Uuid::now_v7).unwrap();
        assert_eq!(skus(&built), ["SHIRT-Red-S", "SHIRT-Red-M"], "no Blue");
        let existing: HashSet<Vec<Uuid>> = built.iter().map(|c| c.child_options.to_vec()).collect();
        let second = rules(Include, &[&[12, 22]], &[&[12], &[11, 21]]);
        let more = plan_build(&parent(), &trees, Some(&second), &existing, 6, Uuid::now_v7).unwrap();
        assert_eq!(
            skus(&more),
            ["SHIRT-Blue-M"],
            "the newly included only; Red-S, now excluded, is not built again (nor removed)"
        );
        let ambiguous = rules(Include, &[&[11]], &[&[21]]);
        let err = plan_build(&parent(), &trees, Some(&ambiguous), &existing, 7, Uuid::now_v7).unwrap_err();
        assert!(
            matches!(&err, Error::BadRequest { detail, .. } if detail.starts_with(AMBIGUOUS_RULES)),
            "{err:?}"
        );
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
