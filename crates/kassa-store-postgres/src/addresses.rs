//! Saved addresses of accounts and customers.
//!
//! A create locks the owner's row (`FOR NO KEY UPDATE`: it serializes address creates of one
//! owner without blocking the foreign-key checks of carts and orders that name it), then counts
//! and inserts in one further statement, which in `READ COMMITTED` sees every address a create
//! that held the lock before it committed. Two parallel creates at the limit therefore cannot
//! both pass it.

use async_trait::async_trait;
use kassa_core::address::{self, Address, AddressFields, AddressOwner};
use kassa_core::integrations::{Emit, Event};
use kassa_core::query::{Condition, Page, PageRequest};
use kassa_core::store::{AddressStore, Edit};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::sql::{page_of, push_conditions};
use crate::{PgStore, sql_error};

macro_rules! address_columns {
    () => {
        "ad.id, ad.account_id, ad.customer_id, ad.name, ad.first_name, ad.last_name, ad.company_name, \
         ad.line_1, ad.line_2, ad.city, ad.postcode, ad.county, ad.region, ad.country, ad.phone_number, \
         ad.instructions, ad.created_at, ad.updated_at"
    };
}

fn address_row(r: &PgRow) -> Address {
    let account: Option<Uuid> = r.get(1);
    let customer: Option<Uuid> = r.get(2);
    let owner = match account {
        Some(account) => AddressOwner::Account(account),
        None => AddressOwner::Customer(customer.unwrap_or_default()),
    };
    Address {
        id: r.get(0),
        owner,
        fields: AddressFields {
            name: r.get(3),
            first_name: r.get(4),
            last_name: r.get(5),
            company_name: r.get(6),
            line_1: r.get(7),
            line_2: r.get(8),
            city: r.get(9),
            postcode: r.get(10),
            county: r.get(11),
            region: r.get(12),
            country: r.get(13),
            phone_number: r.get(14),
            instructions: r.get(15),
        },
        created_at: r.get(16),
        updated_at: r.get(17),
    }
}

/// The owner's column in `addresses`, its own table, and its not-found error.
fn owner_parts(owner: AddressOwner) -> (&'static str, &'static str, Error) {
    match owner {
        AddressOwner::Account(_) => (
            "account_id",
            "accounts",
            Error::not_found("Not Found", "account not found"),
        ),
        AddressOwner::Customer(_) => (
            "customer_id",
            "customers",
            Error::not_found("Not Found", "Customer not found"),
        ),
    }
}

fn owner_ids(owner: AddressOwner) -> (Option<Uuid>, Option<Uuid>) {
    match owner {
        AddressOwner::Account(id) => (Some(id), None),
        AddressOwner::Customer(id) => (None, Some(id)),
    }
}

async fn get(db: &mut PgConnection, owner: AddressOwner, id: Uuid, lock: bool) -> Result<Option<Address>> {
    let (column, _, _) = owner_parts(owner);
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(AssertSqlSafe(format!(
        concat!(
            "SELECT ",
            address_columns!(),
            " FROM addresses ad WHERE ad.{} = $1 AND ad.id = $2{}"
        ),
        column, lock
    )))
    .bind(owner.id())
    .bind(id)
    .fetch_optional(db)
    .await
    .map_err(sql_error)?;
    Ok(row.as_ref().map(address_row))
}

#[async_trait]
impl AddressStore for PgStore {
    async fn create_address(&self, a: Address, events: Vec<Event>) -> Result<Address> {
        let (column, table, missing) = owner_parts(a.owner);
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let locked = sqlx::query(AssertSqlSafe(format!(
            "SELECT 1 FROM {table} WHERE id = $1 FOR NO KEY UPDATE"
        )))
        .bind(a.owner.id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql_error)?;
        if locked.is_none() {
            return Err(missing);
        }
        // A new statement, so a new snapshot: it counts what earlier lock holders committed.
        let (account, customer) = owner_ids(a.owner);
        let f = &a.fields;
        let row = sqlx::query(AssertSqlSafe(format!(
            "WITH lim AS (SELECT shopper_address_limit AS n FROM store_settings WHERE id = 1),
                  ins AS (
                    INSERT INTO addresses (id, account_id, customer_id, name, first_name, last_name, company_name,
                      line_1, line_2, city, postcode, county, region, country, phone_number, instructions,
                      created_at, updated_at)
                    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
                    FROM lim WHERE (SELECT count(*) FROM addresses WHERE {column} = $19) < lim.n
                    RETURNING 1)
             SELECT lim.n, EXISTS (SELECT 1 FROM ins) FROM lim"
        )))
        .bind(a.id)
        .bind(account)
        .bind(customer)
        .bind(&f.name)
        .bind(&f.first_name)
        .bind(&f.last_name)
        .bind(&f.company_name)
        .bind(&f.line_1)
        .bind(&f.line_2)
        .bind(&f.city)
        .bind(&f.postcode)
        .bind(&f.county)
        .bind(&f.region)
        .bind(&f.country)
        .bind(&f.phone_number)
        .bind(&f.instructions)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(a.owner.id())
        .fetch_one(&mut *tx)
        .await
        .map_err(sql_error)?;
        let (limit, inserted): (i64, bool) = (row.get(0), row.get(1));
        if !inserted {
            return Err(address::limit_reached(a.owner, limit));
        }
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(a)
    }

    async fn address(&self, owner: AddressOwner, id: Uuid) -> Result<Option<Address>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        get(&mut conn, owner, id, false).await
    }

    async fn addresses(
        &self,
        owner: AddressOwner,
        filter: &[Condition],
        page: PageRequest,
    ) -> Result<Option<Page<Address>>> {
        let (column, table, _) = owner_parts(owner);
        let found = page_of(
            &self.pool,
            address_columns!(),
            |qb| {
                qb.push(format!("FROM addresses ad WHERE ad.{column} = "));
                qb.push_bind(owner.id());
                push_conditions(qb, filter);
            },
            "ad.created_at, ad.id",
            page,
            address_row,
        )
        .await?;
        // An empty page may be an unknown owner: only then is the owner looked up.
        if found.items.is_empty() {
            let exists: bool = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)"
            )))
            .bind(owner.id())
            .fetch_one(&self.pool)
            .await
            .map_err(sql_error)?;
            if !exists {
                return Ok(None);
            }
        }
        Ok(Some(found))
    }

    async fn update_address(
        &self,
        owner: AddressOwner,
        id: Uuid,
        edit: Edit<AddressFields>,
        now: Millis,
        emit: Option<Emit<Address>>,
    ) -> Result<Option<Address>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(mut a) = get(&mut tx, owner, id, true).await? else {
            return Ok(None);
        };
        edit(&mut a.fields)?;
        a.updated_at = now;
        let f = &a.fields;
        sqlx::query(
            "UPDATE addresses SET name = $2, first_name = $3, last_name = $4, company_name = $5,
               line_1 = $6, line_2 = $7, city = $8, postcode = $9, county = $10, region = $11,
               country = $12, phone_number = $13, instructions = $14, updated_at = $15
             WHERE id = $1",
        )
        .bind(a.id)
        .bind(&f.name)
        .bind(&f.first_name)
        .bind(&f.last_name)
        .bind(&f.company_name)
        .bind(&f.line_1)
        .bind(&f.line_2)
        .bind(&f.city)
        .bind(&f.postcode)
        .bind(&f.county)
        .bind(&f.region)
        .bind(&f.country)
        .bind(&f.phone_number)
        .bind(&f.instructions)
        .bind(a.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        if let Some(emit) = emit {
            crate::outbox::write(&mut tx, &emit(&a)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(a))
    }

    async fn delete_address(&self, owner: AddressOwner, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let (column, _, _) = owner_parts(owner);
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM addresses WHERE {column} = $1 AND id = $2"
        )))
        .bind(owner.id())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }
}
