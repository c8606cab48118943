//! Saved addresses of accounts and customers. The single writer serializes every create, so
//! counting an owner's addresses and inserting one in the same job cannot be raced past the
//! store's `shopper_address_limit`.

use async_trait::async_trait;
use kassa_core::address::{self, Address, AddressFields, AddressOwner};
use kassa_core::integrations::{Emit, Event};
use kassa_core::query::{Condition, Page, PageRequest};
use kassa_core::store::{AddressStore, Edit};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::DbResult;
use crate::sql::{as_params, id, opt_uuid_at, push_conditions, push_page, uuid_at};

macro_rules! address_columns {
    () => {
        "ad.id, ad.account_id, ad.customer_id, ad.name, ad.first_name, ad.last_name, ad.company_name, \
         ad.line_1, ad.line_2, ad.city, ad.postcode, ad.county, ad.region, ad.country, ad.phone_number, \
         ad.instructions, ad.created_at, ad.updated_at"
    };
}

fn address_row(r: &Row<'_>) -> rusqlite::Result<Address> {
    let owner = match opt_uuid_at(r, 1)? {
        Some(account) => AddressOwner::Account(account),
        None => AddressOwner::Customer(opt_uuid_at(r, 2)?.unwrap_or_default()),
    };
    Ok(Address {
        id: uuid_at(r, 0)?,
        owner,
        fields: AddressFields {
            name: r.get(3)?,
            first_name: r.get(4)?,
            last_name: r.get(5)?,
            company_name: r.get(6)?,
            line_1: r.get(7)?,
            line_2: r.get(8)?,
            city: r.get(9)?,
            postcode: r.get(10)?,
            county: r.get(11)?,
            region: r.get(12)?,
            country: r.get(13)?,
            phone_number: r.get(14)?,
            instructions: r.get(15)?,
        },
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
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

fn owner_exists(conn: &Connection, owner: AddressOwner) -> DbResult<bool> {
    let (_, table, _) = owner_parts(owner);
    Ok(conn
        .prepare_cached(&format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)"))?
        .query_row([id(owner.id())], |r| r.get(0))?)
}

fn get(conn: &Connection, owner: AddressOwner, address_id: Uuid) -> DbResult<Option<Address>> {
    let (column, _, _) = owner_parts(owner);
    Ok(conn
        .prepare_cached(&format!(
            concat!(
                "SELECT ",
                address_columns!(),
                " FROM addresses ad WHERE ad.{} = ?1 AND ad.id = ?2"
            ),
            column
        ))?
        .query_row([id(owner.id()), id(address_id)], address_row)
        .optional()?)
}

/// The owner columns and the field values, bound as `?2…?16` after the id.
fn write_values(a: &Address) -> [Value; 15] {
    let (account, customer) = match a.owner {
        AddressOwner::Account(x) => (Value::Text(id(x)), Value::Null),
        AddressOwner::Customer(x) => (Value::Null, Value::Text(id(x))),
    };
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let f = &a.fields;
    [
        account,
        customer,
        text(&f.name),
        text(&f.first_name),
        text(&f.last_name),
        text(&f.company_name),
        text(&f.line_1),
        text(&f.line_2),
        text(&f.city),
        text(&f.postcode),
        text(&f.county),
        text(&f.region),
        text(&f.country),
        text(&f.phone_number),
        text(&f.instructions),
    ]
}

#[async_trait]
impl AddressStore for SqliteStore {
    async fn create_address(&self, address: Address, events: Vec<Event>) -> Result<Address> {
        self.db
            .write(move |conn| {
                let (column, _, missing) = owner_parts(address.owner);
                if !owner_exists(conn, address.owner)? {
                    return Err(missing.into());
                }
                let (count, limit): (i64, i64) = conn
                    .prepare_cached(&format!(
                        "SELECT (SELECT count(*) FROM addresses WHERE {column} = ?1),
                                (SELECT shopper_address_limit FROM store_settings WHERE id = 1)"
                    ))?
                    .query_row([id(address.owner.id())], |r| Ok((r.get(0)?, r.get(1)?)))?;
                if count >= limit {
                    return Err(address::limit_reached(address.owner, limit).into());
                }
                let mut values = vec![Value::Text(id(address.id))];
                values.extend(write_values(&address));
                values.push(Value::Integer(address.created_at));
                values.push(Value::Integer(address.updated_at));
                conn.prepare_cached(
                    "INSERT INTO addresses (id, account_id, customer_id, name, first_name, last_name, company_name,
                       line_1, line_2, city, postcode, county, region, country, phone_number, instructions,
                       created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                )?
                .execute(as_params(&values).as_slice())?;
                crate::outbox::write(conn, &events)?;
                Ok(address)
            })
            .await
    }

    async fn address(&self, owner: AddressOwner, address_id: Uuid) -> Result<Option<Address>> {
        self.db.read(move |conn| get(conn, owner, address_id)).await
    }

    async fn addresses(
        &self,
        owner: AddressOwner,
        filter: &[Condition],
        page: PageRequest,
    ) -> Result<Option<Page<Address>>> {
        let filter = filter.to_vec();
        self.db
            .read(move |conn| {
                if !owner_exists(conn, owner)? {
                    return Ok(None);
                }
                let (column, _, _) = owner_parts(owner);
                let mut from = format!("FROM addresses ad WHERE ad.{column} = ?1");
                let mut params = vec![Value::Text(id(owner.id()))];
                push_conditions(&mut from, &mut params, &filter);
                let total: i64 = conn
                    .prepare_cached(&format!("SELECT count(*) {from}"))?
                    .query_row(as_params(&params).as_slice(), |r| r.get(0))?;
                let mut sql = format!(
                    concat!("SELECT ", address_columns!(), " {} ORDER BY ad.created_at, ad.id"),
                    from
                );
                push_page(&mut sql, &mut params, page);
                let items = conn
                    .prepare_cached(&sql)?
                    .query_map(as_params(&params).as_slice(), address_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Some(Page {
                    items,
                    total: total as u64,
                }))
            })
            .await
    }

    async fn update_address(
        &self,
        owner: AddressOwner,
        address_id: Uuid,
        edit: Edit<AddressFields>,
        now: Millis,
        emit: Option<Emit<Address>>,
    ) -> Result<Option<Address>> {
        self.db
            .write(move |conn| {
                let Some(mut address) = get(conn, owner, address_id)? else {
                    return Ok(None);
                };
                edit(&mut address.fields)?;
                address.updated_at = now;
                let mut values = vec![Value::Text(id(address.id))];
                values.extend(write_values(&address).into_iter().skip(2));
                values.push(Value::Integer(address.updated_at));
                conn.prepare_cached(
                    "UPDATE addresses SET name = ?2, first_name = ?3, last_name = ?4, company_name = ?5,
                       line_1 = ?6, line_2 = ?7, city = ?8, postcode = ?9, county = ?10, region = ?11,
                       country = ?12, phone_number = ?13, instructions = ?14, updated_at = ?15
                     WHERE id = ?1",
                )?
                .execute(as_params(&values).as_slice())?;
                if let Some(emit) = emit {
                    crate::outbox::write(conn, &emit(&address))?;
                }
                Ok(Some(address))
            })
            .await
    }

    async fn delete_address(
        &self,
        owner: AddressOwner,
        address_id: Uuid,
        events: Vec<Event>,
    ) -> Result<bool> {
        self.db
            .write(move |conn| {
                let (column, _, _) = owner_parts(owner);
                let n = conn
                    .prepare_cached(&format!("DELETE FROM addresses WHERE {column} = ?1 AND id = ?2"))?
                    .execute(params![id(owner.id()), id(address_id)])?;
                if n > 0 {
                    crate::outbox::write(conn, &events)?;
                }
                Ok(n > 0)
            })
            .await
    }
}
