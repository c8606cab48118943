//! The domain error: shaped by what a caller can do about it, not by where it came from.
//! The HTTP layer maps each variant to an Elastic Path error envelope in one place.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid input, named by its JSON path (`data.name`, `page[limit]`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub source: String,
    pub title: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(source: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            title: title.into(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule; every problem is reported at once.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// A well-formed request that is refused for a reason that is not one field's fault.
    #[error("{title}: {detail}")]
    BadRequest { title: String, detail: String },
    #[error("{title}: {detail}")]
    NotFound { title: String, detail: String },
    /// A uniqueness rule or a concurrent change stands in the way.
    #[error("conflict: {0}")]
    Conflict(String),
    /// No valid credentials.
    #[error("unauthenticated")]
    Unauthenticated,
    /// Valid credentials that may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The database cannot be reached or written just now (a PostgreSQL server that is down or
    /// restarting, a SQLite file that cannot be written): the request may succeed if retried
    /// later. The cause is logged, never shown to clients.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything the caller cannot fix: a storage failure, a bug. Never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn field(source: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(source, title, detail)])
    }

    pub fn not_found(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::NotFound {
            title: title.into(),
            detail: detail.into(),
        }
    }

    pub fn bad_request(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::BadRequest {
            title: title.into(),
            detail: detail.into(),
        }
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Error::Unavailable(cause.to_string())
    }
}

/// Collects every problem with an input so they are all reported at once.
#[derive(Debug, Default)]
pub struct Validator {
    problems: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, source: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) {
        self.problems.push(FieldError::new(source, title, detail));
    }

    /// The value of a required field, or a `required` problem naming it.
    pub fn required<T>(&mut self, value: Option<T>, source: &str) -> Option<T> {
        if value.is_none() {
            let field = source.rsplit('.').next().unwrap_or(source);
            self.push(source, "required", format!("{field} is required"));
        }
        value
    }

    /// A required string that is neither empty nor longer than `max` characters.
    pub fn text(&mut self, value: Option<String>, source: &str, max: usize) -> Option<String> {
        let value = self.required(value, source)?;
        self.optional_text(Some(value), source, max)
    }

    /// An optional attribute as a form sends it: blank (`""` or only spaces, as an empty input
    /// is sent) counts as not given; anything else must be at most `max` characters.
    pub fn optional_text_or_blank(
        &mut self,
        value: Option<String>,
        source: &str,
        max: usize,
    ) -> Option<String> {
        match value {
            Some(text) if text.trim().is_empty() => None,
            value => self.optional_text(value, source, max),
        }
    }

    /// A string that may be left out of this request but never blank: a required attribute in a
    /// partial update. If present, not longer than `max` characters.
    pub fn optional_text(&mut self, value: Option<String>, source: &str, max: usize) -> Option<String> {
        let value = value?;
        let field = source.rsplit('.').next().unwrap_or(source);
        if value.trim().is_empty() {
            self.push(source, "min_length", format!("{field} must not be empty"));
            None
        } else if value.chars().count() > max {
            self.push(
                source,
                "max_length",
                format!("{field} must be at most {max} characters"),
            );
            None
        } else {
            Some(value)
        }
    }

    /// Checks `data.type`, which Elastic Path requires on every write.
    pub fn resource_type(&mut self, value: Option<&str>, expected: &str) {
        match value {
            Some(t) if t == expected => {}
            Some(_) => self.push("data.type", "invalid", format!("type must be {expected}")),
            None => self.push("data.type", "required", "type is required"),
        }
    }

    /// How many problems were found so far.
    pub fn problem_count(&self) -> usize {
        self.problems.len()
    }

    pub fn finish(self) -> Result<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_optional_text_is_not_given_but_blank_required_text_is_refused() {
        for (value, optional, required) in [
            (None, Ok(None), Err("required")),
            (Some(""), Ok(None), Err("min_length")),
            (Some("  "), Ok(None), Err("min_length")),
            (Some("Flat 2"), Ok(Some("Flat 2")), Ok(Some("Flat 2"))),
            (Some("toolong"), Err("max_length"), Err("max_length")),
        ] {
            let outcome = |f: fn(&mut Validator, Option<String>) -> Option<String>| {
                let mut v = Validator::new();
                let got = f(&mut v, value.map(str::to_owned));
                match v.finish() {
                    Ok(()) => Ok(got),
                    Err(Error::Validation(p)) => Err(p[0].title.clone()),
                    Err(e) => panic!("{e}"),
                }
            };
            let want = |w: Result<Option<&str>, &str>| w.map(|o| o.map(str::to_owned)).map_err(str::to_owned);
            assert_eq!(
                outcome(|v, s| v.optional_text_or_blank(s, "data.line_2", 6)),
                want(optional),
                "{value:?}"
            );
            assert_eq!(
                outcome(|v, s| v.text(s, "data.line_1", 6)),
                want(required),
                "{value:?}"
            );
        }
    }
}
