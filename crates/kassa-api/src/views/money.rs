//! Amounts as the wire shows them: `{amount, currency, formatted}`, a line's stored price, and the
//! `meta.display_price` figures of carts and lines.

use std::collections::HashMap;

use kassa_core::cart_totals::{CartTotals, LineTotals};
use kassa_core::money::MoneyFormat;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::state::AppState;
use crate::views::timestamps::TimestampsView;

/// Currency formats by code, and the store default, from the node's cached catalog view (a
/// currency change is seen at once on this node and within a second on others).
pub(crate) async fn money_formats(state: &AppState) -> ApiResult<(HashMap<String, MoneyFormat>, String)> {
    let currencies = state.catalog_view.currencies(&*state.store).await?;
    let default = currencies
        .iter()
        .find(|c| c.default)
        .map_or_else(|| "USD".to_owned(), |c| c.code.clone());
    Ok((
        currencies.into_iter().map(|c| (c.code, c.money)).collect(),
        default,
    ))
}

/// An amount as the wire shows it, with its currency's formatting.
#[derive(Serialize)]
pub(crate) struct MoneyView<'a> {
    amount: i64,
    currency: &'a str,
    formatted: String,
}

/// A price as stored: `unit_price` and `value` of a line.
#[derive(Serialize)]
pub(crate) struct PriceView<'a> {
    pub(crate) amount: i64,
    pub(crate) currency: &'a str,
    pub(crate) includes_tax: bool,
}

/// One figure of a line's display price: per unit and for the whole line.
#[derive(Serialize)]
pub(crate) struct LinePriceView<'a> {
    pub(crate) unit: MoneyView<'a>,
    pub(crate) value: MoneyView<'a>,
}

/// `meta.display_price` of a cart (`T` = [`MoneyView`]) or of a cart or order line
/// (`T` = [`LinePriceView`]); only a cart has shipping figures, only an order line `discounts`.
#[derive(Serialize)]
pub(crate) struct DisplayPriceView<'a, T> {
    pub(crate) discount: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) discounts: Option<DiscountsByCode<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_discount: Option<T>,
    pub(crate) tax: T,
    pub(crate) with_tax: T,
    pub(crate) without_discount: T,
    pub(crate) without_tax: T,
}

/// `meta.display_price.discounts`: by code (in code order), the amount and, by promotion id (in
/// id order), the promotions that gave it.
pub(crate) struct DiscountsByCode<'a>(pub(crate) Vec<CodeDiscount<'a>>);

pub(crate) struct CodeDiscount<'a> {
    pub(crate) code: &'a str,
    pub(crate) total: MoneyView<'a>,
    pub(crate) constituents: Vec<(Uuid, MoneyView<'a>)>,
}

impl Serialize for DiscountsByCode<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'b> {
            #[serde(flatten)]
            total: &'b MoneyView<'b>,
            constituents: Constituents<'b>,
        }
        struct Constituents<'b>(&'b [(Uuid, MoneyView<'b>)]);
        impl Serialize for Constituents<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(id, m)| (id, m)))
            }
        }
        serializer.collect_map(self.0.iter().map(|c| {
            (
                c.code,
                Entry {
                    total: &c.total,
                    constituents: Constituents(&c.constituents),
                },
            )
        }))
    }
}

/// `amount` in `currency`, formatted as the currency says (a currency without a format shows the
/// bare number of minor units).
pub(crate) fn money<'a>(
    amount: i64,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
) -> MoneyView<'a> {
    let formatted = formats
        .get(currency)
        .map_or_else(|| format!("{amount}"), |f| f.format(amount));
    MoneyView {
        amount,
        currency,
        formatted,
    }
}

pub(crate) fn cart_display_price<'a>(
    t: &CartTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
) -> DisplayPriceView<'a, MoneyView<'a>> {
    let figure = |amount: i64| money(amount, currency, formats);
    DisplayPriceView {
        discount: figure(t.discount),
        discounts: None,
        shipping: Some(figure(t.shipping)),
        shipping_discount: Some(figure(t.shipping_discount)),
        tax: figure(t.tax),
        with_tax: figure(t.with_tax),
        without_discount: figure(t.without_discount),
        without_tax: figure(t.without_tax),
    }
}

pub(crate) fn line_display_price<'a>(
    t: &LineTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
) -> DisplayPriceView<'a, LinePriceView<'a>> {
    let price = |unit: i64, value: i64| LinePriceView {
        unit: money(unit, currency, formats),
        value: money(value, currency, formats),
    };
    let (unit, value) = (&t.unit, &t.value);
    DisplayPriceView {
        discount: price(unit.discount, value.discount),
        discounts: None,
        shipping: None,
        shipping_discount: None,
        tax: price(unit.tax, value.tax),
        with_tax: price(unit.with_tax, value.with_tax),
        without_discount: price(unit.without_discount, value.without_discount),
        without_tax: price(unit.without_tax, value.without_tax),
    }
}

/// `meta` of a cart (`T` = [`MoneyView`]) or of a line (`T` = [`LinePriceView`]).
#[derive(Serialize)]
pub(crate) struct MetaView<'a, T> {
    pub(crate) display_price: DisplayPriceView<'a, T>,
    pub(crate) timestamps: TimestampsView,
}
