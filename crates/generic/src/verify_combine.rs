//! `verify --combine`: one verdict for a table from the reports of its shards.
//!
//! Each `verify --shard I/N --report FILE` signs off its own key range. The table is equal
//! when every shard's report is there (each index once), the recorded ranges tile the key
//! space ([`ferry_shared::shard::tiling_problems`]: computed from the same bounds, each
//! ending where the next begins, open at both ends) and every range compared equal.

use ferry_shared::cli::CommonArgs;
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::shard::{tiling_problems, ShardRange};
use ferry_shared::{Exit, FerryError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a shard report says about one table (a part of verify's own verdict).
#[derive(Debug, Deserialize)]
struct ShardVerdict {
    table: String,
    target_table: String,
    equal: bool,
    source_rows: u64,
    target_rows: u64,
    missing_in_target: u64,
    extra_in_target: u64,
    different: u64,
    shard: Option<ShardRange>,
}

/// The combined verdict for one table.
#[derive(Debug, Serialize)]
struct Combined {
    table: String,
    target_table: String,
    equal: bool,
    shards: usize,
    source_rows: u64,
    target_rows: u64,
    differing_rows: u64,
    problems: Vec<String>,
}

/// Reads one shard report: the source and target it compared, and verify's verdicts
/// from its `details`. A file that is not one is a usage error.
fn read_report(path: &Path) -> Result<(String, Vec<ShardVerdict>), FerryError> {
    let bad = |why: &str| FerryError::Usage(format!("--combine {}: {why}", path.display()));
    let text = fs_err::read_to_string(path).map_err(|e| bad(&e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad("not JSON"))?;
    let tables = v
        .pointer("/details/tables")
        .filter(|_| v.get("tool").and_then(|t| t.as_str()) == Some("verify"))
        .ok_or_else(|| bad("not a report of verify (--report)"))?;
    let side = |k: &str| {
        v.pointer(&format!("/details/{k}"))
            .and_then(|s| s.as_str())
            .unwrap_or("?")
            .to_string()
    };
    let sides = format!("{} → {}", side("source"), side("target"));
    let verdicts = serde_json::from_value(tables.clone())
        .map_err(|_| bad("verify's tables could not be read"))?;
    Ok((sides, verdicts))
}

/// Combines the shards of one table.
fn combine_table(table: &str, parts: &[(PathBuf, ShardVerdict)]) -> Combined {
    let mut problems = Vec::new();
    let mut ranges = Vec::new();
    for (path, v) in parts {
        match &v.shard {
            Some(r) => ranges.push(r.clone()),
            None => problems.push(format!(
                "{}: compares the whole table, not a shard (run verify --shard I/N)",
                path.display()
            )),
        }
        if !v.equal {
            let which = v.shard.as_ref().map_or(String::new(), ShardRange::describe);
            problems.push(format!(
                "{which}: DIFFERENT in {} (missing {}, extra {}, different {})",
                path.display(),
                v.missing_in_target,
                v.extra_in_target,
                v.different
            ));
        }
    }
    problems.extend(tiling_problems(&ranges));
    let first_target = parts.first().map(|(_, v)| v.target_table.as_str());
    for (path, v) in parts
        .iter()
        .filter(|(_, v)| Some(v.target_table.as_str()) != first_target)
    {
        problems.push(format!(
            "{} compared target table {}, the others {}",
            path.display(),
            v.target_table,
            first_target.unwrap_or("?")
        ));
    }
    Combined {
        table: table.to_string(),
        target_table: parts
            .first()
            .map_or(String::new(), |(_, v)| v.target_table.clone()),
        equal: problems.is_empty(),
        shards: parts.len(),
        source_rows: parts.iter().map(|(_, v)| v.source_rows).sum(),
        target_rows: parts.iter().map(|(_, v)| v.target_rows).sum(),
        differing_rows: parts
            .iter()
            .map(|(_, v)| v.missing_in_target + v.extra_in_target + v.different)
            .sum(),
        problems,
    }
}

/// Shards compared against another source or target sign off nothing about this one.
fn mismatched_sides(sides: &[(PathBuf, String)], combined: &mut [Combined]) {
    let Some((f0, s0)) = sides.first() else {
        return;
    };
    for (f, s) in sides.iter().filter(|(_, s)| s != s0) {
        for c in combined.iter_mut() {
            c.equal = false;
            c.problems.push(format!(
                "{} compared {s}, but {} compared {s0}",
                f.display(),
                f0.display()
            ));
        }
    }
}

/// Runs `verify --combine REPORT…`: prints the verdict, writes `--report`, exit 1 unless
/// every table is equal.
pub fn run(files: &[PathBuf], common: &CommonArgs) -> anyhow::Result<Exit> {
    let mut report = RunReport::start("verify");
    report.inputs = files.iter().map(|f| f.display().to_string()).collect();
    let mut by_table: BTreeMap<String, Vec<(PathBuf, ShardVerdict)>> = BTreeMap::new();
    let mut sides: Vec<(PathBuf, String)> = Vec::new();
    for f in files {
        let (s, verdicts) = read_report(f)?;
        sides.push((f.clone(), s));
        for v in verdicts {
            by_table
                .entry(v.table.clone())
                .or_default()
                .push((f.clone(), v));
        }
    }
    let mut combined: Vec<Combined> = by_table
        .iter()
        .map(|(t, parts)| combine_table(t, parts))
        .collect();
    mismatched_sides(&sides, &mut combined);
    let equal = combined.iter().all(|c| c.equal);
    if !common.quiet {
        ferry_shared::logging::human_line(&summary(equal, &combined), false);
    }
    for c in &combined {
        let mut s = TableStats::new(&c.table);
        s.migrated = c.source_rows;
        s.errors = c.differing_rows;
        report.tables.push(s);
    }
    report.finish();
    let exit = if equal { Exit::Ok } else { Exit::Failure };
    report.status = if equal { "ok" } else { "different" }.into();
    report.exit_code = exit.code();
    report.details = Some(serde_json::json!({ "combined": combined }));
    report.emit(true, common.report.as_deref())?;
    Ok(exit)
}

fn summary(equal: bool, combined: &[Combined]) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "verify: {} (combined from shard reports)",
        if equal { "EQUAL" } else { "DIFFERENT" }
    );
    for c in combined {
        let _ = write!(
            out,
            "\n  {} → {}: {} across {} shards ({} source rows, {} target rows)",
            c.table,
            c.target_table,
            if c.equal { "equal" } else { "DIFFERENT" },
            c.shards,
            c.source_rows,
            c.target_rows
        );
        for p in &c.problems {
            let _ = write!(out, "\n    {p}");
        }
    }
    out
}
