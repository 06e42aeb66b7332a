//! DynamoDB's typed JSON (`{"S": "…"}`, `{"N": "12.50"}`, `{"M": {…}}`, …) ⇄ the SDK's
//! `AttributeValue`. Typed JSON is the NDJSON form of an item everywhere in Ferry (the
//! transforms write it, `load-dynamo` reads it, `backup-dynamo` writes it) because it is the
//! form the AWS CLI and SDKs use and it keeps numbers as exact decimal text.
//!
//! Reading checks what DynamoDB would refuse (so the reason is Ferry's and the item is never
//! sent) and what it would silently change: a name twice in one object (one value would be
//! lost), `{"NULL": false}` (stored as NULL true), a JSON number (kept as its text, never
//! through a float).

use crate::json::Json;
use crate::number::Decimal;
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

/// Why DynamoDB would refuse a typed value: the top-level attribute it is in, the path to
/// the value (`lines[1].qty`: a map member after a dot, a list element in brackets) and the
/// rule. Shown as `attribute "PATH": RULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The item's attribute that holds the value.
    pub attribute: String,
    /// Where in it.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "attribute {:?}: {}", self.path, self.reason)
    }
}

/// A refusal inside one attribute (path, rule), before the attribute's name is added.
type Refused = (String, String);

fn refuse<T>(path: &str, reason: impl Into<String>) -> Result<T, Refused> {
    Err((path.to_string(), reason.into()))
}

const TWICE: &str = "the name appears twice in one object (DynamoDB keeps one value per name)";
const SET_DUP: &str = "DynamoDB refuses duplicate set members";

/// One typed JSON item (the members of an object: attribute → typed value, as read, repeated
/// names included) as an SDK item, checked as DynamoDB checks it, so that what it would
/// refuse is refused here with the attribute and the rule, and nothing is changed on the way
/// (a number keeps its text).
pub fn item_from_json(members: &[(String, Json)]) -> Result<SdkItem, Refusal> {
    let mut out = HashMap::with_capacity(members.len());
    for (name, v) in members {
        let at = |(path, reason): Refused| Refusal {
            attribute: name.clone(),
            path,
            reason,
        };
        if name.is_empty() {
            let reason = "empty attribute name (DynamoDB refuses it)";
            return Err(at((String::new(), reason.into())));
        }
        let av = value_from_json(v, name).map_err(at)?;
        if out.insert(name.clone(), av).is_some() {
            return Err(at((name.clone(), TWICE.into())));
        }
    }
    Ok(out)
}

/// The members of an `M` at `path`.
fn map_from_json(members: &[(String, Json)], path: &str) -> Result<SdkItem, Refused> {
    let mut out = HashMap::with_capacity(members.len());
    for (name, v) in members {
        if name.is_empty() {
            return refuse(
                path,
                "a key of the map is empty (DynamoDB refuses empty attribute names)",
            );
        }
        let inner = format!("{path}.{name}");
        let av = value_from_json(v, &inner)?;
        if out.insert(name.clone(), av).is_some() {
            return refuse(&inner, TWICE);
        }
    }
    Ok(out)
}

/// One typed value at `path`.
fn value_from_json(v: &Json, path: &str) -> Result<AttributeValue, Refused> {
    let typed = match v {
        Json::Object(m) if m.len() == 1 => &m[0],
        _ => {
            return refuse(
                path,
                format!(
                    "expected a typed value like {{\"S\": \"text\"}}, found {}",
                    v.text()
                ),
            )
        }
    };
    let (t, x) = (typed.0.as_str(), &typed.1);
    Ok(match (t, x) {
        ("S", Json::String(s)) => AttributeValue::S(s.clone()),
        ("S", _) => return refuse(path, format!("S must be a string, found {}", x.text())),
        ("N", _) => AttributeValue::N(number(x, path)?.0),
        ("B", Json::String(s)) => AttributeValue::B(Blob::new(blob(s, "B", path)?)),
        ("B", _) => return refuse(path, "B must be base64 text"),
        ("BOOL", Json::Bool(b)) => AttributeValue::Bool(*b),
        ("BOOL", _) => return refuse(path, "BOOL must be true or false"),
        ("NULL", Json::Bool(true)) => AttributeValue::Null(true),
        ("NULL", _) => return refuse(path, "NULL must be true"),
        ("M", Json::Object(m)) => AttributeValue::M(map_from_json(m, path)?),
        ("M", _) => return refuse(path, "M must be an object"),
        ("L", Json::Array(a)) => AttributeValue::L(
            a.iter()
                .enumerate()
                .map(|(i, e)| value_from_json(e, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        ("L", _) => return refuse(path, "L must be an array"),
        ("SS" | "NS" | "BS", _) => set_from_json(t, x, path)?,
        (other, _) => return refuse(path, format!("unknown DynamoDB type {other:?}")),
    })
}

/// The text of a set's members, which must be strings (or, in `NS`, JSON numbers).
fn set_members<'a>(v: &'a Json, what: &str, path: &str) -> Result<Vec<&'a str>, Refused> {
    let Json::Array(a) = v else {
        return refuse(path, format!("{what} must be an array of strings"));
    };
    if a.is_empty() {
        return refuse(
            path,
            format!("{what} is an empty set (DynamoDB refuses empty sets)"),
        );
    }
    a.iter()
        .map(|x| match x {
            Json::String(s) => Ok(s.as_str()),
            Json::Number(n) if what == "NS" => Ok(n.as_str()),
            _ => refuse(
                path,
                format!("{what} must hold strings, found {}", x.text()),
            ),
        })
        .collect()
}

/// A number's text (a string, or a JSON number as written), checked as DynamoDB will.
fn number(v: &Json, path: &str) -> Result<(String, Decimal), Refused> {
    let text = match v {
        Json::String(s) => s.as_str(),
        Json::Number(n) => n.as_str(),
        _ => return refuse(path, format!("N must be decimal text, found {}", v.text())),
    };
    let d = crate::number::check(text).or_else(|e| refuse(path, e))?;
    Ok((text.to_string(), d))
}

fn blob(text: &str, what: &str, path: &str) -> Result<Vec<u8>, Refused> {
    b64()
        .decode(text)
        .or_else(|e| refuse(path, format!("{what} is not base64: {e}")))
}

/// `SS`, `NS` or `BS`: members checked, none twice (numbers compared as numbers, binaries as
/// bytes), kept in input order and as written.
fn set_from_json(t: &str, v: &Json, path: &str) -> Result<AttributeValue, Refused> {
    let texts = set_members(v, t, path)?;
    // Each member's identity → the text it first had, for the message.
    let mut seen: HashMap<Vec<u8>, &str> = HashMap::with_capacity(texts.len());
    let mut blobs = Vec::new();
    for &text in &texts {
        let id = match t {
            "SS" => text.as_bytes().to_vec(),
            "NS" => number(&Json::String(text.to_string()), path)?
                .1
                .canonical()
                .into_bytes(),
            _ => {
                let b = blob(text, t, path)?;
                blobs.push(Blob::new(b.clone()));
                b
            }
        };
        match seen.insert(id, text) {
            Some(first) if first == text => {
                return refuse(path, format!("{t} holds {text:?} twice ({SET_DUP})"))
            }
            Some(first) => {
                return refuse(
                    path,
                    format!("{t} holds {first:?} and {text:?}, the same number ({SET_DUP})"),
                )
            }
            None => {}
        }
    }
    let owned = || texts.iter().map(|s| s.to_string()).collect();
    Ok(match t {
        "SS" => AttributeValue::Ss(owned()),
        "NS" => AttributeValue::Ns(owned()),
        _ => AttributeValue::Bs(blobs),
    })
}

/// The typed-JSON tag of a value (`S`, `N`, `M`, …).
pub fn type_name(av: &AttributeValue) -> &'static str {
    match av {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    }
}

/// Typed JSON in a form where equal items are equal values: numbers (N, NS members) in
/// their canonical text (`22.00` and `22` are one number, as DynamoDB stores them), the
/// members of SS, NS and BS sorted. For comparing what was sent with what is stored.
pub fn canonical(v: &Value) -> Value {
    const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];
    let typed = v
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
        .filter(|(t, _)| TYPES.contains(&t.as_str()));
    let Some((t, x)) = typed else {
        // An item (attribute → typed value), or something that is not typed JSON.
        return match v {
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), canonical(x))).collect())
            }
            other => other.clone(),
        };
    };
    let number = |x: &Value| match x {
        Value::String(s) => crate::number::Decimal::parse(s)
            .map_or_else(|| x.clone(), |d| Value::String(d.canonical())),
        Value::Number(n) => crate::number::Decimal::parse(&n.to_string())
            .map_or_else(|| x.clone(), |d| Value::String(d.canonical())),
        other => other.clone(),
    };
    let set = |x: &Value, each: &dyn Fn(&Value) -> Value| {
        let mut members: Vec<Value> = x.as_array().into_iter().flatten().map(each).collect();
        members.sort_by_key(|m| m.to_string());
        Value::Array(members)
    };
    let inner = match t.as_str() {
        "N" => number(x),
        "NS" => set(x, &number),
        "SS" | "BS" => set(x, &|m: &Value| m.clone()),
        "M" => canonical(x),
        "L" => Value::Array(x.as_array().into_iter().flatten().map(canonical).collect()),
        _ => x.clone(),
    };
    let mut o = Map::new();
    o.insert(t.clone(), inner);
    Value::Object(o)
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
pub fn item_size(members: &[(String, Json)]) -> usize {
    members.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &Json) -> usize {
    let Json::Object(m) = v else {
        return 0;
    };
    let Some((t, v)) = m.first() else {
        return 0;
    };
    let text = |v: &Json| match v {
        Json::String(s) | Json::Number(s) => s.len(),
        _ => 0,
    };
    let b64_len = |v: &Json| text(v) / 4 * 3;
    let each = |f: &dyn Fn(&Json) -> usize| match v {
        Json::Array(a) => a.iter().map(f).sum(),
        _ => 0,
    };
    match t.as_str() {
        "S" | "N" => text(v),
        "B" => b64_len(v),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" => each(&text),
        "BS" => each(&b64_len),
        "M" => {
            3 + match v {
                Json::Object(m) => item_size(m),
                _ => 0,
            }
        }
        "L" => 3 + each(&|x| 1 + value_size(x)),
        _ => 0,
    }
}

/// [`item_size`] of an item held as a `serde_json` map (the transforms build items so).
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

    fn members(text: &str) -> Vec<(String, Json)> {
        match Json::parse(text.as_bytes()).unwrap() {
            Json::Object(m) => m,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn item(text: &str) -> Result<SdkItem, Refusal> {
        item_from_json(&members(text))
    }

    fn refused(text: &str) -> String {
        item(text).unwrap_err().to_string()
    }

    #[test]
    fn canonical_items_compare_by_value() {
        let sent = serde_json::json!({"id": {"S": "a"}, "n": {"N": "22.00"},
            "ns": {"NS": ["2", "1.0"]}, "m": {"M": {"x": {"N": "-0.50"}}}});
        let stored = serde_json::json!({"id": {"S": "a"}, "n": {"N": "22"},
            "ns": {"NS": ["1", "2"]}, "m": {"M": {"x": {"N": "-0.5"}}}});
        assert_eq!(canonical(&sent), canonical(&stored));
        let other = serde_json::json!({"id": {"S": "a"}, "n": {"N": "22.01"},
            "ns": {"NS": ["1", "2"]}, "m": {"M": {"x": {"N": "-0.5"}}}});
        assert_ne!(canonical(&sent), canonical(&other));
    }

    #[test]
    fn round_trip_is_exact() {
        let j = json!({
            "id": {"S": "a"}, "n": {"N": "12345678901234567890.123456789"},
            "b": {"B": "AAEC"}, "t": {"BOOL": true}, "z": {"NULL": true},
            "m": {"M": {"x": {"L": [{"N": "1"}, {"S": "é😀"}]}}},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA=="]}
        });
        let item = item(&j.to_string()).unwrap();
        assert_eq!(item_to_json(&item), j);
    }

    #[test]
    fn json_numbers_keep_their_text() {
        let it = item(
            r#"{"a":{"N":12345678901234567890.5},"b":{"N":-7E+3},"c":{"NS":[18446744073709551617,"0.10"]},"d":{"L":[{"N":0.1}]}}"#,
        )
        .unwrap();
        assert_eq!(it["a"], AttributeValue::N("12345678901234567890.5".into()));
        assert_eq!(it["b"], AttributeValue::N("-7E+3".into()));
        assert_eq!(
            it["c"],
            AttributeValue::Ns(vec!["18446744073709551617".into(), "0.10".into()])
        );
        assert_eq!(
            it["d"],
            AttributeValue::L(vec![AttributeValue::N("0.1".into())])
        );
    }

    #[test]
    fn refuses_what_dynamodb_refuses() {
        assert_eq!(
            refused(r#"{"tags": {"SS": []}}"#),
            "attribute \"tags\": SS is an empty set (DynamoDB refuses empty sets)"
        );
        assert_eq!(
            refused(r#"{"n": {"N": "12x"}}"#),
            "attribute \"n\": N \"12x\" is not a number"
        );
        assert!(refused(r#"{"plain": "text"}"#)
            .starts_with("attribute \"plain\": expected a typed value"));
        assert_eq!(
            refused(r#"{"gone": {"NULL": false}}"#),
            "attribute \"gone\": NULL must be true"
        );
        assert_eq!(
            refused(r#"{"p": {"N": "123456789012345678901234567890123456789"}}"#),
            "attribute \"p\": N \"123456789012345678901234567890123456789\" has 39 significant digits (DynamoDB keeps at most 38)"
        );
        assert!(refused(r#"{"p": {"N": 1E126}}"#)
            .contains("is beyond 9.9999999999999999999999999999999999999E+125"));
        assert!(refused(r#"{"p": {"N": "-1e-131"}}"#).contains("nearer zero than 1E-130"));
        assert_eq!(
            refused(r#"{"": {"S": "x"}}"#),
            "attribute \"\": empty attribute name (DynamoDB refuses it)"
        );
    }

    #[test]
    fn a_name_twice_is_refused_at_any_depth() {
        let r = item(r#"{"id":{"S":"1"},"a":{"S":"x"},"a":{"S":"y"}}"#).unwrap_err();
        assert_eq!(r.attribute, "a");
        assert_eq!(
            r.to_string(),
            "attribute \"a\": the name appears twice in one object (DynamoDB keeps one value per name)"
        );
        let r =
            item(r#"{"m":{"M":{"l":{"L":[{"M":{"k":{"N":"1"},"k":{"N":"1"}}}]}}}}"#).unwrap_err();
        assert_eq!(r.attribute, "m");
        assert_eq!(r.path, "m.l[0].k");
        assert_eq!(
            refused(r#"{"m":{"M":{"":{"S":"x"}}}}"#),
            "attribute \"m\": a key of the map is empty (DynamoDB refuses empty attribute names)"
        );
        // A typed value with two types is no typed value.
        assert!(refused(r#"{"a":{"S":"x","S":"y"}}"#).contains("expected a typed value"));
    }

    #[test]
    fn sets_refuse_duplicates() {
        let dup = "DynamoDB refuses duplicate set members";
        assert_eq!(
            refused(r#"{"t":{"SS":["a","b","a"]}}"#),
            format!("attribute \"t\": SS holds \"a\" twice ({dup})")
        );
        assert_eq!(
            refused(r#"{"t":{"NS":["1","2","1.0"]}}"#),
            format!("attribute \"t\": NS holds \"1\" and \"1.0\", the same number ({dup})")
        );
        assert_eq!(
            refused(r#"{"t":{"NS":[100,"1e2"]}}"#),
            format!("attribute \"t\": NS holds \"100\" and \"1e2\", the same number ({dup})")
        );
        assert_eq!(
            refused(r#"{"t":{"BS":["AAE=","AAE="]}}"#),
            format!("attribute \"t\": BS holds \"AAE=\" twice ({dup})")
        );
        assert!(refused(r#"{"t":{"NS":["1","1e-131"]}}"#).contains("nearer zero"));
        // Different strings that look alike are different members.
        assert!(item(r#"{"t":{"SS":["1","1.0"]},"u":{"NS":["1","-1"]}}"#).is_ok());
    }

    #[test]
    fn size_counts_names_and_values() {
        let text = r#"{"id": {"S": "abc"}, "n": {"N": 10}, "m": {"M": {"k": {"BOOL": true}}}}"#;
        // id+abc = 5, n+10 = 3, m + 3 + k + 1 = 6
        assert_eq!(item_size(&members(text)), 14);
        let j: Value = serde_json::from_str(&text.replace("10", "\"10\"")).unwrap();
        assert_eq!(json_item_size(j.as_object().unwrap()), 14);
    }
}
