//! `validate`, `migrate`, `rollback`, `status`, `fingerprint`: each a short sequence of the
//! library's pieces, in the document's order.

use crate::checks::ValidationReport;
use crate::cli::{MigrateArgs, RollbackArgs};
use crate::engine::{self, Ctx};
use crate::fingerprint::Fingerprint;
use crate::report::MigrationReport;
use ferry_shared::{DbContext, Exit, FerryError, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Writes a line of the command's output (stdout: the command's result, not a log).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Prints a validation report as the document's CLI does: summary, then CRITICAL, ERROR,
/// WARNING groups.
fn show(v: &ValidationReport) {
    say(&v.summary);
    for p in v.problems() {
        say(&format!("  {p}"));
    }
}

fn write_validation(ctx: &Ctx, v: &ValidationReport) -> Result<PathBuf> {
    fs_err::create_dir_all(&ctx.reports)?;
    let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S_%3f");
    let p = ctx.reports.join(format!("validation_report_{stamp}.json"));
    ferry_shared::fsutil::write_json_atomic(&p, v)?;
    Ok(p)
}

/// The validation that fits the database: the BEFORE rules, or the 31 checks once migrated.
pub async fn validation(ctx: &Ctx) -> Result<ValidationReport> {
    let mut client = crate::db::connect(&ctx.ep).await?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .db_context("begin")?;
    let v = if crate::db::shape(&tx).await? == "after" {
        crate::checks::after(&tx).await?
    } else {
        crate::before::plan(&tx, &ctx.mapping).await?.1
    };
    tx.rollback()
        .await
        .db_context("end the read-only transaction")?;
    Ok(v)
}

/// `validate`.
pub async fn validate(ctx: &Ctx) -> Result<Exit> {
    let v = validation(ctx).await?;
    show(&v);
    let p = write_validation(ctx, &v)?;
    tracing::info!("validation report {}", p.display());
    if v.is_valid {
        Ok(Exit::Ok)
    } else {
        Err(FerryError::Failed(format!(
            "validation failed: {} errors, {} critical ({})",
            v.errors,
            v.critical_issues,
            p.display()
        )))
    }
}

fn write_report(ctx: &Ctx, rep: &MigrationReport) -> Result<()> {
    let p = rep.write(&ctx.reports)?;
    tracing::info!("report {}", p.display());
    Ok(())
}

/// Asks on the terminal; with no terminal and no answer, the answer is no.
fn confirmed() -> Result<bool> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "Proceed with actual migration? (yes/no) ");
    let _ = err.flush();
    drop(err);
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line)?;
    if n == 0 && !std::io::stdin().is_terminal() {
        return Err(FerryError::Usage("no answer to \"Proceed with actual migration?\" (stdin is closed); pass --yes to run without asking".into()));
    }
    Ok(matches!(line.trim().to_lowercase().as_str(), "yes" | "y"))
}

/// `migrate`: validation, dry run, confirmation, migration, validation again.
pub async fn migrate(ctx: &Ctx, a: &MigrateArgs) -> Result<Exit> {
    if !a.force {
        let v = validation(ctx).await?;
        show(&v);
        write_validation(ctx, &v)?;
        if !v.is_valid && !a.skip_validation {
            return Err(FerryError::Failed("pre-migration validation failed; fix the data (or the rules), or --skip-validation".into()));
        }
    }
    if a.dry_run {
        return run_once(ctx, true).await;
    }
    if !a.force {
        let (rep, outcome) = engine::run(ctx, true).await;
        write_report(ctx, &rep)?;
        outcome.map_err(|e| match e {
            FerryError::Usage(_) => e,
            e => FerryError::Failed(format!(
                "the dry run failed, so the migration was not run: {e}"
            )),
        })?;
        say(&format!(
            "Dry run completed: {} records migrated, then rolled back",
            rep.total_records_migrated
        ));
        if !a.yes && !confirmed()? {
            say("Migration cancelled.");
            return Ok(Exit::Ok);
        }
    }
    let exit = run_once(ctx, false).await?;
    let v = validation(ctx).await?;
    show(&v);
    write_validation(ctx, &v)?;
    if !v.is_valid {
        tracing::warn!("post-migration validation found problems (the migration is committed; `rollback` undoes it)");
    }
    Ok(exit)
}

async fn run_once(ctx: &Ctx, dry_run: bool) -> Result<Exit> {
    let (rep, outcome) = engine::run(ctx, dry_run).await;
    write_report(ctx, &rep)?;
    outcome?;
    let what = if dry_run {
        "Dry run completed (rolled back)"
    } else {
        "Migration completed"
    };
    say(&format!(
        "{what}: migration {} — {} records migrated in {:.2}s",
        rep.migration_id, rep.total_records_migrated, rep.duration_secs
    ));
    for s in &rep.steps {
        say(&format!(
            "  {:<28} {:>9}/{:<9} {:.2}s",
            s.name,
            s.records_processed,
            s.records_total,
            s.duration_secs.unwrap_or(0.0)
        ));
    }
    if let Some(c) = rep.rollback_info.as_ref().and_then(|i| i.command.as_ref()) {
        say(&format!("To undo it: {c}"));
    }
    Ok(Exit::Ok)
}

/// The backup file a rollback names.
fn backup_file(ctx: &Ctx, a: &RollbackArgs) -> Result<PathBuf> {
    match (&a.backup, &a.migration_id) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(id)) => {
            uuid::Uuid::parse_str(id).map_err(|_| {
                FerryError::Usage(format!("--migration-id {id}: not a migration id (a UUID)"))
            })?;
            Ok(crate::backup::path_for(&ctx.backups, id))
        }
        (None, None) => Err(FerryError::Usage(
            "rollback needs --backup FILE or --migration-id ID".into(),
        )),
    }
}

/// The fingerprint digest the migration's report recorded when it committed.
fn committed_digest(reports: &Path, id: &str) -> Option<String> {
    let p = reports.join(format!("migration_report_{id}.json"));
    let text = fs_err::read_to_string(p).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    ((v["status"] == "completed" || v["status"] == "committing") && v["dry_run"] == false)
        .then(|| v["fingerprint_after"].as_str().map(str::to_string))?
}

/// `rollback`.
pub async fn rollback(ctx: &Ctx, a: &RollbackArgs) -> Result<Exit> {
    let path = backup_file(ctx, a)?;
    let (header, mut reader) = crate::restore::read_header(&path)?;
    let mut client = crate::db::connect(&ctx.ep).await?;
    crate::db::lock(&client).await?;
    let tx = client
        .transaction()
        .await
        .db_context("begin the rollback")?;
    let here = crate::backup::database_id(&tx).await?;
    if let Some(id) = header.database_id.as_ref().filter(|id| **id != here) {
        return Err(FerryError::Usage(format!(
            "{} is the backup of another database ({id}; this is {here}): refused, whatever the flags",
            path.display()
        )));
    }
    let now = Fingerprint::take(&tx).await?;
    if now == header.fingerprint {
        say(&format!(
            "Nothing to roll back: the database already equals the state backed up by migration {}",
            header.migration_id
        ));
        return Ok(Exit::Ok);
    }
    match committed_digest(&ctx.reports, &header.migration_id) {
        Some(d) if d == now.digest() => {}
        Some(d) if !a.force => return Err(FerryError::Usage(format!("the database changed since migration {} committed (fingerprint {d}, now {}): a rollback would lose those changes; --force rolls back anyway", header.migration_id, now.digest()))),
        None if !a.force => return Err(FerryError::Usage(format!("no completed report of migration {} in {} to check the database against; --force rolls back without that check", header.migration_id, ctx.reports.display()))),
        _ => tracing::warn!("--force: rolling back without the check that nothing changed since the migration"),
    }
    let started = std::time::Instant::now();
    let rows = crate::restore::restore(&tx, &header, &mut reader).await?;
    tx.commit().await.db_context("commit the rollback")?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "rolled back migration {}: {rows} rows restored in {secs:.2}s",
        header.migration_id
    );
    say(&format!("Rollback completed: migration {} undone from {}; {rows} rows restored; fingerprint equal to the one taken before the migration ({})", header.migration_id, path.display(), header.fingerprint.digest()));
    Ok(Exit::Ok)
}

/// Newest files of `dir` whose name starts with `prefix`.
fn newest(dir: &Path, prefix: &str, n: usize) -> Vec<String> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, String)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .filter_map(|e| {
            Some((
                e.metadata().ok()?.modified().ok()?,
                e.path().display().to_string(),
            ))
        })
        .collect();
    files.sort();
    files.into_iter().rev().take(n).map(|(_, p)| p).collect()
}

/// `status`.
pub async fn status(ctx: &Ctx) -> Result<Exit> {
    let client = crate::db::connect(&ctx.ep).await?;
    say(&format!("database: {}", ctx.ep));
    say(&format!("model: {}", crate::db::shape(&client).await?));
    let applied = client
        .query(
            "SELECT migration_name FROM applied_migrations ORDER BY migration_name",
            &[],
        )
        .await;
    let names: Vec<String> = applied
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    say(&format!(
        "schema migrations recorded: {} of {}",
        names.len(),
        ctx.migrations.len()
    ));
    say(&format!(
        "fingerprint: {}",
        Fingerprint::take(&client).await?.digest()
    ));
    for p in newest(&ctx.reports, "migration_report_", 5) {
        let text = fs_err::read_to_string(&p).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        say(&format!(
            "report: {p}: {} {} (dry run {}, started {})",
            v["migration_id"], v["status"], v["dry_run"], v["started_at"]
        ));
    }
    for p in newest(&ctx.backups, "migration_backup_", 5) {
        say(&format!("backup: {p}"));
    }
    Ok(Exit::Ok)
}

/// `fingerprint`: the JSON on stdout.
pub async fn fingerprint(ctx: &Ctx) -> Result<Exit> {
    let client = crate::db::connect(&ctx.ep).await?;
    let fp = Fingerprint::take(&client).await?;
    let text = serde_json::to_string_pretty(&fp).map_err(|e| FerryError::Failed(e.to_string()))?;
    say(&text);
    Ok(Exit::Ok)
}
