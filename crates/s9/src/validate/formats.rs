//! Text formats: pure predicates on one string, and the item attributes that must have
//! them.

use super::attrs::s;
use super::rules::{Rule, Violation};
use crate::transform::Entity;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};

pub use ferry_shared::value::is_email;

/// A VAT number as the transform writes it: a two-letter country prefix and 2 to 13
/// upper-case letters or digits (`DE123456789`, `ES12345678Z`).
pub fn is_vat(s: &str) -> bool {
    let b = s.as_bytes();
    (4..=15).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// An ISO 3166-1 alpha-2 country code: two upper-case letters.
pub fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|c| c.is_ascii_uppercase())
}

/// An ISO 4217 currency code: three upper-case letters.
pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|c| c.is_ascii_uppercase())
}

/// A real calendar date written `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    s.len() == 10
        && NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .is_ok_and(|d| d.format("%Y-%m-%d").to_string() == s)
}

/// An instant in ISO 8601 UTC: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9
/// digits, and `Z`.
pub fn is_timestamp(s: &str) -> bool {
    let Some(body) = s.strip_suffix('Z') else {
        return false;
    };
    let b = body.as_bytes();
    if b.len() < 19 {
        return false;
    }
    let shape = b[..19].iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        _ => c.is_ascii_digit(),
    });
    let frac = &b[19..];
    let frac_ok = frac.is_empty()
        || (frac[0] == b'.'
            && (2..=10).contains(&frac.len())
            && frac[1..].iter().all(u8::is_ascii_digit));
    shape && frac_ok && NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

pub(super) fn check_formats(e: Entity, m: &Map<String, Value>, out: &mut Vec<Violation>) {
    let mut f = |attr: &str, value: &str, why: &str| {
        out.push(Violation::new(
            Rule::Format,
            attr,
            Some(value),
            format!("{attr} {value:?} {why}"),
        ));
    };
    for k in ["createdAt", "updatedAt", "deletedAt"] {
        if let Some(t) = s(m, k).filter(|t| !t.is_empty()) {
            if !is_timestamp(t) {
                f(
                    k,
                    t,
                    "is not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)",
                );
            }
        }
    }
    match e {
        Entity::Buyers | Entity::Producers => {
            if let Some(v) = s(m, "email").filter(|v| !v.is_empty()) {
                if !is_email(v) {
                    f("email", v, "is not an email address (local@domain.tld)");
                } else if v.to_lowercase() != v {
                    f(
                        "email",
                        v,
                        "is not lower case (email-index lookups use lower case)",
                    );
                }
            }
            if let Some(v) = s(m, "vatNumber").filter(|v| !v.is_empty()) {
                if !is_vat(v) {
                    f(
                        "vatNumber",
                        v,
                        "is not a VAT number (2 letters and 2 to 13 upper-case letters or digits)",
                    );
                }
            }
            let cc = m
                .get("address")
                .and_then(|a| a.get("M"))
                .and_then(Value::as_object)
                .and_then(|a| s(a, "countryCode"))
                .filter(|v| !v.is_empty());
            if let Some(v) = cc {
                if !is_country(v) {
                    f(
                        "address.countryCode",
                        v,
                        "is not a country code (2 upper-case letters)",
                    );
                }
            }
        }
        Entity::Sales => {
            if let Some(v) = s(m, "saleDate").filter(|v| !v.is_empty()) {
                if !is_date(v) {
                    f("saleDate", v, "is not a date (YYYY-MM-DD)");
                }
            }
            if let Some(v) = s(m, "currency").filter(|v| !v.is_empty()) {
                if !is_currency(v) {
                    f(
                        "currency",
                        v,
                        "is not a currency code (3 upper-case letters)",
                    );
                }
            }
        }
    }
}
