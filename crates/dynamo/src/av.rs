//! DynamoDB's typed JSON (`{"S": "…"}`, `{"N": "12.50"}`, `{"M": {…}}`, …) ⇄ the SDK's
//! `AttributeValue`. Typed JSON is the NDJSON form of an item everywhere in Ferry (the
//! transforms write it, `load-dynamo` reads it, `backup-dynamo` writes it) because it is the
//! form the AWS CLI and SDKs use and it keeps numbers as exact decimal text.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// An item as the SDK takes it.
pub type SdkItem = HashMap<String, AttributeValue>;

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// One typed JSON item (an object of attribute → typed value) as an SDK item. The error
/// names the attribute and what is wrong with it.
pub fn item_from_json(obj: &Map<String, Value>) -> Result<SdkItem, String> {
    obj.iter()
        .map(|(k, v)| {
            value_from_json(v)
                .map(|av| (k.clone(), av))
                .map_err(|e| format!("attribute {k:?}: {e}"))
        })
        .collect()
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let a = v
        .as_array()
        .ok_or_else(|| format!("{what} must be an array of strings"))?;
    if a.is_empty() {
        return Err(format!(
            "{what} is an empty set (DynamoDB refuses empty sets)"
        ));
    }
    a.iter()
        .map(|x| match x {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) if what == "NS" => Ok(n.to_string()),
            _ => Err(format!("{what} must hold strings, found {x}")),
        })
        .collect()
}

fn number_text(v: &Value) -> Result<String, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        // A JSON number is accepted as its exact text (serde_json keeps the digits).
        Value::Number(n) => n.to_string(),
        _ => return Err(format!("N must be decimal text, found {v}")),
    };
    let t = s.trim();
    let digits = t.trim_start_matches(['-', '+']);
    let ok = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && digits
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.');
    if ok {
        Ok(t.to_string())
    } else {
        Err(format!("N {s:?} is not a number"))
    }
}

/// One typed JSON value.
pub fn value_from_json(v: &Value) -> Result<AttributeValue, String> {
    let obj = v
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("expected a typed value like {{\"S\": \"text\"}}, found {v}"))?;
    let (t, x) = obj.iter().next().ok_or("empty typed value")?;
    Ok(match t.as_str() {
        "S" => AttributeValue::S(
            x.as_str()
                .ok_or_else(|| format!("S must be a string, found {x}"))?
                .to_string(),
        ),
        "N" => AttributeValue::N(number_text(x)?),
        "B" => AttributeValue::B(Blob::new(
            b64()
                .decode(x.as_str().ok_or("B must be base64 text")?)
                .map_err(|e| format!("B is not base64: {e}"))?,
        )),
        "BOOL" => AttributeValue::Bool(x.as_bool().ok_or("BOOL must be true or false")?),
        "NULL" => AttributeValue::Null(true),
        "M" => AttributeValue::M(item_from_json(x.as_object().ok_or("M must be an object")?)?),
        "L" => AttributeValue::L(
            x.as_array()
                .ok_or("L must be an array")?
                .iter()
                .map(value_from_json)
                .collect::<Result<_, _>>()?,
        ),
        "SS" => AttributeValue::Ss(strings(x, "SS")?),
        "NS" => AttributeValue::Ns(
            strings(x, "NS")?
                .iter()
                .map(|s| number_text(&Value::String(s.clone())))
                .collect::<Result<_, _>>()?,
        ),
        "BS" => AttributeValue::Bs(
            strings(x, "BS")?
                .iter()
                .map(|s| {
                    b64()
                        .decode(s)
                        .map(Blob::new)
                        .map_err(|e| format!("BS holds non-base64 text: {e}"))
                })
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unknown DynamoDB type {other:?}")),
    })
}

/// An SDK item as typed JSON (for backups), attributes in name order.
pub fn item_to_json(item: &SdkItem) -> Value {
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), value_to_json(&item[k])))
            .collect(),
    )
}

/// One SDK value as typed JSON.
pub fn value_to_json(av: &AttributeValue) -> Value {
    let one = |t: &str, v: Value| {
        let mut m = Map::new();
        m.insert(t.to_string(), v);
        Value::Object(m)
    };
    match av {
        AttributeValue::S(s) => one("S", Value::String(s.clone())),
        AttributeValue::N(n) => one("N", Value::String(n.clone())),
        AttributeValue::B(b) => one("B", Value::String(b64().encode(b.as_ref()))),
        AttributeValue::Bool(b) => one("BOOL", Value::Bool(*b)),
        AttributeValue::Null(_) => one("NULL", Value::Bool(true)),
        AttributeValue::M(m) => one("M", item_to_json(m)),
        AttributeValue::L(l) => one("L", Value::Array(l.iter().map(value_to_json).collect())),
        AttributeValue::Ss(v) => one("SS", v.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(v) => one("NS", v.iter().cloned().map(Value::String).collect()),
        AttributeValue::Bs(v) => one(
            "BS",
            v.iter()
                .map(|b| Value::String(b64().encode(b.as_ref())))
                .collect(),
        ),
        // A type newer than this build: keep what we can see rather than dropping it.
        _ => one("NULL", Value::Bool(true)),
    }
}

/// Item size as DynamoDB counts it, from typed JSON: attribute names plus values (UTF-8
/// bytes of strings and number text, 1 for booleans and nulls, 3 bytes per map or list
/// plus 1 per element). Checked before sending, so an item over 400 KB is rejected with
/// its size instead of failing a whole batch.
pub fn json_item_size(obj: &Map<String, Value>) -> usize {
    obj.iter().map(|(k, v)| k.len() + json_value_size(v)).sum()
}

fn json_value_size(av: &Value) -> usize {
    let Some((t, v)) = av.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    let strs = |v: &Value| {
        v.as_array().map_or(0, |a| {
            a.iter().map(|x| x.as_str().map_or(0, str::len)).sum()
        })
    };
    let b64_len = |s: &str| s.len() / 4 * 3;
    match t.as_str() {
        "S" | "N" => v.as_str().map_or(0, str::len),
        "B" => v.as_str().map_or(0, b64_len),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" => strs(v),
        "BS" => v
            .as_array()
            .map_or(0, |a| a.iter().map(|x| x.as_str().map_or(0, b64_len)).sum()),
        "M" => 3 + v.as_object().map_or(0, json_item_size),
        "L" => {
            3 + v
                .as_array()
                .map_or(0, |a| a.iter().map(|x| 1 + json_value_size(x)).sum())
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_is_exact() {
        let j = json!({
            "id": {"S": "a"}, "n": {"N": "12345678901234567890.123456789"},
            "b": {"B": "AAEC"}, "t": {"BOOL": true}, "z": {"NULL": true},
            "m": {"M": {"x": {"L": [{"N": "1"}, {"S": "é😀"}]}}},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA=="]}
        });
        let item = item_from_json(j.as_object().unwrap()).unwrap();
        assert_eq!(item_to_json(&item), j);
    }

    #[test]
    fn refuses_what_dynamodb_refuses() {
        let bad = |v: Value| item_from_json(v.as_object().unwrap()).unwrap_err();
        assert_eq!(
            bad(json!({"tags": {"SS": []}})),
            "attribute \"tags\": SS is an empty set (DynamoDB refuses empty sets)"
        );
        assert_eq!(
            bad(json!({"n": {"N": "12x"}})),
            "attribute \"n\": N \"12x\" is not a number"
        );
        assert!(bad(json!({"plain": "text"}))
            .starts_with("attribute \"plain\": expected a typed value"));
    }

    #[test]
    fn size_counts_names_and_values() {
        let j = json!({"id": {"S": "abc"}, "n": {"N": "10"}, "m": {"M": {"k": {"BOOL": true}}}});
        // id+abc = 5, n+10 = 3, m + 3 + k + 1 = 6
        assert_eq!(json_item_size(j.as_object().unwrap()), 14);
    }
}
