//! DynamoDB items in DynamoDB's typed JSON (`{"S": …}`, `{"N": "12.5"}`, `{"M": …}`,
//! `{"L": …}`, `{"BOOL": …}`), one per NDJSON line: the form the AWS CLI and SDKs use, so
//! numbers stay decimal text and nothing is rounded on the way.

use serde_json::{json, Map, Value};

/// An item being built. Attributes that would hold nothing DynamoDB accepts (NULL, an
/// empty set) are left out rather than sent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Item(pub Map<String, Value>);

impl Item {
    /// A string attribute (left out when `None`).
    pub fn s(&mut self, k: &str, v: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(k.into(), json!({ "S": v.into() }));
        }
        self
    }
    /// A number attribute from exact decimal text.
    pub fn n(&mut self, k: &str, v: Option<impl ToString>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(k.into(), json!({ "N": v.to_string() }));
        }
        self
    }
    /// A boolean attribute.
    pub fn b(&mut self, k: &str, v: bool) -> &mut Self {
        self.0.insert(k.into(), json!({ "BOOL": v }));
        self
    }
    /// A map attribute (left out when empty).
    pub fn m(&mut self, k: &str, v: Item) -> &mut Self {
        if !v.0.is_empty() {
            self.0.insert(k.into(), json!({ "M": Value::Object(v.0) }));
        }
        self
    }
    /// A list of maps.
    pub fn l(&mut self, k: &str, v: Vec<Item>) -> &mut Self {
        let list: Vec<Value> = v
            .into_iter()
            .map(|i| json!({ "M": Value::Object(i.0) }))
            .collect();
        self.0.insert(k.into(), json!({ "L": list }));
        self
    }
    /// The item as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }
    /// Size as DynamoDB counts it, for the 400 KB item limit.
    pub fn size(&self) -> usize {
        ferry_dynamo::av::json_item_size(&self.0)
    }
}

/// A number as the migration writes and checks it: exact, at most 30 digits (inside
/// DynamoDB's 38, with room for the sums and products of a sale).
pub fn number(s: &str) -> Option<ferry_shared::value::Decimal> {
    ferry_shared::value::Decimal::parse(s).filter(|d| d.int.len() + d.frac.len() <= 30)
}

/// The S9 id of a rejected record: `id` of an extracted row (a transform's reject) or
/// `legacyId` of an item (a validation's).
pub fn record_legacy_id(r: &serde_json::Value) -> Option<i64> {
    let id = match &r["id"] {
        serde_json::Value::Null => &r["legacyId"]["N"],
        v => v,
    };
    id.as_i64()
        .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
}
