//! What a cart or an order costs: one pipeline of named stages, run on every cart read, at
//! checkout and on every order read.
//!
//! ```text
//! line prices → line adjustments → cart adjustments → tax → totals
//! ```
//!
//! - **line prices**: each line's unit price and quantity as kept (a product line's price was
//!   resolved from the catalog, tiers included, when it was added or re-priced at checkout).
//! - **line adjustments**: discounts on one line (none yet; promotions and bundles go here).
//! - **cart adjustments**: discounts on the whole cart (none yet; cart promotions go here).
//! - **tax**: the tax items set on each line.
//! - **totals**: [`crate::cart_totals::cart_totals`], with the store's calculation method.
//!
//! A stage is a function over the [`Pricing`] in progress, listed once in [`STAGES`]; adding a
//! promotion or a bundle is a new stage there, not an edit in each handler or store.

use crate::Error;
use crate::cart_totals::{CalculationMethod, CartLine, CartTotals, TaxItem, cart_totals};
use crate::carts::{CartItem, CartTaxItem, taxes_by_item};
use crate::orders::{OrderItem, PlacedOrder};

/// A cart (or order) being priced: its lines, in order, with what the stages so far decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub method: CalculationMethod,
    pub lines: Vec<CartLine>,
    /// The tax items of each line (by position), applied by the tax stage.
    pub line_taxes: Vec<Vec<TaxItem>>,
    /// Discounts on the whole cart, each negative (the cart adjustments stage).
    pub cart_discounts: Vec<i64>,
}

/// One stage of the pipeline: a name (for documentation and tests) and what it does.
pub type Stage = (&'static str, fn(&mut Pricing));

/// The stages between the line prices and the totals, in order.
pub const STAGES: &[Stage] = &[
    ("line adjustments", line_adjustments),
    ("cart adjustments", cart_adjustments),
    ("tax", tax),
];

/// One line's price as kept: `(unit amount, quantity, tax included)` and its tax items.
pub struct LinePrice {
    pub unit_amount: i64,
    pub quantity: i64,
    pub includes_tax: bool,
    pub taxes: Vec<TaxItem>,
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
                discounts: Vec::new(),
            };
            (line, l.taxes)
        })
        .unzip();
    Pricing {
        method,
        lines,
        line_taxes,
        cart_discounts: Vec::new(),
    }
}

/// Discounts on single lines. kassa has no promotions or bundles yet: nothing changes.
pub fn line_adjustments(_pricing: &mut Pricing) {}

/// Discounts on the whole cart. kassa has no cart promotions yet: nothing changes.
pub fn cart_adjustments(_pricing: &mut Pricing) {}

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
    let mut pricing = line_prices(lines, method);
    for (_, stage) in STAGES {
        stage(&mut pricing);
    }
    totals(&pricing)
}

/// What a cart's lines cost, with the cart's tax items (all of them, grouped here in one pass).
pub fn price_cart(
    lines: &[CartItem],
    taxes: &[CartTaxItem],
    method: CalculationMethod,
) -> crate::Result<CartTotals> {
    let by_item = taxes_by_item(taxes);
    let lines = lines
        .iter()
        .map(|i| LinePrice {
            unit_amount: i.unit_amount,
            quantity: i.quantity,
            includes_tax: i.includes_tax,
            taxes: by_item
                .get(&i.id)
                .map(|t| t.iter().map(|t| t.tax).collect())
                .unwrap_or_default(),
        })
        .collect();
    price(lines, method)
}

/// What an order's items cost, by the calculation method it was placed with: the figures it was
/// placed with, computed again (nothing derived is stored but the order's own totals).
pub fn price_order(order: &PlacedOrder, items: &[OrderItem]) -> crate::Result<CartTotals> {
    price_items(items, order.calculation_method)
}

/// [`price_order`] before the order exists (checkout).
pub fn price_items(items: &[OrderItem], method: CalculationMethod) -> crate::Result<CartTotals> {
    let lines = items
        .iter()
        .map(|i| LinePrice {
            unit_amount: i.unit_amount,
            quantity: i.quantity,
            includes_tax: i.includes_tax,
            taxes: i.taxes.iter().map(|t| t.tax).collect(),
        })
        .collect();
    price(lines, method)
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
        }
    }

    #[test]
    fn the_stages_run_in_their_documented_order() {
        let names: Vec<&str> = STAGES.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["line adjustments", "cart adjustments", "tax"]);
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
    fn adjustments_change_nothing_yet() {
        let start = line_prices(
            vec![line(1000, 2, false, vec![]), line(250, 1, true, vec![])],
            CalculationMethod::Simple,
        );
        for stage in [line_adjustments, cart_adjustments] {
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
