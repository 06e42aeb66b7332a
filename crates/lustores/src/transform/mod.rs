//! `transform-lustores --entity E`: legacy rows (as `extract` wrote them) → target rows.
//!
//! One file per target entity holds its field map as pure functions from a legacy record to
//! target records; this module reads the input, routes each result to the output, the
//! rejects or the rounding file, and writes the counts the summary and the verification use.
//! Target ids are assigned here, in the legacy data's sorted order, so a rerun over the same
//! legacy data gives the same target, row for row.

pub mod categories;
pub mod chargecodes;
pub mod index;
pub mod items;
pub mod orders;
pub mod reader;
pub mod sales;
pub mod suppliers;

use crate::mapping::Mapping;
use crate::money;
use clap::{Parser, ValueEnum};
use ferry_shared::cli::CommonArgs;
use ferry_shared::{Exit, FerryError, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The user every migrated row is created by: the document's fallback "Legacy System" user.
pub const LEGACY_USER: &str = "legacy-system";

/// What one run of `transform-lustores` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Categories,
    Suppliers,
    Items,
    Chargecodes,
    Orders,
    Sales,
}

impl Entity {
    /// Every entity, in the document's step order.
    pub fn all() -> [Entity; 6] {
        [
            Entity::Categories,
            Entity::Suppliers,
            Entity::Items,
            Entity::Chargecodes,
            Entity::Orders,
            Entity::Sales,
        ]
    }

    /// Its name in file names and the step list.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Categories => "categories",
            Entity::Suppliers => "suppliers",
            Entity::Items => "items",
            Entity::Chargecodes => "chargecodes",
            Entity::Orders => "orders",
            Entity::Sales => "sales",
        }
    }

    /// The target tables it writes, in load order (parents first).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Entity::Categories => &["categories"],
            Entity::Suppliers => &["suppliers"],
            Entity::Items => &["items"],
            Entity::Chargecodes => &["chargecodes", "charge_code_authorized_users"],
            Entity::Orders => &["orders", "order_items"],
            Entity::Sales => &["sales", "sale_items"],
        }
    }

    /// The legacy tables it reads (`extract` files in the input folder).
    pub fn legacy_tables(self) -> &'static [&'static str] {
        match self {
            Entity::Categories => &[],
            Entity::Suppliers => &["supplier"],
            Entity::Items => &["stock", "vatparams"],
            Entity::Chargecodes => &["charge"],
            Entity::Orders => &["orders", "vatparams"],
            Entity::Sales => &["issues", "vatparams"],
        }
    }
}

/// Command line of `transform-lustores`.
#[derive(Parser, Debug, Clone, Serialize)]
#[command(
    name = "transform-lustores",
    version,
    about = "Turn extracted physicsstores rows into university_inventory rows (one entity)",
    after_help = "Examples:\n  transform-lustores --entity items --input data/lustores/extracted --output data/lustores/transformed\n  transform-lustores --entity sales --input data/lustores/extracted --output data/lustores/transformed --mapping my-mapping.json\n\nReads INPUT/TABLE.ndjson (extract's output); writes OUTPUT/TABLE.ndjson per target table,\nOUTPUT/ENTITY.counts.json, and REJECTS/ENTITY.rejects.ndjson, REJECTS/ENTITY.rounding.ndjson.\nOrders read OUTPUT/items.ndjson and OUTPUT/suppliers.ndjson, sales OUTPUT/items.ndjson: run\nsuppliers and items first. --report FILE writes the counts there too. Exit 3 when a legacy row was skipped or rejected."
)]
pub struct Args {
    /// The target entity to produce.
    #[arg(long, value_enum)]
    pub entity: Entity,
    /// Folder of the extracted legacy tables.
    #[arg(long, value_name = "DIR")]
    pub input: PathBuf,
    /// Folder of the target rows.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Folder of the rejects and rounding files (default: OUTPUT/../rejects).
    #[arg(long, value_name = "DIR")]
    pub rejects_dir: Option<PathBuf>,
    /// The mapping file (default: the shipped config/lustores/mapping.json).
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    #[command(flatten)]
    #[serde(skip)]
    pub common: CommonArgs,
}

/// What every entity's transform needs.
pub struct Ctx {
    pub input: PathBuf,
    pub output: PathBuf,
    pub rejects_dir: PathBuf,
    pub mapping: Mapping,
}

impl Ctx {
    /// The extracted legacy table `name`.
    pub fn legacy(&self, name: &str) -> PathBuf {
        self.input.join(format!("{name}.ndjson"))
    }

    /// The target rows of `table`.
    pub fn target(&self, table: &str) -> PathBuf {
        self.output.join(format!("{table}.ndjson"))
    }

    /// The VAT rate as a fraction: the first `vatparams` row's percentage ÷ 100, else the
    /// mapping's default (the document's 0.20).
    pub fn vat_rate(&self) -> Result<Decimal> {
        let path = self.legacy("vatparams");
        let mut lines = reader::Lines::open(&path)?;
        while let Some((line, text)) = lines.next_line()? {
            let row: crate::legacy::VatParams =
                serde_json::from_str(text).map_err(|e| FerryError::BadRecord {
                    file: path.display().to_string(),
                    line,
                    reason: e.to_string(),
                })?;
            if let Some(pct) = row.vat.and_then(money::exact) {
                return Ok(money::round4(pct / Decimal::ONE_HUNDRED));
            }
        }
        Decimal::from_str(&self.mapping.default_vat_rate).map_err(|e| {
            FerryError::Usage(format!(
                "default_vat_rate {:?}: {e}",
                self.mapping.default_vat_rate
            ))
        })
    }
}

/// Runs one entity's transform; exit 3 when a legacy row was not migrated.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let mapping =
        Mapping::load(args.mapping.as_deref()).map_err(|e| FerryError::Usage(e.to_string()))?;
    let rejects_dir = args
        .rejects_dir
        .clone()
        .unwrap_or_else(|| sibling(&args.output, "rejects"));
    fs_err::create_dir_all(&args.output)?;
    fs_err::create_dir_all(&rejects_dir)?;
    let ctx = Ctx {
        input: args.input.clone(),
        output: args.output.clone(),
        rejects_dir,
        mapping,
    };
    // A failed run must not leave an earlier run's complete files looking like its own.
    let counts_file = ctx
        .output
        .join(format!("{}.counts.json", args.entity.name()));
    for f in args
        .entity
        .tables()
        .iter()
        .map(|t| ctx.target(t))
        .chain([counts_file.clone()])
    {
        match fs_err::remove_file(&f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let run = ferry_shared::report::RunReport::start("transform-lustores");
    let counts = transform(&ctx, args.entity)?;
    counts.write(&counts_file)?;
    for (table, c) in &counts.tables {
        tracing::info!(
            "{table}: {} processed, {} to migrate, {} skipped, {} errors, {} values rounded",
            c.processed,
            c.migrated,
            c.skipped,
            c.errors,
            c.rounded
        );
    }
    let rejected = counts.tables.values().any(|c| c.skipped + c.errors > 0);
    let exit = if rejected { Exit::Rejects } else { Exit::Ok };
    let mut run = run;
    run.inputs = vec![args.input.display().to_string()];
    run.outputs = vec![args.output.display().to_string()];
    for (table, c) in &counts.tables {
        let mut s = ferry_shared::report::TableStats::new(table);
        s.migrated = c.migrated;
        s.skipped = c.skipped;
        s.errors = c.errors;
        if c.rounded > 0 {
            s.conversions.insert("rounded".into(), c.rounded);
        }
        run.tables.push(s);
    }
    run.emit_details(&counts, exit, args.common.report.as_deref())?;
    Ok(exit)
}

/// One entity's transform.
pub fn transform(ctx: &Ctx, entity: Entity) -> Result<crate::output::Counts> {
    match entity {
        Entity::Categories => categories::run(ctx),
        Entity::Suppliers => suppliers::run(ctx),
        Entity::Items => items::run(ctx),
        Entity::Chargecodes => chargecodes::run(ctx),
        Entity::Orders => orders::run(ctx),
        Entity::Sales => sales::run(ctx),
    }
}

fn sibling(dir: &Path, name: &str) -> PathBuf {
    dir.parent()
        .map(|p| p.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `transform-lustores`'s main.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("transform-lustores", run)
}
