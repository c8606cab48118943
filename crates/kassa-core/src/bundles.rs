//! Bundles: a product with `components`, each a choice among product options. The rules here
//! are pure: reading and checking components as a request gives them, the default selection,
//! checking a shopper's selection (`POST /catalog/products/{id}/configure`) and a bundle's price.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Validator;
use crate::cart_totals::{TaxItem, TaxRate};

/// Most options a bundle has, over all its components (Elastic Path's limit).
pub const MAX_OPTIONS: usize = 1500;

/// A bundle's components by key (the key a `bundle_configuration` names them by).
pub type Components = BTreeMap<String, Component>;

/// A selection: for each component key, the chosen options' product ids and quantities.
pub type Selection = BTreeMap<String, BTreeMap<Uuid, i64>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub options: Vec<ComponentOption>,
    /// Fewest options a shopper selects from the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Most options a shopper selects from the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentOption {
    /// The option's product.
    pub id: Uuid,
    /// Always `product`.
    #[serde(rename = "type", default)]
    pub kind: ProductKind,
    /// How many of the product the option is, at least 1.
    pub quantity: i64,
    /// Whether the option is selected by default.
    #[serde(default)]
    pub default: bool,
    /// The range a shopper may choose the quantity in; without it the quantity is `quantity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i64>,
}

/// An option's `type`: always `product`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProductKind;

impl Serialize for ProductKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("product")
    }
}

impl<'de> Deserialize<'de> for ProductKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| ProductKind)
    }
}

/// What an option's id names, for [`check_targets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionTarget {
    Missing,
    /// A product that has components itself.
    Bundle,
    Product,
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An optional integer member of `object`, at least `least`.
fn int_at(
    object: &Map<String, Value>,
    name: &str,
    source: &str,
    least: i64,
    v: &mut Validator,
) -> Option<i64> {
    let value = object.get(name).filter(|x| !x.is_null())?;
    let source = format!("{source}.{name}");
    match value.as_i64() {
        Some(n) if n >= least => Some(n),
        Some(_) => {
            v.push(source, "invalid", format!("{name} must be at least {least}"));
            None
        }
        None => {
            v.push(source, "invalid", format!("{name} must be an integer"));
            None
        }
    }
}

fn unknown_members(object: &Map<String, Value>, known: &[&str], source: &str, v: &mut Validator) {
    for name in object.keys().filter(|k| !known.contains(&k.as_str())) {
        v.push(
            format!("{source}.{name}"),
            "invalid",
            format!("{name} is not a member of a bundle component here"),
        );
    }
}

/// Checks a `min`/`max` pair: `min` at most `max`.
fn check_range(min: Option<i64>, max: Option<i64>, source: &str, v: &mut Validator) {
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        v.push(
            format!("{source}.min"),
            "invalid",
            format!("min ({min}) must be at most max ({max})"),
        );
    }
}

/// Reads `components` as a product create or update gives it, each problem named by its field
/// under `source` (`data.attributes.components`). Whether the options name products is
/// [`check_targets`]'s.
pub fn parse_components(value: &Value, source: &str, v: &mut Validator) -> Components {
    let mut components = Components::new();
    let Some(object) = value.as_object() else {
        v.push(
            source,
            "invalid",
            "components must be an object of components by key",
        );
        return components;
    };
    if object.is_empty() {
        v.push(source, "invalid", "a bundle has at least one component");
    }
    let mut total = 0;
    for (key, raw) in object {
        let at = format!("{source}.{key}");
        if !is_key(key) {
            v.push(
                at.clone(),
                "invalid",
                "a component key is 1 to 255 letters, digits, '-' or '_'",
            );
        }
        let Some(c) = raw.as_object() else {
            v.push(at, "invalid", "a component must be an object");
            continue;
        };
        unknown_members(c, &["name", "options", "min", "max", "sort_order"], &at, v);
        let name = match c.get("name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() && n.chars().count() <= 255 => n.to_owned(),
            Some(_) => {
                v.push(
                    format!("{at}.name"),
                    "invalid",
                    "name must be 1 to 255 characters",
                );
                String::new()
            }
            None => {
                v.push(format!("{at}.name"), "required", "name is required");
                String::new()
            }
        };
        let min = int_at(c, "min", &at, 0, v);
        let max = int_at(c, "max", &at, 1, v);
        check_range(min, max, &at, v);
        let sort_order = int_at(c, "sort_order", &at, i64::MIN, v);
        let options = match c.get("options").and_then(Value::as_array) {
            Some(options) if !options.is_empty() => parse_options(options, &at, v),
            Some(_) => {
                v.push(
                    format!("{at}.options"),
                    "invalid",
                    "a component has at least one option",
                );
                Vec::new()
            }
            None => {
                v.push(format!("{at}.options"), "required", "options is required");
                Vec::new()
            }
        };
        total += options.len();
        if let Some(min) = min
            && !options.is_empty()
            && min > options.len() as i64
        {
            v.push(
                format!("{at}.min"),
                "invalid",
                format!(
                    "min ({min}) must be at most the number of options ({})",
                    options.len()
                ),
            );
        }
        let defaults = options.iter().filter(|o| o.default).count() as i64;
        if let Some(max) = max
            && defaults > max
        {
            v.push(
                format!("{at}.options"),
                "invalid",
                format!("{defaults} options are default but at most {max} may be selected"),
            );
        }
        components.insert(
            key.clone(),
            Component {
                name,
                options,
                min,
                max,
                sort_order,
            },
        );
    }
    if total > MAX_OPTIONS {
        v.push(
            source,
            "invalid",
            format!("a bundle has at most {MAX_OPTIONS} options"),
        );
    }
    components
}

fn parse_options(raw: &[Value], at: &str, v: &mut Validator) -> Vec<ComponentOption> {
    let mut options: Vec<ComponentOption> = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        let at = format!("{at}.options[{i}]");
        let Some(o) = o.as_object() else {
            v.push(at, "invalid", "an option must be an object");
            continue;
        };
        unknown_members(
            o,
            &["id", "type", "quantity", "default", "min", "max", "sort_order"],
            &at,
            v,
        );
        match o.get("type") {
            None | Some(Value::Null) => {}
            Some(t) if t == "product" => {}
            Some(_) => v.push(format!("{at}.type"), "invalid", "type must be product"),
        }
        let id = match o.get("id").and_then(Value::as_str) {
            Some(id) => match Uuid::parse_str(id) {
                Ok(id) => Some(id),
                Err(_) => {
                    v.push(format!("{at}.id"), "invalid", "id must be a product id");
                    None
                }
            },
            None => {
                v.push(format!("{at}.id"), "required", "id is required");
                None
            }
        };
        let quantity = match o.get("quantity") {
            None | Some(Value::Null) => Some(1),
            Some(_) => int_at(o, "quantity", &at, 1, v),
        };
        let default = match o.get("default") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                v.push(
                    format!("{at}.default"),
                    "invalid",
                    "default must be true or false",
                );
                false
            }
        };
        let min = int_at(o, "min", &at, 1, v);
        let max = int_at(o, "max", &at, 1, v);
        if min.is_some() != max.is_some() {
            v.push(
                format!("{at}.{}", if min.is_some() { "max" } else { "min" }),
                "required",
                "an option's min and max are given together",
            );
        }
        check_range(min, max, &at, v);
        let sort_order = int_at(o, "sort_order", &at, i64::MIN, v);
        let (Some(id), Some(quantity)) = (id, quantity) else {
            continue;
        };
        if options.iter().any(|o| o.id == id) {
            v.push(
                format!("{at}.id"),
                "invalid",
                format!("{id} is already an option of this component"),
            );
            continue;
        }
        options.push(ComponentOption {
            id,
            kind: ProductKind,
            quantity,
            default,
            min,
            max,
            sort_order,
        });
    }
    options
}

/// Every product the components name, each once, in order.
pub fn option_ids(components: &Components) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = Vec::new();
    for o in components.values().flat_map(|c| &c.options) {
        if !ids.contains(&o.id) {
            ids.push(o.id);
        }
    }
    ids
}

/// A bundle's write refused because a product one of its options names was deleted after the
/// options were checked (the store's foreign key decides).
pub fn option_product_gone() -> crate::Error {
    crate::Error::field(
        "data.attributes.components",
        "not_found",
        "A product an option names has been deleted",
    )
}

/// Each option must name an existing product that is not a bundle itself (kassa has no bundles
/// of bundles), each problem named by the option's `id` under `source`.
pub fn check_targets(
    components: &Components,
    source: &str,
    target: impl Fn(Uuid) -> OptionTarget,
    v: &mut Validator,
) {
    for (key, c) in components {
        for (i, o) in c.options.iter().enumerate() {
            let at = format!("{source}.{key}.options[{i}].id");
            match target(o.id) {
                OptionTarget::Product => {}
                OptionTarget::Missing => v.push(at, "not-found", format!("No product {}", o.id)),
                OptionTarget::Bundle => v.push(
                    at,
                    "bundle of a bundle",
                    format!(
                        "Product {} is a bundle: a bundle's options are products that are not bundles",
                        o.id
                    ),
                ),
            }
        }
    }
}

/// The selection a bundle starts with: its default options at their quantities. A component
/// with no default option and no `min`/`max` (a fixed bundle's component) has all its options.
pub fn default_selection(components: &Components) -> Selection {
    components
        .iter()
        .map(|(key, c)| {
            let fixed = c.min.is_none() && c.max.is_none() && !c.options.iter().any(|o| o.default);
            let chosen = c
                .options
                .iter()
                .filter(|o| fixed || o.default)
                .map(|o| (o.id, o.quantity))
                .collect();
            (key.clone(), chosen)
        })
        .collect()
}

/// Reads and checks a shopper's `selected_options` against `components`, each problem named by
/// its field under `source` (`data.selected_options`): known components and options, quantities
/// in the option's range (or its quantity), and each component's count of options between its
/// `min` and `max`. A component left out selects nothing.
pub fn check_selection(components: &Components, value: &Value, source: &str, v: &mut Validator) -> Selection {
    let mut selection = Selection::new();
    let Some(object) = value.as_object() else {
        v.push(
            source,
            "invalid",
            "selected_options must be an object of components by key",
        );
        return selection;
    };
    for (key, chosen) in object {
        let at = format!("{source}.{key}");
        let Some(component) = components.get(key) else {
            v.push(at, "invalid", format!("The bundle has no component {key}"));
            continue;
        };
        let Some(chosen) = chosen.as_object() else {
            v.push(
                at,
                "invalid",
                "a component's selection is an object of quantities by option id",
            );
            continue;
        };
        let mut picked = BTreeMap::new();
        for (id, quantity) in chosen {
            let at = format!("{at}.{id}");
            let Some(option) = Uuid::parse_str(id)
                .ok()
                .and_then(|id| component.options.iter().find(|o| o.id == id))
            else {
                v.push(at, "invalid", format!("{id} is not an option of component {key}"));
                continue;
            };
            let Some(quantity) = quantity.as_i64().filter(|q| *q >= 1) else {
                v.push(at, "invalid", "a quantity is an integer of at least 1");
                continue;
            };
            let (least, most) = match (option.min, option.max) {
                (Some(min), Some(max)) => (min, max),
                _ => (option.quantity, option.quantity),
            };
            if quantity < least || quantity > most {
                let allowed = if least == most {
                    format!("{least}")
                } else {
                    format!("from {least} to {most}")
                };
                v.push(at, "invalid", format!("The quantity of this option is {allowed}"));
                continue;
            }
            picked.insert(option.id, quantity);
        }
        selection.insert(key.clone(), picked);
    }
    for (key, component) in components {
        let count = selection.get(key).map_or(0, BTreeMap::len) as i64;
        let at = format!("{source}.{key}");
        if let Some(min) = component.min
            && count < min
        {
            v.push(
                at.clone(),
                "invalid",
                format!("Select at least {min} options of component {key}"),
            );
        }
        if let Some(max) = component.max
            && count > max
        {
            v.push(
                at,
                "invalid",
                format!("Select at most {max} options of component {key}"),
            );
        }
    }
    selection
}

/// A bundle's price in minor units: its own price when it has one, else the sum of the selected
/// options' unit prices times their quantities; `None` when it has neither (an option without a
/// price) or the sum overflows.
pub fn bundle_price(
    own: Option<i64>,
    selection: &Selection,
    mut price: impl FnMut(Uuid) -> Option<i64>,
) -> Option<i64> {
    if own.is_some() {
        return own;
    }
    selection
        .values()
        .flat_map(|options| options.iter())
        .try_fold(0i64, |sum, (id, quantity)| {
            price(*id)?
                .checked_mul(*quantity)
                .and_then(|p| sum.checked_add(p))
        })
}

/// The selection as `bundle_configuration` shows it.
pub fn configuration_json(selection: &Selection) -> Value {
    serde_json::json!({ "selected_options": selection })
}

/// A bundle line's configuration, kept on the cart item and copied to the order item: the
/// selected options by component, shaped as Elastic Path's cart item `components`
/// (`{key: {name, options: [{id, type, quantity}]}}`), the quantities being one bundle's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineBundle {
    pub components: BTreeMap<String, LineComponent>,
    /// The selected products' unit prices when the line was last priced (those that had one):
    /// what a component's share of the line is weighed by.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<Uuid, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineComponent {
    pub name: String,
    pub options: Vec<LineOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineOption {
    pub id: Uuid,
    #[serde(rename = "type", default)]
    pub kind: ProductKind,
    pub quantity: i64,
}

impl LineBundle {
    /// The line's record of `selection` among the bundle's `components`, its products priced at
    /// `prices`.
    pub fn of(components: &Components, selection: &Selection, prices: BTreeMap<Uuid, i64>) -> Self {
        let components = selection
            .iter()
            .filter(|(_, options)| !options.is_empty())
            .map(|(key, options)| {
                let name = components.get(key).map(|c| c.name.clone()).unwrap_or_default();
                let options = options
                    .iter()
                    .map(|(&id, &quantity)| LineOption {
                        id,
                        kind: ProductKind,
                        quantity,
                    })
                    .collect();
                (key.clone(), LineComponent { name, options })
            })
            .collect();
        Self { components, prices }
    }

    /// The selection the line was configured with.
    pub fn selection(&self) -> Selection {
        self.components
            .iter()
            .map(|(key, c)| {
                (
                    key.clone(),
                    c.options.iter().map(|o| (o.id, o.quantity)).collect(),
                )
            })
            .collect()
    }

    /// Each component product and how many of it `quantity` bundles hold, summed over the
    /// components that select it, sorted by product.
    pub fn products(&self, quantity: i64) -> Vec<(Uuid, i64)> {
        let mut products: BTreeMap<Uuid, i64> = BTreeMap::new();
        for o in self.components.values().flat_map(|c| &c.options) {
            let n = products.entry(o.id).or_default();
            *n = n.saturating_add(o.quantity.saturating_mul(quantity));
        }
        products.into_iter().collect()
    }

    /// A tax item for the component product `component` as a tax on the whole line: an amount
    /// is the line's as it is; a rate taxes the component's share of the line, so it counts as
    /// the rate times that share, rounded to the part per million. The share is the component's
    /// part of the selection's value at [`prices`](Self::prices), or of its quantities when a
    /// selected product had no price (a bundle with a price of its own may have such options).
    pub fn tax_on_line(&self, component: Uuid, tax: TaxItem) -> TaxItem {
        let TaxItem::Rate(rate) = tax else {
            return tax;
        };
        let products = self.products(1);
        let priced = products.iter().all(|(id, _)| self.prices.contains_key(id));
        let weight = |&(id, quantity): &(Uuid, i64)| {
            let price = if priced { self.prices[&id].max(0) } else { 1 };
            price.saturating_mul(quantity).max(0) as u128
        };
        let whole: u128 = products.iter().map(weight).sum();
        let part: u128 = products.iter().filter(|p| p.0 == component).map(weight).sum();
        let ppm = u128::from(rate.ppm())
            .saturating_mul(part)
            .checked_div(whole)
            .map_or(0, |scaled| {
                // Rounded half up: the remainder's double reaches the divisor.
                let rest = u128::from(rate.ppm()).saturating_mul(part) - scaled * whole;
                scaled + u128::from(rest * 2 >= whole)
            });
        TaxItem::Rate(TaxRate::from_ppm(u32::try_from(ppm).unwrap_or(u32::MAX)))
    }

    /// As stored: compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From its stored form (`None` for a line that is no bundle).
    pub fn from_json(stored: Option<&str>) -> Option<Self> {
        stored.and_then(|s| serde_json::from_str(s).ok())
    }
}

/// What makes two adds of a bundle the same line: besides the product and custom inputs
/// ([`crate::carts::product_line_key`]), the same selection; another selection is another line.
pub fn line_key(product_line_key: String, selection: &Selection) -> String {
    let chosen: Selection = selection
        .iter()
        .filter(|(_, o)| !o.is_empty())
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    format!(
        "{product_line_key}:bundle:{}",
        serde_json::to_string(&chosen).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn parse(value: Value) -> Result<Components, Vec<String>> {
        let mut v = Validator::new();
        let c = parse_components(&value, "data.attributes.components", &mut v);
        match v.finish() {
            Ok(()) => Ok(c),
            Err(crate::Error::Validation(p)) => Err(p.into_iter().map(|p| p.source).collect()),
            Err(e) => panic!("{e}"),
        }
    }

    fn bundle() -> Components {
        parse(json!({
            "console": { "name": "Console", "min": 1, "max": 1, "options": [
                { "id": id(1).to_string(), "type": "product", "quantity": 1, "default": true },
                { "id": id(2).to_string(), "type": "product", "quantity": 1 },
            ]},
            "games": { "name": "Games", "min": 0, "max": 2, "options": [
                { "id": id(3).to_string(), "type": "product", "quantity": 2, "default": true },
                { "id": id(4).to_string(), "type": "product", "quantity": 1, "min": 1, "max": 3 },
                { "id": id(5).to_string(), "type": "product", "quantity": 1 },
            ]},
            "cable": { "name": "Cable", "options": [
                { "id": id(6).to_string(), "type": "product", "quantity": 3 },
            ]},
        }))
        .unwrap()
    }

    #[test]
    fn components_are_checked_each_problem_named() {
        let opt = |n: u128| json!({ "id": id(n).to_string(), "type": "product", "quantity": 1 });
        let c = "data.attributes.components";
        for (value, want) in [
            (json!([]), vec![c.to_string()]),
            (json!({}), vec![c.to_string()]),
            (
                json!({ "a b": { "name": "A", "options": [opt(1)] } }),
                vec![format!("{c}.a b")],
            ),
            (
                json!({ "a": { "options": [opt(1)] } }),
                vec![format!("{c}.a.name")],
            ),
            (json!({ "a": { "name": "A" } }), vec![format!("{c}.a.options")]),
            (
                json!({ "a": { "name": "A", "options": [] } }),
                vec![format!("{c}.a.options")],
            ),
            (
                json!({ "a": { "name": "A", "min": 2, "max": 1, "options": [opt(1), opt(2)] } }),
                vec![format!("{c}.a.min")],
            ),
            (
                json!({ "a": { "name": "A", "min": 3, "options": [opt(1), opt(2)] } }),
                vec![format!("{c}.a.min")],
            ),
            (
                json!({ "a": { "name": "A", "max": 0, "options": [opt(1)] } }),
                vec![format!("{c}.a.max")],
            ),
            (
                json!({ "a": { "name": "A", "options": [{ "id": id(1).to_string(), "quantity": 0 }] } }),
                vec![format!("{c}.a.options[0].quantity")],
            ),
            (
                json!({ "a": { "name": "A", "options": [{ "id": id(1).to_string(), "quantity": "2" }] } }),
                vec![format!("{c}.a.options[0].quantity")],
            ),
            (
                json!({ "a": { "name": "A", "options": [{ "id": "nope", "type": "product" }] } }),
                vec![format!("{c}.a.options[0].id")],
            ),
            (
                json!({ "a": { "name": "A", "options": [{ "id": id(1).to_string(), "type": "file" }] } }),
                vec![format!("{c}.a.options[0].type")],
            ),
            (
                json!({ "a": { "name": "A", "options": [opt(1), opt(1)] } }),
                vec![format!("{c}.a.options[1].id")],
            ),
            (
                json!({ "a": { "name": "A", "options": [{ "id": id(1).to_string(), "min": 1 }] } }),
                vec![format!("{c}.a.options[0].max")],
            ),
            (
                json!({ "a": { "name": "A", "options": [{ "id": id(1).to_string(), "min": 3, "max": 2 }] } }),
                vec![format!("{c}.a.options[0].min")],
            ),
            (
                json!({ "a": { "name": "A", "max": 1, "options": [
                    { "id": id(1).to_string(), "default": true }, { "id": id(2).to_string(), "default": true }
                ] } }),
                vec![format!("{c}.a.options")],
            ),
            (
                json!({ "a": { "name": "A", "colour": 1, "options": [opt(1)] } }),
                vec![format!("{c}.a.colour")],
            ),
        ] {
            assert_eq!(parse(value.clone()).map(|_| ()), Err(want), "{value}");
        }
        let parsed =
            parse(json!({ "a": { "name": "A", "options": [{ "id": id(1).to_string() }] } })).unwrap();
        assert_eq!(parsed["a"].options[0].quantity, 1, "quantity defaults to 1");
    }

    #[test]
    fn options_must_name_products_that_are_not_bundles() {
        let mut v = Validator::new();
        check_targets(
            &bundle(),
            "c",
            |p| match p.as_u128() {
                2 => OptionTarget::Missing,
                5 => OptionTarget::Bundle,
                _ => OptionTarget::Product,
            },
            &mut v,
        );
        let Err(crate::Error::Validation(p)) = v.finish() else {
            panic!("refused")
        };
        let got: Vec<(String, String)> = p.into_iter().map(|p| (p.source, p.title)).collect();
        assert_eq!(
            got,
            vec![
                ("c.console.options[1].id".into(), "not-found".into()),
                ("c.games.options[2].id".into(), "bundle of a bundle".into()),
            ]
        );
    }

    #[test]
    fn the_default_selection_is_the_default_options_or_a_fixed_components_all() {
        let s = default_selection(&bundle());
        assert_eq!(s["console"], BTreeMap::from([(id(1), 1)]));
        assert_eq!(s["games"], BTreeMap::from([(id(3), 2)]));
        assert_eq!(s["cable"], BTreeMap::from([(id(6), 3)]));
    }

    #[test]
    fn a_selection_is_checked_against_options_quantities_and_min_max() {
        let o = |n: u128| id(n).to_string();
        for (selected, want) in [
            (json!({ "console": { o(1): 1 } }), Ok(())),
            (
                json!({ "console": { o(2): 1 }, "games": { o(3): 2, o(4): 3 } }),
                Ok(()),
            ),
            (json!({}), Err(vec!["s.console"])),
            (json!({ "console": { o(1): 1, o(2): 1 } }), Err(vec!["s.console"])),
            (
                json!({ "console": { o(1): 1 }, "games": { o(3): 2, o(4): 1, o(5): 1 } }),
                Err(vec!["s.games"]),
            ),
            (json!({ "console": { o(1): 1 }, "dlc": {} }), Err(vec!["s.dlc"])),
            (
                json!({ "console": { o(3): 1 } }),
                Err(vec![
                    "s.console.00000000-0000-0000-0000-000000000003",
                    "s.console",
                ]),
            ),
            (
                json!({ "console": { o(1): 2 } }),
                Err(vec![
                    "s.console.00000000-0000-0000-0000-000000000001",
                    "s.console",
                ]),
            ),
            (
                json!({ "console": { o(1): 1 }, "games": { o(4): 4 } }),
                Err(vec!["s.games.00000000-0000-0000-0000-000000000004"]),
            ),
            (
                json!({ "console": { o(1): 0 } }),
                Err(vec![
                    "s.console.00000000-0000-0000-0000-000000000001",
                    "s.console",
                ]),
            ),
            (json!({ "console": [] }), Err(vec!["s.console", "s.console"])),
            (json!([]), Err(vec!["s"])),
        ] {
            let mut v = Validator::new();
            check_selection(&bundle(), &selected, "s", &mut v);
            let got = match v.finish() {
                Ok(()) => Ok(()),
                Err(crate::Error::Validation(p)) => Err(p.into_iter().map(|p| p.source).collect::<Vec<_>>()),
                Err(e) => panic!("{e}"),
            };
            let want = want.map_err(|w| w.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(got, want, "{selected}");
        }
    }

    #[test]
    fn a_bundle_costs_its_own_price_else_its_selections_sum() {
        let selection = default_selection(&bundle());
        let prices = |p: Uuid| match p.as_u128() {
            1 => Some(30_000),
            3 => Some(5_000),
            6 => Some(700),
            _ => None,
        };
        let no_cable = |p: Uuid| if p == id(6) { None } else { prices(p) };
        let huge = |_| Some(i64::MAX / 2);
        for (own, selection, price, want) in [
            (
                Some(1_000),
                selection.clone(),
                &prices as &dyn Fn(Uuid) -> Option<i64>,
                Some(1_000),
            ),
            (
                None,
                selection.clone(),
                &prices,
                Some(30_000 + 2 * 5_000 + 3 * 700),
            ),
            (None, selection.clone(), &no_cable, None),
            (Some(0), selection.clone(), &no_cable, Some(0)),
            (None, Selection::new(), &prices, Some(0)),
            (None, selection, &huge, None),
        ] {
            assert_eq!(bundle_price(own, &selection, price), want);
        }
    }

    #[test]
    fn a_component_rate_taxes_the_components_share_of_the_line() {
        let line = |prices: &[(u128, i64)]| LineBundle {
            components: [
                (
                    "a".to_owned(),
                    LineComponent {
                        name: "A".into(),
                        options: vec![LineOption {
                            id: id(1),
                            kind: ProductKind,
                            quantity: 2,
                        }],
                    },
                ),
                (
                    "b".to_owned(),
                    LineComponent {
                        name: "B".into(),
                        options: vec![LineOption {
                            id: id(2),
                            kind: ProductKind,
                            quantity: 1,
                        }],
                    },
                ),
            ]
            .into(),
            prices: prices.iter().map(|&(n, p)| (id(n), p)).collect(),
        };
        let rate = |ppm| TaxItem::Rate(TaxRate::from_ppm(ppm));
        // (prices, component, tax) → the tax on the whole line
        let cases = [
            // 2 × 300 of 2 × 300 + 400: 60 % of the line.
            (vec![(1, 300), (2, 400)], 1, rate(200_000), rate(120_000)),
            (vec![(1, 300), (2, 400)], 2, rate(200_000), rate(80_000)),
            // A third, rounded half up to the part per million.
            (vec![(1, 100), (2, 400)], 1, rate(1), rate(0)),
            (vec![(1, 250), (2, 500)], 1, rate(100_000), rate(50_000)),
            (vec![(1, 100), (2, 100)], 1, rate(100_000), rate(66_667)),
            // A product without a price: weighed by quantity (2 of 3 units).
            (vec![(2, 400)], 1, rate(300_000), rate(200_000)),
            // No such component: nothing; an amount is the line's as it is.
            (vec![(1, 300), (2, 400)], 9, rate(200_000), rate(0)),
            (
                vec![(1, 300), (2, 400)],
                1,
                TaxItem::Amount(250),
                TaxItem::Amount(250),
            ),
        ];
        for (prices, component, tax, expected) in cases {
            assert_eq!(
                line(&prices).tax_on_line(id(component), tax),
                expected,
                "{prices:?} {component}"
            );
        }
    }
}
