//! Small helpers shared by the SQLite use-cases: UUID columns, list filters, paging.

use kassa_core::query::{Condition, FilterOp, PageRequest, SqlValue, like_pattern};
use rusqlite::types::Value;
use rusqlite::{Row, ToSql};
use uuid::Uuid;

/// Ids are written by kassa as canonical UUID text; anything else is corruption, read as nil
/// rather than a panic.
pub(crate) fn uuid_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    Ok(Uuid::parse_str(row.get_ref(idx)?.as_str()?).unwrap_or_default())
}

pub(crate) fn opt_uuid_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Uuid>> {
    Ok(row
        .get::<_, Option<String>>(idx)?
        .and_then(|s| Uuid::parse_str(&s).ok()))
}

pub(crate) fn id(u: Uuid) -> String {
    u.to_string()
}

/// Renders list-filter conditions as ` AND …` clauses, pushing their operands onto `params`.
pub(crate) fn push_conditions(sql: &mut String, params: &mut Vec<Value>, conditions: &[Condition]) {
    for c in conditions {
        let value = |v: &SqlValue| match v {
            SqlValue::Text(t) => Value::Text(t.clone()),
            SqlValue::Int(i) => Value::Integer(*i),
        };
        let next = |v: Value, params: &mut Vec<Value>| {
            params.push(v);
            format!("?{}", params.len())
        };
        let col = c.column;
        let clause = match c.op {
            FilterOp::Eq => format!("{col} = {}", next(value(&c.values[0]), params)),
            FilterOp::Gt => format!("{col} > {}", next(value(&c.values[0]), params)),
            FilterOp::Ge => format!("{col} >= {}", next(value(&c.values[0]), params)),
            FilterOp::Lt => format!("{col} < {}", next(value(&c.values[0]), params)),
            FilterOp::Le => format!("{col} <= {}", next(value(&c.values[0]), params)),
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
                let p = next(Value::Text(like_pattern(&pattern)), params);
                if c.op == FilterOp::Like {
                    // SQLite's LIKE ignores ASCII case; GLOB-free exact-case matching needs both.
                    format!(
                        "({col} LIKE {p} ESCAPE '\\' AND {col} GLOB {})",
                        next(Value::Text(glob_pattern(&pattern)), params)
                    )
                } else {
                    format!("lower({col}) LIKE lower({p}) ESCAPE '\\'")
                }
            }
            FilterOp::In => {
                let list: Vec<String> = c.values.iter().map(|v| next(value(v), params)).collect();
                format!("{col} IN ({})", list.join(", "))
            }
            FilterOp::IsNull => format!("{col} IS NULL"),
        };
        sql.push_str(" AND ");
        sql.push_str(&clause);
    }
}

/// `*` wildcards as a case-sensitive GLOB pattern.
fn glob_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push('*'),
            '?' | '[' | ']' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Appends ` LIMIT ? OFFSET ?`.
pub(crate) fn push_page(sql: &mut String, params: &mut Vec<Value>, page: PageRequest) {
    params.push(Value::Integer(page.limit as i64));
    params.push(Value::Integer(page.offset as i64));
    sql.push_str(&format!(" LIMIT ?{} OFFSET ?{}", params.len() - 1, params.len()));
}

pub(crate) fn as_params(params: &[Value]) -> Vec<&dyn ToSql> {
    params.iter().map(|v| v as &dyn ToSql).collect()
}
