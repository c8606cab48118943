//! Promotion codes at checkout: whether each code the shopper added may be used now
//! ([`check_codes`]) and the redemptions the order's transaction counts ([`redemptions`]).

use crate::checkout::OrderParty;
use crate::orders::{OrderQuery, OrderScope, PlacedOrder};
use crate::promotion_rules::{CartFacts, Outcome};
use crate::promotions::{ConsumeUnit, PromotionCode, PromotionUsage, Redemption};
use crate::query::{Filter, FilterOp, PageRequest};
use crate::time::Millis;
use crate::{Error, Result};

fn refused(title: &str, detail: String) -> Error {
    Error::bad_request(title, detail)
}

/// Every code of the cart must have applied in `outcome`, and be usable by `party`: a code for
/// one customer only by that customer, a code limited per shopper only by a known shopper (a
/// customer or an account, or a guest with an email when the code includes guests).
pub fn check_codes(
    cart: &CartFacts,
    outcome: &Outcome,
    codes: &[PromotionCode],
    party: &OrderParty,
) -> Result<()> {
    for code in codes {
        if let Some(user) = code.user
            && party.customer_id != Some(user)
        {
            return Err(refused(
                "Promotion code not valid for this shopper",
                format!("The promotion code '{}' belongs to another customer", code.code),
            ));
        }
        if code.max_uses_per_shopper.is_some() && party.customer_id.is_none() && party.account_id.is_none() {
            let email = party.customer_email.as_ref().or(party.contact_email.as_ref());
            if !code.includes_guests || email.is_none() {
                return Err(refused(
                    "Promotion code not valid for this shopper",
                    format!(
                        "The promotion code '{}' is limited per shopper and needs a signed-in shopper{}",
                        code.code,
                        if code.includes_guests {
                            " or a guest email"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        if !outcome
            .applied
            .iter()
            .any(|a| a.promotion.id == code.promotion_id)
        {
            return Err(not_applicable(code, cart));
        }
    }
    Ok(())
}

/// The queries that find an order the party has paid for (`paid`, `partially_paid`, then
/// `refunded`: cancelling or refunding does not make a shopper new again), one page of one order
/// each: what rules out a first-time shopper code. Empty for a party that cannot be told apart
/// (a guest without an email), who is then taken to be new.
pub fn paid_order_queries(party: &OrderParty) -> Vec<OrderQuery> {
    let (scope, email) = match (party.customer_id, party.account_id) {
        (Some(id), _) => (OrderScope::Customer(id), None),
        (None, Some(id)) => (OrderScope::Account(id), None),
        (None, None) => match party.customer_email.as_ref().or(party.contact_email.as_ref()) {
            Some(email) => (OrderScope::All, Some(email.clone())),
            None => return Vec::new(),
        },
    };
    ["paid", "partially_paid", "refunded"]
        .into_iter()
        .filter_map(|payment| {
            let mut filters = vec![Filter {
                op: FilterOp::Eq,
                field: "payment".into(),
                values: vec![payment.into()],
            }];
            if let Some(email) = &email {
                filters.push(Filter {
                    op: FilterOp::Eq,
                    field: "email".into(),
                    values: vec![email.clone()],
                });
            }
            Some(OrderQuery {
                scope,
                conditions: crate::orders::order_conditions(&filters).ok()?,
                sort: Default::default(),
                page: PageRequest { limit: 1, offset: 0 },
                with_items: false,
                count_cap: 1,
            })
        })
        .collect()
}

/// A first-time shopper code (`is_for_new_shopper`) only for a shopper without a paid order.
pub fn check_new_shopper(codes: &[PromotionCode], has_paid_order: bool) -> Result<()> {
    match codes.iter().find(|c| c.is_for_new_shopper) {
        Some(code) if has_paid_order => Err(refused(
            "Promotion code not valid for this shopper",
            format!(
                "The promotion code '{}' is for first-time shoppers only",
                code.code
            ),
        )),
        _ => Ok(()),
    }
}

/// No promotion is enabled at all: any code in the cart no longer applies.
pub fn check_no_codes(codes: &[PromotionCode]) -> Result<()> {
    match codes.first() {
        Some(code) => Err(refused(
            "Promotion code not applicable",
            format!(
                "The promotion code '{}' no longer applies to this cart; remove it to check out",
                code.code
            ),
        )),
        None => Ok(()),
    }
}

fn not_applicable(code: &PromotionCode, _cart: &CartFacts) -> Error {
    if code.remaining() == Some(0) {
        return crate::promotions::code_used_up(&code.code);
    }
    refused(
        "Promotion code not applicable",
        format!(
            "The promotion code '{}' no longer applies to this cart (its promotion ended, was disabled or its conditions no longer hold); remove it to check out",
            code.code
        ),
    )
}

/// Why a code the shopper typed does not apply to their cart (`codes`: the code's entries, one
/// per promotion that has it; `list`: the enabled promotions): the most telling reason of the
/// first entry — used up, not started, ended, disabled, another currency — or else that the
/// cart does not meet the promotion's conditions.
pub fn refusal_for_code(
    codes: &[PromotionCode],
    list: &[std::sync::Arc<crate::promotions::Compiled>],
    currency: &str,
    now: Millis,
) -> Error {
    let Some(code) = codes.first() else {
        return Error::not_found("Not Found", "No promotion could be found with the given code.");
    };
    if codes.iter().all(|c| c.remaining() == Some(0)) {
        return crate::promotions::code_used_up(&code.code);
    }
    let promotion = codes
        .iter()
        .find_map(|c| list.iter().find(|p| p.id == c.promotion_id));
    let Some(p) = promotion else {
        return refused(
            "Promotion not active",
            format!("The promotion of the code '{}' is not enabled", code.code),
        );
    };
    if p.start.is_some_and(|s| now < s) {
        return refused(
            "Promotion not started",
            format!(
                "The promotion of the code '{}' starts at {}",
                code.code,
                crate::time::rfc3339(p.start.unwrap_or_default())
            ),
        );
    }
    if p.end.is_some_and(|e| now >= e) {
        return refused(
            "Promotion expired",
            format!(
                "The promotion of the code '{}' ended at {}",
                code.code,
                crate::time::rfc3339(p.end.unwrap_or_default())
            ),
        );
    }
    if p.currencies
        .as_ref()
        .is_some_and(|c| !c.contains(&currency.to_ascii_uppercase()))
    {
        return refused(
            "Promotion not applicable",
            format!(
                "The promotion of the code '{}' does not apply to carts in {currency}",
                code.code
            ),
        );
    }
    refused(
        "Promotion not applicable",
        format!(
            "The cart does not meet the conditions of the promotion of the code '{}'",
            code.code
        ),
    )
}

/// What placing `order` redeems: every code through which a promotion applied, counted once per
/// checkout or once per application as the code says, with its usage record.
pub fn redemptions(
    order: &PlacedOrder,
    codes: &[PromotionCode],
    outcome: &Outcome,
    now: Millis,
) -> Vec<Redemption> {
    outcome
        .applied
        .iter()
        .filter(|a| a.code.is_some())
        .filter_map(|a| {
            let code = codes.iter().find(|c| c.promotion_id == a.promotion.id)?;
            let times = match code.consume_unit {
                ConsumeUnit::PerCheckout => 1,
                ConsumeUnit::PerApplication => a.applications.max(1) as i64,
            };
            Some(Redemption {
                code_id: code.id,
                times,
                max_uses: code.max_uses,
                per_shopper: code.max_uses_per_shopper,
                usage: PromotionUsage {
                    id: crate::ids::new_id(),
                    promotion_id: a.promotion.id,
                    code_id: code.id,
                    code: code.code.clone(),
                    order_id: Some(order.id),
                    times_used: times,
                    used_on: now,
                    customer_id: order.customer_id,
                    account_id: order.account_id,
                    customer_email: order
                        .customer_email
                        .clone()
                        .or_else(|| order.contact_email.clone()),
                    anonymized: false,
                    updated_at: now,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion_rules::Applied;
    use crate::promotions::{compile, parse_promotion};
    use serde_json::json;
    use std::sync::Arc;
    use uuid::Uuid;

    fn code(promotion: Uuid, consume_unit: ConsumeUnit) -> PromotionCode {
        PromotionCode {
            id: Uuid::from_u128(9),
            promotion_id: promotion,
            code: "SAVE".into(),
            uses: 0,
            max_uses: Some(1),
            user: None,
            consume_unit,
            max_uses_per_shopper: None,
            includes_guests: false,
            is_for_new_shopper: false,
            created_at: 0,
        }
    }

    fn applied(id: Uuid, applications: u64) -> Outcome {
        let body = json!({"data": {"type": "rule_promotion", "name": "p", "enabled": true,
            "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}});
        let p = Arc::new(compile(&parse_promotion(&body, None, id, 0).unwrap()).unwrap());
        Outcome {
            applied: vec![Applied {
                promotion: p,
                code: Some("SAVE".into()),
                applications,
                total: 100,
            }],
            ..Outcome::default()
        }
    }

    fn facts() -> CartFacts {
        CartFacts {
            currency: "USD".into(),
            custom_attributes: json!({}),
            account_tags: vec![],
            codes: vec![],
            now: 0,
        }
    }

    #[test]
    fn codes_are_checked_against_the_outcome_and_the_party() {
        let p = Uuid::from_u128(1);
        let customer = Uuid::from_u128(5);
        let guest = OrderParty {
            customer_email: Some("g@example.com".into()),
            ..OrderParty::default()
        };
        let signed_in = OrderParty {
            customer_id: Some(customer),
            ..OrderParty::default()
        };
        let title = |r: Result<()>| match r {
            Ok(()) => "ok".to_owned(),
            Err(Error::BadRequest { title, .. }) => title,
            Err(e) => format!("{e}"),
        };
        let plain = code(p, ConsumeUnit::PerCheckout);
        let mut mine = plain.clone();
        mine.user = Some(customer);
        let mut per_shopper = plain.clone();
        per_shopper.max_uses_per_shopper = Some(1);
        let mut with_guests = per_shopper.clone();
        with_guests.includes_guests = true;
        let mut used_up = plain.clone();
        used_up.uses = 1;
        // (code, applied, party, title)
        let cases = [
            (&plain, true, &guest, "ok"),
            (&plain, false, &guest, "Promotion code not applicable"),
            (&used_up, false, &guest, "Promotion code exhausted"),
            (&mine, true, &signed_in, "ok"),
            (&mine, true, &guest, "Promotion code not valid for this shopper"),
            (
                &per_shopper,
                true,
                &guest,
                "Promotion code not valid for this shopper",
            ),
            (&per_shopper, true, &signed_in, "ok"),
            (&with_guests, true, &guest, "ok"),
        ];
        for (c, was_applied, party, want) in cases {
            let outcome = if was_applied {
                applied(p, 1)
            } else {
                Outcome::default()
            };
            assert_eq!(
                title(check_codes(&facts(), &outcome, std::slice::from_ref(c), party)),
                want,
                "{c:?}"
            );
        }
        assert_eq!(title(check_no_codes(&[plain])), "Promotion code not applicable");
        assert_eq!(title(check_no_codes(&[])), "ok");
    }

    #[test]
    fn first_time_shopper_codes() {
        let p = Uuid::from_u128(1);
        let mut new = code(p, ConsumeUnit::PerCheckout);
        new.is_for_new_shopper = true;
        assert!(check_new_shopper(std::slice::from_ref(&new), false).is_ok());
        assert!(check_new_shopper(std::slice::from_ref(&new), true).is_err());
        assert!(check_new_shopper(&[code(p, ConsumeUnit::PerCheckout)], true).is_ok());
        let guest = OrderParty {
            customer_email: Some("a@b.c".into()),
            ..OrderParty::default()
        };
        let queries = paid_order_queries(&guest);
        assert_eq!(queries.len(), 3);
        assert_eq!(
            (queries[0].scope, queries[0].conditions.len()),
            (OrderScope::All, 2)
        );
        let customer = OrderParty {
            customer_id: Some(Uuid::from_u128(5)),
            ..OrderParty::default()
        };
        assert_eq!(
            paid_order_queries(&customer)[0].scope,
            OrderScope::Customer(Uuid::from_u128(5))
        );
        assert!(paid_order_queries(&OrderParty::default()).is_empty());
    }

    #[test]
    fn a_refused_code_says_why() {
        let id = Uuid::from_u128(1);
        let promo = |attrs: serde_json::Value| {
            let mut data = json!({"type": "rule_promotion", "name": "p", "enabled": true,
                "rule_set": {"currencies": ["USD"], "actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}});
            for (k, v) in attrs.as_object().unwrap() {
                data[k] = v.clone();
            }
            Arc::new(compile(&parse_promotion(&json!({ "data": data }), None, id, 0).unwrap()).unwrap())
        };
        let title = |e: Error| match e {
            Error::BadRequest { title, .. } | Error::NotFound { title, .. } => title,
            e => format!("{e}"),
        };
        let mut used_up = code(id, ConsumeUnit::PerCheckout);
        used_up.uses = 1;
        let fine = code(id, ConsumeUnit::PerCheckout);
        let now = 86_400_000 * 365 * 50;
        // (codes, promotions, currency, title)
        let cases = [
            (vec![], vec![], "USD", "Not Found"),
            (
                vec![used_up],
                vec![promo(json!({}))],
                "USD",
                "Promotion code exhausted",
            ),
            (vec![fine.clone()], vec![], "USD", "Promotion not active"),
            (
                vec![fine.clone()],
                vec![promo(json!({"start": "2100-01-01"}))],
                "USD",
                "Promotion not started",
            ),
            (
                vec![fine.clone()],
                vec![promo(json!({"end": "2000-01-01"}))],
                "USD",
                "Promotion expired",
            ),
            (
                vec![fine.clone()],
                vec![promo(json!({}))],
                "EUR",
                "Promotion not applicable",
            ),
            (
                vec![fine],
                vec![promo(json!({}))],
                "USD",
                "Promotion not applicable",
            ),
        ];
        for (codes, list, currency, want) in cases {
            assert_eq!(title(refusal_for_code(&codes, &list, currency, now)), want);
        }
    }

    #[test]
    fn a_code_is_redeemed_per_checkout_or_per_application() {
        let p = Uuid::from_u128(1);
        let cart = crate::carts::Cart::empty("c".into(), 0, 7);
        let (order, _) = crate::checkout::place(
            &cart,
            &[],
            &[],
            &Outcome::default(),
            &Default::default(),
            Default::default(),
            "USD".into(),
            &Default::default(),
            1,
        )
        .unwrap();
        for (unit, applications, times) in [
            (ConsumeUnit::PerCheckout, 3, 1),
            (ConsumeUnit::PerApplication, 3, 3),
            (ConsumeUnit::PerApplication, 0, 1),
        ] {
            let r = redemptions(&order, &[code(p, unit)], &applied(p, applications), 7);
            assert_eq!(r.len(), 1);
            assert_eq!(
                (r[0].times, r[0].usage.times_used, r[0].usage.order_id),
                (times, times, Some(order.id))
            );
        }
        // An automatic promotion redeems nothing.
        let mut auto = applied(p, 1);
        auto.applied[0].code = None;
        assert!(redemptions(&order, &[code(p, ConsumeUnit::PerCheckout)], &auto, 7).is_empty());
    }
}
