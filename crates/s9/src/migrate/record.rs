//! `data/.checkpoint.json`: what one run of `migrate-s9` has done.
//!
//! A checkpoint belongs to one run: its id, the plan it was started with (phases, entities,
//! filter, batch), a hash of the configuration that decides what is read and where it goes,
//! and the digest of every file each completed step wrote. `--resume` continues that run
//! only: it refuses (exit 2, with the reason) when the configuration or the plan differ or
//! when a file on disk is not the one the step recorded, because skipping a step on the
//! strength of another run's files loses whatever changed since (defect: day 2's new buyer
//! was never loaded because day 1's files passed for day 2's).

use super::Phase;
use crate::transform::Entity;
use ferry_shared::fsutil::{file_digest, FileDigest};
use ferry_shared::FerryError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a run was asked to do; a resume takes it from the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub phases: Vec<Phase>,
    pub entities: Vec<Entity>,
    pub filter: Option<String>,
    pub offset: Option<u64>,
    pub batch_size: Option<u64>,
    /// `--phase validate --target`: the integrity check of the tables.
    #[serde(default)]
    pub check_target: bool,
}

/// The state of one run.
#[derive(Debug, Serialize, Deserialize)]
pub struct Progress {
    /// This run's id (a UUID), also in every log line's run and in the reports.
    pub run_id: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// xxh3 of the configuration's source and target sections.
    pub config_hash: String,
    pub plan: Plan,
    /// Steps done, as `phase:entity` (`validate:all`, `verify:all`).
    pub completed: Vec<String>,
    /// Their exit codes (3: records rejected), so a resumed run still reports them and
    /// still stops where rejects stop a run.
    #[serde(default)]
    pub codes: BTreeMap<String, u8>,
    /// The files each completed step wrote, with their digests.
    #[serde(default)]
    pub outputs: BTreeMap<String, BTreeMap<PathBuf, Option<FileDigest>>>,
    /// The step running when the run stopped.
    pub current: Option<String>,
    /// Backups this run's loads took, per table (for a rollback).
    #[serde(default)]
    pub backups: BTreeMap<String, String>,
}

impl Progress {
    /// A new run.
    pub fn new(config_hash: String, plan: Plan) -> Progress {
        Progress {
            run_id: uuid::Uuid::new_v4().to_string(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            config_hash,
            plan,
            completed: Vec::new(),
            codes: BTreeMap::new(),
            outputs: BTreeMap::new(),
            current: None,
            backups: BTreeMap::new(),
        }
    }

    /// Records a finished step and the digests of the files it wrote.
    pub fn complete(&mut self, id: &str, code: u8, files: &[PathBuf]) -> ferry_shared::Result<()> {
        let mut digests = BTreeMap::new();
        for f in files {
            digests.insert(f.clone(), file_digest(f)?);
        }
        self.completed.retain(|c| c != id);
        self.completed.push(id.to_string());
        self.codes.insert(id.to_string(), code);
        self.outputs.insert(id.to_string(), digests);
        self.current = None;
        Ok(())
    }

    /// Forgets a step (it will run again on a resume).
    pub fn forget(&mut self, id: &str) {
        self.completed.retain(|c| c != id);
        self.codes.remove(id);
        self.outputs.remove(id);
    }

    /// Checks that a resume may continue this run: same configuration, the plan given (if
    /// any flag was) the same, every completed step's files as recorded.
    pub fn check_resume(&self, config_hash: &str, asked: Option<&Plan>) -> Result<(), FerryError> {
        let refuse = |why: String| {
            FerryError::Usage(format!(
                "--resume refused: {why}; run {} (started {}) cannot be continued safely. \
                 Start a new run without --resume (completed work is redone from the source)",
                self.run_id, self.started_at
            ))
        };
        if self.config_hash != config_hash {
            return Err(refuse(
                "the configuration's source or target differs from the one the run started with"
                    .into(),
            ));
        }
        if let Some(p) = asked.filter(|p| **p != self.plan) {
            return Err(refuse(format!(
                "the run was started with {}, this command asks for {}",
                describe(&self.plan),
                describe(p)
            )));
        }
        for id in &self.completed {
            for (path, want) in self.outputs.get(id).into_iter().flatten() {
                let have = file_digest(path).map_err(|e| refuse(e.to_string()))?;
                if have != *want {
                    return Err(refuse(format!(
                        "{} is not the file step {id} wrote ({} now, {} recorded)",
                        path.display(),
                        show(have.as_ref()),
                        show(want.as_ref())
                    )));
                }
            }
        }
        Ok(())
    }
}

fn show(d: Option<&FileDigest>) -> String {
    match d {
        Some(d) => format!("{} bytes, xxh3 {}", d.len, d.xxh3),
        None => "absent".into(),
    }
}

/// A plan in words, for messages.
pub fn describe(p: &Plan) -> String {
    let mut s = format!(
        "phases {} for {}",
        p.phases
            .iter()
            .map(|x| x.name())
            .collect::<Vec<_>>()
            .join(","),
        p.entities
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(",")
    );
    if p.check_target {
        s.push_str(" --target");
    }
    if let Some(f) = &p.filter {
        s.push_str(&format!(", --filter {f:?}"));
    }
    if let (Some(o), Some(b)) = (p.offset, p.batch_size) {
        s.push_str(&format!(", --offset {o} --batch-size {b}"));
    }
    s
}

/// The hash of what decides where data comes from and goes to (the password left out: it
/// may change without changing the run).
pub fn config_hash(source: &super::config::SourceCfg, target: &super::config::TargetCfg) -> String {
    // Without a host in the configuration the tools read FERRY_SOURCE: it is the source.
    let env_source = source
        .host
        .is_none()
        .then(|| std::env::var("FERRY_SOURCE").ok())
        .flatten()
        .map(|u| ferry_shared::conn::redact_urls(&u));
    let v = serde_json::json!({
        "host": source.host, "port": source.port, "database": source.database,
        "username": source.username, "env": env_source,
        "region": target.region, "endpoint": target.endpoint_url,
        "tables": [&target.buyers_table, &target.producers_table, &target.sales_table],
    });
    format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(v.to_string().as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            phases: vec![Phase::Extract],
            entities: vec![Entity::Buyers],
            filter: None,
            offset: None,
            batch_size: None,
            check_target: false,
        }
    }

    #[test]
    fn a_changed_file_refuses_the_resume() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("buyers.ndjson");
        fs_err::write(&f, "{\"a\":1}\n").unwrap();
        let mut p = Progress::new("h".into(), plan());
        p.complete("extract:buyers", 0, std::slice::from_ref(&f))
            .unwrap();
        assert!(p.check_resume("h", None).is_ok());
        assert!(p.check_resume("other", None).is_err());
        let mut other = plan();
        other.entities = vec![Entity::Sales];
        assert!(p.check_resume("h", Some(&other)).is_err());
        fs_err::write(&f, "{\"a\":2}\n").unwrap();
        let e = p.check_resume("h", None).unwrap_err().to_string();
        assert!(
            e.contains("is not the file step extract:buyers wrote"),
            "{e}"
        );
    }
}
