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
