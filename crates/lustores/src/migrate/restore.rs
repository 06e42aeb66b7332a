//! `migrate-lustores --restore DIR`: the document's "restore and retry" as one command. Every
//! table of a step-1 backup (extract's NDJSON and sidecars) is put back exactly: the tables
//! are emptied together, each file loaded with `load-postgres`, the foreign keys added back
//! (checked) and the id sequences moved past the restored ids. Rerunning it after a crash
//! starts it over, which gives the same result.

use super::connect::Side;
use super::target::{self, qualified};
use super::Args;
use anyhow::Context;
use ferry_shared::conn::connect_postgres;
use ferry_shared::{Exit, FerryError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tables a backup folder holds (one `TABLE.ndjson` with its sidecar each).
fn backed_up(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut tables = Vec::new();
    for e in fs_err::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(t) = name.strip_suffix(".schema.json") {
            if dir.join(format!("{t}.ndjson")).is_file() && t != target::PENDING {
                tables.push(t.to_string());
            }
        }
    }
    tables.sort();
    if tables.is_empty() {
        return Err(FerryError::Usage(format!(
            "--restore {}: no TABLE.ndjson with its TABLE.schema.json in it",
            dir.display()
        ))
        .into());
    }
    Ok(tables)
}

/// Restores the backup in `dir` into the target.
pub async fn run(args: &Args, dir: &Path, target: &Side) -> anyhow::Result<Exit> {
    let tables = backed_up(dir)?;
    let mut c = connect_postgres(&target.endpoint).await?;
    // Never under a running migration: it would truncate what that one loads.
    target::lock(&c).await?;
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    let fks = target::foreign_keys(&c, "public", &names).await?;
    target::drop_foreign_keys(&mut c, "public", &fks).await?;
    let list: Vec<String> = names.iter().map(|t| qualified("public", t)).collect();
    c.batch_execute(&format!("TRUNCATE {} RESTART IDENTITY", list.join(", ")))
        .await
        .map_err(|e| target::db("empty the tables before the restore", e))?;
    for t in &names {
        load(args, dir, t, target)?;
        target::sync_sequence(&c, "public", t).await?;
    }
    target::add_foreign_keys(&mut c, "public").await?;
    tracing::info!("restored {} tables from {}", names.len(), dir.display());
    Ok(Exit::Ok)
}

/// One table's file back into it.
fn load(args: &Args, dir: &Path, table: &str, target: &Side) -> anyhow::Result<()> {
    let bin: PathBuf = std::env::current_exe()?.with_file_name("load-postgres");
    let checkpoint = dir.join(format!(".restore-{table}.checkpoint.json"));
    // A restore always starts over (the tables were emptied): an earlier attempt's
    // checkpoint must not make the load skip rows.
    let _ = fs_err::remove_file(&checkpoint);
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--target",
        &target.url,
        "--table",
        &format!("public.{table}"),
    ])
    .arg(dir.join(format!("{table}.ndjson")))
    .args(["--mode", "insert", "--max-rejects", "1", "-q", "--log-file"])
    .arg(&args.log_file)
    .arg("--checkpoint")
    .arg(&checkpoint)
    .arg("--rejects")
    .arg(dir.join(format!("restore-{table}.rejects.ndjson")));
    match &target.password {
        Some(p) => cmd.env("FERRY_TARGET_PASSWORD", p.expose()),
        None => cmd.env_remove("FERRY_TARGET_PASSWORD"),
    };
    let status = cmd
        .status()
        .with_context(|| format!("run {}", bin.display()))?;
    if status.code() != Some(0) {
        return Err(FerryError::Failed(format!(
            "restore of {table} failed ({status}); see restore-{table}.rejects.ndjson; rerun --restore to start it over"
        ))
        .into());
    }
    Ok(())
}
