//! Currencies and the one money formatter every service uses for `formatted` strings.
//! Amounts are integers in the currency's minor unit: `decimal_places` digits after the point,
//! so 123450 with 2 places is 1234.50 and 1235 with 0 places (JPY) is 1235.

use uuid::Uuid;

use crate::time::Millis;

/// A store holds at most this many currencies (Elastic Path's `currency_limit`).
pub const MAX_CURRENCIES: u64 = 10;
/// More places than this cannot be formatted exactly from an `i64` and no currency uses them.
pub const MAX_DECIMAL_PLACES: u32 = 6;
/// The placeholder in `format` that the formatted number replaces.
pub const PRICE_PLACEHOLDER: &str = "{price}";

/// How a currency writes its amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyFormat {
    /// `"${price}"`, `"{price} €"`: the number replaces `{price}`.
    pub format: String,
    pub decimal_point: String,
    pub thousand_separator: String,
    pub decimal_places: u32,
}

impl MoneyFormat {
    /// `"$1,234.50"` for 123450 in `${price}` with `.`, `,` and 2 places. A negative amount gets a
    /// leading `-` before the whole string (`"-$5.00"`).
    pub fn format(&self, amount: i64) -> String {
        // Every cart and order response formats a dozen amounts: one pass, one string, no
        // `format!` machinery.
        let places = self.decimal_places.min(MAX_DECIMAL_PLACES) as usize;
        let scale = 10u64.pow(places as u32);
        let abs = amount.unsigned_abs();
        let mut whole = [0u8; 20];
        let whole = digits(abs / scale, 1, &mut whole);
        let mut fraction = [0u8; 20];
        let fraction = digits(abs % scale, places, &mut fraction);

        let mut text = String::with_capacity(self.format.len() + whole.len() + 2 * places + 8);
        if amount < 0 {
            text.push('-');
        }
        for (n, part) in self.format.split(PRICE_PLACEHOLDER).enumerate() {
            if n > 0 {
                for (i, d) in whole.iter().enumerate() {
                    if i > 0 && (whole.len() - i).is_multiple_of(3) {
                        text.push_str(&self.thousand_separator);
                    }
                    text.push(char::from(*d));
                }
                if places > 0 {
                    text.push_str(&self.decimal_point);
                    fraction.iter().for_each(|d| text.push(char::from(*d)));
                }
            }
            text.push_str(part);
        }
        text
    }

    /// The amount in major units, for Elastic Path's `float_price`.
    pub fn float(&self, amount: i64) -> f64 {
        amount as f64 / 10f64.powi(self.decimal_places.min(MAX_DECIMAL_PLACES) as i32)
    }
}

/// The decimal digits of `n`, zero-padded to `width` (at least one digit), written into `buf`.
fn digits(mut n: u64, width: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    while n > 0 || buf.len() - start < width.max(1) {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    &buf[start..]
}

/// A currency of the store. Exactly one is the default at all times.
#[derive(Debug, Clone, PartialEq)]
pub struct Currency {
    pub id: Uuid,
    /// ISO 4217: three uppercase letters.
    pub code: String,
    pub exchange_rate: f64,
    pub money: MoneyFormat,
    pub default: bool,
    pub enabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The rule both stores apply when a currency changes: the default can only move by making
/// another currency the default.
pub fn check_default_kept(before: &Currency, after: &Currency) -> crate::Result<()> {
    if before.default && !after.default {
        return Err(crate::Error::field(
            "data.default",
            "Default currency required",
            "The store always has a default currency: make another currency the default instead",
        ));
    }
    Ok(())
}

/// Three uppercase ASCII letters, as ISO 4217 codes are.
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: &str, point: &str, sep: &str, places: u32) -> MoneyFormat {
        MoneyFormat {
            format: format.into(),
            decimal_point: point.into(),
            thousand_separator: sep.into(),
            decimal_places: places,
        }
    }

    #[test]
    fn formats_amounts() {
        let usd = fmt("${price}", ".", ",", 2);
        let eur = fmt("{price} €", ",", ".", 2);
        let jpy = fmt("¥{price}", ".", ",", 0);
        let kwd = fmt("KD {price}", ".", ",", 3);
        let chf = fmt("CHF {price}", ".", "'", 2);
        let plain = fmt("{price}", ".", "", 2);
        let cases: &[(&MoneyFormat, i64, &str)] = &[
            (&usd, 123_450, "$1,234.50"),
            (&usd, 0, "$0.00"),
            (&usd, 5, "$0.05"),
            (&usd, 99, "$0.99"),
            (&usd, 100, "$1.00"),
            (&usd, 99_999, "$999.99"),
            (&usd, 100_000, "$1,000.00"),
            (&usd, 100_000_000, "$1,000,000.00"),
            (&usd, -500, "-$5.00"),
            (&usd, -123_450, "-$1,234.50"),
            (&eur, 123_450, "1.234,50 €"),
            (&eur, 7, "0,07 €"),
            (&jpy, 1235, "¥1,235"),
            (&jpy, 0, "¥0"),
            (&jpy, 999, "¥999"),
            (&jpy, 1_000_000, "¥1,000,000"),
            (&kwd, 1_234_567, "KD 1,234.567"),
            (&chf, 123_450, "CHF 1'234.50"),
            (&plain, 123_450, "1234.50"),
            (&usd, i64::MAX, "$92,233,720,368,547,758.07"),
            (&usd, i64::MIN, "-$92,233,720,368,547,758.08"),
        ];
        for (f, amount, expected) in cases {
            assert_eq!(f.format(*amount), *expected, "{amount} in {}", f.format);
        }
    }

    #[test]
    fn float_prices_follow_decimal_places() {
        assert_eq!(fmt("${price}", ".", ",", 2).float(123_450), 1234.5);
        assert_eq!(fmt("¥{price}", ".", ",", 0).float(1235), 1235.0);
        assert_eq!(fmt("KD {price}", ".", ",", 3).float(-1500), -1.5);
    }

    #[test]
    fn checks_currency_codes() {
        for ok in ["USD", "EUR", "JPY"] {
            assert!(is_currency_code(ok), "{ok}");
        }
        for bad in ["usd", "US", "USDX", "U$D", "", "ÜSD"] {
            assert!(!is_currency_code(bad), "{bad}");
        }
    }
}
