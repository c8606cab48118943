//! Helpers shared by the PostgreSQL use-cases: list filters and paging with bound parameters.

use kassa_core::query::{Condition, FilterOp, Page, PageRequest, SqlValue, like_pattern};
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use crate::sql_error;

fn push_value(qb: &mut QueryBuilder<Postgres>, v: &SqlValue) {
    match v {
        SqlValue::Text(t) => qb.push_bind(t.clone()),
        SqlValue::Int(i) => qb.push_bind(*i),
    };
}

/// Renders list-filter conditions as ` AND …` clauses with bound operands. Text columns compare
/// as text (`column::text`), so UUID columns filter by their canonical form.
pub(crate) fn push_conditions(qb: &mut QueryBuilder<Postgres>, conditions: &[Condition]) {
    for c in conditions {
        let text_col = format!("{}::text", c.column);
        let col = match c.values.first() {
            Some(SqlValue::Int(_)) => c.column.to_owned(),
            _ => text_col,
        };
        qb.push(" AND ");
        let binary = |qb: &mut QueryBuilder<Postgres>, op: &str| {
            qb.push(format!("{col} {op} "));
            push_value(qb, &c.values[0]);
        };
        match c.op {
            FilterOp::Eq => binary(qb, "="),
            FilterOp::Gt => binary(qb, ">"),
            FilterOp::Ge => binary(qb, ">="),
            FilterOp::Lt => binary(qb, "<"),
            FilterOp::Le => binary(qb, "<="),
            FilterOp::Like | FilterOp::Ilike | FilterOp::Contains => {
                let raw = match &c.values[0] {
                    SqlValue::Text(t) => t.clone(),
                    SqlValue::Int(i) => i.to_string(),
                };
                let pattern = if c.op == FilterOp::Contains {
                    format!("*{raw}*")
                } else {
                    raw
                };
                let op = if c.op == FilterOp::Like { "LIKE" } else { "ILIKE" };
                qb.push(format!("{col} {op} "));
                qb.push_bind(like_pattern(&pattern));
                qb.push(" ESCAPE '\\'");
            }
            FilterOp::In => {
                qb.push(format!("{col} IN ("));
                let mut list = qb.separated(", ");
                for v in &c.values {
                    match v {
                        SqlValue::Text(t) => list.push_bind(t.clone()),
                        SqlValue::Int(i) => list.push_bind(*i),
                    };
                }
                qb.push(")");
            }
            FilterOp::IsNull => {
                qb.push(format!("{} IS NULL", c.column));
            }
        }
    }
}

/// Runs `SELECT {select}, count(*) OVER () … {from_where} ORDER BY {order} LIMIT … OFFSET …`,
/// where `from_where` was built by the caller (with its binds), and maps the rows.
pub(crate) async fn page_of<T>(
    pool: &PgPool,
    select: &str,
    build_from_where: impl Fn(&mut QueryBuilder<Postgres>),
    order: &str,
    page: PageRequest,
    map: impl Fn(&PgRow) -> T,
) -> Result<Page<T>> {
    let mut qb = QueryBuilder::new(format!("SELECT {select}, count(*) OVER () AS total_count "));
    build_from_where(&mut qb);
    qb.push(format!(" ORDER BY {order} LIMIT "));
    qb.push_bind(page.limit as i64);
    qb.push(" OFFSET ");
    qb.push_bind(page.offset as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(sql_error)?;
    let total = match rows.first() {
        Some(row) => row.try_get::<i64, _>("total_count").map_err(sql_error)? as u64,
        None if page.offset == 0 => 0,
        None => {
            let mut qb = QueryBuilder::new("SELECT count(*) ");
            build_from_where(&mut qb);
            qb.build()
                .fetch_one(pool)
                .await
                .map_err(sql_error)?
                .try_get::<i64, _>(0)
                .map_err(sql_error)? as u64
        }
    };
    Ok(Page {
        items: rows.iter().map(map).collect(),
        total,
    })
}

/// The name of the foreign key a statement violated, if that is why it failed.
pub(crate) fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

pub(crate) fn conflict(e: sqlx::Error, detail: impl Fn(&str) -> &'static str) -> Error {
    match crate::unique_violation(&e) {
        Some(constraint) => Error::Conflict(detail(&constraint).into()),
        None => sql_error(e),
    }
}
