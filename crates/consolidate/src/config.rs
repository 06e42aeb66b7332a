//! The configuration file: the document's `MigrationConfig` plus the table and field
//! mappings, so that which table goes where, each column's type, rules and default live in
//! data, not in code. `config/mingus.json` is the document's mapping.

use ferry_shared::{FerryError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole file. Every field is optional: flags override and fill in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Database name → SQLite file (relative paths are relative to the configuration file).
    #[serde(default)]
    pub sqlite_databases: BTreeMap<String, String>,
    /// PostgreSQL URL; `${VAR}` is replaced by the environment variable VAR.
    pub postgres_url: Option<String>,
    /// Rows per COPY batch (one transaction each).
    pub batch_size: Option<usize>,
    /// Tables loaded at the same time.
    pub max_workers: Option<usize>,
    /// Read, convert and validate; connect to PostgreSQL but write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Read, convert and validate; do not touch PostgreSQL at all.
    #[serde(default)]
    pub validate_only: bool,
    /// Back up each SQLite file (online backup API) before migrating.
    pub create_backup: Option<bool>,
    /// Keep the journal that lets `--rollback` remove exactly what the run inserted.
    pub enable_rollback: Option<bool>,
    /// Where backups go (one folder per migration id).
    pub backup_dir: Option<String>,
    /// Log level (`info`, `debug`): the same as `-v`.
    pub log_level: Option<String>,
    /// PostgreSQL schema of the mapped tables (default `public`).
    pub target_schema: Option<String>,
    /// Zone of date-times written without one: `UTC` or `±HH:MM` (default UTC).
    pub timezone: Option<String>,
    /// Namespace of the v5 UUIDs made from legacy ids.
    pub uuid_namespace: Option<String>,
    /// The table mappings. Empty: generic mode (every table, one schema per file).
    #[serde(default)]
    pub tables: Vec<TableMap>,
}

/// One source table → one target table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMap {
    /// Source database name (a key of `sqlite_databases`).
    pub database: String,
    /// Source table in that file.
    pub source: String,
    /// Target table (default: the source name).
    pub target: Option<String>,
    /// Target columns, in table order.
    pub columns: Vec<ColumnMap>,
}

impl TableMap {
    /// The target table name.
    pub fn target_name(&self) -> &str {
        self.target.as_deref().unwrap_or(&self.source)
    }
    /// `database.source`, the name references use.
    pub fn key(&self) -> String {
        format!("{}.{}", self.database, self.source)
    }
}

/// One target column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// Target column.
    pub name: String,
    /// Source column (default: the same name). Absent from the source: the default applies.
    pub from: Option<String>,
    /// PostgreSQL type, as written in CREATE TABLE (`uuid`, `numeric(12,2)`, `timestamptz`…).
    #[serde(rename = "type")]
    pub pg_type: String,
    /// Part of the primary key. A `uuid` key is made from the legacy id (v5).
    #[serde(default)]
    pub primary_key: bool,
    /// `database.table` whose key this column holds: the legacy id becomes that table's
    /// UUID, the row must exist there (foreign-key rule), and the created table gets the
    /// foreign key.
    pub references: Option<String>,
    /// NULL or empty is a validation failure (rule `required`).
    #[serde(default)]
    pub required: bool,
    /// Used when the source value is NULL or the source column does not exist.
    pub default: Option<serde_json::Value>,
    /// Validation rules.
    #[serde(default)]
    pub rules: Rules,
    /// Keep the value out of rejects and reports (`[redacted]`). Default: on for columns
    /// named like `*password*`, `*secret*`, `*token*`, `*encrypted*`.
    #[serde(default)]
    pub redact: Option<bool>,
}

impl ColumnMap {
    /// The source column name.
    pub fn source(&self) -> &str {
        self.from.as_deref().unwrap_or(&self.name)
    }
}

/// The document's validation rules, per column.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// An address: one `@`, text before it, a dotted domain after it, no spaces.
    #[serde(default)]
    pub email: bool,
    /// A US ZIP code: `12345` or `12345-6789` (5 or 10 characters).
    #[serde(default)]
    pub zip: bool,
    /// Smallest allowed number.
    pub min: Option<f64>,
    /// Largest allowed number.
    pub max: Option<f64>,
    /// Most characters allowed.
    pub max_length: Option<usize>,
    /// The JSON value must be an object.
    #[serde(default)]
    pub json_object: bool,
    /// A date or date-time must not be after the run's start.
    #[serde(default)]
    pub not_future: bool,
}

/// A configuration read from a file, with the directory its relative paths start from.
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Directory of the file.
    pub base: PathBuf,
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Loaded> {
    let text = fs_err::read_to_string(path)?;
    let config: Config = serde_json::from_str(&text).map_err(|e| {
        FerryError::Usage(format!(
            "configuration {}: {e} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    check(&config)
        .map_err(|e| FerryError::Usage(format!("configuration {}: {e}", path.display())))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Loaded { config, base })
}

fn check(c: &Config) -> std::result::Result<(), String> {
    let keys: Vec<String> = c.tables.iter().map(TableMap::key).collect();
    for (i, t) in c.tables.iter().enumerate() {
        if !c.sqlite_databases.contains_key(&t.database) {
            return Err(format!(
                "table {} names database {:?}, which sqlite_databases lacks",
                t.source, t.database
            ));
        }
        if keys[..i].contains(&keys[i]) {
            return Err(format!("table {} is mapped twice", keys[i]));
        }
        if t.columns.is_empty() {
            return Err(format!("table {} maps no columns", keys[i]));
        }
        let pk: Vec<&ColumnMap> = t.columns.iter().filter(|c| c.primary_key).collect();
        for col in &t.columns {
            if let Some(r) = &col.references {
                if !keys.contains(r) {
                    return Err(format!(
                        "{}.{} references {r:?}, which is not a mapped table (use database.table)",
                        keys[i], col.name
                    ));
                }
                if r == &keys[i] {
                    return Err(format!(
                        "{}.{} references its own table; self-references are not supported",
                        keys[i], col.name
                    ));
                }
                let target = c.tables.iter().find(|t2| &t2.key() == r);
                let tpk = target.map(|t2| t2.columns.iter().filter(|c| c.primary_key).count());
                if tpk != Some(1) {
                    return Err(format!(
                        "{}.{} references {r}, which needs exactly one primary-key column",
                        keys[i], col.name
                    ));
                }
            }
        }
        if pk.is_empty() {
            return Err(format!("table {} has no primary_key column", keys[i]));
        }
    }
    Ok(())
}

/// Tables in load order, grouped in levels: a table comes after every table it references,
/// and the tables of one level can run at the same time.
pub fn levels(tables: &[TableMap]) -> std::result::Result<Vec<Vec<usize>>, String> {
    let mut level = vec![usize::MAX; tables.len()];
    let keys: Vec<String> = tables.iter().map(TableMap::key).collect();
    let deps: Vec<Vec<usize>> = tables
        .iter()
        .map(|t| {
            t.columns
                .iter()
                .filter_map(|c| c.references.as_ref())
                .filter_map(|r| keys.iter().position(|k| k == r))
                .collect()
        })
        .collect();
    for _ in 0..=tables.len() {
        let mut changed = false;
        for i in 0..tables.len() {
            if level[i] != usize::MAX {
                continue;
            }
            if deps[i].iter().all(|&d| level[d] != usize::MAX) {
                level[i] = deps[i].iter().map(|&d| level[d] + 1).max().unwrap_or(0);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if let Some(i) = level.iter().position(|&l| l == usize::MAX) {
        return Err(format!(
            "the references of {} form a cycle; break it in the configuration",
            keys[i]
        ));
    }
    let n = level.iter().max().map_or(0, |m| m + 1);
    Ok((0..n)
        .map(|l| (0..tables.len()).filter(|&i| level[i] == l).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_references() {
        let c: Config = serde_json::from_str(
            r#"{"sqlite_databases": {"a": "a.db", "b": "b.db"},
                "tables": [
                 {"database": "b", "source": "child", "columns": [
                   {"name": "id", "type": "uuid", "primary_key": true},
                   {"name": "p", "type": "uuid", "references": "a.parent"}]},
                 {"database": "a", "source": "parent", "columns": [
                   {"name": "id", "type": "uuid", "primary_key": true}]}]}"#,
        )
        .unwrap();
        check(&c).unwrap();
        assert_eq!(levels(&c.tables).unwrap(), vec![vec![1], vec![0]]);
    }
}
