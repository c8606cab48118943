//! Legacy customers: the rules for their fields and the filters their collection supports.

use crate::query::{Filter, FilterOp, PageRequest, check_filters};
use crate::{Result, Validator};
use uuid::Uuid;

pub const MAX_NAME: usize = 255;
pub const MAX_EXTERNAL_REF: usize = 2048;
pub const MIN_PASSWORD: usize = 8;
/// Argon2 takes any length, but a megabyte of password is only a way to burn CPU.
pub const MAX_PASSWORD: usize = 1024;
/// RFC 5321's limit on a forward path.
pub const MAX_EMAIL: usize = 254;

/// The `Conflict` detail for an email another customer already has.
pub const DUPLICATE_EMAIL: &str = "A customer with this email already exists";

/// The form emails are compared and kept unique in: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A practical address check (RFC 5322 dot-atom local part, DNS host name with at least two
/// labels), not the full grammar: no quoted local parts, comments or IP-literal domains.
pub fn is_valid_email(email: &str) -> bool {
    if email.chars().count() > MAX_EMAIL {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.chars().count() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !labels[labels.len() - 1].chars().all(|c| c.is_ascii_digit());
    local_ok && domain_ok
}

impl Validator {
    /// A required, well-formed email address.
    pub fn email(&mut self, value: Option<String>, source: &str) -> Option<String> {
        let value = self.required(value, source)?;
        let value = value.trim().to_owned();
        if is_valid_email(&value) {
            Some(value)
        } else {
            self.push(source, "format", "Does not match format 'email'");
            None
        }
    }

    /// A password of at least [`MIN_PASSWORD`] characters.
    pub fn password(&mut self, value: Option<String>, source: &str) -> Option<String> {
        let value = value?;
        let len = value.chars().count();
        if len < MIN_PASSWORD {
            self.push(
                source,
                "min_length",
                format!("password must be at least {MIN_PASSWORD} characters"),
            );
            None
        } else if len > MAX_PASSWORD {
            self.push(
                source,
                "max_length",
                format!("password must be at most {MAX_PASSWORD} characters"),
            );
            None
        } else {
            Some(value)
        }
    }
}

/// The fields a customer list can be filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerField {
    Email,
    Name,
    ExternalRef,
}

/// `eq` is exact (for `email`, case-insensitive); `like` matches `*` as any run of characters,
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFilter {
    pub field: CustomerField,
    pub like: bool,
    /// For `email`, already normalized.
    pub value: String,
}

/// What `GET /v2/customers` asks the store for.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    pub filters: Vec<CustomerFilter>,
    /// Restricts the list to one customer (a customer token sees only itself).
    pub only: Option<Uuid>,
    pub page: PageRequest,
}

impl CustomerFilter {
    /// Checks parsed `filter=` expressions against what customers support.
    pub fn from_filters(filters: &[Filter]) -> Result<Vec<Self>> {
        const OPS: &[FilterOp] = &[FilterOp::Eq, FilterOp::Like];
        check_filters(filters, &[("email", OPS), ("name", OPS), ("external_ref", OPS)])?;
        Ok(filters
            .iter()
            .map(|f| {
                let field = match f.field.as_str() {
                    "email" => CustomerField::Email,
                    "name" => CustomerField::Name,
                    _ => CustomerField::ExternalRef,
                };
                let value = if field == CustomerField::Email {
                    normalize_email(f.value())
                } else {
                    f.value().to_owned()
                };
                Self {
                    field,
                    like: f.op == FilterOp::Like,
                    value,
                }
            })
            .collect())
    }

    /// The value as a SQL `LIKE … ESCAPE '\'` pattern: `*` becomes `%`, and `%`, `_` and `\`
    /// match only themselves.
    pub fn like_pattern(&self) -> String {
        let mut out = String::with_capacity(self.value.len() + 2);
        for c in self.value.chars() {
            match c {
                '*' => out.push('%'),
                '%' | '_' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_filter;

    #[test]
    fn checks_email_format() {
        for ok in [
            "ron@swanson.com",
            "Ron.Swanson+tag@parks.pawnee.gov",
            "o'neil@example.co.uk",
            "x@a-b.io",
            "jörg@exämple.de",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "ron",
            "ron@",
            "@swanson.com",
            "ron@swanson",
            ".ron@swanson.com",
            "ron.@swanson.com",
            "ro..n@swanson.com",
            "ron@swanson..com",
            "ron@-swanson.com",
            "ron@swanson.123",
            "ron swanson@x.com",
            "ron@swan son.com",
            "a@b@c.com",
            "ron@swanson.com.",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(!is_valid_email(&long));
    }

    #[test]
    fn builds_filters_and_like_patterns() {
        let f =
            CustomerFilter::from_filters(&parse_filter("eq(email,Ron@X.com):like(name,R*_100%)").unwrap())
                .unwrap();
        assert_eq!(f[0].value, "ron@x.com");
        assert!(!f[0].like);
        assert_eq!(f[1].field, CustomerField::Name);
        assert_eq!(f[1].like_pattern(), "R%\\_100\\%");
        assert!(CustomerFilter::from_filters(&parse_filter("gt(name,a)").unwrap()).is_err());
        assert!(CustomerFilter::from_filters(&parse_filter("eq(password,a)").unwrap()).is_err());
    }
}
