use async_trait::async_trait;
use kassa_core::account::{
    Account, AccountSettings, Credential, Member, Membership, PasswordProfile, Realm, SelfSignup,
    normalize_username,
};
use kassa_core::conflicts;
use kassa_core::integrations::Event;
use kassa_core::query::{Condition, Page, PageRequest, Sort};
use kassa_core::store::AccountStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Executor, PgConnection, Postgres, Row};
use uuid::Uuid;

use crate::sql::{conflict, foreign_key_violation, page_of, push_conditions};
use crate::{PgStore, sql_error};

macro_rules! realm_columns {
    () => {
        "id, name, duplicate_email_policy, redirect_uris, origin_type, origin_id, created_at, updated_at"
    };
}
macro_rules! profile_columns {
    () => {
        "id, realm_id, name, username_format, enable_one_time_password_token, created_at, updated_at"
    };
}
macro_rules! member_columns {
    () => {
        "m.id, m.realm_id, m.name, m.email, m.given_name, m.middle_name, m.family_name, m.created_at, m.updated_at"
    };
}
macro_rules! credential_columns {
    () => {
        "id, member_id, password_profile_id, username, password_hash, created_at, updated_at"
    };
}
macro_rules! account_columns {
    () => {
        "a.id, a.name, a.legal_name, a.registration_id, a.external_ref, a.parent_id, a.created_at, a.updated_at"
    };
}

fn realm_row(r: &PgRow) -> Realm {
    let uris: serde_json::Value = r.get(3);
    Realm {
        id: r.get(0),
        name: r.get(1),
        duplicate_email_policy: r.get(2),
        redirect_uris: serde_json::from_value(uris).unwrap_or_default(),
        origin_type: r.get(4),
        origin_id: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
    }
}

fn profile_row(r: &PgRow) -> PasswordProfile {
    PasswordProfile {
        id: r.get(0),
        realm_id: r.get(1),
        name: r.get(2),
        username_format: r.get(3),
        enable_one_time_password_token: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
    }
}

fn member_at(r: &PgRow, o: usize) -> Member {
    Member {
        id: r.get(o),
        realm_id: r.get(o + 1),
        name: r.get(o + 2),
        email: r.get(o + 3),
        given_name: r.get(o + 4),
        middle_name: r.get(o + 5),
        family_name: r.get(o + 6),
        created_at: r.get(o + 7),
        updated_at: r.get(o + 8),
    }
}

fn credential_row(r: &PgRow) -> Credential {
    Credential {
        id: r.get(0),
        member_id: r.get(1),
        password_profile_id: r.get(2),
        username: r.get(3),
        password_hash: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
    }
}

fn account_at(r: &PgRow, o: usize) -> Account {
    Account {
        id: r.get(o),
        name: r.get(o + 1),
        legal_name: r.get(o + 2),
        registration_id: r.get(o + 3),
        external_ref: r.get(o + 4),
        parent_id: r.get(o + 5),
        created_at: r.get(o + 6),
        updated_at: r.get(o + 7),
    }
}

fn membership_at(r: &PgRow, o: usize) -> Membership {
    Membership {
        id: r.get(o),
        account_id: r.get(o + 1),
        member_id: r.get(o + 2),
        created_at: r.get(o + 3),
        updated_at: r.get(o + 4),
    }
}

async fn insert_member<'e>(db: impl Executor<'e, Database = Postgres>, m: &Member) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_members (id, realm_id, name, email, given_name, middle_name, family_name, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(m.id)
    .bind(m.realm_id)
    .bind(&m.name)
    .bind(&m.email)
    .bind(&m.given_name)
    .bind(&m.middle_name)
    .bind(&m.family_name)
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(db)
    .await
    .map_err(|e| conflict(e, |_| conflicts::USER_ID))?;
    Ok(())
}

async fn insert_credential<'e>(db: impl Executor<'e, Database = Postgres>, c: &Credential) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_credentials (id, member_id, password_profile_id, username, username_key, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.id)
    .bind(c.member_id)
    .bind(c.password_profile_id)
    .bind(&c.username)
    .bind(normalize_username(&c.username))
    .bind(&c.password_hash)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(db)
    .await
    .map_err(|e| {
        if foreign_key_violation(&e) {
            return Error::not_found("Not Found", "The user or password profile does not exist");
        }
        conflict(e, |constraint| {
            if constraint.contains(conflicts::USERNAME.postgres) {
                conflicts::USERNAME.detail
            } else {
                conflicts::PASSWORD_CREDENTIAL
            }
        })
    })?;
    Ok(())
}

async fn insert_account<'e>(db: impl Executor<'e, Database = Postgres>, a: &Account) -> Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, name, legal_name, registration_id, external_ref, parent_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.id)
    .bind(&a.name)
    .bind(&a.legal_name)
    .bind(&a.registration_id)
    .bind(&a.external_ref)
    .bind(a.parent_id)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(db)
    .await
    .map_err(|e| {
        if foreign_key_violation(&e) {
            return Error::field("data.parent_id", "not_found", "The parent account does not exist");
        }
        conflict(e, |_| conflicts::ACCOUNT_REGISTRATION_ID)
    })?;
    Ok(())
}

/// Inserts the membership unless the member already belongs to `membership_limit` accounts.
/// The member's row is locked first (`FOR NO KEY UPDATE`), so creates for one member serialize;
/// the count and the insert are one later statement, whose snapshot sees what earlier lock
/// holders committed. Must run inside a transaction.
async fn insert_membership(tx: &mut PgConnection, m: &Membership) -> Result<()> {
    let member = sqlx::query("SELECT 1 FROM account_members WHERE id = $1 FOR NO KEY UPDATE")
        .bind(m.member_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql_error)?;
    if member.is_none() {
        return Err(Error::field(
            "data.account_member_id",
            "not_found",
            "The account member does not exist",
        ));
    }
    let row = sqlx::query(
        "WITH lim AS (SELECT membership_limit AS n FROM store_settings WHERE id = 1),
              ins AS (
                INSERT INTO account_memberships (id, account_id, member_id, created_at, updated_at)
                SELECT $1, $2, $3, $4, $5 FROM lim
                WHERE (SELECT count(*) FROM account_memberships WHERE member_id = $3) < lim.n
                RETURNING 1)
         SELECT lim.n, EXISTS (SELECT 1 FROM ins) FROM lim",
    )
    .bind(m.id)
    .bind(m.account_id)
    .bind(m.member_id)
    .bind(m.created_at)
    .bind(m.updated_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if foreign_key_violation(&e) {
            return Error::not_found("Not Found", "account not found");
        }
        conflict(e, |_| conflicts::ACCOUNT_MEMBERSHIP)
    })?;
    let (limit, inserted): (i64, bool) = (row.get(0), row.get(1));
    if !inserted {
        return Err(kassa_core::account::membership_limit_reached(limit));
    }
    Ok(())
}

fn changed(done: sqlx::postgres::PgQueryResult) -> Result<bool> {
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl AccountStore for PgStore {
    async fn ensure_account_realm(&self, s: AccountSettings, realm: Realm) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kassa.account_realm'))")
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM account_authentication_settings")
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql_error)?;
        if exists.is_some() {
            return Ok(());
        }
        sqlx::query(concat!(
            "INSERT INTO authentication_realms (",
            realm_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(realm.id)
        .bind(&realm.name)
        .bind(&realm.duplicate_email_policy)
        .bind(serde_json::json!(realm.redirect_uris))
        .bind(&realm.origin_type)
        .bind(realm.origin_id)
        .bind(realm.created_at)
        .bind(realm.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO account_authentication_settings (id, realm_id, enable_self_signup, auto_create_account, self_management, token_timeout_secs)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id)
        .bind(s.realm_id)
        .bind(s.enable_self_signup)
        .bind(s.auto_create_account_for_account_members)
        .bind(&s.account_member_self_management)
        .bind(s.token_timeout_secs)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)
    }

    async fn account_settings(&self) -> Result<AccountSettings> {
        let row = sqlx::query(
            "SELECT id, realm_id, enable_self_signup, auto_create_account, self_management, token_timeout_secs
             FROM account_authentication_settings",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?
        .ok_or_else(|| Error::internal("the account authentication settings are missing"))?;
        Ok(AccountSettings {
            id: row.get(0),
            realm_id: row.get(1),
            enable_self_signup: row.get(2),
            auto_create_account_for_account_members: row.get(3),
            account_member_self_management: row.get(4),
            token_timeout_secs: row.get(5),
        })
    }

    async fn update_account_settings(&self, s: AccountSettings) -> Result<()> {
        sqlx::query(
            "UPDATE account_authentication_settings
             SET enable_self_signup = $1, auto_create_account = $2, self_management = $3, token_timeout_secs = $4",
        )
        .bind(s.enable_self_signup)
        .bind(s.auto_create_account_for_account_members)
        .bind(&s.account_member_self_management)
        .bind(s.token_timeout_secs)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(())
    }

    async fn realms(&self) -> Result<Vec<Realm>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            realm_columns!(),
            " FROM authentication_realms ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows.iter().map(realm_row).collect())
    }

    async fn realm(&self, id: Uuid) -> Result<Option<Realm>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            realm_columns!(),
            " FROM authentication_realms WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(realm_row))
    }

    async fn update_realm(&self, realm: Realm) -> Result<bool> {
        changed(
            sqlx::query(
                "UPDATE authentication_realms SET name = $2, duplicate_email_policy = $3, redirect_uris = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(realm.id)
            .bind(&realm.name)
            .bind(&realm.duplicate_email_policy)
            .bind(serde_json::json!(realm.redirect_uris))
            .bind(realm.updated_at)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?,
        )
    }

    async fn create_password_profile(&self, p: PasswordProfile) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO password_profiles (",
            profile_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(p.id)
        .bind(p.realm_id)
        .bind(&p.name)
        .bind(&p.username_format)
        .bind(p.enable_one_time_password_token)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(())
    }

    async fn password_profile(&self, realm_id: Uuid, id: Uuid) -> Result<Option<PasswordProfile>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            profile_columns!(),
            " FROM password_profiles WHERE realm_id = $1 AND id = $2"
        ))
        .bind(realm_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(profile_row))
    }

    async fn password_profiles(&self, realm_id: Uuid, page: PageRequest) -> Result<Page<PasswordProfile>> {
        page_of(
            &self.pool,
            profile_columns!(),
            |qb| {
                qb.push("FROM password_profiles WHERE realm_id = ");
                qb.push_bind(realm_id);
            },
            "created_at, id",
            page,
            profile_row,
        )
        .await
    }

    async fn update_password_profile(&self, p: PasswordProfile) -> Result<bool> {
        changed(
            sqlx::query(
                "UPDATE password_profiles SET name = $3, username_format = $4, enable_one_time_password_token = $5, updated_at = $6
                 WHERE realm_id = $1 AND id = $2",
            )
            .bind(p.realm_id)
            .bind(p.id)
            .bind(&p.name)
            .bind(&p.username_format)
            .bind(p.enable_one_time_password_token)
            .bind(p.updated_at)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?,
        )
    }

    async fn delete_password_profile(&self, realm_id: Uuid, id: Uuid) -> Result<bool> {
        changed(
            sqlx::query("DELETE FROM password_profiles WHERE realm_id = $1 AND id = $2")
                .bind(realm_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(sql_error)?,
        )
    }

    async fn create_member(&self, member: Member, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return insert_member(&self.pool, &member).await;
        }
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        insert_member(&mut *tx, &member).await?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn member(&self, id: Uuid) -> Result<Option<Member>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            member_columns!(),
            " FROM account_members m WHERE m.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.map(|r| member_at(&r, 0)))
    }

    async fn members(&self, filter: &[Condition], page: PageRequest) -> Result<Page<Member>> {
        page_of(
            &self.pool,
            member_columns!(),
            |qb| {
                qb.push("FROM account_members m WHERE TRUE");
                push_conditions(qb, filter);
            },
            "m.created_at, m.id",
            page,
            |r| member_at(r, 0),
        )
        .await
    }

    async fn update_member(&self, m: Member, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let updated = changed(
            sqlx::query(
                "UPDATE account_members SET name = $2, email = $3, given_name = $4, middle_name = $5, family_name = $6, updated_at = $7
                 WHERE id = $1",
            )
            .bind(m.id)
            .bind(&m.name)
            .bind(&m.email)
            .bind(&m.given_name)
            .bind(&m.middle_name)
            .bind(&m.family_name)
            .bind(m.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?,
        )?;
        if updated {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(updated)
    }

    async fn delete_member(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let deleted = changed(
            sqlx::query("DELETE FROM account_members WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(sql_error)?,
        )?;
        if deleted {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }

    async fn create_credential(&self, credential: Credential) -> Result<()> {
        insert_credential(&self.pool, &credential).await
    }

    async fn credential(&self, member_id: Uuid, id: Uuid) -> Result<Option<Credential>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM member_credentials WHERE member_id = $1 AND id = $2"
        ))
        .bind(member_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(credential_row))
    }

    async fn credentials(&self, member_id: Uuid) -> Result<Vec<Credential>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM member_credentials WHERE member_id = $1 ORDER BY created_at, id"
        ))
        .bind(member_id)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows.iter().map(credential_row).collect())
    }

    async fn update_credential(&self, c: Credential) -> Result<bool> {
        changed(
            sqlx::query(
                "UPDATE member_credentials SET username = $3, username_key = $4, password_hash = $5, updated_at = $6
                 WHERE member_id = $1 AND id = $2",
            )
            .bind(c.member_id)
            .bind(c.id)
            .bind(&c.username)
            .bind(normalize_username(&c.username))
            .bind(&c.password_hash)
            .bind(c.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict(e, |_| conflicts::USERNAME.detail))?,
        )
    }

    async fn delete_credential(&self, member_id: Uuid, id: Uuid) -> Result<bool> {
        changed(
            sqlx::query("DELETE FROM member_credentials WHERE member_id = $1 AND id = $2")
                .bind(member_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(sql_error)?,
        )
    }

    async fn credential_by_username(&self, profile_id: Uuid, username: &str) -> Result<Option<Credential>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            credential_columns!(),
            " FROM member_credentials WHERE password_profile_id = $1 AND username_key = $2"
        ))
        .bind(profile_id)
        .bind(normalize_username(username))
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(credential_row))
    }

    async fn create_account(&self, account: Account, events: Vec<Event>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        insert_account(&mut *tx, &account).await?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn account(&self, id: Uuid) -> Result<Option<Account>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.map(|r| account_at(&r, 0)))
    }

    async fn accounts(
        &self,
        filter: &[Condition],
        sort: Option<&Sort>,
        page: PageRequest,
    ) -> Result<Page<Account>> {
        let order = account_order(sort);
        page_of(
            &self.pool,
            account_columns!(),
            |qb| {
                qb.push("FROM accounts a WHERE TRUE");
                push_conditions(qb, filter);
            },
            &order,
            page,
            |r| account_at(r, 0),
        )
        .await
    }

    async fn update_account(&self, a: Account, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let updated = changed(
            sqlx::query(
                "UPDATE accounts SET name = $2, legal_name = $3, registration_id = $4, external_ref = $5, updated_at = $6 WHERE id = $1",
            )
            .bind(a.id)
            .bind(&a.name)
            .bind(&a.legal_name)
            .bind(&a.registration_id)
            .bind(&a.external_ref)
            .bind(a.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, |_| conflicts::ACCOUNT_REGISTRATION_ID))?,
        )?;
        if updated {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(updated)
    }

    async fn delete_account(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let deleted = changed(
            sqlx::query("DELETE FROM accounts WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if foreign_key_violation(&e) {
                        Error::Conflict(conflicts::ACCOUNT_HAS_CHILDREN.into())
                    } else {
                        sql_error(e)
                    }
                })?,
        )?;
        if deleted {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }

    async fn create_membership(&self, membership: Membership, events: Vec<Event>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        insert_membership(&mut tx, &membership).await?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn membership_limit(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT membership_limit FROM store_settings WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(sql_error)
    }

    async fn set_membership_limit(&self, limit: i64) -> Result<()> {
        sqlx::query("UPDATE store_settings SET membership_limit = $1 WHERE id = 1")
            .bind(limit)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    async fn membership(&self, account_id: Uuid, id: Uuid) -> Result<Option<Membership>> {
        let row = sqlx::query(
            "SELECT id, account_id, member_id, created_at, updated_at FROM account_memberships WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.map(|r| membership_at(&r, 0)))
    }

    async fn account_membership(&self, account_id: Uuid, member_id: Uuid) -> Result<(bool, bool)> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1),
                    EXISTS (SELECT 1 FROM account_memberships WHERE account_id = $1 AND member_id = $2)",
        )
        .bind(account_id)
        .bind(member_id)
        .fetch_one(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok((row.get(0), row.get(1)))
    }

    async fn touch_membership(&self, account_id: Uuid, id: Uuid, now: Millis) -> Result<bool> {
        changed(
            sqlx::query("UPDATE account_memberships SET updated_at = $3 WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(sql_error)?,
        )
    }

    async fn delete_membership(&self, account_id: Uuid, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let deleted = changed(
            sqlx::query("DELETE FROM account_memberships WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(sql_error)?,
        )?;
        if deleted {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }

    async fn account_memberships(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<(Membership, Member)>> {
        page_of(
            &self.pool,
            concat!("am.id, am.account_id, am.member_id, am.created_at, am.updated_at, ", member_columns!()),
            |qb| {
                qb.push("FROM account_memberships am JOIN account_members m ON m.id = am.member_id WHERE am.account_id = ");
                qb.push_bind(account_id);
            },
            "am.created_at, am.id",
            page,
            |r| (membership_at(r, 0), member_at(r, 5)),
        )
        .await
    }

    async fn member_memberships(
        &self,
        member_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<(Membership, Account)>> {
        page_of(
            &self.pool,
            concat!("am.id, am.account_id, am.member_id, am.created_at, am.updated_at, ", account_columns!()),
            |qb| {
                qb.push("FROM account_memberships am JOIN accounts a ON a.id = am.account_id WHERE am.member_id = ");
                qb.push_bind(member_id);
            },
            "am.created_at, am.id",
            page,
            |r| (membership_at(r, 0), account_at(r, 5)),
        )
        .await
    }

    async fn unassigned_members(&self, account_id: Uuid, page: PageRequest) -> Result<Page<Member>> {
        page_of(
            &self.pool,
            member_columns!(),
            |qb| {
                qb.push(
                    "FROM account_members m WHERE NOT EXISTS
                       (SELECT 1 FROM account_memberships am WHERE am.member_id = m.id AND am.account_id = ",
                );
                qb.push_bind(account_id);
                qb.push(")");
            },
            "m.created_at, m.id",
            page,
            |r| member_at(r, 0),
        )
        .await
    }

    async fn self_signup(&self, signup: SelfSignup) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        insert_member(&mut *tx, &signup.member).await?;
        insert_credential(&mut *tx, &signup.credential).await?;
        if let Some((account, membership)) = &signup.account {
            insert_account(&mut *tx, account).await?;
            insert_membership(&mut tx, membership).await?;
        }
        tx.commit().await.map_err(sql_error)
    }
}

fn account_order(sort: Option<&Sort>) -> String {
    let Some(sort) = sort else {
        return "a.created_at, a.id".to_owned();
    };
    let column = match sort.field.as_str() {
        "name" => "a.name",
        "id" => "a.id",
        "updated_at" => "a.updated_at",
        _ => "a.created_at",
    };
    let dir = if sort.descending { "DESC" } else { "ASC" };
    format!("{column} {dir}, a.id {dir}")
}
