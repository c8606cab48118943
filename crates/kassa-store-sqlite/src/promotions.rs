//! Rule promotions, their codes and usages, the codes added to carts, and the redemption that
//! checkout runs inside its order's job.

use async_trait::async_trait;
use kassa_core::carts::CartContents;
use kassa_core::integrations::Emit;
use kassa_core::promotion_jobs::PromotionJob;
use kassa_core::promotions::{
    MAX_PROMOTIONS, PromotionCode, PromotionUsage, Redemption, RulePromotion, code_key, code_used_up,
    shopper_limit_reached,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::PromotionStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::DbResult;
use crate::list::Where;
use crate::promotion_codes::{code_row, codes_by_key, version};
use crate::sql::{opt_uuid_at, uuid_at};

const PROMOTION_COLUMNS: &str = "id, name, description, enabled, automatic, stackable, override_stacking, \
    priority, starts_at, ends_at, rule_set, created_at, updated_at";
/// A code as the admin lists it: `uses` is counted on a limited code's row; an unlimited code's
/// uses are its usages (summed for the page listed).
const CODE_COLUMNS: &str = "id, promotion_id, code, CASE WHEN max_uses IS NULL AND max_uses_per_shopper IS NULL \
    THEN CAST(COALESCE((SELECT sum(u.times_used) FROM promotion_usages u WHERE u.code_id = promotion_codes.id), 0) \
    AS BIGINT) ELSE uses END, max_uses, user_id, consume_unit, \
    max_uses_per_shopper, includes_guests, is_for_new_shopper, created_at";
const JOB_COLUMNS: &str =
    "id, promotion_id, job_type, name, parameters, status, result, file_token, created_at, updated_at";

fn job_row(r: &Row<'_>) -> rusqlite::Result<PromotionJob> {
    let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
    Ok(PromotionJob {
        id: uuid_at(r, 0)?,
        promotion_id: uuid_at(r, 1)?,
        job_type: r.get(2)?,
        name: r.get(3)?,
        parameters: json(r.get(4)?),
        status: r.get(5)?,
        result: json(r.get(6)?),
        file_token: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        file: r.get(10)?,
    })
}

const USAGE_COLUMNS: &str = "id, promotion_id, code_id, code, order_id, times_used, used_on, customer_id, \
    account_id, customer_email, anonymized, updated_at";

fn promotion_row(r: &Row<'_>) -> rusqlite::Result<RulePromotion> {
    let rule_set: String = r.get(10)?;
    Ok(RulePromotion {
        id: uuid_at(r, 0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        enabled: r.get(3)?,
        automatic: r.get(4)?,
        stackable: r.get(5)?,
        override_stacking: r.get(6)?,
        priority: r.get(7)?,
        start: r.get(8)?,
        end: r.get(9)?,
        rule_set: serde_json::from_str(&rule_set).unwrap_or_default(),
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn usage_row(r: &Row<'_>) -> rusqlite::Result<PromotionUsage> {
    Ok(PromotionUsage {
        id: uuid_at(r, 0)?,
        promotion_id: uuid_at(r, 1)?,
        code_id: uuid_at(r, 2)?,
        code: r.get(3)?,
        order_id: opt_uuid_at(r, 4)?,
        times_used: r.get(5)?,
        used_on: r.get(6)?,
        customer_id: opt_uuid_at(r, 7)?,
        account_id: opt_uuid_at(r, 8)?,
        customer_email: r.get(9)?,
        anonymized: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

fn save(conn: &Connection, p: &RulePromotion, insert: bool) -> DbResult<usize> {
    let sql = if insert {
        "INSERT INTO rule_promotions (id, name, description, enabled, automatic, stackable, override_stacking,
             priority, starts_at, ends_at, rule_set, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    } else {
        "UPDATE rule_promotions SET name = ?2, description = ?3, enabled = ?4, automatic = ?5, stackable = ?6,
             override_stacking = ?7, priority = ?8, starts_at = ?9, ends_at = ?10, rule_set = ?11,
             created_at = ?12, updated_at = ?13
         WHERE id = ?1"
    };
    let n = conn.prepare_cached(sql)?.execute(params![
        p.id.to_string(),
        p.name,
        p.description,
        p.enabled,
        p.automatic,
        p.stackable,
        p.override_stacking,
        p.priority,
        p.start,
        p.end,
        p.rule_set.to_string(),
        p.created_at,
        p.updated_at
    ])?;
    if n > 0 {
        bump(conn)?;
    }
    Ok(n)
}

fn bump(conn: &Connection) -> DbResult<()> {
    conn.prepare_cached("UPDATE promotions_version SET version = version + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}

/// Counts each redemption against its code and records its usage; the first that does not fit
/// fails the job (and with it the order).
pub(crate) fn redeem(conn: &Connection, redemptions: &[Redemption]) -> DbResult<()> {
    for r in redemptions.iter() {
        if r.max_uses.is_none() && r.per_shopper.is_none() {
            insert_usage(conn, &r.usage)?;
            continue;
        }
        let n = conn
            .prepare_cached(
                "UPDATE promotion_codes SET uses = uses + ?2
                 WHERE id = ?1 AND (max_uses IS NULL OR uses + ?2 <= max_uses)",
            )?
            .execute(params![r.code_id.to_string(), r.times])?;
        if n == 0 {
            return Err(code_used_up(&r.usage.code).into());
        }
        if let Some(limit) = r.per_shopper {
            let u = &r.usage;
            let used: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM promotion_usages WHERE code_id = ?1 AND anonymized = 0 AND (
                        (?2 IS NOT NULL AND customer_id = ?2) OR (?3 IS NOT NULL AND account_id = ?3)
                        OR (?4 IS NOT NULL AND lower(customer_email) = lower(?4)))",
                )?
                .query_row(
                    params![
                        r.code_id.to_string(),
                        u.customer_id.map(|x| x.to_string()),
                        u.account_id.map(|x| x.to_string()),
                        u.customer_email
                    ],
                    |row| row.get(0),
                )?;
            if used >= limit {
                return Err(shopper_limit_reached(&u.code).into());
            }
        }
        insert_usage(conn, &r.usage)?;
    }
    Ok(())
}

fn insert_usage(conn: &Connection, u: &PromotionUsage) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO promotion_usages (id, promotion_id, code_id, code, order_id, times_used, used_on,
             customer_id, account_id, customer_email, anonymized, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        u.id.to_string(),
        u.promotion_id.to_string(),
        u.code_id.to_string(),
        u.code,
        u.order_id.map(|x| x.to_string()),
        u.times_used,
        u.used_on,
        u.customer_id.map(|x| x.to_string()),
        u.account_id.map(|x| x.to_string()),
        u.customer_email,
        u.anonymized,
        u.updated_at
    ])?;
    Ok(())
}

fn get(conn: &Connection, id: Uuid) -> DbResult<Option<RulePromotion>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM rule_promotions WHERE id = ?1"
        ))?
        .query_row([id.to_string()], promotion_row)
        .optional()?)
}

#[async_trait]
impl PromotionStore for SqliteStore {
    async fn promotions_version(&self) -> Result<i64> {
        self.db.read(version).await
    }

    async fn all_promotions(&self) -> Result<(i64, Vec<RulePromotion>)> {
        self.db
            .read(|conn| {
                let version = version(conn)?;
                let list = conn
                    .prepare_cached(&format!("SELECT {PROMOTION_COLUMNS} FROM rule_promotions"))?
                    .query_map([], promotion_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok((version, list))
            })
            .await
    }

    async fn create_promotion(&self, promotion: RulePromotion) -> Result<()> {
        self.db
            .write(move |conn| {
                let count: i64 = conn
                    .prepare_cached("SELECT count(*) FROM rule_promotions")?
                    .query_row([], |r| r.get(0))?;
                if count as u64 >= MAX_PROMOTIONS {
                    return Err(Error::bad_request(
                        "Promotion limit reached",
                        format!("A store can have at most {MAX_PROMOTIONS} rule promotions"),
                    )
                    .into());
                }
                save(conn, &promotion, true)?;
                Ok(())
            })
            .await
    }

    async fn promotion(&self, id: Uuid) -> Result<Option<RulePromotion>> {
        self.db.read(move |conn| get(conn, id)).await
    }

    async fn promotions(&self, page: PageRequest) -> Result<Page<RulePromotion>> {
        self.db
            .read(move |conn| {
                Where::default().page(
                    conn,
                    PROMOTION_COLUMNS,
                    "rule_promotions",
                    "created_at, id",
                    page,
                    promotion_row,
                )
            })
            .await
    }

    async fn update_promotion(&self, promotion: RulePromotion) -> Result<bool> {
        self.db
            .write(move |conn| Ok(save(conn, &promotion, false)? > 0))
            .await
    }

    async fn delete_promotion(&self, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                // A cart that held one of its codes keeps the key, which now names nothing (other
                // promotions may share it): it shows nothing and goes with the cart.
                let id = id.to_string();
                let n = conn
                    .prepare_cached("DELETE FROM rule_promotions WHERE id = ?1")?
                    .execute([&id])?;
                if n > 0 {
                    bump(conn)?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn create_promotion_codes(&self, promotion_id: Uuid, codes: Vec<PromotionCode>) -> Result<()> {
        self.db
            .write(move |conn| {
                if get(conn, promotion_id)?.is_none() {
                    return Err(Error::not_found("Not Found", "Promotion not found").into());
                }
                let mut taken = Vec::new();
                let mut insert = conn.prepare_cached(
                    "INSERT INTO promotion_codes (id, promotion_id, code, code_key, uses, max_uses, user_id,
                         consume_unit, max_uses_per_shopper, includes_guests, is_for_new_shopper, created_at)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (promotion_id, code_key) DO NOTHING",
                )?;
                for c in &codes {
                    let n = insert.execute(params![
                        c.id.to_string(),
                        promotion_id.to_string(),
                        c.code,
                        code_key(&c.code),
                        c.max_uses,
                        c.user.map(|u| u.to_string()),
                        c.consume_unit.as_str(),
                        c.max_uses_per_shopper,
                        c.includes_guests,
                        c.is_for_new_shopper,
                        c.created_at
                    ])?;
                    if n == 0 {
                        taken.push(c.code.clone());
                    }
                }
                if !taken.is_empty() {
                    return Err(Error::Conflict(format!(
                        "Promotion code already in use: {}",
                        taken.join(", ")
                    ))
                    .into());
                }
                Ok(())
            })
            .await
    }

    async fn promotion_codes(&self, promotion_id: Uuid, page: PageRequest) -> Result<Page<PromotionCode>> {
        self.db
            .read(move |conn| {
                Where::default()
                    .and("promotion_id = ?", promotion_id.to_string())
                    .page(
                        conn,
                        CODE_COLUMNS,
                        "promotion_codes",
                        "created_at, id",
                        page,
                        code_row,
                    )
            })
            .await
    }

    async fn promotion_codes_by_key(&self, key: &str) -> Result<Vec<PromotionCode>> {
        let key = key.to_owned();
        self.db.read(move |conn| codes_by_key(conn, &key)).await
    }

    async fn delete_promotion_codes(&self, promotion_id: Uuid, ids: Vec<Uuid>) -> Result<u64> {
        self.db
            .write(move |conn| {
                let pid = promotion_id.to_string();
                let mut n = 0;
                if ids.is_empty() {
                    n += conn
                        .prepare_cached("DELETE FROM promotion_codes WHERE promotion_id = ?1")?
                        .execute([&pid])?;
                } else {
                    for id in &ids {
                        let id = id.to_string();
                        n += conn
                            .prepare_cached(
                                "DELETE FROM promotion_codes WHERE promotion_id = ?1 AND id = ?2",
                            )?
                            .execute(params![pid, id])?;
                    }
                }
                Ok(n as u64)
            })
            .await
    }

    async fn promotion_usages(
        &self,
        promotion_id: Uuid,
        code_key: Option<String>,
        page: PageRequest,
    ) -> Result<Page<PromotionUsage>> {
        self.db
            .read(move |conn| {
                let mut w = Where::default().and("promotion_id = ?", promotion_id.to_string());
                if let Some(key) = code_key {
                    w = w.and("lower(code) = ?", key);
                }
                w.page(
                    conn,
                    USAGE_COLUMNS,
                    "promotion_usages",
                    "used_on DESC, id",
                    page,
                    usage_row,
                )
            })
            .await
    }

    async fn anonymize_usages(&self, ids: Vec<Uuid>, now: Millis) -> Result<Vec<Uuid>> {
        self.db
            .write(move |conn| {
                let mut changed = Vec::new();
                for id in ids {
                    let n = conn
                        .prepare_cached(
                            "UPDATE promotion_usages SET customer_id = NULL, account_id = NULL,
                                 customer_email = NULL, anonymized = 1, updated_at = ?2 WHERE id = ?1",
                        )?
                        .execute(params![id.to_string(), now])?;
                    if n > 0 {
                        changed.push(id);
                    }
                }
                Ok(changed)
            })
            .await
    }

    async fn add_cart_code(
        &self,
        cart_id: &str,
        code_key: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<()> {
        let (cart_id, key) = (cart_id.to_owned(), code_key.to_owned());
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE carts SET updated_at = ?2, expires_at = ?3 WHERE id = ?1 AND expires_at > ?2",
                    )?
                    .execute(params![cart_id, now, expires_at])?;
                if n == 0 {
                    return Err(Error::not_found("Not Found", "Cart not found").into());
                }
                conn.prepare_cached(
                    "INSERT INTO cart_promotion_codes (cart_id, code_key, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![cart_id, key, now])?;
                crate::carts::emit_cart(conn, &cart_id, now, emit)
            })
            .await
    }

    async fn remove_cart_code(
        &self,
        cart_id: &str,
        code_key: &str,
        now: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        let (cart_id, key) = (cart_id.to_owned(), code_key.to_owned());
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM cart_promotion_codes WHERE cart_id = ?1 AND code_key = ?2")?
                    .execute(params![cart_id, key])?;
                if n > 0 {
                    conn.prepare_cached("UPDATE carts SET updated_at = ?2 WHERE id = ?1")?
                        .execute(params![cart_id, now])?;
                    crate::carts::emit_cart(conn, &cart_id, now, emit)?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn create_promotion_job(&self, job: PromotionJob) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(&format!(
                    "INSERT INTO promotion_jobs ({JOB_COLUMNS}, file) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))?
                .execute(params![
                    job.id.to_string(),
                    job.promotion_id.to_string(),
                    job.job_type,
                    job.name,
                    job.parameters.to_string(),
                    job.status,
                    job.result.to_string(),
                    job.file_token,
                    job.created_at,
                    job.updated_at,
                    job.file
                ])?;
                Ok(())
            })
            .await
    }

    async fn promotion_jobs(&self, promotion_id: Uuid) -> Result<Vec<PromotionJob>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {JOB_COLUMNS}, NULL FROM promotion_jobs WHERE promotion_id = ?1 \
                         ORDER BY created_at DESC, id DESC"
                    ))?
                    .query_map([promotion_id.to_string()], job_row)?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn promotion_job(&self, promotion_id: Uuid, id: Uuid) -> Result<Option<PromotionJob>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {JOB_COLUMNS}, file FROM promotion_jobs WHERE promotion_id = ?1 AND id = ?2"
                    ))?
                    .query_row([promotion_id.to_string(), id.to_string()], job_row)
                    .optional()?)
            })
            .await
    }

    async fn promotion_job_file(&self, token: &str) -> Result<Option<String>> {
        let token = token.to_owned();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT file FROM promotion_jobs WHERE file_token = ?1")?
                    .query_row([token], |r| r.get::<_, Option<String>>(0))
                    .optional()?
                    .flatten())
            })
            .await
    }
}
