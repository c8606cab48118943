//! Filtered, paged listing: the shared `filter=` language translated to bound SQL.

use kassa_core::query::{Filter, FilterOp, Page, PageRequest, like_pattern};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use crate::db::DbResult;

/// Conditions and their bound values, built up from fixed SQL and checked filters.
#[derive(Default)]
pub(crate) struct Where {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// A condition with one `?` for `value`.
    pub(crate) fn and(mut self, condition: &str, value: impl Into<Value>) -> Self {
        self.params.push(value.into());
        self.conditions
            .push(condition.replace('?', &format!("?{}", self.params.len())));
        self
    }

    /// The filters, each field mapped to its column by `columns` (wire name, column). Fields
    /// not in `columns` must have been refused by `check_filters` already; they match nothing.
    pub(crate) fn filters(mut self, filters: &[Filter], columns: &[(&str, &str)]) -> Self {
        for f in filters {
            let Some((_, column)) = columns.iter().find(|(name, _)| *name == f.field) else {
                self.conditions.push("0".into());
                continue;
            };
            let mut bind = |v: &str| {
                self.params.push(Value::Text(v.to_owned()));
                format!("?{}", self.params.len())
            };
            let condition = match f.op {
                FilterOp::Eq => format!("{column} = {}", bind(f.value())),
                FilterOp::Like => format!("{column} LIKE {} ESCAPE '\\'", bind(&like_pattern(f.value()))),
                FilterOp::In => {
                    let list: Vec<String> = f.values.iter().map(|v| bind(v)).collect();
                    format!("{column} IN ({})", list.join(", "))
                }
                _ => "0".into(),
            };
            self.conditions.push(condition);
        }
        self
    }

    /// One page of `SELECT {columns} FROM {from} WHERE … ORDER BY {order}` and the total.
    pub(crate) fn page<T>(
        self,
        conn: &Connection,
        columns: &str,
        from: &str,
        order: &str,
        page: PageRequest,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> DbResult<Page<T>> {
        let clause = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        };
        let total: i64 = conn
            .prepare_cached(&format!("SELECT count(*) FROM {from}{clause}"))?
            .query_row(params_from_iter(&self.params), |r| r.get(0))?;
        let n = self.params.len();
        let mut params = self.params;
        params.push(Value::Integer(page.limit as i64));
        params.push(Value::Integer(page.offset as i64));
        let sql = format!(
            "SELECT {columns} FROM {from}{clause} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        );
        let items = conn
            .prepare_cached(&sql)?
            .query_map(params_from_iter(&params), map)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Page {
            items,
            total: total as u64,
        })
    }
}
