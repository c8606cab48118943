//! What a cart or an order costs: one pipeline of named stages, run on every cart read, at
//! checkout and on every order read.
//!
//! ```text
//! line prices → line adjustments → custom discounts → cart adjustments → tax → totals
//! ```
//!
//! - **line prices**: each line's unit price and quantity as kept (a product line's price was
//!   resolved from the catalog, tiers included, when it was added or re-priced at checkout).
//! - **line adjustments**: discounts on one line: the rule promotions' item and bundle discounts
//!   ([`crate::promotion_rules::evaluate`], run once here for the whole cart), or an order's kept
//!   line discounts.
//! - **custom discounts**: a cart's custom discounts (those of its lines, then its own), when
//!   the cart uses them instead of promotions ([`crate::custom_discounts::apply`]).
//! - **cart adjustments**: discounts on the whole cart: the promotions' and custom discounts' cart
//!   discounts (or an order's kept ones).
//! - **tax**: the tax items set on each line.
//! - **totals**: [`crate::cart_totals::cart_totals`], with the store's calculation method.
//!
//! A stage is a function over the [`Pricing`] in progress, listed once in [`STAGES`]; adding a
//! promotion or a bundle is a new stage there, not an edit in each handler or store.

use std::sync::Arc;

use crate::Error;
use crate::cart_totals::{CalculationMethod, CartLine, CartTotals, TaxItem, cart_totals};
use crate::carts::{CartItem, CartTaxItem, taxes_by_item};
use crate::custom_discounts::CustomDiscount;
use crate::orders::{OrderItem, PlacedOrder};
use crate::promotion_rules::{CartFacts, LineFacts, Outcome, evaluate};
use crate::promotions::Compiled;

/// A cart (or order) being priced: its lines, in order, with what the stages so far decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub method: CalculationMethod,
    pub lines: Vec<CartLine>,
    /// The tax items of each line (by position), applied by the tax stage.
    pub line_taxes: Vec<Vec<TaxItem>>,
    /// Discounts on the whole cart, each negative (the cart adjustments stage).
    pub cart_discounts: Vec<i64>,
    /// The promotions to evaluate, taken by the line adjustments stage; `None` for an order,
    /// which keeps the discounts it was placed with.
    pub promotions: Option<Promotions>,
    /// The custom discounts to apply, taken by the custom discounts stage; `None` for an order
    /// and for a cart that uses promotions.
    pub custom: Option<Custom>,
    /// What the promotions and custom discounts took off (filled by the line adjustments and
    /// custom discounts stages).
    pub outcome: Outcome,
}

/// What the custom discounts stage needs: the cart's custom discounts and each line's id (by
/// position), which a line's discount names.
#[derive(Debug, Clone, PartialEq)]
pub struct Custom {
    pub discounts: Vec<CustomDiscount>,
    pub line_ids: Vec<uuid::Uuid>,
}

/// What the promotion stages need: the live promotions in evaluation order, and the cart's and
/// each line's facts (by position).
#[derive(Debug, Clone, PartialEq)]
pub struct Promotions {
    pub list: Arc<Vec<Arc<Compiled>>>,
    pub cart: CartFacts,
    pub lines: Vec<LineFacts>,
}

/// One stage of the pipeline: a name (for documentation and tests) and what it does.
pub type Stage = (&'static str, fn(&mut Pricing));

/// The stages between the line prices and the totals, in order.
pub const STAGES: &[Stage] = &[
    ("line adjustments", line_adjustments),
    ("custom discounts", custom_discounts),
    ("cart adjustments", cart_adjustments),
    ("tax", tax),
];

/// One line's price as kept: `(unit amount, quantity, tax included)`, its tax items and the
/// line discounts it keeps (an order's; a cart's come from the promotions).
pub struct LinePrice {
    pub unit_amount: i64,
    pub quantity: i64,
    pub includes_tax: bool,
    pub taxes: Vec<TaxItem>,
    pub discounts: Vec<i64>,
}

/// The line prices stage: lines as the totals see them, untaxed and undiscounted. A negative
/// quantity (never kept, but not this stage's to trust) counts as none.
pub fn line_prices(lines: Vec<LinePrice>, method: CalculationMethod) -> Pricing {
    let (lines, line_taxes) = lines
        .into_iter()
        .map(|l| {
            let line = CartLine {
                unit_amount: l.unit_amount,
                quantity: l.quantity.max(0) as u64,
                includes_tax: l.includes_tax,
                tax_items: Vec::new(),
                discounts: l.discounts,
            };
            (line, l.taxes)
        })
        .unzip();
    Pricing {
        method,
        lines,
        line_taxes,
        cart_discounts: Vec::new(),
        promotions: None,
        custom: None,
        outcome: Outcome::default(),
    }
}

/// Discounts on single lines: evaluates the promotions (once, for the whole cart) and puts each
/// item or bundle discount on its line. Without promotions (an order) nothing changes.
pub fn line_adjustments(pricing: &mut Pricing) {
    let Some(p) = pricing.promotions.take() else {
        return;
    };
    let outcome = evaluate(&p.list, &p.cart, &p.lines);
    for (line, discounts) in pricing.lines.iter_mut().zip(&outcome.lines) {
        line.discounts.extend(discounts.iter().map(|d| d.amount));
    }
    pricing.outcome = outcome;
}

/// A cart's custom discounts: each line's on what the line is worth after its other discounts,
/// then the cart's on what is left of the cart, none taking a line or the cart below zero.
/// Without custom discounts (an order, a cart that uses promotions) nothing changes.
pub fn custom_discounts(pricing: &mut Pricing) {
    let Some(custom) = pricing.custom.take() else {
        return;
    };
    let mut values: Vec<i64> = pricing
        .lines
        .iter()
        .map(|l| {
            let quantity = i64::try_from(l.quantity).unwrap_or(i64::MAX);
            l.unit_amount
                .saturating_mul(quantity)
                .saturating_add(l.discounts.iter().fold(0_i64, |a, d| a.saturating_add(*d)))
        })
        .collect();
    let cart_taken = -pricing.outcome.cart.iter().map(|d| d.amount).sum::<i64>();
    let out = &mut pricing.outcome;
    if out.lines.len() < pricing.lines.len() {
        out.lines.resize(pricing.lines.len(), Vec::new());
    }
    let before: Vec<usize> = out.lines.iter().map(Vec::len).collect();
    crate::custom_discounts::apply(&custom.discounts, &custom.line_ids, &mut values, cart_taken, out);
    for ((line, found), from) in pricing.lines.iter_mut().zip(&out.lines).zip(before) {
        line.discounts.extend(found[from..].iter().map(|d| d.amount));
    }
}

/// Discounts on the whole cart: the promotions' and custom discounts' cart discounts, in the
/// order they applied.
pub fn cart_adjustments(pricing: &mut Pricing) {
    let found: Vec<i64> = pricing.outcome.cart.iter().map(|d| d.amount).collect();
    pricing.cart_discounts.extend(found);
}

/// Each line's tax items, as set on the cart (an order keeps them with its items).
pub fn tax(pricing: &mut Pricing) {
    for (line, taxes) in pricing.lines.iter_mut().zip(pricing.line_taxes.iter_mut()) {
        line.tax_items = std::mem::take(taxes);
    }
}

/// The totals stage: every figure of `meta.display_price`, or a 400 when the amounts cannot be
/// totalled (the cart size limits keep a cart from getting there).
pub fn totals(pricing: &Pricing) -> crate::Result<CartTotals> {
    cart_totals(&pricing.lines, &pricing.cart_discounts, pricing.method)
        .map_err(|e| Error::bad_request("Bad Request", format!("The cart cannot be totalled: {e}")))
}

/// The whole pipeline over lines given by their prices.
pub fn price(lines: Vec<LinePrice>, method: CalculationMethod) -> crate::Result<CartTotals> {
    price_with(lines, Vec::new(), None, None, method).map(|(t, _)| t)
}

/// The whole pipeline with kept cart discounts (an order's), or promotions to evaluate or custom
/// discounts to apply (a cart's): the totals and what the promotions or custom discounts took
/// off.
pub fn price_with(
    lines: Vec<LinePrice>,
    kept_cart_discounts: Vec<i64>,
    promotions: Option<Promotions>,
    custom: Option<Custom>,
    method: CalculationMethod,
) -> crate::Result<(CartTotals, Outcome)> {
    let mut pricing = line_prices(lines, method);
    pricing.cart_discounts = kept_cart_discounts;
    pricing.promotions = promotions;
    pricing.custom = custom;
    for (_, stage) in STAGES {
        stage(&mut pricing);
    }
    Ok((totals(&pricing)?, pricing.outcome))
}

/// What a cart's lines cost, with the cart's tax items (all of them, grouped here in one pass).
pub fn price_cart(
    lines: &[CartItem],
    taxes: &[CartTaxItem],
    method: CalculationMethod,
) -> crate::Result<CartTotals> {
    price_promoted_cart(lines, taxes, None, &[], method).map(|(t, _)| t)
}

/// [`price_cart`] with the cart's promotions evaluated, or its custom discounts applied (a cart
/// with custom discounts has no promotions to evaluate: `promotions` is then `None`): the totals
/// and what each promotion or custom discount took.
pub fn price_promoted_cart(
    lines: &[CartItem],
    taxes: &[CartTaxItem],
    promotions: Option<Promotions>,
    custom: &[CustomDiscount],
    method: CalculationMethod,
) -> crate::Result<(CartTotals, Outcome)> {
    let by_item = taxes_by_item(taxes);
    let custom = custom_of(lines_ids(lines), custom);
    let lines = lines
        .iter()
        .map(|i| LinePrice {
            unit_amount: i.unit_amount,
            quantity: i.quantity,
            includes_tax: i.includes_tax,
            taxes: by_item
                .get(&i.id)
                .map(|t| t.iter().map(|t| t.on_line(i.bundle.as_ref())).collect())
                .unwrap_or_default(),
            discounts: Vec::new(),
        })
        .collect();
    price_with(lines, Vec::new(), promotions, custom, method)
}

fn lines_ids(lines: &[CartItem]) -> Vec<uuid::Uuid> {
    lines.iter().map(|l| l.id).collect()
}

fn custom_of(line_ids: Vec<uuid::Uuid>, custom: &[CustomDiscount]) -> Option<Custom> {
    (!custom.is_empty()).then(|| Custom {
        discounts: custom.to_vec(),
        line_ids,
    })
}

/// What a cart's custom discounts take off its lines as they are (checkout, on the lines as
/// re-priced), as the custom discounts stage decides it.
pub fn custom_outcome(lines: &[CartItem], custom: &[CustomDiscount]) -> Outcome {
    let prices = lines
        .iter()
        .map(|i| LinePrice {
            unit_amount: i.unit_amount,
            quantity: i.quantity,
            includes_tax: i.includes_tax,
            taxes: Vec::new(),
            discounts: Vec::new(),
        })
        .collect();
    let mut pricing = line_prices(prices, CalculationMethod::Line);
    pricing.custom = custom_of(lines_ids(lines), custom);
    custom_discounts(&mut pricing);
    pricing.outcome
}

/// What an order's items cost, by the calculation method it was placed with: the figures it was
/// placed with, computed again from the discounts it kept (nothing derived is stored but the
/// order's own totals).
pub fn price_order(order: &PlacedOrder, items: &[OrderItem]) -> crate::Result<CartTotals> {
    price_items(items, &order.discounts, order.calculation_method)
}

/// [`price_order`] before the order exists (checkout).
pub fn price_items(
    items: &[OrderItem],
    cart_discounts: &[crate::promotion_rules::Discount],
    method: CalculationMethod,
) -> crate::Result<CartTotals> {
    let lines = items
        .iter()
        .map(|i| LinePrice {
            unit_amount: i.unit_amount,
            quantity: i.quantity,
            includes_tax: i.includes_tax,
            taxes: i.taxes.iter().map(|t| t.on_line(i.bundle.as_ref())).collect(),
            discounts: i.discounts.iter().map(|d| d.amount).collect(),
        })
        .collect();
    let kept = cart_discounts.iter().map(|d| d.amount).collect();
    price_with(lines, kept, None, None, method).map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart_totals::TaxRate;

    fn rate(ppm: u32) -> TaxItem {
        TaxItem::Rate(TaxRate::from_ppm(ppm))
    }

    fn line(unit_amount: i64, quantity: i64, includes_tax: bool, taxes: Vec<TaxItem>) -> LinePrice {
        LinePrice {
            unit_amount,
            quantity,
            includes_tax,
            taxes,
            discounts: Vec::new(),
        }
    }

    #[test]
    fn the_stages_run_in_their_documented_order() {
        let names: Vec<&str> = STAGES.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["line adjustments", "custom discounts", "cart adjustments", "tax"]
        );
    }

    #[test]
    fn line_prices_keep_each_price_and_count_no_negative_quantity() {
        // (unit, quantity, includes tax) → (unit, quantity as priced)
        let cases = [
            ((1000, 2, false), (1000, 2)),
            ((1000, 0, true), (1000, 0)),
            ((-500, 1, false), (-500, 1)),
            ((1000, -3, false), (1000, 0)),
        ];
        for ((unit, quantity, includes_tax), (want_unit, want_quantity)) in cases {
            let pricing = line_prices(
                vec![line(unit, quantity, includes_tax, vec![rate(100_000)])],
                CalculationMethod::Line,
            );
            let priced = &pricing.lines[0];
            assert_eq!(
                (priced.unit_amount, priced.quantity, priced.includes_tax),
                (want_unit, want_quantity, includes_tax)
            );
            assert!(priced.tax_items.is_empty(), "no tax before the tax stage");
            assert_eq!(pricing.line_taxes, vec![vec![rate(100_000)]]);
        }
    }

    #[test]
    fn the_promotions_are_evaluated_once_and_land_on_lines_and_cart() {
        use crate::promotions::{compile, parse_promotion};
        use serde_json::json;
        let promo = |n: u128, rule_set| {
            let body = json!({"data": {"type": "rule_promotion", "name": "p", "enabled": true, "automatic": true, "rule_set": rule_set}});
            Arc::new(
                compile(&parse_promotion(&body, None, uuid::Uuid::from_u128(n), n as i64).unwrap()).unwrap(),
            )
        };
        let list = vec![
            promo(
                2,
                json!({"actions": [{"strategy": "item_discount", "args": ["percent", 50],
                "condition": {"strategy": "item_sku", "operator": "in", "args": ["a"]}}]}),
            ),
            promo(
                1,
                json!({"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}),
            ),
        ];
        let facts = |sku: &str, unit, quantity| LineFacts {
            sku: Some(sku.into()),
            unit_amount: unit,
            quantity,
            ..LineFacts::default()
        };
        let promotions = Promotions {
            list: Arc::new(list),
            cart: CartFacts {
                currency: "USD".into(),
                custom_attributes: json!({}),
                account_tags: vec![],
                codes: vec![],
                now: 0,
            },
            lines: vec![facts("a", 1000, 2), facts("b", 500, 1)],
        };
        let lines = vec![
            line(1000, 2, false, vec![rate(100_000)]),
            line(500, 1, false, vec![]),
        ];
        // a: 2000 − 1000 (item) − 100 (its share of the 150 cart discount); b: 500 − 50.
        let (t, outcome) =
            price_with(lines, vec![], Some(promotions), None, CalculationMethod::Line).unwrap();
        assert_eq!(outcome.applied.len(), 2);
        assert_eq!(
            (t.without_tax, t.discount, t.tax, t.with_tax),
            (1350, -1150, 90, 1440)
        );
        assert_eq!(t.lines[0].value.discount, -1100);
    }

    #[test]
    fn custom_discounts_are_priced_on_lines_and_cart_and_taxed_after() {
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let custom = |item: Option<uuid::Uuid>, amount: i64| CustomDiscount {
            id: uuid::Uuid::from_u128(amount.unsigned_abs() as u128),
            cart_id: "c".into(),
            item_id: item,
            external_id: "e".into(),
            discount_engine: "x".into(),
            description: "d".into(),
            discount_code: "C".into(),
            amount,
            created_at: 0,
            updated_at: 0,
        };
        // (discounts, method) → (without tax, discount, tax, with tax, line a's discount)
        // a: 2 × 1000 at 10 %, b: 500 untaxed.
        let cases = [
            (
                vec![custom(Some(a), -500)],
                CalculationMethod::Line,
                (2000, -500, 150, 2150, -500),
            ),
            // the cart's 250 is spread 1500:500 after a's own 500
            (
                vec![custom(None, -250), custom(Some(a), -500)],
                CalculationMethod::Line,
                (1750, -750, 131, 1881, -687),
            ),
            // never below zero: a's is capped at 2000, the cart's at what is left (500)
            (
                vec![custom(Some(a), -9000), custom(None, -9000)],
                CalculationMethod::Line,
                (0, -2500, 0, 0, -2000),
            ),
            // with the simple method the cart's comes off after tax
            (
                vec![custom(None, -300)],
                CalculationMethod::Simple,
                (2200, -300, 200, 2400, 0),
            ),
            (vec![], CalculationMethod::Line, (2500, 0, 200, 2700, 0)),
        ];
        for (discounts, method, (without_tax, discount, tax, with_tax, a_discount)) in cases {
            let lines = vec![
                line(1000, 2, false, vec![rate(100_000)]),
                line(500, 1, false, vec![]),
            ];
            let custom = custom_of(vec![a, b], &discounts);
            let (t, outcome) = price_with(lines, vec![], None, custom, method).unwrap();
            assert_eq!(
                (
                    t.without_tax,
                    t.discount,
                    t.tax,
                    t.with_tax,
                    t.lines[0].value.discount
                ),
                (without_tax, discount, tax, with_tax, a_discount),
                "{discounts:?}"
            );
            assert!(outcome.applied.is_empty());
        }
    }

    #[test]
    fn adjustments_change_nothing_without_promotions() {
        let start = line_prices(
            vec![line(1000, 2, false, vec![]), line(250, 1, true, vec![])],
            CalculationMethod::Simple,
        );
        for stage in [line_adjustments, custom_discounts, cart_adjustments] {
            let mut pricing = start.clone();
            stage(&mut pricing);
            assert_eq!(pricing, start);
        }
    }

    #[test]
    fn tax_applies_each_lines_own_items() {
        let cases = [
            (vec![vec![]], vec![vec![]]),
            (
                vec![vec![rate(80_000)], vec![TaxItem::Amount(30)]],
                vec![vec![rate(80_000)], vec![TaxItem::Amount(30)]],
            ),
            (
                vec![vec![rate(50_000), TaxItem::Amount(5)], vec![]],
                vec![vec![rate(50_000), TaxItem::Amount(5)], vec![]],
            ),
        ];
        for (given, want) in cases {
            let lines = given
                .iter()
                .map(|taxes| line(1000, 1, false, taxes.clone()))
                .collect();
            let mut pricing = line_prices(lines, CalculationMethod::Line);
            tax(&mut pricing);
            let applied: Vec<Vec<TaxItem>> = pricing.lines.iter().map(|l| l.tax_items.clone()).collect();
            assert_eq!(applied, want);
        }
    }

    #[test]
    fn totals_are_the_cart_totals_of_the_priced_lines() {
        // (lines, method) → (without tax, tax, with tax)
        let cases = [
            (
                vec![line(1000, 2, false, vec![rate(100_000)])],
                CalculationMethod::Line,
                (2000, 200, 2200),
            ),
            (
                vec![line(1100, 1, true, vec![rate(100_000)])],
                CalculationMethod::Line,
                (1000, 100, 1100),
            ),
            (
                vec![
                    line(333, 3, false, vec![rate(75_000)]),
                    line(500, 1, false, vec![TaxItem::Amount(7)]),
                ],
                CalculationMethod::Simple,
                (1499, 82, 1581),
            ),
            (vec![], CalculationMethod::Line, (0, 0, 0)),
        ];
        for (lines, method, (without_tax, tax, with_tax)) in cases {
            let t = price(lines, method).expect("totals");
            assert_eq!((t.without_tax, t.tax, t.with_tax), (without_tax, tax, with_tax));
        }
    }

    #[test]
    fn totals_that_do_not_fit_are_a_bad_request() {
        let lines = vec![line(i64::MAX, 2, false, vec![])];
        match price(lines, CalculationMethod::Line) {
            Err(Error::BadRequest { title, detail }) => {
                assert_eq!(title, "Bad Request");
                assert!(detail.starts_with("The cart cannot be totalled: "), "{detail}");
            }
            other => panic!("expected a bad request, got {other:?}"),
        }
    }
}
