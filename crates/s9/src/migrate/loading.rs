//! The load phase of a run: a backup of each table before its first write in the run, the
//! load itself (`load-dynamo`), `data/reports/load_report.json`, and the rollback when a
//! load fails ("Rollback on critical errors").

use super::runner::{entity_title, LoadFailed, Runner};
use crate::transform::Entity;
use ferry_shared::cli::{from_env, to_argv, RunArgs};
use ferry_shared::{Exit, FerryError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Each table's key and global secondary indexes (the document's table design).
pub(super) fn keys(e: Entity) -> (&'static str, &'static [&'static str]) {
    match e {
        Entity::Buyers => (
            "buyerId:S",
            &["email-index=email:S", "vatNumber-index=vatNumber:S"],
        ),
        Entity::Producers => ("producerId:S", &["vatNumber-index=vatNumber:S"]),
        Entity::Sales => (
            "saleId:S",
            &[
                "buyerId-saleDate-index=buyerId:S,saleDate:S",
                "producerId-saleDate-index=producerId:S,saleDate:S",
                "status-index=status:S,statusSaleDate:S",
            ],
        ),
    }
}

/// A JSON file, `Null` when absent or unreadable.
pub(super) fn read_json(path: &Path) -> Value {
    fs_err::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

impl Runner {
    /// Loads each entity. When one fails (its load, or the backup before it), the tables
    /// this run wrote to are rolled back (when configured) and counted; then `Some(exit)`
    /// for a failed load, or the error itself.
    pub(super) fn load_phase(&mut self, entities: &[Entity]) -> anyhow::Result<Option<Exit>> {
        let mut failure = None;
        for &e in entities {
            if let Err(err) = self.load(e) {
                failure = Some((e, err));
                break;
            }
        }
        let Some((e, err)) = failure else {
            self.load_report(entities, None)?;
            return Ok(None);
        };
        let rolled_back = self.after_failed_load(e, &err, entities)?;
        self.load_report(entities, Some((e, rolled_back)))?;
        match err.downcast::<LoadFailed>() {
            Ok(_) => Ok(Some(Exit::Failure)),
            Err(other) => Err(other),
        }
    }

    fn load(&mut self, e: Entity) -> anyhow::Result<u8> {
        let id = format!("load:{}", e.name());
        if let Some(code) = self.done_before(&id) {
            return Ok(code);
        }
        if self.cfg.migration.backup_before_load && !self.args.dry_run {
            self.backup(e)?;
        }
        let args = self.load_args(e, &id)?;
        let code = self.launch(&id, "load-dynamo", &args)?;
        if matches!(code, 0 | 3) {
            return self.settle(&id, "load-dynamo", code, &[]);
        }
        Err(LoadFailed { entity: e, code }.into())
    }

    fn load_checkpoint(&self, e: Entity) -> PathBuf {
        self.work()
            .join(format!(".load-{}.checkpoint.json", e.name()))
    }

    pub(super) fn load_rejects(&self, e: Entity) -> PathBuf {
        self.work()
            .join(format!("reports/load-{}.rejects.ndjson", e.name()))
    }

    fn load_args(&self, e: Entity, id: &str) -> anyhow::Result<Vec<String>> {
        let m = &self.cfg.migration;
        let (key, gsis) = keys(e);
        let mut tuning = from_env::<ferry_dynamo::load::Tuning>();
        tuning.batch_size = m.batch_size.clamp(1, 25) as usize;
        tuning.max_retries = m.max_retries;
        if let Some(d) = m.retry_delay {
            // The document's retryDelay is in seconds.
            tuning.retry_delay_ms = (d * 1000.0) as u64;
        }
        // The document's `exponentialBackoff: false`: every retry waits exactly retryDelay.
        tuning.fixed_delay = m.exponential_backoff == Some(false);
        if let Some(d) = m.batch_delay {
            tuning.batch_delay_ms = d;
        }
        if let Some(c) = m.concurrency {
            tuning.concurrency = c;
        }
        let args = ferry_dynamo::load::Args {
            input: Some(self.work().join(format!("validated/{}.ndjson", e.name()))),
            table: self.table(e).to_string(),
            conn: self.dynamo(),
            tuning,
            create_table: true,
            key: Some(key.into()),
            gsi: gsis.iter().map(|g| (*g).to_string()).collect(),
            // migrate-s9 takes the backups itself, once per table and run, for the rollback.
            backup_before_load: false,
            backup_dir: self.data("backups"),
            run: RunArgs {
                resume: self.args.resume && self.progress.current.as_deref() == Some(id),
                checkpoint: Some(self.load_checkpoint(e)),
                dry_run: self.args.dry_run,
                rejects: Some(self.load_rejects(e)),
                ..from_env()
            },
            progress_label: Some(format!("[Load] {}", entity_title(e))),
            common: self.common(id),
        };
        Ok(to_argv(&args)?)
    }

    /// A backup file name no other backup has (the table, the time, this run).
    fn backup_path(&self, table: &str) -> PathBuf {
        let stem = format!(
            "{}-{}-{}",
            ferry_shared::cli::file_safe(table),
            chrono::Utc::now().format("%Y%m%d-%H%M%S"),
            &self.progress.run_id[..8]
        );
        let dir = self.data("backups");
        let mut path = dir.join(format!("{stem}.ndjson"));
        let mut n = 2;
        while path.exists() {
            path = dir.join(format!("{stem}-{n}.ndjson"));
            n += 1;
        }
        path
    }

    /// Backs a table up before this run first writes to it; a table that does not exist
    /// yet gets an empty backup, so a rollback empties it.
    fn backup(&mut self, e: Entity) -> anyhow::Result<()> {
        let table = self.table(e).to_string();
        if self.progress.backups.contains_key(&table) {
            return Ok(());
        }
        let path = self.backup_path(&table);
        let dynamo = self.dynamo();
        let n = ferry_shared::exit::runtime()?.block_on(async {
            let client = dynamo.client().await?;
            if ferry_dynamo::table::describe(&client, &table)
                .await?
                .is_none()
            {
                ferry_shared::fsutil::write_atomic(&path, b"")?;
                return Ok::<_, FerryError>(None);
            }
            let n = ferry_dynamo::backup::backup_table(&client, &table, &path, 4, true).await?;
            Ok(Some(n))
        })?;
        match n {
            Some(n) => tracing::info!("{table}: backed up {n} items to {}", path.display()),
            None => tracing::info!(
                "{table}: does not exist yet; empty backup {} (a rollback empties the table)",
                path.display()
            ),
        }
        self.progress
            .backups
            .insert(table, path.display().to_string());
        self.save()
    }

    /// Items the loader gave up on (retries exhausted), from its report.
    fn gave_up(&self, e: Entity) -> u64 {
        let id = format!("load:{}", e.name());
        read_json(&self.step_report(&id))["counters"]["gave_up_items"]
            .as_u64()
            .unwrap_or(0)
    }

    /// After a failed load: roll back (when configured), then count what the tables hold.
    /// Returns whether the tables were rolled back.
    fn after_failed_load(
        &mut self,
        e: Entity,
        err: &anyhow::Error,
        entities: &[Entity],
    ) -> anyhow::Result<bool> {
        let gave_up = self.gave_up(e);
        tracing::error!(
            "{err}{}",
            if gave_up > 0 {
                format!(
                    ": {gave_up} items were given up after {} retries (in {})",
                    self.cfg.migration.max_retries,
                    self.load_rejects(e).display()
                )
            } else {
                String::new()
            }
        );
        if self.args.dry_run {
            return Ok(false);
        }
        let rolled_back = self.cfg.migration.rollback_on_error();
        if rolled_back {
            self.rollback(entities)?;
            tracing::error!(
                "the tables are as before this run; fix the cause, then rerun with --resume (the loads start over)"
            );
        } else {
            tracing::error!(
                "no rollback (rollbackOnError is off): the tables keep what was written; fix the cause, then rerun with --resume (the load continues)"
            );
        }
        // The counts show what the tables hold now; the step stays unfinished for --resume.
        let args = self.verify_args(entities)?;
        let _ = self.tool("compare-counts", &args)?;
        Ok(rolled_back)
    }

    /// Restores every table this run wrote to from the backup it took first, and makes
    /// the loads start over on a resume.
    fn rollback(&mut self, entities: &[Entity]) -> anyhow::Result<()> {
        // First the record: the loads are undone, so a crash during the restores leaves a
        // run whose --resume reloads every table (never one that skips a restored load).
        for &e in entities {
            self.progress.forget(&format!("load:{}", e.name()));
            let cp = self.load_checkpoint(e);
            if cp.exists() {
                fs_err::remove_file(&cp)?;
            }
        }
        self.save()?;
        let mut failed = Vec::new();
        for (table, backup) in self.progress.backups.clone() {
            let args = to_argv(&ferry_dynamo::restore::Args {
                backup: backup.clone().into(),
                table: Some(table.clone()),
                conn: self.dynamo(),
                tuning: from_env(),
                dry_run: false,
                segments: 4,
                common: self.common(&format!("rollback:{table}")),
            })?;
            match self.tool("restore-dynamo", &args)? {
                0 => tracing::warn!("rolled back {table} to its backup {backup}"),
                code => {
                    tracing::error!("rollback of {table} failed (exit {code}); restore it by hand: restore-dynamo --backup {backup} --table {table}");
                    failed.push(table);
                }
            }
        }
        if !failed.is_empty() {
            return Err(FerryError::Failed(format!(
                "the rollback of {} failed (see above): those tables are not as before this run",
                failed.join(", ")
            ))
            .into());
        }
        Ok(())
    }

    /// `data/reports/load_report.json`: each entity's load as its step reported it, and
    /// what became of it when a load failed (`failed`, `rolled back`).
    fn load_report(
        &self,
        entities: &[Entity],
        failed: Option<(Entity, bool)>,
    ) -> anyhow::Result<()> {
        let mut out = serde_json::Map::new();
        for &e in entities {
            let id = format!("load:{}", e.name());
            let r = read_json(&self.step_report(&id));
            let t = &r["tables"][0];
            let restored = failed.is_some_and(|(_, rolled)| rolled)
                && self.progress.backups.contains_key(self.table(e));
            let status = match failed {
                Some((f, _)) if f == e && restored => "failed, rolled back",
                Some((f, _)) if f == e => "failed",
                _ if restored => "rolled back",
                _ if self.progress.completed.contains(&id) => "completed",
                _ => "not run",
            };
            out.insert(
                e.name().to_string(),
                json!({
                    "table": self.table(e),
                    "status": status,
                    "written": t["migrated"],
                    "rejected": t["errors"],
                    "gave_up": r["counters"]["gave_up_items"].as_u64().unwrap_or(0),
                    "items_per_sec": t["rows_per_sec"],
                    "duration_secs": t["duration_secs"],
                    "counters": r["counters"],
                    "rejects_file": r["rejects_file"],
                    "backup": self.progress.backups.get(self.table(e)),
                }),
            );
        }
        let report = json!({
            "run_id": self.progress.run_id,
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "dry_run": self.args.dry_run,
            "entities": out,
        });
        ferry_shared::fsutil::write_json_atomic(&self.data("reports/load_report.json"), &report)?;
        Ok(())
    }
}
