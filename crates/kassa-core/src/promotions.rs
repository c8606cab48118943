//! Rule promotions (`/v2/rule-promotions`): the promotion as kept, its validation, and its rule
//! set compiled once into plain types that [`crate::promotion_rules`] evaluates against a cart.
//!
//! A promotion is kept as its attributes with the rule set as the JSON the client sent (after
//! validation), so it renders back exactly; [`compile`] turns it into [`Compiled`] — the one
//! parse — which the API caches per promotion version (`id`, `updated_at`).

// Ordered sets, not hashed ones: a promotion's skus, ids and nodes are looked up for every line of
// every priced cart, and a lookup in a small B-tree costs a comparison or two, not a SipHash.
use std::collections::BTreeSet;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::cart_totals::MAX_AMOUNT;
use crate::error::FieldError;
use crate::time::{Millis, parse_rfc3339};
use crate::{Error, Result, Validator};

pub const MAX_NAME: usize = 255;
pub const MAX_DESCRIPTION: usize = 1024;
/// Nesting of `and`/`or`/`not` and `children` (EP: "limit nesting depth").
pub const MAX_DEPTH: usize = 8;
/// Values in one `args` list (EP: 400 ids or skus).
pub const MAX_ARGS: usize = 400;
pub const MAX_ACTIONS: usize = 10;
pub const MAX_CODE_LENGTH: usize = 128;
/// Codes in one `POST …/codes` (EP generates at most 1000 per job).
pub const MAX_CODES_PER_REQUEST: usize = 1000;
/// Promotions a store may hold: what one evaluation may have to look at.
pub const MAX_PROMOTIONS: u64 = 10_000;

/// A rule promotion as kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RulePromotion {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub automatic: bool,
    pub stackable: bool,
    pub override_stacking: bool,
    pub priority: Option<i64>,
    pub start: Option<Millis>,
    pub end: Option<Millis>,
    /// As validated by [`compile`]; rendered back unchanged.
    pub rule_set: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A comparison operator of `cart_total`, `item_price`, `item_quantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

impl Cmp {
    fn parse(op: &str, allow_ne: bool) -> Option<Self> {
        Some(match op {
            "gt" => Cmp::Gt,
            "gte" => Cmp::Gte,
            "lt" => Cmp::Lt,
            "lte" => Cmp::Lte,
            "eq" => Cmp::Eq,
            "ne" if allow_ne => Cmp::Ne,
            _ => return None,
        })
    }

    pub fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Cmp::Gt => left > right,
            Cmp::Gte => left >= right,
            Cmp::Lt => left < right,
            Cmp::Lte => left <= right,
            Cmp::Eq => left == right,
            Cmp::Ne => left != right,
        }
    }
}

/// Which items a condition picks: evaluated per cart line.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemPred {
    /// `item_sku`, `item_product_id`, `item_identifier`: the line's sku or product id is (or,
    /// negated, is not) one of these.
    Identifier {
        negate: bool,
        skus: BTreeSet<String>,
        ids: BTreeSet<Uuid>,
    },
    /// `item_category`: the line's product sits in (or under) one of these nodes or hierarchies.
    Category {
        negate: bool,
        nodes: BTreeSet<String>,
    },
    /// `item_attribute`: kassa's cart lines carry no template attributes, so `in` never holds and
    /// `nin` always does (documented in COMPATIBILITY.md).
    Attribute {
        negate: bool,
    },
    /// `item_price`: the line's unit price after the discounts before this promotion.
    Price(Cmp, i64),
    /// `item_quantity`: the line's quantity.
    Quantity(Cmp, i64),
    All(Vec<ItemPred>),
    Any(Vec<ItemPred>),
    /// `not`: none of the children holds.
    None(Vec<ItemPred>),
}

/// One requirement of an `items_bundle`: `quantity` units of items matching `pred`.
#[derive(Debug, Clone, PartialEq)]
pub struct BundlePart {
    pub pred: ItemPred,
    pub quantity: u64,
}

/// The cart-level rules (`rule_set.rules`).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// The in-scope lines' value: `Cmp` against `.1`, or `range` `[.1, .2]` when `.2` is set.
    CartTotal(Cmp, i64, Option<i64>),
    /// `cart_custom_attribute`: `(key, operator, type, values)`.
    CartAttribute {
        key: String,
        op: AttrOp,
        kind: AttrType,
        values: Vec<Value>,
    },
    /// `account_tags`: kassa accounts carry no tags yet, so the account's tags are empty.
    AccountTags {
        op: TagOp,
        tags: Vec<String>,
    },
    /// Some in-scope line satisfies the item condition (with its children).
    Item(ItemPred),
    Bundle(Vec<BundlePart>),
    All(Vec<Rule>),
    Any(Vec<Rule>),
    None(Vec<Rule>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrOp {
    In,
    Nin,
    Cmp(Cmp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Integer,
    Float,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    ContainsAll,
    ContainsAny,
    NotContainsAny,
    NotContainsAll,
}

/// How much an action takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Minor units off (per unit for `item_discount`, once for a cart or a bundle).
    Fixed(i64),
    /// Parts per million of the amount (`percent` 12.5 → 125 000).
    Percent(u32),
    /// `quantity` units (or a whole bundle when `None`) cost `price` together.
    FixedPrice { quantity: Option<u64>, price: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Cart,
    Item,
    Bundle,
    /// kassa prices no shipping yet: accepted, takes nothing off.
    Shipping,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub amount: Amount,
    /// Which items the action applies to (`condition`); `None`: every in-scope item.
    pub condition: Option<ItemPred>,
    /// `items_bundle_discount`: the bundle's parts.
    pub bundle: Vec<BundlePart>,
    pub max_discount: Option<i64>,
    pub max_quantity: Option<u64>,
    pub max_items: Option<u64>,
    /// `price_strategy: expensive` (the default is the cheapest first).
    pub expensive: bool,
}

/// A promotion ready to evaluate: parsed once per version.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub automatic: bool,
    pub stackable: bool,
    pub override_stacking: bool,
    pub priority: Option<i64>,
    pub start: Option<Millis>,
    pub end: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// `None`: every item, custom items included.
    pub catalog_ids: Option<BTreeSet<Uuid>>,
    /// Upper-case codes; `None`: any currency.
    pub currencies: Option<BTreeSet<String>>,
    pub rules: Option<Rule>,
    pub actions: Vec<Action>,
}

impl Compiled {
    /// Whether the promotion runs at `now`: enabled, started, not ended.
    pub fn live(&self, now: Millis) -> bool {
        self.enabled && self.start.is_none_or(|s| s <= now) && self.end.is_none_or(|e| now < e)
    }
}

/// Compiles a kept promotion (its rule set was validated when it was written).
pub fn compile(p: &RulePromotion) -> Result<Compiled> {
    let mut v = Validator::new();
    let parsed = rule_set(&mut v, &p.rule_set, "data.rule_set");
    v.finish()?;
    let (catalog_ids, currencies, rules, actions) =
        parsed.ok_or_else(|| Error::internal("a kept rule set does not compile"))?;
    Ok(Compiled {
        id: p.id,
        name: p.name.clone(),
        description: p.description.clone(),
        enabled: p.enabled,
        automatic: p.automatic,
        stackable: p.stackable,
        override_stacking: p.override_stacking,
        priority: p.priority,
        start: p.start,
        end: p.end,
        created_at: p.created_at,
        updated_at: p.updated_at,
        catalog_ids,
        currencies,
        rules,
        actions,
    })
}

/// The attributes of a create (`None` for `existing`) or an update (`PUT`, a partial change over
/// `existing`): every problem at once, each naming its field.
pub fn parse_promotion(
    body: &Value,
    existing: Option<&RulePromotion>,
    id: Uuid,
    now: Millis,
) -> Result<RulePromotion> {
    let mut v = Validator::new();
    let data = body.get("data");
    let Some(data) = data.and_then(Value::as_object) else {
        return Err(Error::field("data", "required", "data must be an object"));
    };
    match data.get("type") {
        Some(Value::String(t)) if t == "rule_promotion" => {}
        Some(_) => v.push("data.type", "invalid", "type must be rule_promotion"),
        None if existing.is_some() => {}
        None => v.push("data.type", "required", "type is required"),
    }
    let text = |v: &mut Validator, key: &str, max: usize| -> Option<Option<String>> {
        let source = format!("data.{key}");
        match data.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(v.optional_text(Some(s.clone()), &source, max).map(Some)?),
            Some(_) => {
                v.push(source, "invalid", format!("{key} must be a string"));
                None
            }
        }
    };
    let flag = |v: &mut Validator, key: &str| -> Option<bool> {
        match data.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                v.push(
                    format!("data.{key}"),
                    "invalid",
                    format!("{key} must be a boolean"),
                );
                None
            }
        }
    };
    let name = text(&mut v, "name", MAX_NAME).flatten();
    let description = text(&mut v, "description", MAX_DESCRIPTION);
    let enabled = flag(&mut v, "enabled");
    let automatic = flag(&mut v, "automatic");
    let stackable = flag(&mut v, "stackable");
    let override_stacking = flag(&mut v, "override_stacking");
    let priority = match data.get("priority") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(p) => match p.as_i64() {
            Some(n) if (0..=1_000_000).contains(&n) => Some(Some(n)),
            _ => {
                v.push(
                    "data.priority",
                    "invalid",
                    "priority must be an integer from 0 to 1000000",
                );
                None
            }
        },
    };
    let date = |v: &mut Validator, key: &str| -> Option<Option<Millis>> {
        match data.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match parse_date(s) {
                Some(ms) => Some(Some(ms)),
                None => {
                    v.push(
                        format!("data.{key}"),
                        "invalid",
                        format!("{key} must be an RFC 3339 date-time or a date (YYYY-MM-DD)"),
                    );
                    None
                }
            },
            Some(_) => {
                v.push(
                    format!("data.{key}"),
                    "invalid",
                    format!("{key} must be a string"),
                );
                None
            }
        }
    };
    let start = date(&mut v, "start");
    let end = date(&mut v, "end");
    let rule_set_value = data.get("rule_set");
    let mut rule_set_kept = None;
    match (rule_set_value, existing) {
        (None, Some(_)) => {}
        (None, None) => v.push("data.rule_set", "required", "rule_set is required"),
        (Some(rs), _) => {
            if rule_set(&mut v, rs, "data.rule_set").is_some() {
                rule_set_kept = Some(rs.clone());
            }
        }
    }
    if existing.is_none() && name.is_none() && !matches!(data.get("name"), Some(Value::String(_))) {
        v.push("data.name", "required", "name is required");
    }
    let base = existing.cloned().unwrap_or(RulePromotion {
        id,
        name: String::new(),
        description: String::new(),
        enabled: false,
        automatic: false,
        stackable: true,
        override_stacking: false,
        priority: None,
        start: None,
        end: None,
        rule_set: Value::Null,
        created_at: now,
        updated_at: now,
    });
    let p = RulePromotion {
        id: base.id,
        name: name.unwrap_or(base.name),
        description: description
            .map(Option::unwrap_or_default)
            .unwrap_or(base.description),
        enabled: enabled.unwrap_or(base.enabled),
        automatic: automatic.unwrap_or(base.automatic),
        stackable: stackable.unwrap_or(base.stackable),
        override_stacking: override_stacking.unwrap_or(base.override_stacking),
        priority: priority.unwrap_or(base.priority),
        start: start.unwrap_or(base.start),
        end: end.unwrap_or(base.end),
        rule_set: rule_set_kept.unwrap_or(base.rule_set),
        created_at: base.created_at,
        // Every update is a new version (the compiled cache is keyed by it), even within a
        // millisecond of the last.
        updated_at: if existing.is_some() {
            now.max(base.updated_at + 1)
        } else {
            now
        },
    };
    if let (Some(s), Some(e)) = (p.start, p.end)
        && e <= s
    {
        v.push("data.end", "invalid", "end must be after start");
    }
    // auto_add needs a 100% item discount on an automatic promotion (EP's rule).
    if let Some(actions) = p.rule_set.get("actions").and_then(Value::as_array) {
        for (i, a) in actions.iter().enumerate() {
            let auto_add = a
                .pointer("/limitations/items/auto_add")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let full = a.get("args").and_then(Value::as_array).is_some_and(|args| {
                args.first().and_then(Value::as_str) == Some("percent")
                    && args.get(1).and_then(Value::as_f64) == Some(100.0)
            });
            if auto_add && !(p.automatic && full) {
                v.push(
                    format!("data.rule_set.actions[{i}].limitations.items.auto_add"),
                    "invalid",
                    "auto_add can only be true for a 100% item discount of an automatic promotion",
                );
            }
        }
    }
    v.finish()?;
    Ok(p)
}

/// A date-time, or a date alone (midnight UTC), as EP accepts `start`/`end`.
pub fn parse_date(s: &str) -> Option<Millis> {
    parse_rfc3339(s).or_else(|| {
        let b = s.as_bytes();
        (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
            .then(|| parse_rfc3339(&format!("{s}T00:00:00Z")))
            .flatten()
    })
}

type RuleSet = (
    Option<BTreeSet<Uuid>>,
    Option<BTreeSet<String>>,
    Option<Rule>,
    Vec<Action>,
);

fn rule_set(v: &mut Validator, rs: &Value, path: &str) -> Option<RuleSet> {
    let Some(obj) = rs.as_object() else {
        v.push(path, "invalid", "rule_set must be an object");
        return None;
    };
    let before = problems(v);
    let catalog_ids = match obj.get("catalog_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(ids)) if ids.is_empty() => None,
        Some(Value::Array(ids)) => {
            let mut set = BTreeSet::new();
            for (i, id) in ids.iter().enumerate() {
                match id.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                    Some(id) => {
                        set.insert(id);
                    }
                    None => v.push(
                        format!("{path}.catalog_ids[{i}]"),
                        "invalid",
                        "each catalog id must be a UUID",
                    ),
                }
            }
            Some(set)
        }
        Some(_) => {
            v.push(
                format!("{path}.catalog_ids"),
                "invalid",
                "catalog_ids must be an array",
            );
            None
        }
    };
    let currencies = match obj.get("currencies") {
        None | Some(Value::Null) => None,
        Some(Value::Array(c)) if c.is_empty() => None,
        Some(Value::Array(c)) => {
            let mut set = BTreeSet::new();
            for (i, code) in c.iter().enumerate() {
                match code.as_str() {
                    Some(s) if (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
                        set.insert(s.to_ascii_uppercase());
                    }
                    _ => v.push(
                        format!("{path}.currencies[{i}]"),
                        "invalid",
                        "each currency must be a currency code such as USD",
                    ),
                }
            }
            Some(set)
        }
        Some(_) => {
            v.push(
                format!("{path}.currencies"),
                "invalid",
                "currencies must be an array",
            );
            None
        }
    };
    let rules = match obj.get("rules") {
        None | Some(Value::Null) => None,
        Some(r) => rule(v, r, &format!("{path}.rules"), 0),
    };
    let mut actions = Vec::new();
    match obj.get("actions") {
        Some(Value::Array(list)) if !list.is_empty() => {
            if list.len() > MAX_ACTIONS {
                v.push(
                    format!("{path}.actions"),
                    "invalid",
                    format!("a rule set has at most {MAX_ACTIONS} actions"),
                );
            }
            for (i, a) in list.iter().enumerate() {
                if let Some(a) = action(v, a, &format!("{path}.actions[{i}]"), currencies.as_ref()) {
                    actions.push(a);
                }
            }
        }
        Some(Value::Array(_)) | None | Some(Value::Null) => v.push(
            format!("{path}.actions"),
            "required",
            "actions must list at least one action",
        ),
        Some(_) => v.push(format!("{path}.actions"), "invalid", "actions must be an array"),
    }
    (problems(v) == before).then_some((catalog_ids, currencies, rules, actions))
}

fn problems(v: &Validator) -> usize {
    v.problem_count()
}

fn obj<'a>(v: &mut Validator, c: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    let o = c.as_object();
    if o.is_none() {
        v.push(path, "invalid", "a condition must be an object");
    }
    o
}

fn strategy<'a>(v: &mut Validator, o: &'a Map<String, Value>, path: &str) -> Option<&'a str> {
    match o.get("strategy").and_then(Value::as_str) {
        Some(s) => Some(s),
        None => {
            v.push(format!("{path}.strategy"), "required", "strategy is required");
            None
        }
    }
}

fn args<'a>(
    v: &mut Validator,
    o: &'a Map<String, Value>,
    path: &str,
    min: usize,
    max: usize,
) -> Option<&'a [Value]> {
    match o.get("args") {
        Some(Value::Array(a)) if a.len() >= min && a.len() <= max => Some(a),
        Some(Value::Array(_)) => {
            let want = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            v.push(
                format!("{path}.args"),
                "invalid",
                format!("args must hold {want} values"),
            );
            None
        }
        _ => {
            v.push(format!("{path}.args"), "required", "args must be an array");
            None
        }
    }
}

fn operator<'a>(
    v: &mut Validator,
    o: &'a Map<String, Value>,
    path: &str,
    allowed: &[&str],
) -> Option<&'a str> {
    match o.get("operator").and_then(Value::as_str) {
        Some(op) if allowed.contains(&op) => Some(op),
        Some(op) => {
            v.push(
                format!("{path}.operator"),
                "invalid",
                format!("operator '{op}' is not one of {}", allowed.join(", ")),
            );
            None
        }
        None => {
            v.push(
                format!("{path}.operator"),
                "required",
                format!("operator is required (one of {})", allowed.join(", ")),
            );
            None
        }
    }
}

fn children<'a>(v: &mut Validator, o: &'a Map<String, Value>, path: &str, required: bool) -> &'a [Value] {
    match o.get("children") {
        Some(Value::Array(c)) if !c.is_empty() || !required => c,
        None | Some(Value::Null) if !required => &[],
        _ => {
            v.push(
                format!("{path}.children"),
                "required",
                "children must list at least one condition",
            );
            &[]
        }
    }
}

fn amount_arg(v: &mut Validator, a: &Value, path: &str) -> Option<i64> {
    match a
        .as_i64()
        .or_else(|| a.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
    {
        Some(n) if (0..=MAX_AMOUNT).contains(&n) => Some(n),
        _ => {
            v.push(
                path,
                "invalid",
                format!("must be a whole amount in minor units from 0 to {MAX_AMOUNT}"),
            );
            None
        }
    }
}

fn uuid_list(v: &mut Validator, list: &[Value], path: &str) -> BTreeSet<Uuid> {
    let mut set = BTreeSet::new();
    for (i, x) in list.iter().enumerate() {
        match x.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) => {
                set.insert(id);
            }
            None => v.push(format!("{path}[{i}]"), "invalid", "must be a UUID"),
        }
    }
    set
}

fn string_list(v: &mut Validator, list: &[Value], path: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for (i, x) in list.iter().enumerate() {
        match x.as_str() {
            Some(s) if !s.is_empty() => {
                set.insert(s.to_owned());
            }
            _ => v.push(format!("{path}[{i}]"), "invalid", "must be a non-empty string"),
        }
    }
    set
}

/// An item condition (`item_*`, `and`/`or`/`not` of item conditions) and its children.
fn item_pred(v: &mut Validator, c: &Value, path: &str, depth: usize) -> Option<ItemPred> {
    if depth > MAX_DEPTH {
        v.push(
            path,
            "invalid",
            format!("conditions nest at most {MAX_DEPTH} levels deep"),
        );
        return None;
    }
    let o = obj(v, c, path)?;
    let s = strategy(v, o, path)?;
    let own = match s {
        "and" | "or" | "not" => {
            let kids: Vec<ItemPred> = children(v, o, path, true)
                .iter()
                .enumerate()
                .filter_map(|(i, k)| item_pred(v, k, &format!("{path}.children[{i}]"), depth + 1))
                .collect();
            return Some(match s {
                "and" => ItemPred::All(kids),
                "or" => ItemPred::Any(kids),
                _ => ItemPred::None(kids),
            });
        }
        "item_sku" | "item_product_id" | "item_identifier" => {
            let op = operator(v, o, path, &["in", "nin"]);
            let (skus, ids) = if s == "item_identifier" {
                let a = args(v, o, path, 1, 1);
                match a.map(|a| &a[0]) {
                    Some(Value::Object(m)) => {
                        let mut skus = BTreeSet::new();
                        let mut ids = BTreeSet::new();
                        for k in m.keys() {
                            if k != "skus" && k != "ids" {
                                v.push(
                                    format!("{path}.args[0].{k}"),
                                    "invalid",
                                    "only skus and ids are allowed",
                                );
                            }
                        }
                        if let Some(list) = m.get("skus").and_then(Value::as_array) {
                            check_len(v, list, &format!("{path}.args[0].skus"));
                            skus = string_list(v, list, &format!("{path}.args[0].skus"));
                        }
                        if let Some(list) = m.get("ids").and_then(Value::as_array) {
                            check_len(v, list, &format!("{path}.args[0].ids"));
                            ids = uuid_list(v, list, &format!("{path}.args[0].ids"));
                        }
                        if skus.is_empty() && ids.is_empty() {
                            v.push(
                                format!("{path}.args[0]"),
                                "invalid",
                                "name at least one sku or id",
                            );
                        }
                        (skus, ids)
                    }
                    Some(_) => {
                        v.push(
                            format!("{path}.args[0]"),
                            "invalid",
                            "args[0] must be an object of skus and ids",
                        );
                        (BTreeSet::new(), BTreeSet::new())
                    }
                    None => (BTreeSet::new(), BTreeSet::new()),
                }
            } else {
                let a = args(v, o, path, 1, MAX_ARGS).unwrap_or(&[]);
                if s == "item_sku" {
                    (string_list(v, a, &format!("{path}.args")), BTreeSet::new())
                } else {
                    (BTreeSet::new(), uuid_list(v, a, &format!("{path}.args")))
                }
            };
            ItemPred::Identifier {
                negate: op? == "nin",
                skus,
                ids,
            }
        }
        "item_category" => {
            let op = operator(v, o, path, &["in", "nin"]);
            let a = args(v, o, path, 1, MAX_ARGS).unwrap_or(&[]);
            let nodes = string_list(v, a, &format!("{path}.args"));
            ItemPred::Category {
                negate: op? == "nin",
                nodes,
            }
        }
        "item_attribute" => {
            let op = operator(v, o, path, &["in", "nin"]);
            if let Some(a) = args(v, o, path, 4, 23) {
                for (i, x) in a.iter().take(2).enumerate() {
                    if !x.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 255) {
                        v.push(
                            format!("{path}.args[{i}]"),
                            "invalid",
                            "must be a string of 1 to 255 characters",
                        );
                    }
                }
                if !matches!(
                    a[2].as_str(),
                    Some("string" | "boolean" | "integer" | "float" | "date")
                ) {
                    v.push(
                        format!("{path}.args[2]"),
                        "invalid",
                        "the field type must be string, boolean, integer, float or date",
                    );
                }
            }
            ItemPred::Attribute { negate: op? == "nin" }
        }
        "item_price" | "item_quantity" => {
            let op = operator(v, o, path, &["gt", "gte", "lt", "lte", "eq", "ne"]);
            let a = args(v, o, path, 1, 1);
            let n = a.and_then(|a| amount_arg(v, &a[0], &format!("{path}.args[0]")));
            let cmp = Cmp::parse(op?, true)?;
            if s == "item_price" {
                ItemPred::Price(cmp, n?)
            } else {
                ItemPred::Quantity(cmp, n?)
            }
        }
        other => {
            v.push(
                format!("{path}.strategy"),
                "invalid",
                format!("'{other}' is not an item condition"),
            );
            return None;
        }
    };
    let kids: Vec<ItemPred> = children(v, o, path, false)
        .iter()
        .enumerate()
        .filter_map(|(i, k)| item_pred(v, k, &format!("{path}.children[{i}]"), depth + 1))
        .collect();
    Some(if kids.is_empty() {
        own
    } else {
        let mut all = vec![own];
        all.extend(kids);
        ItemPred::All(all)
    })
}

fn check_len(v: &mut Validator, list: &[Value], path: &str) {
    if list.len() > MAX_ARGS {
        v.push(path, "invalid", format!("at most {MAX_ARGS} values"));
    }
}

/// The parts of an `items_bundle`: each child an item condition with an `item_quantity` `eq N`
/// among its children (1 when none).
fn bundle(v: &mut Validator, o: &Map<String, Value>, path: &str, depth: usize) -> Vec<BundlePart> {
    let mut parts = Vec::new();
    for (i, k) in children(v, o, path, true).iter().enumerate() {
        let p = format!("{path}.children[{i}]");
        let Some(pred) = item_pred(v, k, &p, depth + 1) else {
            continue;
        };
        let (pred, quantity) = split_quantity(pred);
        if quantity == 0 {
            v.push(p, "invalid", "a bundle part needs a quantity of at least 1");
            continue;
        }
        parts.push(BundlePart { pred, quantity });
    }
    parts
}

/// Takes a bundle part's `item_quantity` (its `eq`/`gte` count) out of its condition.
fn split_quantity(pred: ItemPred) -> (ItemPred, u64) {
    match pred {
        ItemPred::Quantity(Cmp::Eq | Cmp::Gte, n) => (ItemPred::All(vec![]), n as u64),
        ItemPred::All(list) => {
            let mut quantity = 1;
            let rest = list
                .into_iter()
                .filter(|p| match p {
                    ItemPred::Quantity(Cmp::Eq | Cmp::Gte, n) => {
                        quantity = *n as u64;
                        false
                    }
                    _ => true,
                })
                .collect();
            (ItemPred::All(rest), quantity)
        }
        other => (other, 1),
    }
}

fn rule(v: &mut Validator, c: &Value, path: &str, depth: usize) -> Option<Rule> {
    if depth > MAX_DEPTH {
        v.push(
            path,
            "invalid",
            format!("conditions nest at most {MAX_DEPTH} levels deep"),
        );
        return None;
    }
    let o = obj(v, c, path)?;
    let s = strategy(v, o, path)?;
    match s {
        "and" | "or" | "not" => {
            let kids: Vec<Rule> = children(v, o, path, true)
                .iter()
                .enumerate()
                .filter_map(|(i, k)| rule(v, k, &format!("{path}.children[{i}]"), depth + 1))
                .collect();
            Some(match s {
                "and" => Rule::All(kids),
                "or" => Rule::Any(kids),
                _ => Rule::None(kids),
            })
        }
        "cart_total" => {
            let op = operator(v, o, path, &["gt", "gte", "lt", "lte", "eq", "range"]);
            let want = if op == Some("range") { 2 } else { 1 };
            let a = args(v, o, path, want, want)?;
            let first = amount_arg(v, &a[0], &format!("{path}.args[0]"));
            let second = if want == 2 {
                amount_arg(v, &a[1], &format!("{path}.args[1]"))
            } else {
                None
            };
            if let (Some(a), Some(b)) = (first, second)
                && b < a
            {
                v.push(
                    format!("{path}.args"),
                    "invalid",
                    "a range's second value must not be below its first",
                );
            }
            match op? {
                "range" => Some(Rule::CartTotal(Cmp::Gte, first?, Some(second?))),
                op => Some(Rule::CartTotal(Cmp::parse(op, false)?, first?, None)),
            }
        }
        "cart_custom_attribute" => {
            let op = operator(v, o, path, &["in", "nin", "eq", "gt", "lt", "gte", "lte"]);
            let a = args(v, o, path, 3, 22)?;
            let key = match a[0].as_str() {
                Some(k)
                    if (1..=255).contains(&k.len())
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    Some(k.to_owned())
                }
                _ => {
                    v.push(
                        format!("{path}.args[0]"),
                        "invalid",
                        "the key must match ^[A-Za-z0-9_-]{1,255}$",
                    );
                    None
                }
            };
            let kind = match a[1].as_str() {
                Some("string") => Some(AttrType::String),
                Some("boolean") => Some(AttrType::Boolean),
                Some("integer") => Some(AttrType::Integer),
                Some("float") => Some(AttrType::Float),
                _ => {
                    v.push(
                        format!("{path}.args[1]"),
                        "invalid",
                        "the type must be string, boolean, integer or float",
                    );
                    None
                }
            };
            let op = match op? {
                "in" => AttrOp::In,
                "nin" => AttrOp::Nin,
                other => AttrOp::Cmp(Cmp::parse(other, false)?),
            };
            let values = a[2..].to_vec();
            if let AttrOp::Cmp(c) = op {
                if values.len() != 1 {
                    v.push(
                        format!("{path}.args"),
                        "invalid",
                        "a comparison takes exactly 3 arguments [key, type, value]",
                    );
                }
                let fits = match (c, kind) {
                    (Cmp::Eq, Some(AttrType::Float)) => false,
                    (Cmp::Gt | Cmp::Lt, Some(AttrType::String | AttrType::Boolean)) => false,
                    (Cmp::Gte | Cmp::Lte, Some(t)) => t == AttrType::Integer,
                    _ => true,
                };
                if !fits {
                    v.push(
                        format!("{path}.operator"),
                        "invalid",
                        "this operator does not support this type",
                    );
                }
            } else if values.len() > 20 {
                v.push(format!("{path}.args"), "invalid", "at most 20 values");
            }
            let kind = kind?;
            for (i, x) in values.iter().enumerate() {
                let ok = match kind {
                    AttrType::String => x.is_string(),
                    AttrType::Boolean => x.is_boolean(),
                    AttrType::Integer => x.is_i64() || x.is_u64(),
                    AttrType::Float => x.is_number(),
                };
                if !ok {
                    v.push(
                        format!("{path}.args[{}]", i + 2),
                        "invalid",
                        "the value must be of the given type",
                    );
                }
            }
            Some(Rule::CartAttribute {
                key: key?,
                op,
                kind,
                values,
            })
        }
        "account_tags" => {
            let op = operator(
                v,
                o,
                path,
                &[
                    "contains_all",
                    "contains_any",
                    "not_contains_any",
                    "not_contains_all",
                ],
            );
            let a = args(v, o, path, 1, 25)?;
            let tags = uuid_list(v, a, &format!("{path}.args"));
            let op = match op? {
                "contains_all" => TagOp::ContainsAll,
                "contains_any" => TagOp::ContainsAny,
                "not_contains_any" => TagOp::NotContainsAny,
                _ => TagOp::NotContainsAll,
            };
            Some(Rule::AccountTags {
                op,
                tags: tags.into_iter().map(|t| t.to_string()).collect(),
            })
        }
        "items_bundle" => Some(Rule::Bundle(bundle(v, o, path, depth))),
        "item_sku" | "item_product_id" | "item_identifier" | "item_category" | "item_attribute"
        | "item_price" | "item_quantity" => item_pred(v, c, path, depth).map(Rule::Item),
        other => {
            v.push(
                format!("{path}.strategy"),
                "invalid",
                format!("'{other}' is not a rule strategy"),
            );
            None
        }
    }
}

fn action(v: &mut Validator, a: &Value, path: &str, currencies: Option<&BTreeSet<String>>) -> Option<Action> {
    let o = a.as_object().or_else(|| {
        v.push(path, "invalid", "an action must be an object");
        None
    })?;
    let s = strategy(v, o, path)?;
    let kind = match s {
        "cart_discount" => ActionKind::Cart,
        "item_discount" => ActionKind::Item,
        "items_bundle_discount" => ActionKind::Bundle,
        "shipping_discount" => ActionKind::Shipping,
        other => {
            v.push(
                format!("{path}.strategy"),
                "invalid",
                format!("'{other}' is not an action strategy (cart_discount, item_discount, items_bundle_discount, shipping_discount)"),
            );
            return None;
        }
    };
    let amount = match o.get("args").and_then(Value::as_array) {
        Some(args) => match args.first().and_then(Value::as_str) {
            Some("fixed") if args.len() == 2 => {
                amount_arg(v, &args[1], &format!("{path}.args[1]")).map(Amount::Fixed)
            }
            Some("percent") if args.len() == 2 => match args[1].as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Some(Amount::Percent((p * 10_000.0).round() as u32)),
                _ => {
                    v.push(
                        format!("{path}.args[1]"),
                        "invalid",
                        "a percent must be a number from 0 to 100",
                    );
                    None
                }
            },
            Some("fixed_price") if kind == ActionKind::Item && args.len() == 3 => {
                let q = args[1].as_u64().filter(|q| *q >= 1);
                if q.is_none() {
                    v.push(
                        format!("{path}.args[1]"),
                        "invalid",
                        "the quantity must be a whole number of at least 1",
                    );
                }
                let price = amount_arg(v, &args[2], &format!("{path}.args[2]"));
                Some(Amount::FixedPrice {
                    quantity: Some(q?),
                    price: price?,
                })
            }
            Some("fixed_price")
                if kind != ActionKind::Item && kind != ActionKind::Cart && args.len() == 2 =>
            {
                amount_arg(v, &args[1], &format!("{path}.args[1]")).map(|price| Amount::FixedPrice {
                    quantity: None,
                    price,
                })
            }
            _ => {
                let allowed = match kind {
                    ActionKind::Cart => "[\"fixed\", amount] or [\"percent\", number]",
                    ActionKind::Item => {
                        "[\"fixed\", amount], [\"percent\", number] or [\"fixed_price\", quantity, amount]"
                    }
                    _ => "[\"fixed\", amount], [\"percent\", number] or [\"fixed_price\", amount]",
                };
                v.push(
                    format!("{path}.args"),
                    "invalid",
                    format!("args must be {allowed}"),
                );
                None
            }
        },
        None => {
            v.push(format!("{path}.args"), "required", "args is required");
            None
        }
    };
    if matches!(amount, Some(Amount::Fixed(_) | Amount::FixedPrice { .. }))
        && currencies.is_none_or(|c| c.len() != 1)
    {
        v.push(
            format!("{path}.args"),
            "invalid",
            "a fixed amount needs exactly one currency in rule_set.currencies (only a percent fits several)",
        );
    }
    let mut condition = None;
    let mut parts = Vec::new();
    match o.get("condition") {
        None | Some(Value::Null) => {}
        Some(c) => {
            let cpath = format!("{path}.condition");
            if kind == ActionKind::Bundle {
                match c.as_object() {
                    Some(co) if co.get("strategy").and_then(Value::as_str) == Some("items_bundle") => {
                        parts = bundle(v, co, &cpath, 0);
                    }
                    _ => v.push(
                        format!("{cpath}.strategy"),
                        "invalid",
                        "an items_bundle_discount's condition must be an items_bundle",
                    ),
                }
            } else if kind == ActionKind::Shipping {
                match c.get("strategy").and_then(Value::as_str) {
                    Some("shipping_type") => {}
                    _ => v.push(
                        format!("{cpath}.strategy"),
                        "invalid",
                        "a shipping discount's condition must be shipping_type",
                    ),
                }
            } else {
                condition = item_pred(v, c, &cpath, 0);
            }
        }
    }
    if kind == ActionKind::Bundle && parts.is_empty() {
        v.push(
            format!("{path}.condition"),
            "required",
            "an items_bundle_discount needs an items_bundle condition with at least one part",
        );
    }
    let lim = o.get("limitations");
    let lim_int = |v: &mut Validator, pointer: &str, name: &str| -> Option<u64> {
        let x = lim?.pointer(pointer)?;
        match x.as_u64() {
            Some(n) if n as i64 <= MAX_AMOUNT => Some(n),
            _ => {
                v.push(
                    format!("{path}.limitations.{name}"),
                    "invalid",
                    format!("{name} must be a whole number of at least 0"),
                );
                None
            }
        }
    };
    let max_discount = lim_int(v, "/max_discount", "max_discount").map(|n| n as i64);
    let max_quantity = lim_int(v, "/max_quantity", "max_quantity");
    let max_items = lim_int(v, "/items/max_items", "items.max_items");
    let expensive = match lim.and_then(|l| l.pointer("/items/price_strategy")) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "cheapest" => false,
        Some(Value::String(s)) if s == "expensive" => true,
        Some(_) => {
            v.push(
                format!("{path}.limitations.items.price_strategy"),
                "invalid",
                "price_strategy must be cheapest or expensive",
            );
            false
        }
    };
    if kind != ActionKind::Item
        && lim.is_some_and(|l| l.get("items").is_some() || l.get("max_quantity").is_some())
    {
        v.push(
            format!("{path}.limitations"),
            "invalid",
            "items and max_quantity limitations apply to item_discount only",
        );
    }
    Some(Action {
        kind,
        amount: amount?,
        condition,
        bundle: parts,
        max_discount,
        max_quantity,
        max_items,
        expensive,
    })
}

/// How a code is consumed (`consume_unit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeUnit {
    #[default]
    PerApplication,
    PerCheckout,
}

impl ConsumeUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumeUnit::PerApplication => "per_application",
            ConsumeUnit::PerCheckout => "per_checkout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "per_application" => Some(ConsumeUnit::PerApplication),
            "per_checkout" => Some(ConsumeUnit::PerCheckout),
            _ => None,
        }
    }
}

/// A promotion code as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionCode {
    pub id: Uuid,
    pub promotion_id: Uuid,
    /// As created; matched ignoring case ([`code_key`]).
    pub code: String,
    /// Times redeemed so far.
    pub uses: i64,
    /// `None`: unlimited.
    pub max_uses: Option<i64>,
    /// The only customer who may use it.
    pub user: Option<Uuid>,
    pub consume_unit: ConsumeUnit,
    pub max_uses_per_shopper: Option<i64>,
    pub includes_guests: bool,
    pub is_for_new_shopper: bool,
    pub created_at: Millis,
}

impl PromotionCode {
    /// Redemptions left, `None` when unlimited.
    pub fn remaining(&self) -> Option<i64> {
        self.max_uses.map(|m| (m - self.uses).max(0))
    }
}

/// The codes of a cart as both stores read them in one column: a JSON array of objects with the
/// `promotion_codes` columns (`id`, `promotion_id`, `code`, `uses`, `max_uses`, `user_id`,
/// `consume_unit`, `max_uses_per_shopper`, `includes_guests`, `is_for_new_shopper`,
/// `created_at`; booleans as `true`/`false` or `1`/`0`). `NULL` or unreadable: none.
pub fn codes_from_json(stored: Option<&str>) -> Vec<PromotionCode> {
    let Some(Value::Array(list)) = stored.and_then(|s| serde_json::from_str::<Value>(s).ok()) else {
        return Vec::new();
    };
    let uuid = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64);
    let flag = |v: &Value, k: &str| {
        v.get(k)
            .is_some_and(|b| b.as_bool().unwrap_or_else(|| b.as_i64() == Some(1)))
    };
    list.iter()
        .filter_map(|c| {
            Some(PromotionCode {
                id: uuid(c, "id")?,
                promotion_id: uuid(c, "promotion_id")?,
                code: c.get("code")?.as_str()?.to_owned(),
                uses: int(c, "uses").unwrap_or(0),
                max_uses: int(c, "max_uses"),
                user: uuid(c, "user_id"),
                consume_unit: c
                    .get("consume_unit")
                    .and_then(Value::as_str)
                    .and_then(ConsumeUnit::parse)
                    .unwrap_or_default(),
                max_uses_per_shopper: int(c, "max_uses_per_shopper"),
                includes_guests: flag(c, "includes_guests"),
                is_for_new_shopper: flag(c, "is_for_new_shopper"),
                created_at: int(c, "created_at").unwrap_or(0),
            })
        })
        .collect()
}

/// Codes match ignoring case, as Elastic Path's do.
pub fn code_key(code: &str) -> String {
    code.to_lowercase()
}

/// The code name an automatic promotion's discounts show (Elastic Path's `auto_<id>`).
pub fn automatic_code(id: Uuid) -> String {
    format!("auto_{id}")
}

/// Parses `POST …/codes` `data.codes`: each problem names its entry.
pub fn parse_codes(body: &Value, promotion_id: Uuid, now: Millis) -> Result<Vec<PromotionCode>> {
    let mut v = Validator::new();
    let data = body.get("data").and_then(Value::as_object);
    let Some(data) = data else {
        return Err(Error::field("data", "required", "data must be an object"));
    };
    match data.get("type").and_then(Value::as_str) {
        Some("promotion_codes") => {}
        Some(_) => v.push("data.type", "invalid", "type must be promotion_codes"),
        None => v.push("data.type", "required", "type is required"),
    }
    let list = match data.get("codes") {
        Some(Value::Array(l)) if !l.is_empty() && l.len() <= MAX_CODES_PER_REQUEST => l.as_slice(),
        Some(Value::Array(l)) if !l.is_empty() => {
            v.push(
                "data.codes",
                "invalid",
                format!("at most {MAX_CODES_PER_REQUEST} codes at a time"),
            );
            &[]
        }
        _ => {
            v.push("data.codes", "required", "codes must list at least one code");
            &[]
        }
    };
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let p = format!("data.codes[{i}]");
        let Some(c) = c.as_object() else {
            v.push(p, "invalid", "a code must be an object");
            continue;
        };
        let code = match c.get("code").and_then(Value::as_str).map(str::trim) {
            Some(s) if !s.is_empty() && s.chars().count() <= MAX_CODE_LENGTH && !s.contains('/') => {
                Some(s.to_owned())
            }
            Some(_) => {
                v.push(
                    format!("{p}.code"),
                    "invalid",
                    format!("code must be 1 to {MAX_CODE_LENGTH} characters without '/'"),
                );
                None
            }
            None => {
                v.push(format!("{p}.code"), "required", "code is required");
                None
            }
        };
        let positive = |v: &mut Validator, x: Option<&Value>, name: &str| -> Option<Option<i64>> {
            match x {
                None | Some(Value::Null) => Some(None),
                Some(x) => match x.as_i64() {
                    Some(n) if n >= 0 => Some(Some(n)),
                    _ => {
                        v.push(
                            format!("{p}.{name}"),
                            "invalid",
                            format!("{name} must be a whole number of at least 0"),
                        );
                        None
                    }
                },
            }
        };
        let max_uses = positive(&mut v, c.get("uses"), "uses");
        let user = match c.get("user") {
            None | Some(Value::Null) => Some(None),
            Some(u) => match u.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                Some(u) => Some(Some(u)),
                None => {
                    v.push(format!("{p}.user"), "invalid", "user must be a customer id");
                    None
                }
            },
        };
        let consume_unit = match c.get("consume_unit") {
            None | Some(Value::Null) => Some(ConsumeUnit::default()),
            Some(x) => match x.as_str().and_then(ConsumeUnit::parse) {
                Some(u) => Some(u),
                None => {
                    v.push(
                        format!("{p}.consume_unit"),
                        "invalid",
                        "consume_unit must be per_application or per_checkout",
                    );
                    None
                }
            },
        };
        let (per_shopper, includes_guests) = match c.get("max_uses_per_shopper") {
            None | Some(Value::Null) => (Some(None), false),
            Some(Value::Object(m)) => {
                let guests = m.get("includes_guests").and_then(Value::as_bool).unwrap_or(false);
                match m.get("max_uses").and_then(Value::as_i64) {
                    Some(n) if n >= 1 => (Some(Some(n)), guests),
                    _ => {
                        v.push(
                            format!("{p}.max_uses_per_shopper.max_uses"),
                            "required",
                            "max_uses_per_shopper.max_uses must be a whole number of at least 1",
                        );
                        (None, guests)
                    }
                }
            }
            Some(_) => {
                v.push(
                    format!("{p}.max_uses_per_shopper"),
                    "invalid",
                    "max_uses_per_shopper must be an object",
                );
                (None, false)
            }
        };
        let new_shopper = c
            .get("is_for_new_shopper")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if matches!(per_shopper, Some(Some(_)))
            && consume_unit == Some(ConsumeUnit::PerApplication)
            && c.get("consume_unit").is_some()
        {
            v.push(
                format!("{p}.max_uses_per_shopper"),
                "invalid",
                "max_uses_per_shopper cannot be set with the per_application consume unit",
            );
        }
        if new_shopper
            && (matches!(max_uses, Some(Some(_)))
                || matches!(user, Some(Some(_)))
                || matches!(per_shopper, Some(Some(_))))
        {
            v.push(
                format!("{p}.is_for_new_shopper"),
                "invalid",
                "a code for first-time shoppers cannot have usage limitations or a user",
            );
        }
        let (Some(code), Some(max_uses), Some(user), Some(consume_unit), Some(per_shopper)) =
            (code, max_uses, user, consume_unit, per_shopper)
        else {
            continue;
        };
        // A per-shopper limit counts checkouts.
        let consume_unit = if per_shopper.is_some() {
            ConsumeUnit::PerCheckout
        } else {
            consume_unit
        };
        out.push(PromotionCode {
            id: crate::ids::new_id(),
            promotion_id,
            code,
            uses: 0,
            max_uses,
            user,
            consume_unit,
            max_uses_per_shopper: per_shopper,
            includes_guests,
            is_for_new_shopper: new_shopper,
            created_at: now,
        });
    }
    v.finish()?;
    Ok(out)
}

/// One usage of a code: written by checkout in the order's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionUsage {
    pub id: Uuid,
    pub promotion_id: Uuid,
    pub code_id: Uuid,
    pub code: String,
    pub order_id: Option<Uuid>,
    pub times_used: i64,
    pub used_on: Millis,
    pub customer_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub customer_email: Option<String>,
    pub anonymized: bool,
    pub updated_at: Millis,
}

/// A code's redemption by a checkout: counted in the order's transaction, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub code_id: Uuid,
    /// Added to the code's uses; refused when that passes `max_uses`.
    pub times: i64,
    /// The code's limit: only a limited code's row is counted (and locked) by the redemption; an
    /// unlimited one's uses are its usages, so checkouts with a popular code never queue.
    pub max_uses: Option<i64>,
    /// The shopper's limit for this code, counted over usages by the same customer, account or
    /// (guest) email.
    pub per_shopper: Option<i64>,
    pub usage: PromotionUsage,
}

/// Why a checkout's redemption was refused (the store found it in the transaction).
pub fn code_used_up(code: &str) -> Error {
    Error::bad_request(
        "Promotion code exhausted",
        format!("The promotion code '{code}' has no uses left; remove it from the cart to check out"),
    )
}

pub fn shopper_limit_reached(code: &str) -> Error {
    Error::bad_request(
        "Promotion code limit reached",
        format!("The promotion code '{code}' has been used as often as one shopper may use it"),
    )
}

/// Field errors of a validation, for tests.
pub fn field_errors(e: &Error) -> Vec<FieldError> {
    match e {
        Error::Validation(p) => p.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(rule_set: Value) -> Result<Compiled> {
        let body = json!({"data": {"type": "rule_promotion", "name": "p", "rule_set": rule_set}});
        let p = parse_promotion(&body, None, Uuid::from_u128(1), 1000)?;
        compile(&p)
    }

    fn sources(rule_set: Value) -> Vec<String> {
        match parse(rule_set) {
            Ok(_) => vec![],
            Err(e) => field_errors(&e).into_iter().map(|f| f.source).collect(),
        }
    }

    #[test]
    fn valid_rule_sets_compile() {
        let cases = [
            json!({"currencies": ["USD"], "actions": [{"strategy": "cart_discount", "args": ["fixed", 500]}]}),
            json!({"actions": [{"strategy": "cart_discount", "args": ["percent", 12.5]}]}),
            json!({"rules": {"strategy": "cart_total", "operator": "gte", "args": [10000]},
                   "actions": [{"strategy": "item_discount", "args": ["percent", 50],
                                "condition": {"strategy": "item_sku", "operator": "in", "args": ["a"]},
                                "limitations": {"max_discount": 100, "max_quantity": 1, "items": {"max_items": 2, "price_strategy": "expensive"}}}]}),
            json!({"rules": {"strategy": "and", "children": [
                      {"strategy": "item_identifier", "operator": "in", "args": [{"skus": ["x"]}]},
                      {"strategy": "not", "children": [{"strategy": "cart_custom_attribute", "operator": "eq", "args": ["vip", "boolean", true]}]}]},
                   "currencies": ["USD"],
                   "actions": [{"strategy": "items_bundle_discount", "args": ["fixed_price", 1000],
                                "condition": {"strategy": "items_bundle", "children": [
                                    {"strategy": "item_sku", "operator": "in", "args": ["a"], "children": [{"strategy": "item_quantity", "operator": "eq", "args": [2]}]},
                                    {"strategy": "item_sku", "operator": "in", "args": ["b"]}]}}]}),
        ];
        for rs in cases {
            let c = parse(rs.clone()).unwrap_or_else(|e| panic!("{rs}: {e:?}"));
            assert!(!c.actions.is_empty());
        }
    }

    #[test]
    fn every_problem_is_named() {
        let cases: [(Value, &[&str]); 8] = [
            (json!({}), &["data.rule_set.actions"]),
            (
                json!({"actions": [{"strategy": "free_lunch", "args": ["percent", 1]}]}),
                &["data.rule_set.actions[0].strategy"],
            ),
            (
                json!({"actions": [{"strategy": "cart_discount", "args": ["percent", 101]}]}),
                &["data.rule_set.actions[0].args[1]"],
            ),
            (
                json!({"actions": [{"strategy": "cart_discount", "args": ["fixed", 100]}]}),
                &["data.rule_set.actions[0].args"],
            ),
            (
                json!({"rules": {"strategy": "cart_total", "operator": "between", "args": [1]}, "actions": [{"strategy": "cart_discount", "args": ["percent", 1]}]}),
                &["data.rule_set.rules.operator"],
            ),
            (
                json!({"rules": {"strategy": "and", "children": [{"strategy": "item_sku", "operator": "in", "args": []}]}, "actions": [{"strategy": "cart_discount", "args": ["percent", 1]}]}),
                &["data.rule_set.rules.children[0].args"],
            ),
            (
                json!({"currencies": ["US$"], "actions": [{"strategy": "item_discount", "args": ["percent", 1], "limitations": {"items": {"price_strategy": "random"}}}]}),
                &[
                    "data.rule_set.currencies[0]",
                    "data.rule_set.actions[0].limitations.items.price_strategy",
                ],
            ),
            (
                json!({"catalog_ids": ["nope"], "actions": [{"strategy": "cart_discount", "args": ["percent", 1], "limitations": {"max_quantity": 1}}]}),
                &[
                    "data.rule_set.catalog_ids[0]",
                    "data.rule_set.actions[0].limitations",
                ],
            ),
        ];
        for (rs, want) in cases {
            assert_eq!(sources(rs.clone()), want.to_vec(), "{rs}");
        }
    }

    #[test]
    fn attributes_are_checked_and_kept() {
        let body = json!({"data": {"type": "rule_promotion", "name": "", "enabled": "yes", "priority": -1,
            "start": "2026-02-01", "end": "2026-01-01T00:00:00Z",
            "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}});
        let e = parse_promotion(&body, None, Uuid::nil(), 0).unwrap_err();
        let got: Vec<String> = field_errors(&e).into_iter().map(|f| f.source).collect();
        assert_eq!(got, ["data.name", "data.enabled", "data.priority", "data.end"]);
        let ok = json!({"data": {"type": "rule_promotion", "name": "Ten", "enabled": true, "start": "2026-01-01",
            "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}});
        let p = parse_promotion(&ok, None, Uuid::nil(), 5).unwrap();
        assert_eq!(
            (p.enabled, p.stackable, p.start),
            (true, true, parse_rfc3339("2026-01-01T00:00:00Z"))
        );
        // An update changes what it names only.
        let patch = json!({"data": {"enabled": false}});
        let q = parse_promotion(&patch, Some(&p), Uuid::nil(), 6).unwrap();
        assert_eq!(
            (q.enabled, q.name.as_str(), q.updated_at, q.rule_set == p.rule_set),
            (false, "Ten", 6, true)
        );
    }

    #[test]
    fn codes_are_checked_each_by_its_entry() {
        let body = json!({"data": {"type": "promotion_codes", "codes": [
            {"code": "SUMMER", "uses": 1},
            {"code": ""},
            {"code": "X", "consume_unit": "sometimes"},
            {"code": "Y", "is_for_new_shopper": true, "uses": 3},
            {"code": "Z", "max_uses_per_shopper": {"includes_guests": true}},
        ]}});
        let e = parse_codes(&body, Uuid::nil(), 0).unwrap_err();
        let got: Vec<String> = field_errors(&e).into_iter().map(|f| f.source).collect();
        assert_eq!(
            got,
            [
                "data.codes[1].code",
                "data.codes[2].consume_unit",
                "data.codes[3].is_for_new_shopper",
                "data.codes[4].max_uses_per_shopper.max_uses"
            ]
        );
        let ok = json!({"data": {"type": "promotion_codes", "codes": [{"code": "Summer", "uses": 2, "max_uses_per_shopper": {"max_uses": 1}}]}});
        let codes = parse_codes(&ok, Uuid::nil(), 0).unwrap();
        assert_eq!(
            (codes[0].max_uses, codes[0].remaining(), codes[0].consume_unit),
            (Some(2), Some(2), ConsumeUnit::PerCheckout)
        );
        assert_eq!(code_key("SuMmEr"), "summer");
    }
}
