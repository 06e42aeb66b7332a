//! The shape of `data/reports/validation_report.json`.

use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Invalid items not listed (over `--max-examples`).
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
