//! kassa's catalog search: the Typesense-style query language of `POST /catalog/multi-search`
//! (filters, facets, sorts, pages; pure and table-tested) and the search index of one catalog
//! release, on tantivy (an embedded full-text engine: an inverted index with BM25 ranking,
//! Levenshtein-automaton fuzzy terms for typo tolerance and prefix terms for autocomplete).
//!
//! tantivy ranks the text query; filters, facets and sorts run on columns kept in memory beside
//! it (a release's field values, a few bytes a product), so they cost the same whatever the
//! query. This crate knows nothing of products: the API layer turns a release into
//! [`SearchDoc`]s and renders the hits it gets back as positions in that list.

pub mod fields;
pub mod filter;
mod fuzzy;
pub mod highlight;
pub mod index;
pub mod request;

pub use fields::canonical_field;
pub use index::{FacetCount, FacetStats, SearchDoc, SearchIndex, SearchOutcome};
pub use request::{RawSearch, SearchKind, SearchParams};

/// Why a search was refused: each is a 400 with its own title.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Filter(String),
    #[error("{0}")]
    Facet(String),
    #[error("{0}")]
    Pagination(String),
    #[error("{0}")]
    Sort(String),
    #[error("{0}")]
    Request(String),
}

impl SearchError {
    /// The Elastic Path error title.
    pub fn title(&self) -> &'static str {
        match self {
            SearchError::Filter(_) => "Invalid Filter",
            SearchError::Facet(_) => "Invalid Facet",
            SearchError::Pagination(_) => "Invalid Pagination",
            SearchError::Sort(_) => "Invalid Sort",
            SearchError::Request(_) => "Invalid Search",
        }
    }
}

/// Tokens longer than this (in bytes) are not indexed (tantivy's default tokenizer drops them).
const MAX_TOKEN_BYTES: usize = 40;

/// The words of `text` as the index tokenizes them: runs of letters and digits, lower-cased.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() < MAX_TOKEN_BYTES)
        .map(str::to_lowercase)
        .collect()
}

/// How many typos a query word tolerates (Typesense's defaults): none below four characters,
/// one from four, two from seven.
pub fn typos_allowed(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_like_the_index() {
        assert_eq!(tokenize("Blue T-Shirt, XL!"), ["blue", "t", "shirt", "xl"]);
        assert_eq!(tokenize("  "), Vec::<String>::new());
        assert_eq!(tokenize("Größe 42"), ["größe", "42"]);
    }

    #[test]
    fn typos_grow_with_word_length() {
        for (word, typos) in [
            ("", 0),
            ("hat", 0),
            ("shoe", 1),
            ("hammer", 1),
            ("trousers", 2),
            ("hämmer", 1),
        ] {
            assert_eq!(typos_allowed(word), typos, "{word}");
        }
    }
}
