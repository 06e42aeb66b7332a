//! The rejects file: every row a tool could not write, with where it came from and why.

use crate::error::{FerryError, Result};
use base64::Engine as _;
use fs_err::File;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One rejected row.
#[derive(Debug, Serialize)]
pub struct Reject<'a> {
    /// Input file (`-` for stdin) or source table.
    pub file: &'a str,
    /// 1-based input line, when the row came from NDJSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Target table.
    pub table: &'a str,
    /// Offending column, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<&'a str>,
    /// Offending value, as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<&'a str>,
    /// Why.
    pub reason: &'a str,
    /// The validation rule that failed, when a rule (not a type or the database) refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    /// The source row's SQLite rowid, when the row came from a SQLite table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rowid: Option<i64>,
    /// The whole record: the JSON line, or `{"base64": …}` when it is not UTF-8.
    pub record: Box<serde_json::value::RawValue>,
}

/// Writes rejects lazily (the file appears only when something is rejected).
pub struct Rejects {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    append: bool,
    count: u64,
    max: u64,
    logged: u64,
    /// Bytes in the file: what a checkpoint records, so a resume can cut off the rejects of
    /// a batch whose checkpoint was never saved.
    bytes: u64,
}

impl Rejects {
    /// Rejects go to `path`; with `append` (resume) earlier rejects are kept. `max` 0 is no
    /// limit.
    ///
    /// A fresh run (not `append`) moves the file an earlier run left aside, under a name
    /// stamped with its time ([`crate::fsutil::rotate_aside`]): the file under `path` always
    /// belongs to the run that reported it, even when this run rejects nothing, and no run
    /// deletes another's rejects.
    pub fn new(path: PathBuf, append: bool, max: u64) -> Self {
        if !append {
            match crate::fsutil::rotate_aside(&path) {
                Ok(Some(to)) => tracing::info!(
                    "the earlier run's rejects {} are kept as {}",
                    path.display(),
                    to.display()
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot move the earlier {} aside: {e}", path.display()),
            }
        }
        // Appending, the file's earlier rejects count in the length a checkpoint records.
        let bytes = if append {
            fs_err::metadata(&path).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        Rejects {
            path,
            writer: None,
            append,
            count: 0,
            max,
            logged: 0,
            bytes,
        }
    }

    /// Resumes the rejects file of an interrupted run at the length its checkpoint recorded:
    /// rejects written after that (by a batch whose checkpoint was never saved, and which the
    /// resumed run reads again) are cut off, so no row is listed twice.
    pub fn resume_at(path: PathBuf, bytes: u64, max: u64) -> Result<Self> {
        let mut r = Rejects::new(path, true, max);
        r.rewind(bytes)?;
        Ok(r)
    }

    /// Cuts the file back to `bytes` (what a checkpoint recorded) and appends from there:
    /// for a tool whose one rejects file spans several checkpoints (one per table).
    pub fn rewind(&mut self, bytes: u64) -> Result<()> {
        self.flush()?;
        self.writer = None;
        self.append = true;
        match fs_err::OpenOptions::new().write(true).open(&self.path) {
            Ok(f) => {
                if f.metadata()?.len() > bytes {
                    f.set_len(bytes)?;
                    f.sync_data()?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && bytes == 0 => {}
            Err(e) => return Err(e.into()),
        }
        self.bytes = bytes;
        Ok(())
    }

    /// Bytes written to the file so far (including an earlier run's, when resumed).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Where rejects go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows rejected in this run.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Records one rejected row; fails with [`FerryError::TooManyRejects`] past the limit.
    pub fn add(&mut self, r: &Reject<'_>) -> Result<()> {
        if self.writer.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs_err::create_dir_all(dir)?;
            }
            let f = crate::fsutil::private_options()
                .create(true)
                .write(true)
                .append(self.append)
                .truncate(!self.append)
                .open(&self.path)?;
            self.writer = Some(BufWriter::new(f));
        }
        self.count += 1;
        if self.logged < 20 {
            self.logged += 1;
            let at = r.line.map(|l| format!(":{l}")).unwrap_or_default();
            let col = r
                .column
                .map(|c| format!(" column {c:?}"))
                .unwrap_or_default();
            let val = r
                .value
                .map(|v| format!(" value {}", truncate(v, 80)))
                .unwrap_or_default();
            tracing::warn!(
                "rejected {}{at} table {:?}{col}{val}: {}",
                r.file,
                r.table,
                r.reason
            );
        } else if self.logged == 20 {
            self.logged += 1;
            tracing::warn!("more rejects: see {}", self.path.display());
        }
        if let Some(w) = &mut self.writer {
            let mut line = serde_json::to_vec(r).map_err(std::io::Error::from)?;
            line.push(b'\n');
            w.write_all(&line)?;
            self.bytes += line.len() as u64;
        }
        if self.max > 0 && self.count >= self.max {
            self.flush()?;
            return Err(FerryError::TooManyRejects(self.count));
        }
        Ok(())
    }

    /// Flushes and fsyncs (before a checkpoint that counts these rejects).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(w) = &mut self.writer {
            w.flush()?;
            w.get_ref().sync_data()?;
        }
        Ok(())
    }
}

/// The `record` field for a raw input line.
///
/// Valid JSON is kept verbatim (no number is rounded); anything else becomes a string.
pub fn record_value(line: &[u8]) -> Box<serde_json::value::RawValue> {
    use serde_json::value::RawValue;
    let fallback = |v: serde_json::Value| {
        RawValue::from_string(v.to_string()).unwrap_or_else(|_| Box::<RawValue>::default())
    };
    match std::str::from_utf8(line) {
        Ok(s) => match serde_json::from_str::<Box<RawValue>>(s) {
            Ok(v) => v,
            Err(_) => fallback(serde_json::Value::String(s.to_string())),
        },
        Err(_) => fallback(serde_json::json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(line)
        })),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n).collect();
        format!("{t}…")
    }
}
