//! The steps, in the document's order, with its log lines.

use super::runner::Runner;
use super::target;
use crate::output::Counts;
use crate::transform::Entity;
use anyhow::Context;
use ferry_shared::conn::connect_postgres;
use ferry_shared::{Exit, FerryError};
use std::path::PathBuf;
use tokio_postgres::Client;

/// The legacy tables read, each ordered on every column the migration uses, so that two
/// runs over the same data produce the same ids (text compared as bytes: the legacy
/// collation ignores case and trailing spaces).
const EXTRACTS: [(&str, &str); 6] = [
    ("vatparams", "`VAT`"),
    ("supplier", "BINARY `CODE`, BINARY `NAME`, BINARY `ADDRESS1`, BINARY `ADDRESS2`, BINARY `ADDRESS3`, BINARY `ADDRESS4`, BINARY `TELEPHONE`, BINARY `ACCOUNT`"),
    ("stock", "BINARY `CODE`, BINARY `DESC1`, BINARY `DESC2`, `PRICE`, `BALANCE`, `MIN`, BINARY `LOCATION`, BINARY `SIZE`, BINARY `HIDDEN`"),
    ("charge", "BINARY `COSTCENTRE`, BINARY `ACTIVITY`, BINARY `PIN`, BINARY `TITLE`, `START`, `END`, BINARY `ONHOLD`"),
    ("orders", "BINARY `ORDER_NO`, `DATE`, BINARY `SUPPLIER`, BINARY `STOCK_CODE`, `QTY`, `PRICE`, `VALUE`, `RECD_DATE`"),
    ("issues", "`DATE`, BINARY `STOCK_CODE`, `QUANTITY`, `VALUE`, BINARY `COSTCENTRE`, BINARY `ACTIVITY`, BINARY `PIN`, BINARY `USER`, BINARY `ISSUEDTO`, BINARY `REASON`, BINARY `PERIODCODE`"),
];

/// The entities in the document's order, with their step numbers and log lines.
const STEPS: [(Entity, u8, &str); 6] = [
    (Entity::Categories, 3, "Migrating categories..."),
    (Entity::Suppliers, 4, "Migrating suppliers..."),
    (Entity::Items, 5, "Migrating items..."),
    (Entity::Chargecodes, 6, "Migrating chargecodes..."),
    (Entity::Orders, 7, "Migrating orders & order items..."),
    (Entity::Sales, 8, "Migrating issues as sales..."),
];

impl Runner {
    /// Every step, then the verification and the summary.
    pub async fn all(&mut self) -> anyhow::Result<Exit> {
        tracing::info!(
            "Starting complete data migration...{}",
            if self.args.dry_run {
                " (dry run: the target is not changed)"
            } else {
                ""
            }
        );
        self.describe()?;
        tracing::info!("Reading the legacy database and transforming it (before anything in the target changes)...");
        self.record_legacy_checksums().await?;
        for (table, order) in EXTRACTS {
            self.extract(table, order)?;
        }
        for (entity, _, _) in STEPS {
            self.transform(entity)?;
            self.tell_rejects(entity)?;
        }
        tracing::info!("Step 0: Verifying and applying database migrations...");
        self.migrations()?;
        let mut client = connect_postgres(&self.target.endpoint).await?;
        target::lock(&client).await?;
        target::drop_leftover_scratch(&client).await?;
        if self.args.dry_run {
            self.dry_run_target(&client).await?;
            if let Err(e) = target::scratch(&client, &self.schema).await {
                target::drop_scratch(&client, &self.schema).await?;
                return Err(e.into());
            }
        }
        let result = self.write(&mut client).await;
        if self.args.dry_run {
            target::drop_scratch(&client, &self.schema).await?;
        }
        result
    }

    async fn write(&mut self, client: &mut Client) -> anyhow::Result<Exit> {
        tracing::info!("Step 1: Clearing target database...");
        self.clear(client).await?;
        if !self.args.resume {
            // Keys an earlier, unfinished run dropped come back before anything is loaded.
            self.restore_foreign_keys(client).await?;
        }
        tracing::info!(
            "Step 2: Creating the Legacy System user{}...",
            if self.args.migrate_users {
                " and migrating users"
            } else {
                ""
            }
        );
        self.users(client).await?;
        self.drop_foreign_keys(client).await?;
        for (entity, n, line) in STEPS {
            tracing::info!("Step {n}: {line}");
            for table in entity.tables() {
                self.load(client, table).await?;
            }
        }
        self.restore_foreign_keys(client).await?;
        tracing::info!("Step 9: Restoring admin users...");
        self.admins(client).await?;
        tracing::info!("Verifying the migration...");
        let verified = self.verify(client).await?;
        self.finish(verified)
    }

    /// A dry run copies the target's tables as they are; without its migrations applied
    /// there is nothing to validate against (a dry run applies none).
    async fn dry_run_target(&self, c: &Client) -> anyhow::Result<()> {
        let present = target::tables(c, "public").await?;
        let needed = Entity::all()
            .into_iter()
            .flat_map(|e| e.tables().iter().copied())
            .chain(["users"]);
        let missing: Vec<&str> = needed.filter(|t| !present.iter().any(|p| p == t)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(FerryError::Usage(format!(
            "--dry-run: the target has no {} table: its migrations are not applied yet, and a dry run applies none (it changes nothing). Apply them first (apply-migrations --target … --migrations-dir …) or run without --dry-run",
            missing.join(", ")
        ))
        .into())
    }

    /// Logs the databases, from the schema file when one is given (the document requires it).
    fn describe(&self) -> anyhow::Result<()> {
        let names = match &self.args.schema_file {
            Some(f) => super::schema_file::names(f)?,
            None => (
                self.source.endpoint.database.clone().unwrap_or_default(),
                self.target.endpoint.database.clone().unwrap_or_default(),
            ),
        };
        let at = |ep: &ferry_shared::conn::Endpoint| {
            format!("{}/{}", ep.addr(), ep.database.as_deref().unwrap_or(""))
        };
        tracing::info!(
            "Source: {} (mysql), connected to {}",
            names.0,
            at(&self.source.endpoint)
        );
        tracing::info!(
            "Target: {} (postgres), connected to {}",
            names.1,
            at(&self.target.endpoint)
        );
        Ok(())
    }

    /// Step 0: `apply-migrations` on the migrations directory.
    fn migrations(&mut self) -> anyhow::Result<()> {
        let dir = match (&self.args.migrations_dir, &self.args.schema_file) {
            (Some(d), _) => d.clone(),
            (None, Some(f)) => f.parent().map(PathBuf::from).unwrap_or_default(),
            (None, None) => {
                tracing::warn!("no --schema-file or --migrations-dir: step 0 applies nothing");
                return Ok(());
            }
        };
        let step = "0:migrations";
        if self.done(step) {
            return Ok(());
        }
        let mut a = vec![
            "--target".into(),
            self.target.url.clone(),
            "--migrations-dir".into(),
            dir.display().to_string(),
        ];
        a.extend([
            "--report".into(),
            self.path("reports/apply-migrations.json")
                .display()
                .to_string(),
        ]);
        if self.args.dry_run {
            a.push("--dry-run".into());
        }
        a.extend(self.common_flags());
        self.settle(step, "apply-migrations", &a, &[])
    }

    /// Runs a step's tool and records it: 0 and 3 complete it, anything else stops the run.
    pub fn settle(
        &mut self,
        step: &str,
        tool: &str,
        args: &[String],
        outputs: &[PathBuf],
    ) -> anyhow::Result<()> {
        let code = self.tool(step, tool, args)?;
        self.settled(step, tool, code, outputs)
    }

    /// Records a step's exit code: 0 and 3 complete it, anything else stops the run.
    pub fn settled(
        &mut self,
        step: &str,
        tool: &str,
        code: u8,
        outputs: &[PathBuf],
    ) -> anyhow::Result<()> {
        match code {
            0 | 3 => self.complete(step, outputs),
            2 => Err(FerryError::Usage(format!("{step}: {tool} stopped on a usage or configuration error (exit 2); see its message above")).into()),
            code => Err(FerryError::Failed(format!("{step}: {tool} failed (exit {code}); fix the cause and rerun with --resume")).into()),
        }
    }

    /// `extract` of one legacy table, ordered.
    fn extract(&mut self, table: &str, order: &str) -> anyhow::Result<()> {
        let step = format!("extract:{table}");
        if self.done(&step) {
            return Ok(());
        }
        let out = self.path(&format!("extracted/{table}.ndjson"));
        let mut a = vec![
            "--source".into(),
            self.source.url.clone(),
            "--query".into(),
            format!("SELECT * FROM `{table}` ORDER BY {order}"),
            "--name".into(),
            table.into(),
            "-o".into(),
            out.display().to_string(),
            "--rejects".into(),
            self.path(&format!("rejects/extract-{table}.rejects.ndjson"))
                .display()
                .to_string(),
        ];
        a.extend(self.common_flags());
        let code = self.tool(&step, "extract", &a)?;
        if code == 3 {
            return Err(FerryError::Failed(format!(
                "{step}: rows of the legacy table could not be read (see rejects/extract-{table}.rejects.ndjson); nothing in the target has changed"
            ))
            .into());
        }
        self.settled(&step, "extract", code, &[out])
    }

    /// `transform-lustores` of one entity.
    fn transform(&mut self, entity: Entity) -> anyhow::Result<()> {
        let step = format!("transform:{}", entity.name());
        if self.done(&step) {
            return Ok(());
        }
        let mut a = vec![
            "--entity".into(),
            entity.name().into(),
            "--input".into(),
            self.path("extracted").display().to_string(),
            "--output".into(),
            self.path("transformed").display().to_string(),
            "--rejects-dir".into(),
            self.path("rejects").display().to_string(),
        ];
        if let Some(m) = &self.args.mapping {
            a.extend(["--mapping".into(), m.display().to_string()]);
        }
        a.extend(self.common_flags());
        let mut outputs: Vec<PathBuf> = entity
            .tables()
            .iter()
            .map(|t| self.path(&format!("transformed/{t}.ndjson")))
            .collect();
        outputs.push(self.counts_path(entity));
        self.settle(&step, "transform-lustores", &a, &outputs)
    }

    /// One line per target table whose legacy rows were not all migrated, naming the file
    /// that lists them with their reasons.
    fn tell_rejects(&self, entity: Entity) -> anyhow::Result<()> {
        let counts = self.counts(entity)?;
        for (table, c) in counts
            .tables
            .iter()
            .filter(|(t, _)| t.as_str() != "sale_items")
        {
            if c.skipped + c.errors + c.warnings + c.rounded > 0 {
                tracing::warn!(
                    "{table}: {} legacy rows skipped, {} errors, {} kept with a warning, {} values rounded to the target's scale: {}",
                    c.skipped,
                    c.errors,
                    c.warnings,
                    c.rounded,
                    self.path(&format!("rejects/{}.*.ndjson", entity.name())).display()
                );
            }
        }
        Ok(())
    }

    /// The counts a transform wrote.
    pub fn counts_path(&self, entity: Entity) -> PathBuf {
        self.path(&format!("transformed/{}.counts.json", entity.name()))
    }

    /// Reads an entity's counts.
    pub fn counts(&self, entity: Entity) -> anyhow::Result<Counts> {
        Counts::read(&self.counts_path(entity)).context("read a transform's counts")
    }
}
