//! Versioned checkpoints, written temp → fsync → rename and read back on `--resume`.
//!
//! A checkpoint names the tool, the run's identity (what it reads and writes) and the last
//! committed unit. A checkpoint from a different run is refused rather than silently used.

use crate::error::{FerryError, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The checkpoint envelope version.
pub const CHECKPOINT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    tool: String,
    identity: String,
    updated_at: String,
    state: T,
}

/// A checkpoint file for one tool run.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
    tool: String,
    identity: String,
}

impl Checkpoint {
    /// A checkpoint at `path` for `tool`; `identity` describes the run (source, table, target)
    /// so that `--resume` refuses a checkpoint of another run.
    pub fn new(path: impl Into<PathBuf>, tool: &str, identity: impl Into<String>) -> Self {
        Checkpoint {
            path: path.into(),
            tool: tool.into(),
            identity: identity.into(),
        }
    }

    /// Where the checkpoint lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the saved state, `None` when there is no checkpoint.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FerryError::io(&self.path, e)),
        };
        let env: Envelope<T> = serde_json::from_str(&text).map_err(|e| {
            FerryError::Checkpoint(format!(
                "{}: unreadable checkpoint ({e}); delete it to start over",
                self.path.display()
            ))
        })?;
        if env.version != CHECKPOINT_VERSION {
            return Err(FerryError::Checkpoint(format!(
                "{}: checkpoint version {} is not {CHECKPOINT_VERSION}",
                self.path.display(),
                env.version
            )));
        }
        if env.tool != self.tool || env.identity != self.identity {
            return Err(FerryError::Checkpoint(format!(
                "{}: checkpoint belongs to another run ({} {}); delete it or use another --checkpoint",
                self.path.display(),
                env.tool,
                env.identity
            )));
        }
        Ok(Some(env.state))
    }

    /// Saves the state atomically.
    pub fn save<T: Serialize>(&self, state: &T) -> Result<()> {
        let env = Envelope {
            version: CHECKPOINT_VERSION,
            tool: self.tool.clone(),
            identity: self.identity.clone(),
            updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            state,
        };
        crate::fsutil::write_json_atomic(&self.path, &env)
    }

    /// Removes the checkpoint after a successful run.
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(FerryError::io(&self.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_identity() {
        let dir = tempfile::tempdir().expect("tmp");
        let cp = Checkpoint::new(dir.path().join("c.json"), "load", "a->b");
        assert_eq!(cp.load::<u64>().expect("load"), None);
        cp.save(&42u64).expect("save");
        assert_eq!(cp.load::<u64>().expect("load"), Some(42));
        let other = Checkpoint::new(dir.path().join("c.json"), "load", "a->c");
        assert!(other.load::<u64>().is_err());
        cp.clear().expect("clear");
        assert_eq!(cp.load::<u64>().expect("load"), None);
    }
}
