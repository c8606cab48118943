//! Custom discounts (`/v2/carts/{id}/custom-discounts`, `…/items/{itemID}/custom-discounts`):
//! discounts an outside engine decided, set on a cart or one of its lines by an admin. Here: what
//! one is ([`CustomDiscount`]), how a body is read ([`parse`]), whether an add fits the cart
//! ([`plan`]) and what they take off a cart ([`apply`], run by the pricing pipeline's custom
//! discounts stage, [`crate::cart_pricing`]).
//!
//! A cart uses custom discounts **or** rule promotions, never both (Elastic Path's rule): while its
//! `discount_settings.custom_discounts_enabled` is true its custom discounts count and no
//! promotion is evaluated; otherwise its custom discounts are kept but count for nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::FieldError;
use crate::cart_totals::MAX_AMOUNT;
use crate::promotion_rules::{CustomInfo, Discount, Outcome};
use crate::time::Millis;

/// At most this many custom discounts on the cart itself (Elastic Path's default limit)…
pub const MAX_PER_CART: usize = 5;
/// …and on each of its lines.
pub const MAX_PER_ITEM: usize = 5;
/// The longest `external_id`, `discount_engine`, `discount_code`.
pub const MAX_TEXT: usize = 255;
/// The longest `description`.
pub const MAX_DESCRIPTION: usize = 1024;

/// A custom discount on a cart (`item_id: None`) or on one of its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomDiscount {
    pub id: Uuid,
    pub cart_id: String,
    pub item_id: Option<Uuid>,
    pub external_id: String,
    pub discount_engine: String,
    pub description: String,
    pub discount_code: String,
    /// Negative, in minor units of the cart's currency (the line's price basis for a line's).
    pub amount: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The fields a body gives (over the discount it updates, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub external_id: String,
    pub discount_engine: String,
    pub description: String,
    pub discount_code: String,
    pub amount: i64,
}

impl Fields {
    pub fn into_discount(self, cart_id: &str, item_id: Option<Uuid>, now: Millis) -> CustomDiscount {
        CustomDiscount {
            id: crate::ids::new_id(),
            cart_id: cart_id.to_owned(),
            item_id,
            external_id: self.external_id,
            discount_engine: self.discount_engine,
            description: self.description,
            discount_code: self.discount_code,
            amount: self.amount,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Reads a custom discount body (the object under `data`, or one element of a bulk `data`)
/// over `base` (the discount an update changes; `None` for an add, where every field is
/// required). `currency` is the cart's: an `amount` object naming another is refused. Every
/// problem is reported, each named under `prefix`.
pub fn parse(
    raw: &Value,
    prefix: &str,
    base: Option<&CustomDiscount>,
    currency: Option<&str>,
) -> Result<Fields, Vec<FieldError>> {
    let mut problems = Vec::new();
    // A bare body (no `data` around it) names its fields alone.
    let src = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let Some(obj) = raw.as_object() else {
        return Err(vec![FieldError::new(
            if prefix.is_empty() { "data" } else { prefix },
            "type",
            "A custom discount must be an object",
        )]);
    };
    match obj.get("type") {
        Some(Value::String(t)) if t == "custom_discount" => {}
        None if base.is_some() => {}
        None => problems.push(FieldError::new(src("type"), "required", "type is required")),
        Some(_) => problems.push(FieldError::new(
            src("type"),
            "invalid",
            "type must be custom_discount",
        )),
    }
    let mut text = |name: &str, max: usize, current: Option<&String>| -> String {
        match obj.get(name) {
            None | Some(Value::Null) => match current {
                Some(c) => c.clone(),
                None => {
                    problems.push(FieldError::new(
                        src(name),
                        "required",
                        format!("{name} is required"),
                    ));
                    String::new()
                }
            },
            Some(Value::String(s)) if s.trim().is_empty() => {
                problems.push(FieldError::new(
                    src(name),
                    "min_length",
                    format!("{name} must not be empty"),
                ));
                String::new()
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                problems.push(FieldError::new(
                    src(name),
                    "max_length",
                    format!("{name} must be at most {max} characters"),
                ));
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                problems.push(FieldError::new(
                    src(name),
                    "type",
                    format!("{name} must be a string"),
                ));
                String::new()
            }
        }
    };
    let external_id = text("external_id", MAX_TEXT, base.map(|b| &b.external_id));
    let discount_engine = text("discount_engine", MAX_TEXT, base.map(|b| &b.discount_engine));
    let description = text("description", MAX_DESCRIPTION, base.map(|b| &b.description));
    let discount_code = text("discount_code", MAX_TEXT, base.map(|b| &b.discount_code));
    let amount = match obj.get("amount") {
        None | Some(Value::Null) => match base {
            Some(b) => Some(b.amount),
            None => {
                problems.push(FieldError::new(src("amount"), "required", "amount is required"));
                None
            }
        },
        Some(Value::Object(m)) => {
            if let Some(c) = m.get("currency") {
                match (c.as_str(), currency) {
                    (Some(c), Some(cart)) if c.eq_ignore_ascii_case(cart) => {}
                    (Some(_), Some(cart)) => problems.push(FieldError::new(
                        src("amount.currency"),
                        "invalid",
                        format!("amount.currency must be the cart's currency, {cart}"),
                    )),
                    (Some(_), None) => {}
                    (None, _) => problems.push(FieldError::new(
                        src("amount.currency"),
                        "type",
                        "amount.currency must be a string",
                    )),
                }
            }
            amount_of(m.get("amount"), &src("amount.amount"), &mut problems)
        }
        Some(v) => amount_of(Some(v), &src("amount"), &mut problems),
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Fields {
        external_id,
        discount_engine,
        description,
        discount_code,
        amount: amount.unwrap_or(0),
    })
}

/// A discount amount: a whole number of minor units below zero, no larger than [`MAX_AMOUNT`].
fn amount_of(v: Option<&Value>, source: &str, problems: &mut Vec<FieldError>) -> Option<i64> {
    let field = source.rsplit('.').next().unwrap_or(source);
    let Some(v) = v.filter(|v| !v.is_null()) else {
        problems.push(FieldError::new(
            source,
            "required",
            format!("{field} is required"),
        ));
        return None;
    };
    match v.as_i64() {
        Some(a) if a >= 0 => problems.push(FieldError::new(
            source,
            "number_lt",
            "amount must be less than zero (a discount, in minor units)",
        )),
        Some(a) if a < -MAX_AMOUNT => problems.push(FieldError::new(
            source,
            "number_gte",
            format!("amount must be at least -{MAX_AMOUNT} (minor units)"),
        )),
        Some(a) => return Some(a),
        None => problems.push(FieldError::new(
            source,
            "type",
            "amount must be an integer in minor units",
        )),
    }
    None
}

/// Why one custom discount was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The cart's `custom_discounts_enabled` is false.
    NotEnabled,
    /// The cart has no line.
    EmptyCart,
    /// The cart has no line with the discount's `item_id`.
    UnknownItem,
    /// The cart already has [`MAX_PER_CART`] discounts of its own.
    CartLimit,
    /// The line already has [`MAX_PER_ITEM`] discounts.
    ItemLimit,
}

/// Decides an add on the cart as it is (inside the writing transaction): whether the cart takes
/// custom discounts, its lines' ids and the custom discounts it has. Each new one is checked in
/// order, counting those accepted before it. Answers the outcomes in order and whether to
/// write the accepted ones: not when none is, nor, with `all_or_nothing`, when one is refused.
pub fn plan(
    new: Vec<CustomDiscount>,
    enabled: bool,
    line_ids: &[Uuid],
    existing: &[CustomDiscount],
    all_or_nothing: bool,
) -> (Vec<Result<CustomDiscount, Refusal>>, bool) {
    let mut on_cart = existing.iter().filter(|d| d.item_id.is_none()).count();
    let mut on_item: std::collections::HashMap<Uuid, usize> = std::collections::HashMap::new();
    for d in existing {
        if let Some(item) = d.item_id {
            *on_item.entry(item).or_default() += 1;
        }
    }
    let outcomes: Vec<_> = new
        .into_iter()
        .map(|d| {
            if !enabled {
                return Err(Refusal::NotEnabled);
            }
            if line_ids.is_empty() {
                return Err(Refusal::EmptyCart);
            }
            match d.item_id {
                None if on_cart >= MAX_PER_CART => Err(Refusal::CartLimit),
                None => {
                    on_cart += 1;
                    Ok(d)
                }
                Some(item) if !line_ids.contains(&item) => Err(Refusal::UnknownItem),
                Some(item) => {
                    let n = on_item.entry(item).or_default();
                    if *n >= MAX_PER_ITEM {
                        Err(Refusal::ItemLimit)
                    } else {
                        *n += 1;
                        Ok(d)
                    }
                }
            }
        })
        .collect();
    let refused = outcomes.iter().any(Result::is_err);
    let write = !(all_or_nothing && refused) && outcomes.iter().any(Result::is_ok);
    (outcomes, write)
}

/// The [`Discount`] a custom discount gives (what the cart shows and an order keeps).
pub fn as_discount(d: &CustomDiscount, amount: i64) -> Discount {
    Discount {
        promotion_id: d.id,
        code: d.discount_code.clone(),
        amount,
        custom: Some(Box::new(CustomInfo {
            external_id: d.external_id.clone(),
            discount_engine: d.discount_engine.clone(),
            description: d.description.clone(),
        })),
    }
}

/// What the custom discounts take off: a line's on its line (`values[i]` is line `i`'s value
/// in its price basis after the discounts so far, `line_ids[i]` its id), then the cart's, each
/// in the order given and capped so that no line and not the cart goes below zero
/// (`cart_taken` is what cart discounts took before, positive). Adds them to `out` (whose
/// `lines` has one entry per line) and answers each line's and the cart's amounts.
pub fn apply(
    discounts: &[CustomDiscount],
    line_ids: &[Uuid],
    values: &mut [i64],
    cart_taken: i64,
    out: &mut Outcome,
) {
    if out.lines.len() < line_ids.len() {
        out.lines.resize(line_ids.len(), Vec::new());
    }
    for d in discounts.iter().filter(|d| d.item_id.is_some()) {
        let Some(i) = line_ids.iter().position(|id| Some(*id) == d.item_id) else {
            continue;
        };
        let take = d.amount.min(0).max(-values[i].max(0));
        if take != 0 {
            values[i] += take;
            out.lines[i].push(as_discount(d, take));
        }
    }
    let mut left = (values.iter().map(|v| (*v).max(0)).sum::<i64>() - cart_taken).max(0);
    for d in discounts.iter().filter(|d| d.item_id.is_none()) {
        let take = d.amount.min(0).max(-left);
        if take != 0 {
            left += take;
            out.cart.push(as_discount(d, take));
        }
    }
}

/// Custom discounts as one JSON array (PostgreSQL's `json_agg` of their columns); a value that
/// does not parse (never written by kassa) reads as none.
pub fn from_json(stored: Option<&str>) -> Vec<CustomDiscount> {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"type": "custom_discount", "external_id": "ext-1", "discount_engine": "Talon.one",
               "description": "Loyalty", "discount_code": "LOYAL", "amount": -500})
    }

    fn sources(r: Result<Fields, Vec<FieldError>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.source)
            .collect()
    }

    #[test]
    fn a_good_body_reads_and_every_bad_field_is_named() {
        let f = parse(&good(), "data", None, Some("USD")).unwrap();
        assert_eq!((f.amount, f.discount_code.as_str()), (-500, "LOYAL"));
        let with = |k: &str, v: Value| {
            let mut b = good();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = good();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        // (body, currency, the sources named)
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (with("amount", json!(0)), vec!["data.amount"]),
            (with("amount", json!(100)), vec!["data.amount"]),
            (with("amount", json!(-1.5)), vec!["data.amount"]),
            (with("amount", json!("-100")), vec!["data.amount"]),
            (with("amount", json!(-MAX_AMOUNT - 1)), vec!["data.amount"]),
            (
                with("amount", json!({"amount": -100, "currency": "EUR"})),
                vec!["data.amount.currency"],
            ),
            (
                with("amount", json!({"currency": "USD"})),
                vec!["data.amount.amount"],
            ),
            (with("type", json!("tax_item")), vec!["data.type"]),
            (without("type"), vec!["data.type"]),
            (without("external_id"), vec!["data.external_id"]),
            (with("discount_engine", json!("")), vec!["data.discount_engine"]),
            (with("discount_code", json!(7)), vec!["data.discount_code"]),
            (
                with("description", json!("x".repeat(MAX_DESCRIPTION + 1))),
                vec!["data.description"],
            ),
            (
                json!({"type": "custom_discount"}),
                vec![
                    "data.external_id",
                    "data.discount_engine",
                    "data.description",
                    "data.discount_code",
                    "data.amount",
                ],
            ),
            (json!([]), vec!["data"]),
        ];
        for (body, want) in cases {
            assert_eq!(sources(parse(&body, "data", None, Some("USD"))), want, "{body}");
        }
        let amount = parse(
            &with(
                "amount",
                json!({"amount": -250, "currency": "usd", "formatted": "-$2.50"}),
            ),
            "data",
            None,
            Some("USD"),
        );
        assert_eq!(amount.unwrap().amount, -250);
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let base = parse(&good(), "data", None, None)
            .unwrap()
            .into_discount("c", None, 1);
        let f = parse(&json!({"amount": -900}), "data", Some(&base), Some("USD")).unwrap();
        assert_eq!(
            (f.amount, f.external_id.as_str(), f.description.as_str()),
            (-900, "ext-1", "Loyalty")
        );
        assert_eq!(
            sources(parse(
                &json!({"type": "x", "amount": 5}),
                "data",
                Some(&base),
                None
            )),
            ["data.type", "data.amount"]
        );
    }

    fn discount(n: u128, item: Option<Uuid>, amount: i64) -> CustomDiscount {
        CustomDiscount {
            id: Uuid::from_u128(n),
            cart_id: "c".into(),
            item_id: item,
            external_id: "e".into(),
            discount_engine: "x".into(),
            description: "d".into(),
            discount_code: format!("code{n}"),
            amount,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn plan_counts_the_limits_per_cart_and_per_line() {
        let a = Uuid::from_u128(100);
        let b = Uuid::from_u128(200);
        let lines = [a, b];
        let five_on_a: Vec<_> = (0..5).map(|n| discount(n, Some(a), -1)).collect();
        let four_on_cart: Vec<_> = (0..4).map(|n| discount(n, None, -1)).collect();
        use Refusal::*;
        struct Case<'a> {
            enabled: bool,
            lines: &'a [Uuid],
            existing: Vec<CustomDiscount>,
            new_items: Vec<Option<Uuid>>,
            all_or_nothing: bool,
            want: Vec<Option<Refusal>>,
            want_write: bool,
        }
        let case = |enabled, lines, existing, new_items, all_or_nothing, want, want_write| Case {
            enabled,
            lines,
            existing,
            new_items,
            all_or_nothing,
            want,
            want_write,
        };
        // (enabled, lines, existing, new (item), all or nothing) → outcomes, write
        let cases = vec![
            case(
                true,
                &lines,
                vec![],
                vec![None, Some(a)],
                false,
                vec![None, None],
                true,
            ),
            case(
                false,
                &lines,
                vec![],
                vec![None],
                false,
                vec![Some(NotEnabled)],
                false,
            ),
            case(true, &[], vec![], vec![None], false, vec![Some(EmptyCart)], false),
            case(
                true,
                &lines,
                vec![],
                vec![Some(Uuid::from_u128(9))],
                false,
                vec![Some(UnknownItem)],
                false,
            ),
            case(
                true,
                &lines,
                four_on_cart.clone(),
                vec![None, None],
                false,
                vec![None, Some(CartLimit)],
                true,
            ),
            case(
                true,
                &lines,
                four_on_cart,
                vec![None, None],
                true,
                vec![None, Some(CartLimit)],
                false,
            ),
            case(
                true,
                &lines,
                five_on_a,
                vec![Some(a), Some(b), None],
                false,
                vec![Some(ItemLimit), None, None],
                true,
            ),
        ];
        for Case {
            enabled,
            lines,
            existing,
            new_items,
            all_or_nothing: all,
            want,
            want_write,
        } in cases
        {
            let new = new_items
                .into_iter()
                .enumerate()
                .map(|(n, item)| discount(50 + n as u128, item, -1))
                .collect();
            let (outcomes, write) = plan(new, enabled, lines, &existing, all);
            let got: Vec<Option<Refusal>> = outcomes.iter().map(|o| o.as_ref().err().copied()).collect();
            assert_eq!((got, write), (want, want_write));
        }
    }

    #[test]
    fn apply_never_takes_a_line_or_the_cart_below_zero() {
        let a = Uuid::from_u128(100);
        let b = Uuid::from_u128(200);
        // (discounts, line values, cart taken before) → (line discounts, cart discounts)
        type Case = (Vec<CustomDiscount>, Vec<i64>, i64, Vec<Vec<i64>>, Vec<i64>);
        let cases: Vec<Case> = vec![
            (
                vec![discount(1, Some(a), -300)],
                vec![1000, 500],
                0,
                vec![vec![-300], vec![]],
                vec![],
            ),
            (
                vec![discount(1, Some(b), -800)],
                vec![1000, 500],
                0,
                vec![vec![], vec![-500]],
                vec![],
            ),
            (
                vec![discount(1, Some(a), -600), discount(2, Some(a), -600)],
                vec![1000, 500],
                0,
                vec![vec![-600, -400], vec![]],
                vec![],
            ),
            (
                vec![discount(1, None, -200)],
                vec![1000, 500],
                0,
                vec![vec![], vec![]],
                vec![-200],
            ),
            (
                vec![discount(1, None, -1000), discount(2, None, -1000)],
                vec![1000, 500],
                0,
                vec![vec![], vec![]],
                vec![-1000, -500],
            ),
            // a line's discounts come first, then the cart's on what they left
            (
                vec![discount(1, None, -2000), discount(2, Some(a), -400)],
                vec![1000, 500],
                0,
                vec![vec![-400], vec![]],
                vec![-1100],
            ),
            (
                vec![discount(1, None, -500)],
                vec![1000, 500],
                1200,
                vec![vec![], vec![]],
                vec![-300],
            ),
            (
                vec![discount(1, None, -500)],
                vec![0, -200],
                0,
                vec![vec![], vec![]],
                vec![],
            ),
            (
                vec![discount(1, Some(Uuid::from_u128(7)), -500)],
                vec![1000, 500],
                0,
                vec![vec![], vec![]],
                vec![],
            ),
        ];
        for (discounts, mut values, taken, want_lines, want_cart) in cases {
            let mut out = Outcome::default();
            apply(&discounts, &[a, b], &mut values, taken, &mut out);
            let lines: Vec<Vec<i64>> = out
                .lines
                .iter()
                .map(|l| l.iter().map(|d| d.amount).collect())
                .collect();
            let cart: Vec<i64> = out.cart.iter().map(|d| d.amount).collect();
            assert_eq!((lines, cart), (want_lines, want_cart), "{discounts:?}");
            assert!(
                out.lines
                    .iter()
                    .flatten()
                    .chain(&out.cart)
                    .all(|d| d.custom.is_some())
            );
        }
    }

    #[test]
    fn stored_json_reads_back() {
        let d = discount(1, Some(Uuid::from_u128(2)), -10);
        let json = serde_json::to_string(&vec![d.clone()]).unwrap();
        assert_eq!(from_json(Some(&json)), vec![d]);
        assert!(from_json(Some("nope")).is_empty());
        assert!(from_json(None).is_empty());
    }
}
