//! The document's summary block and Ferry's JSON report.

use super::runner::Runner;
use super::verify::Check;
use crate::output::TableCounts;
use crate::transform::Entity;
use ferry_shared::{Exit, FerryError};
use serde::Serialize;
use std::collections::BTreeMap;

/// The summary block, exactly in the document's format.
pub fn block(tables: &[(String, TableCounts)]) -> String {
    let rule = "=".repeat(60);
    let mut s = format!("{rule}\nMIGRATION SUMMARY\n{rule}\n");
    let (mut migrated, mut errors, mut processed) = (0, 0, 0);
    for (name, c) in tables {
        s.push_str(&format!(
            "{name:<20}: {:>6} migrated, {:>6} errors, {:>6} skipped\n",
            c.migrated, c.errors, c.skipped
        ));
        migrated += c.migrated;
        errors += c.errors;
        processed += c.processed;
    }
    s.push_str(&format!(
        "{}\n{:<20}: {migrated:>6} migrated, {errors:>6} errors\n",
        "-".repeat(60),
        "TOTAL"
    ));
    s.push_str(&format!(
        "Success rate: {:.1}%\n{rule}",
        rate(migrated, processed)
    ));
    s
}

/// Σmigrated ÷ Σprocessed × 100 (0 when nothing was processed).
pub fn rate(migrated: u64, processed: u64) -> f64 {
    if processed == 0 {
        0.0
    } else {
        migrated as f64 * 100.0 / processed as f64
    }
}

/// The JSON report.
#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    run_id: &'a str,
    started_at: &'a str,
    finished_at: String,
    dry_run: bool,
    source: String,
    target: String,
    tables: BTreeMap<&'a str, &'a TableCounts>,
    success_rate: f64,
    verification: &'a [Check],
    verified: bool,
    matched_by: BTreeMap<String, u64>,
    rejects_dir: String,
    backup_dir: Option<String>,
    exit_code: u8,
}

impl Runner {
    /// The per-table counts: the transform's processed and skipped, the loads' migrated and
    /// errors (a row the database refused is an error).
    fn tables(&self) -> anyhow::Result<Vec<(String, TableCounts)>> {
        let users: TableCounts = serde_json::from_str(&fs_err::read_to_string(
            self.path("transformed/users.counts.json"),
        )?)?;
        let mut out = vec![("users".to_string(), users)];
        for entity in Entity::all() {
            let counts = self.counts(entity)?;
            for table in entity
                .tables()
                .iter()
                .filter(|t| **t != "charge_code_authorized_users")
            {
                let mut c = counts.tables.get(*table).cloned().unwrap_or_default();
                let (loaded, refused) = self.loaded(table)?;
                let extra = counts.extra_rows.get(*table).copied().unwrap_or(0);
                c.migrated = loaded.saturating_sub(extra);
                c.errors += refused;
                out.push(((*table).to_string(), c));
            }
        }
        Ok(out)
    }

    /// (rows loaded, rows refused) from a load's report.
    fn loaded(&self, table: &str) -> anyhow::Result<(u64, u64)> {
        let text = fs_err::read_to_string(self.path(&format!("reports/load-{table}.json")))?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let t = &v["tables"][0];
        Ok((
            t["migrated"].as_u64().unwrap_or(0),
            t["errors"].as_u64().unwrap_or(0),
        ))
    }

    /// Prints the summary, writes the report, and gives the exit code.
    pub fn finish(&mut self, checks: Vec<Check>) -> anyhow::Result<Exit> {
        let tables = self.tables()?;
        let summary = block(&tables);
        tracing::info!(target: ferry_shared::logging::FILE_ONLY, "\n{summary}");
        if !self.args.quiet {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{summary}");
        }
        let unbalanced: Vec<&str> = tables
            .iter()
            .filter(|(_, c)| c.processed != c.migrated + c.skipped + c.errors)
            .map(|(n, _)| n.as_str())
            .collect();
        for (n, c) in tables
            .iter()
            .filter(|(_, c)| c.processed != c.migrated + c.skipped + c.errors)
        {
            tracing::error!(
                "{n}: {} processed ≠ {} migrated + {} skipped + {} errors",
                c.processed,
                c.migrated,
                c.skipped,
                c.errors
            );
        }
        let verified = checks.iter().all(|c| c.ok) && unbalanced.is_empty();
        let rejected = tables.iter().any(|(_, c)| c.skipped + c.errors > 0);
        let exit = match (verified, rejected) {
            (false, _) => Exit::Failure,
            (true, true) => Exit::Rejects,
            (true, false) => Exit::Ok,
        };
        self.report(&tables, &checks, verified, exit)?;
        if !verified {
            let failed = checks.iter().filter(|c| !c.ok).count();
            return Err(FerryError::Failed(format!(
                "verification failed: {failed} check(s) and {} unbalanced table(s); see {}",
                unbalanced.len(),
                self.path("reports/verification.json").display()
            ))
            .into());
        }
        let sums: Vec<String> = tables
            .iter()
            .map(|(n, c)| {
                format!(
                    "{n} {} = {} + {} + {}",
                    c.processed, c.migrated, c.skipped, c.errors
                )
            })
            .collect();
        tracing::info!(
            "processed = migrated + skipped + errors: {}",
            sums.join(", ")
        );
        tracing::info!(
            "verification: {} checks passed (counts, money totals, references)",
            checks.len()
        );
        if rejected {
            tracing::warn!(
                "legacy rows not migrated, each with its reason: {}",
                self.path("rejects").display()
            );
        }
        tracing::info!(
            "Migration completed successfully!{}",
            if self.args.dry_run {
                " (dry run: nothing was changed)"
            } else {
                ""
            }
        );
        Ok(exit)
    }

    fn report(
        &self,
        tables: &[(String, TableCounts)],
        checks: &[Check],
        verified: bool,
        exit: Exit,
    ) -> anyhow::Result<()> {
        let (migrated, processed) = tables
            .iter()
            .fold((0, 0), |(m, p), (_, c)| (m + c.migrated, p + c.processed));
        let report = Report {
            tool: "migrate-lustores",
            run_id: &self.run.run_id,
            started_at: &self.run.started_at,
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            dry_run: self.args.dry_run,
            source: self.source.endpoint.to_string(),
            target: self.target.endpoint.to_string(),
            tables: tables.iter().map(|(n, c)| (n.as_str(), c)).collect(),
            success_rate: (rate(migrated, processed) * 10.0).round() / 10.0,
            verification: checks,
            verified,
            matched_by: self.counts(Entity::Sales)?.matched_by,
            rejects_dir: self.path("rejects").display().to_string(),
            backup_dir: self
                .run
                .backup_dir
                .as_ref()
                .map(|d| d.display().to_string()),
            exit_code: exit.code(),
        };
        ferry_shared::fsutil::write_json_atomic(
            &self.path("reports/migration_report.json"),
            &report,
        )?;
        let Some(path) = &self.args.report else {
            return Ok(());
        };
        let mut run = ferry_shared::report::RunReport::start("migrate-lustores");
        run.dry_run = self.args.dry_run;
        run.source = Some(report.source.clone());
        run.target = Some(report.target.clone());
        run.inputs = vec![report.source.clone()];
        run.outputs = vec![report.target.clone()];
        for (name, c) in tables {
            let mut s = ferry_shared::report::TableStats::new(name);
            s.migrated = c.migrated;
            s.skipped = c.skipped;
            s.errors = c.errors;
            run.tables.push(s);
        }
        run.emit_details(&report, exit, Some(path))?;
        Ok(())
    }
}
