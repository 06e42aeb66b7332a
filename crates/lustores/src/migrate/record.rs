//! `WORK_DIR/.run.json`: what one run has done. A run without `--resume` is a new run;
//! `--resume` continues the recorded one only, with its own options, and refuses (exit 2,
//! with the reason) when the connections, the mapping or the options differ, or when a file
//! a completed step wrote is not the one it recorded: continuing on another run's files
//! would load what that run read, not what this one did.

use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::fsutil::{file_digest, FileDigest};
use ferry_shared::{FerryError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub run_id: String,
    pub started_at: String,
    /// xxh3 of what decides the result: source, target, mapping, options.
    pub identity: String,
    /// Steps done, in order.
    pub completed: Vec<String>,
    /// The files each completed step wrote, with their digests.
    pub outputs: BTreeMap<String, BTreeMap<PathBuf, Option<FileDigest>>>,
    /// The step running when the run stopped, and its tool's process id.
    pub current: Option<String>,
    pub child_pid: Option<u32>,
    /// Where step 1 backed the target up.
    pub backup_dir: Option<PathBuf>,
}

/// The run record's file.
pub fn checkpoint(work: &Path) -> Checkpoint<Run> {
    Checkpoint::new(work.join(".run.json"), "migrate-lustores", "lustores")
}

impl Run {
    /// A new run.
    pub fn new(identity: String) -> Run {
        Run {
            run_id: uuid::Uuid::new_v4().to_string(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            identity,
            completed: Vec::new(),
            outputs: BTreeMap::new(),
            current: None,
            child_pid: None,
            backup_dir: None,
        }
    }

    /// Whether this run completed `step`.
    pub fn done(&self, step: &str) -> bool {
        self.completed.iter().any(|c| c == step)
    }

    /// Records a completed step with the digests of the files it wrote.
    pub fn complete(&mut self, step: &str, files: &[PathBuf]) -> Result<()> {
        let mut digests = BTreeMap::new();
        for f in files {
            digests.insert(f.clone(), file_digest(f)?);
        }
        self.completed.retain(|c| c != step);
        self.completed.push(step.to_string());
        self.outputs.insert(step.to_string(), digests);
        self.current = None;
        self.child_pid = None;
        Ok(())
    }

    /// Refuses a resume that would not continue this run exactly.
    pub fn check_resume(&self, identity: &str) -> Result<()> {
        let refuse = |why: String| {
            FerryError::Usage(format!(
                "--resume refused: {why}; run {} (started {}) cannot be continued safely. Start a new run without --resume (it starts over from the legacy database)",
                self.run_id, self.started_at
            ))
        };
        if self.identity != identity {
            return Err(refuse(
                "the source, target, mapping or options differ from the recorded run's".into(),
            ));
        }
        for (step, files) in &self.outputs {
            for (path, recorded) in files {
                let now = file_digest(path)?;
                if now != *recorded {
                    return Err(refuse(format!(
                        "{} is not the file step {step} wrote",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The identity of a run: xxh3 of the parts given.
pub fn identity(parts: &[&str]) -> String {
    let mut text = String::new();
    for p in parts {
        text.push_str(p);
        text.push('\u{0}');
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}
