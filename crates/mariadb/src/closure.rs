//! Which rows of which table belong to a customer set: the phases of the document, the
//! foreign-key closure (phase 1C) and the implicit foreign keys.
//!
//! Rules (documented in docs/tools/customer-filter.md):
//! - phase 1: a table with a `customer_id` column: `customer_id IN (ids)`;
//! - phase 1B: otherwise a table with a `user_id` column: `user_id IN (SEED_USER_IDS)`;
//! - phase 1C: otherwise a table with a foreign key (declared, or implicit) to a phase-1 or
//!   an already chosen 1C table, breadth first from the phase-1 tables: its rows whose
//!   key columns are among the referenced rows, `(fk…) IN (SELECT ref… FROM parent WHERE
//!   parent's filter)`, OR-ed over every such foreign key at the shortest distance;
//! - phase 2: every other table, all rows.
//!
//! Implicit foreign key: a column `X_id` (any case) that is in no declared foreign key,
//! where table `X` (any case) of the same database has a one-column primary key.

use ferry_shared::sql::quote_mysql as q;
use ferry_shared::DbContext;
use ferry_shared::Result;
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::collections::BTreeMap;

/// A foreign key (declared or implicit) inside one database.
#[derive(Debug, Clone, PartialEq)]
pub struct Fk {
    /// Referencing table.
    pub child: String,
    /// Its columns.
    pub cols: Vec<String>,
    /// Referenced table.
    pub parent: String,
    /// Referenced columns.
    pub refs: Vec<String>,
    /// Found by the implicit rule, not declared.
    pub implicit: bool,
}

/// A table of a source database.
#[derive(Debug, Clone)]
pub struct Table {
    /// Name.
    pub name: String,
    /// Columns that are written (not generated), in order.
    pub columns: Vec<String>,
    /// Which of `columns` are FLOAT: the text protocol writes a FLOAT with six significant
    /// digits (123456792 as 123457000), so these are read as the DOUBLE that holds the
    /// exact value, whose text the server turns back into the same FLOAT.
    pub floats: Vec<bool>,
    /// The key rows are paged, journaled and deleted by: the primary key, else the first
    /// unique key whose columns are all NOT NULL (empty: none; the table is keyless).
    pub primary_key: Vec<String>,
}

impl Table {
    /// The written columns as a SELECT list that reads every value exactly in the text
    /// protocol: FLOAT columns as DOUBLE (see [`Table::floats`]).
    pub fn select_list(&self) -> String {
        self.exact_list(&self.columns)
    }

    /// The primary key's columns as such a SELECT list.
    pub fn key_select_list(&self) -> String {
        self.exact_list(&self.primary_key)
    }

    fn exact_list(&self, cols: &[String]) -> String {
        cols.iter()
            .map(|c| {
                let i = self.columns.iter().position(|x| x == c);
                match i.and_then(|i| self.floats.get(i)) {
                    Some(true) => format!("CAST({} AS DOUBLE)", q(c)),
                    _ => q(c),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// `customer_id IN`.
    One,
    /// `user_id IN`.
    OneB,
    /// Through foreign keys.
    OneC,
    /// All rows.
    Two,
}

impl Phase {
    /// The document's name.
    pub fn label(self) -> &'static str {
        match self {
            Phase::One => "1",
            Phase::OneB => "1B",
            Phase::OneC => "1C",
            Phase::Two => "2",
        }
    }
}

/// One table's place in the plan.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The table.
    pub table: Table,
    /// Its phase.
    pub phase: Phase,
    /// WHERE condition on the source (None: all rows).
    pub filter: Option<String>,
    /// How it is reached, for `--plan`.
    pub path: String,
    /// Foreign-key hops from a phase-1 table (1C only).
    pub hops: usize,
}

/// A database's tables and foreign keys.
pub struct Schema {
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
    /// Foreign keys, declared and implicit.
    pub fks: Vec<Fk>,
}

/// Reads tables, columns, primary keys and foreign keys of `db` from information_schema.
pub async fn read_schema(c: &mut Conn, db: &str) -> Result<Schema> {
    let cols: Vec<(String, String, String, String)> = c
        .exec(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.EXTRA, c.DATA_TYPE FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
             WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
            (db,),
        )
        .await
        .with_db_context(|| format!("read columns of {db}"))?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for (t, col, extra, data_type) in cols {
        let e = tables.entry(t.clone()).or_insert_with(|| Table {
            name: t,
            columns: Vec::new(),
            floats: Vec::new(),
            primary_key: Vec::new(),
        });
        if !extra.to_ascii_uppercase().contains("GENERATED") {
            e.columns.push(col);
            e.floats.push(data_type.eq_ignore_ascii_case("float"));
        }
    }
    // (table, constraint, column, referenced table, referenced column)
    type KeyRow = (String, String, String, Option<String>, Option<String>);
    let keys: Vec<KeyRow> = c
        .exec(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? \
             AND (CONSTRAINT_NAME = 'PRIMARY' OR (REFERENCED_TABLE_NAME IS NOT NULL AND REFERENCED_TABLE_SCHEMA = TABLE_SCHEMA)) \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
            (db,),
        )
        .await
        .with_db_context(|| format!("read keys of {db}"))?;
    let mut fks: Vec<Fk> = Vec::new();
    let mut fk_index: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (t, cname, col, rt, rc) in keys {
        if cname == "PRIMARY" {
            if let Some(tb) = tables.get_mut(&t) {
                tb.primary_key.push(col);
            }
            continue;
        }
        let (Some(rt), Some(rc)) = (rt, rc) else {
            continue;
        };
        let i = *fk_index.entry((t.clone(), cname)).or_insert_with(|| {
            fks.push(Fk {
                child: t.clone(),
                cols: Vec::new(),
                parent: rt.clone(),
                refs: Vec::new(),
                implicit: false,
            });
            fks.len() - 1
        });
        fks[i].cols.push(col);
        fks[i].refs.push(rc);
    }
    unique_keys_for_keyless(c, db, &mut tables).await?;
    // Implicit foreign keys.
    let mut implicit = Vec::new();
    for t in tables.values() {
        for col in &t.columns {
            let lower = col.to_ascii_lowercase();
            let Some(stem) = lower.strip_suffix("_id") else {
                continue;
            };
            if stem.is_empty() || lower == "customer_id" || lower == "user_id" {
                continue;
            }
            if fks
                .iter()
                .any(|f| f.child == t.name && f.cols.contains(col))
            {
                continue;
            }
            if let Some(p) = tables.values().find(|p| {
                p.name.to_ascii_lowercase() == stem && p.primary_key.len() == 1 && p.name != t.name
            }) {
                implicit.push(Fk {
                    child: t.name.clone(),
                    cols: vec![col.clone()],
                    parent: p.name.clone(),
                    refs: p.primary_key.clone(),
                    implicit: true,
                });
            }
        }
    }
    fks.extend(implicit);
    Ok(Schema { tables, fks })
}

/// A table without a primary key but with a unique key over NOT NULL written columns is
/// keyed by that unique key (the first by name): its rows can be told apart, so it pages,
/// journals and deletes like any keyed table.
async fn unique_keys_for_keyless(
    c: &mut Conn,
    db: &str,
    tables: &mut BTreeMap<String, Table>,
) -> Result<()> {
    if tables.values().all(|t| !t.primary_key.is_empty()) {
        return Ok(());
    }
    let rows: Vec<(String, String, String, String)> = c
        .exec(
            "SELECT s.TABLE_NAME, s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE \
             FROM information_schema.STATISTICS s JOIN information_schema.COLUMNS c \
             ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
             WHERE s.TABLE_SCHEMA = ? AND s.NON_UNIQUE = 0 AND s.INDEX_NAME <> 'PRIMARY' \
             ORDER BY s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX",
            (db,),
        )
        .await
        .with_db_context(|| format!("read unique keys of {db}"))?;
    let mut keys: BTreeMap<(String, String), Vec<(String, bool)>> = BTreeMap::new();
    for (t, index, col, nullable) in rows {
        keys.entry((t, index))
            .or_default()
            .push((col, nullable == "YES"));
    }
    for ((t, _), cols) in keys {
        let Some(tb) = tables.get_mut(&t) else {
            continue;
        };
        let usable = cols.iter().all(|(c, null)| !null && tb.columns.contains(c));
        if tb.primary_key.is_empty() && usable {
            tb.primary_key = cols.into_iter().map(|(c, _)| c).collect();
        }
    }
    Ok(())
}

fn has_col(t: &Table, name: &str) -> Option<String> {
    t.columns
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .cloned()
}

/// Quoted column list, in parentheses when more than one.
pub fn tuple(cols: &[String]) -> String {
    let list: Vec<String> = cols.iter().map(|c| q(c)).collect();
    if list.len() == 1 {
        list[0].clone()
    } else {
        format!("({})", list.join(", "))
    }
}

/// Assigns each table its phase and filter.
pub fn plan(s: &Schema, db: &str, customers: &[i64], seed_users: &[i64]) -> Vec<Selected> {
    let ids = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let mut chosen: BTreeMap<String, Selected> = BTreeMap::new();
    for t in s.tables.values() {
        if let Some(c) = has_col(t, "customer_id") {
            chosen.insert(
                t.name.clone(),
                Selected {
                    table: t.clone(),
                    phase: Phase::One,
                    filter: Some(format!("{} IN ({})", q(&c), ids(customers))),
                    path: format!("{}.{c} IN ({})", t.name, ids(customers)),
                    hops: 0,
                },
            );
        } else if let Some(c) = has_col(t, "user_id") {
            chosen.insert(
                t.name.clone(),
                Selected {
                    table: t.clone(),
                    phase: Phase::OneB,
                    filter: Some(format!("{} IN ({})", q(&c), ids(seed_users))),
                    path: format!("{}.{c} IN ({}) (SEED_USER_IDS)", t.name, ids(seed_users)),
                    hops: 0,
                },
            );
        }
    }
    // Breadth first from phase-1 tables through foreign keys (child → chosen parent).
    let mut hops = 0;
    loop {
        hops += 1;
        let mut found: BTreeMap<String, Selected> = BTreeMap::new();
        for t in s.tables.values() {
            if chosen.contains_key(&t.name) {
                continue;
            }
            let mut conds = Vec::new();
            let mut paths = Vec::new();
            for f in s
                .fks
                .iter()
                .filter(|f| f.child == t.name && f.parent != t.name)
            {
                let Some(p) = chosen.get(&f.parent) else {
                    continue;
                };
                if !matches!(p.phase, Phase::One | Phase::OneC) {
                    continue;
                }
                let pf = p.filter.clone().unwrap_or_else(|| "TRUE".into());
                conds.push(format!(
                    "{} IN (SELECT {} FROM {}.{} WHERE {pf})",
                    tuple(&f.cols),
                    f.refs.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
                    q(db),
                    q(&f.parent)
                ));
                paths.push(format!(
                    "{}.{} → {}{}",
                    t.name,
                    f.cols.join("+"),
                    p.path,
                    if f.implicit { " (implicit key)" } else { "" }
                ));
            }
            if !conds.is_empty() {
                found.insert(
                    t.name.clone(),
                    Selected {
                        table: t.clone(),
                        phase: Phase::OneC,
                        filter: Some(conds.join(" OR ")),
                        path: paths.join(" | "),
                        hops,
                    },
                );
            }
        }
        if found.is_empty() {
            break;
        }
        chosen.extend(found);
    }
    for t in s.tables.values() {
        chosen.entry(t.name.clone()).or_insert_with(|| Selected {
            table: t.clone(),
            phase: Phase::Two,
            filter: None,
            path: "reference table: all rows".into(),
            hops: 0,
        });
    }
    let mut out: Vec<Selected> = chosen.into_values().collect();
    out.sort_by(|a, b| (a.phase, a.hops, &a.table.name).cmp(&(b.phase, b.hops, &b.table.name)));
    out
}
