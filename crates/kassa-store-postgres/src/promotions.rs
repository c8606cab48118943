//! Rule promotions, their codes and usages, the codes added to carts, and the redemption that
//! checkout runs inside its order's transaction.

use async_trait::async_trait;
use kassa_core::carts::CartContents;
use kassa_core::integrations::Emit;
use kassa_core::promotion_jobs::PromotionJob;
use kassa_core::promotions::{
    ConsumeUnit, MAX_PROMOTIONS, PromotionCode, PromotionUsage, Redemption, RulePromotion, code_key,
    code_used_up, shopper_limit_reached,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::PromotionStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::list::Where;
use crate::{PgStore, sql_error};

const PROMOTION_COLUMNS: &str = "id, name, description, enabled, automatic, stackable, override_stacking, \
    priority, starts_at, ends_at, rule_set, created_at, updated_at";
/// A code as the hot paths read it (adding a code to a cart): `uses` as counted on the row, which
/// only a limited code's redemptions keep (an unlimited code is never limited by it).
const CODE_COLUMNS_RAW: &str = "id, promotion_id, code, uses, max_uses, user_id, consume_unit, \
    max_uses_per_shopper, includes_guests, is_for_new_shopper, created_at";
/// A code as the admin lists it: `uses` is counted on a limited code's row; an unlimited code's
/// uses are its usages (summed for the page listed).
const CODE_COLUMNS: &str = "id, promotion_id, code, CASE WHEN max_uses IS NULL AND max_uses_per_shopper IS NULL \
    THEN CAST(COALESCE((SELECT sum(u.times_used) FROM promotion_usages u WHERE u.code_id = promotion_codes.id), 0) \
    AS BIGINT) ELSE uses END, max_uses, user_id, consume_unit, \
    max_uses_per_shopper, includes_guests, is_for_new_shopper, created_at";
const USAGE_COLUMNS: &str = "id, promotion_id, code_id, code, order_id, times_used, used_on, customer_id, \
    account_id, customer_email, anonymized, updated_at";

fn promotion_row(r: &PgRow) -> RulePromotion {
    let rule_set: String = r.get(10);
    RulePromotion {
        id: r.get(0),
        name: r.get(1),
        description: r.get(2),
        enabled: r.get(3),
        automatic: r.get(4),
        stackable: r.get(5),
        override_stacking: r.get(6),
        priority: r.get(7),
        start: r.get(8),
        end: r.get(9),
        rule_set: serde_json::from_str(&rule_set).unwrap_or_default(),
        created_at: r.get(11),
        updated_at: r.get(12),
    }
}

macro_rules! job_columns {
    () => {
        "id, promotion_id, job_type, name, parameters, status, result, file_token, created_at, updated_at"
    };
}

fn job_row(r: &PgRow) -> PromotionJob {
    let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null);
    PromotionJob {
        id: r.get(0),
        promotion_id: r.get(1),
        job_type: r.get(2),
        name: r.get(3),
        parameters: json(r.get(4)),
        status: r.get(5),
        result: json(r.get(6)),
        file_token: r.get(7),
        created_at: r.get(8),
        updated_at: r.get(9),
        file: r.get(10),
    }
}

fn code_row(r: &PgRow) -> PromotionCode {
    let unit: String = r.get(6);
    PromotionCode {
        id: r.get(0),
        promotion_id: r.get(1),
        code: r.get(2),
        uses: r.get(3),
        max_uses: r.get(4),
        user: r.get(5),
        consume_unit: ConsumeUnit::parse(&unit).unwrap_or_default(),
        max_uses_per_shopper: r.get(7),
        includes_guests: r.get(8),
        is_for_new_shopper: r.get(9),
        created_at: r.get(10),
    }
}

fn usage_row(r: &PgRow) -> PromotionUsage {
    PromotionUsage {
        id: r.get(0),
        promotion_id: r.get(1),
        code_id: r.get(2),
        code: r.get(3),
        order_id: r.get(4),
        times_used: r.get(5),
        used_on: r.get(6),
        customer_id: r.get(7),
        account_id: r.get(8),
        customer_email: r.get(9),
        anonymized: r.get(10),
        updated_at: r.get(11),
    }
}

async fn bump(db: &mut PgConnection) -> Result<()> {
    sqlx::query("UPDATE promotions_version SET version = version + 1 WHERE id = 1")
        .execute(db)
        .await
        .map_err(sql_error)?;
    Ok(())
}

async fn save(db: &mut PgConnection, p: &RulePromotion, insert: bool) -> Result<bool> {
    let sql = if insert {
        "INSERT INTO rule_promotions (id, name, description, enabled, automatic, stackable, override_stacking,
             priority, starts_at, ends_at, rule_set, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    } else {
        "UPDATE rule_promotions SET name = $2, description = $3, enabled = $4, automatic = $5, stackable = $6,
             override_stacking = $7, priority = $8, starts_at = $9, ends_at = $10, rule_set = $11,
             created_at = $12, updated_at = $13
         WHERE id = $1"
    };
    let done = sqlx::query(sql)
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.enabled)
        .bind(p.automatic)
        .bind(p.stackable)
        .bind(p.override_stacking)
        .bind(p.priority)
        .bind(p.start)
        .bind(p.end)
        .bind(p.rule_set.to_string())
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *db)
        .await
        .map_err(sql_error)?;
    let changed = done.rows_affected() > 0;
    if changed {
        bump(db).await?;
    }
    Ok(changed)
}

/// Counts the redemptions of limited codes (a `max_uses` or a per-shopper limit); the first that
/// does not fit fails (and the caller's transaction, with its order, rolls back). The conditional
/// update takes the code's row lock, so concurrent checkouts with one limited code take turns from
/// here to their commit; the per-shopper count that follows, in its own statement, sees every
/// usage committed before the lock was granted (READ COMMITTED). The usage records are inserted
/// with the order (`orders::insert_order`).
pub(crate) async fn count_limited(db: &mut PgConnection, redemptions: &[Redemption]) -> Result<()> {
    for r in redemptions {
        if r.max_uses.is_some() || r.per_shopper.is_some() {
            count(db, r).await?;
        }
    }
    Ok(())
}

/// Adds a limited code's uses within its limit (taking the row's lock) and checks the shopper's.
async fn count(db: &mut PgConnection, r: &Redemption) -> Result<()> {
    let done = sqlx::query(
        "UPDATE promotion_codes SET uses = uses + $2
         WHERE id = $1 AND (max_uses IS NULL OR uses + $2 <= max_uses)",
    )
    .bind(r.code_id)
    .bind(r.times)
    .execute(&mut *db)
    .await
    .map_err(sql_error)?;
    if done.rows_affected() == 0 {
        return Err(code_used_up(&r.usage.code));
    }
    let u = &r.usage;
    if let Some(limit) = r.per_shopper {
        let used: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM promotion_usages WHERE code_id = $1 AND NOT anonymized AND (
                ($2::uuid IS NOT NULL AND customer_id = $2) OR ($3::uuid IS NOT NULL AND account_id = $3)
                OR ($4::text IS NOT NULL AND lower(customer_email) = lower($4)))",
        )
        .bind(r.code_id)
        .bind(u.customer_id)
        .bind(u.account_id)
        .bind(&u.customer_email)
        .fetch_one(&mut *db)
        .await
        .map_err(sql_error)?;
        if used >= limit {
            return Err(shopper_limit_reached(&u.code));
        }
    }
    Ok(())
}

async fn version(db: &mut PgConnection) -> Result<i64> {
    sqlx::query_scalar("SELECT version FROM promotions_version WHERE id = 1")
        .fetch_one(db)
        .await
        .map_err(sql_error)
}

#[async_trait]
impl PromotionStore for PgStore {
    async fn promotions_version(&self) -> Result<i64> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        version(&mut conn).await
    }

    async fn all_promotions(&self) -> Result<(i64, Vec<RulePromotion>)> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(sql_error)?;
        let v = version(&mut tx).await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROMOTION_COLUMNS} FROM rule_promotions"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok((v, rows.iter().map(promotion_row).collect()))
    }

    async fn create_promotion(&self, promotion: RulePromotion) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The version row's lock serialises promotion writes: the count below is exact.
        bump(&mut tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM rule_promotions")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_error)?;
        if count as u64 >= MAX_PROMOTIONS {
            return Err(Error::bad_request(
                "Promotion limit reached",
                format!("A store can have at most {MAX_PROMOTIONS} rule promotions"),
            ));
        }
        save(&mut tx, &promotion, true).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn promotion(&self, id: Uuid) -> Result<Option<RulePromotion>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROMOTION_COLUMNS} FROM rule_promotions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(promotion_row))
    }

    async fn promotions(&self, page: PageRequest) -> Result<Page<RulePromotion>> {
        Where::default()
            .page(
                &self.pool,
                PROMOTION_COLUMNS,
                "rule_promotions",
                "created_at, id",
                page,
                promotion_row,
            )
            .await
    }

    async fn update_promotion(&self, promotion: RulePromotion) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let changed = save(&mut tx, &promotion, false).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(changed)
    }

    async fn delete_promotion(&self, id: Uuid) -> Result<bool> {
        // A cart that held one of its codes keeps the key, which now names nothing (other
        // promotions may share it): it shows nothing and goes with the cart.
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query("DELETE FROM rule_promotions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            bump(&mut tx).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }

    async fn create_promotion_codes(&self, promotion_id: Uuid, codes: Vec<PromotionCode>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let exists: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM rule_promotions WHERE id = $1 FOR SHARE")
                .bind(promotion_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(sql_error)?;
        if exists.is_none() {
            return Err(Error::not_found("Not Found", "Promotion not found"));
        }
        let mut taken = Vec::new();
        for c in &codes {
            let done = sqlx::query(
                "INSERT INTO promotion_codes (id, promotion_id, code, code_key, uses, max_uses, user_id,
                     consume_unit, max_uses_per_shopper, includes_guests, is_for_new_shopper, created_at)
                 VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (promotion_id, code_key) DO NOTHING",
            )
            .bind(c.id)
            .bind(promotion_id)
            .bind(&c.code)
            .bind(code_key(&c.code))
            .bind(c.max_uses)
            .bind(c.user)
            .bind(c.consume_unit.as_str())
            .bind(c.max_uses_per_shopper)
            .bind(c.includes_guests)
            .bind(c.is_for_new_shopper)
            .bind(c.created_at)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
            if done.rows_affected() == 0 {
                taken.push(c.code.clone());
            }
        }
        if !taken.is_empty() {
            // Dropping the transaction rolls the others back.
            return Err(Error::Conflict(format!(
                "Promotion code already in use: {}",
                taken.join(", ")
            )));
        }
        tx.commit().await.map_err(sql_error)
    }

    async fn promotion_codes(&self, promotion_id: Uuid, page: PageRequest) -> Result<Page<PromotionCode>> {
        Where::default()
            .and_id("promotion_id = ?", promotion_id)
            .page(
                &self.pool,
                CODE_COLUMNS,
                "promotion_codes",
                "created_at, id",
                page,
                code_row,
            )
            .await
    }

    async fn promotion_codes_by_key(&self, key: &str) -> Result<Vec<PromotionCode>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS_RAW} FROM promotion_codes WHERE code_key = $1 ORDER BY created_at, id"
        )))
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows.iter().map(code_row).collect())
    }

    async fn delete_promotion_codes(&self, promotion_id: Uuid, ids: Vec<Uuid>) -> Result<u64> {
        let all = ids.is_empty();
        let done =
            sqlx::query("DELETE FROM promotion_codes WHERE promotion_id = $1 AND ($2 OR id = ANY($3))")
                .bind(promotion_id)
                .bind(all)
                .bind(&ids)
                .execute(&self.pool)
                .await
                .map_err(sql_error)?;
        Ok(done.rows_affected())
    }

    async fn promotion_usages(
        &self,
        promotion_id: Uuid,
        code_key: Option<String>,
        page: PageRequest,
    ) -> Result<Page<PromotionUsage>> {
        let mut w = Where::default().and_id("promotion_id = ?", promotion_id);
        if let Some(key) = code_key {
            w = w.filters(
                &[kassa_core::query::Filter {
                    field: "code".into(),
                    op: kassa_core::query::FilterOp::Eq,
                    values: vec![key],
                }],
                &[("code", "lower(code)")],
            );
        }
        w.page(
            &self.pool,
            USAGE_COLUMNS,
            "promotion_usages",
            "used_on DESC, id",
            page,
            usage_row,
        )
        .await
    }

    async fn anonymize_usages(&self, ids: Vec<Uuid>, now: Millis) -> Result<Vec<Uuid>> {
        sqlx::query_scalar(
            "UPDATE promotion_usages SET customer_id = NULL, account_id = NULL, customer_email = NULL,
                 anonymized = TRUE, updated_at = $2 WHERE id = ANY($1) RETURNING id",
        )
        .bind(&ids)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)
    }

    async fn add_cart_code(
        &self,
        cart_id: &str,
        code_key: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<()> {
        // One statement: the cart's update (its row lock, as every cart writer takes) and the
        // insert, which adds nothing when the cart is gone. With an event to write, that
        // statement and the event in one transaction; without, no transaction round trips.
        let sql =
            "WITH c AS (UPDATE carts SET updated_at = $3, expires_at = $4 WHERE id = $1 AND expires_at > $3
                              RETURNING id),
                        ins AS (INSERT INTO cart_promotion_codes (cart_id, code_key, created_at)
                                SELECT id, $2, $3 FROM c ON CONFLICT DO NOTHING)
                   SELECT TRUE FROM c";
        let query = || {
            sqlx::query_scalar::<_, bool>(sql)
                .bind(cart_id)
                .bind(code_key)
                .bind(now)
                .bind(expires_at)
        };
        let gone = || Error::not_found("Not Found", "Cart not found");
        let Some(emit) = emit else {
            let found = query().fetch_optional(&self.pool).await.map_err(sql_error)?;
            return found.map(|_| ()).ok_or_else(gone);
        };
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let found = query().fetch_optional(&mut *tx).await.map_err(sql_error)?;
        if found.is_none() {
            return Err(gone());
        }
        crate::carts::emit_cart(&mut tx, cart_id, now, Some(emit)).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn remove_cart_code(
        &self,
        cart_id: &str,
        code_key: &str,
        now: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        let sql = "WITH d AS (DELETE FROM cart_promotion_codes WHERE cart_id = $1 AND code_key = $2 RETURNING cart_id),
                        u AS (UPDATE carts SET updated_at = $3 WHERE id IN (SELECT cart_id FROM d))
                   SELECT TRUE FROM d";
        let query = || {
            sqlx::query_scalar::<_, bool>(sql)
                .bind(cart_id)
                .bind(code_key)
                .bind(now)
        };
        let Some(emit) = emit else {
            let removed = query().fetch_optional(&self.pool).await.map_err(sql_error)?;
            return Ok(removed.is_some());
        };
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let removed = query().fetch_optional(&mut *tx).await.map_err(sql_error)?;
        if removed.is_some() {
            crate::carts::emit_cart(&mut tx, cart_id, now, Some(emit)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(removed.is_some())
    }

    async fn create_promotion_job(&self, job: PromotionJob) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO promotion_jobs (",
            job_columns!(),
            ", file) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(job.id)
        .bind(job.promotion_id)
        .bind(&job.job_type)
        .bind(&job.name)
        .bind(job.parameters.to_string())
        .bind(&job.status)
        .bind(job.result.to_string())
        .bind(&job.file_token)
        .bind(job.created_at)
        .bind(job.updated_at)
        .bind(&job.file)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(())
    }

    async fn promotion_jobs(&self, promotion_id: Uuid) -> Result<Vec<PromotionJob>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            ", NULL::text FROM promotion_jobs WHERE promotion_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(promotion_id)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows.iter().map(job_row).collect())
    }

    async fn promotion_job(&self, promotion_id: Uuid, id: Uuid) -> Result<Option<PromotionJob>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            ", file FROM promotion_jobs WHERE promotion_id = $1 AND id = $2"
        ))
        .bind(promotion_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(job_row))
    }

    async fn promotion_job_file(&self, token: &str) -> Result<Option<String>> {
        let file: Option<Option<String>> =
            sqlx::query_scalar("SELECT file FROM promotion_jobs WHERE file_token = $1")
                .bind(token)
                .fetch_optional(&self.pool)
                .await
                .map_err(sql_error)?;
        Ok(file.flatten())
    }
}
