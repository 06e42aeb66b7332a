//! The end of a run, whether it failed or not: the final checkpoint and rollback SQL, the
//! document's JSON report in the migration folder, and the summary on stderr.

use crate::migrate::Shared;
use crate::plan::TablePlan;
use crate::runner::Outcome;
use crate::setup::{Migration, RunMode};
use crate::state;
use ferry_shared::cli::CommonArgs;
use ferry_shared::progress::Progress;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{Exit, Result};
use std::path::{Path, PathBuf};

/// What finishing needs from the run, gathered so that `finish` takes one value.
pub(crate) struct Finish<'a> {
    pub shared: &'a Shared,
    pub plans: &'a [TablePlan],
    pub migration: &'a Migration,
    pub mode: RunMode,
    pub enable_rollback: bool,
    pub common: &'a CommonArgs,
}

/// Finishes the run: progress, report, final state, rollback SQL, JSON report, summary.
/// Returns the run's exit code, or the error that stopped it.
pub(crate) fn finish(f: &Finish<'_>, mut report: RunReport, outcome: Outcome) -> Result<Exit> {
    let Outcome { stats, failure } = outcome;
    if let Ok(mut pr) = f.shared.progress.lock() {
        std::mem::replace(&mut *pr, Progress::new("consolidate", None, true)).finish();
    }
    report.tables = stats.iter().flatten().cloned().collect();
    let code = report.finish();
    let rejects_count = f.shared.rejects.lock().map(|r| r.count()).unwrap_or(0);
    if rejects_count > 0 {
        report.rejects_file = Some(f.migration.rejects.display().to_string());
    }
    let rollback_file = if f.mode.dry_run() {
        None
    } else {
        save_final_state(f, failure.is_none(), &mut report)?
    };
    if let Some(e) = &failure {
        report.fail(e.exit());
    }
    let errors = f
        .shared
        .errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    let doc = document_report(
        &report,
        f.plans,
        &stats,
        errors,
        &DocInfo {
            migration_id: &f.migration.id,
            validate_only: f.mode.validate_only(),
            rejects: rejects_count
                .gt(&0)
                .then_some(f.migration.rejects.as_path()),
            rollback: rollback_file.as_deref(),
            run_dir: &f.migration.dir,
        },
    );
    let report_path = f.migration.dir.join("migration_report.json");
    ferry_shared::fsutil::write_json_atomic(&report_path, &doc)?;
    report.details = serde_json::to_value(&doc).ok();
    report
        .notes
        .push(format!("report: {}", report_path.display()));
    report.emit(f.common.quiet, f.common.report.as_deref())?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(code)
}

/// Saves the final state (finished when nothing failed) and, with rollback on, writes the
/// rollback SQL. Returns the rollback file.
fn save_final_state(
    f: &Finish<'_>,
    finished: bool,
    report: &mut RunReport,
) -> Result<Option<PathBuf>> {
    let mut st = f
        .shared
        .state
        .lock()
        .map(|g| g.0.clone())
        .unwrap_or_default();
    st.finished = finished;
    if let Ok(g) = f.shared.state.lock() {
        g.1.save(&st)?;
    }
    if !f.enable_rollback {
        return Ok(None);
    }
    let p = state::write_rollback(&f.migration.dir, &st, &[])?;
    report.notes.push(format!("rollback: {}", p.display()));
    Ok(Some(p))
}

struct DocInfo<'a> {
    migration_id: &'a str,
    validate_only: bool,
    rejects: Option<&'a Path>,
    rollback: Option<&'a Path>,
    run_dir: &'a Path,
}

/// The document's JSON report: migration id, times, overall and per-table stats, errors
/// and a summary.
fn document_report(
    r: &RunReport,
    plans: &[TablePlan],
    stats: &[Option<TableStats>],
    errors: Vec<serde_json::Value>,
    info: &DocInfo<'_>,
) -> serde_json::Value {
    let mut table_stats = serde_json::Map::new();
    let (mut total, mut processed, mut ok, mut failed, mut skipped) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for (p, s) in plans.iter().zip(stats) {
        let s = s.clone().unwrap_or_else(|| TableStats::new(&p.target));
        let proc_ = s.migrated + s.errors + s.skipped;
        total += p.total;
        processed += proc_;
        ok += s.migrated;
        failed += s.errors;
        skipped += s.skipped;
        table_stats.insert(
            format!("{}.{}", p.schema, p.target),
            serde_json::json!({
                "source": format!("{}.{}", p.db, p.source),
                "total_records": p.total,
                "processed_records": proc_,
                "successful_records": s.migrated,
                "failed_records": s.errors,
                "skipped_records": s.skipped,
                "progress_percentage": pct(proc_, p.total),
                "success_rate": pct(s.migrated, s.migrated + s.errors),
                "duration": s.duration_secs,
                "records_per_second": s.rows_per_sec,
                "conversions": s.conversions,
            }),
        );
    }
    let n_errors = errors.len();
    serde_json::json!({
        "migration_id": info.migration_id,
        "start_time": r.started_at,
        "end_time": r.finished_at,
        "duration_seconds": r.duration_secs,
        "overall_stats": {
            "total_records": total,
            "processed_records": processed,
            "successful_records": ok,
            "failed_records": failed,
            "skipped_records": skipped,
            "progress_percentage": pct(processed, total),
            "success_rate": pct(ok, ok + failed),
        },
        "table_stats": table_stats,
        "errors": errors,
        "summary": {
            "status": r.status,
            "exit_code": r.exit_code,
            "dry_run": r.dry_run,
            "validate_only": info.validate_only,
            "tables": plans.len(),
            "errors_listed": n_errors,
            "rejects_file": info.rejects.map(|p| p.display().to_string()),
            "rollback_file": info.rollback.map(|p| p.display().to_string()),
            "migration_dir": info.run_dir.display().to_string(),
            "source": r.source,
            "target": r.target,
            "notes": r.notes,
        },
    })
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        100.0
    } else {
        (a as f64 * 10000.0 / b as f64).round() / 100.0
    }
}
