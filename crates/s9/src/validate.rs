//! `validate-s9`: Phase 3 of `s9-to-dynamodb.md` ("Validate"). Reads the transformed items
//! (DynamoDB typed JSON, one per line) of buyers, producers and sales, checks them before
//! anything is loaded, and splits them: valid items, byte for byte as read, go on to
//! `data/validated/ENTITY.ndjson` for `load-dynamo`; invalid ones go to the rejects file with
//! the rule that failed; `data/reports/validation_report.json` accounts for every source
//! record (including those the transforms already rejected).
//!
//! The checks are pure functions of one item ([`check_item`]) plus a [`Validator`] that keeps
//! what must be remembered across items: the keys seen (duplicates), the buyers' emails
//! (email-index), and which buyers and producers are valid (the sales' references). Memory is
//! a few 16-byte digests per item, never a whole file.
//!
//! Order matters and is fixed: buyers, then producers, then sales, so that a sale's buyer is
//! already known to be valid or not when the sale is checked. Duplicates are decided in file
//! order and do not depend on the other rules: the first item with a key (or a buyer's email)
//! claims it, valid or not, and every later one is rejected. Which of two rows sharing an S9
//! id is the right one is a human decision, and the verdict must not change when an unrelated
//! problem of the first row is fixed and the run repeated.
//!
//! The rules, their names and the report are documented in docs/tools/validate-s9.md; the
//! attribute names and types are the table designs of docs/migrations/s9-to-dynamodb.md.

use crate::decimal::Dec;
use crate::item::Item;
use crate::transform::{new_id, Entity, MAX_ITEM_BYTES};
use anyhow::Context as _;
use chrono::{NaiveDate, NaiveDateTime};
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use ferry_shared::progress::Progress;
use ferry_shared::record::{Item as Line, RecordReader, RecordWriter};
use ferry_shared::rejects::{record_value, Reject, Rejects};
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{Exit, FerryError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Command line of `validate-s9`.
#[derive(Parser, Debug)]
#[command(
    name = "validate-s9",
    version,
    about = "Validate transformed S9 items (DynamoDB JSON) before loading: required attributes, types, formats, business rules, references, duplicates.",
    after_help = "Valid items are copied unchanged to --output DIR/ENTITY.ndjson, invalid ones go to --rejects with the rule that failed, and --report-file counts everything.\nExit codes: 0 all valid (or --continue-on-error), 2 usage error, 3 invalid items.\n\nExamples:\n  validate-s9\n  validate-s9 --input data/transformed/ --dry-run\n  validate-s9 --entity sales --continue-on-error\n  jq '.entities.sales.by_rule' data/reports/validation_report.json"
)]
pub struct Args {
    /// Folder of transformed items: buyers.ndjson, producers.ndjson, sales.ndjson, and the
    /// transforms' ENTITY.rejects.ndjson when they rejected records.
    #[arg(long, value_name = "DIR", default_value = "data/transformed")]
    pub input: PathBuf,
    /// Folder for the valid items, ENTITY.ndjson, each line byte for byte as read.
    #[arg(short, long, value_name = "DIR", default_value = "data/validated")]
    pub output: PathBuf,
    /// Invalid items as NDJSON rejects (file, line, table, column, value, rule, reason, record).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "data/reports/validation_rejects.ndjson"
    )]
    pub rejects: PathBuf,
    /// The validation report (JSON): counts per entity and rule, the first invalid items.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "data/reports/validation_report.json"
    )]
    pub report_file: PathBuf,
    /// Validate only these entities (repeatable; default all three). Sales still need
    /// buyers.ndjson and producers.ndjson to check their references.
    #[arg(long = "entity", value_enum, value_name = "ENTITY")]
    pub entities: Vec<Entity>,
    /// Exit 0 even when items are invalid (the rejects file and report are still written).
    #[arg(long, env = "FERRY_CONTINUE_ON_ERROR")]
    pub continue_on_error: bool,
    /// Validate and write the report and rejects, but not the validated item files.
    #[arg(long)]
    pub dry_run: bool,
    /// How many invalid items (and transform rejects per entity) the report lists.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_listed: usize,
    /// Stop (exit 3, outputs left unfinished) after this many invalid items; 0 means no limit.
    #[arg(long, env = "FERRY_MAX_REJECTS", default_value_t = 0, value_name = "N")]
    pub max_rejects: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A clap error as the one-line usage error every tool prints (exit 2); `--help` and
/// `--version` are not errors and are left to clap.
pub fn usage_error(e: &clap::Error) -> anyhow::Error {
    let text = e.render().to_string();
    let msg = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ");
    FerryError::Usage(format!("{msg} (see validate-s9 --help)")).into()
}

// ---------------------------------------------------------------- rules

/// The rules, in the order they are reported: when an item breaks several, the first one
/// names it in the rejects file and the report (every broken rule is in the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The line is not a JSON object.
    Malformed,
    /// A required attribute is absent or empty.
    Required,
    /// An attribute has the wrong DynamoDB type, a number that is no decimal, a key that is
    /// no UUID.
    Type,
    /// The partition key is not the deterministic UUID of the legacy id.
    Key,
    /// Email, VAT number, country, currency, date or timestamp not in its format.
    Format,
    /// Status set, deletion flags, index sort key, money arithmetic.
    BusinessRule,
    /// The item is over DynamoDB's 400 KB.
    Size,
    /// A key already seen earlier in the file.
    DuplicateKey,
    /// A buyer email already used by an earlier buyer (email-index).
    DuplicateEmail,
    /// A sale's buyer or producer is unknown or not valid.
    Reference,
}

impl Rule {
    /// The rule's name in rejects and reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Malformed => "malformed",
            Rule::Required => "required",
            Rule::Type => "type",
            Rule::Key => "key",
            Rule::Format => "format",
            Rule::BusinessRule => "business_rule",
            Rule::Size => "size",
            Rule::DuplicateKey => "duplicate_key",
            Rule::DuplicateEmail => "duplicate_email",
            Rule::Reference => "reference",
        }
    }
}

/// One broken rule: which attribute, its value as JSON text, and a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The attribute path (`email`, `address.countryCode`, `lines[0].lineTotal`); empty
    /// when the whole item is to blame.
    pub attribute: String,
    /// The offending value as JSON text, when there is one.
    pub value: Option<String>,
    /// One sentence naming the attribute and the value.
    pub reason: String,
}

impl Violation {
    fn new(rule: Rule, attribute: &str, value: Option<&str>, reason: String) -> Self {
        Violation {
            rule,
            attribute: attribute.to_string(),
            value: value.map(|v| Value::String(v.to_string()).to_string()),
            reason,
        }
    }
}

/// Allowed `status` of buyers (S9's statuses upper-cased; DELETED for soft-deleted rows).
pub const BUYER_STATUSES: &[&str] = &["ACTIVE", "INACTIVE", "DELETED"];
/// Allowed `status` of producers (from `is_active` and `deleted_at`).
pub const PRODUCER_STATUSES: &[&str] = &["ACTIVE", "INACTIVE", "DELETED"];
/// Allowed `status` of sales: S9's life cycle upper-cased, DELETED for soft-deleted rows.
pub const SALE_STATUSES: &[&str] = &[
    "DRAFT",
    "CONFIRMED",
    "INVOICED",
    "PAID",
    "CANCELLED",
    "DELETED",
];

/// The DynamoDB type an attribute must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// `S`.
    S,
    /// `S` holding a lower-case hyphenated UUID (keys and references).
    Uuid,
    /// `N` holding a decimal.
    N,
    /// `N` holding an integer (legacy ids, line numbers).
    Int,
    /// `BOOL`.
    Bool,
    /// `M`.
    M,
    /// `L`.
    L,
}

/// When an attribute is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Req {
    Yes,
    No,
    /// Required unless the item is soft-deleted (a deleted draft sale may have no number).
    UnlessDeleted,
}

type Spec = &'static [(&'static str, Ty, Req)];

const BUYER: Spec = &[
    ("buyerId", Ty::Uuid, Req::Yes),
    ("legacyId", Ty::Int, Req::Yes),
    ("buyerCode", Ty::S, Req::Yes),
    ("companyName", Ty::S, Req::Yes),
    ("contactName", Ty::S, Req::No),
    ("email", Ty::S, Req::Yes),
    ("vatNumber", Ty::S, Req::No),
    ("phone", Ty::S, Req::No),
    ("address", Ty::M, Req::No),
    ("status", Ty::S, Req::Yes),
    ("createdAt", Ty::S, Req::Yes),
    ("updatedAt", Ty::S, Req::No),
    ("isDeleted", Ty::Bool, Req::Yes),
    ("deletedAt", Ty::S, Req::No),
];

const PRODUCER: Spec = &[
    ("producerId", Ty::Uuid, Req::Yes),
    ("legacyId", Ty::Int, Req::Yes),
    ("name", Ty::S, Req::Yes),
    ("email", Ty::S, Req::No),
    ("vatNumber", Ty::S, Req::No),
    ("address", Ty::M, Req::No),
    ("status", Ty::S, Req::Yes),
    ("createdAt", Ty::S, Req::No),
    ("updatedAt", Ty::S, Req::No),
    ("isDeleted", Ty::Bool, Req::Yes),
    ("deletedAt", Ty::S, Req::No),
];

const SALE: Spec = &[
    ("saleId", Ty::Uuid, Req::Yes),
    ("legacyId", Ty::Int, Req::Yes),
    ("saleNumber", Ty::S, Req::UnlessDeleted),
    ("buyerId", Ty::Uuid, Req::Yes),
    ("buyerLegacyId", Ty::Int, Req::No),
    ("producerId", Ty::Uuid, Req::Yes),
    ("producerLegacyId", Ty::Int, Req::No),
    ("saleDate", Ty::S, Req::Yes),
    ("statusSaleDate", Ty::S, Req::Yes),
    ("status", Ty::S, Req::Yes),
    ("currency", Ty::S, Req::Yes),
    ("notes", Ty::S, Req::No),
    ("lines", Ty::L, Req::Yes),
    ("totalNet", Ty::N, Req::Yes),
    ("totalVat", Ty::N, Req::Yes),
    ("totalGross", Ty::N, Req::Yes),
    ("createdAt", Ty::S, Req::No),
    ("updatedAt", Ty::S, Req::No),
    ("isDeleted", Ty::Bool, Req::Yes),
    ("deletedAt", Ty::S, Req::No),
];

const ADDRESS: Spec = &[
    ("line1", Ty::S, Req::No),
    ("line2", Ty::S, Req::No),
    ("city", Ty::S, Req::No),
    ("postalCode", Ty::S, Req::No),
    ("countryCode", Ty::S, Req::No),
];

const SALE_LINE: Spec = &[
    ("lineNo", Ty::Int, Req::Yes),
    ("productCode", Ty::S, Req::No),
    ("description", Ty::S, Req::No),
    ("quantity", Ty::N, Req::Yes),
    ("unitPrice", Ty::N, Req::Yes),
    ("vatRate", Ty::N, Req::Yes),
    ("lineTotal", Ty::N, Req::Yes),
];

fn singular(e: Entity) -> &'static str {
    match e {
        Entity::Buyers => "buyer",
        Entity::Producers => "producer",
        Entity::Sales => "sale",
    }
}

/// The partition key attribute of an entity's table.
pub fn key_attribute(e: Entity) -> &'static str {
    match e {
        Entity::Buyers => "buyerId",
        Entity::Producers => "producerId",
        Entity::Sales => "saleId",
    }
}

fn idx(e: Entity) -> usize {
    match e {
        Entity::Buyers => 0,
        Entity::Producers => 1,
        Entity::Sales => 2,
    }
}

// ---------------------------------------------------------------- formats (pure)

/// An email address: one `@`, a local part without spaces, a domain of dot-separated labels
/// (letters, digits, `-`) ending in a top-level domain of two or more letters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@<>()[]\\,;:\"".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| t.chars().count() >= 2 && t.chars().all(char::is_alphabetic));
    local_ok && domain_ok
}

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

// ---------------------------------------------------------------- typed attribute access

/// The single `{TYPE: value}` pair of a DynamoDB attribute value.
fn typed(av: &Value) -> Option<(&str, &Value)> {
    let o = av.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(t, v)| (t.as_str(), v))
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k)?.get("S")?.as_str()
}

fn n(m: &Map<String, Value>, k: &str) -> Option<Dec> {
    Dec::parse(m.get(k)?.get("N")?.as_str()?)
}

fn int(m: &Map<String, Value>, k: &str) -> Option<i64> {
    m.get(k)?.get("N")?.as_str()?.trim().parse().ok()
}

fn boolean(m: &Map<String, Value>, k: &str) -> Option<bool> {
    m.get(k)?.get("BOOL")?.as_bool()
}

fn uuid_of(m: &Map<String, Value>, k: &str) -> Option<u128> {
    let t = s(m, k)?;
    uuid::Uuid::parse_str(t)
        .ok()
        .filter(|u| u.hyphenated().to_string() == t)
        .map(|u| u.as_u128())
}

fn same(a: Dec, b: Dec) -> bool {
    a.normalized() == b.normalized()
}

/// Checks that a value is well-formed DynamoDB typed JSON (for attributes the design does
/// not name, which are allowed but must still load).
fn well_formed(av: &Value) -> Result<(), String> {
    let Some((t, v)) = typed(av) else {
        return Err("is not a DynamoDB attribute value ({\"TYPE\": value})".into());
    };
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let ok = match t {
        "S" | "B" => v.is_string(),
        "N" => v.as_str().and_then(Dec::parse).is_some(),
        "BOOL" => v.is_boolean(),
        "NULL" => v == &Value::Bool(true),
        "SS" | "BS" => strings(v),
        "NS" => {
            strings(v)
                && v.as_array()
                    .is_some_and(|a| a.iter().all(|x| x.as_str().and_then(Dec::parse).is_some()))
        }
        "M" => {
            return match v.as_object() {
                Some(o) => o.values().try_for_each(well_formed),
                None => Err("M is not a map".into()),
            }
        }
        "L" => {
            return match v.as_array() {
                Some(a) => a.iter().try_for_each(well_formed),
                None => Err("L is not a list".into()),
            }
        }
        other => return Err(format!("has unknown DynamoDB type {other}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("has a {t} value that is not valid"))
    }
}

/// Required attributes and types of one map against its spec; nested maps and lists are
/// checked with their own specs.
fn check_attrs(
    m: &Map<String, Value>,
    spec: Spec,
    prefix: &str,
    deleted: bool,
    out: &mut Vec<Violation>,
) {
    let mut missing = Vec::new();
    for &(name, ty, req) in spec {
        let path = format!("{prefix}{name}");
        let required = req == Req::Yes || (req == Req::UnlessDeleted && !deleted);
        let Some(av) = m.get(name) else {
            if required {
                missing.push(path);
            }
            continue;
        };
        let want = match ty {
            Ty::S | Ty::Uuid => "S",
            Ty::N | Ty::Int => "N",
            Ty::Bool => "BOOL",
            Ty::M => "M",
            Ty::L => "L",
        };
        let Some((t, v)) = typed(av) else {
            out.push(Violation {
                rule: Rule::Type,
                attribute: path.clone(),
                value: Some(av.to_string()),
                reason: format!(
                    "{path} {av} is not a DynamoDB attribute value, expected {{\"{want}\": …}}"
                ),
            });
            continue;
        };
        if t != want {
            out.push(Violation {
                rule: Rule::Type,
                attribute: path.clone(),
                value: Some(av.to_string()),
                reason: format!("{path} has DynamoDB type {t}, expected {want}"),
            });
            continue;
        }
        let bad = |what: String| Violation {
            rule: Rule::Type,
            attribute: path.clone(),
            value: Some(v.to_string()),
            reason: format!("{path} {v} {what}"),
        };
        match ty {
            Ty::S | Ty::Uuid => match v.as_str() {
                None => out.push(bad("is not a string".into())),
                Some("") if required => missing.push(path.clone()),
                Some("") => out.push(Violation::new(
                    Rule::Format,
                    &path,
                    Some(""),
                    format!("{path} is an empty string; the design leaves empty values out (DynamoDB refuses them in index keys)"),
                )),
                Some(x) if ty == Ty::Uuid && uuid_of(m, name).is_none() => out.push(
                    Violation::new(
                        Rule::Type,
                        &path,
                        Some(x),
                        format!("{path} {x:?} is not a UUID (lower-case, hyphenated)"),
                    ),
                ),
                Some(_) => {}
            },
            Ty::N | Ty::Int => match v.as_str() {
                None => out.push(bad("is not a string of decimal digits (DynamoDB numbers are text)".into())),
                Some(x) if Dec::parse(x).is_none() => out.push(Violation::new(
                    Rule::Type,
                    &path,
                    Some(x),
                    format!("{path} {x:?} is not a decimal number (of at most 30 digits)"),
                )),
                Some(x) if ty == Ty::Int && x.trim().parse::<i64>().is_err() => out.push(
                    Violation::new(
                        Rule::Type,
                        &path,
                        Some(x),
                        format!("{path} {x:?} is not an integer"),
                    ),
                ),
                Some(_) => {}
            },
            Ty::Bool => {
                if !v.is_boolean() {
                    out.push(bad("is not true or false".into()));
                }
            }
            Ty::M => match v.as_object() {
                None => out.push(bad("is not a map".into())),
                Some(o) if name == "address" => {
                    check_attrs(o, ADDRESS, &format!("{path}."), deleted, out)
                }
                Some(_) => {}
            },
            Ty::L => match v.as_array() {
                None => out.push(bad("is not a list".into())),
                Some(a) => {
                    for (i, el) in a.iter().enumerate() {
                        let p = format!("{path}[{i}]");
                        match typed(el) {
                            Some(("M", Value::Object(o))) => {
                                check_attrs(o, SALE_LINE, &format!("{p}."), deleted, out)
                            }
                            _ => out.push(Violation {
                                rule: Rule::Type,
                                attribute: p.clone(),
                                value: Some(el.to_string()),
                                reason: format!("{p} is not a map (each sale line is {{\"M\": …}})"),
                            }),
                        }
                    }
                }
            },
        }
    }
    for (k, av) in m {
        if !spec.iter().any(|(name, ..)| name == k) {
            if let Err(why) = well_formed(av) {
                out.push(Violation {
                    rule: Rule::Type,
                    attribute: format!("{prefix}{k}"),
                    value: Some(av.to_string()),
                    reason: format!("{prefix}{k} {why}"),
                });
            }
        }
    }
    if !missing.is_empty() {
        let reason = if missing.len() == 1 {
            format!("required attribute {} is absent or empty", missing[0])
        } else {
            format!(
                "required attributes {} are absent or empty",
                missing.join(", ")
            )
        };
        out.push(Violation {
            rule: Rule::Required,
            attribute: missing[0].clone(),
            value: None,
            reason,
        });
    }
}

fn is_deleted(m: &Map<String, Value>) -> bool {
    boolean(m, "isDeleted") == Some(true) || s(m, "status") == Some("DELETED")
}

fn check_formats(e: Entity, m: &Map<String, Value>, out: &mut Vec<Violation>) {
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

fn business(reason: String, attr: &str, value: Option<&str>) -> Violation {
    Violation::new(Rule::BusinessRule, attr, value, reason)
}

fn check_business(e: Entity, m: &Map<String, Value>, out: &mut Vec<Violation>) {
    let allowed = match e {
        Entity::Buyers => BUYER_STATUSES,
        Entity::Producers => PRODUCER_STATUSES,
        Entity::Sales => SALE_STATUSES,
    };
    let status = s(m, "status").filter(|v| !v.is_empty());
    if let Some(st) = status {
        if !allowed.contains(&st) {
            out.push(business(
                format!(
                    "status {st:?} is not a {} status ({})",
                    singular(e),
                    allowed.join(", ")
                ),
                "status",
                Some(st),
            ));
        }
    }
    // isDeleted, deletedAt and status DELETED say the same thing and must agree.
    if let Some(flag) = boolean(m, "isDeleted") {
        let at = s(m, "deletedAt").filter(|v| !v.is_empty());
        let why = match (flag, at, status) {
            (true, None, _) => Some("isDeleted is true but deletedAt is absent".to_string()),
            (false, Some(t), _) => Some(format!("isDeleted is false but deletedAt is {t:?}")),
            (true, _, Some(st)) if st != "DELETED" => Some(format!(
                "isDeleted is true but status is {st:?}, not \"DELETED\""
            )),
            (false, _, Some("DELETED")) => {
                Some("status is \"DELETED\" but isDeleted is false".to_string())
            }
            _ => None,
        };
        if let Some(why) = why {
            out.push(business(why, "isDeleted", None));
        }
    }
    if e == Entity::Sales {
        check_sale_business(m, status, out);
    }
}

fn check_sale_business(m: &Map<String, Value>, status: Option<&str>, out: &mut Vec<Violation>) {
    if let (Some(st), Some(d), Some(ssd)) = (status, s(m, "saleDate"), s(m, "statusSaleDate")) {
        let want = format!("{st}#{d}");
        if ssd != want {
            out.push(business(
                format!("statusSaleDate {ssd:?} is not status#saleDate {want:?} (the sort key of status-index)"),
                "statusSaleDate",
                Some(ssd),
            ));
        }
    }
    // References that the item itself must get right: the keys are UUIDs of the legacy ids.
    for (attr, legacy_attr, table) in [
        ("buyerId", "buyerLegacyId", "buyers"),
        ("producerId", "producerLegacyId", "producers"),
    ] {
        if let (Some(k), Some(l)) = (s(m, attr), int(m, legacy_attr)) {
            if uuid_of(m, attr).is_some() && k != new_id(table, l) {
                out.push(Violation::new(
                    Rule::Reference,
                    attr,
                    Some(k),
                    format!(
                        "{attr} {k:?} is not the key of {legacy_attr} {l} ({})",
                        new_id(table, l)
                    ),
                ));
            }
        }
    }
    // Money, exactly: lineTotal = quantity × unitPrice; totalNet = Σ lineTotal to the cent;
    // totalVat = Σ per-line VAT rounded to the cent; totalGross = totalNet + totalVat.
    let lines = m
        .get("lines")
        .and_then(|l| l.get("L"))
        .and_then(Value::as_array);
    let (mut net, mut vat, mut sums_ok) = (Some(Dec::ZERO), Some(Dec::ZERO), lines.is_some());
    let hundredth = Dec {
        mantissa: 1,
        scale: 2,
    };
    for (i, el) in lines.into_iter().flatten().enumerate() {
        let Some(l) = el.get("M").and_then(Value::as_object) else {
            sums_ok = false;
            continue;
        };
        let raw = |k: &str| l.get(k).and_then(|v| v.get("N")).and_then(Value::as_str);
        let (q, p, r, t) = (
            n(l, "quantity"),
            n(l, "unitPrice"),
            n(l, "vatRate"),
            n(l, "lineTotal"),
        );
        if let Some(q) = q.filter(|q| q.mantissa < 0) {
            let a = format!("lines[{i}].quantity");
            out.push(business(
                format!("{a} {q} is negative"),
                &a,
                raw("quantity"),
            ));
        }
        if let Some(r) = r {
            let over = r
                .checked_add(Dec {
                    mantissa: -100,
                    scale: 0,
                })
                .is_some_and(|d| d.mantissa > 0);
            if r.mantissa < 0 || over {
                let a = format!("lines[{i}].vatRate");
                out.push(business(
                    format!("{a} {r} is not a percentage between 0 and 100"),
                    &a,
                    raw("vatRate"),
                ));
            }
        }
        let (Some(q), Some(p), Some(r), Some(t)) = (q, p, r, t) else {
            sums_ok = false;
            continue;
        };
        let a = format!("lines[{i}].lineTotal");
        match q.checked_mul(p) {
            Some(x) if same(x, t) => {}
            Some(x) => out.push(business(
                format!("{a} {t} is not quantity × unitPrice = {}", x.normalized()),
                &a,
                raw("lineTotal"),
            )),
            None => out.push(business(
                format!("{a} {t} cannot be checked: quantity × unitPrice overflows"),
                &a,
                raw("lineTotal"),
            )),
        }
        net = net.and_then(|s| s.checked_add(t));
        vat = vat.and_then(|s| s.checked_add(t.checked_mul(r)?.checked_mul(hundredth)?.round(2)));
    }
    let raw = |k: &str| m.get(k).and_then(|v| v.get("N")).and_then(Value::as_str);
    let (tn, tv, tg) = (n(m, "totalNet"), n(m, "totalVat"), n(m, "totalGross"));
    if sums_ok {
        if let (Some(want), Some(got)) = (net.map(|x| x.round(2)), tn) {
            if !same(want, got) {
                out.push(business(
                    format!("totalNet {got} is not the sum of the line totals rounded to the cent, {want}"),
                    "totalNet",
                    raw("totalNet"),
                ));
            }
        }
        if let (Some(want), Some(got)) = (vat.map(|x| x.round(2)), tv) {
            if !same(want, got) {
                out.push(business(
                    format!("totalVat {got} is not the sum of the lines' VAT rounded to the cent, {want}"),
                    "totalVat",
                    raw("totalVat"),
                ));
            }
        }
    }
    if let (Some(a), Some(b), Some(g)) = (tn, tv, tg) {
        match a.checked_add(b) {
            Some(want) if same(want, g) => {}
            want => out.push(business(
                format!(
                    "totalGross {g} is not totalNet + totalVat = {}",
                    want.map_or_else(|| "(overflow)".to_string(), |w| w.to_string())
                ),
                "totalGross",
                raw("totalGross"),
            )),
        }
    }
}

/// Every rule one item can break on its own: required attributes, types, key, formats,
/// business rules. Sorted by rule (the first is the one the item is rejected for).
pub fn check_item(e: Entity, m: &Map<String, Value>) -> Vec<Violation> {
    let spec = match e {
        Entity::Buyers => BUYER,
        Entity::Producers => PRODUCER,
        Entity::Sales => SALE,
    };
    let mut out = Vec::new();
    check_attrs(m, spec, "", is_deleted(m), &mut out);
    let key = key_attribute(e);
    if let (Some(k), Some(l)) = (s(m, key), int(m, "legacyId")) {
        let name = e.name();
        if uuid_of(m, key).is_some() && k != new_id(name, l) {
            out.push(Violation::new(
                Rule::Key,
                key,
                Some(k),
                format!(
                    "{key} {k:?} is not the key of legacyId {l} (UUID v5 of s9/{name}/{l}: {})",
                    new_id(name, l)
                ),
            ));
        }
    }
    check_formats(e, m, &mut out);
    check_business(e, m, &mut out);
    out.sort_by_key(|v| v.rule);
    out
}

// ---------------------------------------------------------------- across items

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

// ---------------------------------------------------------------- the report

/// One invalid item in the report's list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// Entity (`buyers`, `producers`, `sales`).
    pub entity: &'static str,
    /// 1-based line in the input file.
    pub line: u64,
    /// The item's legacy S9 id.
    #[serde(rename = "legacyId")]
    pub legacy_id: Option<i64>,
    /// The item's partition key.
    pub key: Option<String>,
    /// The rule it is rejected for.
    pub rule: &'static str,
    /// The attribute to blame.
    pub attribute: String,
    /// Every broken rule's sentence.
    pub reason: String,
}

/// A record the transform already rejected.
#[derive(Debug, Clone, Serialize)]
pub struct TransformReject {
    /// Line in the extracted input.
    pub line: Option<u64>,
    /// The S9 id.
    #[serde(rename = "legacyId")]
    pub legacy_id: Option<i64>,
    /// The transform's reason.
    pub reason: String,
}

/// Counts of one entity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EntityReport {
    /// The items file read.
    pub file: String,
    /// Where the valid items went (absent in a dry run).
    pub output: Option<String>,
    /// Items read.
    pub total: u64,
    /// Items that passed every rule.
    pub valid: u64,
    /// Items rejected.
    pub invalid: u64,
    /// Invalid items by the rule they were rejected for (sums to `invalid`).
    pub by_rule: BTreeMap<&'static str, u64>,
    /// Every broken rule, counted once per item that broke it.
    pub violations: BTreeMap<&'static str, u64>,
    /// Source records the transform rejected (not in `total`).
    pub rejected_by_transform: u64,
    /// The transform's rejects file, when there is one.
    pub transform_rejects_file: Option<String>,
    /// The first of them with their reasons.
    pub transform_rejects: Vec<TransformReject>,
    /// `total` + `rejected_by_transform`: every extracted record is accounted for.
    pub source_records: u64,
}

/// `data/reports/validation_report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// `validate-s9`.
    pub tool: &'static str,
    /// When the report was written (RFC 3339, UTC).
    pub generated_at: String,
    /// Seconds spent.
    pub duration_secs: f64,
    /// The input folder.
    pub input: String,
    /// The output folder (absent in a dry run).
    pub output: Option<String>,
    /// The rejects file.
    pub rejects_file: String,
    /// Nothing but the report and rejects were written.
    pub dry_run: bool,
    /// Exit 0 even with invalid items.
    pub continue_on_error: bool,
    /// True when every item is valid.
    pub valid: bool,
    /// Per entity validated.
    pub entities: BTreeMap<&'static str, EntityReport>,
    /// Sums over entities.
    pub totals: Totals,
    /// The first invalid items, in input order.
    pub invalid_items: Vec<Listed>,
    /// Invalid items not listed (over `--max-listed`).
    pub invalid_items_not_listed: u64,
    /// Facts worth knowing.
    pub notes: Vec<String>,
}

/// Sums over entities.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Items read.
    pub total: u64,
    /// Valid items.
    pub valid: u64,
    /// Invalid items.
    pub invalid: u64,
    /// Records the transforms rejected.
    pub rejected_by_transform: u64,
    /// Every extracted record.
    pub source_records: u64,
}

// ---------------------------------------------------------------- the run

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a transform's rejects file (if any): counts, reasons, and the rejected ids so a
/// sale pointing at one is told why.
fn read_transform_rejects(
    path: &Path,
    e: Entity,
    v: &mut Validator,
    max_listed: usize,
    rep: &mut EntityReport,
) -> anyhow::Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    rep.transform_rejects_file = Some(path.display().to_string());
    let mut reader = RecordReader::open(Some(path))?;
    while let Some(kind) = reader.next_item()? {
        if !matches!(kind, Line::Data) {
            continue;
        }
        rep.rejected_by_transform += 1;
        let r: Value = serde_json::from_slice(reader.line()).unwrap_or(Value::Null);
        let id = &r["record"]["id"];
        let legacy = id
            .as_i64()
            .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()));
        if let Some(l) = legacy {
            v.transform_rejected(e, l, reader.line_no());
        }
        if rep.transform_rejects.len() < max_listed {
            rep.transform_rejects.push(TransformReject {
                line: r["line"].as_u64(),
                legacy_id: legacy,
                reason: r["reason"]
                    .as_str()
                    .unwrap_or("(unreadable reject line)")
                    .to_string(),
            });
        }
    }
    Ok(())
}

struct Run<'a> {
    args: &'a Args,
    validator: Validator,
    rejects: Rejects,
    listed: Vec<Listed>,
    not_listed: u64,
}

impl Run<'_> {
    /// Validates one entity's file. With `emit` false the entity is read only so that the
    /// sales' references can be checked: nothing is written for it.
    fn entity(&mut self, e: Entity, emit: bool, rep: &mut EntityReport) -> anyhow::Result<()> {
        let name = e.name();
        let path = self.args.input.join(format!("{name}.ndjson"));
        rep.file = path.display().to_string();
        let mut reader = RecordReader::open(Some(&path))?;
        let out = self.args.output.join(format!("{name}.ndjson"));
        let mut writer = if emit && !self.args.dry_run {
            rep.output = Some(out.display().to_string());
            Some(RecordWriter::create(&out).with_context(|| format!("create {}", out.display()))?)
        } else {
            None
        };
        let res = self.items(e, emit, &mut reader, writer.as_mut(), rep);
        match (res, writer) {
            (Ok(()), Some(w)) => w.finish()?,
            (Ok(()), None) => {}
            (Err(err), w) => {
                // Nothing half-written stays behind: a rerun starts from scratch anyway.
                if w.is_some() {
                    let _ = fs_err::remove_file(ferry_shared::record::part_path(&out));
                }
                return Err(err);
            }
        }
        rep.source_records = rep.total + rep.rejected_by_transform;
        Ok(())
    }

    /// The items of one file, in file order.
    fn items(
        &mut self,
        e: Entity,
        emit: bool,
        reader: &mut RecordReader,
        mut writer: Option<&mut RecordWriter>,
        rep: &mut EntityReport,
    ) -> anyhow::Result<()> {
        let name = e.name();
        let mut progress = Progress::new(
            &format!("validate {name}"),
            None,
            self.args.common.quiet || !emit,
        );
        let file = reader.name().to_string();
        while let Some(kind) = reader.next_item()? {
            if !matches!(kind, Line::Data) {
                continue;
            }
            let line = reader.line_no();
            let raw = reader.line();
            let verdict = self.validator.check(e, line, raw);
            rep.total += 1;
            progress.inc(1);
            let Some(main) = verdict.violations.first() else {
                rep.valid += 1;
                if let Some(w) = writer.as_deref_mut() {
                    // Valid items parsed as JSON, so they are UTF-8: copied byte for byte.
                    let text = std::str::from_utf8(raw)
                        .with_context(|| format!("{file}:{line}: not UTF-8"))?;
                    w.object(text)?;
                }
                continue;
            };
            rep.invalid += 1;
            *rep.by_rule.entry(main.rule.name()).or_default() += 1;
            let mut rules: Vec<Rule> = verdict.violations.iter().map(|x| x.rule).collect();
            rules.dedup();
            for r in rules {
                *rep.violations.entry(r.name()).or_default() += 1;
            }
            if !emit {
                continue;
            }
            let reason = verdict.reason();
            self.rejects.add(&Reject {
                file: &file,
                line: Some(line),
                table: name,
                column: Some(main.attribute.as_str()).filter(|a| !a.is_empty()),
                value: main.value.as_deref(),
                reason: &reason,
                rule: Some(main.rule.name()),
                rowid: None,
                record: record_value(raw),
            })?;
            if self.listed.len() < self.args.max_listed {
                self.listed.push(Listed {
                    entity: name,
                    line,
                    legacy_id: verdict.legacy,
                    key: verdict.key.clone(),
                    rule: main.rule.name(),
                    attribute: main.attribute.clone(),
                    reason,
                });
            } else {
                self.not_listed += 1;
            }
        }
        progress.finish();
        Ok(())
    }
}

/// Runs `validate-s9`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let all = [Entity::Buyers, Entity::Producers, Entity::Sales];
    let selected: Vec<Entity> = if args.entities.is_empty() {
        all.to_vec()
    } else {
        all.into_iter()
            .filter(|e| args.entities.contains(e))
            .collect()
    };
    let sales = selected.contains(&Entity::Sales);
    let needed: Vec<Entity> = all
        .into_iter()
        .filter(|e| selected.contains(e) || sales)
        .collect();
    // Every input is checked before anything is written, so a usage error leaves no trace.
    if !args.input.is_dir() {
        return Err(FerryError::Usage(format!(
            "input folder {} does not exist (run the transforms first, or pass --input DIR)",
            args.input.display()
        ))
        .into());
    }
    for &e in &needed {
        let p = args.input.join(format!("{}.ndjson", e.name()));
        if !p.is_file() {
            let why = if selected.contains(&e) {
                format!("run transform-{}", e.name())
            } else {
                "the sales' references are checked against it".to_string()
            };
            return Err(FerryError::Usage(format!("{} is missing ({why})", p.display())).into());
        }
    }
    // What an earlier run left must not pass for this run's result if this one stops
    // half-way: its rejects, its report, and (unless a dry run) its validated files.
    let mut stale = vec![args.rejects.clone(), args.report_file.clone()];
    if !args.dry_run {
        stale.extend(
            selected
                .iter()
                .map(|e| args.output.join(format!("{}.ndjson", e.name()))),
        );
    }
    for p in stale.iter().filter(|p| p.is_file()) {
        fs_err::remove_file(p).context("remove the previous run's file")?;
    }
    let started = std::time::Instant::now();
    let mut report = RunReport::start("validate-s9");
    report.dry_run = args.dry_run;
    let mut run = Run {
        args: &args,
        validator: Validator::new(),
        rejects: Rejects::new(args.rejects.clone(), false, args.max_rejects),
        listed: Vec::new(),
        not_listed: 0,
    };
    let mut entities = BTreeMap::new();
    let mut notes = Vec::new();
    for e in needed {
        let name = e.name();
        let emit = selected.contains(&e);
        let t0 = std::time::Instant::now();
        let mut rep = EntityReport::default();
        let tr = args.input.join(format!("{name}.rejects.ndjson"));
        read_transform_rejects(&tr, e, &mut run.validator, args.max_listed, &mut rep)
            .with_context(|| format!("read {}", tr.display()))?;
        run.entity(e, emit, &mut rep)
            .with_context(|| format!("validate {}", rep.file))?;
        if !emit {
            let note = format!(
                "{name}: read for the sales' references only ({} of {} valid)",
                rep.valid, rep.total
            );
            tracing::info!("{note}");
            notes.push(note);
            continue;
        }
        if rep.rejected_by_transform > 0 {
            tracing::warn!(
                "{name}: {} source records were rejected by transform-{name} ({}); they are not validated or loaded",
                rep.rejected_by_transform,
                tr.display()
            );
        }
        let mut stats = TableStats::new(name);
        stats.migrated = rep.valid;
        stats.errors = rep.invalid;
        stats.duration_secs = t0.elapsed().as_secs_f64();
        report.tables.push(stats);
        entities.insert(name, rep);
    }
    run.rejects.flush()?;
    let mut totals = Totals::default();
    for r in entities.values() {
        totals.total += r.total;
        totals.valid += r.valid;
        totals.invalid += r.invalid;
        totals.rejected_by_transform += r.rejected_by_transform;
        totals.source_records += r.source_records;
    }
    let invalid = totals.invalid;
    if invalid > 0 && args.continue_on_error {
        tracing::warn!(
            "{invalid} invalid items (see {}); exiting 0 because of --continue-on-error",
            args.rejects.display()
        );
        notes.push(format!(
            "--continue-on-error: exit 0 despite {invalid} invalid items"
        ));
    }
    let vr = ValidationReport {
        tool: "validate-s9",
        generated_at: now(),
        duration_secs: started.elapsed().as_secs_f64(),
        input: args.input.display().to_string(),
        output: (!args.dry_run).then(|| args.output.display().to_string()),
        rejects_file: args.rejects.display().to_string(),
        dry_run: args.dry_run,
        continue_on_error: args.continue_on_error,
        valid: invalid == 0,
        entities,
        totals,
        invalid_items: run.listed,
        invalid_items_not_listed: run.not_listed,
        notes: notes.clone(),
    };
    ferry_shared::fsutil::write_json_atomic(&args.report_file, &vr)
        .with_context(|| format!("write {}", args.report_file.display()))?;
    let mut code = report.finish();
    if run.rejects.count() > 0 {
        report.rejects_file = Some(args.rejects.display().to_string());
    }
    report
        .notes
        .push(format!("validation report: {}", args.report_file.display()));
    report.notes.extend(notes);
    if invalid > 0 && args.continue_on_error {
        code = Exit::Ok;
        report.exit_code = code.code();
    }
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn buyer(id: i64, email: &str) -> Value {
        json!({
            "buyerId": {"S": new_id("buyers", id)}, "legacyId": {"N": id.to_string()},
            "buyerCode": {"S": format!("B{id:03}")}, "companyName": {"S": "Acme Retail GmbH"},
            "email": {"S": email}, "vatNumber": {"S": "DE123456789"},
            "address": {"M": {"city": {"S": "Berlin"}, "countryCode": {"S": "DE"}}},
            "status": {"S": "ACTIVE"}, "createdAt": {"S": "2020-01-10T09:00:00Z"},
            "isDeleted": {"BOOL": false}
        })
    }

    fn producer(id: i64) -> Value {
        json!({
            "producerId": {"S": new_id("producers", id)}, "legacyId": {"N": id.to_string()},
            "name": {"S": "Bodega Sol"}, "status": {"S": "ACTIVE"}, "isDeleted": {"BOOL": false}
        })
    }

    fn sale(id: i64, buyer: i64, producer: i64) -> Value {
        json!({
            "saleId": {"S": new_id("sales", id)}, "legacyId": {"N": id.to_string()},
            "saleNumber": {"S": "S-2023-0001"},
            "buyerId": {"S": new_id("buyers", buyer)}, "buyerLegacyId": {"N": buyer.to_string()},
            "producerId": {"S": new_id("producers", producer)}, "producerLegacyId": {"N": producer.to_string()},
            "saleDate": {"S": "2023-03-15"}, "statusSaleDate": {"S": "CONFIRMED#2023-03-15"},
            "status": {"S": "CONFIRMED"}, "currency": {"S": "EUR"},
            "lines": {"L": [
                {"M": {"lineNo": {"N": "1"}, "quantity": {"N": "12"}, "unitPrice": {"N": "8.5"}, "vatRate": {"N": "21"}, "lineTotal": {"N": "102"}}},
                {"M": {"lineNo": {"N": "2"}, "quantity": {"N": "6"}, "unitPrice": {"N": "11.25"}, "vatRate": {"N": "21"}, "lineTotal": {"N": "67.5"}}}
            ]},
            "totalNet": {"N": "169.50"}, "totalVat": {"N": "35.60"}, "totalGross": {"N": "205.10"},
            "createdAt": {"S": "2023-03-15T10:00:00Z"}, "isDeleted": {"BOOL": false}
        })
    }

    fn rules(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|x| x.rule.name()).collect()
    }

    fn line(v: &Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn formats() {
        assert!(is_email("anna@acme.example"));
        assert!(is_email("yamada@test.example.jp"));
        assert!(!is_email("mario.rossi at mail"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a@@b.com"));
        assert!(!is_email("a b@c.com"));
        assert!(!is_email("a@-b.com"));
        assert!(!is_email("a@b.c0"));
        assert!(is_vat("DE123456789"));
        assert!(is_vat("ES12345678Z"));
        assert!(is_vat("FR12345678901"));
        assert!(!is_vat("DE1"));
        assert!(!is_vat("123456789"));
        assert!(!is_vat("de123456789"));
        assert!(!is_vat("DE12345678901234"));
        assert!(is_country("ES"));
        assert!(!is_country("es"));
        assert!(!is_country("ESP"));
        assert!(is_currency("JPY"));
        assert!(!is_currency("eur"));
        assert!(!is_currency("EU"));
        assert!(is_date("2023-07-15"));
        assert!(!is_date("2023-02-30"));
        assert!(!is_date("15/07/2023"));
        assert!(!is_date("2023-7-15"));
        assert!(is_timestamp("2023-07-15T15:00:00Z"));
        assert!(is_timestamp("2023-07-15T15:00:00.123456Z"));
        assert!(!is_timestamp("2023-07-15T15:00:00"));
        assert!(!is_timestamp("2023-07-15 15:00:00Z"));
        assert!(!is_timestamp("2023-07-15T15:00:00+02:00"));
        assert!(!is_timestamp("2023-07-15T25:00:00Z"));
        assert!(!is_timestamp("2023-07-15T15:00:00.Z"));
    }

    #[test]
    fn good_items_pass() {
        assert_eq!(
            check_item(Entity::Buyers, &obj(buyer(1, "anna@acme.example"))),
            []
        );
        assert_eq!(check_item(Entity::Producers, &obj(producer(10))), []);
        assert_eq!(check_item(Entity::Sales, &obj(sale(100, 1, 10))), []);
    }

    #[test]
    fn required_attributes_are_named_together() {
        let mut b = obj(buyer(5, "noname@x.example"));
        b.remove("companyName");
        b.remove("buyerCode");
        let v = check_item(Entity::Buyers, &b);
        assert_eq!(rules(&v), ["required"]);
        assert_eq!(v[0].attribute, "buyerCode");
        assert_eq!(
            v[0].reason,
            "required attributes buyerCode, companyName are absent or empty"
        );
        // A deleted sale needs no number; a live one does.
        let mut s = obj(sale(106, 2, 11));
        s.remove("saleNumber");
        assert_eq!(rules(&check_item(Entity::Sales, &s)), ["required"]);
        s.insert("isDeleted".into(), json!({"BOOL": true}));
        s.insert("deletedAt".into(), json!({"S": "2023-09-01T00:00:00Z"}));
        s.insert("status".into(), json!({"S": "DELETED"}));
        s.insert("statusSaleDate".into(), json!({"S": "DELETED#2023-03-15"}));
        assert_eq!(check_item(Entity::Sales, &s), []);
    }

    #[test]
    fn types_and_keys() {
        let mut b = obj(buyer(1, "anna@acme.example"));
        b.insert("legacyId".into(), json!({"S": "1"}));
        b.insert("isDeleted".into(), json!({"BOOL": "no"}));
        b.insert("buyerId".into(), json!({"S": "not-a-uuid"}));
        let v = check_item(Entity::Buyers, &b);
        assert_eq!(rules(&v), ["type", "type", "type"]);
        assert_eq!(
            v[0].reason,
            "buyerId \"not-a-uuid\" is not a UUID (lower-case, hyphenated)"
        );
        assert_eq!(v[1].reason, "legacyId has DynamoDB type S, expected N");
        assert_eq!(v[2].reason, "isDeleted \"no\" is not true or false");
        let mut p = obj(producer(10));
        p.insert("legacyId".into(), json!({"N": "11"}));
        let v = check_item(Entity::Producers, &p);
        assert_eq!(rules(&v), ["key"]);
        assert_eq!(
            v[0].reason,
            format!(
                "producerId {:?} is not the key of legacyId 11 (UUID v5 of s9/producers/11: {})",
                new_id("producers", 10),
                new_id("producers", 11)
            )
        );
        let mut s = obj(sale(100, 1, 10));
        s.insert("totalNet".into(), json!({"N": "12,50"}));
        let v = check_item(Entity::Sales, &s);
        assert_eq!(rules(&v), ["type"]);
        assert_eq!(
            v[0].reason,
            "totalNet \"12,50\" is not a decimal number (of at most 30 digits)"
        );
    }

    #[test]
    fn formats_of_items() {
        let v = check_item(Entity::Buyers, &obj(buyer(7, "mario.rossi at mail")));
        assert_eq!(rules(&v), ["format"]);
        assert_eq!(v[0].attribute, "email");
        assert_eq!(v[0].value.as_deref(), Some("\"mario.rossi at mail\""));
        assert_eq!(
            v[0].reason,
            "email \"mario.rossi at mail\" is not an email address (local@domain.tld)"
        );
        let mut b = obj(buyer(1, "Anna@acme.example"));
        b.insert("vatNumber".into(), json!({"S": "X1"}));
        b.insert("phone".into(), json!({"S": ""}));
        let v = check_item(Entity::Buyers, &b);
        assert_eq!(rules(&v), ["format", "format", "format"]);
        let mut s = obj(sale(100, 1, 10));
        s.insert("currency".into(), json!({"S": "EURO"}));
        s.insert("createdAt".into(), json!({"S": "2023-03-15 10:00:00"}));
        let v = check_item(Entity::Sales, &s);
        assert_eq!(
            v.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>(),
            [
                "createdAt \"2023-03-15 10:00:00\" is not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)",
                "currency \"EURO\" is not a currency code (3 upper-case letters)"
            ]
        );
    }

    #[test]
    fn business_rules() {
        let mut b = obj(buyer(1, "anna@acme.example"));
        b.insert("status".into(), json!({"S": "BLOCKED"}));
        let v = check_item(Entity::Buyers, &b);
        assert_eq!(
            v[0].reason,
            "status \"BLOCKED\" is not a buyer status (ACTIVE, INACTIVE, DELETED)"
        );
        let mut p = obj(producer(12));
        p.insert("isDeleted".into(), json!({"BOOL": true}));
        let v = check_item(Entity::Producers, &p);
        assert_eq!(v[0].reason, "isDeleted is true but deletedAt is absent");

        let mut s = obj(sale(100, 1, 10));
        s.insert("totalGross".into(), json!({"N": "205.11"}));
        let v = check_item(Entity::Sales, &s);
        assert_eq!(rules(&v), ["business_rule"]);
        assert_eq!(
            v[0].reason,
            "totalGross 205.11 is not totalNet + totalVat = 205.10"
        );

        let mut s = obj(sale(100, 1, 10));
        s["lines"]["L"][1]["M"]["lineTotal"] = json!({"N": "67.49"});
        s["lines"]["L"][0]["M"]["quantity"] = json!({"N": "-12"});
        s.insert("statusSaleDate".into(), json!({"S": "DRAFT#2023-03-15"}));
        let v = check_item(Entity::Sales, &s);
        assert_eq!(
            v.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>(),
            [
                "statusSaleDate \"DRAFT#2023-03-15\" is not status#saleDate \"CONFIRMED#2023-03-15\" (the sort key of status-index)",
                "lines[0].quantity -12 is negative",
                "lines[0].lineTotal 102 is not quantity × unitPrice = -102",
                "lines[1].lineTotal 67.49 is not quantity × unitPrice = 67.5",
                "totalNet 169.50 is not the sum of the line totals rounded to the cent, 169.49",
                "totalVat 35.60 is not the sum of the lines' VAT rounded to the cent, 35.59",
            ]
        );
        // Exact, not floating point: 3 × 7.3333 = 21.9999, net 22.00, VAT 4.62.
        let mut s = obj(sale(105, 1, 10));
        s["lines"] = json!({"L": [{"M": {"lineNo": {"N": "1"}, "quantity": {"N": "3"}, "unitPrice": {"N": "7.3333"}, "vatRate": {"N": "21"}, "lineTotal": {"N": "21.9999"}}}]});
        s["totalNet"] = json!({"N": "22.00"});
        s["totalVat"] = json!({"N": "4.62"});
        s["totalGross"] = json!({"N": "26.62"});
        assert_eq!(check_item(Entity::Sales, &s), []);
    }

    #[test]
    fn duplicates_in_file_order() {
        let mut v = Validator::new();
        assert!(v
            .check(Entity::Buyers, 1, &line(&buyer(1, "anna@acme.example")))
            .is_valid());
        // Buyer 6's first row reuses buyer 1's email; its second row reuses id 6.
        let first6 = v.check(Entity::Buyers, 6, &line(&buyer(6, "Anna@Acme.example")));
        assert_eq!(
            first6.rule(),
            Some(Rule::Format),
            "not lower case, and a duplicate"
        );
        assert_eq!(
            first6.violations[1].reason,
            "email \"Anna@Acme.example\" is already used by buyer 1 at line 1 (email-index: one buyer per email)"
        );
        let second6 = v.check(Entity::Buyers, 7, &line(&buyer(6, "copy@dup.example")));
        assert_eq!(rules(&second6.violations), ["duplicate_key"]);
        assert_eq!(
            second6.reason(),
            format!(
                "buyerId {} (legacy buyer 6) already belongs to the item at line 6 (the first item with a key claims it)",
                new_id("buyers", 6)
            )
        );
        // The second copy did not claim its email.
        assert!(v
            .check(Entity::Buyers, 8, &line(&buyer(8, "copy@dup.example")))
            .is_valid());
        let bad = v.check(Entity::Buyers, 9, b"{not json");
        assert_eq!(bad.rule(), Some(Rule::Malformed));
    }

    #[test]
    fn references_need_valid_buyers_and_producers() {
        let mut v = Validator::new();
        assert!(v
            .check(Entity::Buyers, 1, &line(&buyer(1, "anna@acme.example")))
            .is_valid());
        assert!(!v
            .check(Entity::Buyers, 2, &line(&buyer(6, "anna@acme.example")))
            .is_valid());
        v.transform_rejected(Entity::Buyers, 8, 3);
        assert!(v
            .check(Entity::Producers, 1, &line(&producer(10)))
            .is_valid());
        assert!(v
            .check(Entity::Sales, 1, &line(&sale(100, 1, 10)))
            .is_valid());
        let to6 = v.check(Entity::Sales, 2, &line(&sale(105, 6, 10)));
        assert_eq!(
            to6.reason(),
            format!(
                "buyerId {} (legacy buyer 6) is a buyer rejected by validation (duplicate_email, buyers.ndjson line 2)",
                new_id("buyers", 6)
            )
        );
        let to99 = v.check(Entity::Sales, 3, &line(&sale(103, 99, 11)));
        assert_eq!(rules(&to99.violations), ["reference", "reference"]);
        assert_eq!(
            to99.violations[0].reason,
            format!(
                "buyerId {} (legacy buyer 99) matches no buyer in buyers.ndjson",
                new_id("buyers", 99)
            )
        );
        assert_eq!(to99.violations[1].attribute, "producerId");
        let to8 = v.check(Entity::Sales, 4, &line(&sale(107, 8, 10)));
        assert_eq!(
            to8.reason(),
            format!(
                "buyerId {} (legacy buyer 8) is a buyer rejected by the transform (buyers.rejects.ndjson line 3)",
                new_id("buyers", 8)
            )
        );
        // A buyerId that is not its buyerLegacyId's key.
        let mut s = sale(108, 1, 10);
        s["buyerLegacyId"] = json!({"N": "2"});
        let w = v.check(Entity::Sales, 5, &line(&s));
        assert_eq!(
            w.reason(),
            format!(
                "buyerId {:?} is not the key of buyerLegacyId 2 ({})",
                new_id("buyers", 1),
                new_id("buyers", 2)
            )
        );
        let dup = v.check(Entity::Sales, 6, &line(&sale(100, 1, 10)));
        assert_eq!(dup.rule(), Some(Rule::DuplicateKey));
    }

    #[test]
    fn oversized_items_are_refused() {
        let mut s = sale(104, 1, 10);
        s["notes"] = json!({"S": "x".repeat(MAX_ITEM_BYTES)});
        let mut v = Validator::new();
        let r = v.check(Entity::Sales, 1, &line(&s));
        assert_eq!(r.rule(), Some(Rule::Size));
    }
}
