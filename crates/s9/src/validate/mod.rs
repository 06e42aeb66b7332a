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
//!
//! The module is split along the way an item is checked: [`rules`] names the rules and the
//! table designs, [`formats`] the text formats, [`attrs`] the required attributes and
//! types, [`checks`] everything one item can break on its own, [`validator`] what needs
//! the items seen before, [`report`] the report's shape and [`run`] the tool itself.

mod attrs;
mod checks;
mod formats;
mod report;
mod rules;
mod run;
mod validator;

/// The whole of `validate-s9`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("validate-s9", run)
}

#[cfg(test)]
mod tests;

pub use checks::check_item;
pub use formats::{is_country, is_currency, is_date, is_email, is_timestamp, is_vat};
pub use report::{EntityReport, Listed, Totals, TransformReject, ValidationReport};
pub use rules::{key_attribute, Rule, Violation, BUYER_STATUSES, PRODUCER_STATUSES, SALE_STATUSES};
pub use run::run;
pub use validator::{Validator, Verdict};

use crate::transform::Entity;
use clap::Parser;
use ferry_shared::cli::CommonArgs;
use std::path::PathBuf;

/// Command line of `validate-s9`.
#[derive(Parser, Debug, serde::Serialize)]
#[command(
    name = "validate-s9",
    version,
    about = "Validate transformed S9 items (DynamoDB JSON) before loading: required attributes, types, formats, business rules, references, duplicates.",
    after_help = "Valid items are copied unchanged to --output DIR/ENTITY.ndjson, invalid ones go to --rejects with the rule that failed, and --validation-report counts everything.\nExit codes: 0 all valid (or --continue-on-error), 2 usage error, 3 invalid items.\n\nExamples:\n  validate-s9\n  validate-s9 --input data/transformed/ --verbose --strict\n  validate-s9 --entity sales --continue-on-error\n  jq '.entities.sales.by_rule' data/reports/validation_report.json"
)]
pub struct Args {
    /// Folder of transformed items: buyers.ndjson, producers.ndjson, sales.ndjson, and the
    /// transforms' ENTITY.rejects.ndjson when they rejected records.
    #[arg(long, value_name = "DIR", default_value = "data/transformed")]
    pub input: PathBuf,
    /// Where the entities read only for the sales' references are (default: --input):
    /// a batch of sales checks against the buyers and producers of every batch.
    #[arg(long, value_name = "DIR")]
    pub references: Option<PathBuf>,
    /// Items of an entity that come before --input's in source order (earlier batches of
    /// an incremental migration): ENTITY=FILE, repeatable, in order. They are read first,
    /// only to claim their keys and emails, so a duplicate across batches is rejected
    /// exactly as in one whole run.
    #[arg(long, value_name = "ENTITY=FILE")]
    pub before: Vec<String>,
    /// Folder for the valid items, ENTITY.ndjson, each line byte for byte as read.
    #[arg(short, long, value_name = "DIR", default_value = "data/validated")]
    pub output: PathBuf,
    /// Invalid items as NDJSON rejects (file, line, table, column, value, rule, reason, record).
    #[arg(
        long,
        env = "FERRY_REJECTS",
        value_name = "FILE",
        default_value = "data/reports/validation_rejects.ndjson"
    )]
    pub rejects: PathBuf,
    /// The validation report (JSON): counts per entity and rule, the first invalid items.
    /// Not the run report of --report, which every tool writes.
    #[arg(
        long = "validation-report",
        alias = "report-file",
        value_name = "FILE",
        default_value = "data/reports/validation_report.json"
    )]
    pub report_file: PathBuf,
    /// Validate only these entities (repeatable; default all three). Sales still need
    /// buyers.ndjson and producers.ndjson to check their references.
    #[arg(long = "entity", value_enum, value_name = "ENTITY")]
    pub entities: Vec<Entity>,
    /// Exit 0 even when items are invalid (the rejects file and report are still written).
    #[arg(long, env = "FERRY_CONTINUE_ON_ERROR", conflicts_with = "strict")]
    pub continue_on_error: bool,
    /// Any rejected record fails the run (exit 3): invalid items and records the
    /// transforms rejected alike (the document's `validate_data.py --strict`).
    #[arg(long)]
    pub strict: bool,
    /// Validate and write the report and rejects, but not the validated item files.
    #[arg(long)]
    pub dry_run: bool,
    /// How many invalid items (and transform rejects per entity) the report lists.
    #[arg(
        long = "max-examples",
        alias = "max-listed",
        default_value_t = 100,
        value_name = "N"
    )]
    pub max_listed: usize,
    /// Stop (exit 3, outputs left unfinished) after this many invalid items; 0 means no limit.
    #[arg(long, env = "FERRY_MAX_REJECTS", default_value_t = 0, value_name = "N")]
    pub max_rejects: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}
