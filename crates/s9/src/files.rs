//! File chores shared by the S9 tools: dropping an entity's lines from a shared rejects
//! file, and concatenating files into one, each written atomically.

use ferry_shared::FerryError;
use std::io::BufRead;
use std::path::Path;

/// Rewrites a rejects file (NDJSON lines with a `table`) without the lines of `tables`,
/// so a run that redoes some entities does not erase what it did not redo.
pub fn retain_other_tables(path: &Path, tables: &[&str]) -> ferry_shared::Result<()> {
    let file = match fs_err::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut kept = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let table = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["table"].as_str().map(str::to_string));
        if !table.is_some_and(|t| tables.contains(&t.as_str())) && !line.trim().is_empty() {
            kept.extend_from_slice(line.as_bytes());
            kept.push(b'\n');
        }
    }
    ferry_shared::fsutil::write_atomic(path, &kept)
}

/// Writes the concatenation of `parts` (those that exist, in order) to `out`, atomically;
/// removes `out` when no part exists.
pub fn concat(parts: &[std::path::PathBuf], out: &Path) -> ferry_shared::Result<()> {
    let present: Vec<_> = parts.iter().filter(|p| p.is_file()).collect();
    if present.is_empty() {
        return match fs_err::remove_file(out) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    if let Some(dir) = out.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let tmp = out.with_extension("concat.tmp");
    let mut w = std::io::BufWriter::new(ferry_shared::fsutil::create_private(&tmp)?);
    for p in present {
        let mut r = fs_err::File::open(p)?;
        std::io::copy(&mut r, &mut w)?;
    }
    let f = w
        .into_inner()
        .map_err(|e| FerryError::Failed(format!("write {}: {e}", tmp.display())))?;
    f.sync_all()?;
    drop(f);
    fs_err::rename(&tmp, out)?;
    ferry_shared::fsutil::sync_dir(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_tables_stay() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.ndjson");
        fs_err::write(
            &p,
            "{\"table\":\"buyers\",\"n\":1}\n{\"table\":\"sales\",\"n\":2}\n",
        )
        .unwrap();
        retain_other_tables(&p, &["buyers"]).unwrap();
        assert_eq!(
            fs_err::read_to_string(&p).unwrap(),
            "{\"table\":\"sales\",\"n\":2}\n"
        );
        let out = d.path().join("all.ndjson");
        concat(&[p.clone(), d.path().join("none"), p], &out).unwrap();
        assert_eq!(fs_err::read_to_string(&out).unwrap().lines().count(), 2);
    }
}
