//! The search index of one release: a tantivy index of the products' text (on disk or in
//! memory) and in-memory columns of their filterable values.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STRING, Schema, TEXT};
use tantivy::{
    DocId, Index, IndexReader, ReloadPolicy, Score, SegmentOrdinal, SegmentReader, TantivyDocument, Term,
};

use crate::fields::{self, TEXT_ONLY, canonical_field};
use crate::filter::{Clause, Filter, Op, Value};
use crate::fuzzy::{AutomatonQuery, WordAutomaton};
use crate::request::{Direction, SearchKind, SearchParams};
use crate::{SearchError, tokenize, typos_allowed};

/// One product as the index sees it. `strings` and `numbers` are the filterable and facetable
/// values, by document field name (a field may repeat in `strings`).
#[derive(Debug, Clone, Default)]
pub struct SearchDoc {
    pub name: String,
    pub description: String,
    pub sku: String,
    pub slug: String,
    /// Extension attribute values.
    pub attributes: Vec<String>,
    /// The names of the nodes the product is in and of their hierarchies.
    pub categories: Vec<String>,
    pub strings: Vec<(String, String)>,
    pub numbers: Vec<(String, f64)>,
}

/// The text fields `q` searches, with their weights: a match in the name counts for more than
/// one in the description.
const TEXT_FIELDS: &[(&str, f32)] = &[
    ("name", 4.0),
    ("sku", 3.0),
    ("categories", 1.5),
    ("attributes", 1.5),
    ("slug", 1.0),
    ("description", 1.0),
];
/// The exact sku (lower-cased, whole): a query that is a product's sku puts it first.
const SKU_EXACT: &str = "sku_exact";
const SKU_EXACT_BOOST: f32 = 100.0;
/// The product's position in the release, linking a tantivy document to the columns.
const ORD: &str = "ord";
/// tantivy's indexing memory budget: one thread, so a build leaves the other core to requests.
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

fn tantivy_error(e: tantivy::TantivyError) -> std::io::Error {
    std::io::Error::other(e)
}

/// A string field: each distinct value once, and each product's values as positions in it.
#[derive(Debug, Default)]
struct StringColumn {
    dict: Dict,
    /// Where each product's values start in `values` (and, last, where they end); empty once the
    /// column is [`StringColumn::single_valued`].
    offsets: Vec<u32>,
    values: Vec<u32>,
}

/// A single-valued column's value for a product that has none.
const NO_VALUE: u32 = u32::MAX;

/// Distinct values end to end in one string: a field like `id` or `sku` has one per product,
/// and a `String` each would cost ~40 bytes more apiece (its header and allocation).
#[derive(Debug, Default)]
struct Dict {
    text: String,
    /// Where each value ends in `text`.
    ends: Vec<u32>,
}

impl Dict {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends `value`, answering its position.
    fn push(&mut self, value: &str) -> u32 {
        self.text.push_str(value);
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }
}

impl StringColumn {
    fn of(&self, doc: usize) -> &[u32] {
        if self.offsets.is_empty() {
            let value = &self.values[doc..=doc];
            return if value[0] == NO_VALUE { &[] } else { value };
        }
        &self.values[self.offsets[doc] as usize..self.offsets[doc + 1] as usize]
    }

    /// Drops the offsets when no product has more than one value (most fields: `id`, `sku`,
    /// `name`, a brand…), keeping one value a product instead: 4 bytes a product less.
    fn single_valued(&mut self) {
        if self.offsets.windows(2).any(|w| w[1] - w[0] > 1) {
            return;
        }
        self.values = self
            .offsets
            .windows(2)
            .map(|w| {
                if w[0] == w[1] {
                    NO_VALUE
                } else {
                    self.values[w[0] as usize]
                }
            })
            .collect();
        self.offsets = Vec::new();
    }
}

/// The columns of a release's products, filled a product at a time.
struct Columns {
    docs: usize,
    strings: HashMap<String, StringColumn>,
    /// Each string column's values, for their positions in its `dict`.
    lookups: HashMap<String, HashMap<String, u32>>,
    numbers: HashMap<String, Vec<f64>>,
    /// Lower-cased names, for the name sort.
    names: Vec<String>,
}

impl Columns {
    fn new(numeric_fields: &[String]) -> Self {
        let mut columns = Self {
            docs: 0,
            strings: HashMap::new(),
            lookups: HashMap::new(),
            numbers: numeric_fields.iter().map(|f| (f.clone(), Vec::new())).collect(),
            names: Vec::new(),
        };
        for name in fields::DECLARED_STRINGS {
            columns.string_column(name);
        }
        columns
    }

    /// The column `name`, made (with no value for the products before) if it is new.
    fn string_column(&mut self, name: &str) -> (&mut StringColumn, &mut HashMap<String, u32>) {
        if !self.strings.contains_key(name) {
            let column = StringColumn {
                offsets: vec![0; self.docs + 1],
                ..StringColumn::default()
            };
            self.strings.insert(name.to_owned(), column);
            self.lookups.insert(name.to_owned(), HashMap::new());
        }
        let column = self.strings.get_mut(name).expect("inserted above");
        let lookup = self.lookups.get_mut(name).expect("inserted above");
        (column, lookup)
    }

    fn add(&mut self, d: SearchDoc) {
        let ord = self.docs;
        for (f, v) in d.strings {
            let (column, lookup) = self.string_column(&f);
            let id = match lookup.get(&v) {
                Some(&id) => id,
                None => {
                    let id = column.dict.push(&v);
                    lookup.insert(v, id);
                    id
                }
            };
            column.values.push(id);
        }
        for column in self.strings.values_mut() {
            column.offsets.push(column.values.len() as u32);
        }
        for (f, v) in d.numbers {
            // The column exists even if no product has a finite value in it (as declared ones do).
            let column = self.numbers.entry(f).or_default();
            if v.is_finite() {
                column.resize(ord + 1, f64::NAN);
                column[ord] = v;
            }
        }
        self.names.push(d.name.to_lowercase());
        self.docs += 1;
    }
}

#[derive(Debug)]
enum ColumnRef<'a> {
    Strings(&'a StringColumn),
    /// One value a product, `NaN` when it has none.
    Numbers(&'a [f64]),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetValue {
    pub count: u64,
    pub highlighted: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetStats {
    pub avg: f64,
    pub max: f64,
    pub min: f64,
    pub sum: f64,
    pub total_values: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetCount {
    pub counts: Vec<FacetValue>,
    pub field_name: String,
    pub sampled: bool,
    pub stats: serde_json::Value,
}

// The answer's structs list their members in alphabetical order: the order of every kassa
// response (docs/ARCHITECTURE.md, "Responses are typed").

/// What a search found: how many products pass, the requested page of them (positions in the
/// release's product list, with their text-match scores), and the facet counts.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub found: usize,
    pub hits: Vec<(usize, f32)>,
    pub facets: Vec<FacetCount>,
    /// The query's words, for highlighting.
    pub tokens: Vec<String>,
}

/// The index of one release.
pub struct SearchIndex {
    reader: IndexReader,
    text: Vec<(Field, f32)>,
    sku_exact: Field,
    docs: usize,
    strings: HashMap<String, StringColumn>,
    numbers: HashMap<String, Vec<f64>>,
    /// Each product's rank when sorted by name.
    name_rank: Vec<u32>,
    segment_ords: Arc<[Vec<u32>]>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("docs", &self.docs).finish()
    }
}

fn schema() -> Schema {
    let mut builder = Schema::builder();
    for (name, _) in TEXT_FIELDS {
        builder.add_text_field(name, TEXT);
    }
    builder.add_text_field(SKU_EXACT, STRING);
    builder.add_u64_field(ORD, FAST);
    builder.build()
}

impl SearchIndex {
    /// Builds the index of `docs` in `dir` (which must be empty) or, without one, in memory.
    /// `numeric_fields` are declared even if no product has a value for them (every currency's
    /// price, so filtering on a currency without prices finds nothing rather than failing).
    /// `docs` is read once, a product at a time: a release's documents are never all in memory.
    pub fn build(
        docs: impl IntoIterator<Item = SearchDoc>,
        numeric_fields: &[String],
        dir: Option<&Path>,
    ) -> std::io::Result<Self> {
        let schema = schema();
        let index = match dir {
            Some(dir) => Index::create_in_dir(dir, schema.clone()),
            None => Ok(Index::create_in_ram(schema.clone())),
        }
        .map_err(tantivy_error)?;
        let field = |name: &str| schema.get_field(name).expect("declared field");
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY)
            .map_err(tantivy_error)?;
        let mut columns = Columns::new(numeric_fields);
        for d in docs {
            let mut doc = TantivyDocument::default();
            doc.add_text(field("name"), &d.name);
            doc.add_text(field("description"), &d.description);
            doc.add_text(field("sku"), &d.sku);
            doc.add_text(field("slug"), &d.slug);
            for a in &d.attributes {
                doc.add_text(field("attributes"), a);
            }
            for c in &d.categories {
                doc.add_text(field("categories"), c);
            }
            if !d.sku.is_empty() {
                doc.add_text(field(SKU_EXACT), d.sku.to_lowercase());
            }
            doc.add_u64(field(ORD), columns.docs as u64);
            writer.add_document(doc).map_err(tantivy_error)?;
            columns.add(d);
        }
        writer.commit().map_err(tantivy_error)?;
        writer.wait_merging_threads().map_err(tantivy_error)?;
        Self::with_columns(index, columns)
    }

    /// Opens the index a [`SearchIndex::build`] left in `dir`, for the same `docs`; `None` when
    /// it is not that index (another number of products).
    pub fn open(
        dir: &Path,
        docs: impl IntoIterator<Item = SearchDoc>,
        numeric_fields: &[String],
    ) -> std::io::Result<Option<Self>> {
        let index = Index::open_in_dir(dir).map_err(tantivy_error)?;
        if index.schema() != schema() {
            return Ok(None);
        }
        let mut columns = Columns::new(numeric_fields);
        for d in docs {
            columns.add(d);
        }
        let opened = Self::with_columns(index, columns)?;
        let searcher = opened.reader.searcher();
        Ok((searcher.num_docs() as usize == opened.docs).then_some(opened))
    }

    /// Moves the index [`SearchIndex::build`] wrote in `from` to `to` (the directory renamed
    /// whole) and opens it there, keeping its columns: the documents are not made again.
    pub fn move_to(self, from: &Path, to: &Path) -> std::io::Result<Self> {
        let Self {
            reader,
            text,
            sku_exact,
            docs,
            strings,
            numbers,
            name_rank,
            segment_ords: _,
        } = self;
        // Its files are closed before their directory moves.
        drop(reader);
        std::fs::rename(from, to)?;
        let reader = reader_of(&Index::open_in_dir(to).map_err(tantivy_error)?)?;
        if reader.searcher().num_docs() as usize != docs {
            return Err(std::io::Error::other("the index moved is not the one built"));
        }
        let segment_ords = segment_ords(&reader)?;
        Ok(Self {
            reader,
            text,
            sku_exact,
            docs,
            strings,
            numbers,
            name_rank,
            segment_ords,
        })
    }

    fn with_columns(index: Index, columns: Columns) -> std::io::Result<Self> {
        let reader = reader_of(&index)?;
        let schema = index.schema();
        let text = TEXT_FIELDS
            .iter()
            .map(|(name, weight)| (schema.get_field(name).expect("declared field"), *weight))
            .collect();
        let sku_exact = schema.get_field(SKU_EXACT).expect("declared field");
        let segment_ords = segment_ords(&reader)?;
        let Columns {
            docs,
            mut strings,
            mut numbers,
            names,
            ..
        } = columns;
        for column in numbers.values_mut() {
            column.resize(docs, f64::NAN);
            column.shrink_to_fit();
        }
        // The columns grew a product at a time: their spare room would stay with the index.
        for column in strings.values_mut() {
            column.dict.text.shrink_to_fit();
            column.dict.ends.shrink_to_fit();
            column.single_valued();
            column.offsets.shrink_to_fit();
            column.values.shrink_to_fit();
        }
        let mut by_name: Vec<usize> = (0..docs).collect();
        by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut name_rank = vec![0u32; docs];
        for (rank, &i) in by_name.iter().enumerate() {
            name_rank[i] = rank as u32;
        }
        Ok(Self {
            reader,
            text,
            sku_exact,
            docs,
            strings,
            numbers,
            name_rank,
            segment_ords,
        })
    }

    pub fn len(&self) -> usize {
        self.docs
    }

    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    fn column(&self, name: &str) -> Option<ColumnRef<'_>> {
        if let Some(c) = self.strings.get(name) {
            return Some(ColumnRef::Strings(c));
        }
        self.numbers.get(name).map(|n| ColumnRef::Numbers(n))
    }

    /// Runs one checked search; `currency` is the shopper's (what `price` means).
    pub fn search(&self, params: &SearchParams, currency: &str) -> Result<SearchOutcome, SearchError> {
        let predicate = params
            .filter
            .as_ref()
            .map(|f| self.compile(f, currency))
            .transpose()?;
        let facets: Vec<(String, ColumnRef<'_>)> = params
            .facets
            .iter()
            .map(|name| {
                let canonical = canonical_field(name, currency);
                match self.column(&canonical) {
                    Some(c) if canonical != fields::ID => Ok((name.clone(), c)),
                    _ => Err(SearchError::Facet(format!("{name} is not a facet field"))),
                }
            })
            .collect::<Result<_, _>>()?;
        let sort = params
            .sort
            .iter()
            .map(|key| self.sort_key(&key.field, key.direction, currency))
            .collect::<Result<Vec<_>, _>>()?;

        let passes = |ord: usize| predicate.as_ref().is_none_or(|p| p.eval(ord));
        let tokens = params.q.as_deref().map(tokenize).unwrap_or_default();
        let mut matches: Vec<(usize, f32)> = match &params.q {
            None => (0..self.docs).filter(|&o| passes(o)).map(|o| (o, 0.0)).collect(),
            Some(q) => self
                .text_matches(q, &tokens)?
                .into_iter()
                .filter(|(o, _)| passes(*o))
                .collect(),
        };
        let found = matches.len();
        let facets = facets
            .into_iter()
            .map(|(name, column)| facet(&name, column, &matches, params.max_facet_values))
            .collect();

        let compare = |a: &(usize, f32), b: &(usize, f32)| {
            for key in &sort {
                let ordering = key.compare(a, b);
                if ordering.is_ne() {
                    return ordering;
                }
            }
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
        };
        let wanted = match params.kind {
            // Suggestions are grouped by name afterwards: rank enough candidates to fill pages.
            SearchKind::Autocomplete => ((params.page * params.per_page) as usize)
                .saturating_mul(4)
                .max(100),
            SearchKind::Search => (params.page * params.per_page) as usize,
        }
        .min(found);
        if wanted < matches.len() && wanted > 0 {
            matches.select_nth_unstable_by(wanted - 1, compare);
            matches.truncate(wanted);
        } else if wanted == 0 {
            matches.clear();
        }
        matches.sort_unstable_by(compare);
        let hits = match params.kind {
            SearchKind::Autocomplete => matches,
            SearchKind::Search => {
                let skip = ((params.page - 1) * params.per_page) as usize;
                matches.into_iter().skip(skip).collect()
            }
        };
        Ok(SearchOutcome {
            found,
            hits,
            facets,
            tokens,
        })
    }

    /// Every product the text query matches, with its score.
    fn text_matches(&self, q: &str, tokens: &[String]) -> Result<Vec<(usize, f32)>, SearchError> {
        let mut top: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let exact_sku = q.trim().to_lowercase();
        top.push((
            Occur::Should,
            Box::new(BoostQuery::new(
                Box::new(TermQuery::new(
                    Term::from_field_text(self.sku_exact, &exact_sku),
                    IndexRecordOption::Basic,
                )),
                SKU_EXACT_BOOST,
            )),
        ));
        if !tokens.is_empty() {
            let words: Vec<(Occur, Box<dyn Query>)> = tokens
                .iter()
                .enumerate()
                .map(|(i, token)| (Occur::Must, self.word_query(token, i + 1 == tokens.len())))
                .collect();
            top.push((Occur::Should, Box::new(BooleanQuery::new(words))));
        }
        let query = BooleanQuery::new(top);
        let searcher = self.reader.searcher();
        searcher
            .search(&query, &AllMatches(Arc::clone(&self.segment_ords)))
            .map_err(|e| SearchError::Request(format!("The search failed: {e}")))
    }

    /// One query word: exact (ranked by BM25), within its typo allowance, or, the last word, as
    /// a prefix; in any text field, weighted by field.
    fn word_query(&self, token: &str, last: bool) -> Box<dyn Query> {
        let typos = typos_allowed(token);
        let fuzzy = (typos > 0).then(|| WordAutomaton::new(token, typos, false));
        let prefix = last.then(|| WordAutomaton::new(token, typos.min(1), true));
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &(field, weight) in &self.text {
            let term = Term::from_field_text(field, token);
            any.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                    weight * 2.0,
                )),
            ));
            if let Some(fuzzy) = &fuzzy {
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(AutomatonQuery::new(field, fuzzy)),
                        weight * 0.5,
                    )),
                ));
            }
            if let Some(prefix) = &prefix {
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(AutomatonQuery::new(field, prefix)),
                        weight * 0.75,
                    )),
                ));
            }
        }
        Box::new(BooleanQuery::new(any))
    }

    fn sort_key(
        &self,
        field: &str,
        direction: Direction,
        currency: &str,
    ) -> Result<SortKey<'_>, SearchError> {
        if field == "_text_match" {
            return Ok(SortKey::Score(direction));
        }
        let canonical = canonical_field(field, currency);
        if canonical == fields::NAME {
            return Ok(SortKey::Rank(&self.name_rank, direction));
        }
        match self.numbers.get(&canonical) {
            Some(values) => Ok(SortKey::Number(values, direction)),
            None => Err(SearchError::Sort(format!(
                "{field} is not a sort field: sort by _text_match, name, price or created_at"
            ))),
        }
    }

    fn compile(&self, filter: &Filter, currency: &str) -> Result<Predicate<'_>, SearchError> {
        Ok(match filter {
            Filter::And(parts) => Predicate::And(
                parts
                    .iter()
                    .map(|p| self.compile(p, currency))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Or(parts) => Predicate::Or(
                parts
                    .iter()
                    .map(|p| self.compile(p, currency))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Clause(clause) => self.compile_clause(clause, currency)?,
        })
    }

    fn compile_clause(&self, clause: &Clause, currency: &str) -> Result<Predicate<'_>, SearchError> {
        let canonical = canonical_field(&clause.field, currency);
        let column = self.column(&canonical).ok_or_else(|| {
            let why = if TEXT_ONLY.contains(&clause.field.as_str()) {
                "is searched by q, not filtered"
            } else {
                "is not a filterable field"
            };
            SearchError::Filter(format!("{} {why}", clause.field))
        })?;
        match column {
            ColumnRef::Strings(column) => {
                let wanted: Vec<&str> = clause
                    .values
                    .iter()
                    .map(|v| match v {
                        Value::Text(t) => Ok(t.as_str()),
                        Value::Range(..) => Err(SearchError::Filter(format!(
                            "{} is not numeric: it takes no range",
                            clause.field
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                let selected: Vec<bool> = match clause.op {
                    Op::Equals | Op::NotEquals => column.dict.iter().map(|d| wanted.contains(&d)).collect(),
                    Op::Matches => {
                        let wanted: Vec<Vec<String>> = wanted.iter().map(|w| tokenize(w)).collect();
                        column
                            .dict
                            .iter()
                            .map(|d| {
                                let words = tokenize(d);
                                wanted
                                    .iter()
                                    .any(|w| !w.is_empty() && w.iter().all(|t| words.contains(t)))
                            })
                            .collect()
                    }
                    _ => {
                        return Err(SearchError::Filter(format!(
                            "{} is not numeric: compare it with : or :=",
                            clause.field
                        )));
                    }
                };
                Ok(Predicate::Strings {
                    column,
                    selected,
                    negate: clause.op == Op::NotEquals,
                })
            }
            ColumnRef::Numbers(values) => {
                let number = |s: &str| {
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .ok_or_else(|| {
                            SearchError::Filter(format!("{} takes numbers, not {s:?}", clause.field))
                        })
                };
                let ranges: Vec<(f64, f64)> = clause
                    .values
                    .iter()
                    .map(|v| match v {
                        Value::Text(t) => number(t).map(|n| (n, n)),
                        Value::Range(low, high) => Ok((number(low)?, number(high)?)),
                    })
                    .collect::<Result<_, _>>()?;
                let test = match clause.op {
                    Op::Matches | Op::Equals => NumberTest::In(ranges),
                    Op::NotEquals => NumberTest::NotIn(ranges),
                    Op::Greater => NumberTest::Greater(ranges[0].0),
                    Op::GreaterOrEqual => NumberTest::AtLeast(ranges[0].0),
                    Op::Less => NumberTest::Less(ranges[0].0),
                    Op::LessOrEqual => NumberTest::AtMost(ranges[0].0),
                };
                Ok(Predicate::Numbers(values, test))
            }
        }
    }
}

enum NumberTest {
    In(Vec<(f64, f64)>),
    NotIn(Vec<(f64, f64)>),
    Greater(f64),
    AtLeast(f64),
    Less(f64),
    AtMost(f64),
}

impl NumberTest {
    /// A product without a value passes only `!=`.
    fn passes(&self, v: f64) -> bool {
        let inside = |ranges: &[(f64, f64)]| ranges.iter().any(|(lo, hi)| v >= *lo && v <= *hi);
        match self {
            NumberTest::In(r) => inside(r),
            NumberTest::NotIn(r) => v.is_nan() || !inside(r),
            NumberTest::Greater(n) => v > *n,
            NumberTest::AtLeast(n) => v >= *n,
            NumberTest::Less(n) => v < *n,
            NumberTest::AtMost(n) => v <= *n,
        }
    }
}

/// A compiled filter.
enum Predicate<'a> {
    And(Vec<Predicate<'a>>),
    Or(Vec<Predicate<'a>>),
    /// A product passes when one of its values is `selected` (none of them, negated).
    Strings {
        column: &'a StringColumn,
        selected: Vec<bool>,
        negate: bool,
    },
    Numbers(&'a [f64], NumberTest),
}

impl Predicate<'_> {
    fn eval(&self, ord: usize) -> bool {
        match self {
            Predicate::And(parts) => parts.iter().all(|p| p.eval(ord)),
            Predicate::Or(parts) => parts.iter().any(|p| p.eval(ord)),
            Predicate::Strings {
                column,
                selected,
                negate,
            } => column.of(ord).iter().any(|&v| selected[v as usize]) != *negate,
            Predicate::Numbers(values, test) => test.passes(values[ord]),
        }
    }
}

enum SortKey<'a> {
    Score(Direction),
    Rank(&'a [u32], Direction),
    Number(&'a [f64], Direction),
}

impl SortKey<'_> {
    fn compare(&self, a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
        let (ordering, direction) = match self {
            SortKey::Score(d) => (a.1.total_cmp(&b.1), *d),
            SortKey::Rank(ranks, d) => (ranks[a.0].cmp(&ranks[b.0]), *d),
            SortKey::Number(values, d) => {
                let (x, y) = (values[a.0], values[b.0]);
                // Products without a value come last either way.
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => return std::cmp::Ordering::Equal,
                    (true, false) => return std::cmp::Ordering::Greater,
                    (false, true) => return std::cmp::Ordering::Less,
                    _ => (x.total_cmp(&y), *d),
                }
            }
        };
        match direction {
            Direction::Asc => ordering,
            Direction::Desc => ordering.reverse(),
        }
    }
}

/// The facet counts of `column` over the matching products: the most frequent values first
/// (ties by value), and for numbers their stats.
fn facet(name: &str, column: ColumnRef<'_>, matches: &[(usize, f32)], max_values: usize) -> FacetCount {
    match column {
        ColumnRef::Strings(column) => {
            let mut counts = vec![0u64; column.dict.len()];
            for (ord, _) in matches {
                for &v in column.of(*ord) {
                    counts[v as usize] += 1;
                }
            }
            let mut values: Vec<(usize, u64)> =
                counts.into_iter().enumerate().filter(|(_, c)| *c > 0).collect();
            values.sort_unstable_by(|a, b| {
                b.1.cmp(&a.1)
                    .then_with(|| column.dict.get(a.0).cmp(column.dict.get(b.0)))
            });
            values.truncate(max_values);
            FacetCount {
                field_name: name.to_owned(),
                counts: values
                    .into_iter()
                    .map(|(i, count)| FacetValue {
                        value: column.dict.get(i).to_owned(),
                        highlighted: column.dict.get(i).to_owned(),
                        count,
                    })
                    .collect(),
                sampled: false,
                stats: serde_json::json!({ "total_values": column.dict.len() }),
            }
        }
        ColumnRef::Numbers(values) => {
            let mut counts: HashMap<u64, u64> = HashMap::new();
            let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0u64);
            for (ord, _) in matches {
                let v = values[*ord];
                if v.is_nan() {
                    continue;
                }
                *counts.entry(v.to_bits()).or_default() += 1;
                min = min.min(v);
                max = max.max(v);
                sum += v;
                n += 1;
            }
            let mut counted: Vec<(f64, u64)> =
                counts.into_iter().map(|(b, c)| (f64::from_bits(b), c)).collect();
            counted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
            counted.truncate(max_values);
            let stats = if n == 0 {
                serde_json::json!({ "total_values": 0 })
            } else {
                serde_json::to_value(FacetStats {
                    min,
                    max,
                    avg: sum / n as f64,
                    sum,
                    total_values: counted.len() as u64,
                })
                .unwrap_or_default()
            };
            FacetCount {
                field_name: name.to_owned(),
                counts: counted
                    .into_iter()
                    .map(|(v, count)| {
                        let value = number_text(v);
                        FacetValue {
                            highlighted: value.clone(),
                            value,
                            count,
                        }
                    })
                    .collect(),
                sampled: false,
                stats,
            }
        }
    }
}

/// A number as Typesense shows a facet value: no fraction when it is whole.
fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Collects every match with its score, as release positions.
struct AllMatches(Arc<[Vec<u32>]>);

struct SegmentMatches {
    segment_ords: Arc<[Vec<u32>]>,
    segment: usize,
    found: Vec<(usize, f32)>,
}

impl Collector for AllMatches {
    type Fruit = Vec<(usize, f32)>;
    type Child = SegmentMatches;

    fn for_segment(&self, segment: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<SegmentMatches> {
        Ok(SegmentMatches {
            segment_ords: Arc::clone(&self.0),
            segment: segment as usize,
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(usize, f32)>>) -> tantivy::Result<Vec<(usize, f32)>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Vec<(usize, f32)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        match self.segment_ords[self.segment].get(doc as usize) {
            Some(&ord) if ord != u32::MAX => self.found.push((ord as usize, score)),
            _ => {}
        }
    }

    fn harvest(self) -> Vec<(usize, f32)> {
        self.found
    }
}

/// A reader of `index` that sees the segments it has now: a release's index never changes.
fn reader_of(index: &Index) -> std::io::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(tantivy_error)
}

/// Each segment's documents' release positions, read once from the `ord` fast field: a lookup
/// in a vector per match rather than a column read.
fn segment_ords(reader: &IndexReader) -> std::io::Result<Arc<[Vec<u32>]>> {
    reader
        .searcher()
        .segment_readers()
        .iter()
        .map(|segment| {
            let column = segment.fast_fields().u64(ORD).map_err(tantivy_error)?;
            Ok((0..segment.max_doc())
                .map(|doc| column.first(doc).map_or(u32::MAX, |ord| ord as u32))
                .collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::RawSearch;

    #[test]
    fn a_dict_keeps_its_values_end_to_end_in_order() {
        let mut dict = Dict::default();
        assert_eq!(dict.push("b0f5"), 0);
        assert_eq!(dict.push(""), 1);
        assert_eq!(dict.push("Größe"), 2);
        assert_eq!(dict.len(), 3);
        assert_eq!((dict.get(0), dict.get(1), dict.get(2)), ("b0f5", "", "Größe"));
        assert_eq!(dict.iter().collect::<Vec<_>>(), ["b0f5", "", "Größe"]);
    }

    #[test]
    fn a_column_with_at_most_one_value_a_product_keeps_one_slot_each() {
        let column = |per_doc: &[&[u32]]| {
            let mut c = StringColumn {
                offsets: vec![0],
                ..StringColumn::default()
            };
            for values in per_doc {
                c.values.extend_from_slice(values);
                c.offsets.push(c.values.len() as u32);
            }
            c
        };
        let single: &[&[u32]] = &[&[2], &[], &[0], &[2]];
        let mut c = column(single);
        c.single_valued();
        assert!(c.offsets.is_empty());
        assert_eq!(c.values, [2, NO_VALUE, 0, 2]);
        for (doc, values) in single.iter().enumerate() {
            assert_eq!(c.of(doc), *values);
        }
        let multi: &[&[u32]] = &[&[1], &[0, 1], &[]];
        let mut c = column(multi);
        c.single_valued();
        assert_eq!(c.offsets.len(), 4);
        for (doc, values) in multi.iter().enumerate() {
            assert_eq!(c.of(doc), *values);
        }
    }

    fn doc(
        name: &str,
        description: &str,
        sku: &str,
        brand: &str,
        category: &str,
        price: Option<f64>,
    ) -> SearchDoc {
        let mut strings = vec![
            (fields::SKU.to_owned(), sku.to_owned()),
            (fields::NAME.to_owned(), name.to_owned()),
            (fields::CATEGORIES.to_owned(), category.to_owned()),
            (fields::category_level(0), category.to_owned()),
        ];
        if !brand.is_empty() {
            strings.push((fields::BRAND.to_owned(), brand.to_owned()));
        }
        SearchDoc {
            name: name.into(),
            description: description.into(),
            sku: sku.into(),
            slug: name.to_lowercase().replace(' ', "-"),
            attributes: vec![brand.into()],
            categories: vec![category.into()],
            strings,
            numbers: price.map(|p| (fields::price("USD"), p)).into_iter().collect(),
        }
    }

    fn catalog() -> Vec<SearchDoc> {
        vec![
            doc(
                "Claw Hammer",
                "A steel hammer for nails",
                "HAM-1",
                "Acme",
                "Tools",
                Some(19.99),
            ),
            doc(
                "Sledge",
                "Heavy hammer for demolition",
                "SLG-1",
                "Acme",
                "Tools",
                Some(49.0),
            ),
            doc(
                "Hammock",
                "Sleep outside",
                "HMK-1",
                "Outdoor Co",
                "Garden",
                Some(80.0),
            ),
            doc(
                "Nail Box",
                "Two hundred nails",
                "NAIL-200",
                "",
                "Tools",
                Some(5.0),
            ),
            doc(
                "Garden Hose",
                "Twenty metres, green",
                "HOSE-20",
                "Outdoor Co",
                "Garden",
                None,
            ),
            doc(
                "Trowel",
                "For planting; fits HAM-1 holsters",
                "TRW-1",
                "Acme",
                "Garden",
                Some(7.5),
            ),
        ]
    }

    fn index() -> SearchIndex {
        SearchIndex::build(catalog(), &[fields::price("USD"), fields::price("EUR")], None).unwrap()
    }

    fn run(index: &SearchIndex, search: serde_json::Value) -> Result<SearchOutcome, SearchError> {
        let raw: RawSearch = serde_json::from_value(search).unwrap();
        index.search(&raw.check(25)?, "USD")
    }

    fn names(index: &SearchIndex, search: serde_json::Value) -> Vec<&'static str> {
        const NAMES: [&str; 6] = [
            "Claw Hammer",
            "Sledge",
            "Hammock",
            "Nail Box",
            "Garden Hose",
            "Trowel",
        ];
        run(index, search)
            .unwrap()
            .hits
            .iter()
            .map(|(o, _)| NAMES[*o])
            .collect()
    }

    #[test]
    fn relevance_exact_sku_first_then_name_before_description() {
        let index = index();
        // HAM-1 is Claw Hammer's sku and appears in Trowel's description.
        assert_eq!(names(&index, json!({"q": "HAM-1"}))[0], "Claw Hammer");
        // "hammer": in Claw Hammer's name, in Sledge's description only.
        assert_eq!(
            names(&index, json!({"q": "hammer"}))[..2],
            ["Claw Hammer", "Sledge"]
        );
        // "nail": Nail Box's name first, then the descriptions that say "nails" (a typo away).
        assert_eq!(names(&index, json!({"q": "nail"}))[0], "Nail Box");
    }

    #[test]
    fn typos_and_prefixes() {
        let index = index();
        // One typo in a word of four or more letters; two from seven.
        assert!(names(&index, json!({"q": "hamer"})).contains(&"Claw Hammer"));
        assert_eq!(names(&index, json!({"q": "sldge"})), ["Sledge"]);
        assert!(names(&index, json!({"q": "demolitoin"})).contains(&"Sledge"));
        // Three letters: no typo allowed, but the last word is a prefix.
        assert_eq!(names(&index, json!({"q": "tro"})), ["Trowel"]);
        // "garden" is also the category of Hammock and Trowel; "ho" the start of Trowel's "holsters".
        assert_eq!(
            names(&index, json!({"q": "garden ho"})),
            ["Garden Hose", "Trowel"]
        );
        assert!(names(&index, json!({"q": "xyzzy"})).is_empty());
        let found = names(&index, json!({"type": "autocomplete", "q": "hamm"}));
        assert!(
            found.contains(&"Claw Hammer") && found.contains(&"Hammock"),
            "{found:?}"
        );
    }

    #[test]
    fn each_filter_operator() {
        let index = index();
        let table: &[(&str, &[&str])] = &[
            ("brand:=Acme", &["Claw Hammer", "Sledge", "Trowel"]),
            ("brand:acme", &["Claw Hammer", "Sledge", "Trowel"]),
            ("brand:outdoor", &["Hammock", "Garden Hose"]),
            ("brand:=outdoor", &[]),
            ("brand:!=Acme", &["Hammock", "Nail Box", "Garden Hose"]),
            (
                "brand:=[Acme,`Outdoor Co`]",
                &["Claw Hammer", "Sledge", "Hammock", "Garden Hose", "Trowel"],
            ),
            ("price:>19.99", &["Sledge", "Hammock"]),
            ("price:>=19.99", &["Claw Hammer", "Sledge", "Hammock"]),
            ("price:<7.5", &["Nail Box"]),
            ("price:<=7.5", &["Nail Box", "Trowel"]),
            ("price:=49", &["Sledge"]),
            (
                "price.USD.float_price:[5..10, 80]",
                &["Hammock", "Nail Box", "Trowel"],
            ),
            (
                "price:!=[5..10]",
                &["Claw Hammer", "Sledge", "Hammock", "Garden Hose"],
            ),
            ("price.EUR.float_price:>0", &[]),
            ("categories:=Garden && price:<50", &["Trowel"]),
            (
                "categories:=Garden || price:<6",
                &["Hammock", "Nail Box", "Garden Hose", "Trowel"],
            ),
            (
                "(brand:=Acme || brand:=`Outdoor Co`) && price:>40",
                &["Sledge", "Hammock"],
            ),
            ("sku:=NAIL-200", &["Nail Box"]),
        ];
        for (filter, expected) in table {
            assert_eq!(&names(&index, json!({"filter_by": filter})), expected, "{filter}");
        }
        for bad in [
            "colour:=red",
            "description:x",
            "brand:>3",
            "price:abc",
            "price:[1..x]",
            "brand:[a..b]",
        ] {
            assert!(
                matches!(
                    run(&index, json!({"filter_by": bad})),
                    Err(SearchError::Filter(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn facets_count_the_matching_products() {
        let index = index();
        let out = run(
            &index,
            json!({"q": "*", "facet_by": "brand,categories.lvl0,price", "filter_by": "price:<60"}),
        )
        .unwrap();
        assert_eq!(out.found, 4);
        let brand = &out.facets[0];
        assert_eq!(brand.field_name, "brand");
        assert_eq!(
            brand
                .counts
                .iter()
                .map(|c| (c.value.as_str(), c.count))
                .collect::<Vec<_>>(),
            [("Acme", 3)]
        );
        let levels = &out.facets[1];
        assert_eq!(
            levels
                .counts
                .iter()
                .map(|c| (c.value.as_str(), c.count))
                .collect::<Vec<_>>(),
            [("Tools", 3), ("Garden", 1)]
        );
        let price = &out.facets[2];
        assert_eq!(price.stats["min"], 5.0);
        assert_eq!(price.stats["max"], 49.0);
        assert!((price.stats["sum"].as_f64().unwrap() - 81.49).abs() < 1e-9);
        let out = run(&index, json!({"facet_by": "brand", "max_facet_values": 1})).unwrap();
        assert_eq!(out.facets[0].counts.len(), 1);
        for bad in ["description", "id", "colour"] {
            assert!(
                matches!(run(&index, json!({"facet_by": bad})), Err(SearchError::Facet(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn sorts_and_pages() {
        let index = index();
        assert_eq!(
            names(&index, json!({"sort_by": "price:asc"})),
            [
                "Nail Box",
                "Trowel",
                "Claw Hammer",
                "Sledge",
                "Hammock",
                "Garden Hose"
            ]
        );
        assert_eq!(
            names(&index, json!({"sort_by": "price:desc"})),
            [
                "Hammock",
                "Sledge",
                "Claw Hammer",
                "Trowel",
                "Nail Box",
                "Garden Hose"
            ]
        );
        assert_eq!(
            names(&index, json!({"sort_by": "name:asc", "per_page": 2, "page": 2})),
            ["Hammock", "Nail Box"]
        );
        let out = run(&index, json!({"per_page": 4, "page": 2})).unwrap();
        assert_eq!((out.found, out.hits.len()), (6, 2));
        assert!(
            run(&index, json!({"per_page": 4, "page": 3}))
                .unwrap()
                .hits
                .is_empty()
        );
        assert!(matches!(
            run(&index, json!({"sort_by": "description:asc"})),
            Err(SearchError::Sort(_))
        ));
    }

    #[test]
    fn reopens_from_disk() {
        let dir = std::env::temp_dir().join(format!("kassa-search-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let docs = catalog();
        let built = SearchIndex::build(docs.clone(), &[], Some(&dir)).unwrap();
        assert_eq!(built.len(), 6);
        drop(built);
        let opened = SearchIndex::open(&dir, docs.clone(), &[])
            .unwrap()
            .expect("the same index");
        assert_eq!(names(&opened, json!({"q": "sledge"})), ["Sledge"]);
        assert!(
            SearchIndex::open(&dir, docs[..3].to_vec(), &[])
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn moves_whole_with_its_columns() {
        let root = std::env::temp_dir().join(format!("kassa-search-move-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (from, to) = (root.join("building"), root.join("built"));
        std::fs::create_dir_all(&from).unwrap();
        let built = SearchIndex::build(catalog(), &[], Some(&from)).unwrap();
        let moved = built.move_to(&from, &to).unwrap();
        assert!(!from.exists() && to.is_dir());
        assert_eq!(moved.len(), 6);
        let query = json!({"q": "hammer", "filter_by": "brand:=Acme"});
        let found = names(&moved, query.clone());
        assert!(!found.is_empty());
        assert_eq!(
            found,
            names(&SearchIndex::build(catalog(), &[], None).unwrap(), query)
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
