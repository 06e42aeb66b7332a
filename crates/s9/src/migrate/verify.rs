//! The verify phase of a run: `compare-counts` (source − rejected = the keys in the
//! tables) and `check-integrity` (the tables read back: references, required attributes,
//! types, business rules).

use super::batch;
use super::runner::Runner;
use crate::transform::Entity;
use ferry_shared::cli::to_argv;
use std::path::PathBuf;

/// The tables of the configuration as the verification tools take them.
fn tables(t: &super::config::TargetCfg) -> crate::compare::Tables {
    crate::compare::Tables {
        buyers_table: t.buyers_table.clone(),
        producers_table: t.producers_table.clone(),
        sales_table: t.sales_table.clone(),
    }
}

impl Runner {
    /// Counts, then integrity (also when the counts differ: both reports are wanted);
    /// the first failure, else the worse exit code.
    pub(super) fn verify_phase(&mut self, entities: &[Entity]) -> anyhow::Result<u8> {
        let id = "verify:all";
        let args = self.verify_args(entities)?;
        let out = self.data("reports/count_comparison.json");
        let counts = self.step(id, "compare-counts", args, &[out]);
        let integrity = self.integrity(entities);
        Ok(counts?.max(integrity?))
    }

    /// The flags of `compare-counts` for these entities: every rejects file of the run and
    /// of every batch, the validated items (the keys that must be in the tables).
    pub(super) fn verify_args(&self, entities: &[Entity]) -> anyhow::Result<Vec<String>> {
        let mut rejects = vec![self.data("reports/validation_rejects.ndjson")];
        let mut load_rejects = Vec::new();
        let mut expected = Vec::new();
        let mut filters = Vec::new();
        for &e in entities {
            let name = e.name();
            rejects.push(self.data(&format!("transformed/{name}.rejects.ndjson")));
            load_rejects.push(self.data(&format!("reports/load-{name}.rejects.ndjson")));
            for dir in batch::batch_dirs(&self.args.data_dir, e)? {
                rejects.push(dir.join("reports/validation_rejects.ndjson"));
                load_rejects.push(dir.join(format!("reports/load-{name}.rejects.ndjson")));
            }
            expected.push(format!(
                "{name}={}",
                self.data(&format!("validated/{name}.ndjson")).display()
            ));
            if let Some(f) = &self.plan().filter {
                filters.push(format!("{name}={f}"));
            }
        }
        let t = &self.cfg.target;
        let args = crate::compare::Args {
            source: self.source(),
            conn: self.dynamo(),
            tables: tables(t),
            entity: entities.to_vec(),
            count_rejects: rejects,
            load_rejects,
            expected,
            filters,
            output: self.data("reports/count_comparison.json"),
            segments: 4,
            common: self.common("verify:all"),
        };
        Ok(to_argv(&args)?)
    }

    /// `check-integrity` of the tables → data/reports/integrity_report.json.
    pub(super) fn integrity(&mut self, entities: &[Entity]) -> anyhow::Result<u8> {
        let id = "integrity:all";
        let t = &self.cfg.target;
        let out: PathBuf = self.data("reports/integrity_report.json");
        let args = crate::integrity::Args {
            conn: self.dynamo(),
            tables: tables(t),
            entity: entities.to_vec(),
            output: out.clone(),
            max_examples: 20,
            common: self.common(id),
        };
        self.step(id, "check-integrity", to_argv(&args)?, &[out])
    }
}
