//! Typesense's `filter_by` syntax, parsed into an expression: `field:value` (matches a word of
//! the value), `field:=value` (exact), `field:!=value`, `field:>n`, `:>=`, `:<`, `:<=`, lists
//! (`field:=[a,b]`, any of them), numeric ranges (`field:[1..5]`, inclusive), backtick-quoted
//! values (`` field:=`a, b` ``), `&&`, `||` (`&&` binds tighter) and parentheses. Pure: the index
//! decides which fields exist and what type they are.

use crate::SearchError;

/// How a `field:` clause compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `field:value`: a string field matches when it holds every word of the value (any case);
    /// a number is compared for equality.
    Matches,
    /// `field:=value`: the whole value, exactly.
    Equals,
    /// `field:!=value` (or `field:!value`): none of the values.
    NotEquals,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// One value of a clause: a plain value or, in a list, an inclusive range `a..b`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Range(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: String,
    pub op: Op,
    /// One or more (a list is any of them; for `!=`, none of them).
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Clause(Clause),
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// The longest filter accepted: long enough for any facet selection, short enough that parsing
/// cannot be made expensive.
pub const MAX_FILTER_LEN: usize = 4096;
/// How deep parentheses may nest.
const MAX_DEPTH: usize = 16;

fn invalid(detail: impl Into<String>) -> SearchError {
    SearchError::Filter(detail.into())
}

/// Parses a `filter_by` string; `Ok(None)` for an empty one.
pub fn parse_filter(input: &str) -> Result<Option<Filter>, SearchError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(invalid(format!(
            "filter_by is longer than {MAX_FILTER_LEN} characters"
        )));
    }
    if input.trim().is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        chars: input.chars().collect(),
        at: 0,
        depth: 0,
    };
    let filter = parser.or()?;
    parser.skip_space();
    if parser.at < parser.chars.len() {
        return Err(invalid(format!(
            "Could not parse the filter query: unexpected {:?} at character {}",
            parser.chars[parser.at], parser.at
        )));
    }
    Ok(Some(filter))
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        let n = token.chars().count();
        if self.chars.len() >= self.at + n
            && self.chars[self.at..self.at + n].iter().copied().eq(token.chars())
        {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Filter, SearchError> {
        let mut parts = vec![self.and()?];
        loop {
            self.skip_space();
            if !self.eat("||") {
                break;
            }
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Filter, SearchError> {
        let mut parts = vec![self.term()?];
        loop {
            self.skip_space();
            if !self.eat("&&") {
                break;
            }
            parts.push(self.term()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn term(&mut self) -> Result<Filter, SearchError> {
        self.skip_space();
        if self.eat("(") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(invalid("Could not parse the filter query: too deeply nested"));
            }
            let inner = self.or()?;
            self.skip_space();
            if !self.eat(")") {
                return Err(invalid("Could not parse the filter query: a ( is not closed"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.clause().map(Filter::Clause)
    }

    fn clause(&mut self) -> Result<Clause, SearchError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c != ':' && c != '(' && c != ')') {
            self.at += 1;
        }
        let field: String = self.chars[start..self.at].iter().collect();
        let field = field.trim().to_owned();
        if field.is_empty() || field.contains(char::is_whitespace) || !self.eat(":") {
            return Err(invalid(format!(
                "Could not parse the filter query: expected field:value at character {start}"
            )));
        }
        self.skip_space();
        let op = if self.eat(">=") {
            Op::GreaterOrEqual
        } else if self.eat("<=") {
            Op::LessOrEqual
        } else if self.eat("!=") || self.eat("!") {
            Op::NotEquals
        } else if self.eat(">") {
            Op::Greater
        } else if self.eat("<") {
            Op::Less
        } else if self.eat("=") {
            Op::Equals
        } else {
            Op::Matches
        };
        self.skip_space();
        let values = if self.eat("[") {
            let values = self.list()?;
            if matches!(op, Op::Greater | Op::GreaterOrEqual | Op::Less | Op::LessOrEqual) {
                return Err(invalid(format!(
                    "Could not parse the filter query: {field} compares with a list"
                )));
            }
            values
        } else {
            vec![Value::Text(self.value()?)]
        };
        Ok(Clause { field, op, values })
    }

    /// The values of a list, after its `[`, through its `]`.
    fn list(&mut self) -> Result<Vec<Value>, SearchError> {
        let mut values = Vec::new();
        loop {
            self.skip_space();
            let value = self.value()?;
            self.skip_space();
            let value = match value.split_once("..") {
                Some((low, high)) if !value.starts_with('`') => {
                    Value::Range(low.trim().to_owned(), high.trim().to_owned())
                }
                _ => Value::Text(value),
            };
            values.push(value);
            self.skip_space();
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(values);
            }
            return Err(invalid("Could not parse the filter query: a [ is not closed"));
        }
    }

    /// A backtick-quoted value, or the characters up to the next `,`, `]`, `)`, `&&` or `||`.
    fn value(&mut self) -> Result<String, SearchError> {
        if self.eat("`") {
            let start = self.at;
            while self.peek().is_some_and(|c| c != '`') {
                self.at += 1;
            }
            let value: String = self.chars[start..self.at].iter().collect();
            if !self.eat("`") {
                return Err(invalid("Could not parse the filter query: a ` is not closed"));
            }
            return Ok(value);
        }
        let start = self.at;
        while let Some(c) = self.peek() {
            if matches!(c, ',' | ']' | ')' | '[' | '(' | '`')
                || (c == '&' && self.chars.get(self.at + 1) == Some(&'&'))
                || (c == '|' && self.chars.get(self.at + 1) == Some(&'|'))
            {
                break;
            }
            self.at += 1;
        }
        let value: String = self.chars[start..self.at].iter().collect();
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(invalid(format!(
                "Could not parse the filter query: a value is missing at character {start}"
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(field: &str, op: Op, values: &[&str]) -> Filter {
        Filter::Clause(Clause {
            field: field.into(),
            op,
            values: values.iter().map(|v| Value::Text((*v).into())).collect(),
        })
    }

    #[test]
    fn parses_each_operator() {
        let table: &[(&str, Filter)] = &[
            ("brand:acme", clause("brand", Op::Matches, &["acme"])),
            ("brand:=Acme Co", clause("brand", Op::Equals, &["Acme Co"])),
            ("brand:!=acme", clause("brand", Op::NotEquals, &["acme"])),
            ("brand:!acme", clause("brand", Op::NotEquals, &["acme"])),
            ("price:>10", clause("price", Op::Greater, &["10"])),
            ("price:>=10.00", clause("price", Op::GreaterOrEqual, &["10.00"])),
            ("price:<10", clause("price", Op::Less, &["10"])),
            ("price :<= 10", clause("price", Op::LessOrEqual, &["10"])),
            ("price:=10", clause("price", Op::Equals, &["10"])),
            ("brand:=[a, b]", clause("brand", Op::Equals, &["a", "b"])),
            ("brand:[a,b]", clause("brand", Op::Matches, &["a", "b"])),
            ("brand:!=[a,b]", clause("brand", Op::NotEquals, &["a", "b"])),
            (
                "meta.search.categories.lvl0:=[`Men > Shoes`,`a, b`]",
                clause(
                    "meta.search.categories.lvl0",
                    Op::Equals,
                    &["Men > Shoes", "a, b"],
                ),
            ),
            (
                "attributes.extensions.Details.BRAND-NAME:=`X`",
                clause("attributes.extensions.Details.BRAND-NAME", Op::Equals, &["X"]),
            ),
        ];
        for (input, expected) in table {
            assert_eq!(parse_filter(input).unwrap().as_ref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn parses_ranges_and_boolean_structure() {
        assert_eq!(
            parse_filter("price:[1..5, 10]").unwrap(),
            Some(Filter::Clause(Clause {
                field: "price".into(),
                op: Op::Matches,
                values: vec![Value::Range("1".into(), "5".into()), Value::Text("10".into())],
            }))
        );
        assert_eq!(
            parse_filter("a:1 && b:2 || c:3").unwrap(),
            Some(Filter::Or(vec![
                Filter::And(vec![
                    clause("a", Op::Matches, &["1"]),
                    clause("b", Op::Matches, &["2"])
                ]),
                clause("c", Op::Matches, &["3"]),
            ]))
        );
        assert_eq!(
            parse_filter("a:1 && (b:2 || c:3)").unwrap(),
            Some(Filter::And(vec![
                clause("a", Op::Matches, &["1"]),
                Filter::Or(vec![
                    clause("b", Op::Matches, &["2"]),
                    clause("c", Op::Matches, &["3"])
                ]),
            ]))
        );
        assert_eq!(parse_filter("  ").unwrap(), None);
    }

    #[test]
    fn rejects_what_does_not_parse() {
        for input in [
            "brand",
            ":x",
            "brand:",
            "brand:[a",
            "brand:`a",
            "(brand:a",
            "brand:a)",
            "brand:a &&",
            "a:1 || || b:2",
            "price:>[1,2]",
            "two words:x",
        ] {
            assert!(
                matches!(parse_filter(input), Err(SearchError::Filter(_))),
                "{input} parsed"
            );
        }
        let deep = format!("{}a:1{}", "(".repeat(40), ")".repeat(40));
        assert!(parse_filter(&deep).is_err());
        assert!(parse_filter(&"a:1 && ".repeat(1000)).is_err());
    }
}
