//! The target before any row moves: connect, create the schemas and tables that are
//! missing (parents first), adopt the tables that exist, and decide per table how it is
//! written or why it is skipped. Every creation is recorded in the checkpoint before it
//! happens, so the rollback can undo it even after a crash.

use crate::migrate::Write;
use crate::plan::TablePlan;
use crate::state::{RunState, TableState};
use ferry_engine::load::{pg, TargetTable};
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::conn::Endpoint;
use ferry_shared::sql::quote_pg as q;
use ferry_shared::{DbContext, DbError, Result};
use std::fmt;
use std::path::Path;

/// Why a table is not migrated in this run. An enum, not a message, so the run can tell
/// the cases apart without reading text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// It finished before the run being resumed: its counts come from the checkpoint.
    DoneBefore,
    /// It existed with rows and without a primary key: loading again would duplicate them.
    /// Holds the table's quoted name.
    KeylessWithRows(String),
}

impl fmt::Display for Skip {
    /// The line logged and noted in the report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::DoneBefore => f.write_str("done before the resume"),
            Skip::KeylessWithRows(rel) => write!(
                f,
                "{rel} has rows and no primary key: loading again would duplicate them; skipped"
            ),
        }
    }
}

/// What the run does with one table: write it (in a way), or skip it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Migrate the table's rows.
    Run(Write),
    /// Leave the table alone.
    Skip(Skip),
}

/// What preparing the target needs besides the plans: the migration state it records into
/// and the run's choices.
pub(crate) struct Target<'a> {
    /// The migration state; creations are recorded here first.
    pub st: &'a mut RunState,
    /// The state's checkpoint.
    pub cp: &'a Checkpoint<RunState>,
    /// Nothing is created (the statements are logged instead).
    pub dry_run: bool,
    /// `--resume`: tables done before are skipped.
    pub resume: bool,
    /// Where the journals of existing tables go; none without rollback.
    pub journals: Option<&'a Path>,
    /// `--work-dir`: the other migrations' folders (a partial load to take over).
    pub work_dir: &'a Path,
}

/// Prepares the target of every table (in load order) and returns each table's action.
pub(crate) async fn prepare(
    ep: &Endpoint,
    plans: &mut [TablePlan],
    levels: &[Vec<usize>],
    target: Target<'_>,
) -> Result<Vec<Action>> {
    let client = ferry_shared::conn::connect_postgres(ep).await?;
    let fp = crate::state::fingerprint(&client).await?;
    match &target.st.target_fingerprint {
        None => target.st.target_fingerprint = Some(fp),
        Some(f) if *f != fp => {
            return Err(ferry_shared::FerryError::Usage(format!(
                "migration {} went into {} ({f}), not into {ep} ({fp}): resume it against its own target",
                target.st.migration_id, target.st.target
            )))
        }
        Some(_) => {}
    }
    let mut prep = Preparer { client, t: target };
    prep.create_schemas(plans).await?;
    let mut actions = vec![Action::Run(Write::Nothing); plans.len()];
    for &i in levels.iter().flatten() {
        actions[i] = prep.table(&mut plans[i]).await?;
    }
    if !prep.t.dry_run {
        prep.t.cp.save(prep.t.st)?;
    }
    Ok(actions)
}

/// The connection and the run's choices, shared by the preparation steps.
struct Preparer<'a> {
    client: tokio_postgres::Client,
    t: Target<'a>,
}

impl Preparer<'_> {
    /// Creates the target schemas that do not exist (recorded before they are created).
    async fn create_schemas(&mut self, plans: &[TablePlan]) -> Result<()> {
        let schemas: Vec<String> = {
            let mut s: Vec<String> = plans.iter().map(|p| p.schema.clone()).collect();
            s.dedup();
            s.sort();
            s.dedup();
            s
        };
        for s in schemas {
            let exists: bool = self
                .client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                    &[&s],
                )
                .await
                .with_db_context(|| format!("look up schema {s}"))?
                .get(0);
            if exists {
                continue;
            }
            if self.t.dry_run {
                tracing::info!("dry run: would run CREATE SCHEMA {}", q(&s));
            } else {
                self.t.st.schemas_created.push(s.clone());
                self.t.cp.save(self.t.st)?;
                self.client
                    .batch_execute(&format!("CREATE SCHEMA {}", q(&s)))
                    .await
                    .with_db_context(|| format!("create schema {s}"))?;
            }
        }
        Ok(())
    }

    /// One table: adopt it when it exists, else create it (or say so in a dry run).
    async fn table(&mut self, p: &mut TablePlan) -> Result<Action> {
        let prior = self.t.st.tables.get(&p.key()).cloned();
        match pg::describe(&self.client, &p.schema, &p.target).await? {
            Some(t) => self.existing(p, &t, prior).await,
            None if self.t.dry_run => {
                tracing::info!("dry run: would run\n{}", p.create.join(";\n"));
                Ok(Action::Run(Write::Nothing))
            }
            None => self.create(p).await,
        }
    }

    /// A table that exists: adopts its columns and decides how rows go in. A table this
    /// migration did not create gets a journal (for the rollback) and insert-or-skip; a
    /// keyless one is loaded only when it is empty.
    async fn existing(
        &mut self,
        p: &mut TablePlan,
        t: &TargetTable,
        prior: Option<TableState>,
    ) -> Result<Action> {
        p.adopt(t)?;
        let key = p.key();
        let pk = p.primary_key();
        let mut ts = prior.clone().unwrap_or(TableState {
            schema: p.schema.clone(),
            table: p.target.clone(),
            primary_key: pk.clone(),
            ..Default::default()
        });
        if pk.is_empty() {
            self.keyless_resume_point(p, &mut ts).await?;
        }
        let created = ts.created;
        let action = if prior.as_ref().is_some_and(|t| t.done) && self.t.resume {
            Action::Skip(Skip::DoneBefore)
        } else if pk.is_empty() && !created && !prior.as_ref().is_some_and(|t| t.empty_keyless) {
            if self.is_empty(p).await? {
                ts.empty_keyless = true;
                Action::Run(Write::Insert)
            } else {
                Action::Skip(Skip::KeylessWithRows(p.rel()))
            }
        } else if created || pk.is_empty() {
            // Created by this migration (resumed) or keyless and empty before it.
            Action::Run(if pk.is_empty() {
                Write::Insert
            } else {
                Write::Ignore(None)
            })
        } else {
            let journal = self.t.journals.map(|dir| {
                let name = format!("journal-{}.ndjson", ferry_shared::cli::file_safe(&key));
                ts.journal = Some(name.clone());
                dir.join(name)
            });
            Action::Run(Write::Ignore(journal))
        };
        if !self.t.dry_run {
            self.t.st.tables.insert(key, ts);
        }
        Ok(action)
    }

    /// A keyless table's resume point is the marker its last committed batch wrote into the
    /// table's comment in the same transaction ([`crate::migrate::progress_marker`]): exact
    /// whatever the checkpoint missed. A marker of another migration means that migration
    /// was interrupted in this table: loading it again here would double its rows.
    async fn keyless_resume_point(&mut self, p: &TablePlan, ts: &mut TableState) -> Result<()> {
        let comment: Option<String> = self
            .client
            .query_one(
                "SELECT obj_description(to_regclass($1), 'pg_class')",
                &[&p.rel()],
            )
            .await
            .with_db_context(|| format!("read the comment of {}", p.rel()))?
            .get(0);
        let Some((id, after)) = comment.as_deref().and_then(crate::migrate::parse_marker) else {
            return Ok(());
        };
        if id != self.t.st.migration_id {
            return self.take_over(p, ts, &id).await;
        }
        if ts.after_rowid.is_none_or(|a| a < after) {
            tracing::info!(
                "{}: resuming after rowid {after} (committed after the last checkpoint)",
                p.rel()
            );
            ts.after_rowid = Some(after);
        }
        Ok(())
    }

    /// A plain rerun meets a keyless table that interrupted migration `id` created and half
    /// loaded: the table passes to this migration (the other's rollback no longer drops it,
    /// this one's does), is emptied, and is loaded again whole — exactly the source, as a
    /// `--resume` of `id` would have made it. Anything else (a finished or unknown migration,
    /// a table it did not create) is refused.
    async fn take_over(&mut self, p: &TablePlan, ts: &mut TableState, id: &str) -> Result<()> {
        let refuse = || {
            ferry_shared::FerryError::Usage(format!(
                "{} holds a partial load of migration {id}: continue it with --resume --migration-id {id}, or undo it with --rollback {id} --execute",
                p.rel()
            ))
        };
        let dir = self.t.work_dir.join(id);
        let cp = crate::state::checkpoint(&dir, id);
        let Some(mut other) = crate::state::read(&dir).ok() else {
            return Err(refuse());
        };
        let key = p.key();
        let theirs = other.tables.get(&key).is_some_and(|t| t.created);
        if other.finished || other.rolled_back || !theirs {
            return Err(refuse());
        }
        if self.t.dry_run {
            tracing::info!(
                "dry run: would empty {} (a partial load of migration {id}) and load it again",
                p.rel()
            );
            return Ok(());
        }
        other.rolled_back_tables.push(key);
        cp.save(&other)?;
        *ts = TableState {
            created: true,
            ..ts.clone()
        };
        ts.after_rowid = None;
        self.t.st.tables.insert(p.key(), ts.clone());
        self.t.cp.save(self.t.st)?;
        self.client
            .batch_execute(&format!(
                "TRUNCATE {0}; COMMENT ON TABLE {0} IS NULL",
                p.rel()
            ))
            .await
            .with_db_context(|| format!("empty {}", p.rel()))?;
        tracing::warn!(
            "{}: a partial load of interrupted migration {id}; emptied and loaded again by this migration",
            p.rel()
        );
        Ok(())
    }

    /// True when the table has no rows.
    async fn is_empty(&self, p: &TablePlan) -> Result<bool> {
        Ok(self
            .client
            .query_one(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", p.rel()),
                &[],
            )
            .await
            .with_db_context(|| format!("read {}", p.rel()))?
            .get(0))
    }

    /// Creates a missing table (recorded as created first) and adopts it.
    async fn create(&mut self, p: &mut TablePlan) -> Result<Action> {
        tracing::info!("creating {}", p.rel());
        self.t.st.tables.insert(
            p.key(),
            TableState {
                schema: p.schema.clone(),
                table: p.target.clone(),
                created: true,
                primary_key: p.primary_key(),
                ..Default::default()
            },
        );
        self.t.cp.save(self.t.st)?;
        for sql in &p.create {
            self.client
                .batch_execute(sql)
                .await
                .with_db_context(|| format!("create {}", p.rel()))?;
        }
        let t = pg::describe(&self.client, &p.schema, &p.target)
            .await?
            .ok_or_else(|| DbError::other(p.rel(), "not found after CREATE"))?;
        p.adopt(&t)?;
        Ok(Action::Run(Write::Insert))
    }
}
