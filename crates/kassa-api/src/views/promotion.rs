//! Rule promotions as the admin API renders them (`rule_promotion`, `promotion_codes`, usages),
//! and what promotions show on carts and orders: each line's `discounts` and
//! `meta.display_price.discounts`, the `promotion_item` lines, `included.promotions`.

use std::collections::HashMap;

use kassa_core::money::MoneyFormat;
use kassa_core::promotion_rules::{Applied, Discount};
use kassa_core::promotions::{PromotionCode, PromotionUsage, RulePromotion, automatic_code};
use kassa_core::time::rfc3339;
use serde_json::{Map, Value, json};

use crate::views::money::money;

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
pub(crate) struct LineDiscounts<'a> {
    pub(crate) own: &'a [Discount],
    pub(crate) cart_sources: &'a [Discount],
    pub(crate) cart_shares: &'a [i64],
}

impl LineDiscounts<'_> {
    fn each(&self) -> impl Iterator<Item = (&Discount, i64, bool)> {
        self.own.iter().map(|d| (d, d.amount, false)).chain(
            self.cart_sources
                .iter()
                .zip(self.cart_shares)
                .filter(|(_, share)| **share != 0)
                .map(|(d, share)| (d, *share, true)),
        )
    }

    /// The line's `discounts` array (Elastic Path's shape); `None` when there are none.
    pub(crate) fn array(&self, currency: &str, includes_tax: bool) -> Option<Vec<Value>> {
        let list: Vec<Value> = self
            .each()
            .map(|(d, amount, cart)| {
                let mut v = json!({
                    "amount": {"amount": amount, "currency": currency, "includes_tax": includes_tax},
                    "code": d.code,
                    "id": d.promotion_id,
                });
                // A custom discount has no promotion behind it.
                if d.custom.is_none() {
                    v["promotion_source"] = json!("rule-promotion");
                }
                if cart {
                    v["is_cart_discount"] = json!(true);
                }
                v
            })
            .collect();
        (!list.is_empty()).then_some(list)
    }

    /// `meta.display_price.discounts`: by code, the amount and the promotions that gave it.
    pub(crate) fn by_code(&self, currency: &str, formats: &HashMap<String, MoneyFormat>) -> Value {
        // (code, amount, [(promotion id, amount)]), in the order first seen.
        type ByCode = Vec<(String, i64, Vec<(String, i64)>)>;
        let mut by: ByCode = Vec::new();
        for (d, amount, _) in self.each() {
            let entry = match by.iter_mut().find(|(c, _, _)| *c == d.code) {
                Some(e) => e,
                None => {
                    by.push((d.code.clone(), 0, Vec::new()));
                    by.last_mut().expect("just pushed")
                }
            };
            entry.1 += amount;
            let id = d.promotion_id.to_string();
            match entry.2.iter_mut().find(|(p, _)| *p == id) {
                Some((_, a)) => *a += amount,
                None => entry.2.push((id, amount)),
            }
        }
        let mut out = Map::new();
        for (code, amount, parts) in by {
            let mut v = serde_json::to_value(money(amount, currency, formats)).unwrap_or_default();
            let mut constituents = Map::new();
            for (id, a) in parts {
                constituents.insert(
                    id,
                    serde_json::to_value(money(a, currency, formats)).unwrap_or_default(),
                );
            }
            v["constituents"] = Value::Object(constituents);
            out.insert(code, v);
        }
        Value::Object(out)
    }
}

/// The `promotion_item` lines of a cart: one for every code the shopper added (its promotion's
/// whole discount, or 0 when it does not apply now) and, as Elastic Path shows them, one for
/// every automatic promotion that gave a cart discount (that discount).
pub(crate) fn promotion_lines(
    codes: &[PromotionCode],
    applied: &[Applied],
    cart: &[Discount],
    currency: &str,
    formats: &HashMap<String, MoneyFormat>,
    timestamps: &Value,
) -> Vec<Value> {
    let mut out = Vec::new();
    let line = |id: uuid::Uuid, name: &str, description: &str, code: &str, amount: i64| {
        let m = |a: i64| json!({"unit": money(a, currency, formats), "value": money(a, currency, formats)});
        json!({
            "type": "promotion_item",
            "id": id,
            "promotion_id": id,
            "name": name,
            "description": description,
            "sku": code,
            "slug": "",
            "image": {"file_name": "", "href": "", "mime_type": ""},
            "quantity": 1,
            "manage_stock": false,
            "unit_price": {"amount": -amount.abs(), "currency": currency, "includes_tax": false},
            "value": {"amount": -amount.abs(), "currency": currency, "includes_tax": false},
            "links": {},
            "meta": {
                "display_price": {
                    "with_tax": m(-amount.abs()),
                    "without_tax": m(-amount.abs()),
                    "tax": m(0),
                    "discount": m(0),
                    "without_discount": m(0),
                },
                "timestamps": timestamps,
            },
            "promotion_source": "rule-promotion",
        })
    };
    for c in codes {
        let found = applied.iter().find(|a| a.promotion.id == c.promotion_id);
        let (name, description) = found.map_or(("", ""), |a| {
            (a.promotion.name.as_str(), a.promotion.description.as_str())
        });
        out.push(line(
            c.promotion_id,
            name,
            description,
            &c.code,
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
                &automatic_code(a.promotion.id),
                off,
            ));
        }
    }
    out
}
