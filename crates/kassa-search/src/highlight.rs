//! Highlights: the words of a field value that a query's words matched (exactly, within their
//! typo allowance, or as the prefix the last word may be), wrapped in `<mark>`.

use serde::Serialize;

use crate::typos_allowed;

/// Values longer than this many words get a snippet around the first match.
const SNIPPET_THRESHOLD: usize = 30;
/// Words kept on each side of the first match in a snippet.
const AFFIX_WORDS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Highlight {
    pub field: String,
    pub matched_tokens: Vec<String>,
    pub snippet: String,
    /// The whole value, marked: only for the `highlight_full_fields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The edit distance between two words (insertions, deletions, substitutions, and swaps of
/// neighbours, as tantivy's fuzzy terms count them), stopping early past `max`.
pub fn distance(a: &str, b: &str, max: u8) -> u8 {
    // Highlighting calls this for every word of every hit's fields: compare bytes when both are
    // ASCII (the usual case), chars otherwise.
    if a.is_ascii() && b.is_ascii() {
        bounded_distance(a.as_bytes(), b.as_bytes(), max)
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        bounded_distance(&a, &b, max)
    }
}

/// [`distance`] over any symbols, keeping only the three rows the recurrence reads.
fn bounded_distance<T: PartialEq>(a: &[T], b: &[T], max: u8) -> u8 {
    let over = max as usize + 1;
    if a.len().abs_diff(b.len()) > max as usize {
        return over as u8;
    }
    let width = b.len() + 1;
    let mut rows = vec![0usize; 3 * width];
    let (mut before, mut previous, mut current) = (0, width, 2 * width);
    for (j, cell) in rows[previous..previous + width].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[current] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[previous + j] + 1)
                .min(rows[current + j - 1] + 1)
                .min(rows[previous + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[before + j - 2] + 1);
            }
            rows[current + j] = best;
        }
        (before, previous, current) = (previous, current, before);
    }
    rows[previous + b.len()].min(over) as u8
}

/// Whether the value's word `word` (lower-cased) answers the query word `token`.
pub fn word_matches(word: &str, token: &str, prefix: bool) -> bool {
    if word == token {
        return true;
    }
    let typos = typos_allowed(token);
    if typos > 0 && distance(word, token, typos) <= typos {
        return true;
    }
    if prefix {
        if word.starts_with(token) {
            return true;
        }
        // A prefix with a typo: the word's start of the same length, one edit away.
        if typos > 0 {
            let start: String = word.chars().take(token.chars().count()).collect();
            return distance(&start, token, 1) <= 1;
        }
    }
    false
}

/// The highlight of `value` for the query words `tokens` (the last may be a prefix), or `None`
/// when nothing matched.
pub fn highlight(
    field: &str,
    value: &str,
    tokens: &[String],
    prefix_last: bool,
    full: bool,
) -> Option<Highlight> {
    // The value as alternating runs: (text, is_word).
    let mut runs: Vec<(&str, bool)> = Vec::new();
    let mut start = 0;
    let mut in_word = None;
    for (i, c) in value.char_indices() {
        let word = c.is_alphanumeric();
        if in_word != Some(word) {
            if let Some(was) = in_word {
                runs.push((&value[start..i], was));
            }
            start = i;
            in_word = Some(word);
        }
    }
    if let Some(was) = in_word {
        runs.push((&value[start..], was));
    }
    let mut matched_tokens = Vec::new();
    let marked: Vec<(String, bool)> = runs
        .iter()
        .map(|(text, is_word)| {
            if !is_word {
                return ((*text).to_owned(), false);
            }
            let lower = text.to_lowercase();
            let hit = tokens
                .iter()
                .enumerate()
                .any(|(i, t)| word_matches(&lower, t, prefix_last && i + 1 == tokens.len()));
            if hit {
                matched_tokens.push((*text).to_owned());
                (format!("<mark>{text}</mark>"), true)
            } else {
                ((*text).to_owned(), false)
            }
        })
        .collect();
    if matched_tokens.is_empty() {
        return None;
    }
    let full_value: String = marked.iter().map(|(t, _)| t.as_str()).collect();
    let words = runs.iter().filter(|(_, w)| *w).count();
    let snippet = if words <= SNIPPET_THRESHOLD {
        full_value.clone()
    } else {
        // Runs alternate, so a word is every other run: keep AFFIX_WORDS words each side.
        let first = marked.iter().position(|(_, hit)| *hit).unwrap_or(0);
        let from = first.saturating_sub(AFFIX_WORDS * 2);
        let to = (first + AFFIX_WORDS * 2 + 1).min(marked.len());
        let inner: String = marked[from..to].iter().map(|(t, _)| t.as_str()).collect();
        format!(
            "{}{}{}",
            if from > 0 { "…" } else { "" },
            inner.trim(),
            if to < marked.len() { "…" } else { "" }
        )
    };
    Some(Highlight {
        field: field.to_owned(),
        snippet,
        value: full.then_some(full_value),
        matched_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(q: &str) -> Vec<String> {
        crate::tokenize(q)
    }

    #[test]
    fn distances() {
        for (a, b, d) in [
            ("shoe", "shoe", 0),
            ("shoe", "shoes", 1),
            ("hammer", "hamer", 1),
            ("hammer", "hmamer", 1),
            ("hammer", "nail", 3),
        ] {
            assert_eq!(distance(a, b, 2), d.min(3), "{a} {b}");
        }
    }

    #[test]
    fn marks_exact_typo_and_prefix_matches() {
        let h = highlight(
            "attributes.name",
            "Claw Hammer, steel",
            &words("hamer"),
            false,
            true,
        )
        .unwrap();
        assert_eq!(h.snippet, "Claw <mark>Hammer</mark>, steel");
        assert_eq!(h.value.as_deref(), Some("Claw <mark>Hammer</mark>, steel"));
        assert_eq!(h.matched_tokens, ["Hammer"]);
        let h = highlight("attributes.name", "Claw Hammer", &words("claw ham"), true, false).unwrap();
        assert_eq!(h.snippet, "<mark>Claw</mark> <mark>Hammer</mark>");
        assert_eq!(h.value, None);
        assert!(highlight("attributes.name", "Claw Hammer", &words("ham"), false, false).is_none());
        assert!(highlight("attributes.name", "Claw Hammer", &words("nail"), true, false).is_none());
    }

    #[test]
    fn long_values_get_a_snippet() {
        let value = format!("{}needle {}", "hay ".repeat(40), "straw ".repeat(40));
        let h = highlight("attributes.description", &value, &words("needle"), false, false).unwrap();
        assert_eq!(
            h.snippet,
            "…hay hay hay hay <mark>needle</mark> straw straw straw straw…"
        );
    }
}
