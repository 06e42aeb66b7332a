//! What a transform writes: the target rows (NDJSON, complete or absent), the legacy rows it
//! did not migrate with the step and the reason, the values the target's two decimal places
//! changed, and the counts the summary and the verification read.

use ferry_shared::fsutil::{create_private, sync_dir, write_json_atomic};
use ferry_shared::record::part_path;
use ferry_shared::{FerryError, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An NDJSON file written as `NAME.part` and renamed when finished.
pub struct Ndjson {
    path: PathBuf,
    out: BufWriter<fs_err::File>,
    rows: u64,
}

impl Ndjson {
    /// Starts `path` (through its `.part`).
    pub fn create(path: &Path) -> Result<Ndjson> {
        let out = BufWriter::with_capacity(1 << 16, create_private(&part_path(path))?);
        Ok(Ndjson {
            path: path.to_path_buf(),
            out,
            rows: 0,
        })
    }

    /// Writes one record.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        serde_json::to_writer(&mut self.out, record)
            .map_err(|e| FerryError::Failed(format!("write {}: {e}", self.path.display())))?;
        self.out.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes, fsyncs and gives the file its name.
    pub fn finish(self) -> Result<u64> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| FerryError::Io(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(part_path(&self.path), &self.path)?;
        sync_dir(&self.path);
        Ok(self.rows)
    }
}

/// What happened to a legacy row that is not in the target as it was.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Left out by a rule of the mapping (duplicate, no item, no code).
    Skipped,
    /// Could not be read or converted (malformed line, a value no column holds).
    Error,
    /// Migrated, with a warning the operator should read (an unknown supplier kept as NULL,
    /// order lines that disagree on the order's date).
    Kept,
}

/// One line of a rejects file.
#[derive(Serialize)]
pub struct Reject<'a> {
    pub step: &'a str,
    pub file: &'a str,
    pub line: u64,
    pub action: Action,
    pub reason: &'a str,
    pub record: &'a RawValue,
}

/// One line of a rounding file: a value the target's scale changed.
#[derive(Serialize)]
pub struct Rounding<'a> {
    pub step: &'a str,
    pub file: &'a str,
    pub line: u64,
    pub table: &'a str,
    pub column: &'a str,
    pub legacy: String,
    pub stored: String,
}

/// Per target table: the document's counters.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableCounts {
    /// Legacy rows examined for this table.
    pub processed: u64,
    pub migrated: u64,
    pub skipped: u64,
    pub errors: u64,
    /// Values rounded to the target's scale (listed in the rounding file).
    pub rounded: u64,
    /// Rows kept with a warning (an unknown supplier, lines that disagree on the date).
    pub warnings: u64,
}

/// Money of the migrated rows: the legacy values and what the target must hold.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MoneyTotal {
    /// What is summed (`Σ price × current_stock`).
    pub what: String,
    /// The sum over the migrated rows of the legacy values.
    pub legacy: Decimal,
    /// The same over the values as stored (two places): the target must hold exactly this.
    pub expected: Decimal,
    /// The legacy sum over the rows that were not migrated.
    pub not_migrated: Decimal,
}

/// `ENTITY.counts.json`: what one transform did.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub step: String,
    /// Legacy rows read (one legacy table per step).
    pub source_rows: u64,
    pub tables: BTreeMap<String, TableCounts>,
    pub money: BTreeMap<String, MoneyTotal>,
    /// Extra target rows the step writes that no legacy row counts for (the `GENERAL`
    /// charge code), so the verification expects them.
    #[serde(default)]
    pub extra_rows: BTreeMap<String, u64>,
    /// How issues found their item, by rule.
    #[serde(default)]
    pub matched_by: BTreeMap<String, u64>,
}

impl Counts {
    /// The counters of `table`.
    pub fn table(&mut self, table: &str) -> &mut TableCounts {
        self.tables.entry(table.to_string()).or_default()
    }

    /// Reads `ENTITY.counts.json`.
    pub fn read(path: &Path) -> Result<Counts> {
        let text = fs_err::read_to_string(path)?;
        serde_json::from_str(&text)
            .map_err(|e| FerryError::Failed(format!("{}: {e}", path.display())))
    }

    /// Writes it atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json_atomic(path, self)
    }
}

/// The side files of one step: rejects and roundings, each NDJSON.
pub struct SideFiles {
    pub step: String,
    pub file: String,
    rejects: Ndjson,
    rounding: Ndjson,
}

impl SideFiles {
    /// `DIR/STEP.rejects.ndjson` and `DIR/STEP.rounding.ndjson` for input `file`.
    pub fn create(dir: &Path, step: &str, file: &str) -> Result<SideFiles> {
        // An earlier run's rejects are kept under a stamped name, never replaced.
        if let Some(kept) =
            ferry_shared::fsutil::rotate_aside(&dir.join(format!("{step}.rejects.ndjson")))?
        {
            tracing::info!("the earlier run's rejects are kept as {}", kept.display());
        }
        Ok(SideFiles {
            step: step.to_string(),
            file: file.to_string(),
            rejects: Ndjson::create(&dir.join(format!("{step}.rejects.ndjson")))?,
            rounding: Ndjson::create(&dir.join(format!("{step}.rounding.ndjson")))?,
        })
    }

    /// Records a legacy row that is not migrated.
    pub fn reject(
        &mut self,
        line: u64,
        action: Action,
        reason: &str,
        record: &RawValue,
    ) -> Result<()> {
        if self.rejects.rows() < 20 {
            tracing::warn!("{} {}:{line}: {reason}", self.step, self.file);
        }
        let r = Reject {
            step: &self.step,
            file: &self.file,
            line,
            action,
            reason,
            record,
        };
        self.rejects.write(&r)
    }

    /// Records a legacy row that is not migrated and adds its legacy money (`value`) to what
    /// the step did not migrate, so the legacy total still reconciles.
    pub fn not_migrated(
        &mut self,
        money: &mut MoneyTotal,
        line: u64,
        action: Action,
        reason: &str,
        record: &RawValue,
        value: Option<f64>,
    ) -> Result<()> {
        money.not_migrated += value.and_then(crate::money::exact).unwrap_or_default();
        self.reject(line, action, reason, record)
    }

    /// Records a value the target holds differently: rounded to its scale, or NULL (`None`)
    /// stored as zero in a NOT NULL column.
    pub fn rounded(
        &mut self,
        line: u64,
        table: &str,
        column: &str,
        legacy: Option<Decimal>,
        stored: Decimal,
    ) -> Result<()> {
        let r = Rounding {
            step: &self.step,
            file: &self.file,
            line,
            table,
            column,
            legacy: legacy.map_or_else(|| "NULL".to_string(), |l| l.normalize().to_string()),
            stored: crate::money::text2(stored),
        };
        self.rounding.write(&r)
    }

    /// Rows rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejects.rows()
    }

    /// Finishes both files.
    pub fn finish(self) -> Result<()> {
        self.rejects.finish()?;
        self.rounding.finish()?;
        Ok(())
    }
}
