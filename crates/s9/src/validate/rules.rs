//! The rules an item is judged by, and the table designs (attribute names, DynamoDB types,
//! which are required) of docs/migrations/s9-to-dynamodb.md.

use crate::transform::Entity;
use serde::Serialize;
use serde_json::Value;

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
    pub(super) fn new(rule: Rule, attribute: &str, value: Option<&str>, reason: String) -> Self {
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
pub(super) enum Ty {
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
pub(super) enum Req {
    Yes,
    No,
    /// Required unless the item is soft-deleted (a deleted draft sale may have no number).
    UnlessDeleted,
}

pub(super) type Spec = &'static [(&'static str, Ty, Req)];

pub(super) const BUYER: Spec = &[
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

pub(super) const PRODUCER: Spec = &[
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

pub(super) const SALE: Spec = &[
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

pub(super) const ADDRESS: Spec = &[
    ("line1", Ty::S, Req::No),
    ("line2", Ty::S, Req::No),
    ("city", Ty::S, Req::No),
    ("postalCode", Ty::S, Req::No),
    ("countryCode", Ty::S, Req::No),
];

pub(super) const SALE_LINE: Spec = &[
    ("lineNo", Ty::Int, Req::Yes),
    ("productCode", Ty::S, Req::No),
    ("description", Ty::S, Req::No),
    ("quantity", Ty::N, Req::Yes),
    ("unitPrice", Ty::N, Req::Yes),
    ("vatRate", Ty::N, Req::Yes),
    ("lineTotal", Ty::N, Req::Yes),
];

pub(super) fn singular(e: Entity) -> &'static str {
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

pub(super) fn idx(e: Entity) -> usize {
    match e {
        Entity::Buyers => 0,
        Entity::Producers => 1,
        Entity::Sales => 2,
    }
}
