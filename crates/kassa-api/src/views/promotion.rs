//! Rule promotions as the admin API renders them (`rule_promotion`, `promotion_codes`, usages),
//! and what promotions show on carts and orders: each line's `discounts` and
//! `meta.display_price.discounts`, the `promotion_item` lines, `included.promotions`.

use std::borrow::Cow;
use std::collections::HashMap;

use kassa_core::money::MoneyFormat;
use kassa_core::promotion_rules::{Applied, Discount};
use kassa_core::promotions::{PromotionCode, PromotionUsage, RulePromotion, automatic_code};
use kassa_core::time::rfc3339;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::views::document::EmptyObject;
use crate::views::money::{CodeDiscount, DiscountsByCode, LinePriceView, PriceView, money};
use crate::views::timestamps::TimestampsView;

/// A `rule_promotion` resource.
pub(crate) fn render_promotion(p: &RulePromotion) -> Value {
    let mut v = json!({
        "type": "rule_promotion",
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "enabled": p.enabled,
        "automatic": p.automatic,
        "stackable": p.stackable,
        "override_stacking": p.override_stacking,
        "rule_set": p.rule_set,
        "meta": {"timestamps": {"created_at": rfc3339(p.created_at), "updated_at": rfc3339(p.updated_at)}},
    });
    if let Some(priority) = p.priority {
        v["priority"] = json!(priority);
    }
    if let Some(start) = p.start {
        v["start"] = json!(rfc3339(start));
    }
    if let Some(end) = p.end {
        v["end"] = json!(rfc3339(end));
    }
    v
}

/// A `promotion_codes` entry.
pub(crate) fn render_code(c: &PromotionCode) -> Value {
    let mut v = json!({
        "type": "promotion_codes",
        "id": c.id,
        "code": c.code,
        "uses": c.uses,
        "consume_unit": c.consume_unit.as_str(),
        "is_for_new_shopper": c.is_for_new_shopper,
        "meta": {"timestamps": {"created_at": rfc3339(c.created_at)}},
    });
    if let Some(max) = c.max_uses {
        v["max_uses"] = json!(max);
    }
    if let Some(user) = c.user {
        v["user"] = json!(user);
    }
    if let Some(max) = c.max_uses_per_shopper {
        v["max_uses_per_shopper"] = json!({"max_uses": max, "includes_guests": c.includes_guests});
    }
    v
}

/// A `promotion_job`.
pub(crate) fn render_job(j: &kassa_core::promotion_jobs::PromotionJob) -> Value {
    let mut v = json!({
        "type": "promotion_job",
        "id": j.id,
        "rule_promotion_id": j.promotion_id,
        "job_type": j.job_type,
        "name": j.name,
        "status": j.status,
        "meta": {"timestamps": {"created_at": rfc3339(j.created_at), "updated_at": rfc3339(j.updated_at)}},
    });
    if !j.parameters.is_null() {
        v["parameters"] = j.parameters.clone();
    }
    if !j.result.is_null() {
        v["result"] = j.result.clone();
    }
    v
}

/// A usage record.
pub(crate) fn render_usage(u: &PromotionUsage) -> Value {
    json!({
        "id": u.id,
        "order_id": u.order_id,
        "code_id": u.code_id,
        "code": u.code,
        "times_used": u.times_used,
        "used_on": rfc3339(u.used_on),
        "customer_id": u.customer_id,
        "account_id": u.account_id,
        "customer_email": u.customer_email,
        "anonymized": u.anonymized,
        "meta": {"timestamps": {"updated_at": rfc3339(u.updated_at)}},
    })
}

/// A condensed promotion (`included.promotions`).
pub(crate) fn render_condensed(a: &Applied) -> Value {
    let p = &a.promotion;
    let mut v = json!({
        "type": "promotion",
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "automatic": p.automatic,
        "promotion_source": "rule-promotion",
    });
    if let Some(start) = p.start {
        v["start"] = json!(rfc3339(start));
    }
    if let Some(end) = p.end {
        v["end"] = json!(rfc3339(end));
    }
    v
}

/// One line's discounts: its own (item and bundle discounts) and its shares of the cart
/// discounts (`cart_sources[k]` gave `cart_shares[k]`). Shares of nothing are left out.
pub(crate) struct LineDiscounts<'d, 's> {
    pub(crate) own: &'d [Discount],
    pub(crate) cart_sources: &'d [Discount],
    pub(crate) cart_shares: &'s [i64],
}

/// One entry of a line's `discounts` array (Elastic Path's shape).
#[derive(Serialize)]
pub(crate) struct LineDiscountView<'a> {
    amount: PriceView<'a>,
    code: &'a str,
    id: Uuid,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_cart_discount: bool,
    /// A custom discount has no promotion behind it: no source.
    #[serde(skip_serializing_if = "Option::is_none")]
    promotion_source: Option<&'static str>,
}

impl<'d> LineDiscounts<'d, '_> {
    fn each(&self) -> impl Iterator<Item = (&'d Discount, i64, bool)> {
        self.own.iter().map(|d| (d, d.amount, false)).chain(
            self.cart_sources
                .iter()
                .zip(self.cart_shares)
                .filter(|(_, share)| **share != 0)
                .map(|(d, share)| (d, *share, true)),
        )
    }

    /// The line's `discounts` array; `None` when there are none.
    pub(crate) fn array<'a>(&self, currency: &'a str, includes_tax: bool) -> Option<Vec<LineDiscountView<'a>>>
    where
        'd: 'a,
    {
        let list: Vec<LineDiscountView<'a>> = self
            .each()
            .map(|(d, amount, cart)| LineDiscountView {
                amount: PriceView {
                    amount,
                    currency,
                    includes_tax,
                },
                code: &d.code,
                id: d.promotion_id,
                is_cart_discount: cart,
                promotion_source: d.custom.is_none().then_some("rule-promotion"),
            })
            .collect();
        (!list.is_empty()).then_some(list)
    }

    /// `meta.display_price.discounts`: by code, the amount and the promotions that gave it.
    pub(crate) fn by_code<'a>(
        &self,
        currency: &'a str,
        formats: &HashMap<String, MoneyFormat>,
    ) -> DiscountsByCode<'a>
    where
        'd: 'a,
    {
        struct Sum<'a> {
            code: &'a str,
            amount: i64,
            /// (promotion id, amount), in the order first seen.
            parts: Vec<(Uuid, i64)>,
        }
        let mut by: Vec<Sum<'a>> = Vec::new();
        for (d, amount, _) in self.each() {
            let entry = match by.iter().position(|s| s.code == d.code) {
                Some(i) => &mut by[i],
                None => {
                    by.push(Sum {
                        code: &d.code,
                        amount: 0,
                        parts: Vec::new(),
                    });
                    by.last_mut().expect("just pushed")
                }
            };
            entry.amount += amount;
            match entry.parts.iter_mut().find(|(p, _)| *p == d.promotion_id) {
                Some((_, a)) => *a += amount,
                None => entry.parts.push((d.promotion_id, amount)),
            }
        }
        by.sort_by(|a, b| a.code.cmp(b.code));
        DiscountsByCode(
            by.into_iter()
                .map(|mut s| {
                    // A UUID's order is its text's order: the map's keys come out sorted.
                    s.parts.sort_by_key(|(id, _)| *id);
                    CodeDiscount {
                        code: s.code,
                        total: money(s.amount, currency, formats),
                        constituents: s
                            .parts
                            .into_iter()
                            .map(|(id, a)| (id, money(a, currency, formats)))
                            .collect(),
                    }
                })
                .collect(),
        )
    }
}

/// A `promotion_item` line (Elastic Path's shape: a line of one unit at minus the discount).
#[derive(Serialize)]
pub(crate) struct PromotionItemView<'a> {
    description: &'a str,
    id: Uuid,
    image: EmptyImageView,
    links: EmptyObject,
    manage_stock: bool,
    meta: PromotionItemMetaView<'a>,
    name: &'a str,
    promotion_id: Uuid,
    promotion_source: &'static str,
    quantity: i64,
    sku: Cow<'a, str>,
    slug: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    unit_price: PriceView<'a>,
    value: PriceView<'a>,
}

/// A promotion item's picture: none.
#[derive(Serialize)]
struct EmptyImageView {
    file_name: &'static str,
    href: &'static str,
    mime_type: &'static str,
}

#[derive(Serialize)]
struct PromotionItemMetaView<'a> {
    display_price: PromotionItemPriceView<'a>,
    timestamps: TimestampsView,
}

#[derive(Serialize)]
struct PromotionItemPriceView<'a> {
    discount: LinePriceView<'a>,
    tax: LinePriceView<'a>,
    with_tax: LinePriceView<'a>,
    without_discount: LinePriceView<'a>,
    without_tax: LinePriceView<'a>,
}

/// The `promotion_item` lines of a cart: one for every code the shopper added (its promotion's
/// whole discount, or 0 when it does not apply now) and, as Elastic Path shows them, one for
/// every automatic promotion that gave a cart discount (that discount).
pub(crate) fn promotion_lines<'a>(
    codes: &'a [PromotionCode],
    applied: &'a [Applied],
    cart: &[Discount],
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    timestamps: &TimestampsView,
) -> Vec<PromotionItemView<'a>> {
    let line = |id: Uuid, name: &'a str, description: &'a str, code: Cow<'a, str>, amount: i64| {
        let off = -amount.abs();
        let m = |a: i64| LinePriceView {
            unit: money(a, currency, formats),
            value: money(a, currency, formats),
        };
        let price = PriceView {
            amount: off,
            currency,
            includes_tax: false,
        };
        PromotionItemView {
            description,
            id,
            image: EmptyImageView {
                file_name: "",
                href: "",
                mime_type: "",
            },
            links: EmptyObject {},
            manage_stock: false,
            meta: PromotionItemMetaView {
                display_price: PromotionItemPriceView {
                    discount: m(0),
                    tax: m(0),
                    with_tax: m(off),
                    without_discount: m(0),
                    without_tax: m(off),
                },
                timestamps: timestamps.clone(),
            },
            name,
            promotion_id: id,
            promotion_source: "rule-promotion",
            quantity: 1,
            sku: code,
            slug: "",
            kind: "promotion_item",
            unit_price: PriceView { ..price },
            value: price,
        }
    };
    let mut out = Vec::new();
    for c in codes {
        let found = applied.iter().find(|a| a.promotion.id == c.promotion_id);
        let (name, description) = found.map_or(("", ""), |a| {
            (a.promotion.name.as_str(), a.promotion.description.as_str())
        });
        out.push(line(
            c.promotion_id,
            name,
            description,
            Cow::Borrowed(&c.code),
            found.map_or(0, |a| a.total),
        ));
    }
    for a in applied.iter().filter(|a| a.code.is_none()) {
        let off: i64 = cart
            .iter()
            .filter(|d| d.promotion_id == a.promotion.id)
            .map(|d| d.amount)
            .sum();
        if off != 0 {
            out.push(line(
                a.promotion.id,
                &a.promotion.name,
                &a.promotion.description,
                Cow::Owned(automatic_code(a.promotion.id)),
                off,
            ));
        }
    }
    out
}
