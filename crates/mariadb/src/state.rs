//! The document's state file (`MIGRATION_STATE_DIR/migration_state_1_2_3.json`, named by
//! the sorted customer ids) and the journal of inserted keys beside it.

use ferry_shared::{FerryError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One table's entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableEntry {
    /// `completed`, `skipped`, `failed`, or `in_progress` (interrupted: continues after
    /// `last_key`).
    pub status: String,
    /// Rows inserted by the runs of this customer set.
    pub rows: u64,
    /// Why it was skipped (`user_declined`, `skip_tables`, `large_table`, `no_terminal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the entry last changed.
    pub timestamp: String,
    /// The phase (1, 1B, 1C, 2).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The last source key copied (in-progress tables resume after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<Vec<Option<String>>>,
    /// Primary-key columns (the journal's columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// The target table was empty when the first copy of it began (no existence checks
    /// needed; a keyless table is emptied again by delete-migrated).
    #[serde(default)]
    pub empty_at_start: bool,
    /// Target database name (after --map).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_db: String,
    /// Parent rows brought along for migrated children (included in `rows`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parents_added: u64,
    /// Rows the selection covered, inserted or already there (a keyless table's claim:
    /// removing another set leaves it while this one needs it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub selected: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One routine's entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoutineEntry {
    /// PROCEDURE or FUNCTION.
    #[serde(rename = "type")]
    pub kind: String,
    /// `completed` (created by this migration), `exists` (was there), `failed`.
    pub status: String,
    /// When.
    pub timestamp: String,
}

/// One database's entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbEntry {
    /// Tables.
    #[serde(default)]
    pub tables: BTreeMap<String, TableEntry>,
    /// Routines.
    #[serde(default)]
    pub routines: BTreeMap<String, RoutineEntry>,
}

/// A target trigger set aside while rows are loaded (so it cannot change them), restored
/// afterwards — or by the next run after a crash.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SuspendedTrigger {
    /// Target database.
    pub db: String,
    /// Trigger name.
    pub name: String,
    /// Its sql_mode.
    pub sql_mode: String,
    /// Its CREATE TRIGGER statement.
    pub ddl: String,
}

/// The state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Per database.
    #[serde(default)]
    pub databases: BTreeMap<String, DbEntry>,
    /// Target triggers set aside during the load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspended_triggers: Vec<SuspendedTrigger>,
}

impl State {
    /// The entry of table `t` of database `db`, created empty when missing.
    pub fn table_mut(&mut self, db: &str, t: &str) -> &mut TableEntry {
        self.databases
            .entry(db.to_string())
            .or_default()
            .tables
            .entry(t.to_string())
            .or_default()
    }
}

/// Now, as the document writes it (UTC, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Where the state of a customer set lives.
pub struct Files {
    /// The state folder (`MIGRATION_STATE_DIR`).
    pub dir: PathBuf,
    /// The state file.
    pub state: PathBuf,
    /// The journal folder.
    pub journal: PathBuf,
}

impl Files {
    /// `DIR/migration_state_1_2_3.json` and `DIR/journal_1_2_3/`.
    pub fn new(dir: &Path, customers: &[i64]) -> Files {
        let mut ids = customers.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let tag = ids.iter().map(i64::to_string).collect::<Vec<_>>().join("_");
        Files::tagged(dir, &tag)
    }

    fn tagged(dir: &Path, tag: &str) -> Files {
        Files {
            dir: dir.to_path_buf(),
            state: dir.join(format!("migration_state_{tag}.json")),
            journal: dir.join(format!("journal_{tag}")),
        }
    }

    /// The other customer sets migrated from this state folder and not deleted since.
    pub fn others(&self) -> Result<Vec<Files>> {
        Ok(Files::all_in(&self.dir)?
            .into_iter()
            .filter(|f| f.state != self.state)
            .collect())
    }

    /// Every customer set migrated from the state folder `dir` and not deleted since.
    pub fn all_in(dir: &Path) -> Result<Vec<Files>> {
        let mut out = Vec::new();
        let entries = match fs_err::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for e in entries {
            let name = e?.file_name().to_string_lossy().into_owned();
            let Some(tag) = name
                .strip_prefix("migration_state_")
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|t| t.chars().all(|c| c.is_ascii_digit() || c == '_'))
            else {
                continue;
            };
            out.push(Files::tagged(dir, tag));
        }
        out.sort_by(|a, b| a.state.cmp(&b.state));
        Ok(out)
    }

    /// The claims journal of a target table: selected keys the target already held.
    pub fn claims_of(&self, db: &str, table: &str) -> PathBuf {
        self.journal.join(format!(
            "{}.{}.claims.ndjson",
            ferry_shared::cli::file_safe(db),
            ferry_shared::cli::file_safe(table)
        ))
    }

    /// Keys inserted by customer sets since deleted that other sets still needed: they
    /// go with the last set that needs them.
    pub fn inherited_of(&self, db: &str, table: &str) -> PathBuf {
        self.dir.join("inherited").join(format!(
            "{}.{}.ndjson",
            ferry_shared::cli::file_safe(db),
            ferry_shared::cli::file_safe(table)
        ))
    }

    /// Reads the state (empty when there is none yet).
    pub fn load(&self) -> Result<State> {
        match fs_err::read_to_string(&self.state) {
            Ok(s) => serde_json::from_str(&s).map_err(|e| {
                FerryError::Checkpoint(format!("state file {}: {e}", self.state.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                created_at: now(),
                updated_at: now(),
                databases: BTreeMap::new(),
                suspended_triggers: Vec::new(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the state atomically.
    pub fn save(&self, st: &mut State) -> Result<()> {
        st.updated_at = now();
        if let Some(d) = self.state.parent() {
            fs_err::create_dir_all(d)?;
        }
        ferry_shared::fsutil::write_json_atomic(&self.state, st)
    }

    /// The journal file of a target table.
    pub fn journal_of(&self, db: &str, table: &str) -> PathBuf {
        self.journal.join(format!(
            "{}.{}.ndjson",
            ferry_shared::cli::file_safe(db),
            ferry_shared::cli::file_safe(table)
        ))
    }
}

/// The other customer sets still migrated from this state folder, with their states.
pub fn load_others(files: &Files) -> Result<Vec<(Files, State)>> {
    let mut out = Vec::new();
    for f in files.others()? {
        let st = f.load()?;
        out.push((f, st));
    }
    Ok(out)
}

/// The lines of a journal, each one key as its JSON text (empty when there is none).
pub fn journal_keys(path: &Path) -> Result<Vec<String>> {
    match fs_err::read_to_string(path) {
        Ok(s) => Ok(s
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Appends keys to a journal and syncs, before the rows they name are written.
pub fn journal_append(path: &Path, keys: &[Vec<Option<String>>]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    if let Some(d) = path.parent() {
        fs_err::create_dir_all(d)?;
    }
    let mut buf = Vec::new();
    for k in keys {
        serde_json::to_writer(&mut buf, k).map_err(std::io::Error::from)?;
        buf.push(b'\n');
    }
    let mut f = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&buf)?;
    f.sync_data()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn file_names() {
        let f = Files::new(Path::new(".migration_state"), &[3, 1, 2, 1]);
        assert_eq!(
            f.state,
            Path::new(".migration_state/migration_state_1_2_3.json")
        );
    }
}
