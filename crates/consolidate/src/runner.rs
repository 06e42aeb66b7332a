//! Running the tables: level by level (a level's tables only reference tables of earlier
//! levels), at most `workers` tables at a time. The first table that fails stops the run;
//! the tables already finished keep their stats for the report.

use crate::migrate::{self, Shared, Write};
use crate::prepare::{Action, Skip};
use ferry_shared::conn::Endpoint;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{FerryError, Result};
use std::sync::Arc;
use tokio::task::JoinSet;

/// The running table tasks: each answers with its plan index and its result.
type Running = JoinSet<(usize, Result<TableStats>)>;

/// What the table loop needs: the shared state of the tasks, each table's action and the
/// run's choices.
pub(crate) struct Runner<'a> {
    pub shared: Arc<Shared>,
    /// Per plan: how it is written, or why it is skipped.
    pub actions: &'a [Action],
    /// The target; none when validating only.
    pub ep: Option<&'a Endpoint>,
    pub workers: usize,
    /// `--resume`: tables continue after their checkpointed rowid.
    pub resume: bool,
    /// Nothing is written, so nothing is checkpointed.
    pub dry_run: bool,
}

/// How the tables went: per plan its stats (none for a table that did not get to run),
/// and the error that stopped the run.
pub(crate) struct Outcome {
    pub stats: Vec<Option<TableStats>>,
    pub failure: Option<FerryError>,
}

impl Runner<'_> {
    /// Runs every level in order. Skipped tables note why in the report.
    pub(crate) async fn run(
        &self,
        levels: &[Vec<usize>],
        report: &mut RunReport,
    ) -> Result<Outcome> {
        let mut stats: Vec<Option<TableStats>> = vec![None; self.shared.plans.len()];
        for level in levels {
            if let Some(e) = self.run_level(level, &mut stats, report).await? {
                return Ok(Outcome {
                    stats,
                    failure: Some(e),
                });
            }
        }
        Ok(Outcome {
            stats,
            failure: None,
        })
    }

    /// Runs one level; returns the first table error (the other tasks are aborted).
    async fn run_level(
        &self,
        level: &[usize],
        stats: &mut [Option<TableStats>],
        report: &mut RunReport,
    ) -> Result<Option<FerryError>> {
        let mut pending = level.iter().copied();
        let mut running = Running::new();
        loop {
            while running.len() < self.workers {
                let Some(i) = pending.next() else { break };
                match &self.actions[i] {
                    Action::Skip(why) => stats[i] = Some(self.skipped(i, why, report)),
                    Action::Run(w) => self.start(i, w, &mut running).await?,
                }
            }
            let Some(done) = running.join_next().await else {
                return Ok(None);
            };
            let (i, res) = done.map_err(|e| FerryError::Failed(format!("table task: {e}")))?;
            match res {
                Ok(s) => {
                    self.mark_done(i)?;
                    stats[i] = Some(s);
                }
                Err(e) => {
                    running.abort_all();
                    self.committed_counts(stats)?;
                    return Ok(Some(e));
                }
            }
        }
    }

    /// After a failure: every table that got to run reports what its checkpoint says is
    /// committed (the failed one too), never 0 for rows that are in the target.
    fn committed_counts(&self, stats: &mut [Option<TableStats>]) -> Result<()> {
        for (i, s) in stats.iter_mut().enumerate() {
            if s.is_some() {
                continue;
            }
            let p = &self.shared.plans[i];
            let mut c = migrate::resumed_stats(
                &self.shared,
                &p.key(),
                &format!("{}.{}", p.schema, p.target),
            )?;
            if c.migrated + c.skipped + c.errors > 0 {
                c.resumed = 0;
                *s = Some(c);
            }
        }
        Ok(())
    }

    /// The stats of a skipped table: a table done before the resume keeps its counts;
    /// any other counts all its rows as skipped and notes why.
    fn skipped(&self, i: usize, why: &Skip, report: &mut RunReport) -> TableStats {
        let p = &self.shared.plans[i];
        tracing::info!("{}: {why}", p.key());
        let mut s = TableStats::new(&format!("{}.{}", p.schema, p.target));
        if *why != Skip::DoneBefore {
            s.skipped = p.total;
            report.notes.push(why.to_string());
            return s;
        }
        if let Ok(g) = self.shared.state.lock() {
            if let Some(t) = g.0.tables.get(&p.key()) {
                s.migrated = t.migrated;
                s.resumed = t.migrated;
                s.skipped = t.skipped;
                s.errors = t.errors;
            }
        }
        s
    }

    /// Starts table `i`'s task, with its own connection when it writes.
    async fn start(&self, i: usize, w: &Write, running: &mut Running) -> Result<()> {
        let client = match self.ep {
            Some(ep) if *w != Write::Nothing => {
                Some(ferry_shared::conn::connect_postgres(ep).await?)
            }
            _ => None,
        };
        let after = self.shared.state.lock().ok().and_then(|g| {
            g.0.tables
                .get(&self.shared.plans[i].key())
                .and_then(|t| t.after_rowid)
        });
        let after = if self.resume { after } else { None };
        let (sh, w) = (self.shared.clone(), w.clone());
        running.spawn(async move { (i, migrate::table(sh, i, w, client, after).await) });
        Ok(())
    }

    /// Records in the checkpoint that table `i` finished (a resume skips it).
    fn mark_done(&self, i: usize) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        if let Ok(mut g) = self.shared.state.lock() {
            let (state, cp) = &mut *g;
            if let Some(t) = state.tables.get_mut(&self.shared.plans[i].key()) {
                t.done = true;
            }
            cp.save(state)?;
        }
        Ok(())
    }
}
