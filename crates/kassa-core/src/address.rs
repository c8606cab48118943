//! Postal addresses: the one set of rules that checkout's billing and shipping addresses and the
//! saved addresses of accounts and customers (`/v2/accounts/{id}/addresses`,
//! `/v2/customers/{id}/addresses`) share, and the saved address itself.
//!
//! The rules are the official spec's (`AddressCommon`): `first_name`, `last_name`, `line_1`,
//! `postcode` and `country` are required (and never blank), and `region` or `county`; every text
//! is at most 255 characters (`instructions` 1024). A blank optional field (`""`, as a form sends
//! an empty input) counts as not given. Which optional fields an address may carry depends on
//! its use ([`AddressUse`]); fields it may not carry are dropped, as checkout always did.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Validator;
use crate::query::{FieldKind, FieldSpec, TEXT_OPS};
use crate::time::Millis;

/// Longest accepted text field of an address.
pub const MAX_TEXT: usize = 255;
/// Longest accepted delivery instructions.
pub const MAX_INSTRUCTIONS: usize = 1024;

/// `shopper_address_limit` (`/v2/settings`): how many addresses one account or customer may
/// have. Elastic Path's default; callers may set 1 to 500 (EP: "Only values up to 500 can be set
/// by callers").
pub const DEFAULT_SHOPPER_ADDRESS_LIMIT: i64 = 25;
pub const MAX_SHOPPER_ADDRESS_LIMIT: i64 = 500;

/// What an address is for, which decides the optional fields it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressUse {
    /// A checkout's `billing_address`.
    Billing,
    /// A checkout's (or an order update's) `shipping_address`: also `phone_number` and
    /// `instructions`.
    Shipping,
    /// A saved address of an account or customer: also `name` (such as "Home"),
    /// `phone_number` and `instructions`.
    Saved,
}

/// One field of an address and where it may appear.
struct Field {
    name: &'static str,
    required: bool,
    max: usize,
    billing: bool,
    shipping: bool,
}

const fn field(name: &'static str, required: bool, max: usize, billing: bool, shipping: bool) -> Field {
    Field {
        name,
        required,
        max,
        billing,
        shipping,
    }
}

/// Every address field, in the order they are checked and stored.
const FIELDS: &[Field] = &[
    field("name", false, MAX_TEXT, false, false),
    field("first_name", true, MAX_TEXT, true, true),
    field("last_name", true, MAX_TEXT, true, true),
    field("company_name", false, MAX_TEXT, true, true),
    field("line_1", true, MAX_TEXT, true, true),
    field("line_2", false, MAX_TEXT, true, true),
    field("city", false, MAX_TEXT, true, true),
    field("postcode", true, MAX_TEXT, true, true),
    field("county", false, MAX_TEXT, true, true),
    field("region", false, MAX_TEXT, true, true),
    field("country", true, MAX_TEXT, true, true),
    field("phone_number", false, MAX_TEXT, false, true),
    field("instructions", false, MAX_INSTRUCTIONS, false, true),
];

impl Field {
    fn used_by(&self, address_use: AddressUse) -> bool {
        match address_use {
            AddressUse::Billing => self.billing,
            AddressUse::Shipping => self.shipping,
            // A saved address may be used for either, and has a name of its own.
            AddressUse::Saved => true,
        }
    }
}

/// An address's fields; `None` for a field it does not have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressFields {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub line_1: Option<String>,
    pub line_2: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    pub county: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub phone_number: Option<String>,
    pub instructions: Option<String>,
}

impl AddressFields {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "name" => &mut self.name,
            "first_name" => &mut self.first_name,
            "last_name" => &mut self.last_name,
            "company_name" => &mut self.company_name,
            "line_1" => &mut self.line_1,
            "line_2" => &mut self.line_2,
            "city" => &mut self.city,
            "postcode" => &mut self.postcode,
            "county" => &mut self.county,
            "region" => &mut self.region,
            "country" => &mut self.country,
            "phone_number" => &mut self.phone_number,
            "instructions" => &mut self.instructions,
            _ => return None,
        })
    }

    /// The fields in their stored order, `(name, value)`.
    pub fn entries(&self) -> [(&'static str, Option<&str>); 13] {
        [
            ("name", self.name.as_deref()),
            ("first_name", self.first_name.as_deref()),
            ("last_name", self.last_name.as_deref()),
            ("company_name", self.company_name.as_deref()),
            ("line_1", self.line_1.as_deref()),
            ("line_2", self.line_2.as_deref()),
            ("city", self.city.as_deref()),
            ("postcode", self.postcode.as_deref()),
            ("county", self.county.as_deref()),
            ("region", self.region.as_deref()),
            ("country", self.country.as_deref()),
            ("phone_number", self.phone_number.as_deref()),
            ("instructions", self.instructions.as_deref()),
        ]
    }

    /// The fields that are set, as a JSON object (absent ones left out).
    pub fn to_json(&self) -> Map<String, Value> {
        self.entries()
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), Value::String(value?.to_owned()))))
            .collect()
    }
}

/// Checks the address object `obj` (found at `base`, such as `data.billing_address` or `data`)
/// for `address_use`, reporting every problem to `v` with its field's path. Returns the fields
/// it may carry that were given; other fields are dropped.
pub fn check(
    v: &mut Validator,
    obj: &Map<String, Value>,
    base: &str,
    address_use: AddressUse,
) -> AddressFields {
    let mut out = AddressFields::default();
    for f in FIELDS.iter().filter(|f| f.used_by(address_use)) {
        let source = format!("{base}.{}", f.name);
        let value = match obj.get(f.name) {
            None | Some(Value::Null) => {
                if f.required {
                    v.push(source, "required", format!("{} is required", f.name));
                }
                None
            }
            Some(Value::String(s)) if f.required => v.text(Some(s.clone()), &source, f.max),
            Some(Value::String(s)) => v.optional_text_or_blank(Some(s.clone()), &source, f.max),
            Some(_) => {
                v.push(source, "type", format!("{} must be a string", f.name));
                None
            }
        };
        if let Some(slot) = out.slot(f.name) {
            *slot = value;
        }
    }
    // A blank region or county is not given; a value of the wrong type was reported above.
    let has = |f: &str| match obj.get(f) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    };
    if !has("region") && !has("county") {
        v.push(
            format!("{base}.region"),
            "required",
            "region or county is required",
        );
    }
    out
}

/// A partial update of a saved address: `patch`'s fields over `stored`'s, where `null` (or, as
/// [`check`] reads it, a blank string) clears a field. The result is then checked as a whole
/// with [`check`].
pub fn merge(stored: &AddressFields, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut merged: Map<String, Value> = stored.to_json();
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    merged
}

/// Whose address book an address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressOwner {
    Account(Uuid),
    Customer(Uuid),
}

impl AddressOwner {
    pub fn id(self) -> Uuid {
        match self {
            AddressOwner::Account(id) | AddressOwner::Customer(id) => id,
        }
    }
}

/// A saved address of an account or a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub id: Uuid,
    pub owner: AddressOwner,
    pub fields: AddressFields,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The refusal of a create past `shopper_address_limit`.
pub fn limit_reached(owner: AddressOwner, limit: i64) -> crate::Error {
    let whose = match owner {
        AddressOwner::Account(_) => "account",
        AddressOwner::Customer(_) => "customer",
    };
    crate::Error::bad_request(
        "Address limit reached",
        format!("The {whose} already has {limit} addresses, the store's shopper_address_limit"),
    )
}

const fn text_filter(name: &'static str, column: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        column,
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    }
}

/// What `GET …/addresses` filters on (`eq`, `like`, `ilike`, `in`; EP's `text` is not
/// supported). The stores read addresses as `ad`.
pub const ADDRESS_FILTER_FIELDS: &[FieldSpec] = &[
    text_filter("name", "ad.name"),
    text_filter("first_name", "ad.first_name"),
    text_filter("last_name", "ad.last_name"),
    text_filter("phone_number", "ad.phone_number"),
    text_filter("company_name", "ad.company_name"),
    text_filter("instructions", "ad.instructions"),
    text_filter("line_1", "ad.line_1"),
    text_filter("line_2", "ad.line_2"),
    text_filter("city", "ad.city"),
    text_filter("county", "ad.county"),
    text_filter("region", "ad.region"),
    text_filter("postcode", "ad.postcode"),
    text_filter("country", "ad.country"),
];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Error;

    fn run(input: Value, address_use: AddressUse) -> (AddressFields, Vec<(String, String)>) {
        let mut v = Validator::new();
        let fields = check(&mut v, input.as_object().unwrap(), "data.a", address_use);
        let problems = match v.finish() {
            Ok(()) => vec![],
            Err(Error::Validation(p)) => p.into_iter().map(|p| (p.source, p.title)).collect(),
            Err(e) => panic!("{e}"),
        };
        (fields, problems)
    }

    fn minimal() -> Value {
        json!({"first_name": "Ron", "last_name": "Swanson", "line_1": "1 Sunny Street",
               "postcode": "SU33 1YY", "country": "GB", "county": "Sunnyville"})
    }

    fn with(extra: Value) -> Value {
        let mut base = minimal();
        for (k, v) in extra.as_object().unwrap() {
            if v == &json!("__remove") {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    }

    #[test]
    fn checks_addresses() {
        let long = "x".repeat(MAX_TEXT + 1);
        let long_instructions = "x".repeat(MAX_INSTRUCTIONS + 1);
        let ok_instructions = "x".repeat(MAX_INSTRUCTIONS);
        // (input, use, expected problems as (source, title))
        type Case = (Value, AddressUse, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (minimal(), AddressUse::Billing, vec![]),
            (
                with(json!({"county": "__remove", "region": "CA"})),
                AddressUse::Billing,
                vec![],
            ),
            (
                with(json!({"county": "__remove"})),
                AddressUse::Billing,
                vec![("data.a.region", "required")],
            ),
            (
                with(json!({"county": null})),
                AddressUse::Saved,
                vec![("data.a.region", "required")],
            ),
            (
                json!({}),
                AddressUse::Shipping,
                vec![
                    ("data.a.first_name", "required"),
                    ("data.a.last_name", "required"),
                    ("data.a.line_1", "required"),
                    ("data.a.postcode", "required"),
                    ("data.a.country", "required"),
                    ("data.a.region", "required"),
                ],
            ),
            (
                with(json!({"first_name": " ", "line_2": 5, "city": long})),
                AddressUse::Billing,
                vec![
                    ("data.a.first_name", "min_length"),
                    ("data.a.line_2", "type"),
                    ("data.a.city", "max_length"),
                ],
            ),
            (
                with(json!({"instructions": long_instructions})),
                AddressUse::Shipping,
                vec![("data.a.instructions", "max_length")],
            ),
            (
                with(json!({"instructions": ok_instructions})),
                AddressUse::Saved,
                vec![],
            ),
            // A billing address carries no shipping fields: they are dropped, not checked.
            (
                with(json!({"instructions": long_instructions})),
                AddressUse::Billing,
                vec![],
            ),
            (
                with(json!({"name": "x".repeat(MAX_TEXT + 1)})),
                AddressUse::Saved,
                vec![("data.a.name", "max_length")],
            ),
            // Blank optional fields are not given; a blank required one is refused.
            (
                with(json!({"line_2": "", "company_name": "  ", "city": "", "phone_number": ""})),
                AddressUse::Shipping,
                vec![],
            ),
            (
                with(json!({"line_1": "", "country": "  "})),
                AddressUse::Saved,
                vec![("data.a.line_1", "min_length"), ("data.a.country", "min_length")],
            ),
            (
                with(json!({"county": "", "region": " "})),
                AddressUse::Billing,
                vec![("data.a.region", "required")],
            ),
            (
                with(json!({"county": "", "region": "IN"})),
                AddressUse::Billing,
                vec![],
            ),
            // A county of the wrong type is reported as such, not as missing.
            (
                with(json!({"county": 5})),
                AddressUse::Billing,
                vec![("data.a.county", "type")],
            ),
        ];
        for (input, address_use, expected) in cases {
            let (_, problems) = run(input.clone(), address_use);
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(s, t)| (s.to_owned(), t.to_owned()))
                .collect();
            assert_eq!(problems, expected, "{address_use:?} {input}");
        }
    }

    #[test]
    fn keeps_the_fields_its_use_allows() {
        let input =
            with(json!({"name": "Home", "phone_number": "555", "instructions": "Bin", "unknown": "x"}));
        let (billing, _) = run(input.clone(), AddressUse::Billing);
        assert_eq!(billing.name, None);
        assert_eq!(billing.phone_number, None);
        let (shipping, _) = run(input.clone(), AddressUse::Shipping);
        assert_eq!(
            (shipping.name, shipping.phone_number.as_deref()),
            (None, Some("555"))
        );
        let (saved, _) = run(input, AddressUse::Saved);
        assert_eq!(saved.name.as_deref(), Some("Home"));
        assert_eq!(saved.instructions.as_deref(), Some("Bin"));
        let json = Value::Object(saved.to_json());
        assert_eq!(json["county"], "Sunnyville");
        assert!(json.get("unknown").is_none() && json.get("line_2").is_none());
    }

    #[test]
    fn blank_optional_fields_are_left_out() {
        let (fields, problems) = run(
            with(json!({"line_2": "", "instructions": " "})),
            AddressUse::Shipping,
        );
        assert!(problems.is_empty());
        assert_eq!((&fields.line_2, &fields.instructions), (&None, &None));
        assert!(!fields.to_json().contains_key("line_2"));
    }

    #[test]
    fn merges_a_partial_update() {
        let (stored, _) = run(
            with(json!({"line_2": "Unit 1", "name": "Home"})),
            AddressUse::Saved,
        );
        let patch = json!({"line_2": null, "city": "Pawnee", "name": "Work", "company_name": "", "county": "Wamapoke"});
        let merged = merge(&stored, patch.as_object().unwrap());
        let (fields, problems) = run(Value::Object(merged), AddressUse::Saved);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(fields.line_2, None);
        assert_eq!(fields.city.as_deref(), Some("Pawnee"));
        assert_eq!(fields.name.as_deref(), Some("Work"));
        assert_eq!(fields.first_name.as_deref(), Some("Ron"));
    }
}
