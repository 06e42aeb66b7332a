//! Generic mode's column types: SQLite's declared type gives the affinity (its five rules),
//! and one scan of the table counts each column's storage classes, so a column is created
//! with a type its values fit. Rule 5 (NUMERIC affinity) catches every unknown name —
//! `STRING`, `TIME`, `UUID`, `NUM` (what `CREATE TABLE … AS` writes) — and SQLite keeps text
//! there as text: such a column becomes `text`, never a `numeric` that would refuse its
//! values. A name that says more (`UUID`, `TIME`) becomes that type only when every value
//! fits it. Each decision is noted for the report.

use ferry_shared::schema::{LogicalType, TableSchema};
use ferry_shared::sql::quote_pg as q;
use ferry_shared::{DbContext, Result};

/// Storage classes of one column's values.
#[derive(Debug, Default, Clone, Copy)]
struct Classes {
    text: i64,
    integer: i64,
    real: i64,
    blob: i64,
    /// Text values that fit the type the declared name suggests (UUID, TIME).
    fits_name: i64,
}

/// The pattern a value must match for a name refinement, as a SQLite expression on `c`.
fn name_check(declared: &str, c: &str) -> Option<String> {
    let d = declared.to_ascii_uppercase();
    let h = "[0-9a-fA-F]";
    if d.contains("UUID") || d.contains("GUID") {
        let g = |n: usize| h.repeat(n);
        return Some(format!(
            "{c} GLOB '{}-{}-{}-{}-{}'",
            g(8),
            g(4),
            g(4),
            g(4),
            g(12)
        ));
    }
    if d == "TIME" {
        return Some(format!(
            "({c} GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9]' OR {c} GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9].*' OR {c} GLOB '[0-2][0-9]:[0-5][0-9]')"
        ));
    }
    None
}

/// Whether a column's type could change with its values: an unknown name (SQLite's rule 5,
/// NUMERIC affinity, without a numeric name) or a name that says more (UUID, TIME). Only
/// those are scanned: the others' values already fit or are rejected one by one.
fn needs_scan(declared: &str, logical: &LogicalType) -> bool {
    let d = declared.to_ascii_uppercase();
    let numeric_name = ["DEC", "NUMERIC", "NUMBER", "MONEY"]
        .iter()
        .any(|n| d.contains(n));
    name_check(declared, "c").is_some()
        || matches!(logical, LogicalType::Decimal { .. }) && !numeric_name
}

/// Counts the storage classes of the columns that [`needs_scan`] in one scan.
fn scan(conn: &rusqlite::Connection, table: &str, s: &TableSchema) -> Result<Vec<Option<Classes>>> {
    let picked: Vec<bool> = s
        .columns
        .iter()
        .map(|c| needs_scan(&c.source_type, &c.logical))
        .collect();
    if !picked.contains(&true) {
        return Ok(vec![None; s.columns.len()]);
    }
    let mut exprs = Vec::new();
    for c in s.columns.iter().zip(&picked).filter(|p| *p.1).map(|p| p.0) {
        let col = q(&c.name);
        for class in ["text", "integer", "real", "blob"] {
            exprs.push(format!("coalesce(sum(typeof({col}) = '{class}'), 0)"));
        }
        let fits = name_check(&c.source_type, &col).unwrap_or_else(|| "0".into());
        exprs.push(format!(
            "coalesce(sum(typeof({col}) = 'text' AND {fits}), 0)"
        ));
    }
    let sql = format!("SELECT {} FROM {}", exprs.join(", "), q(table));
    let found: Vec<Classes> = conn
        .query_row(&sql, [], |r| {
            (0..exprs.len() / 5)
                .map(|i| {
                    Ok(Classes {
                        text: r.get(i * 5)?,
                        integer: r.get(i * 5 + 1)?,
                        real: r.get(i * 5 + 2)?,
                        blob: r.get(i * 5 + 3)?,
                        fits_name: r.get(i * 5 + 4)?,
                    })
                })
                .collect()
        })
        .with_db_context(|| format!("profile the columns of {table}"))?;
    let mut it = found.into_iter();
    Ok(picked
        .iter()
        .map(|&p| if p { it.next() } else { None })
        .collect())
}

/// The type a column gets from its affinity and its values, with the reason when it is not
/// the plain mapping's.
fn decide(declared: &str, logical: &LogicalType, v: Classes) -> Option<(LogicalType, String)> {
    let values = format!(
        "{} text, {} integer, {} real, {} blob",
        v.text, v.integer, v.real, v.blob
    );
    let text = LogicalType::Text { max_chars: None };
    let d = declared.to_ascii_uppercase();
    if name_check(declared, "c").is_some() && v.integer + v.real + v.blob == 0 {
        if v.fits_name == v.text {
            let t = if d == "TIME" {
                LogicalType::TimeOfDay
            } else {
                LogicalType::Uuid
            };
            return Some((
                t,
                format!("declared {declared}, every value fits ({values})"),
            ));
        }
        return Some((
            text,
            format!("declared {declared}, but not every value fits ({values})"),
        ));
    }
    match logical {
        LogicalType::Decimal { .. } if v.text + v.blob > 0 => Some((
            text,
            format!("declared {declared:?} (NUMERIC affinity) holds non-numeric values ({values})"),
        )),
        _ => None,
    }
}

/// Retypes the columns of `s` whose values do not fit the plain mapping; returns one note
/// per column changed.
pub fn columns(
    conn: &rusqlite::Connection,
    db: &str,
    table: &str,
    s: &mut TableSchema,
) -> Result<Vec<String>> {
    let classes = scan(conn, table, s)?;
    let mut notes = Vec::new();
    for (c, v) in s.columns.iter_mut().zip(classes) {
        let Some(v) = v else { continue };
        if let Some((t, why)) = decide(&c.source_type, &c.logical, v) {
            notes.push(format!("{db}.{table}.{}: created as {t:?}: {why}", c.name));
            c.logical = t;
        }
    }
    Ok(notes)
}
