use async_trait::async_trait;
use kassa_core::account::{
    Account, AccountSettings, Credential, Member, Membership, PasswordProfile, Realm, SelfSignup,
};
use kassa_core::conflicts;
use kassa_core::integrations::Event;
use kassa_core::query::{Condition, Page, PageRequest, Sort};
use kassa_core::store::AccountStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{DbError, DbResult, foreign_key_violation, unique_violation};
use crate::sql::{as_params, id, opt_uuid_at, push_conditions, push_page, uuid_at};

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

fn realm_row(r: &Row<'_>) -> rusqlite::Result<Realm> {
    let uris: String = r.get(3)?;
    Ok(Realm {
        id: uuid_at(r, 0)?,
        name: r.get(1)?,
        duplicate_email_policy: r.get(2)?,
        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
        origin_type: r.get(4)?,
        origin_id: uuid_at(r, 5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn profile_row(r: &Row<'_>) -> rusqlite::Result<PasswordProfile> {
    Ok(PasswordProfile {
        id: uuid_at(r, 0)?,
        realm_id: uuid_at(r, 1)?,
        name: r.get(2)?,
        username_format: r.get(3)?,
        enable_one_time_password_token: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

/// Reads a member from columns `offset..offset + 9`.
fn member_at(r: &Row<'_>, o: usize) -> rusqlite::Result<Member> {
    Ok(Member {
        id: uuid_at(r, o)?,
        realm_id: uuid_at(r, o + 1)?,
        name: r.get(o + 2)?,
        email: r.get(o + 3)?,
        given_name: r.get(o + 4)?,
        middle_name: r.get(o + 5)?,
        family_name: r.get(o + 6)?,
        created_at: r.get(o + 7)?,
        updated_at: r.get(o + 8)?,
    })
}

fn credential_row(r: &Row<'_>) -> rusqlite::Result<Credential> {
    Ok(Credential {
        id: uuid_at(r, 0)?,
        member_id: uuid_at(r, 1)?,
        password_profile_id: uuid_at(r, 2)?,
        username: r.get(3)?,
        password_hash: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

/// Reads an account from columns `offset..offset + 8`.
fn account_at(r: &Row<'_>, o: usize) -> rusqlite::Result<Account> {
    Ok(Account {
        id: uuid_at(r, o)?,
        name: r.get(o + 1)?,
        legal_name: r.get(o + 2)?,
        registration_id: r.get(o + 3)?,
        external_ref: r.get(o + 4)?,
        parent_id: opt_uuid_at(r, o + 5)?,
        created_at: r.get(o + 6)?,
        updated_at: r.get(o + 7)?,
    })
}

/// Membership columns `id, account_id, member_id, created_at, updated_at` at `offset`.
fn membership_at(r: &Row<'_>, o: usize) -> rusqlite::Result<Membership> {
    Ok(Membership {
        id: uuid_at(r, o)?,
        account_id: uuid_at(r, o + 1)?,
        member_id: uuid_at(r, o + 2)?,
        created_at: r.get(o + 3)?,
        updated_at: r.get(o + 4)?,
    })
}

fn conflict(e: rusqlite::Error, detail: impl Fn(&str) -> Option<&'static str>) -> DbError {
    match unique_violation(&e).and_then(detail) {
        Some(d) => Error::Conflict(d.into()).into(),
        None => e.into(),
    }
}

fn insert_member(conn: &Connection, m: &Member) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO account_members (id, realm_id, name, email, given_name, middle_name, family_name, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        id(m.id),
        id(m.realm_id),
        m.name,
        m.email,
        m.given_name,
        m.middle_name,
        m.family_name,
        m.created_at,
        m.updated_at
    ])
    .map_err(|e| conflict(e, |_| Some(conflicts::USER_ID)))?;
    Ok(())
}

fn insert_credential(conn: &Connection, c: &Credential) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO member_credentials (id, member_id, password_profile_id, username, username_key, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id(c.id),
        id(c.member_id),
        id(c.password_profile_id),
        c.username,
        kassa_core::account::normalize_username(&c.username),
        c.password_hash,
        c.created_at,
        c.updated_at
    ])
    .map_err(|e| {
        if foreign_key_violation(&e) {
            return Error::not_found("Not Found", "The user or password profile does not exist").into();
        }
        conflict(e, |msg| {
            if msg.contains(conflicts::USERNAME.sqlite) {
                Some(conflicts::USERNAME.detail)
            } else {
                Some(conflicts::PASSWORD_CREDENTIAL)
            }
        })
    })?;
    Ok(())
}

fn insert_account(conn: &Connection, a: &Account) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO accounts (id, name, legal_name, registration_id, external_ref, parent_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id(a.id),
        a.name,
        a.legal_name,
        a.registration_id,
        a.external_ref,
        a.parent_id.map(id),
        a.created_at,
        a.updated_at
    ])
    .map_err(|e| {
        if foreign_key_violation(&e) {
            return Error::field("data.parent_id", "not_found", "The parent account does not exist").into();
        }
        conflict(e, |_| Some(conflicts::ACCOUNT_REGISTRATION_ID))
    })?;
    Ok(())
}

/// Inserts the membership unless the member already belongs to `membership_limit` accounts
/// (counted here, on the single writer, so parallel creates cannot pass the limit together).
fn insert_membership(conn: &Connection, m: &Membership) -> DbResult<()> {
    let (count, limit): (i64, i64) = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM account_memberships WHERE member_id = ?1),
                    (SELECT membership_limit FROM store_settings WHERE id = 1)",
        )?
        .query_row([id(m.member_id)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if count >= limit {
        return Err(kassa_core::account::membership_limit_reached(limit).into());
    }
    conn.prepare_cached(
        "INSERT INTO account_memberships (id, account_id, member_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id(m.id), id(m.account_id), id(m.member_id), m.created_at, m.updated_at])
    .map_err(|e| {
        if foreign_key_violation(&e) {
            return Error::field("data.account_member_id", "not_found", "The account member does not exist").into();
        }
        conflict(e, |_| Some(conflicts::ACCOUNT_MEMBERSHIP))
    })?;
    Ok(())
}

/// A page of rows and the total, from one `SELECT … FROM … WHERE …` body.
pub(crate) fn page_of<T>(
    conn: &Connection,
    select: &str,
    from_where: &str,
    order: &str,
    mut params: Vec<Value>,
    page: PageRequest,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> DbResult<Page<T>> {
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) {from_where}"))?
        .query_row(as_params(&params).as_slice(), |r| r.get(0))?;
    let mut sql = format!("SELECT {select} {from_where} ORDER BY {order}");
    push_page(&mut sql, &mut params, page);
    let items = conn
        .prepare_cached(&sql)?
        .query_map(as_params(&params).as_slice(), map)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Page {
        items,
        total: total as u64,
    })
}

fn changed(n: usize) -> DbResult<bool> {
    Ok(n > 0)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn ensure_account_realm(&self, settings: AccountSettings, realm: Realm) -> Result<()> {
        self.db
            .write(move |conn| {
                let exists: Option<String> = conn
                    .prepare_cached("SELECT id FROM account_authentication_settings")?
                    .query_row([], |r| r.get(0))
                    .optional()?;
                if exists.is_some() {
                    return Ok(());
                }
                conn.prepare_cached(concat!("INSERT INTO authentication_realms (", realm_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"))?
                    .execute(params![
                        id(realm.id),
                        realm.name,
                        realm.duplicate_email_policy,
                        serde_json::to_string(&realm.redirect_uris).unwrap_or_default(),
                        realm.origin_type,
                        id(realm.origin_id),
                        realm.created_at,
                        realm.updated_at
                    ])?;
                conn.prepare_cached(
                    "INSERT INTO account_authentication_settings (id, realm_id, enable_self_signup, auto_create_account, self_management, token_timeout_secs)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    id(settings.id),
                    id(settings.realm_id),
                    settings.enable_self_signup,
                    settings.auto_create_account_for_account_members,
                    settings.account_member_self_management,
                    settings.token_timeout_secs
                ])?;
                Ok(())
            })
            .await
    }

    async fn account_settings(&self) -> Result<AccountSettings> {
        self.db
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT id, realm_id, enable_self_signup, auto_create_account, self_management, token_timeout_secs
                     FROM account_authentication_settings",
                )?
                .query_row([], |r| {
                    Ok(AccountSettings {
                        id: uuid_at(r, 0)?,
                        realm_id: uuid_at(r, 1)?,
                        enable_self_signup: r.get(2)?,
                        auto_create_account_for_account_members: r.get(3)?,
                        account_member_self_management: r.get(4)?,
                        token_timeout_secs: r.get(5)?,
                    })
                })
                .optional()?
                .ok_or_else(|| Error::internal("the account authentication settings are missing").into())
            })
            .await
    }

    async fn update_account_settings(&self, s: AccountSettings) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE account_authentication_settings
                     SET enable_self_signup = ?1, auto_create_account = ?2, self_management = ?3, token_timeout_secs = ?4",
                )?
                .execute(params![
                    s.enable_self_signup,
                    s.auto_create_account_for_account_members,
                    s.account_member_self_management,
                    s.token_timeout_secs
                ])?;
                Ok(())
            })
            .await
    }

    async fn realms(&self) -> Result<Vec<Realm>> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        realm_columns!(),
                        " FROM authentication_realms ORDER BY created_at"
                    ))?
                    .query_map([], realm_row)?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn realm(&self, realm_id: Uuid) -> Result<Option<Realm>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        realm_columns!(),
                        " FROM authentication_realms WHERE id = ?1"
                    ))?
                    .query_row([id(realm_id)], realm_row)
                    .optional()?)
            })
            .await
    }

    async fn update_realm(&self, realm: Realm) -> Result<bool> {
        self.db
            .write(move |conn| {
                changed(
                    conn.prepare_cached(
                        "UPDATE authentication_realms SET name = ?2, duplicate_email_policy = ?3, redirect_uris = ?4, updated_at = ?5 WHERE id = ?1",
                    )?
                    .execute(params![
                        id(realm.id),
                        realm.name,
                        realm.duplicate_email_policy,
                        serde_json::to_string(&realm.redirect_uris).unwrap_or_default(),
                        realm.updated_at
                    ])?,
                )
            })
            .await
    }

    async fn create_password_profile(&self, p: PasswordProfile) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(concat!(
                    "INSERT INTO password_profiles (",
                    profile_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))?
                .execute(params![
                    id(p.id),
                    id(p.realm_id),
                    p.name,
                    p.username_format,
                    p.enable_one_time_password_token,
                    p.created_at,
                    p.updated_at
                ])?;
                Ok(())
            })
            .await
    }

    async fn password_profile(&self, realm_id: Uuid, profile_id: Uuid) -> Result<Option<PasswordProfile>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        profile_columns!(),
                        " FROM password_profiles WHERE realm_id = ?1 AND id = ?2"
                    ))?
                    .query_row([id(realm_id), id(profile_id)], profile_row)
                    .optional()?)
            })
            .await
    }

    async fn password_profiles(&self, realm_id: Uuid, page: PageRequest) -> Result<Page<PasswordProfile>> {
        self.db
            .read(move |conn| {
                page_of(
                    conn,
                    profile_columns!(),
                    "FROM password_profiles WHERE realm_id = ?1",
                    "created_at, id",
                    vec![Value::Text(id(realm_id))],
                    page,
                    profile_row,
                )
            })
            .await
    }

    async fn update_password_profile(&self, p: PasswordProfile) -> Result<bool> {
        self.db
            .write(move |conn| {
                changed(
                    conn.prepare_cached(
                        "UPDATE password_profiles SET name = ?3, username_format = ?4, enable_one_time_password_token = ?5, updated_at = ?6
                         WHERE realm_id = ?1 AND id = ?2",
                    )?
                    .execute(params![
                        id(p.realm_id),
                        id(p.id),
                        p.name,
                        p.username_format,
                        p.enable_one_time_password_token,
                        p.updated_at
                    ])?,
                )
            })
            .await
    }

    async fn delete_password_profile(&self, realm_id: Uuid, profile_id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                changed(
                    conn.prepare_cached("DELETE FROM password_profiles WHERE realm_id = ?1 AND id = ?2")?
                        .execute([id(realm_id), id(profile_id)])?,
                )
            })
            .await
    }

    async fn create_member(&self, member: Member, events: Vec<Event>) -> Result<()> {
        self.db
            .write(move |conn| {
                insert_member(conn, &member)?;
                crate::outbox::write(conn, &events)
            })
            .await
    }

    async fn member(&self, member_id: Uuid) -> Result<Option<Member>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        member_columns!(),
                        " FROM account_members m WHERE m.id = ?1"
                    ))?
                    .query_row([id(member_id)], |r| member_at(r, 0))
                    .optional()?)
            })
            .await
    }

    async fn members(&self, filter: &[Condition], page: PageRequest) -> Result<Page<Member>> {
        let filter = filter.to_vec();
        self.db
            .read(move |conn| {
                let mut from = "FROM account_members m WHERE 1 = 1".to_owned();
                let mut params = Vec::new();
                push_conditions(&mut from, &mut params, &filter);
                page_of(
                    conn,
                    member_columns!(),
                    &from,
                    "m.created_at, m.id",
                    params,
                    page,
                    |r| member_at(r, 0),
                )
            })
            .await
    }

    async fn update_member(&self, m: Member, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                written(conn, &events, changed(
                    conn.prepare_cached(
                        "UPDATE account_members SET name = ?2, email = ?3, given_name = ?4, middle_name = ?5, family_name = ?6, updated_at = ?7
                         WHERE id = ?1",
                    )?
                    .execute(params![id(m.id), m.name, m.email, m.given_name, m.middle_name, m.family_name, m.updated_at])?,
                ))
            })
            .await
    }

    async fn delete_member(&self, member_id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                written(
                    conn,
                    &events,
                    changed(
                        conn.prepare_cached("DELETE FROM account_members WHERE id = ?1")?
                            .execute([id(member_id)])?,
                    ),
                )
            })
            .await
    }

    async fn create_credential(&self, credential: Credential) -> Result<()> {
        self.db
            .write(move |conn| insert_credential(conn, &credential))
            .await
    }

    async fn credential(&self, member_id: Uuid, credential_id: Uuid) -> Result<Option<Credential>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        credential_columns!(),
                        " FROM member_credentials WHERE member_id = ?1 AND id = ?2"
                    ))?
                    .query_row([id(member_id), id(credential_id)], credential_row)
                    .optional()?)
            })
            .await
    }

    async fn credentials(&self, member_id: Uuid) -> Result<Vec<Credential>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        credential_columns!(),
                        " FROM member_credentials WHERE member_id = ?1 ORDER BY created_at, id"
                    ))?
                    .query_map([id(member_id)], credential_row)?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn update_credential(&self, c: Credential) -> Result<bool> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE member_credentials SET username = ?3, username_key = ?4, password_hash = ?5, updated_at = ?6
                         WHERE member_id = ?1 AND id = ?2",
                    )?
                    .execute(params![
                        id(c.member_id),
                        id(c.id),
                        c.username,
                        kassa_core::account::normalize_username(&c.username),
                        c.password_hash,
                        c.updated_at
                    ])
                    .map_err(|e| conflict(e, |_| Some(conflicts::USERNAME.detail)))?;
                changed(n)
            })
            .await
    }

    async fn delete_credential(&self, member_id: Uuid, credential_id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                changed(
                    conn.prepare_cached("DELETE FROM member_credentials WHERE member_id = ?1 AND id = ?2")?
                        .execute([id(member_id), id(credential_id)])?,
                )
            })
            .await
    }

    async fn credential_by_username(&self, profile_id: Uuid, username: &str) -> Result<Option<Credential>> {
        let key = kassa_core::account::normalize_username(username);
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        credential_columns!(),
                        " FROM member_credentials WHERE password_profile_id = ?1 AND username_key = ?2"
                    ))?
                    .query_row([id(profile_id), key], credential_row)
                    .optional()?)
            })
            .await
    }

    async fn create_account(&self, account: Account, events: Vec<Event>) -> Result<()> {
        self.db
            .write(move |conn| {
                insert_account(conn, &account)?;
                crate::outbox::write(conn, &events)
            })
            .await
    }

    async fn account(&self, account_id: Uuid) -> Result<Option<Account>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        account_columns!(),
                        " FROM accounts a WHERE a.id = ?1"
                    ))?
                    .query_row([id(account_id)], |r| account_at(r, 0))
                    .optional()?)
            })
            .await
    }

    async fn accounts(
        &self,
        filter: &[Condition],
        sort: Option<&Sort>,
        page: PageRequest,
    ) -> Result<Page<Account>> {
        let filter = filter.to_vec();
        let order = account_order(sort);
        self.db
            .read(move |conn| {
                let mut from = "FROM accounts a WHERE 1 = 1".to_owned();
                let mut params = Vec::new();
                push_conditions(&mut from, &mut params, &filter);
                page_of(conn, account_columns!(), &from, &order, params, page, |r| {
                    account_at(r, 0)
                })
            })
            .await
    }

    async fn update_account(&self, a: Account, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE accounts SET name = ?2, legal_name = ?3, registration_id = ?4, external_ref = ?5, updated_at = ?6 WHERE id = ?1",
                    )?
                    .execute(params![id(a.id), a.name, a.legal_name, a.registration_id, a.external_ref, a.updated_at])
                    .map_err(|e| conflict(e, |_| Some(conflicts::ACCOUNT_REGISTRATION_ID)))?;
                if n == 1 {
                    crate::outbox::write(conn, &events)?;
                }
                changed(n)
            })
            .await
    }

    async fn delete_account(&self, account_id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM accounts WHERE id = ?1")?
                    .execute([id(account_id)])
                    .map_err(|e| {
                        if foreign_key_violation(&e) {
                            DbError::from(Error::Conflict(conflicts::ACCOUNT_HAS_CHILDREN.into()))
                        } else {
                            e.into()
                        }
                    })?;
                if n == 1 {
                    crate::outbox::write(conn, &events)?;
                }
                changed(n)
            })
            .await
    }

    async fn create_membership(&self, membership: Membership, events: Vec<Event>) -> Result<()> {
        self.db
            .write(move |conn| {
                insert_membership(conn, &membership)?;
                crate::outbox::write(conn, &events)
            })
            .await
    }

    async fn membership_limit(&self) -> Result<i64> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT membership_limit FROM store_settings WHERE id = 1")?
                    .query_row([], |r| r.get(0))?)
            })
            .await
    }

    async fn set_membership_limit(&self, limit: i64) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached("UPDATE store_settings SET membership_limit = ?1 WHERE id = 1")?
                    .execute([limit])?;
                Ok(())
            })
            .await
    }

    async fn membership(&self, account_id: Uuid, membership_id: Uuid) -> Result<Option<Membership>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, account_id, member_id, created_at, updated_at FROM account_memberships WHERE account_id = ?1 AND id = ?2",
                    )?
                    .query_row([id(account_id), id(membership_id)], |r| membership_at(r, 0))
                    .optional()?)
            })
            .await
    }

    async fn account_membership(&self, account_id: Uuid, member_id: Uuid) -> Result<(bool, bool)> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?1),
                                EXISTS (SELECT 1 FROM account_memberships WHERE account_id = ?1 AND member_id = ?2)",
                    )?
                    .query_row([id(account_id), id(member_id)], |r| Ok((r.get(0)?, r.get(1)?)))?)
            })
            .await
    }

    async fn touch_membership(&self, account_id: Uuid, membership_id: Uuid, now: Millis) -> Result<bool> {
        self.db
            .write(move |conn| {
                changed(
                    conn.prepare_cached(
                        "UPDATE account_memberships SET updated_at = ?3 WHERE account_id = ?1 AND id = ?2",
                    )?
                    .execute(params![id(account_id), id(membership_id), now])?,
                )
            })
            .await
    }

    async fn delete_membership(
        &self,
        account_id: Uuid,
        membership_id: Uuid,
        events: Vec<Event>,
    ) -> Result<bool> {
        self.db
            .write(move |conn| {
                written(
                    conn,
                    &events,
                    changed(
                        conn.prepare_cached(
                            "DELETE FROM account_memberships WHERE account_id = ?1 AND id = ?2",
                        )?
                        .execute([id(account_id), id(membership_id)])?,
                    ),
                )
            })
            .await
    }

    async fn account_memberships(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<(Membership, Member)>> {
        self.db
            .read(move |conn| {
                page_of(
                    conn,
                    concat!("am.id, am.account_id, am.member_id, am.created_at, am.updated_at, ", member_columns!()),
                    "FROM account_memberships am JOIN account_members m ON m.id = am.member_id WHERE am.account_id = ?1",
                    "am.created_at, am.id",
                    vec![Value::Text(id(account_id))],
                    page,
                    |r| Ok((membership_at(r, 0)?, member_at(r, 5)?)),
                )
            })
            .await
    }

    async fn member_memberships(
        &self,
        member_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<(Membership, Account)>> {
        self.db
            .read(move |conn| {
                page_of(
                    conn,
                    concat!("am.id, am.account_id, am.member_id, am.created_at, am.updated_at, ", account_columns!()),
                    "FROM account_memberships am JOIN accounts a ON a.id = am.account_id WHERE am.member_id = ?1",
                    "am.created_at, am.id",
                    vec![Value::Text(id(member_id))],
                    page,
                    |r| Ok((membership_at(r, 0)?, account_at(r, 5)?)),
                )
            })
            .await
    }

    async fn unassigned_members(&self, account_id: Uuid, page: PageRequest) -> Result<Page<Member>> {
        self.db
            .read(move |conn| {
                page_of(
                    conn,
                    member_columns!(),
                    "FROM account_members m WHERE NOT EXISTS
                       (SELECT 1 FROM account_memberships am WHERE am.member_id = m.id AND am.account_id = ?1)",
                    "m.created_at, m.id",
                    vec![Value::Text(id(account_id))],
                    page,
                    |r| member_at(r, 0),
                )
            })
            .await
    }

    async fn self_signup(&self, signup: SelfSignup) -> Result<()> {
        self.db
            .write(move |conn| {
                insert_member(conn, &signup.member)?;
                insert_credential(conn, &signup.credential)?;
                if let Some((account, membership)) = &signup.account {
                    insert_account(conn, account)?;
                    insert_membership(conn, membership)?;
                }
                Ok(())
            })
            .await
    }
}

/// The ORDER BY for an account listing; `sort` was checked against the supported fields.
pub(crate) fn account_order(sort: Option<&Sort>) -> String {
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

/// `changed`, with `events` written when it is `Ok(true)` (a change that found its row).
fn written(conn: &Connection, events: &[Event], changed: DbResult<bool>) -> DbResult<bool> {
    let changed = changed?;
    if changed {
        crate::outbox::write(conn, events)?;
    }
    Ok(changed)
}
