//! Steps 1, 2, the loads and 9: what changes the target.

use super::runner::Runner;
use super::{target, users};
use crate::output::{Ndjson, TableCounts};
use ferry_shared::FerryError;
use serde_json::json;
use tokio_postgres::Client;

impl Runner {
    /// Step 1: every target table backed up (extract's NDJSON with sidecars), the active
    /// admins kept aside, the legacy-data tables emptied.
    pub async fn clear(&mut self, c: &mut Client) -> anyhow::Result<()> {
        if !self.done("1:backup") {
            self.backup(c).await?;
        }
        if self.done("1:clear") {
            return Ok(());
        }
        self.begin("1:clear")?;
        let admins = target::admins(c, &self.schema).await?;
        let snapshot = self.path("admins.json");
        ferry_shared::fsutil::write_json_atomic(&snapshot, &admins)?;
        tracing::info!(
            "kept aside {} active admin user(s) ({})",
            admins.len(),
            snapshot.display()
        );
        let cleared = target::clear(c, &self.schema).await?;
        tracing::info!("emptied {} tables: {}", cleared.len(), cleared.join(", "));
        self.complete("1:clear", &[snapshot])
    }

    async fn backup(&mut self, c: &Client) -> anyhow::Result<()> {
        let mut tables = target::tables(c, "public").await?;
        tables.retain(|t| t != target::PENDING);
        if self.args.dry_run {
            tracing::info!(
                "would back up {} tables before clearing (dry run: no backup)",
                tables.len()
            );
            return self.complete("1:backup", &[]);
        }
        let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S");
        let dir = self.path(&format!(
            "backups/pre_migration_{stamp}_{}",
            &self.run.run_id[..8]
        ));
        let mut a = vec!["--source".into(), self.target.url.clone()];
        for t in &tables {
            a.extend(["--table".into(), format!("public.{t}")]);
        }
        a.extend(["-o".into(), format!("{}/", dir.display())]);
        a.extend(self.common_flags());
        self.run.backup_dir = Some(dir.clone());
        if self.tool("1:backup", "extract", &a)? != 0 {
            return Err(FerryError::Failed(format!(
                "step 1: the backup of the target into {} failed; nothing was cleared",
                dir.display()
            ))
            .into());
        }
        tracing::info!("backed up {} tables to {} (to put them back: migrate-lustores --target … --restore {})", tables.len(), dir.display(), dir.display());
        self.complete("1:backup", &[])
    }

    /// Before the loads: the loaded tables' foreign keys are dropped, and recorded in the
    /// target in the same transaction ([`target::drop_foreign_keys`]);
    /// [`Runner::restore_foreign_keys`] adds them back after step 8, validating every row. A
    /// run that stopped between the two leaves the record, and the next run (resumed or new,
    /// from any work folder) adds the keys back.
    pub async fn drop_foreign_keys(&mut self, c: &mut Client) -> anyhow::Result<()> {
        let step = "fk:drop";
        if self.done(step) {
            return Ok(());
        }
        self.begin(step)?;
        let tables: Vec<&str> = crate::transform::Entity::all()
            .iter()
            .flat_map(|e| e.tables().iter().copied())
            .collect();
        let fks = target::foreign_keys(c, &self.schema, &tables).await?;
        target::drop_foreign_keys(c, &self.schema, &fks).await?;
        tracing::info!("dropped {} foreign keys for the loads (recorded in the target; added back, checked, after step 8)", fks.len());
        self.complete(step, &[])
    }

    /// Adds back the foreign keys an earlier drop recorded, if any.
    pub async fn restore_foreign_keys(&mut self, c: &mut Client) -> anyhow::Result<()> {
        let added = target::add_foreign_keys(c, &self.schema).await?;
        if added > 0 {
            tracing::info!("added back {added} foreign keys, every row checked");
        }
        Ok(())
    }

    /// Step 2: the Legacy System user, and the legacy users with `--migrate-users`.
    pub async fn users(&mut self, c: &Client) -> anyhow::Result<()> {
        let step = "2:users";
        let counts_file = self.path("transformed/users.counts.json");
        if self.done(step) {
            return Ok(());
        }
        self.begin(step)?;
        users::legacy_system(c, &self.schema).await?;
        let mut counts = TableCounts::default();
        if self.args.migrate_users {
            let legacy = users::read_legacy(&self.source.endpoint).await?;
            let mut rejects = Ndjson::create(&self.path("rejects/users.rejects.ndjson"))?;
            counts = users::migrate(c, &self.schema, &self.mapping, &legacy, |action, reason, record| {
                rejects.write(&json!({"step": "2 users", "file": "users", "line": null, "action": action, "reason": reason, "record": record}))
            })
            .await?;
            rejects.finish()?;
        }
        ferry_shared::fsutil::write_json_atomic(&counts_file, &counts)?;
        self.complete(step, &[counts_file])
    }

    /// One target table's load from its transformed file, in the step of its entity.
    pub async fn load(&mut self, c: &Client, table: &str) -> anyhow::Result<()> {
        let step = format!("load:{table}");
        if self.done(&step) {
            return Ok(());
        }
        let checkpoint = self.path(&format!("checkpoints/load-{table}.json"));
        let resume = self.interrupted(&step) && checkpoint.exists();
        if !resume {
            // Nothing of this load is recorded: whatever it committed before a crash goes.
            let _ = fs_err::remove_file(&checkpoint);
            target::empty(c, &self.schema, table).await?;
        }
        let report = self.path(&format!("reports/load-{table}.json"));
        let mut a = vec![
            "--target".into(),
            self.target.url.clone(),
            "--table".into(),
            format!("{}.{table}", self.schema),
            self.path(&format!("transformed/{table}.ndjson"))
                .display()
                .to_string(),
            "--mode".into(),
            "insert".into(),
            "--batch-size".into(),
            self.args.batch_size.to_string(),
            "--checkpoint".into(),
            checkpoint.display().to_string(),
            "--rejects".into(),
            self.path(&format!("rejects/load-{table}.rejects.ndjson"))
                .display()
                .to_string(),
            "--max-rejects".into(),
            "0".into(),
            "--report".into(),
            report.display().to_string(),
        ];
        if resume {
            tracing::info!("{step}: continuing after its last committed batch");
            a.push("--resume".into());
        }
        a.extend(self.common_flags());
        match self.tool(&step, "load-postgres", &a)? {
            0 => {}
            // Rows the database refused: this run cannot verify, and resuming would only skip
            // them again.
            3 => {
                return Err(FerryError::Failed(format!(
                    "{step}: the database refused rows (see rejects/load-{table}.rejects.ndjson); fix the legacy rows or the mapping, then start a new run without --resume (it empties the tables again)"
                ))
                .into())
            }
            code => {
                return Err(FerryError::Failed(format!(
                    "{step}: load-postgres failed (exit {code}); fix the cause and rerun with --resume"
                ))
                .into())
            }
        }
        target::sync_sequence(c, &self.schema, table).await?;
        self.complete(&step, &[report])
    }

    /// Step 9: the admins of step 1 are all there, unchanged; a missing one is put back.
    pub async fn admins(&mut self, c: &Client) -> anyhow::Result<()> {
        let step = "9:admins";
        if self.done(step) {
            return Ok(());
        }
        let text = fs_err::read_to_string(self.path("admins.json"))?;
        let snapshot: Vec<serde_json::Value> = serde_json::from_str(&text)?;
        let (kept, restored) = target::restore_admins(c, &self.schema, &snapshot).await?;
        tracing::info!("admin users: {kept} preserved, {restored} restored");
        if snapshot.is_empty() {
            tracing::warn!("the target had no active admin user: create one with the application's admin tool (Ferry sets no default password)");
        }
        self.complete(step, &[])
    }
}
