//! Timestamps are integer milliseconds since the Unix epoch everywhere inside kassa (one
//! representation for both databases, sortable, no time-zone ambiguity) and RFC 3339 on the wire.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Now, as every time-based rule reads it: real time, moved by the current store's test clock
/// (see [`crate::context`]) if it has one.
pub fn now_millis() -> Millis {
    crate::context::with_current(crate::context::StoreContext::now_millis)
}

/// The current store's test clock: `Some(at)` makes now `at` and lets it run on from there;
/// `None` goes back to real time.
pub fn set_clock(at: Option<Millis>) {
    crate::context::with_current(|c| c.set_clock(at));
}

/// How far the current store's test clock is from real time, in milliseconds.
pub fn clock_offset_ms() -> i64 {
    crate::context::with_current(crate::context::StoreContext::clock_offset_ms)
}

/// `2026-11-28T13:23:46.123Z`
pub fn rfc3339(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 date-time. One without an offset (`2023-12-24T09:00:00`, as some Elastic
/// Path examples write it) is read as UTC.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let time_part = text.split_once(['T', 't']).map(|(_, t)| t)?;
    let with_offset = if time_part.contains(['Z', 'z', '+', '-']) {
        text.to_owned()
    } else {
        format!("{text}Z")
    };
    let t = OffsetDateTime::parse(&with_offset, &Rfc3339).ok()?;
    Millis::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-28T13:23:46.123Z"), Some(1_795_872_226_123));
        assert_eq!(
            parse_rfc3339("2026-11-28T14:23:46.123+01:00"),
            Some(1_795_872_226_123)
        );
        assert_eq!(parse_rfc3339("2026-11-28T13:23:46.123"), Some(1_795_872_226_123));
        for bad in ["", "2026-11-28", "yesterday", "2026-13-01T00:00:00Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339_in_utc_with_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_872_226_123), "2026-11-28T13:23:46.123Z");
    }
}
