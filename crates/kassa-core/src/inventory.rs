//! Inventory: a product's stock levels and the transactions that move them.
//!
//! A stock record keeps `available` and `allocated`; `total` is always their sum, so it cannot
//! drift. Each action is a pair of deltas ([`StockAction::delta`]) that a store applies in one
//! conditional `UPDATE … WHERE` neither level would go negative, so concurrent transactions can
//! never oversell. [`StockLevels::apply`] is the same rule in Rust: the model the SQL follows.

use serde_json::Value;
use uuid::Uuid;

use crate::time::Millis;
use crate::{Error, Validator};

/// The largest quantity one request may move. Elastic Path documents none; this keeps every sum
/// far from `i64` overflow.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// The largest total a stock record may reach through increments.
pub const MAX_TOTAL: i64 = 1_000_000_000_000_000;
/// How many products `POST /v2/inventories/multiple` may ask about at once.
pub const MAX_MULTIPLE: usize = 100;

/// What a stock transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StockAction {
    /// Stock arrived: total and available grow.
    Increment,
    /// Stock left: total and available shrink.
    Decrement,
    /// Stock is reserved: available moves to allocated.
    Allocate,
    /// A reservation is released: allocated moves back to available.
    Deallocate,
}

impl StockAction {
    pub const ALL: [StockAction; 4] = [
        StockAction::Increment,
        StockAction::Decrement,
        StockAction::Allocate,
        StockAction::Deallocate,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "increment" => Self::Increment,
            "decrement" => Self::Decrement,
            "allocate" => Self::Allocate,
            "deallocate" => Self::Deallocate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Increment => "increment",
            Self::Decrement => "decrement",
            Self::Allocate => "allocate",
            Self::Deallocate => "deallocate",
        }
    }

    /// `(Δavailable, Δallocated)` for moving `quantity`.
    pub fn delta(self, quantity: i64) -> (i64, i64) {
        match self {
            Self::Increment => (quantity, 0),
            Self::Decrement => (-quantity, 0),
            Self::Allocate => (-quantity, quantity),
            Self::Deallocate => (quantity, -quantity),
        }
    }
}

/// A product's stock. `total` is derived: `available + allocated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockLevels {
    pub available: i64,
    pub allocated: i64,
}

impl StockLevels {
    pub fn total(&self) -> i64 {
        self.available + self.allocated
    }

    /// The levels after `action` of `quantity`, or `None` if a level would go negative or the
    /// total would pass [`MAX_TOTAL`]. This is exactly the condition the stores put in their
    /// `UPDATE … WHERE`.
    pub fn apply(self, action: StockAction, quantity: i64) -> Option<StockLevels> {
        let (da, dl) = action.delta(quantity);
        let next = StockLevels {
            available: self.available.checked_add(da)?,
            allocated: self.allocated.checked_add(dl)?,
        };
        (next.available >= 0 && next.allocated >= 0 && next.total() <= MAX_TOTAL).then_some(next)
    }
}

/// The stock record of one product (the product is referenced by id only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    pub product_id: Uuid,
    pub levels: StockLevels,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One entry of a product's stock history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTransaction {
    pub id: Uuid,
    pub product_id: Uuid,
    pub action: StockAction,
    pub quantity: i64,
    pub created_at: Millis,
}

/// Why a stock change was refused. The stock is unchanged and nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRefusal {
    pub product_id: Uuid,
    pub action: StockAction,
    pub requested: i64,
    /// The stock as it was when the change was refused.
    pub levels: StockLevels,
}

impl StockRefusal {
    pub fn title(&self) -> &'static str {
        match self.action {
            StockAction::Increment => "Stock limit exceeded",
            StockAction::Deallocate => "Insufficient allocated stock",
            StockAction::Decrement | StockAction::Allocate => "Insufficient stock",
        }
    }

    pub fn detail(&self) -> String {
        let (q, id, l) = (self.requested, self.product_id, self.levels);
        match self.action {
            StockAction::Increment => format!(
                "Cannot increment the stock of product {id} by {q}: the total of {} would exceed {MAX_TOTAL}",
                l.total()
            ),
            StockAction::Deallocate => format!(
                "Cannot deallocate {q} of product {id}: only {} is allocated",
                l.allocated
            ),
            action => format!(
                "Cannot {} {q} of product {id}: only {} is available",
                action.as_str(),
                l.available
            ),
        }
    }
}

impl From<StockRefusal> for Error {
    fn from(r: StockRefusal) -> Self {
        Error::bad_request(r.title(), r.detail())
    }
}

/// Checks the items of a multi-product change, merges repeated products (summing their
/// quantities) and sorts by product id, so a multi-product change locks rows in one global order
/// and cannot deadlock against another.
pub fn normalize_items(items: &[(Uuid, i64)]) -> Result<Vec<(Uuid, i64)>, Error> {
    let mut out: Vec<(Uuid, i64)> = Vec::with_capacity(items.len());
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|(id, _)| *id);
    for (id, q) in sorted {
        match out.last_mut() {
            Some((last, sum)) if *last == id => *sum = sum.saturating_add(q),
            _ => out.push((id, q)),
        }
    }
    match out.iter().find(|(_, q)| !(1..=MAX_QUANTITY).contains(q)) {
        Some((id, q)) => Err(Error::bad_request(
            "Invalid quantity",
            format!("The quantity {q} for product {id} must be between 1 and {MAX_QUANTITY}"),
        )),
        None => Ok(out),
    }
}

fn field_name(source: &str) -> &str {
    source.rsplit('.').next().unwrap_or(source)
}

impl Validator {
    /// A JSON integer between `min` and [`MAX_QUANTITY`]; a string, a fraction or `null` is a
    /// problem named by `source`, never a panic.
    pub fn quantity(&mut self, value: Option<&Value>, source: &str, min: i64) -> Option<i64> {
        let value = self.required(value.filter(|v| !v.is_null()), source)?;
        let field = field_name(source);
        let Some(n) = value.as_i64().or_else(|| {
            // 3.0 is an integer in JSON's eyes; 3.5 is not.
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_QUANTITY as f64)
                .map(|f| f as i64)
        }) else {
            self.push(source, "type", format!("{field} must be an integer"));
            return None;
        };
        if n < min {
            self.push(
                source,
                "minimum",
                format!("{field} must be greater than or equal to {min}"),
            );
            None
        } else if n > MAX_QUANTITY {
            self.push(
                source,
                "maximum",
                format!("{field} must be less than or equal to {MAX_QUANTITY}"),
            );
            None
        } else {
            Some(n)
        }
    }

    /// One of the four stock actions.
    pub fn stock_action(&mut self, value: Option<&Value>, source: &str) -> Option<StockAction> {
        let value = self.required(value.filter(|v| !v.is_null()), source)?;
        let action = value.as_str().and_then(StockAction::parse);
        if action.is_none() {
            self.push(
                source,
                "enum",
                format!(
                    "{} must be one of increment, decrement, allocate, deallocate",
                    field_name(source)
                ),
            );
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn levels(available: i64, allocated: i64) -> StockLevels {
        StockLevels { available, allocated }
    }

    #[test]
    fn actions_move_stock_and_keep_the_total_the_sum() {
        use StockAction::*;
        // (start, action, quantity, expected)
        let table = [
            (levels(10, 0), Increment, 5, Some(levels(15, 0))),
            (levels(10, 2), Decrement, 10, Some(levels(0, 2))),
            (levels(10, 2), Decrement, 11, None),
            (levels(10, 0), Allocate, 10, Some(levels(0, 10))),
            (levels(10, 0), Allocate, 11, None),
            (levels(3, 4), Deallocate, 4, Some(levels(7, 0))),
            (levels(3, 4), Deallocate, 5, None),
            (levels(0, 0), Allocate, 1, None),
            (levels(0, 0), Decrement, 1, None),
            (levels(0, 0), Deallocate, 1, None),
            (levels(MAX_TOTAL - 1, 0), Increment, 1, Some(levels(MAX_TOTAL, 0))),
            (levels(MAX_TOTAL, 0), Increment, 1, None),
            (levels(i64::MAX, 0), Increment, 1, None),
        ];
        for (start, action, q, expected) in table {
            let got = start.apply(action, q);
            assert_eq!(got, expected, "{start:?} {action:?} {q}");
            if let Some(next) = got {
                let (da, dl) = action.delta(q);
                assert_eq!(next.total(), start.total() + da + dl);
                let total_change = match action {
                    Increment => q,
                    Decrement => -q,
                    Allocate | Deallocate => 0,
                };
                assert_eq!(next.total() - start.total(), total_change, "{action:?}");
            }
        }
    }

    #[test]
    fn action_names_round_trip() {
        for a in StockAction::ALL {
            assert_eq!(StockAction::parse(a.as_str()), Some(a));
        }
        for bad in ["", "set", "Increment", "INCREMENT", "inc"] {
            assert_eq!(StockAction::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn refusals_name_the_bucket_that_is_short() {
        let id = Uuid::nil();
        let refusal = |action| StockRefusal {
            product_id: id,
            action,
            requested: 5,
            levels: levels(3, 2),
        };
        let r = refusal(StockAction::Allocate);
        assert_eq!(r.title(), "Insufficient stock");
        assert!(r.detail().contains("only 3 is available"), "{}", r.detail());
        let r = refusal(StockAction::Deallocate);
        assert_eq!(r.title(), "Insufficient allocated stock");
        assert!(r.detail().contains("only 2 is allocated"), "{}", r.detail());
        assert_eq!(refusal(StockAction::Decrement).title(), "Insufficient stock");
        match Error::from(refusal(StockAction::Allocate)) {
            Error::BadRequest { title, .. } => assert_eq!(title, "Insufficient stock"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quantities_must_be_integers_in_range() {
        // (value, min, accepted)
        let table = [
            (json!(1), 1, Some(1)),
            (json!(0), 0, Some(0)),
            (json!(0), 1, None),
            (json!(-1), 0, None),
            (json!(3.0), 1, Some(3)),
            (json!(3.5), 1, None),
            (json!("2"), 1, None),
            (json!(true), 1, None),
            (json!([1]), 1, None),
            (json!(MAX_QUANTITY), 1, Some(MAX_QUANTITY)),
            (json!(MAX_QUANTITY + 1), 1, None),
            (json!(u64::MAX), 1, None),
            (json!(1e300), 1, None),
        ];
        for (value, min, expected) in table {
            let mut v = Validator::new();
            assert_eq!(
                v.quantity(Some(&value), "data.quantity", min),
                expected,
                "{value}"
            );
            match v.finish() {
                Ok(()) => assert!(expected.is_some()),
                Err(Error::Validation(p)) => {
                    assert!(expected.is_none(), "{value}");
                    assert_eq!(p[0].source, "data.quantity");
                }
                Err(e) => panic!("{e}"),
            }
        }
        for missing in [None, Some(&Value::Null)] {
            let mut v = Validator::new();
            assert_eq!(v.quantity(missing, "data.quantity", 1), None);
            let Err(Error::Validation(p)) = v.finish() else {
                panic!()
            };
            assert_eq!(p[0].title, "required");
        }
    }

    #[test]
    fn actions_are_validated_by_name() {
        let mut v = Validator::new();
        assert_eq!(
            v.stock_action(Some(&json!("allocate")), "data.action"),
            Some(StockAction::Allocate)
        );
        assert_eq!(v.stock_action(Some(&json!("set")), "data.action"), None);
        assert_eq!(v.stock_action(Some(&json!(1)), "data.action"), None);
        assert_eq!(v.stock_action(None, "data.action"), None);
        let Err(Error::Validation(p)) = v.finish() else {
            panic!()
        };
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|p| p.source == "data.action"));
    }

    #[test]
    fn items_merge_and_sort() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(
            normalize_items(&[(b, 1), (a, 2), (b, 3)]).unwrap(),
            vec![(a, 2), (b, 4)]
        );
        assert_eq!(normalize_items(&[]).unwrap(), vec![]);
        assert!(normalize_items(&[(a, 0)]).is_err());
        assert!(normalize_items(&[(a, -1), (a, 2)]).is_ok(), "the sum counts");
        assert!(normalize_items(&[(a, MAX_QUANTITY), (a, 1)]).is_err());
    }
}
