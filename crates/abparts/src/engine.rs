//! The migration: the 11 steps in one PostgreSQL transaction (DDL included), so a failure at
//! any step leaves the database exactly as it was, and a dry run is the real run rolled back.
//! Both are proven, not assumed: the fingerprint is read again after every rollback.

use crate::backup::{self, Header};
use crate::before::{self, Plan};
use crate::fingerprint::Fingerprint;
use crate::mapping::Mapping;
use crate::report::{MigrationReport, RollbackInfo, Status};
use crate::steps;
use ferry_generic::apply_migrations::Migration;
use ferry_shared::conn::Endpoint;
use ferry_shared::{DbContext, FerryError, Result};
use std::path::PathBuf;
use std::time::Instant;
use tokio_postgres::{IsolationLevel, Transaction};

/// Everything a run needs.
pub struct Ctx {
    /// The database.
    pub ep: Endpoint,
    /// The rules.
    pub mapping: Mapping,
    /// The AFTER schema's migrations.
    pub migrations: Vec<Migration>,
    /// `reports/`.
    pub reports: PathBuf,
    /// `backups/`.
    pub backups: PathBuf,
    /// Test-only: fail after this step (1–11), from `FERRY_TEST_FAIL_AT_STEP`.
    pub fail_at: Option<usize>,
}

impl MigrationReport {
    fn begin(&mut self, i: usize) {
        let s = &mut self.steps[i];
        s.status = Status::InProgress;
        s.started_at = Some(crate::report::now());
        tracing::info!("step {}/11 {}: {}", i + 1, s.name, s.description);
    }

    /// Closes step `i` with its outcome; a failure (or the test switch) becomes the error.
    fn settle<T>(
        &mut self,
        i: usize,
        clock: Instant,
        r: Result<(T, steps::Counts)>,
        fail_at: Option<usize>,
    ) -> Result<T> {
        let s = &mut self.steps[i];
        s.completed_at = Some(crate::report::now());
        s.duration_secs = Some(clock.elapsed().as_secs_f64());
        let r = r.and_then(|v| match fail_at {
            Some(k) if k == i + 1 => Err(FerryError::Failed(format!(
                "failure injected after step {k} (FERRY_TEST_FAIL_AT_STEP)"
            ))),
            _ => Ok(v),
        });
        match r {
            Ok((v, (done, total))) => {
                s.status = Status::Completed;
                (s.records_processed, s.records_total) = (done, total);
                tracing::info!(
                    "step {}/11 {}: {done}/{total} records in {:.2}s",
                    i + 1,
                    s.name,
                    clock.elapsed().as_secs_f64()
                );
                Ok(v)
            }
            Err(e) => {
                s.status = Status::Failed;
                s.error_message = Some(format!("Failed step {}: {e}", s.name));
                Err(e)
            }
        }
    }
}

/// Runs `f` as step `i` (0-based) of the report.
macro_rules! step {
    ($rep:expr, $ctx:expr, $i:expr, $body:expr) => {{
        $rep.begin($i);
        let clock = Instant::now();
        let r = $body;
        $rep.settle($i, clock, r, $ctx.fail_at)?
    }};
}

/// Opens the transaction, locks the tables against writers, exports the snapshot pg_dump
/// reads, and takes the fingerprint of the state a failure must return to. The table lock is
/// the transaction's first statement: a REPEATABLE READ snapshot is taken by the first
/// query, so taken after the lock it cannot miss a write committed meanwhile.
async fn open<'a>(
    client: &'a mut tokio_postgres::Client,
) -> Result<(Transaction<'a>, String, Fingerprint)> {
    crate::db::lock(client).await?;
    before::require_before(client).await?;
    let tables = crate::db::public_tables(client).await?;
    let list: Vec<String> = tables
        .iter()
        .map(|t| format!("public.{}", ferry_shared::sql::quote_pg(t)))
        .collect();
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await
        .db_context("begin the migration's transaction")?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '30s'; SET LOCAL work_mem = '128MB'; SET LOCAL maintenance_work_mem = '256MB'; LOCK TABLE {} IN EXCLUSIVE MODE",
        list.join(", ")
    ))
    .await
    .db_context(
        "lock the tables against writers (another session holds them: wait for it, or stop it)",
    )?;
    if crate::db::public_tables(&tx).await? != tables {
        return Err(FerryError::Failed(
            "a table was created or dropped while the migration started; run it again".into(),
        ));
    }
    let snapshot: String = tx
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .db_context("export the snapshot")?
        .get(0);
    let fp = Fingerprint::take(&tx).await?;
    Ok((tx, snapshot, fp))
}

/// Logs findings: an INFO finding (rows reported, not a problem) as info, the rest as warnings.
fn log_problems(problems: &[String]) {
    for p in problems {
        match p.strip_prefix("INFO ") {
            Some(rest) => tracing::info!("{rest}"),
            None => tracing::warn!("{p}"),
        }
    }
}

/// Steps 1 and 2.
async fn validate_and_back_up(
    ctx: &Ctx,
    tx: &Transaction<'_>,
    snapshot: &str,
    fp: &Fingerprint,
    rep: &mut MigrationReport,
) -> Result<Plan> {
    let plan = step!(rep, ctx, 0, {
        let r = before::plan(tx, &ctx.mapping).await;
        r.and_then(|(plan, v)| {
            let total = crate::before::records(&plan);
            let problems = v.problems();
            let valid = v.is_valid;
            rep.validation_errors = problems
                .iter()
                .filter(|p| p.starts_with("CRITICAL") || p.starts_with("ERROR"))
                .cloned()
                .collect();
            log_problems(&problems);
            rep.pre_validation = Some(v);
            if valid {
                Ok((plan, (total, total)))
            } else {
                Err(FerryError::Failed(format!(
                    "validation found {} problem(s) no rule can resolve; nothing was changed: {}",
                    rep.validation_errors.len(),
                    rep.validation_errors.join("; ")
                )))
            }
        })
    });
    let path = backup::path_for(&ctx.backups, &rep.migration_id);
    let mut header = Header {
        format: backup::FORMAT.into(),
        migration_id: rep.migration_id.clone(),
        created_at: crate::report::now(),
        database: ctx.ep.to_string(),
        database_id: None,
        fingerprint: fp.clone(),
        pre_data: String::new(),
        post_data: String::new(),
        sequences: Vec::new(),
        tables: Vec::new(),
    };
    let total: i64 = fp.tables.values().map(|t| t.rows).sum();
    let written = step!(rep, ctx, 1, {
        let r = backup::write(tx, &ctx.ep, snapshot, &mut header, &path).await;
        r.map(|w| {
            let rows = i64::try_from(w.rows).unwrap_or(i64::MAX);
            tracing::info!(
                "backup {} ({} rows, {} bytes)",
                w.path.display(),
                w.rows,
                w.bytes
            );
            (w, (rows, total))
        })
    });
    rep.rollback_info = Some(RollbackInfo {
        backup_file: Some(written.path),
        backup_rows: written.rows,
        automatic: None,
        command: None,
    });
    Ok(plan)
}

/// Steps 3–11.
async fn migrate_steps(
    ctx: &Ctx,
    tx: &Transaction<'_>,
    plan: &Plan,
    rep: &mut MigrationReport,
) -> Result<()> {
    let m = &ctx.mapping;
    let early = step!(
        rep,
        ctx,
        2,
        steps::organizations(tx, m, plan, &ctx.migrations).await
    );
    step!(rep, ctx, 3, steps::warehouses(tx, m).await.map(|c| ((), c)));
    step!(rep, ctx, 4, steps::users(tx, plan).await.map(|c| ((), c)));
    step!(rep, ctx, 5, steps::parts(tx, plan).await.map(|c| ((), c)));
    step!(
        rep,
        ctx,
        6,
        steps::machines(tx, plan).await.map(|c| ((), c))
    );
    let mut not_migrated = Vec::new();
    step!(
        rep,
        ctx,
        7,
        steps::inventory(tx, m, plan, &mut not_migrated)
            .await
            .map(|c| ((), c))
    );
    rep.not_migrated = not_migrated;
    let at = chrono::DateTime::parse_from_rfc3339(&rep.started_at)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    step!(
        rep,
        ctx,
        8,
        steps::transactions(tx, m, at).await.map(|c| ((), c))
    );
    step!(rep, ctx, 9, post_validation(tx, rep).await);
    step!(
        rep,
        ctx,
        10,
        steps::cleanup(tx, early).await.map(|c| ((), c))
    );
    Ok(())
}

/// Step 10: the 31 checks and the balance of step 9.
async fn post_validation(
    tx: &Transaction<'_>,
    rep: &mut MigrationReport,
) -> Result<((), steps::Counts)> {
    let v = crate::checks::after(tx).await?;
    let problems = v.problems();
    log_problems(&problems);
    tracing::info!("{}", v.summary);
    let (valid, total) = (v.is_valid, i64::try_from(v.total_checks).unwrap_or(0));
    rep.post_validation = Some(v);
    let unbalanced = steps::unbalanced(tx).await?;
    if unbalanced > 0 {
        return Err(FerryError::Failed(format!("{unbalanced} part(s) or warehouse(s) whose opening transactions do not add up to their stock")));
    }
    if !valid {
        rep.validation_errors = problems
            .into_iter()
            .filter(|p| p.starts_with("CRITICAL") || p.starts_with("ERROR"))
            .collect();
        return Err(FerryError::Failed(format!(
            "post-migration validation failed: {}",
            rep.validation_errors.join("; ")
        )));
    }
    Ok(((), (total, total)))
}

/// The whole run. Returns the report (always) and the outcome.
pub async fn run(ctx: &Ctx, dry_run: bool) -> (MigrationReport, Result<()>) {
    let mut rep = MigrationReport::new(dry_run);
    tracing::info!(
        "migration {} starts{}",
        rep.migration_id,
        if dry_run {
            " (dry run: every step for real, then rolled back)"
        } else {
            ""
        }
    );
    let outcome = run_in(ctx, dry_run, &mut rep).await;
    rep.finish(outcome.is_ok());
    if let Err(e) = &outcome {
        tracing::error!("migration {} failed: {e}", rep.migration_id);
    }
    (rep, outcome)
}

async fn run_in(ctx: &Ctx, dry_run: bool, rep: &mut MigrationReport) -> Result<()> {
    let mut client = crate::db::connect(&ctx.ep).await?;
    let result = transaction(ctx, &mut client, dry_run, rep).await;
    if result.is_ok() && !dry_run {
        return result;
    }
    let fp_before = rep.fingerprint_before.clone();
    // The transaction is over (committed, or rolled back by the dry run or the failure):
    // read the database again, so the report says what it holds, not what it should.
    let now = match Fingerprint::take(&client).await {
        Ok(f) => f,
        Err(e) if result.is_err() => {
            tracing::warn!("cannot read the fingerprint after the failure: {e}");
            return result;
        }
        Err(e) => return Err(e),
    };
    let digest = now.digest();
    rep.fingerprint_after = Some(digest.clone());
    if fp_before.is_some() {
        let equal = fp_before.as_deref() == Some(digest.as_str());
        let how = if dry_run {
            "dry run rolled back"
        } else {
            "transaction rolled back"
        };
        let info = rep.rollback_info.get_or_insert(RollbackInfo {
            backup_file: None,
            backup_rows: 0,
            automatic: None,
            command: None,
        });
        info.automatic = Some(format!("{how}; fingerprint after = before: {equal}"));
        tracing::info!(
            "{how}: the database is {} (fingerprint {})",
            if equal {
                "exactly as before"
            } else {
                "NOT as before"
            },
            digest
        );
        // Only a database proven unchanged makes the backup useless: after a failed COMMIT
        // whose outcome is unknown, it may be the one way back.
        if result.is_err() && equal {
            remove_useless_backup(ctx, rep);
        }
        if !equal {
            return Err(FerryError::Failed(
                "the database's fingerprint changed although the transaction was rolled back"
                    .into(),
            ));
        }
    }
    result
}

/// A failed run's backup holds the state the database is still in: removed, so that
/// `backups/` lists only what a rollback may need.
fn remove_useless_backup(ctx: &Ctx, rep: &mut MigrationReport) {
    if let Some(info) = rep.rollback_info.as_mut() {
        info.backup_file = None;
    }
    let f = backup::path_for(&ctx.backups, &rep.migration_id);
    match fs_err::remove_file(&f) {
        Ok(()) => tracing::info!(
            "removed the backup {}: the database is as it was",
            f.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("{e}"),
    }
}

async fn transaction(
    ctx: &Ctx,
    client: &mut tokio_postgres::Client,
    dry_run: bool,
    rep: &mut MigrationReport,
) -> Result<()> {
    let (tx, snapshot, fp) = open(client).await?;
    rep.fingerprint_before = Some(fp.digest());
    let plan = validate_and_back_up(ctx, &tx, &snapshot, &fp, rep).await?;
    migrate_steps(ctx, &tx, &plan, rep).await?;
    if dry_run {
        tx.rollback().await.db_context("roll the dry run back")?;
        // The dry run's backup was written to prove it can be; it backs up nothing that changed.
        if let Some(info) = rep.rollback_info.as_mut() {
            if let Some(f) = info.backup_file.take() {
                fs_err::remove_file(f)?;
            }
        }
        return Ok(());
    }
    // What the commit will make, recorded before it: a run killed right after the commit
    // still leaves a report that a rollback can check the database against.
    rep.fingerprint_after = Some(Fingerprint::take(&tx).await?.digest());
    if let Some(info) = rep.rollback_info.as_mut() {
        info.command = Some(format!(
            "migrate-abparts --target {} rollback --migration-id {}",
            ctx.ep, rep.migration_id
        ));
    }
    rep.status = "committing";
    rep.write(&ctx.reports)?;
    tx.commit().await.db_context("commit the migration")?;
    tracing::info!("committed migration {}", rep.migration_id);
    Ok(())
}
