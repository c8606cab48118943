//! Price-book prices and price resolution: which unit price a sku costs in a currency, for a
//! quantity, at a moment. Pure; carts and the shopper catalog call [`resolve_price`].
//!
//! The rules (Elastic Path's price-book documentation, `pricebooks.yaml`):
//! - Of the catalog's price books, the one with the highest priority that prices the sku decides.
//!   Books with the same priority keep the order they are given in.
//! - A tier applies when the quantity is at least its `minimum_quantity`; of those that apply,
//!   the highest threshold wins.
//! - A sale applies from `valid_from` (inclusive) to `valid_to` (exclusive); a missing bound is
//!   open, and a sale without a schedule is permanent. Of several sales that apply, the one with
//!   the shortest period wins (an open period is infinitely long; equal periods: the first name).
//!   A sale without a price in the requested currency does not apply in it.
//! - While a sale applies, only the sale's own tiers count: the sale's qualifying tier if any,
//!   else the base sale price. The list tiers are not used ("if no volume pricing is set in the
//!   sale, the base sale price is applied, and the volume pricing for the product price will not
//!   be applied"). The list price (with its tiers) is reported as the original price.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use litemap::LiteMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::Millis;

/// A volume price: `amount` per unit from `minimum_quantity` units on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub minimum_quantity: i64,
    pub amount: i64,
}

/// The price of a sku in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyPrice {
    pub amount: i64,
    pub includes_tax: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, Tier>,
}

/// A map kept as a vector sorted by key and serialised as a JSON object: for maps a release keeps
/// many of in memory. A price sheet names one or a few currencies, where a `BTreeMap`'s first
/// node costs ~700 bytes whatever it holds; a price book of a 100,000-product release prices
/// 100,000 skus, where a `HashMap<String, _>` costs ~30 bytes an entry more (its table at 7/8
/// load, a `String`'s capacity word). Found by binary search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<K, V>(LiteMap<K, V>);

/// Prices by currency code, in code order.
pub type Currencies = SortedMap<String, CurrencyPrice>;

/// A price book's price sheets by sku, in sku order.
pub type SkuPrices = SortedMap<Box<str>, PriceSheet>;

impl<K: Ord, V> SortedMap<K, V> {
    /// Sorted by key, a repeated key keeping its last value (as a JSON object read into a map
    /// does), with no spare capacity.
    fn from_entries(mut entries: Vec<(K, V)>) -> Self {
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        entries.shrink_to_fit();
        Self(LiteMap::from_sorted_store_unchecked(entries))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, value)| value)
    }
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        Self(LiteMap::new())
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for SortedMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        Self::from_entries(entries.into())
    }
}

impl<K: Ord + std::borrow::Borrow<str>, V> std::ops::Index<&str> for SortedMap<K, V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        self.get(key).expect("a value for this key")
    }
}

impl<K, V> Deref for SortedMap<K, V> {
    type Target = LiteMap<K, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<K, V> DerefMut for SortedMap<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_entries(iter.into_iter().collect())
    }
}

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.as_slice().iter().map(|(key, value)| (key, value))
    }
}

impl<K: Serialize, V: Serialize> Serialize for SortedMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self)
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for SortedMap<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<K, V> {
            type Value = SortedMap<K, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(1).min(16));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(SortedMap::from_entries(entries))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// When a sale applies; either bound may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub valid_from: Option<Millis>,
    pub valid_to: Option<Millis>,
}

impl Schedule {
    pub fn contains(&self, at: Millis) -> bool {
        self.valid_from.is_none_or(|from| at >= from) && self.valid_to.is_none_or(|to| at < to)
    }

    /// The length of the period; `None` when it is open at either end.
    pub fn length(&self) -> Option<Millis> {
        Some(self.valid_to? - self.valid_from?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// `None`: a permanent sale.
    pub schedule: Option<Schedule>,
    pub currencies: Currencies,
}

/// Everything a price book says about one sku: list prices per currency and named sales.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PriceSheet {
    pub currencies: Currencies,
    #[serde(default)]
    pub sales: BTreeMap<String, Sale>,
}

/// One price book of a catalog: its priority (highest wins) and its prices by sku.
#[derive(Debug, Clone, Copy)]
pub struct RankedPricebook<'a> {
    pub pricebook_id: Uuid,
    pub priority: i64,
    pub prices: &'a SkuPrices,
}

/// A price before any sale: what `original_price` shows while a sale applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPrice {
    pub amount: i64,
    pub includes_tax: bool,
    pub tier: Option<String>,
}

/// The unit price and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPrice {
    pub amount: i64,
    pub includes_tax: bool,
    pub pricebook_id: Uuid,
    /// The tier that set `amount` (a sale's tier while a sale applies).
    pub tier: Option<String>,
    pub sale_id: Option<String>,
    /// When the applying sale ends, if it does.
    pub sale_expires: Option<Millis>,
    /// The list price, when a sale applies.
    pub original: Option<ListPrice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPrice {
    /// None of the price books prices this sku.
    Sku,
    /// The deciding price book prices the sku, but not in this currency.
    Currency { pricebook_id: Uuid },
}

/// The unit price of `quantity` units of `sku` in `currency` at the moment `at`.
pub fn resolve_price(
    books: &[RankedPricebook<'_>],
    sku: &str,
    currency: &str,
    quantity: u64,
    at: Millis,
) -> Result<ResolvedPrice, NoPrice> {
    let (book, sheet) = deciding_book(books, sku).ok_or(NoPrice::Sku)?;
    let list = sheet.currencies.get(currency).ok_or(NoPrice::Currency {
        pricebook_id: book.pricebook_id,
    })?;
    let (list_amount, list_tier) = tiered(list, quantity);
    let list_price = ListPrice {
        amount: list_amount,
        includes_tax: list.includes_tax,
        tier: list_tier,
    };
    match applying_sale(sheet, currency, at) {
        Some((name, sale, price)) => {
            let (amount, tier) = tiered(price, quantity);
            Ok(ResolvedPrice {
                amount,
                includes_tax: price.includes_tax,
                pricebook_id: book.pricebook_id,
                tier,
                sale_id: Some(name.to_owned()),
                sale_expires: sale.schedule.and_then(|s| s.valid_to),
                original: Some(list_price),
            })
        }
        None => Ok(ResolvedPrice {
            amount: list_price.amount,
            includes_tax: list_price.includes_tax,
            pricebook_id: book.pricebook_id,
            tier: list_price.tier,
            sale_id: None,
            sale_expires: None,
            original: None,
        }),
    }
}

/// The price book that decides the price of `sku` and its sheet: the highest priority book that
/// prices the sku (equal priorities keep the given order).
pub fn deciding_book<'a, 'b>(
    books: &'b [RankedPricebook<'a>],
    sku: &str,
) -> Option<(&'b RankedPricebook<'a>, &'a PriceSheet)> {
    let mut ranked: Vec<&'b RankedPricebook<'a>> = books.iter().collect();
    ranked.sort_by_key(|b| std::cmp::Reverse(b.priority));
    ranked
        .into_iter()
        .find_map(|b| b.prices.get(sku).map(|sheet| (b, sheet)))
}

/// The base amount, or the amount of the highest tier whose threshold `quantity` reaches.
fn tiered(price: &CurrencyPrice, quantity: u64) -> (i64, Option<String>) {
    let quantity = i64::try_from(quantity).unwrap_or(i64::MAX);
    price
        .tiers
        .iter()
        .filter(|(_, t)| quantity >= t.minimum_quantity)
        .max_by_key(|(_, t)| t.minimum_quantity)
        .map_or((price.amount, None), |(name, t)| (t.amount, Some(name.clone())))
}

/// The sale that applies at `at` in `currency`: the shortest period among those running.
fn applying_sale<'a>(
    sheet: &'a PriceSheet,
    currency: &str,
    at: Millis,
) -> Option<(&'a str, &'a Sale, &'a CurrencyPrice)> {
    let length = |sale: &Sale| sale.schedule.and_then(|s| s.length()).unwrap_or(Millis::MAX);
    let mut best: Option<(&str, &Sale, &CurrencyPrice)> = None;
    for (name, sale) in &sheet.sales {
        let running = sale.schedule.is_none_or(|s| s.contains(at));
        let Some(price) = sale.currencies.get(currency).filter(|_| running) else {
            continue;
        };
        if best.is_none_or(|(_, b, _)| length(sale) < length(b)) {
            best = Some((name, sale, price));
        }
    }
    best
}

/// The rules a price sheet must follow, each broken one reported against its JSON path under
/// `base` (`data.attributes`): amounts not negative, tier thresholds of at least 1 and distinct
/// within a currency, schedules that end after they start, and, when a price has several sales,
/// a schedule on each and no two the same.
pub fn check_sheet(sheet: &PriceSheet, v: &mut crate::Validator, base: &str) {
    check_currencies(&sheet.currencies, v, &format!("{base}.currencies"));
    let several = sheet.sales.len() > 1;
    let mut schedules: Vec<Schedule> = Vec::new();
    for (name, sale) in &sheet.sales {
        let source = format!("{base}.sales.{name}");
        if sale.currencies.is_empty() {
            v.push(
                format!("{source}.currencies"),
                "required",
                "A sale needs a price in at least one currency",
            );
        }
        check_currencies(&sale.currencies, v, &format!("{source}.currencies"));
        match sale.schedule {
            Some(s) => {
                if let (Some(from), Some(to)) = (s.valid_from, s.valid_to)
                    && to <= from
                {
                    v.push(
                        format!("{source}.schedule.valid_to"),
                        "invalid",
                        "valid_to must be after valid_from",
                    );
                }
                if schedules.contains(&s) {
                    v.push(
                        format!("{source}.schedule"),
                        "invalid",
                        "Two sales of a price cannot have the same schedule",
                    );
                }
                schedules.push(s);
            }
            None if several => v.push(
                format!("{source}.schedule"),
                "required",
                "When a price has several sales, each needs a schedule",
            ),
            None => {}
        }
    }
}

/// A price amount: from 0 to [`crate::cart_totals::MAX_AMOUNT`] minor units.
fn check_amount(v: &mut crate::Validator, amount: i64, source: &str) {
    if amount < 0 {
        v.push(source, "minimum", "amount must not be negative");
    } else if amount > crate::cart_totals::MAX_AMOUNT {
        v.push(
            source,
            "maximum",
            format!(
                "amount must be at most {} (minor units)",
                crate::cart_totals::MAX_AMOUNT
            ),
        );
    }
}

fn check_currencies(currencies: &Currencies, v: &mut crate::Validator, base: &str) {
    for (code, price) in currencies {
        let source = format!("{base}.{code}");
        if !crate::money::is_currency_code(code) {
            v.push(
                &source,
                "invalid",
                format!("{code} is not a three-letter ISO 4217 currency code"),
            );
        }
        check_amount(v, price.amount, &format!("{source}.amount"));
        let mut thresholds = Vec::new();
        for (name, tier) in &price.tiers {
            let source = format!("{source}.tiers.{name}");
            if tier.minimum_quantity < 1 {
                v.push(
                    format!("{source}.minimum_quantity"),
                    "minimum",
                    "minimum_quantity must be at least 1",
                );
            }
            check_amount(v, tier.amount, &format!("{source}.amount"));
            if thresholds.contains(&tier.minimum_quantity) {
                v.push(
                    format!("{source}.minimum_quantity"),
                    "conflict",
                    "Two tiers of a currency cannot have the same minimum_quantity",
                );
            }
            thresholds.push(tier.minimum_quantity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    #[test]
    fn a_book_finds_its_sheets_by_sku_and_writes_them_as_an_object() {
        let usd = |amount| PriceSheet {
            currencies: [("USD".to_owned(), price(amount, &[]))].into(),
            sales: BTreeMap::new(),
        };
        let read: SkuPrices = serde_json::from_value(serde_json::json!({
            "SKU-B": usd(200), "SKU-A": usd(100), "SKU-C": usd(300)
        }))
        .unwrap();
        let skus: Vec<&str> = read.keys().map(|sku| &**sku).collect();
        assert_eq!(
            skus,
            ["SKU-A", "SKU-B", "SKU-C"],
            "sorted, so found by binary search"
        );
        assert_eq!(read["SKU-B"].currencies["USD"].amount, 200);
        assert_eq!(read.get("SKU-D"), None);
        let again: SkuPrices = serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
        assert_eq!(again, read);
    }

    #[test]
    fn currencies_read_and_write_as_a_json_object_sorted_by_code() {
        let read: Currencies =
            serde_json::from_str(r#"{"USD": {"amount": 100, "includes_tax": false}, "EUR": {"amount": 90, "includes_tax": true}, "USD": {"amount": 110, "includes_tax": false}}"#)
                .unwrap();
        assert_eq!(read.len(), 2);
        // A repeated code keeps its last price, as a map read from the same JSON would.
        assert_eq!(read["USD"].amount, 110);
        assert!(read["EUR"].includes_tax);
        assert_eq!(read.get("GBP"), None);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            r#"{"EUR":{"amount":90,"includes_tax":true},"USD":{"amount":110,"includes_tax":false}}"#
        );
        assert_eq!(serde_json::to_string(&Currencies::default()).unwrap(), "{}");
        let built = Currencies::from([
            ("USD".to_owned(), price(110, &[])),
            ("EUR".to_owned(), {
                let mut eur = price(90, &[]);
                eur.includes_tax = true;
                eur
            }),
        ]);
        assert_eq!(built, read);
        let codes: Vec<&String> = built.keys().collect();
        assert_eq!(codes, ["EUR", "USD"]);
        assert!(serde_json::from_str::<Currencies>("[]").is_err());
    }

    fn price(amount: i64, tiers: &[(&str, i64, i64)]) -> CurrencyPrice {
        CurrencyPrice {
            amount,
            includes_tax: false,
            tiers: tiers
                .iter()
                .map(|(n, q, a)| {
                    (
                        n.to_string(),
                        Tier {
                            minimum_quantity: *q,
                            amount: *a,
                        },
                    )
                })
                .collect(),
        }
    }

    fn sheet(usd: CurrencyPrice) -> PriceSheet {
        PriceSheet {
            currencies: [("USD".to_string(), usd)].into(),
            sales: BTreeMap::new(),
        }
    }

    fn sale(from: Option<Millis>, to: Option<Millis>, usd: CurrencyPrice) -> Sale {
        Sale {
            schedule: (from.is_some() || to.is_some()).then_some(Schedule {
                valid_from: from,
                valid_to: to,
            }),
            currencies: [("USD".to_string(), usd)].into(),
        }
    }

    fn book(n: u128, priority: i64, prices: &SkuPrices) -> RankedPricebook<'_> {
        RankedPricebook {
            pricebook_id: Uuid::from_u128(n),
            priority,
            prices,
        }
    }

    fn one(sheet: PriceSheet) -> SkuPrices {
        [("sku-1".into(), sheet)].into()
    }

    /// (amount, tier, sale) of `quantity` sku-1 in USD at `at` in a single book.
    fn resolve(s: &PriceSheet, quantity: u64, at: Millis) -> (i64, Option<String>, Option<String>) {
        let prices = one(s.clone());
        let r = resolve_price(&[book(1, 1, &prices)], "sku-1", "USD", quantity, at).unwrap();
        (r.amount, r.tier, r.sale_id)
    }

    fn name(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn the_highest_priority_book_that_prices_the_sku_wins() {
        let low = one(sheet(price(100, &[])));
        let high = one(sheet(price(80, &[])));
        let other: SkuPrices = [("sku-2".into(), sheet(price(1, &[])))].into();
        let cases: Vec<(Vec<RankedPricebook<'_>>, i64, u128)> = vec![
            (vec![book(1, 1, &low)], 100, 1),
            (vec![book(1, 1, &low), book(2, 5, &high)], 80, 2),
            (vec![book(2, 5, &high), book(1, 1, &low)], 80, 2),
            (vec![book(1, 10, &low), book(2, 5, &high)], 100, 1),
            // A higher book without the sku does not hide a lower one that has it.
            (vec![book(3, 99, &other), book(1, 1, &low)], 100, 1),
            // Equal priorities keep the given order.
            (vec![book(1, 5, &low), book(2, 5, &high)], 100, 1),
            (vec![book(2, 5, &high), book(1, 5, &low)], 80, 2),
            // Negative priorities order like any other number.
            (vec![book(1, -1, &low), book(2, -5, &high)], 100, 1),
        ];
        for (books, amount, id) in cases {
            let r = resolve_price(&books, "sku-1", "USD", 1, 0).unwrap();
            assert_eq!((r.amount, r.pricebook_id), (amount, Uuid::from_u128(id)));
        }
    }

    #[test]
    fn a_missing_sku_or_currency_is_a_clear_outcome() {
        let prices = one(sheet(price(100, &[])));
        let books = [book(1, 1, &prices)];
        assert_eq!(resolve_price(&books, "nope", "USD", 1, 0), Err(NoPrice::Sku));
        assert_eq!(resolve_price(&[], "sku-1", "USD", 1, 0), Err(NoPrice::Sku));
        assert_eq!(
            resolve_price(&books, "sku-1", "EUR", 1, 0),
            Err(NoPrice::Currency {
                pricebook_id: Uuid::from_u128(1)
            })
        );
        // The deciding book lacks the currency: no fall-through to a lower book that has it.
        let mut eur = sheet(price(90, &[]));
        eur.currencies.insert("EUR".into(), price(85, &[]));
        let lower = one(eur);
        let books = [book(1, 9, &prices), book(2, 1, &lower)];
        assert_eq!(
            resolve_price(&books, "sku-1", "EUR", 1, 0),
            Err(NoPrice::Currency {
                pricebook_id: Uuid::from_u128(1)
            })
        );
        // A sale in the currency does not make up for a missing list price.
        let mut s = sheet(price(100, &[]));
        s.sales.insert(
            "eur".into(),
            Sale {
                schedule: None,
                currencies: [("EUR".to_string(), price(50, &[]))].into(),
            },
        );
        let prices = one(s);
        assert!(matches!(
            resolve_price(&[book(1, 1, &prices)], "sku-1", "EUR", 1, 0),
            Err(NoPrice::Currency { .. })
        ));
    }

    #[test]
    fn the_highest_qualifying_tier_applies() {
        let s = sheet(price(
            1050,
            &[("six", 6, 1000), ("eleven", 11, 950), ("fiftyone", 51, 790)],
        ));
        let cases = [
            (1, 1050, None),
            (5, 1050, None),
            (6, 1000, name("six")),
            (10, 1000, name("six")),
            (11, 950, name("eleven")),
            (50, 950, name("eleven")),
            (51, 790, name("fiftyone")),
            (u64::MAX, 790, name("fiftyone")),
        ];
        for (qty, amount, tier) in cases {
            assert_eq!(resolve(&s, qty, 0), (amount, tier, None), "quantity {qty}");
        }
        // A tier from 1 unit replaces the base price at once.
        let s = sheet(price(100, &[("all", 1, 90)]));
        assert_eq!(resolve(&s, 1, 0), (90, name("all"), None));
    }

    #[test]
    fn a_sale_applies_within_its_window() {
        let mut s = sheet(price(100, &[]));
        s.sales.insert(
            "summer".into(),
            sale(Some(10 * DAY), Some(20 * DAY), price(80, &[])),
        );
        let cases = [
            (10 * DAY - 1, 100, None),
            (10 * DAY, 80, name("summer")),
            (15 * DAY, 80, name("summer")),
            (20 * DAY - 1, 80, name("summer")),
            (20 * DAY, 100, None),
        ];
        for (at, amount, sale_id) in cases {
            assert_eq!(resolve(&s, 1, at), (amount, None, sale_id), "at {at}");
        }
        let prices = one(s);
        let r = resolve_price(&[book(1, 1, &prices)], "sku-1", "USD", 1, 15 * DAY).unwrap();
        assert_eq!(r.sale_expires, Some(20 * DAY));
        assert_eq!(
            r.original,
            Some(ListPrice {
                amount: 100,
                includes_tax: false,
                tier: None
            })
        );
    }

    #[test]
    fn open_schedules_and_permanent_sales() {
        let mut from_only = sheet(price(100, &[]));
        from_only
            .sales
            .insert("from".into(), sale(Some(10 * DAY), None, price(70, &[])));
        assert_eq!(resolve(&from_only, 1, 10 * DAY - 1).0, 100);
        assert_eq!(resolve(&from_only, 1, 1000 * DAY).0, 70);

        let mut to_only = sheet(price(100, &[]));
        to_only
            .sales
            .insert("to".into(), sale(None, Some(10 * DAY), price(70, &[])));
        assert_eq!(resolve(&to_only, 1, -1000 * DAY).0, 70);
        assert_eq!(resolve(&to_only, 1, 10 * DAY).0, 100);

        let mut permanent = sheet(price(100, &[]));
        permanent
            .sales
            .insert("always".into(), sale(None, None, price(60, &[])));
        for at in [Millis::MIN, 0, Millis::MAX] {
            assert_eq!(resolve(&permanent, 1, at), (60, None, name("always")));
        }
        let prices = one(permanent);
        let r = resolve_price(&[book(1, 1, &prices)], "sku-1", "USD", 1, 0).unwrap();
        assert_eq!(r.sale_expires, None);
    }

    #[test]
    fn of_overlapping_sales_the_shortest_period_wins() {
        let mut s = sheet(price(100, &[]));
        s.sales.insert("always".into(), sale(None, None, price(90, &[])));
        s.sales
            .insert("month".into(), sale(Some(0), Some(30 * DAY), price(80, &[])));
        s.sales.insert(
            "week".into(),
            sale(Some(10 * DAY), Some(17 * DAY), price(70, &[])),
        );
        s.sales
            .insert("open".into(), sale(Some(5 * DAY), None, price(75, &[])));
        let cases = [
            (-DAY, "always"),
            (0, "month"),
            (9 * DAY, "month"),
            (10 * DAY, "week"),
            (16 * DAY, "week"),
            (17 * DAY, "month"),
            (30 * DAY, "always"), // "open" and "always" are both unbounded: first name wins
        ];
        for (at, n) in cases {
            assert_eq!(resolve(&s, 1, at).2, name(n), "at {at}");
        }
        // Equal lengths: the first name in order.
        let mut s = sheet(price(100, &[]));
        s.sales
            .insert("b".into(), sale(Some(0), Some(DAY), price(80, &[])));
        s.sales.insert(
            "a".into(),
            sale(Some(DAY / 2), Some(DAY + DAY / 2), price(70, &[])),
        );
        assert_eq!(resolve(&s, 1, DAY - 1).2, name("a"));
    }

    #[test]
    fn a_sale_without_the_currency_does_not_apply() {
        let mut s = sheet(price(100, &[]));
        s.sales.insert(
            "eur-only".into(),
            Sale {
                schedule: None,
                currencies: [("EUR".to_string(), price(50, &[]))].into(),
            },
        );
        s.sales
            .insert("usd".into(), sale(Some(0), Some(DAY), price(80, &[])));
        assert_eq!(resolve(&s, 1, 0), (80, None, name("usd")));
        assert_eq!(resolve(&s, 1, DAY), (100, None, None));
    }

    #[test]
    fn sale_tiers_replace_list_tiers() {
        let list = price(100, &[("list5", 5, 60)]);
        // A sale without tiers: its base price at every quantity; list tiers are not used.
        let mut plain = sheet(list.clone());
        plain
            .sales
            .insert("sale".into(), sale(Some(0), Some(DAY), price(90, &[])));
        for qty in [1, 5, 100] {
            assert_eq!(
                resolve(&plain, qty, 0),
                (90, None, name("sale")),
                "quantity {qty}"
            );
        }
        // ... the same for a permanent sale.
        let mut permanent = sheet(list.clone());
        permanent
            .sales
            .insert("sale".into(), sale(None, None, price(90, &[])));
        assert_eq!(resolve(&permanent, 5, 0), (90, None, name("sale")));
        // A sale with tiers: its qualifying tier, else its base price.
        let mut tiered = sheet(list);
        tiered.sales.insert(
            "sale".into(),
            sale(Some(0), Some(DAY), price(90, &[("sale3", 3, 50)])),
        );
        let cases = [(1, 90, None), (3, 50, name("sale3")), (5, 50, name("sale3"))];
        for (qty, amount, tier) in cases {
            assert_eq!(
                resolve(&tiered, qty, 0),
                (amount, tier, name("sale")),
                "quantity {qty}"
            );
        }
        // After the sale, the list tiers apply again.
        assert_eq!(resolve(&tiered, 5, DAY), (60, name("list5"), None));
        // The original price is the list price for the quantity, tiers included.
        let prices = one(tiered);
        let r = resolve_price(&[book(1, 1, &prices)], "sku-1", "USD", 5, 0).unwrap();
        assert_eq!(
            r.original,
            Some(ListPrice {
                amount: 60,
                includes_tax: false,
                tier: name("list5")
            })
        );
    }

    #[test]
    fn includes_tax_comes_from_the_applying_price() {
        let mut s = sheet(CurrencyPrice {
            amount: 100,
            includes_tax: true,
            tiers: BTreeMap::new(),
        });
        let prices = one(s.clone());
        let r = resolve_price(&[book(1, 1, &prices)], "sku-1", "USD", 1, 0).unwrap();
        assert!(r.includes_tax);
        s.sales.insert("sale".into(), sale(None, None, price(90, &[])));
        let prices = one(s);
        let r = resolve_price(&[book(1, 1, &prices)], "sku-1", "USD", 1, 0).unwrap();
        assert!(!r.includes_tax);
        assert!(r.original.unwrap().includes_tax);
    }

    fn problems(sheet: &PriceSheet) -> Vec<String> {
        let mut v = crate::Validator::new();
        check_sheet(sheet, &mut v, "data.attributes");
        match v.finish() {
            Ok(()) => vec![],
            Err(crate::Error::Validation(p)) => p.into_iter().map(|p| p.source).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn checks_price_sheets() {
        assert!(problems(&sheet(price(0, &[("a", 1, 0)]))).is_empty());
        assert_eq!(
            problems(&sheet(price(-1, &[]))),
            ["data.attributes.currencies.USD.amount"]
        );
        // Amounts are bounded where they enter, so no price can make a cart untotallable alone.
        let most = crate::cart_totals::MAX_AMOUNT;
        assert!(problems(&sheet(price(most, &[("a", 2, most)]))).is_empty());
        assert_eq!(
            problems(&sheet(price(most + 1, &[("a", 2, i64::MAX)]))),
            [
                "data.attributes.currencies.USD.amount",
                "data.attributes.currencies.USD.tiers.a.amount",
            ]
        );
        assert_eq!(
            problems(&sheet(price(1, &[("a", 0, -1), ("b", 5, 1), ("c", 5, 1)]))),
            [
                "data.attributes.currencies.USD.tiers.a.minimum_quantity",
                "data.attributes.currencies.USD.tiers.a.amount",
                "data.attributes.currencies.USD.tiers.c.minimum_quantity",
            ]
        );
        let mut bad_code = PriceSheet::default();
        bad_code.currencies.insert("usd".into(), price(1, &[]));
        assert_eq!(problems(&bad_code), ["data.attributes.currencies.usd"]);

        let mut s = sheet(price(100, &[]));
        s.sales
            .insert("backwards".into(), sale(Some(DAY), Some(DAY), price(-5, &[])));
        s.sales.insert("forever".into(), sale(None, None, price(1, &[])));
        s.sales
            .insert("same".into(), sale(Some(DAY), Some(DAY), price(1, &[])));
        assert_eq!(
            problems(&s),
            [
                "data.attributes.sales.backwards.currencies.USD.amount",
                "data.attributes.sales.backwards.schedule.valid_to",
                "data.attributes.sales.forever.schedule",
                "data.attributes.sales.same.schedule.valid_to",
                "data.attributes.sales.same.schedule",
            ]
        );
        // One sale alone may be permanent.
        let mut s = sheet(price(100, &[]));
        s.sales.insert("forever".into(), sale(None, None, price(1, &[])));
        assert!(problems(&s).is_empty());
    }
}
