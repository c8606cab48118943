//! `--webhook`: a tiny webhook receiver in the bench process (HTTP/1.1 keep-alive, answers 200
//! to everything) and the integration that sends it every event kassa emits. It counts the
//! events and their delivery lag: arrival minus the resource's `meta.timestamps.updated_at`
//! (the change's time, which is its commit within a millisecond or two).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::api_client::Api;

/// Every event kassa emits (kassa-core's `EventKind::ALL`).
pub const EVERY_EVENT: &[&str] = &[
    "account.created",
    "account.updated",
    "account.deleted",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "integration.created",
    "integration.updated",
    "integration.deleted",
    "order.created",
    "order.updated",
    "order.paid",
    "order.authorized",
    "order.fulfilled",
    "order.cancelled",
    "order.refunded",
    "transaction.created",
    "transaction.updated",
    "cart.updated",
    "cart.deleted",
    "address.created",
    "address.updated",
    "address.deleted",
    "currency.created",
    "currency.updated",
    "currency.deleted",
    "catalog-release.created",
    "catalog-rule.created",
    "catalog-rule.updated",
    "catalog-rule.deleted",
    "settings.updated",
    "payment-gateway.updated",
    "stock-transaction.created",
    "account-member.created",
    "account-member.updated",
    "account-member.deleted",
    "account-membership.created",
    "account-membership.deleted",
    "user-authentication-info.created",
    "user-authentication-info.updated",
    "user-authentication-info.deleted",
    "file.created",
    "file.deleted",
];

#[derive(Default)]
pub struct Received {
    /// (arrival, lag) in ms, per event.
    pub events: Vec<(i64, i64)>,
}

pub struct Receiver {
    pub received: Arc<Mutex<Received>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as ms since the epoch (days from the civil date, Hinnant's
/// algorithm).
fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // The fraction has 1 to 9 digits (trailing zeros are left out: `.5` is 500 ms).
    let ms = match text.get(19..).and_then(|r| r.strip_prefix('.')) {
        Some(rest) => {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let padded = format!("{digits:0<3}");
            padded.get(..3)?.parse::<i64>().ok()?
        }
        None => 0,
    };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// The resource's `meta.timestamps.updated_at` in a webhook body: the first one after
/// `"payload":` (the resource's own `meta` comes before its included items'). Found by searching
/// the bytes, not by parsing the body: the receiver should cost the machine as little as a
/// receiver can, as it shares the cores with kassa.
fn updated_at(body: &[u8]) -> Option<i64> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let payload = find(body, b"\"payload\":")?;
    let rest = &body[payload..];
    let stamps = find(rest, b"\"timestamps\":{")?;
    let rest = &rest[stamps..];
    let key = b"\"updated_at\":\"";
    let at = find(rest, key)? + key.len();
    let rest = &rest[at..];
    let end = rest.iter().position(|b| *b == b'"')?;
    parse_rfc3339_ms(std::str::from_utf8(&rest[..end]).ok()?)
}

fn record(received: &Mutex<Received>, body: &[u8]) {
    let arrival = now_ms();
    if body.is_empty() {
        return;
    }
    let at = updated_at(body).unwrap_or(arrival);
    received
        .lock()
        .unwrap()
        .events
        .push((arrival, (arrival - at).max(0)));
}

/// Serves one connection: reads requests (`Content-Length` bodies), answers each 200.
async fn serve(mut stream: tokio::net::TcpStream, received: Arc<Mutex<Received>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        record(&received, &buf[head_end..head_end + length]);
        buf.drain(..head_end + length);
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

impl Receiver {
    /// Starts the receiver on a port of its own and creates the integration that observes
    /// every event.
    pub async fn start(api: &Api, admin: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received: Arc<Mutex<Received>> = Arc::default();
        let r = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&r)));
            }
        });
        api.create(
            admin,
            "/v2/integrations",
            json!({"data": {"type": "integration", "name": "bench", "integration_type": "webhook",
                "observes": EVERY_EVENT, "configuration": {"url": url, "secret_key": "bench"}}}),
        )
        .await?;
        Ok(Self { received })
    }

    /// Events that arrived in `[from, until)` (ms since the epoch): how many per second, and the
    /// 50th and 99th percentile of their lag in ms.
    pub fn summary(&self, from: i64, until: i64) -> (f64, i64, i64) {
        let r = self.received.lock().unwrap();
        let mut lags: Vec<i64> = r
            .events
            .iter()
            .filter(|(at, _)| (from..until).contains(at))
            .map(|(_, lag)| *lag)
            .collect();
        lags.sort_unstable();
        let pick = |q: f64| {
            lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let seconds = ((until - from) as f64 / 1000.0).max(0.001);
        (lags.len() as f64 / seconds, pick(0.5), pick(0.99))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_resources_updated_at() {
        let body = br#"{"id":"x","resources":"{\"data\":{\"meta\":{\"timestamps\":{\"updated_at\":\"1970-01-01T00:00:09Z\"}}}}","payload":{"data":{"meta":{"timestamps":{"created_at":"1970-01-01T00:00:01Z","updated_at":"1970-01-01T00:00:02Z"}}},"included":{"items":[{"meta":{"timestamps":{"updated_at":"1970-01-01T00:00:03Z"}}}]}}}"#;
        assert_eq!(super::updated_at(body), Some(2_000));
        assert_eq!(
            super::updated_at(br#"{"payload":{"type":"cart","id":"c"}}"#),
            None
        );
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(super::parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            super::parse_rfc3339_ms("2026-11-28T13:23:46.123Z"),
            Some(1_795_872_226_123)
        );
        // Trailing zeros of the fraction are left out by kassa's formatting.
        assert_eq!(
            super::parse_rfc3339_ms("2026-11-28T13:23:46.5Z"),
            Some(1_795_872_226_500)
        );
        assert_eq!(
            super::parse_rfc3339_ms("2026-11-28T13:23:46.05Z"),
            Some(1_795_872_226_050)
        );
    }
}
