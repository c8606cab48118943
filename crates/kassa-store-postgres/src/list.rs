//! Filtered, paged listing: the shared `filter=` language translated to bound SQL.

use kassa_core::Result;
use kassa_core::query::{Filter, FilterOp, Page, PageRequest, like_pattern};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use crate::sql_error;

enum Param {
    Text(String),
    Uuid(Uuid),
}

/// Conditions and their bound values, built up from fixed SQL and checked filters.
#[derive(Default)]
pub(crate) struct Where {
    conditions: Vec<String>,
    params: Vec<Param>,
}

impl Where {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    /// A condition with one `?` for the id `value`.
    pub(crate) fn and_id(mut self, condition: &str, value: Uuid) -> Self {
        let placeholder = self.bind(Param::Uuid(value));
        self.conditions.push(condition.replace('?', &placeholder));
        self
    }

    /// The filters, each field mapped to its (text) column expression by `columns`. Fields not
    /// in `columns` must have been refused by `check_filters` already; they match nothing.
    pub(crate) fn filters(mut self, filters: &[Filter], columns: &[(&str, &str)]) -> Self {
        for f in filters {
            let Some((_, column)) = columns.iter().find(|(name, _)| *name == f.field) else {
                self.conditions.push("FALSE".into());
                continue;
            };
            let condition = match f.op {
                FilterOp::Eq => format!("{column} = {}", self.bind(Param::Text(f.value().to_owned()))),
                // ILIKE: as case-insensitive as SQLite's LIKE.
                FilterOp::Like => format!(
                    "{column} ILIKE {} ESCAPE '\\'",
                    self.bind(Param::Text(like_pattern(f.value())))
                ),
                FilterOp::In => {
                    let list: Vec<String> = f
                        .values
                        .iter()
                        .map(|v| self.bind(Param::Text(v.clone())))
                        .collect();
                    format!("{column} IN ({})", list.join(", "))
                }
                _ => "FALSE".into(),
            };
            self.conditions.push(condition);
        }
        self
    }

    /// One page of `SELECT {columns} FROM {from} WHERE … ORDER BY {order}` and the total.
    pub(crate) async fn page<T>(
        self,
        pool: &PgPool,
        columns: &str,
        from: &str,
        order: &str,
        page: PageRequest,
        map: impl Fn(&PgRow) -> T,
    ) -> Result<Page<T>> {
        let clause = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        };
        let n = self.params.len();
        let count_sql = format!("SELECT count(*) FROM {from}{clause}");
        let page_sql = format!(
            "SELECT {columns} FROM {from}{clause} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        let mut rows = sqlx::query(AssertSqlSafe(page_sql));
        for p in &self.params {
            match p {
                Param::Text(s) => {
                    count = count.bind(s.clone());
                    rows = rows.bind(s.clone());
                }
                Param::Uuid(u) => {
                    count = count.bind(*u);
                    rows = rows.bind(*u);
                }
            }
        }
        let total = count.fetch_one(pool).await.map_err(sql_error)?;
        let rows = rows
            .bind(page.limit as i64)
            .bind(page.offset as i64)
            .fetch_all(pool)
            .await
            .map_err(sql_error)?;
        Ok(Page {
            items: rows.iter().map(map).collect(),
            total: total as u64,
        })
    }
}
