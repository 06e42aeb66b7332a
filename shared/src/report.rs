//! The run report: a summary table on stderr and the same as JSON, one shape for every tool
//! (documented by `docs/report.schema.json`). A tool fills the counts; the run's identity
//! (version, redacted command line, throughput samples) is added here, so no tool can write
//! a report without it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Counts for one table (or file, or entity).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableStats {
    /// Table name.
    pub table: String,
    /// Rows written (or, in a dry run, that would be written).
    pub migrated: u64,
    /// Rows deliberately not written (already present, filtered, ignored duplicates).
    pub skipped: u64,
    /// Rows rejected (in the rejects file).
    pub errors: u64,
    /// Values changed by a documented conversion, by kind (e.g. `zero_date_to_null`).
    pub conversions: BTreeMap<String, u64>,
    /// Seconds spent.
    pub duration_secs: f64,
    /// Rows per second of this run (rows done before a resume do not count).
    pub rows_per_sec: f64,
    /// Rows already done by an earlier, interrupted run (included in `migrated`).
    #[serde(skip_serializing_if = "is_zero")]
    pub resumed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TableStats {
    /// New stats for `table`.
    pub fn new(table: &str) -> Self {
        TableStats {
            table: table.to_string(),
            ..Default::default()
        }
    }
}

/// Version of the report's shape: a consumer checks it before reading the rest.
pub const REPORT_VERSION: u32 = 1;

/// One throughput sample: rows done by this run after `secs` seconds.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct Sample {
    /// Seconds since the run started.
    pub secs: f64,
    /// Rows done by then (all units of the run together).
    pub rows: u64,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// Tool name.
    pub tool: String,
    /// Ferry's version.
    pub version: String,
    /// The command line, passwords in URLs replaced by `***`.
    pub command_line: Vec<String>,
    /// What the run read, by name (files, redacted URLs, tables).
    pub inputs: Vec<String>,
    /// What the run wrote, by name.
    pub outputs: Vec<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Seconds.
    pub duration_secs: f64,
    /// True when nothing was written.
    pub dry_run: bool,
    /// Where from (password redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where to (password redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Per-table counts.
    pub tables: Vec<TableStats>,
    /// Sums over tables.
    pub totals: TableStats,
    /// migrated / (migrated + errors), in percent.
    pub success_rate: f64,
    /// Rejects file, when rows were rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<String>,
    /// `running`, `ok`, `rejects`, `different` (a comparison found a difference),
    /// `failed` or `interrupted`.
    pub status: String,
    /// The exit code.
    pub exit_code: u8,
    /// The one-line error, when the run failed or was interrupted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command that continues an interrupted run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_command: Option<String>,
    /// Things that went wrong without failing the run.
    pub warnings: Vec<String>,
    /// Free-form facts worth knowing (resumed from, stream checksum matched, …).
    pub notes: Vec<String>,
    /// Rows done over time, a sample every few seconds (for the HTML report's chart).
    pub throughput: Vec<Sample>,
    /// What only this tool reports (e.g. `verify`'s verdict per table), in its own shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// Named counts of what happened on the way (e.g. `retried_unprocessed_items`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
    #[serde(skip)]
    start: Option<Instant>,
}

impl RunReport {
    /// Starts a report now.
    pub fn start(tool: &str) -> Self {
        RunReport {
            report_version: REPORT_VERSION,
            tool: tool.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: crate::run::command_line(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            started_at: crate::run::started_at().unwrap_or_else(now),
            finished_at: String::new(),
            duration_secs: 0.0,
            dry_run: false,
            source: None,
            target: None,
            tables: Vec::new(),
            totals: TableStats::new("TOTAL"),
            success_rate: 100.0,
            rejects_file: None,
            status: "running".into(),
            exit_code: 0,
            error: None,
            resume_command: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            throughput: Vec::new(),
            details: None,
            counters: BTreeMap::new(),
            start: Some(crate::run::started().unwrap_or_else(Instant::now)),
        }
    }

    /// Closes the report: totals, rate, status and exit code.
    pub fn finish(&mut self) -> crate::Exit {
        self.finished_at = now();
        self.duration_secs = self.start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        let mut t = TableStats::new("TOTAL");
        for s in &mut self.tables {
            if s.duration_secs > 0.0 {
                s.rows_per_sec = s.migrated.saturating_sub(s.resumed) as f64 / s.duration_secs;
            }
            t.resumed += s.resumed;
            t.migrated += s.migrated;
            t.skipped += s.skipped;
            t.errors += s.errors;
            for (k, v) in &s.conversions {
                *t.conversions.entry(k.clone()).or_default() += v;
            }
        }
        t.duration_secs = self.duration_secs;
        if self.duration_secs > 0.0 {
            t.rows_per_sec = t.migrated.saturating_sub(t.resumed) as f64 / self.duration_secs;
        }
        let denom = t.migrated + t.errors;
        self.success_rate = if denom == 0 {
            100.0
        } else {
            t.migrated as f64 * 100.0 / denom as f64
        };
        let exit = if t.errors > 0 {
            crate::Exit::Rejects
        } else {
            crate::Exit::Ok
        };
        self.status = if t.errors > 0 { "rejects" } else { "ok" }.into();
        self.exit_code = exit.code();
        self.totals = t;
        exit
    }

    /// Marks the report failed with an exit code (`interrupted` for Ctrl+C or SIGTERM).
    pub fn fail(&mut self, code: crate::Exit) {
        self.finish();
        // A run that stopped before handling any row did not succeed at 100%.
        if self.totals.migrated + self.totals.errors == 0 {
            self.success_rate = 0.0;
        }
        self.status = if code == crate::Exit::Interrupted {
            "interrupted"
        } else {
            "failed"
        }
        .into();
        self.exit_code = code.code();
    }

    /// Writes a tool's own report (a document's shape) as this report's `details`, closed
    /// with `exit`: how a tool whose document prescribes a report still writes the common
    /// one for `--report`.
    pub fn emit_details<D: Serialize>(
        mut self,
        details: &D,
        exit: crate::Exit,
        json_path: Option<&Path>,
    ) -> crate::Result<()> {
        self.finish();
        if exit != crate::Exit::Ok {
            self.status = match exit {
                crate::Exit::Rejects => "rejects",
                crate::Exit::Interrupted => "interrupted",
                _ => "failed",
            }
            .into();
        }
        self.exit_code = exit.code();
        self.details = Some(
            serde_json::to_value(details)
                .map_err(|e| crate::FerryError::Failed(format!("report details: {e}")))?,
        );
        self.emit(true, json_path)
    }

    /// [`fail`](Self::fail) with the error that stopped the run.
    pub fn fail_with(&mut self, err: &anyhow::Error) {
        self.fail(crate::exit::exit_code_for(err));
        self.error = Some(crate::exit::one_line(err));
        if self.status == "interrupted" {
            self.resume_command = crate::run::resume_command();
        }
    }

    /// The summary table, as printed on stderr.
    pub fn summary_table(&self) -> String {
        let mut rows: Vec<[String; 7]> = vec![[
            "table".into(),
            "migrated".into(),
            "skipped".into(),
            "errors".into(),
            "success".into(),
            "rows/s".into(),
            "duration".into(),
        ]];
        for s in self.tables.iter().chain(std::iter::once(&self.totals)) {
            let denom = s.migrated + s.errors;
            let rate = if denom == 0 {
                100.0
            } else {
                s.migrated as f64 * 100.0 / denom as f64
            };
            rows.push([
                s.table.clone(),
                s.migrated.to_string(),
                s.skipped.to_string(),
                s.errors.to_string(),
                // Floored, so 20 rejects in 2,000,000 rows do not read as 100.00%.
                format!("{:.2}%", (rate * 100.0).floor() / 100.0),
                format!("{:.0}", s.rows_per_sec),
                format!("{:.2}s", s.duration_secs),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        let title = format!(
            "{}{}: {}",
            self.tool,
            if self.dry_run { " (dry run)" } else { "" },
            self.status
        );
        out.push_str(&title);
        out.push('\n');
        for (n, r) in rows.iter().enumerate() {
            if n == rows.len() - 1 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 12));
                out.push('\n');
            }
            for (i, cell) in r.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str("  ");
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.push('\n');
        }
        if !self.totals.conversions.is_empty() {
            out.push_str("conversions:");
            for (k, v) in &self.totals.conversions {
                out.push_str(&format!(" {k}={v}"));
            }
            out.push('\n');
        }
        if !self.counters.is_empty() {
            out.push_str("counters:");
            for (k, v) in &self.counters {
                out.push_str(&format!(" {k}={v}"));
            }
            out.push('\n');
        }
        if let Some(r) = &self.rejects_file {
            out.push_str(&format!("rejected rows: {r}\n"));
        }
        out
    }

    /// Prints the summary on stderr (unless quiet) and writes the JSON report (and the HTML
    /// page, `--report-html`) if asked. Once a run has emitted its report, the exit path does
    /// not write another.
    #[allow(clippy::print_stderr)]
    pub fn emit(&self, quiet: bool, json_path: Option<&Path>) -> crate::Result<()> {
        if !quiet {
            crate::logging::human_line(self.summary_table().trim_end(), false);
        }
        let mut full = self.clone();
        if full.throughput.is_empty() {
            full.throughput = crate::progress::samples();
        }
        crate::run::emitted(&full, json_path)
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
