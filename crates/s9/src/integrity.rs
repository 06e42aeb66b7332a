//! `check-integrity`: the document's `integrity_checks.py` ("Data Integrity Report"). It
//! reads the loaded tables back and runs the document's four checks on what DynamoDB
//! holds, not on the files that were sent: foreign key references (each sale's buyer and
//! producer are in their tables), required fields, data types and business rules (the
//! same rules `validate-s9` applies before the load, [`crate::validate::check_item`]).
//! The result, with counts and the first examples of each failed check, goes to
//! `data/reports/integrity_report.json`; any failure exits 1.
//!
//! Memory: the keys of the buyers and producers tables are held (to check the sales'
//! references); the sales are streamed.

use crate::transform::Entity;
use crate::validate::{check_item, Rule};
use clap::Parser;
use ferry_dynamo::av::item_to_json;
use ferry_dynamo::client::DynamoArgs;
use ferry_dynamo::scan::SegmentScan;
use ferry_shared::cli::CommonArgs;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{Exit, FerryError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// Command line of `check-integrity`.
#[derive(Parser, Debug, Serialize)]
#[command(
    name = "check-integrity",
    version,
    about = "Read the S9 tables back from DynamoDB and check references, required fields, types and business rules.",
    after_help = "Examples:\n  check-integrity --endpoint-url http://127.0.0.1:5500\n  migrate-s9 --phase validate --target      # the same, from the orchestrator\n  jq .checks data/reports/integrity_report.json\nExit codes: 0 every check passed, 1 a check failed (see the report), 2 usage."
)]
pub struct Args {
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: DynamoArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub tables: crate::compare::Tables,
    /// Only this entity (repeatable; default all). Sales still read the buyers' and
    /// producers' keys for their references.
    #[arg(long, value_enum, value_name = "ENTITY")]
    pub entity: Vec<Entity>,
    /// Where the report goes.
    #[arg(
        long,
        short = 'o',
        alias = "output-file",
        default_value = "data/reports/integrity_report.json",
        value_name = "FILE"
    )]
    pub output: PathBuf,
    /// Examples listed per check.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_examples: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}

/// One failed check on one item.
#[derive(Debug, Serialize, Clone)]
pub struct Example {
    pub entity: &'static str,
    pub key: String,
    pub attribute: String,
    pub reason: String,
}

/// One of the four checks.
#[derive(Debug, Serialize, Default)]
pub struct Check {
    /// Items (or references) checked.
    pub checked: u64,
    /// Failures.
    pub failed: u64,
    pub passed: bool,
    pub examples: Vec<Example>,
}

/// The report.
#[derive(Debug, Serialize)]
pub struct IntegrityReport {
    pub generated_at: String,
    /// Items read per entity.
    pub items: BTreeMap<&'static str, u64>,
    pub checks: BTreeMap<&'static str, Check>,
    pub passed: bool,
}

/// The check a rule of the validator belongs to.
fn check_of(rule: Rule) -> &'static str {
    match rule {
        Rule::Required => "required_fields",
        Rule::Type | Rule::Key | Rule::Malformed => "data_types",
        _ => "business_rules",
    }
}

struct Checker<'a> {
    args: &'a Args,
    report: IntegrityReport,
    buyers: HashSet<String>,
    producers: HashSet<String>,
}

impl Checker<'_> {
    fn fail(&mut self, check: &'static str, ex: Example) {
        let c = self.report.checks.entry(check).or_default();
        c.failed += 1;
        if c.examples.len() < self.args.max_examples {
            c.examples.push(ex);
        }
    }

    /// The rules of one item, and for a sale its references.
    fn item(&mut self, e: Entity, m: &Map<String, Value>, check_rules: bool) {
        let key_attr = crate::validate::key_attribute(e);
        let key = m[key_attr]["S"].as_str().unwrap_or("").to_string();
        match e {
            Entity::Buyers => {
                self.buyers.insert(key.clone());
            }
            Entity::Producers => {
                self.producers.insert(key.clone());
            }
            Entity::Sales => self.references(m, &key),
        }
        if !check_rules {
            return;
        }
        *self.report.items.entry(e.name()).or_default() += 1;
        for name in ["required_fields", "data_types", "business_rules"] {
            self.report.checks.entry(name).or_default().checked += 1;
        }
        let mut seen = HashSet::new();
        for v in check_item(e, m) {
            let check = check_of(v.rule);
            // One failure per item and check; the examples say which attribute.
            if seen.insert(check) {
                let ex = Example {
                    entity: e.name(),
                    key: key.clone(),
                    attribute: v.attribute.clone(),
                    reason: v.reason.clone(),
                };
                self.fail(check, ex);
            }
        }
    }

    /// A sale's buyer and producer must be in their tables.
    fn references(&mut self, m: &Map<String, Value>, key: &str) {
        let args = self.args;
        for (attr, table) in [
            ("buyerId", &args.tables.buyers_table),
            ("producerId", &args.tables.producers_table),
        ] {
            let value = m[attr]["S"].as_str().unwrap_or("");
            let set = if attr == "buyerId" {
                &self.buyers
            } else {
                &self.producers
            };
            let ok = set.contains(value);
            self.report
                .checks
                .entry("foreign_keys")
                .or_default()
                .checked += 1;
            if !ok {
                let ex = Example {
                    entity: "sales",
                    key: key.to_string(),
                    attribute: attr.into(),
                    reason: format!("{attr} {value:?} is not in {table}"),
                };
                self.fail("foreign_keys", ex);
            }
        }
    }

    /// Reads a whole table (one scan), checking each item.
    async fn table(
        &mut self,
        client: &aws_sdk_dynamodb::Client,
        e: Entity,
        table: &str,
        check_rules: bool,
    ) -> Result<(), FerryError> {
        if ferry_dynamo::table::describe(client, table)
            .await?
            .is_none()
        {
            return Err(FerryError::NotFound(format!(
                "table {table} ({}) does not exist",
                e.name()
            )));
        }
        let mut scan = SegmentScan::new(client.clone(), table, 0, 1, None);
        while let Some(page) = scan.next_page().await? {
            for item in page.items() {
                if let Value::Object(m) = item_to_json(item) {
                    self.item(e, &m, check_rules);
                }
            }
        }
        Ok(())
    }
}

/// Runs `check-integrity`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let client = args.conn.client().await?;
    let mut run_report = RunReport::start("check-integrity");
    run_report.source = Some(args.conn.describe());
    let selected = if args.entity.is_empty() {
        vec![Entity::Buyers, Entity::Producers, Entity::Sales]
    } else {
        args.entity.clone()
    };
    let sales = selected.contains(&Entity::Sales);
    let mut c = Checker {
        args: &args,
        report: IntegrityReport {
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            items: BTreeMap::new(),
            checks: BTreeMap::new(),
            passed: true,
        },
        buyers: HashSet::new(),
        producers: HashSet::new(),
    };
    for e in [Entity::Buyers, Entity::Producers, Entity::Sales] {
        let table = args.tables.of(e);
        let check = selected.contains(&e);
        if check || (sales && e != Entity::Sales) {
            c.table(&client, e, table, check).await?;
        }
    }
    finish(c.report, run_report, &args)
}

/// Writes the report, logs each check, and says the exit.
fn finish(mut report: IntegrityReport, mut run: RunReport, args: &Args) -> anyhow::Result<Exit> {
    let mut failed = 0;
    for (name, check) in &mut report.checks {
        check.passed = check.failed == 0;
        failed += check.failed;
        if check.passed {
            tracing::info!("integrity {name}: {} checked, all passed", check.checked);
        } else {
            tracing::error!(
                "integrity {name}: {} of {} failed; first: {}",
                check.failed,
                check.checked,
                check.examples.first().map_or("", |x| x.reason.as_str())
            );
        }
    }
    report.passed = failed == 0;
    ferry_shared::fsutil::write_json_atomic(&args.output, &report)?;
    tracing::info!("integrity report → {}", args.output.display());
    for (e, n) in &report.items {
        let mut s = TableStats::new(e);
        s.migrated = *n;
        run.tables.push(s);
    }
    run.finish();
    if failed > 0 {
        run.fail(Exit::Failure);
    }
    if failed > 0 {
        run.status = "different".into();
    }
    run.emit(true, args.common.report.as_deref())?;
    if failed > 0 {
        let checks = report.checks.values().filter(|c| !c.passed).count();
        return Err(FerryError::Failed(format!(
            "integrity: {failed} failures in {checks} of {} checks; see {}",
            report.checks.len(),
            args.output.display()
        ))
        .into());
    }
    Ok(Exit::Ok)
}

/// The whole of `check-integrity`: flags, runtime, exit code.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("check-integrity", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
