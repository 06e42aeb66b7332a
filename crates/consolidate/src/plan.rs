//! What to migrate: each source table with its target table and columns, from the
//! configuration's mappings or, in generic mode, from the SQLite files themselves.

use crate::config::{ColumnMap, Rules, TableMap};
use crate::convert::convertible_type;
use ferry_engine::load::{ddl, TargetColumn, TargetTable};
use ferry_shared::conn::Engine;
use ferry_shared::schema::{LogicalType, TableSchema};
use ferry_shared::sql::{literal_pg, quote_pg as q};
use ferry_shared::{DbContext, FerryError, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// One target column and where its value comes from.
#[derive(Debug, Clone)]
pub struct ColPlan {
    /// Target column.
    pub name: String,
    /// Position in the source SELECT list; `None` when the source lacks the column.
    pub source_idx: Option<usize>,
    /// Type text for CREATE TABLE.
    pub pg_type: String,
    /// The converter's target type (the catalog's, once the table exists).
    pub logical: LogicalType,
    /// `db/table` whose legacy ids this column's UUIDs are made from.
    pub uuid_owner: Option<String>,
    /// Index of the referenced table in the plan list (foreign-key rule).
    pub references: Option<usize>,
    /// Part of the primary key.
    pub primary_key: bool,
    /// NULL/empty fails the `required` rule.
    pub required: bool,
    /// Used for NULL or absent source values.
    pub default: Option<rusqlite::types::Value>,
    /// Validation rules.
    pub rules: Rules,
}

/// One source table → one target table.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// Source database name.
    pub db: String,
    /// SQLite file.
    pub file: PathBuf,
    /// Source table.
    pub source: String,
    /// Target schema.
    pub schema: String,
    /// Target table.
    pub target: String,
    /// Source columns read, in SELECT order.
    pub select: Vec<String>,
    /// Target columns.
    pub columns: Vec<ColPlan>,
    /// Source columns no mapping reads (reported, not migrated).
    pub unmapped: Vec<String>,
    /// Other tables reference this one: record its accepted keys.
    pub referenced: bool,
    /// The SQLite table has a rowid (resume position, row order).
    pub has_rowid: bool,
    /// Rows in the source table.
    pub total: u64,
    /// CREATE TABLE (and index) statements, used when the table does not exist.
    pub create: Vec<String>,
    /// What the plan decided and why (generic mode's column types), for the report.
    pub notes: Vec<String>,
    /// Source columns whose values never reach a rejects file or report.
    pub redact: Vec<String>,
}

/// A column whose name says it holds a secret: its values are redacted by default.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token", "encrypted"]
        .iter()
        .any(|w| n.contains(w))
}

impl TablePlan {
    /// `db.source`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.db, self.source)
    }
    /// Quoted `schema.table`.
    pub fn rel(&self) -> String {
        format!("{}.{}", q(&self.schema), q(&self.target))
    }
    /// Primary-key column names.
    pub fn primary_key(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name.clone())
            .collect()
    }
    /// The columns as the loader's target columns.
    pub fn target_columns(&self) -> Vec<TargetColumn> {
        self.columns
            .iter()
            .map(|c| TargetColumn {
                name: c.name.clone(),
                logical: c.logical.clone(),
                nullable: !c.required && !c.primary_key,
                has_default: false,
                writable: true,
            })
            .collect()
    }

    /// Uses the existing target table's catalog types; every mapped column must exist.
    pub fn adopt(&mut self, t: &TargetTable) -> Result<()> {
        let mut missing = Vec::new();
        for c in &mut self.columns {
            match t.columns.iter().find(|tc| tc.name == c.name) {
                Some(tc) => c.logical = tc.logical.clone(),
                None => missing.push(c.name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(FerryError::Usage(format!(
                "{} exists but lacks the mapped columns {}; fix the table or the mapping",
                self.rel(),
                missing.join(", ")
            )));
        }
        if let Some(c) = t.columns.iter().find(|tc| {
            !tc.nullable
                && !tc.has_default
                && tc.writable
                && !self.columns.iter().any(|c| c.name == tc.name)
        }) {
            return Err(FerryError::Usage(format!(
                "{} has a NOT NULL column {:?} without a default that the mapping does not fill",
                self.rel(),
                c.name
            )));
        }
        for c in &mut self.columns {
            c.primary_key = t.primary_key.contains(&c.name);
        }
        Ok(())
    }
}

/// Opens a SQLite source read-only.
pub fn open(file: &Path) -> Result<Connection> {
    let ep = ferry_shared::conn::parse_url(&format!("sqlite://{}", file.display()), "source")?;
    ferry_shared::conn::open_sqlite(&ep, true)
}

/// Columns of a SQLite table: (name, declared type, not null, primary-key position).
fn sqlite_columns(c: &Connection, table: &str) -> Result<Vec<(String, String, bool, i64)>> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info({})",
            literal_pg(table)
        ))
        .with_db_context(|| format!("read columns of {table}"))?;
    let cols = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0, r.get(3)?))
        })
        .with_db_context(|| format!("read columns of {table}"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_db_context(|| format!("read columns of {table}"))?;
    Ok(cols)
}

/// Tables of a SQLite file, in name order: the engine's reader lists them.
pub use ferry_engine::source::sqlite_table_names as sqlite_tables;

fn has_rowid(c: &Connection, table: &str) -> bool {
    c.prepare(&format!("SELECT rowid FROM {} LIMIT 0", q(table)))
        .is_ok()
}

fn count(c: &Connection, table: &str) -> Result<u64> {
    c.query_row(&format!("SELECT count(*) FROM {}", q(table)), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .with_db_context(|| format!("count rows of {table}"))
}

fn json_to_sqlite(v: &serde_json::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        serde_json::Value::Null => V::Null,
        serde_json::Value::Bool(b) => V::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => V::Integer(i),
            None => V::Real(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => V::Text(s.clone()),
        other => V::Text(other.to_string()),
    }
}

/// Plans the mapped tables of a configuration. `files` maps database names to files.
pub fn mapped(
    tables: &[TableMap],
    files: &[(String, PathBuf)],
    schema: &str,
) -> Result<Vec<TablePlan>> {
    let keys: Vec<String> = tables.iter().map(TableMap::key).collect();
    let mut plans = Vec::new();
    for t in tables {
        let file = files
            .iter()
            .find(|(n, _)| n == &t.database)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| {
                FerryError::Usage(format!("no SQLite file for database {:?}", t.database))
            })?;
        let conn = open(&file)?;
        let src_cols = sqlite_columns(&conn, &t.source)?;
        if src_cols.is_empty() {
            return Err(FerryError::NotFound(format!(
                "table {:?} not found in {} ({})",
                t.source,
                t.database,
                file.display()
            )));
        }
        let mut select: Vec<String> = Vec::new();
        let mut columns = Vec::new();
        for c in &t.columns {
            columns.push(col_plan(c, t, &src_cols, &mut select, &keys)?);
        }
        let unmapped = src_cols
            .iter()
            .map(|c| c.0.clone())
            .filter(|n| !select.contains(n))
            .collect();
        let total = count(&conn, &t.source)?;
        plans.push(TablePlan {
            db: t.database.clone(),
            has_rowid: has_rowid(&conn, &t.source),
            file,
            source: t.source.clone(),
            schema: schema.to_string(),
            target: t.target_name().to_string(),
            select,
            columns,
            unmapped,
            referenced: false,
            total,
            create: Vec::new(),
            notes: Vec::new(),
            redact: t
                .columns
                .iter()
                .filter(|c| {
                    c.redact
                        .unwrap_or(is_secret(c.source()) || is_secret(&c.name))
                })
                .map(|c| c.source().to_string())
                .collect(),
        });
    }
    for i in 0..plans.len() {
        let refs: Vec<usize> = plans[i]
            .columns
            .iter()
            .filter_map(|c| c.references)
            .collect();
        for r in refs {
            plans[r].referenced = true;
        }
    }
    for i in 0..plans.len() {
        plans[i].create = create_mapped(&plans, i);
    }
    Ok(plans)
}

fn col_plan(
    c: &ColumnMap,
    t: &TableMap,
    src_cols: &[(String, String, bool, i64)],
    select: &mut Vec<String>,
    keys: &[String],
) -> Result<ColPlan> {
    let logical = convertible_type(&c.pg_type).ok_or_else(|| {
        FerryError::Usage(format!(
            "{}.{}: type {:?} is not one the converter knows (uuid, text, varchar(n), smallint, integer, bigint, numeric(p,s), real, double precision, boolean, date, timestamp, timestamptz, json, jsonb, bytea)",
            t.key(),
            c.name,
            c.pg_type
        ))
    })?;
    let source_idx = if src_cols.iter().any(|s| s.0 == c.source()) {
        match select.iter().position(|s| s == c.source()) {
            Some(i) => Some(i),
            None => {
                select.push(c.source().to_string());
                Some(select.len() - 1)
            }
        }
    } else {
        if c.default.is_none() && (c.required || c.primary_key) {
            return Err(FerryError::Usage(format!(
                "{}: column {:?} is required but the source has no {:?} and the mapping gives no default",
                t.key(),
                c.name,
                c.source()
            )));
        }
        None
    };
    let references = c
        .references
        .as_ref()
        .and_then(|r| keys.iter().position(|k| k == r));
    let uuid_owner = match (&logical, &c.references) {
        (LogicalType::Uuid, Some(r)) => Some(r.replacen('.', "/", 1)),
        (LogicalType::Uuid, None) if c.primary_key => Some(format!("{}/{}", t.database, t.source)),
        _ => None,
    };
    Ok(ColPlan {
        name: c.name.clone(),
        source_idx,
        pg_type: c.pg_type.clone(),
        logical,
        uuid_owner,
        references,
        primary_key: c.primary_key,
        required: c.required,
        default: c.default.as_ref().map(json_to_sqlite),
        rules: c.rules.clone(),
    })
}

fn create_mapped(plans: &[TablePlan], i: usize) -> Vec<String> {
    let p = &plans[i];
    let mut parts: Vec<String> = p
        .columns
        .iter()
        .map(|c| {
            let mut d = format!("{} {}", q(&c.name), c.pg_type);
            if c.required || c.primary_key {
                d.push_str(" NOT NULL");
            }
            d
        })
        .collect();
    let pk = p.primary_key();
    if !pk.is_empty() {
        let cols: Vec<String> = pk.iter().map(|c| q(c)).collect();
        parts.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    let mut index = Vec::new();
    for c in &p.columns {
        if let Some(r) = c.references {
            let parent = &plans[r];
            let ppk = parent.primary_key();
            parts.push(format!(
                "FOREIGN KEY ({}) REFERENCES {} ({})",
                q(&c.name),
                parent.rel(),
                ppk.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
            ));
            index.push(format!("CREATE INDEX ON {} ({})", p.rel(), q(&c.name)));
        }
    }
    let mut out = vec![format!(
        "CREATE TABLE {} (\n  {}\n)",
        p.rel(),
        parts.join(",\n  ")
    )];
    out.extend(index);
    out
}

/// The table's and columns' PostgreSQL names ([`ferry_shared::sql::pg_identifier`]), each
/// shortened one noted; returns the table's.
fn pg_names(db: &str, table: &str, s: &mut TableSchema, notes: &mut Vec<String>) -> String {
    let target = ferry_shared::sql::pg_identifier(table);
    if target != table {
        notes.push(format!("{db}.{table}: over 63 bytes, created as {target}"));
    }
    for c in &mut s.columns {
        let n = ferry_shared::sql::pg_identifier(&c.name);
        if n != c.name {
            notes.push(format!(
                "{db}.{table}.{}: over 63 bytes, created as {n}",
                c.name
            ));
            for k in s.primary_key.iter_mut().filter(|k| **k == c.name) {
                *k = n.clone();
            }
            c.name = n;
        }
    }
    target
}

/// Plans every table of every file, one PostgreSQL schema per file (named after the
/// database), columns typed by the documented SQLite → PostgreSQL mapping.
pub async fn generic(files: &[(String, PathBuf)]) -> Result<Vec<TablePlan>> {
    let mut plans = Vec::new();
    for (db, file) in files {
        let ep = ferry_shared::conn::parse_url(&format!("sqlite://{}", file.display()), "source")?;
        let mut src = ferry_engine::source::Source::connect(&ep).await?;
        let conn = open(file)?;
        for name in sqlite_tables(&conn)? {
            let t = ferry_engine::source::TableRef {
                db: "main".into(),
                name,
            };
            let mut s = src.describe(&t).await?;
            let select: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
            let redact = select.iter().filter(|c| is_secret(c)).cloned().collect();
            let mut notes = crate::profile::columns(&conn, db, &t.name, &mut s)?;
            let target = pg_names(db, &t.name, &mut s, &mut notes);
            let mut columns = Vec::new();
            for (i, c) in s.columns.iter().enumerate() {
                let pg_type = ddl::pg_type(c, Engine::Sqlite);
                let logical = convertible_type(&pg_type).unwrap_or(LogicalType::Other {
                    name: pg_type.clone(),
                });
                columns.push(ColPlan {
                    name: c.name.clone(),
                    source_idx: Some(i),
                    pg_type,
                    logical,
                    uuid_owner: None,
                    references: None,
                    primary_key: s.primary_key.contains(&c.name),
                    required: false,
                    default: None,
                    rules: Rules::default(),
                });
            }
            plans.push(TablePlan {
                db: db.clone(),
                file: file.clone(),
                has_rowid: has_rowid(&conn, &t.name),
                total: count(&conn, &t.name)?,
                source: t.name.clone(),
                schema: db.clone(),
                create: vec![ddl::create_pg(db, &target, &s)],
                target,
                select,
                columns,
                unmapped: Vec::new(),
                referenced: false,
                notes,
                redact,
            });
        }
    }
    Ok(plans)
}
