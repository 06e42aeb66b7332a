//! The rules across items: duplicate keys, duplicate buyer emails, references.

use super::attrs::{int, s, uuid_of};
use super::checks::check_item;
use super::rules::{idx, key_attribute, singular, Rule, Violation};
use crate::item::Item;
use crate::transform::{new_id, Entity, MAX_ITEM_BYTES};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What is remembered of the first item with a key.
#[derive(Debug, Clone, Copy)]
struct Seen {
    line: u64,
    legacy: Option<i64>,
    /// `None` when the item is valid; else the rule it was rejected for.
    verdict: Option<Rule>,
}

#[derive(Debug, Default)]
struct Keys {
    seen: HashMap<u128, Seen>,
    /// Keys of records the transform rejected, with their line in the rejects file.
    by_transform: HashMap<u128, u64>,
}

/// The verdict on one item.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The item's `legacyId`, when readable.
    pub legacy: Option<i64>,
    /// The item's partition key, when readable.
    pub key: Option<String>,
    /// Broken rules, first the one the item is rejected for; empty when valid.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// True when no rule is broken.
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
    /// The rule the item is rejected for.
    pub fn rule(&self) -> Option<Rule> {
        self.violations.first().map(|v| v.rule)
    }
    /// Every broken rule's sentence, the main one first.
    pub fn reason(&self) -> String {
        self.violations
            .iter()
            .map(|v| v.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The rules across items: duplicate keys, duplicate buyer emails, references. Feed it the
/// buyers, then the producers, then the sales, each in file order.
pub struct Validator {
    keys: [Keys; 3],
    /// Buyer emails (lower case) as 128-bit digests → first line and legacy id.
    emails: HashMap<u128, (u64, Option<i64>)>,
    email_ns: uuid::Uuid,
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    /// An empty validator.
    pub fn new() -> Self {
        Validator {
            keys: Default::default(),
            emails: HashMap::new(),
            email_ns: ferry_shared::ids::namespace("s9.email"),
        }
    }

    /// Records that the transform rejected the record with this legacy id (so a sale that
    /// points at it is told why), `line` being its line in the transform's rejects file.
    pub fn transform_rejected(&mut self, e: Entity, legacy: i64, line: u64) {
        if let Ok(u) = uuid::Uuid::parse_str(&new_id(e.name(), legacy)) {
            self.keys[idx(e)]
                .by_transform
                .entry(u.as_u128())
                .or_insert(line);
        }
    }

    /// Checks one input line (`line` is its 1-based number in the file).
    pub fn check(&mut self, e: Entity, line: u64, raw: &[u8]) -> Verdict {
        let m = match serde_json::from_slice::<Map<String, Value>>(raw) {
            Ok(m) => m,
            Err(err) => {
                return Verdict {
                    legacy: None,
                    key: None,
                    violations: vec![Violation {
                        rule: Rule::Malformed,
                        attribute: String::new(),
                        value: None,
                        reason: format!("the line is not a JSON object: {err}"),
                    }],
                }
            }
        };
        let mut v = check_item(e, &m);
        let item = Item(m);
        let size = item.size();
        let m = item.0;
        if size > MAX_ITEM_BYTES {
            v.push(Violation {
                rule: Rule::Size,
                attribute: String::new(),
                value: None,
                reason: format!("the item is {size} bytes, over DynamoDB's 400 KB limit"),
            });
        }
        let key_attr = key_attribute(e);
        let legacy = int(&m, "legacyId");
        let key = uuid_of(&m, key_attr);
        let first = match key.and_then(|k| self.keys[idx(e)].seen.get(&k)) {
            Some(prev) => {
                let k = s(&m, key_attr).unwrap_or_default();
                let of = legacy
                    .map(|l| format!(" (legacy {} {l})", singular(e)))
                    .unwrap_or_default();
                v.push(Violation::new(
                    Rule::DuplicateKey,
                    key_attr,
                    Some(k),
                    format!(
                        "{key_attr} {k}{of} already belongs to the item at line {} (the first item with a key claims it)",
                        prev.line
                    ),
                ));
                false
            }
            None => true,
        };
        // A second copy of a key is rejected for that alone: its email is not claimed.
        if e == Entity::Buyers && first {
            if let Some(email) = s(&m, "email").filter(|x| !x.is_empty()) {
                let lower = email.to_lowercase();
                let d = uuid::Uuid::new_v5(&self.email_ns, lower.as_bytes()).as_u128();
                match self.emails.get(&d) {
                    Some(&(l, prev)) => {
                        let by = prev
                            .map(|p| format!("buyer {p}"))
                            .unwrap_or_else(|| "a buyer".into());
                        v.push(Violation::new(
                            Rule::DuplicateEmail,
                            "email",
                            Some(email),
                            format!(
                                "email {email:?} is already used by {by} at line {l} (email-index: one buyer per email)"
                            ),
                        ));
                    }
                    None => {
                        self.emails.insert(d, (line, legacy));
                    }
                }
            }
        }
        if e == Entity::Sales {
            for (attr, legacy_attr, target) in [
                ("buyerId", "buyerLegacyId", Entity::Buyers),
                ("producerId", "producerLegacyId", Entity::Producers),
            ] {
                if let Some(r) = self.reference(&m, attr, legacy_attr, target) {
                    v.push(r);
                }
            }
        }
        v.sort_by_key(|x| x.rule);
        let verdict = Verdict {
            legacy,
            key: s(&m, key_attr).map(str::to_string),
            violations: v,
        };
        if let (Some(k), true) = (key, first) {
            self.keys[idx(e)].seen.insert(
                k,
                Seen {
                    line,
                    legacy,
                    verdict: verdict.rule(),
                },
            );
        }
        verdict
    }

    /// A sale's reference to a buyer or producer must name a valid item of this run.
    fn reference(
        &self,
        m: &Map<String, Value>,
        attr: &str,
        legacy_attr: &str,
        target: Entity,
    ) -> Option<Violation> {
        let k = uuid_of(m, attr)?;
        let text = s(m, attr).unwrap_or_default();
        let keys = &self.keys[idx(target)];
        let who = singular(target);
        let file = target.name();
        let seen = keys.seen.get(&k);
        let legacy = int(m, legacy_attr).or_else(|| seen.and_then(|x| x.legacy));
        let named = match legacy {
            Some(l) => format!("{attr} {text} (legacy {who} {l})"),
            None => format!("{attr} {text}"),
        };
        let why = match (seen, keys.by_transform.get(&k)) {
            (Some(Seen { verdict: None, .. }), _) => return None,
            (
                Some(Seen {
                    verdict: Some(rule),
                    line,
                    ..
                }),
                _,
            ) => format!(
                "{named} is a {who} rejected by validation ({}, {file}.ndjson line {line})",
                rule.name()
            ),
            (None, Some(line)) => format!(
                "{named} is a {who} rejected by the transform ({file}.rejects.ndjson line {line})"
            ),
            (None, None) => format!("{named} matches no {who} in {file}.ndjson"),
        };
        Some(Violation::new(Rule::Reference, attr, Some(text), why))
    }
}
