//! The list-query language every collection endpoint shares: `page[limit]`/`page[offset]`
//! pagination and Elastic Path's `filter=op(field,value):op(field,value)` syntax. Parsed once
//! here; each endpoint then checks the fields and operators it supports.

use crate::{Error, Result};

pub const MAX_PAGE_LIMIT: u64 = 100;
pub const MAX_PAGE_OFFSET: u64 = 10_000;
/// Elastic Path's `page_length` setting defaults to 25 (the docs; one spec example says 20).
pub const DEFAULT_PAGE_LIMIT: u64 = 25;
pub const MAX_FILTERS: usize = 10;

/// Which slice of a collection to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub offset: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_LIMIT,
            offset: 0,
        }
    }
}

impl PageRequest {
    /// Validates raw `page[limit]` / `page[offset]` values (either may be absent).
    pub fn parse(limit: Option<&str>, offset: Option<&str>, default_limit: u64) -> Result<Self> {
        let mut problems = Vec::new();
        let limit = match limit {
            None => default_limit,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
                _ => {
                    problems.push(crate::FieldError::new(
                        "page[limit]",
                        "Bad Request",
                        format!("page[limit] must be an integer between 1 and {MAX_PAGE_LIMIT}"),
                    ));
                    default_limit
                }
            },
        };
        let offset = match offset {
            None => 0,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if n <= MAX_PAGE_OFFSET => n,
                _ => {
                    problems.push(crate::FieldError::new(
                        "page[offset]",
                        "Bad Request",
                        format!("page[offset] must be an integer between 0 and {MAX_PAGE_OFFSET}"),
                    ));
                    0
                }
            },
        };
        if problems.is_empty() {
            Ok(Self { limit, offset })
        } else {
            Err(Error::Validation(problems))
        }
    }
}

/// One page of a collection plus the size of the whole (filtered) collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Like,
    Ilike,
    In,
    Gt,
    Ge,
    Lt,
    Le,
    IsNull,
    Contains,
}

impl FilterOp {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "like" => Self::Like,
            "ilike" => Self::Ilike,
            "in" => Self::In,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            "is_null" => Self::IsNull,
            "contains" => Self::Contains,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Like => "like",
            Self::Ilike => "ilike",
            Self::In => "in",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::IsNull => "is_null",
            Self::Contains => "contains",
        }
    }
}

/// `op(field,value,…)`. `in` takes one or more values, `is_null` none, the others exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub op: FilterOp,
    pub field: String,
    pub values: Vec<String>,
}

impl Filter {
    /// The single operand of a one-value operator.
    pub fn value(&self) -> &str {
        self.values.first().map(String::as_str).unwrap_or_default()
    }
}

pub const FILTER_PARSE_ERROR: &str = "Could not parse the supplied filter";

fn filter_error() -> Error {
    Error::field("filter", "Bad Request", FILTER_PARSE_ERROR)
}

/// Parses `eq(email,a@b.c):like(name,Jo*):in(status,paid,unpaid)`. Operands may be wrapped in
/// double quotes to carry `,` or `)`; inside quotes `\"` and `\\` escape. An empty string means
/// no filter.
pub fn parse_filter(input: &str) -> Result<Vec<Filter>> {
    let mut filters = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        let open = rest.find('(').ok_or_else(filter_error)?;
        let op = FilterOp::from_name(rest[..open].trim()).ok_or_else(filter_error)?;
        rest = &rest[open + 1..];
        let mut args = Vec::new();
        loop {
            let (arg, after) = take_operand(rest)?;
            args.push(arg);
            let mut chars = after.chars();
            match chars.next() {
                Some(',') => rest = chars.as_str(),
                Some(')') => {
                    rest = chars.as_str();
                    break;
                }
                _ => return Err(filter_error()),
            }
        }
        let field = args.remove(0);
        let valid_field = !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        let arity_ok = match op {
            FilterOp::IsNull => args.is_empty() || (args.len() == 1 && args[0].is_empty()),
            FilterOp::In => !args.is_empty(),
            _ => args.len() == 1,
        };
        if !valid_field || !arity_ok {
            return Err(filter_error());
        }
        if op == FilterOp::IsNull {
            args.clear();
        }
        filters.push(Filter {
            op,
            field,
            values: args,
        });
        if filters.len() > MAX_FILTERS {
            return Err(Error::field(
                "filter",
                "Bad Request",
                format!("At most {MAX_FILTERS} filters can be combined"),
            ));
        }
        match rest.chars().next() {
            None => {}
            Some(':') => {
                rest = &rest[1..];
                if rest.trim().is_empty() {
                    return Err(filter_error());
                }
            }
            Some(_) => return Err(filter_error()),
        }
    }
    Ok(filters)
}

/// Reads one operand up to (not including) the next unquoted `,` or `)`.
fn take_operand(input: &str) -> Result<(String, &str)> {
    let trimmed = input.trim_start();
    if let Some(quoted) = trimmed.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next().ok_or_else(filter_error)?.1),
                '"' => return Ok((value, quoted[i + 1..].trim_start())),
                _ => value.push(c),
            }
        }
        Err(filter_error())
    } else {
        let end = trimmed.find([',', ')']).ok_or_else(filter_error)?;
        let value = &trimmed[..end];
        if value.contains('(') {
            return Err(filter_error());
        }
        Ok((value.trim().to_owned(), &trimmed[end..]))
    }
}

/// Checks parsed filters against what an endpoint supports: `(field, allowed operators)`.
pub fn check_filters(filters: &[Filter], supported: &[(&str, &[FilterOp])]) -> Result<()> {
    for f in filters {
        let known = supported.iter().find(|(name, _)| *name == f.field);
        match known {
            Some((_, ops)) if ops.contains(&f.op) => {}
            Some(_) => {
                return Err(Error::field(
                    "filter",
                    "Bad Request",
                    format!(
                        "The operator {} is not supported for the field {}",
                        f.op.name(),
                        f.field
                    ),
                ));
            }
            None => {
                return Err(Error::field(
                    "filter",
                    "Bad Request",
                    format!("Filtering on the field {} is not supported", f.field),
                ));
            }
        }
    }
    Ok(())
}

/// A `like` operand as an SQL `LIKE` pattern with `\` as the escape character: `*` is the
/// wildcard, and `%`, `_` and `\` match themselves.
pub fn like_pattern(value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '*' => pattern.push('%'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            _ => pattern.push(c),
        }
    }
    pattern
}

/// Whether `value` matches a `like` filter operand in memory as the stores match it in SQL:
/// `*` stands for any run of characters, and letters compare ignoring ASCII case.
pub fn like_matches(pattern: &str, value: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let value = value.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `sort=name` or `sort=-created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

pub fn parse_sort(input: &str, supported: &[&str]) -> Result<Sort> {
    let (field, descending) = match input.trim().strip_prefix('-') {
        Some(f) => (f, true),
        None => (input.trim(), false),
    };
    if supported.contains(&field) {
        Ok(Sort {
            field: field.to_owned(),
            descending,
        })
    } else {
        Err(Error::field(
            "sort",
            "Bad Request",
            format!(
                "Sorting by '{field}' is not supported; use one of: {}",
                supported.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(op: FilterOp, field: &str, values: &[&str]) -> Filter {
        Filter {
            op,
            field: field.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn parses_filters() {
        let cases: Vec<(&str, Vec<Filter>)> = vec![
            ("", vec![]),
            (
                "eq(email,ron@swanson.com)",
                vec![f(FilterOp::Eq, "email", &["ron@swanson.com"])],
            ),
            (
                "eq(status,complete):like(name,Ron*)",
                vec![
                    f(FilterOp::Eq, "status", &["complete"]),
                    f(FilterOp::Like, "name", &["Ron*"]),
                ],
            ),
            (
                "in(status, paid ,unpaid)",
                vec![f(FilterOp::In, "status", &["paid", "unpaid"])],
            ),
            ("is_null(parent_id)", vec![f(FilterOp::IsNull, "parent_id", &[])]),
            (
                "gt(created_at,2024-01-01T10:00:00Z)",
                vec![f(FilterOp::Gt, "created_at", &["2024-01-01T10:00:00Z"])],
            ),
            (
                r#"eq(name,"a, (b) \"c\"")"#,
                vec![f(FilterOp::Eq, "name", &[r#"a, (b) "c""#])],
            ),
            ("eq(meta.x,)", vec![f(FilterOp::Eq, "meta.x", &[""])]),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_filter(input).unwrap(), expected, "input {input:?}");
        }
    }

    #[test]
    fn rejects_malformed_filters() {
        for input in [
            "eq",
            "eq(",
            "eq(name",
            "eq(name,a",
            "nope(name,a)",
            "eq(name,a,b)",
            "eq(,a)",
            "eq(na me,a)",
            "in(status)",
            "eq(name,a)x",
            "eq(name,a):",
            "eq(name,a)::eq(b,c)",
            "eq(name,\"a)",
            "(eq(a,1)|eq(b,2))",
            "eq(name,f(x))",
        ] {
            let err = parse_filter(input).unwrap_err();
            assert!(
                matches!(&err, Error::Validation(v) if v[0].detail == FILTER_PARSE_ERROR && v[0].source == "filter"),
                "input {input:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn limits_the_number_of_filters() {
        let ten = ["eq(a,1)"; 10].join(":");
        assert_eq!(parse_filter(&ten).unwrap().len(), 10);
        let eleven = ["eq(a,1)"; 11].join(":");
        assert!(parse_filter(&eleven).is_err());
    }

    #[test]
    fn checks_supported_fields_and_operators() {
        let supported: &[(&str, &[FilterOp])] = &[("email", &[FilterOp::Eq, FilterOp::Like])];
        assert!(check_filters(&parse_filter("like(email,*@x.com)").unwrap(), supported).is_ok());
        assert!(check_filters(&parse_filter("gt(email,a)").unwrap(), supported).is_err());
        assert!(check_filters(&parse_filter("eq(name,a)").unwrap(), supported).is_err());
    }

    #[test]
    fn matches_like_in_memory() {
        let cases = [
            ("Ron*", "Ron Swanson", true),
            ("ron*", "RON", true),
            ("*son", "Swanson", true),
            ("*an*on", "Swanson", true),
            ("S*n*n", "Swanson", true),
            ("a*a", "a", false),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*x*", "Swanson", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(like_matches(pattern, value), expected, "{pattern} ~ {value}");
        }
    }

    #[test]
    fn builds_like_patterns() {
        assert_eq!(like_pattern("Ron*"), "Ron%");
        assert_eq!(like_pattern("*a_b%c\\*"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn parses_pages() {
        let ok = |l, o| PageRequest::parse(l, o, 25).unwrap();
        assert_eq!(ok(None, None), PageRequest { limit: 25, offset: 0 });
        assert_eq!(
            ok(Some("100"), Some("10000")),
            PageRequest {
                limit: 100,
                offset: 10_000
            }
        );
        assert_eq!(ok(Some("1"), Some("0")), PageRequest { limit: 1, offset: 0 });
        for (l, o, source) in [
            (Some("0"), None, "page[limit]"),
            (Some("101"), None, "page[limit]"),
            (Some("ten"), None, "page[limit]"),
            (Some("-1"), None, "page[limit]"),
            (None, Some("10001"), "page[offset]"),
            (None, Some("-5"), "page[offset]"),
        ] {
            match PageRequest::parse(l, o, 25) {
                Err(Error::Validation(v)) => assert_eq!(v[0].source, source),
                other => panic!("{l:?} {o:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn parses_sort() {
        let s = parse_sort("-created_at", &["created_at", "name"]).unwrap();
        assert_eq!(
            s,
            Sort {
                field: "created_at".into(),
                descending: true
            }
        );
        assert!(!parse_sort("name", &["created_at", "name"]).unwrap().descending);
        assert!(parse_sort("password", &["name"]).is_err());
    }
}

/// A filter resolved against an endpoint's field map: a column and typed operands, ready for a
/// store to render as SQL with bound parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: &'static str,
    pub op: FilterOp,
    pub values: Vec<SqlValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
}

/// How a filterable field is stored.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// Compared as text; `like`/`ilike` use `*` as the wildcard.
    Text,
    /// A timestamp column (epoch milliseconds); operands are `YYYY-MM-DD`, RFC 3339 or epoch ms.
    Time,
    /// An integer column (money in minor units); operands are integers.
    Int,
}

/// One filterable field of an endpoint: wire name, column, kind, allowed operators.
pub struct FieldSpec {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
    pub ops: &'static [FilterOp],
}

pub const TEXT_OPS: &[FilterOp] = &[FilterOp::Eq, FilterOp::Like, FilterOp::Ilike, FilterOp::In];
/// Comparisons for integer (money) fields: EP documents `gt`/`ge`/`lt`/`le` only.
pub const INT_OPS: &[FilterOp] = &[FilterOp::Gt, FilterOp::Ge, FilterOp::Lt, FilterOp::Le];
pub const TIME_OPS: &[FilterOp] = &[
    FilterOp::Eq,
    FilterOp::Gt,
    FilterOp::Ge,
    FilterOp::Lt,
    FilterOp::Le,
];

/// Checks filters against `fields` and types their operands.
pub fn conditions(filters: &[Filter], fields: &[FieldSpec]) -> Result<Vec<Condition>> {
    let supported: Vec<(&str, &[FilterOp])> = fields.iter().map(|f| (f.name, f.ops)).collect();
    check_filters(filters, &supported)?;
    filters
        .iter()
        .map(|f| {
            let spec = fields.iter().find(|s| s.name == f.field).expect("checked above");
            let values = f
                .values
                .iter()
                .map(|v| match spec.kind {
                    FieldKind::Text => Ok(SqlValue::Text(v.clone())),
                    FieldKind::Int => v.trim().parse::<i64>().map(SqlValue::Int).map_err(|_| {
                        Error::field(
                            "filter",
                            "Bad Request",
                            format!(
                                "{} takes an integer (an amount in minor units), not '{v}'",
                                f.field
                            ),
                        )
                    }),
                    FieldKind::Time => parse_time_operand(v).map(SqlValue::Int).ok_or_else(|| {
                        Error::field(
                            "filter",
                            "Bad Request",
                            format!(
                                "{} takes a date (YYYY-MM-DD), an RFC 3339 time or epoch milliseconds",
                                f.field
                            ),
                        )
                    }),
                })
                .collect::<Result<_>>()?;
            Ok(Condition {
                column: spec.column,
                op: f.op,
                values,
            })
        })
        .collect()
}

fn parse_time_operand(value: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(value, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod condition_tests {
    use super::*;

    const FIELDS: &[FieldSpec] = &[
        FieldSpec {
            name: "name",
            column: "name",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "created_at",
            column: "created_at",
            kind: FieldKind::Time,
            ops: TIME_OPS,
        },
    ];

    #[test]
    fn types_operands() {
        let c = conditions(
            &parse_filter("like(name,Ron*):gt(created_at,2024-01-02)").unwrap(),
            FIELDS,
        )
        .unwrap();
        assert_eq!(c[0].values, vec![SqlValue::Text("Ron*".into())]);
        assert_eq!(c[1].values, vec![SqlValue::Int(1_704_153_600_000)]);
        let c = conditions(
            &parse_filter("le(created_at,2024-01-02T00:00:01Z)").unwrap(),
            FIELDS,
        )
        .unwrap();
        assert_eq!(c[0].values, vec![SqlValue::Int(1_704_153_601_000)]);
        assert!(conditions(&parse_filter("gt(created_at,yesterday)").unwrap(), FIELDS).is_err());
        assert!(conditions(&parse_filter("gt(name,a)").unwrap(), FIELDS).is_err());
        let ints = &[FieldSpec {
            name: "with_tax",
            column: "with_tax",
            kind: FieldKind::Int,
            ops: INT_OPS,
        }];
        let c = conditions(&parse_filter("ge(with_tax,1000)").unwrap(), ints).unwrap();
        assert_eq!(c[0].values, vec![SqlValue::Int(1000)]);
        assert!(conditions(&parse_filter("ge(with_tax,10.5)").unwrap(), ints).is_err());
        assert!(conditions(&parse_filter("eq(with_tax,10)").unwrap(), ints).is_err());
    }

    #[test]
    fn escapes_like_patterns() {
        assert_eq!(like_pattern("a*b%c_d\\"), "a%b\\%c\\_d\\\\");
    }
}
