//! The promotion evaluator: which promotions apply to a cart and what each takes off, as one
//! pure function ([`evaluate`]) over compiled promotions ([`crate::promotions::Compiled`]) and
//! the cart's facts. It runs once per cart read, change or checkout, inside the pricing
//! pipeline ([`crate::cart_pricing`]).
//!
//! The rules kassa applies where Elastic Path's documentation leaves a choice are listed in
//! `docs/COMPATIBILITY.md` ("Rule promotions"). In short:
//! - **Order**: higher `priority` first; without a priority after every prioritised one, newest
//!   first. Each promotion is computed on the prices the ones before it left.
//! - **Stacking**: the first applicable promotion always applies. After a non-stackable one,
//!   only promotions with `override_stacking` apply; otherwise a promotion applies when it is
//!   stackable or overrides stacking. A non-stackable promotion after others is skipped unless it
//!   overrides stacking.
//! - **Amounts**: a discount never takes a line or the cart below zero; `max_discount` caps one
//!   action's total.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::promotions::{
    Action, ActionKind, Amount, AttrOp, AttrType, BundlePart, Cmp, Compiled, ItemPred, Rule, TagOp,
    automatic_code,
};
use crate::time::Millis;

/// What the evaluator knows of one cart line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineFacts {
    pub sku: Option<String>,
    pub product_id: Option<Uuid>,
    pub catalog_id: Option<Uuid>,
    /// The nodes and hierarchies the product sits in (for `item_category`).
    pub nodes: Vec<String>,
    /// A custom item (no product).
    pub custom: bool,
    pub unit_amount: i64,
    pub quantity: u64,
}

/// A code the shopper added to the cart, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeFacts {
    pub promotion_id: Uuid,
    /// As the code was created (its display form).
    pub code: String,
    /// For a `per_application` code with `max_uses`: applications left. `None`: no limit here
    /// (unlimited, or counted per checkout).
    pub applications_left: Option<u64>,
}

/// What the evaluator knows of the cart.
#[derive(Debug, Clone, PartialEq)]
pub struct CartFacts {
    pub currency: String,
    pub custom_attributes: Value,
    /// The account's tags (kassa has none yet: always empty).
    pub account_tags: Vec<String>,
    pub codes: Vec<CodeFacts>,
    pub now: Millis,
}

/// One discount a promotion gives: negative, in the line's price basis. Orders keep these.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Discount {
    pub promotion_id: Uuid,
    /// The shopper's code, or `auto_<id>` for an automatic promotion.
    pub code: String,
    pub amount: i64,
    /// For a custom discount (`promotion_id` is then its id, `code` its `discount_code`): what
    /// else the cart and an order show of it. `None` for a promotion's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Box<CustomInfo>>,
}

/// What an order keeps of a custom discount ([`crate::custom_discounts`]) beside its
/// [`Discount`] (id, code and amount).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomInfo {
    pub external_id: String,
    pub discount_engine: String,
    pub description: String,
}

/// A promotion that took something off.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub promotion: Arc<Compiled>,
    /// The shopper's code it applied through; `None` for an automatic promotion.
    pub code: Option<String>,
    /// Units (item discounts), bundles or 1 (cart discounts): what a `per_application` code
    /// counts.
    pub applications: u64,
    pub total: i64,
}

/// What the promotions take off a cart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Per line (by position): its item and bundle discounts.
    pub lines: Vec<Vec<Discount>>,
    /// Cart discounts, in the order they applied.
    pub cart: Vec<Discount>,
    pub applied: Vec<Applied>,
}

/// The order promotions are evaluated in: priority (higher first; none after all), then newest.
pub fn sort_for_evaluation(list: &mut [Arc<Compiled>]) {
    list.sort_by(|a, b| {
        let pa = a.priority.map_or(-1, |p| p);
        let pb = b.priority.map_or(-1, |p| p);
        pb.cmp(&pa)
            .then(b.created_at.cmp(&a.created_at))
            .then(b.id.cmp(&a.id))
    });
}

/// Whether `p` is a candidate for this cart at all (before its rules): live, in the cart's
/// currency, automatic or named by one of the cart's codes. Answers the code it came through.
pub fn candidate<'c>(p: &Compiled, cart: &'c CartFacts) -> Option<Option<&'c CodeFacts>> {
    if !p.live(cart.now) {
        return None;
    }
    if let Some(c) = &p.currencies
        && !c.contains(&cart.currency.to_ascii_uppercase())
    {
        return None;
    }
    match cart.codes.iter().find(|c| c.promotion_id == p.id) {
        Some(code) => Some(Some(code)),
        None if p.automatic => Some(None),
        None => None,
    }
}

struct State<'a> {
    lines: &'a [LineFacts],
    /// Each line's value after the discounts so far.
    remaining: Vec<i64>,
    /// Cart discounts so far (positive).
    cart_taken: i64,
}

impl State<'_> {
    fn unit_price(&self, i: usize) -> i64 {
        let q = self.lines[i].quantity.max(1) as i64;
        self.remaining[i].max(0) / q
    }

    fn cart_left(&self, scope: &[bool]) -> i64 {
        let lines: i64 = self
            .remaining
            .iter()
            .zip(scope)
            .filter(|(_, s)| **s)
            .map(|(r, _)| (*r).max(0))
            .sum();
        (lines - self.cart_taken).max(0)
    }
}

/// Every live promotion that applies to the cart, in order (see the module's rules), with the
/// discounts it gives. `promotions` must be in [`sort_for_evaluation`]'s order.
pub fn evaluate(promotions: &[Arc<Compiled>], cart: &CartFacts, lines: &[LineFacts]) -> Outcome {
    let mut out = Outcome {
        lines: vec![Vec::new(); lines.len()],
        ..Outcome::default()
    };
    let mut st = State {
        lines,
        remaining: lines
            .iter()
            .map(|l| l.unit_amount.max(0).saturating_mul(l.quantity as i64))
            .collect(),
        cart_taken: 0,
    };
    let mut blocked = false;
    let everywhere = vec![true; lines.len()];
    let mut scoped = Vec::with_capacity(lines.len());
    for p in promotions {
        let Some(code) = candidate(p, cart) else { continue };
        if !out.applied.is_empty() {
            let ok = if blocked {
                p.override_stacking
            } else {
                p.stackable || p.override_stacking
            };
            if !ok {
                continue;
            }
        }
        // Most promotions take every line: one shared all-lines scope, no allocation each.
        let scope: &[bool] = if p.catalog_ids.is_none() {
            &everywhere
        } else {
            scoped.clear();
            scoped.extend(lines.iter().map(|l| in_scope(p, l)));
            &scoped
        };
        if let Some(rules) = &p.rules
            && !rule_holds(rules, &st, scope, cart)
        {
            continue;
        }
        let code_name = code.map_or_else(|| automatic_code(p.id), |c| c.code.clone());
        let mut budget = code.and_then(|c| c.applications_left);
        if budget == Some(0) {
            continue;
        }
        let mut applications = 0;
        let mut total = 0;
        let mut line_found: Vec<(usize, i64)> = Vec::new();
        let mut cart_found = 0;
        for action in &p.actions {
            let (per_line, cart_amount, n) = run_action(action, &mut st, scope, budget);
            if let Some(b) = budget.as_mut() {
                *b = b.saturating_sub(n);
            }
            applications += n;
            for (i, d) in per_line {
                total += d;
                line_found.push((i, d));
            }
            cart_found += cart_amount;
            total += cart_amount;
        }
        if total <= 0 {
            continue;
        }
        for (i, d) in line_found {
            match out.lines[i].iter_mut().find(|x| x.promotion_id == p.id) {
                Some(x) => x.amount -= d,
                None => out.lines[i].push(Discount {
                    promotion_id: p.id,
                    code: code_name.clone(),
                    amount: -d,
                    custom: None,
                }),
            }
        }
        if cart_found > 0 {
            out.cart.push(Discount {
                promotion_id: p.id,
                code: code_name.clone(),
                amount: -cart_found,
                custom: None,
            });
        }
        out.applied.push(Applied {
            promotion: p.clone(),
            code: code.map(|c| c.code.clone()),
            applications,
            total,
        });
        if !p.stackable {
            blocked = true;
        }
    }
    out
}

/// With `catalog_ids`, only product lines of those catalogs; else every line.
fn in_scope(p: &Compiled, l: &LineFacts) -> bool {
    match &p.catalog_ids {
        None => true,
        Some(ids) => !l.custom && l.catalog_id.is_some_and(|c| ids.contains(&c)),
    }
}

fn pred_holds(pred: &ItemPred, st: &State, i: usize) -> bool {
    let l = &st.lines[i];
    match pred {
        ItemPred::Identifier { negate, skus, ids } => {
            let hit = l.sku.as_ref().is_some_and(|s| skus.contains(s))
                || l.product_id.is_some_and(|id| ids.contains(&id));
            hit != *negate
        }
        ItemPred::Category { negate, nodes } => {
            let hit = l.nodes.iter().any(|n| nodes.contains(n));
            hit != *negate
        }
        ItemPred::Attribute { negate } => *negate,
        ItemPred::Price(cmp, v) => cmp.holds(st.unit_price(i), *v),
        ItemPred::Quantity(cmp, v) => cmp.holds(l.quantity as i64, *v),
        ItemPred::All(list) => list.iter().all(|p| pred_holds(p, st, i)),
        ItemPred::Any(list) => list.iter().any(|p| pred_holds(p, st, i)),
        ItemPred::None(list) => !list.iter().any(|p| pred_holds(p, st, i)),
    }
}

fn rule_holds(rule: &Rule, st: &State, scope: &[bool], cart: &CartFacts) -> bool {
    match rule {
        Rule::CartTotal(cmp, a, range_end) => {
            let total = st.cart_left(scope);
            match range_end {
                Some(b) => *a <= total && total <= *b,
                None => cmp.holds(total, *a),
            }
        }
        Rule::CartAttribute {
            key,
            op,
            kind,
            values,
        } => attribute_holds(&cart.custom_attributes, key, *op, *kind, values),
        Rule::AccountTags { op, tags } => {
            let has = |t: &String| cart.account_tags.contains(t);
            match op {
                TagOp::ContainsAll => tags.iter().all(has),
                TagOp::ContainsAny => tags.iter().any(has),
                TagOp::NotContainsAny => !tags.iter().any(has),
                TagOp::NotContainsAll => !tags.iter().all(has),
            }
        }
        Rule::Item(pred) => {
            (0..st.lines.len()).any(|i| scope[i] && st.lines[i].quantity > 0 && pred_holds(pred, st, i))
        }
        Rule::Bundle(parts) => {
            let mut used = vec![0_u64; st.lines.len()];
            take_bundle(parts, st, scope, &mut used).is_some()
        }
        Rule::All(list) => list.iter().all(|r| rule_holds(r, st, scope, cart)),
        Rule::Any(list) => list.iter().any(|r| rule_holds(r, st, scope, cart)),
        Rule::None(list) => !list.iter().any(|r| rule_holds(r, st, scope, cart)),
    }
}

/// `cart_custom_attribute`: the cart's attribute `key` (EP's `{type, value}` or a bare value).
fn attribute_holds(attrs: &Value, key: &str, op: AttrOp, kind: AttrType, values: &[Value]) -> bool {
    let Some(attr) = attrs.get(key) else {
        return op == AttrOp::Nin;
    };
    let value = attr.get("value").unwrap_or(attr);
    let same = |x: &Value| match kind {
        AttrType::Float => x.as_f64().is_some() && x.as_f64() == value.as_f64(),
        _ => x == value,
    };
    match op {
        AttrOp::In => values.iter().any(same),
        AttrOp::Nin => !values.iter().any(same),
        AttrOp::Cmp(cmp) => {
            let (Some(left), Some(right)) = (value.as_f64(), values.first().and_then(Value::as_f64)) else {
                return cmp == Cmp::Eq && values.first() == Some(value);
            };
            match cmp {
                Cmp::Gt => left > right,
                Cmp::Gte => left >= right,
                Cmp::Lt => left < right,
                Cmp::Lte => left <= right,
                Cmp::Eq => left == right,
                Cmp::Ne => left != right,
            }
        }
    }
}

/// Takes one bundle's units (per line) out of what is not `used` yet: lines with more units
/// first, then in cart order. `None` if some part cannot be filled.
fn take_bundle(
    parts: &[BundlePart],
    st: &State,
    scope: &[bool],
    used: &mut [u64],
) -> Option<Vec<(usize, u64)>> {
    let mut order: Vec<usize> = (0..st.lines.len()).collect();
    order.sort_by(|a, b| st.lines[*b].quantity.cmp(&st.lines[*a].quantity).then(a.cmp(b)));
    let mut taken: Vec<(usize, u64)> = Vec::new();
    let mut trial = used.to_vec();
    for part in parts {
        let mut need = part.quantity;
        for &i in &order {
            if need == 0 {
                break;
            }
            if !scope[i] || !pred_holds(&part.pred, st, i) {
                continue;
            }
            let free = st.lines[i].quantity.saturating_sub(trial[i]);
            let n = free.min(need);
            if n > 0 {
                trial[i] += n;
                need -= n;
                taken.push((i, n));
            }
        }
        if need > 0 {
            return None;
        }
    }
    used.copy_from_slice(&trial);
    Some(taken)
}

fn percent_of(amount: i64, ppm: u32) -> i64 {
    let x = i128::from(amount) * i128::from(ppm);
    ((x + 500_000) / 1_000_000) as i64
}

/// One action on the current prices: the discount per line (positive), the cart discount
/// (positive) and the applications counted, within `budget` applications.
fn run_action(
    a: &Action,
    st: &mut State,
    scope: &[bool],
    budget: Option<u64>,
) -> (Vec<(usize, i64)>, i64, u64) {
    let eligible: Vec<usize> = (0..st.lines.len())
        .filter(|&i| {
            scope[i]
                && st.lines[i].quantity > 0
                && st.remaining[i] > 0
                && a.condition.as_ref().is_none_or(|c| pred_holds(c, st, i))
        })
        .collect();
    let cap = |found: i64| a.max_discount.map_or(found, |m| found.min(m));
    // What the cart as a whole has left: no action takes more, so the cart never goes negative.
    let room = st.cart_left(&vec![true; st.lines.len()]);
    let line_cap = Some(a.max_discount.map_or(room, |m| m.min(room)));
    match a.kind {
        ActionKind::Shipping => (Vec::new(), 0, 0),
        ActionKind::Cart => {
            if eligible.is_empty() {
                return (Vec::new(), 0, 0);
            }
            let base: i64 = eligible
                .iter()
                .map(|&i| st.remaining[i])
                .sum::<i64>()
                .min(st.cart_left(scope));
            let found = match a.amount {
                Amount::Fixed(x) => x,
                Amount::Percent(ppm) => percent_of(base, ppm),
                Amount::FixedPrice { price, .. } => base - price,
            };
            let found = cap(found.clamp(0, base));
            st.cart_taken += found;
            (Vec::new(), found, u64::from(found > 0))
        }
        ActionKind::Item => {
            let mut order = eligible;
            order.sort_by(|x, y| {
                let (px, py) = (st.unit_price(*x), st.unit_price(*y));
                let by_price = if a.expensive { py.cmp(&px) } else { px.cmp(&py) };
                by_price.then(x.cmp(y))
            });
            // The units that get the discount, each with its current unit price.
            let mut units: Vec<(usize, i64)> = Vec::new();
            let mut limit = a.max_items.unwrap_or(u64::MAX).min(budget.unwrap_or(u64::MAX));
            if let Amount::FixedPrice {
                quantity: Some(q), ..
            } = a.amount
            {
                // A budget counts groups.
                limit = a
                    .max_items
                    .unwrap_or(u64::MAX)
                    .min(budget.map_or(u64::MAX, |b| b.saturating_mul(q)));
            }
            for &i in &order {
                let n = st.lines[i].quantity.min(a.max_quantity.unwrap_or(u64::MAX));
                for _ in 0..n {
                    if units.len() as u64 >= limit {
                        break;
                    }
                    units.push((i, st.unit_price(i)));
                }
            }
            let mut per_line: Vec<(usize, i64)> = Vec::new();
            let mut add = |i: usize, d: i64| match per_line.iter_mut().find(|(j, _)| *j == i) {
                Some((_, x)) => *x += d,
                None => per_line.push((i, d)),
            };
            let mut applications = 0;
            match a.amount {
                Amount::Fixed(x) => {
                    for &(i, price) in &units {
                        add(i, x.min(price));
                    }
                    applications = units.len() as u64;
                }
                Amount::Percent(ppm) => {
                    for &(i, price) in &units {
                        add(i, percent_of(price, ppm));
                    }
                    applications = units.len() as u64;
                }
                Amount::FixedPrice { quantity, price } => {
                    let q = quantity.unwrap_or(1).max(1) as usize;
                    for group in units.chunks(q) {
                        if group.len() < q {
                            break;
                        }
                        let sum: i64 = group.iter().map(|(_, p)| p).sum();
                        let off = (sum - price).max(0);
                        spread(group.iter().map(|&(i, p)| (i, p)), sum, off, &mut add);
                        applications += 1;
                    }
                }
            }
            let per_line = capped(per_line, line_cap);
            for &(i, d) in &per_line {
                st.remaining[i] -= d;
            }
            let per_line: Vec<(usize, i64)> = per_line.into_iter().filter(|(_, d)| *d > 0).collect();
            if per_line.is_empty() {
                applications = 0;
            }
            (per_line, 0, applications)
        }
        ActionKind::Bundle => {
            let mut used = vec![0_u64; st.lines.len()];
            let mut per_line: Vec<(usize, i64)> = Vec::new();
            let mut applications = 0;
            while budget.is_none_or(|b| applications < b) {
                let Some(taken) = take_bundle(&a.bundle, st, scope, &mut used) else {
                    break;
                };
                let sum: i64 = taken.iter().map(|&(i, n)| st.unit_price(i) * n as i64).sum();
                let off = match a.amount {
                    Amount::Fixed(x) => x.min(sum),
                    Amount::Percent(ppm) => percent_of(sum, ppm),
                    Amount::FixedPrice { price, .. } => (sum - price).max(0),
                };
                let mut add = |i: usize, d: i64| match per_line.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, x)) => *x += d,
                    None => per_line.push((i, d)),
                };
                spread(
                    taken.iter().map(|&(i, n)| (i, st.unit_price(i) * n as i64)),
                    sum,
                    off,
                    &mut add,
                );
                applications += 1;
            }
            let per_line = capped(per_line, line_cap);
            for &(i, d) in &per_line {
                st.remaining[i] -= d;
            }
            let per_line: Vec<(usize, i64)> = per_line.into_iter().filter(|(_, d)| *d > 0).collect();
            (per_line, 0, applications)
        }
    }
}

/// Splits `off` over parts by their value (each share truncated, the last part takes the rest).
fn spread(parts: impl Iterator<Item = (usize, i64)>, sum: i64, off: i64, add: &mut impl FnMut(usize, i64)) {
    let parts: Vec<(usize, i64)> = parts.collect();
    if sum <= 0 || off <= 0 {
        return;
    }
    let mut given = 0;
    for (k, &(i, value)) in parts.iter().enumerate() {
        let share = if k + 1 == parts.len() {
            off - given
        } else {
            (i128::from(off) * i128::from(value) / i128::from(sum)) as i64
        };
        given += share;
        add(i, share);
    }
}

/// Caps a set of line discounts at `max` in total, taking the excess off the last lines.
fn capped(mut per_line: Vec<(usize, i64)>, max: Option<i64>) -> Vec<(usize, i64)> {
    let Some(max) = max else { return per_line };
    let mut excess = per_line.iter().map(|(_, d)| d).sum::<i64>() - max;
    for (_, d) in per_line.iter_mut().rev() {
        if excess <= 0 {
            break;
        }
        let cut = excess.min(*d);
        *d -= cut;
        excess -= cut;
    }
    per_line
}

/// The ids of the promotions a cart's codes name that did not apply: what checkout refuses.
pub fn codes_not_applied<'a>(cart: &'a CartFacts, outcome: &Outcome) -> Vec<&'a CodeFacts> {
    let applied: HashSet<Uuid> = outcome.applied.iter().map(|a| a.promotion.id).collect();
    cart.codes
        .iter()
        .filter(|c| !applied.contains(&c.promotion_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotions::{RulePromotion, compile, parse_promotion};
    use serde_json::json;

    /// A promotion from its attributes and rule set; `n` orders creation (newer is larger).
    fn promo(n: u128, attrs: Value, rule_set: Value) -> Arc<Compiled> {
        let mut data = json!({"type": "rule_promotion", "name": format!("p{n}"), "enabled": true, "automatic": true, "rule_set": rule_set});
        for (k, v) in attrs.as_object().unwrap() {
            data[k] = v.clone();
        }
        let p: RulePromotion =
            parse_promotion(&json!({ "data": data }), None, Uuid::from_u128(n), n as i64).unwrap();
        Arc::new(compile(&p).unwrap())
    }

    fn line(sku: &str, unit: i64, quantity: u64) -> LineFacts {
        LineFacts {
            sku: Some(sku.into()),
            product_id: Some(Uuid::from_u128(
                sku.len() as u128 * 1000 + u128::from(sku.as_bytes()[0]),
            )),
            catalog_id: Some(Uuid::from_u128(77)),
            nodes: vec![format!("node-{}", &sku[..1])],
            custom: false,
            unit_amount: unit,
            quantity,
        }
    }

    fn cart(codes: Vec<CodeFacts>) -> CartFacts {
        CartFacts {
            currency: "USD".into(),
            custom_attributes: json!({"tier": {"type": "string", "value": "gold"}, "visits": {"type": "integer", "value": 3}}),
            account_tags: vec![],
            codes,
            now: 1_000,
        }
    }

    fn code(p: &Arc<Compiled>, name: &str, left: Option<u64>) -> CodeFacts {
        CodeFacts {
            promotion_id: p.id,
            code: name.into(),
            applications_left: left,
        }
    }

    /// (per line total discount, cart discounts) of evaluating `promos` in evaluation order.
    fn run(mut promos: Vec<Arc<Compiled>>, cart: &CartFacts, lines: &[LineFacts]) -> (Vec<i64>, Vec<i64>) {
        sort_for_evaluation(&mut promos);
        let out = evaluate(&promos, cart, lines);
        (
            out.lines
                .iter()
                .map(|d| d.iter().map(|x| x.amount).sum())
                .collect(),
            out.cart.iter().map(|d| d.amount).collect(),
        )
    }

    fn cart_pct(p: f64) -> Value {
        json!({"actions": [{"strategy": "cart_discount", "args": ["percent", p]}]})
    }

    #[test]
    fn actions_take_what_their_args_say() {
        let lines = vec![line("apple", 1000, 2), line("pear", 300, 3)];
        let usd = |a: Value| json!({"currencies": ["USD"], "actions": [a]});
        // (rule set, per-line discounts, cart discounts)
        let cases: Vec<(Value, Vec<i64>, Vec<i64>)> = vec![
            (cart_pct(10.0), vec![0, 0], vec![-290]),
            (
                usd(json!({"strategy": "cart_discount", "args": ["fixed", 500]})),
                vec![0, 0],
                vec![-500],
            ),
            // A fixed cart discount never exceeds the cart.
            (
                usd(json!({"strategy": "cart_discount", "args": ["fixed", 99999]})),
                vec![0, 0],
                vec![-2900],
            ),
            (
                usd(
                    json!({"strategy": "cart_discount", "args": ["fixed", 99999], "limitations": {"max_discount": 700}}),
                ),
                vec![0, 0],
                vec![-700],
            ),
            // Item discounts: per unit.
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 50]}]}),
                vec![-1000, -450],
                vec![],
            ),
            (
                usd(json!({"strategy": "item_discount", "args": ["fixed", 400]})),
                vec![-800, -900],
                vec![],
            ),
            // Only the condition's items.
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 50],
                "condition": {"strategy": "item_sku", "operator": "in", "args": ["pear"]}}]}),
                vec![0, -450],
                vec![],
            ),
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 50],
                "condition": {"strategy": "item_category", "operator": "nin", "args": ["node-p"]}}]}),
                vec![-1000, 0],
                vec![],
            ),
            // max_items with the cheapest (default) or the most expensive first; max_quantity.
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 100], "limitations": {"items": {"max_items": 2}}}]}),
                vec![0, -600],
                vec![],
            ),
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 100], "limitations": {"items": {"max_items": 3, "price_strategy": "expensive"}}}]}),
                vec![-2000, -300],
                vec![],
            ),
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 100], "limitations": {"max_quantity": 1}}]}),
                vec![-1000, -300],
                vec![],
            ),
            // The cap comes off the last discounted line (the dearest, cheapest first).
            (
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 100], "limitations": {"max_discount": 1500}}]}),
                vec![-600, -900],
                vec![],
            ),
            // Three pears for 6.00 (one group of three).
            (
                usd(
                    json!({"strategy": "item_discount", "args": ["fixed_price", 3, 600],
                "condition": {"strategy": "item_sku", "operator": "in", "args": ["pear"]}}),
                ),
                vec![0, -300],
                vec![],
            ),
            // A bundle of an apple and two pears for 12.00: 16.00 → 12.00.
            (
                usd(
                    json!({"strategy": "items_bundle_discount", "args": ["fixed_price", 1200],
                "condition": {"strategy": "items_bundle", "children": [
                    {"strategy": "item_sku", "operator": "in", "args": ["apple"]},
                    {"strategy": "item_sku", "operator": "in", "args": ["pear"], "children": [{"strategy": "item_quantity", "operator": "eq", "args": [2]}]}]}}),
                ),
                vec![-250, -150],
                vec![],
            ),
            (
                json!({"actions": [{"strategy": "shipping_discount", "args": ["percent", 100]}]}),
                vec![0, 0],
                vec![],
            ),
        ];
        for (rs, want_lines, want_cart) in cases {
            let got = run(vec![promo(1, json!({}), rs.clone())], &cart(vec![]), &lines);
            assert_eq!(got, (want_lines, want_cart), "{rs}");
        }
    }

    #[test]
    fn rules_decide_eligibility() {
        let lines = vec![line("apple", 1000, 2), line("pear", 300, 1)];
        let with = |rules: Value| json!({"rules": rules, "actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]});
        // (rules, applies)
        let cases = [
            (
                json!({"strategy": "cart_total", "operator": "gte", "args": [2300]}),
                true,
            ),
            (
                json!({"strategy": "cart_total", "operator": "gt", "args": [2300]}),
                false,
            ),
            (
                json!({"strategy": "cart_total", "operator": "range", "args": [2000, 2300]}),
                true,
            ),
            (
                json!({"strategy": "item_sku", "operator": "in", "args": ["pear"]}),
                true,
            ),
            (
                json!({"strategy": "item_sku", "operator": "in", "args": ["plum"]}),
                false,
            ),
            (
                json!({"strategy": "item_quantity", "operator": "gte", "args": [2]}),
                true,
            ),
            (
                json!({"strategy": "item_quantity", "operator": "gte", "args": [2], "children": [{"strategy": "item_sku", "operator": "in", "args": ["pear"]}]}),
                false,
            ),
            (
                json!({"strategy": "item_price", "operator": "lt", "args": [500]}),
                true,
            ),
            (
                json!({"strategy": "item_identifier", "operator": "in", "args": [{"ids": [Uuid::from_u128(5000 + 97)]}]}),
                true,
            ),
            (
                json!({"strategy": "item_category", "operator": "in", "args": ["node-a"]}),
                true,
            ),
            (
                json!({"strategy": "item_attribute", "operator": "in", "args": ["product(x)", "color", "string", "red"]}),
                false,
            ),
            (
                json!({"strategy": "cart_custom_attribute", "operator": "in", "args": ["tier", "string", "gold", "silver"]}),
                true,
            ),
            (
                json!({"strategy": "cart_custom_attribute", "operator": "eq", "args": ["tier", "string", "bronze"]}),
                false,
            ),
            (
                json!({"strategy": "cart_custom_attribute", "operator": "gte", "args": ["visits", "integer", 3]}),
                true,
            ),
            (
                json!({"strategy": "cart_custom_attribute", "operator": "nin", "args": ["missing", "string", "x"]}),
                true,
            ),
            (
                json!({"strategy": "account_tags", "operator": "contains_any", "args": [Uuid::nil()]}),
                false,
            ),
            (
                json!({"strategy": "account_tags", "operator": "not_contains_any", "args": [Uuid::nil()]}),
                true,
            ),
            (
                json!({"strategy": "and", "children": [
                {"strategy": "item_sku", "operator": "in", "args": ["pear"]},
                {"strategy": "cart_total", "operator": "lt", "args": [100]}]}),
                false,
            ),
            (
                json!({"strategy": "or", "children": [
                {"strategy": "item_sku", "operator": "in", "args": ["plum"]},
                {"strategy": "cart_total", "operator": "gte", "args": [100]}]}),
                true,
            ),
            (
                json!({"strategy": "not", "children": [{"strategy": "item_sku", "operator": "in", "args": ["pear"]}]}),
                false,
            ),
            (
                json!({"strategy": "items_bundle", "children": [
                {"strategy": "item_sku", "operator": "in", "args": ["apple"], "children": [{"strategy": "item_quantity", "operator": "eq", "args": [2]}]},
                {"strategy": "item_sku", "operator": "in", "args": ["pear"]}]}),
                true,
            ),
            (
                json!({"strategy": "items_bundle", "children": [
                {"strategy": "item_sku", "operator": "in", "args": ["pear"], "children": [{"strategy": "item_quantity", "operator": "eq", "args": [2]}]}]}),
                false,
            ),
        ];
        for (rules, applies) in cases {
            let (_, c) = run(
                vec![promo(1, json!({}), with(rules.clone()))],
                &cart(vec![]),
                &lines,
            );
            assert_eq!(!c.is_empty(), applies, "{rules}");
        }
    }

    #[test]
    fn candidates_need_a_live_window_the_currency_and_a_code_unless_automatic() {
        let lines = vec![line("apple", 1000, 1)];
        let rs = || cart_pct(10.0);
        // (attributes, currencies, code given, applies)
        let cases = [
            (json!({}), None, false, true),
            (json!({"enabled": false}), None, false, false),
            (json!({"start": "1970-01-01T00:00:02Z"}), None, false, false),
            (json!({"end": "1970-01-01T00:00:01Z"}), None, false, false),
            (json!({"end": "1970-01-01T00:00:02Z"}), None, false, true),
            (json!({}), Some("EUR"), false, false),
            (json!({}), Some("usd"), false, true),
            (json!({"automatic": false}), None, false, false),
            (json!({"automatic": false}), None, true, true),
        ];
        for (attrs, currency, with_code, applies) in cases {
            let mut set = rs();
            if let Some(c) = currency {
                set["currencies"] = json!([c]);
            }
            let p = promo(1, attrs.clone(), set);
            let codes = if with_code {
                vec![code(&p, "SAVE", None)]
            } else {
                vec![]
            };
            let (_, c) = run(vec![p], &cart(codes), &lines);
            assert_eq!(!c.is_empty(), applies, "{attrs} {currency:?} {with_code}");
        }
    }

    #[test]
    fn priority_order_and_stacking() {
        let lines = vec![line("apple", 1000, 1)];
        let p = |n, attrs: Value, pct| promo(n, attrs, cart_pct(pct));
        // (promotions, cart discounts in application order)
        let cases: Vec<(Vec<Arc<Compiled>>, Vec<i64>)> = vec![
            // Newest first without priorities, each on what the last left.
            (
                vec![p(1, json!({}), 10.0), p(2, json!({}), 50.0)],
                vec![-500, -50],
            ),
            // Priority beats age.
            (
                vec![p(1, json!({"priority": 5}), 10.0), p(2, json!({}), 50.0)],
                vec![-100, -450],
            ),
            // A non-stackable first promotion blocks the rest…
            (
                vec![p(1, json!({}), 10.0), p(2, json!({"stackable": false}), 50.0)],
                vec![-500],
            ),
            // …except one that overrides stacking.
            (
                vec![
                    p(1, json!({"override_stacking": true}), 10.0),
                    p(2, json!({"stackable": false}), 50.0),
                ],
                vec![-500, -50],
            ),
            // A non-stackable promotion after another is skipped.
            (
                vec![p(1, json!({"stackable": false}), 10.0), p(2, json!({}), 50.0)],
                vec![-500],
            ),
        ];
        for (promos, want) in cases {
            let (_, got) = run(promos, &cart(vec![]), &lines);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn catalogs_scope_the_items_and_a_per_application_code_limits_applications() {
        let mut custom = line("gift", 500, 1);
        custom.custom = true;
        custom.catalog_id = None;
        let lines = vec![line("apple", 1000, 3), custom];
        let scoped = promo(
            1,
            json!({}),
            json!({"catalog_ids": [Uuid::from_u128(77)], "actions": [{"strategy": "item_discount", "args": ["percent", 10]}]}),
        );
        assert_eq!(run(vec![scoped], &cart(vec![]), &lines), (vec![-300, 0], vec![]));
        let limited = promo(
            2,
            json!({"automatic": false}),
            json!({"actions": [{"strategy": "item_discount", "args": ["percent", 10]}]}),
        );
        let c = cart(vec![code(&limited, "TWO", Some(2))]);
        let out = evaluate(std::slice::from_ref(&limited), &c, &lines[..1]);
        assert_eq!(out.applied[0].applications, 2);
        assert_eq!(out.lines[0][0].amount, -200);
        assert_eq!(out.lines[0][0].code, "TWO");
        let used_up = cart(vec![code(&limited, "TWO", Some(0))]);
        let out = evaluate(&[limited], &used_up, &lines[..1]);
        assert!(out.applied.is_empty());
        assert_eq!(codes_not_applied(&used_up, &out).len(), 1);
    }

    #[test]
    fn nothing_goes_below_zero_whatever_stacks() {
        let lines = vec![line("apple", 333, 3), line("pear", 1, 1)];
        let promos: Vec<Arc<Compiled>> = (1..=6)
            .map(|n| {
                let rs = if n % 2 == 0 {
                    json!({"actions": [{"strategy": "item_discount", "args": ["percent", 90]}]})
                } else {
                    json!({"currencies": ["USD"], "actions": [{"strategy": "cart_discount", "args": ["fixed", 400]}]})
                };
                promo(n, json!({}), rs)
            })
            .collect();
        let (per_line, carts) = run(promos, &cart(vec![]), &lines);
        let total: i64 = per_line.iter().sum::<i64>() + carts.iter().sum::<i64>();
        assert!(total >= -1000, "{total}");
        assert!(per_line[0] >= -999 && per_line[1] >= -1);
    }
}
