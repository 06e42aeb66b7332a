//! Versioned checkpoints, written temp → fsync → rename and read back on `--resume`.
//!
//! A checkpoint names the tool, the run's identity (what it reads and writes) and the last
//! committed unit. A checkpoint from a different run is refused rather than silently used.

use crate::error::{FerryError, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A checkpoint file as written: the version tag selects the layout, so a file of another
/// layout is refused by name instead of being read as something it is not.
#[derive(Serialize, Deserialize)]
#[serde(tag = "version")]
enum Versioned<S> {
    /// The current layout.
    #[serde(rename = "2")]
    V2(Envelope<S>),
}

#[derive(Serialize, Deserialize)]
struct Envelope<S> {
    tool: String,
    identity: String,
    updated_at: String,
    state: S,
}

/// Only the version of a checkpoint, to explain a file that does not parse.
#[derive(Deserialize)]
struct VersionOnly {
    version: serde_json::Value,
}

/// A checkpoint file for one tool run, holding that tool's state type `S` and nothing else.
#[derive(Debug)]
pub struct Checkpoint<S> {
    path: PathBuf,
    tool: String,
    identity: String,
    state: PhantomData<fn() -> S>,
}

// Not derived: a derive would demand `S: Clone`, and only the file's name is cloned.
impl<S> Clone for Checkpoint<S> {
    fn clone(&self) -> Self {
        Checkpoint {
            path: self.path.clone(),
            tool: self.tool.clone(),
            identity: self.identity.clone(),
            state: PhantomData,
        }
    }
}

impl<S: Serialize + DeserializeOwned> Checkpoint<S> {
    /// A checkpoint at `path` for `tool`; `identity` describes the run (source, table, target)
    /// so that `--resume` refuses a checkpoint of another run.
    pub fn new(path: impl Into<PathBuf>, tool: &str, identity: impl Into<String>) -> Self {
        Checkpoint {
            path: path.into(),
            tool: tool.into(),
            identity: identity.into(),
            state: PhantomData,
        }
    }

    /// Where the checkpoint lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the saved state, `None` when there is no checkpoint. A file that exists but
    /// cannot be read as this tool's state is an error: resuming from nothing would redo or
    /// skip work silently.
    pub fn load(&self) -> Result<Option<S>> {
        let text = match fs_err::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Versioned::V2(env) =
            serde_json::from_str::<Versioned<S>>(&text).map_err(|e| self.unreadable(&text, &e))?;
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

    /// The error for a checkpoint that does not parse, naming its version when it has one.
    fn unreadable(&self, text: &str, e: &serde_json::Error) -> FerryError {
        let why = match serde_json::from_str::<VersionOnly>(text) {
            Ok(v) if v.version != "2" => format!("version {} is not 2", v.version),
            _ => e.to_string(),
        };
        FerryError::Checkpoint(format!(
            "{}: unreadable checkpoint ({why}); delete it to start over",
            self.path.display()
        ))
    }

    /// Saves the state atomically.
    pub fn save(&self, state: &S) -> Result<()> {
        crash_hook(&self.tool);
        self.save_start(state)
    }

    /// Saves the checkpoint a run writes before its first unit. The crash hook does not
    /// count it, so `TOOL:N` still means "after N committed units, before their checkpoint".
    pub fn save_start(&self, state: &S) -> Result<()> {
        let env = Versioned::V2(Envelope {
            tool: self.tool.clone(),
            identity: self.identity.clone(),
            updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            state,
        });
        crate::fsutil::write_json_atomic(&self.path, &env)
    }

    /// Removes the checkpoint after a successful run.
    pub fn clear(&self) -> Result<()> {
        match fs_err::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The environment variable of the test-only crash hook: `TOOL:N` makes tool `TOOL` abort
/// just before writing its Nth checkpoint of the process.
pub const CRASH_HOOK_VAR: &str = "FERRY_TEST_CRASH_AT";

/// Checkpoints this process has been about to write, counted for the crash hook.
static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Aborts the process when [`CRASH_HOOK_VAR`] names `tool` and this is its Nth checkpoint.
///
/// Crash tests need a kill that certainly lands mid-run; a timed SIGKILL can miss a run that
/// finished first. The abort comes after the unit was committed to the target and before the
/// checkpoint records it: the worst instant for a resume, which must not duplicate that unit.
/// No destructor runs and no buffer is flushed, as with `kill -9`.
pub fn crash_hook(tool: &str) {
    let Some(spec) = std::env::var_os(CRASH_HOOK_VAR) else {
        return;
    };
    let spec = spec.to_string_lossy();
    let Some((name, n)) = spec.rsplit_once(':') else {
        return;
    };
    let n: u64 = n.parse().unwrap_or(0);
    if name != tool || n == 0 {
        return;
    }
    let seen = SAVES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if seen == n {
        tracing::error!("{CRASH_HOOK_VAR}={spec}: aborting before checkpoint {n}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_identity() {
        let dir = tempfile::tempdir().expect("tmp");
        let cp = Checkpoint::<u64>::new(dir.path().join("c.json"), "load", "a->b");
        assert_eq!(cp.load().expect("load"), None);
        cp.save(&42u64).expect("save");
        assert_eq!(cp.load().expect("load"), Some(42));
        let other = Checkpoint::<u64>::new(dir.path().join("c.json"), "load", "a->c");
        assert!(other.load().is_err());
        cp.clear().expect("clear");
        assert_eq!(cp.load().expect("load"), None);
    }

    /// A damaged, foreign or old-layout file is an error naming the file, never "no checkpoint".
    #[test]
    fn corrupt_or_foreign_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.json");
        let cp = Checkpoint::<u64>::new(&path, "load", "a->b");
        for (text, says) in [
            ("{\"version\":\"2\",\"tool\":\"lo", "unreadable checkpoint"),
            ("{\"version\":1,\"tool\":\"load\",\"identity\":\"a->b\",\"updated_at\":\"\",\"state\":3}", "version 1 is not 2"),
            ("{\"version\":\"2\",\"tool\":\"load\",\"identity\":\"a->b\",\"updated_at\":\"\",\"state\":\"x\"}", "unreadable checkpoint"),
            ("", "unreadable checkpoint"),
        ] {
            fs_err::write(&path, text).expect("write");
            let err = cp.load().expect_err(text).to_string();
            assert!(err.contains(says) && err.contains("c.json"), "{text}: {err}");
        }
    }
}
