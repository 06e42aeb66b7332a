//! Atomic file writes: a file is complete under its name or absent.

use crate::error::{FerryError, Result};
use std::io::Write;
use std::path::Path;

/// Options for a file Ferry creates: readable by its owner only (0600), because rejects,
/// reports, outputs and logs hold whole rows of someone's data.
pub fn private_options() -> fs_err::OpenOptions {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let mut o = fs_err::OpenOptions::new();
    o.mode(0o600);
    o
}

/// Creates (or truncates) a private file.
pub fn create_private(path: &Path) -> Result<fs_err::File> {
    Ok(private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?)
}

/// Writes `bytes` to `path` through `path.tmp`, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = create_private(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs_err::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Fsyncs the directory holding `path`, so a rename survives a power cut. Best effort.
pub fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = fs_err::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| FerryError::Failed(format!("serialize {}: {e}", path.display())))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// What a file held when it was recorded: its length and the xxh3-64 of its bytes. A
/// checkpoint keeps it for every file a step wrote, so a resume can tell the files on disk
/// are still that step's output and not another run's (or a hand-edited copy).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileDigest {
    /// Bytes.
    pub len: u64,
    /// xxh3-64 of the bytes, 16 hex digits.
    pub xxh3: String,
}

/// The digest of a file, streamed (memory stays flat); `None` when it does not exist.
pub fn file_digest(path: &Path) -> Result<Option<FileDigest>> {
    use std::io::Read;
    let mut f = match fs_err::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok(Some(FileDigest {
        len,
        xxh3: format!("{:016x}", h.digest()),
    }))
}

/// Moves an earlier run's file aside before a new run writes `path`, so no run ever deletes
/// another's rejects: `orders.rejects.ndjson` becomes `orders.rejects.20261202T164500Z.ndjson`,
/// stamped with the time the earlier run last wrote it (`-2`, `-3`… when taken). An empty
/// file holds nothing to keep and is removed. Returns the new name, if the file was kept.
pub fn rotate_aside(path: &Path) -> Result<Option<std::path::PathBuf>> {
    let meta = match fs_err::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if meta.len() == 0 {
        fs_err::remove_file(path)?;
        return Ok(None);
    }
    let to = rotated_name(path, meta.modified().ok());
    fs_err::rename(path, &to)?;
    Ok(Some(to))
}

/// [`rotate_aside`]'s copy: the file stays (a tool that rewrites part of it in place), and a
/// copy under the stamped name keeps the earlier run's whole file.
pub fn copy_aside(path: &Path) -> Result<Option<std::path::PathBuf>> {
    match fs_err::metadata(path) {
        Ok(m) if m.len() > 0 => {
            let to = rotated_name(path, m.modified().ok());
            fs_err::copy(path, &to)?;
            Ok(Some(to))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `STEM.STAMP.EXT` beside `path`, free.
fn rotated_name(path: &Path, modified: Option<std::time::SystemTime>) -> std::path::PathBuf {
    let when: chrono::DateTime<chrono::Utc> = modified.map_or_else(chrono::Utc::now, Into::into);
    let stamp = when.format("%Y%m%dT%H%M%SZ").to_string();
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let candidate = path.with_file_name(format!("{stem}.{stamp}{suffix}{ext}"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod rotate_tests {
    use super::*;

    #[test]
    fn an_earlier_file_is_kept_under_a_stamped_name() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("orders.rejects.ndjson");
        assert_eq!(rotate_aside(&p).expect("absent"), None);
        fs_err::write(&p, "{}\n").expect("write");
        let first = rotate_aside(&p).expect("rotate").expect("kept");
        assert!(!p.exists());
        let name = first
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with("orders.rejects.") && name.ends_with("Z.ndjson"),
            "{name}"
        );
        assert_eq!(fs_err::read_to_string(&first).expect("read"), "{}\n");
        // Same second: a second rotation does not overwrite the first.
        fs_err::write(&p, "{\"b\":1}\n").expect("write");
        let m = fs_err::metadata(&first)
            .expect("meta")
            .modified()
            .expect("mtime");
        fs_err::File::options()
            .write(true)
            .open(&p)
            .expect("open")
            .file()
            .set_modified(m)
            .expect("touch");
        let second = rotate_aside(&p).expect("rotate").expect("kept");
        assert_ne!(first, second);
        assert!(
            second.to_string_lossy().ends_with("-2.ndjson"),
            "{}",
            second.display()
        );
        fs_err::write(&p, "").expect("empty");
        assert_eq!(rotate_aside(&p).expect("empty"), None);
        assert!(!p.exists());
    }
}
