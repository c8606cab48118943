//! Catalog rules: which published catalog a shopper sees. Pure.
//!
//! - A rule matches when every criterion it sets (`account_ids`, `customer_ids`, `channels`,
//!   `tags`) contains the caller's value, and one of its schedules (if it has any) contains now.
//!   A caller without a value for a criterion the rule sets does not match it.
//! - Of the matching rules whose catalog has a release, the most specific (most criteria set)
//!   wins; ties go to the most recently updated rule (then the greater id).
//! - With no matching rule, the default is the oldest published catalog: the oldest catalog
//!   `created_at` among catalogs with a release (then the smaller id).

use uuid::Uuid;

use crate::pricing::Schedule;
use crate::release::PublishedCatalog;
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRule {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub catalog_id: Uuid,
    /// Empty: any caller.
    pub account_ids: Vec<String>,
    pub customer_ids: Vec<String>,
    pub channels: Vec<String>,
    pub tags: Vec<String>,
    /// Empty: always.
    pub schedules: Vec<Schedule>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Who asks and when: the account of the account token, the customer of the customer token, the
/// `EP-Channel` and `EP-Context-Tag` headers, and the moment of the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopperContext {
    pub account_id: Option<String>,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub now: Millis,
}

impl CatalogRule {
    /// How many criteria the rule sets.
    pub fn specificity(&self) -> usize {
        [&self.account_ids, &self.customer_ids, &self.channels, &self.tags]
            .iter()
            .filter(|c| !c.is_empty())
            .count()
    }

    pub fn matches(&self, ctx: &ShopperContext) -> bool {
        let criterion = |set: &[String], value: &Option<String>| {
            set.is_empty() || value.as_ref().is_some_and(|v| set.contains(v))
        };
        criterion(&self.account_ids, &ctx.account_id)
            && criterion(&self.customer_ids, &ctx.customer_id)
            && criterion(&self.channels, &ctx.channel)
            && criterion(&self.tags, &ctx.tag)
            && (self.schedules.is_empty() || self.schedules.iter().any(|s| s.contains(ctx.now)))
    }
}

/// The published catalog `ctx` sees, or `None` when nothing is published.
pub fn resolve_catalog<'a>(
    rules: &[CatalogRule],
    published: &'a [PublishedCatalog],
    ctx: &ShopperContext,
) -> Option<&'a PublishedCatalog> {
    let find = |catalog_id: Uuid| published.iter().find(|p| p.catalog_id == catalog_id);
    rules
        .iter()
        .filter(|r| r.matches(ctx))
        .filter_map(|r| find(r.catalog_id).map(|p| (r, p)))
        .max_by_key(|(r, _)| (r.specificity(), r.updated_at, r.id))
        .map(|(_, p)| p)
        .or_else(|| {
            published
                .iter()
                .min_by_key(|p| (p.catalog_created_at, p.catalog_id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Release;

    fn published(catalog: u128, created_at: Millis) -> PublishedCatalog {
        PublishedCatalog {
            catalog_id: Uuid::from_u128(catalog),
            catalog_created_at: created_at,
            release: Release {
                id: Uuid::from_u128(catalog + 1000),
                catalog_id: Uuid::from_u128(catalog),
                published_at: 0,
                total_products: 0,
                total_nodes: 0,
            },
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[derive(Default)]
    struct R {
        accounts: &'static [&'static str],
        customers: &'static [&'static str],
        channels: &'static [&'static str],
        tags: &'static [&'static str],
        schedule: Option<(Option<Millis>, Option<Millis>)>,
        updated_at: Millis,
    }

    fn rule(n: u128, catalog: u128, r: R) -> CatalogRule {
        CatalogRule {
            id: Uuid::from_u128(n),
            name: format!("rule {n}"),
            description: None,
            catalog_id: Uuid::from_u128(catalog),
            account_ids: strings(r.accounts),
            customer_ids: strings(r.customers),
            channels: strings(r.channels),
            tags: strings(r.tags),
            schedules: r
                .schedule
                .map(|(valid_from, valid_to)| Schedule { valid_from, valid_to })
                .into_iter()
                .collect(),
            created_at: 0,
            updated_at: r.updated_at,
        }
    }

    fn ctx(
        account: Option<&str>,
        customer: Option<&str>,
        channel: Option<&str>,
        tag: Option<&str>,
        now: Millis,
    ) -> ShopperContext {
        ShopperContext {
            account_id: account.map(str::to_owned),
            customer_id: customer.map(str::to_owned),
            channel: channel.map(str::to_owned),
            tag: tag.map(str::to_owned),
            now,
        }
    }

    #[test]
    fn resolves_the_most_specific_matching_rule() {
        // Catalog 1 is the oldest published; 4 has no release.
        let catalogs = [published(2, 20), published(1, 10), published(3, 30)];
        let rules = vec![
            rule(
                100,
                2,
                R {
                    channels: &["mobile"],
                    updated_at: 1,
                    ..R::default()
                },
            ),
            rule(
                101,
                3,
                R {
                    accounts: &["acc-1"],
                    channels: &["mobile"],
                    updated_at: 1,
                    ..R::default()
                },
            ),
            rule(
                102,
                3,
                R {
                    customers: &["cus-1"],
                    ..R::default()
                },
            ),
            rule(
                103,
                2,
                R {
                    tags: &["sale"],
                    schedule: Some((Some(100), Some(200))),
                    ..R::default()
                },
            ),
            rule(
                104,
                4,
                R {
                    accounts: &["acc-4"],
                    ..R::default()
                },
            ),
            // Two equally specific rules: the most recently updated wins.
            rule(
                105,
                2,
                R {
                    accounts: &["acc-2"],
                    updated_at: 5,
                    ..R::default()
                },
            ),
            rule(
                106,
                3,
                R {
                    accounts: &["acc-2"],
                    updated_at: 9,
                    ..R::default()
                },
            ),
        ];
        let cases: &[(ShopperContext, u128, &str)] = &[
            (
                ctx(None, None, None, None, 0),
                1,
                "no rule matches: the oldest published catalog",
            ),
            (ctx(None, None, Some("mobile"), None, 0), 2, "channel"),
            (
                ctx(Some("acc-1"), None, Some("mobile"), None, 0),
                3,
                "account + channel beats channel",
            ),
            (
                ctx(Some("acc-1"), None, Some("web"), None, 0),
                1,
                "a rule needs all its criteria",
            ),
            (
                ctx(Some("acc-1"), None, None, None, 0),
                1,
                "a missing value does not match a set criterion",
            ),
            (ctx(None, Some("cus-1"), None, None, 0), 3, "customer"),
            (
                ctx(None, None, None, Some("sale"), 150),
                2,
                "tag inside the schedule",
            ),
            (ctx(None, None, None, Some("sale"), 99), 1, "before the schedule"),
            (
                ctx(None, None, None, Some("sale"), 200),
                1,
                "the schedule ends exclusively",
            ),
            (
                ctx(Some("acc-4"), None, None, None, 0),
                1,
                "a rule for an unpublished catalog is skipped",
            ),
            (
                ctx(Some("acc-2"), None, None, None, 0),
                3,
                "tie: the most recently updated",
            ),
        ];
        for (c, expected, why) in cases {
            let got = resolve_catalog(&rules, &catalogs, c).map(|p| p.catalog_id);
            assert_eq!(got, Some(Uuid::from_u128(*expected)), "{why}");
        }
    }

    #[test]
    fn a_rule_without_criteria_beats_the_default() {
        let catalogs = [published(1, 10), published(2, 20)];
        let rules = vec![rule(100, 2, R::default())];
        let got = resolve_catalog(&rules, &catalogs, &ShopperContext::default());
        assert_eq!(got.map(|p| p.catalog_id), Some(Uuid::from_u128(2)));
    }

    #[test]
    fn nothing_published_resolves_to_nothing() {
        let rules = vec![rule(100, 2, R::default())];
        assert_eq!(resolve_catalog(&rules, &[], &ShopperContext::default()), None);
        // Equal creation times: the smaller catalog id.
        let catalogs = [published(7, 10), published(5, 10)];
        let got = resolve_catalog(&[], &catalogs, &ShopperContext::default());
        assert_eq!(got.map(|p| p.catalog_id), Some(Uuid::from_u128(5)));
    }
}
