//! Incremental migration (`--entity E --batch-size N --offset M`).
//!
//! Each batch works in its own folder, `data/batches/E-OFFSET-SIZE/` (extracted/,
//! transformed/, validated/, reports/), so a batch never overwrites another's items or
//! rejects. After each step the entity's files under `data/` (transformed items and
//! rejects, validated items) are rebuilt as the union of its batches in offset order: the
//! sales of a later batch find the buyers of every batch, and the final verify counts the
//! keys and rejects of all of them. Batches of one entity may not overlap (a rerun of the
//! same batch replaces it); a whole extraction of the entity replaces its batches, and the
//! first batch of an entity replaces the files of a whole run.

use super::record::Plan;
use crate::transform::Entity;
use ferry_shared::FerryError;
use std::path::{Path, PathBuf};

/// One batch of one entity.
pub struct Batch {
    entity: Entity,
    offset: u64,
    size: u64,
}

/// The files of an entity a batch publishes under `data/`.
const PUBLISHED: [&str; 3] = [
    "transformed/{}.ndjson",
    "transformed/{}.rejects.ndjson",
    "validated/{}.ndjson",
];

fn published(e: Entity) -> impl Iterator<Item = String> {
    PUBLISHED.iter().map(move |p| p.replace("{}", e.name()))
}

impl Batch {
    /// The batch of a plan, if it is one.
    pub fn of(plan: &Plan) -> Option<Batch> {
        match (plan.offset, plan.batch_size, plan.entities.as_slice()) {
            (Some(offset), Some(size), [entity]) => Some(Batch {
                entity: *entity,
                offset,
                size,
            }),
            _ => None,
        }
    }

    /// Its folder.
    pub fn dir(&self, data: &Path) -> PathBuf {
        data.join("batches").join(format!(
            "{}-{:012}-{}",
            self.entity.name(),
            self.offset,
            self.size
        ))
    }

    /// Before the batch's extraction: refuses an overlap with another batch; the first
    /// batch of an entity removes the entity's files of a whole run.
    pub fn begin(&self, data: &Path) -> anyhow::Result<()> {
        let dirs = batch_dirs(data, self.entity)?;
        let me = self.dir(data);
        for d in &dirs {
            let Some((o, s)) = range_of(d) else { continue };
            let overlaps = o < self.offset + self.size && self.offset < o + s;
            if *d != me && overlaps {
                return Err(FerryError::Usage(format!(
                    "--offset {} --batch-size {} overlaps the batch in {} (rows [{o}, {})): rerun exactly that batch, or migrate {} whole",
                    self.offset,
                    self.size,
                    d.display(),
                    o + s,
                    self.entity.name()
                ))
                .into());
            }
        }
        if dirs.is_empty() {
            drop_whole(data, self.entity)?;
        }
        Ok(())
    }

    /// `ENTITY=FILE` of the transformed items of the batches before this one, for
    /// validate-s9's `--before` (duplicates across batches decided as in one run).
    pub fn earlier(&self, data: &Path) -> anyhow::Result<Vec<String>> {
        let name = self.entity.name();
        Ok(batch_dirs(data, self.entity)?
            .into_iter()
            .filter(|d| range_of(d).is_some_and(|(o, _)| o < self.offset))
            .map(|d| {
                format!(
                    "{name}={}",
                    d.join(format!("transformed/{name}.ndjson")).display()
                )
            })
            .collect())
    }

    /// Rebuilds the entity's files under `data/` from its batches; returns them.
    pub fn publish(&self, data: &Path, e: Entity) -> anyhow::Result<Vec<PathBuf>> {
        let dirs = batch_dirs(data, e)?;
        let mut out = Vec::new();
        for rel in published(e) {
            let parts: Vec<PathBuf> = dirs.iter().map(|d| d.join(&rel)).collect();
            crate::files::concat(&parts, &data.join(&rel))?;
            out.push(data.join(&rel));
        }
        Ok(out)
    }
}

/// The offset and size a batch folder's name gives.
fn range_of(dir: &Path) -> Option<(u64, u64)> {
    let name = dir.file_name()?.to_str()?;
    let mut it = name.rsplitn(3, '-');
    let size = it.next()?.parse().ok()?;
    let offset = it.next()?.parse().ok()?;
    Some((offset, size))
}

/// The batch folders of an entity, in offset order.
pub fn batch_dirs(data: &Path, e: Entity) -> anyhow::Result<Vec<PathBuf>> {
    let root = data.join("batches");
    let entries = match fs_err::read_dir(&root) {
        Ok(r) => r,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    let prefix = format!("{}-", e.name());
    let mut dirs = Vec::new();
    for entry in entries {
        let p = entry?.path();
        let ours = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix));
        if ours && p.is_dir() && range_of(&p).is_some() {
            dirs.push(p);
        }
    }
    dirs.sort_by_key(|d| range_of(d));
    Ok(dirs)
}

/// A whole extraction of an entity replaces its batches.
pub fn supersede(data: &Path, e: Entity) -> anyhow::Result<()> {
    let dirs = batch_dirs(data, e)?;
    if dirs.is_empty() {
        return Ok(());
    }
    tracing::info!(
        "{}: a whole extraction replaces its {} earlier batches (data/batches/)",
        e.name(),
        dirs.len()
    );
    for d in dirs {
        fs_err::remove_dir_all(&d)?;
    }
    Ok(())
}

/// The first batch of an entity replaces the files a whole run left for it.
fn drop_whole(data: &Path, e: Entity) -> anyhow::Result<()> {
    let mut any = false;
    let load_rejects = format!("reports/load-{}.rejects.ndjson", e.name());
    for rel in published(e).chain([load_rejects]) {
        let p = data.join(rel);
        if p.is_file() {
            fs_err::remove_file(&p)?;
            any = true;
        }
    }
    crate::files::retain_other_tables(
        &data.join("reports/validation_rejects.ndjson"),
        &[e.name()],
    )?;
    if any {
        tracing::info!(
            "{}: batches replace the files of an earlier whole run",
            e.name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_overlaps() {
        let d = tempfile::tempdir().unwrap();
        let plan = |o| Plan {
            phases: vec![],
            entities: vec![Entity::Buyers],
            filter: None,
            offset: Some(o),
            batch_size: Some(100),
            check_target: false,
        };
        let b = Batch::of(&plan(100)).unwrap();
        assert_eq!(range_of(&b.dir(d.path())), Some((100, 100)));
        fs_err::create_dir_all(b.dir(d.path())).unwrap();
        assert!(b.begin(d.path()).is_ok(), "the same batch again");
        assert!(Batch::of(&plan(200)).unwrap().begin(d.path()).is_ok());
        let e = Batch::of(&plan(150)).unwrap().begin(d.path()).unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
    }
}
