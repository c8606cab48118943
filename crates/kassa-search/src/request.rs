//! One search of a multi-search request, checked: its type, query, filter, facets, sort and page.
//! Pure; which fields exist is the index's business ([`crate::Fields`]).

use serde::Deserialize;
use serde_json::Value;

use crate::SearchError;
use crate::filter::{Filter, parse_filter};

/// The most searches one multi-search request may hold.
pub const MAX_SEARCHES: usize = 50;
/// The largest `per_page` (Elastic Path's page limit).
pub const MAX_PER_PAGE: u64 = 100;
/// How far into the results a page may start (Elastic Path's largest offset).
pub const MAX_OFFSET: u64 = 10_000;
/// `max_facet_values` when the search gives none (Typesense's default) and the most it may ask.
pub const DEFAULT_FACET_VALUES: u64 = 10;
pub const MAX_FACET_VALUES: u64 = 250;
/// Sort keys a search may give (Typesense's limit).
pub const MAX_SORT_KEYS: usize = 3;
/// The longest `q` searched; longer ones are cut (at a character boundary).
pub const MAX_QUERY_LEN: usize = 512;

/// A search as the client sent it. Parameters kassa does not use (`query_by`, `include_fields`,
/// `facet_query`…) are accepted and ignored, as storefront adapters send them.
#[derive(Debug, Default, Deserialize)]
pub struct RawSearch {
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    pub q: Option<Value>,
    pub filter_by: Option<Value>,
    pub facet_by: Option<Value>,
    pub sort_by: Option<Value>,
    pub max_facet_values: Option<Value>,
    pub highlight_full_fields: Option<Value>,
    pub page: Option<Value>,
    pub per_page: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// Products.
    Search,
    /// Query suggestions: the names of the products the (partial) query finds.
    Autocomplete,
}

impl SearchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Search => "search",
            SearchKind::Autocomplete => "autocomplete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// One `sort_by` key, its field not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub direction: Direction,
}

/// A checked search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParams {
    pub kind: SearchKind,
    /// `None` for `*` or an empty query: everything (that passes the filter).
    pub q: Option<String>,
    pub filter: Option<Filter>,
    pub facets: Vec<String>,
    pub max_facet_values: usize,
    pub sort: Vec<SortKey>,
    pub highlight_full_fields: Vec<String>,
    /// From 1.
    pub page: u64,
    pub per_page: u64,
}

fn text<'a>(
    value: &'a Option<Value>,
    name: &str,
    error: fn(String) -> SearchError,
) -> Result<&'a str, SearchError> {
    match value {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(error(format!("{name} must be a string"))),
    }
}

fn number(
    value: &Option<Value>,
    name: &str,
    error: fn(String) -> SearchError,
) -> Result<Option<u64>, SearchError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| error(format!("{name} must be a whole number of at least 0"))),
        // Adapters built on query strings send numbers as strings.
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| error(format!("{name} must be a whole number of at least 0"))),
        Some(_) => Err(error(format!("{name} must be a whole number"))),
    }
}

/// A comma-separated list, each entry trimmed, empty ones dropped.
pub fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses `sort_by`: up to three `field:asc|desc`, comma separated.
pub fn parse_sort(value: &str) -> Result<Vec<SortKey>, SearchError> {
    let keys: Vec<SortKey> = comma_list(value)
        .into_iter()
        .map(|key| {
            let (field, direction) = key
                .rsplit_once(':')
                .ok_or_else(|| SearchError::Sort(format!("{key:?} is not field:asc or field:desc")))?;
            let direction = match direction.trim().to_ascii_lowercase().as_str() {
                "asc" => Direction::Asc,
                "desc" => Direction::Desc,
                _ => {
                    return Err(SearchError::Sort(format!(
                        "{key:?} is not field:asc or field:desc"
                    )));
                }
            };
            Ok(SortKey {
                field: field.trim().to_owned(),
                direction,
            })
        })
        .collect::<Result<_, _>>()?;
    if keys.len() > MAX_SORT_KEYS {
        return Err(SearchError::Sort(format!(
            "sort_by takes at most {MAX_SORT_KEYS} fields"
        )));
    }
    Ok(keys)
}

/// Parses `facet_by`: field names, comma separated (Typesense's range facets `f(label:[a,b])`
/// are not supported).
pub fn parse_facets(value: &str) -> Result<Vec<String>, SearchError> {
    let facets = comma_list(value);
    if let Some(bad) = facets.iter().find(|f| f.contains(['(', ')', '[', ']', ':', ' '])) {
        return Err(SearchError::Facet(format!("{bad:?} is not a facet field")));
    }
    Ok(facets)
}

impl RawSearch {
    /// Checks the search; `default_per_page` applies when it gives no `per_page`.
    pub fn check(&self, default_per_page: u64) -> Result<SearchParams, SearchError> {
        let kind = match &self.kind {
            None | Some(Value::Null) => SearchKind::Search,
            Some(Value::String(s)) if s == "search" => SearchKind::Search,
            Some(Value::String(s)) if s == "autocomplete" => SearchKind::Autocomplete,
            Some(other) => {
                return Err(SearchError::Request(format!(
                    "type must be search or autocomplete, not {other}"
                )));
            }
        };
        let q = text(&self.q, "q", SearchError::Request)?.trim();
        let q = match q {
            "" | "*" => None,
            q => {
                let mut end = q.len().min(MAX_QUERY_LEN);
                while !q.is_char_boundary(end) {
                    end -= 1;
                }
                Some(q[..end].to_owned())
            }
        };
        let filter = parse_filter(text(&self.filter_by, "filter_by", SearchError::Filter)?)?;
        let facets = parse_facets(text(&self.facet_by, "facet_by", SearchError::Facet)?)?;
        let max_facet_values = number(&self.max_facet_values, "max_facet_values", SearchError::Facet)?
            .unwrap_or(DEFAULT_FACET_VALUES);
        if max_facet_values > MAX_FACET_VALUES {
            return Err(SearchError::Facet(format!(
                "max_facet_values must be at most {MAX_FACET_VALUES}"
            )));
        }
        let sort = parse_sort(text(&self.sort_by, "sort_by", SearchError::Sort)?)?;
        let highlight_full_fields = comma_list(text(
            &self.highlight_full_fields,
            "highlight_full_fields",
            SearchError::Request,
        )?);
        let page = number(&self.page, "page", SearchError::Pagination)?.unwrap_or(1);
        if page == 0 {
            return Err(SearchError::Pagination("page starts at 1".into()));
        }
        let per_page = number(&self.per_page, "per_page", SearchError::Pagination)?
            .unwrap_or(default_per_page.min(MAX_PER_PAGE));
        if per_page > MAX_PER_PAGE {
            return Err(SearchError::Pagination(format!(
                "per_page must be at most {MAX_PER_PAGE}"
            )));
        }
        if (page - 1).saturating_mul(per_page) > MAX_OFFSET {
            return Err(SearchError::Pagination(format!(
                "A page may start at most {MAX_OFFSET} results in"
            )));
        }
        Ok(SearchParams {
            kind,
            q,
            filter,
            facets,
            max_facet_values: max_facet_values as usize,
            sort,
            highlight_full_fields,
            page,
            per_page,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(value: Value) -> RawSearch {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn defaults_and_the_storefront_request() {
        let p = raw(json!({})).check(25).unwrap();
        assert_eq!(
            (p.kind, p.q, p.page, p.per_page, p.max_facet_values),
            (SearchKind::Search, None, 1, 25, 10)
        );
        let p = raw(json!({
            "type": "autocomplete", "q": "ham", "highlight_full_fields": "name", "include_fields": "name",
        }))
        .check(25)
        .unwrap();
        assert_eq!((p.kind, p.q.as_deref()), (SearchKind::Autocomplete, Some("ham")));
        assert_eq!(p.highlight_full_fields, ["name"]);
        let p = raw(json!({
            "type": "search", "q": "*", "query_by": null,
            "facet_by": "meta.search.categories.lvl0,price.USD.float_price",
            "filter_by": "meta.search.categories.lvl0:=[`Shoes`] && price.USD.float_price:=[10..50]",
            "sort_by": "price.USD.float_price:asc", "max_facet_values": 20, "page": "2", "per_page": 20,
        }))
        .check(25)
        .unwrap();
        assert_eq!(p.q, None);
        assert_eq!(p.facets, ["meta.search.categories.lvl0", "price.USD.float_price"]);
        assert_eq!(
            p.sort,
            [SortKey {
                field: "price.USD.float_price".into(),
                direction: Direction::Asc
            }]
        );
        assert_eq!((p.page, p.per_page, p.max_facet_values), (2, 20, 20));
        assert!(p.filter.is_some());
    }

    #[test]
    fn bad_inputs_name_their_kind() {
        let table: &[(Value, &str)] = &[
            (json!({"type": "vector"}), "Invalid Search"),
            (json!({"q": 5}), "Invalid Search"),
            (json!({"filter_by": "price:>"}), "Invalid Filter"),
            (json!({"filter_by": 3}), "Invalid Filter"),
            (json!({"facet_by": "price(cheap:[0,10])"}), "Invalid Facet"),
            (json!({"max_facet_values": -1}), "Invalid Facet"),
            (json!({"max_facet_values": 1000}), "Invalid Facet"),
            (json!({"sort_by": "price"}), "Invalid Sort"),
            (json!({"sort_by": "price:up"}), "Invalid Sort"),
            (json!({"sort_by": "a:asc,b:asc,c:asc,d:asc"}), "Invalid Sort"),
            (json!({"page": 0}), "Invalid Pagination"),
            (json!({"page": -1}), "Invalid Pagination"),
            (json!({"page": 1.5}), "Invalid Pagination"),
            (json!({"page": "x"}), "Invalid Pagination"),
            (json!({"per_page": 101}), "Invalid Pagination"),
            (json!({"page": 502, "per_page": 20}), "Invalid Pagination"),
        ];
        for (input, title) in table {
            let err = raw(input.clone()).check(25).unwrap_err();
            assert_eq!(err.title(), *title, "{input}: {err:?}");
        }
        assert!(raw(json!({"page": 501, "per_page": 20})).check(25).is_ok());
        assert!(raw(json!({"per_page": 0})).check(25).is_ok());
    }

    #[test]
    fn a_long_query_is_cut_at_a_character_boundary() {
        let q = "é".repeat(MAX_QUERY_LEN);
        let p = raw(json!({ "q": q })).check(25).unwrap();
        assert!(p.q.unwrap().len() <= MAX_QUERY_LEN);
    }
}
