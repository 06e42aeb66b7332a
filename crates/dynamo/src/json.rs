//! One input line as a JSON tree that changes nothing: an object keeps its members in order
//! with any name that appears twice (so a duplicate can be refused rather than silently
//! dropped), and a number in a DynamoDB number position keeps its text (a JSON number such as
//! `{"N": 12345678901234567890.5}` is more digits than an `f64` holds).
//!
//! serde_json (with `raw_value`, without `arbitrary_precision`, which would change every
//! crate of the workspace) hands numbers over as `f64`/`u64`/`i64`. So the value of a member
//! named `N` or `NS` is taken as raw JSON text first: a number token is kept as written, and
//! anything else is parsed as a tree like the rest. Numbers elsewhere are no DynamoDB number
//! (`{"S": 5}` is refused anyway) and only show in messages.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

/// A JSON value, read without loss.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its JSON text.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object: members in input order, repeated names kept.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON text.
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The JSON text of the value (numbers as they were read), for messages.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        let quoted = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&quoted(s)),
            Json::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quoted(k));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A value taken as raw text (a member named `N` or `NS`): a number token keeps its text,
/// an array's elements are taken the same way (NS), anything else is parsed as a tree.
fn from_raw(raw: &RawValue, elements_raw: bool) -> Result<Json, serde_json::Error> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => Ok(Json::Number(text.to_string())),
        Some(b'[') if elements_raw => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            items
                .into_iter()
                .map(|r| from_raw(r, false))
                .collect::<Result<_, _>>()
                .map(Json::Array)
        }
        _ => serde_json::from_str(text),
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element::<Json>()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1));
        while let Some(k) = map.next_key::<String>()? {
            let v = if k == "N" || k == "NS" {
                let raw = map.next_value::<&RawValue>()?;
                from_raw(raw, k == "NS").map_err(de::Error::custom)?
            } else {
                map.next_value::<Json>()?
            };
            out.push((k, v));
        }
        Ok(Json::Object(out))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Json {
        Json::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn numbers_in_number_positions_keep_their_text() {
        let j =
            parse(r#"{"a":{"N":12345678901234567890.5},"b":{"NS":[1e400,"2",-0.10]},"c":{"S":5}}"#);
        assert_eq!(
            j.text(),
            r#"{"a":{"N":12345678901234567890.5},"b":{"NS":[1e400,"2",-0.10]},"c":{"S":5}}"#
        );
        // An attribute named N is a name, not a number position: its typed value is a tree.
        let j = parse(r#"{"N":{"N":18446744073709551617},"NS":{"NS":[1]}}"#);
        assert_eq!(
            j.text(),
            r#"{"N":{"N":18446744073709551617},"NS":{"NS":[1]}}"#
        );
    }

    #[test]
    fn objects_keep_order_and_repeated_names() {
        let j = parse(r#"{"b":{"S":"1"},"a":{"S":"2"},"b":{"S":"\u00e9\n"}}"#);
        let Json::Object(m) = &j else { panic!() };
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a", "b"]);
        assert_eq!(m[2].1, parse(r#"{"S":"é\n"}"#));
        assert_eq!(parse("[null,true,\"x\"]").text(), "[null,true,\"x\"]");
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(Json::parse(b"{oops").is_err());
        assert!(Json::parse(br#"{"N": 1"#).is_err());
        assert!(Json::parse(br#"{"a": 1} x"#).is_err());
    }
}
