//! Reading an extracted legacy table line by line, with the line numbers the rejects name.

use ferry_shared::Result;
use std::io::BufRead;
use std::path::Path;

/// The data lines of an NDJSON file (`$ferry` control lines skipped). A missing file is a
/// clear error naming it: the extract step did not run.
pub struct Lines {
    inner: Box<dyn BufRead>,
    buf: String,
    line: u64,
}

impl Lines {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Lines> {
        let f = fs_err::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ferry_shared::FerryError::NotFound(format!(
                "{} does not exist: run the step that writes it first (extract for the legacy tables; suppliers and items before orders and sales)",
                path.display()
            )),
            _ => e.into(),
        })?;
        Ok(Lines {
            inner: Box::new(std::io::BufReader::with_capacity(1 << 16, f)),
            buf: String::new(),
            line: 0,
        })
    }

    /// The next data line and its 1-based number.
    pub fn next_line(&mut self) -> Result<Option<(u64, &str)>> {
        loop {
            self.buf.clear();
            if self.inner.read_line(&mut self.buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if text.is_empty() || text.starts_with("{\"$ferry\"") {
                continue;
            }
            let text_len = text.len();
            return Ok(Some((self.line, &self.buf[..text_len])));
        }
    }
}

/// The line as a JSON value for a rejects file: itself when it is JSON, else a string.
pub fn raw(text: &str) -> Box<serde_json::value::RawValue> {
    ferry_shared::rejects::record_value(text.as_bytes())
}

/// Why a legacy row cannot be migrated as it is: text holding U+0000, which no PostgreSQL
/// text column stores (caught here, so a sale is never refused by the database while its
/// line is loaded). Only a line whose JSON spells `\u0000` is decoded to look: a legacy text
/// with a backslash followed by `u0000` is not taken for one.
pub fn nul(text: &str) -> Option<String> {
    fn holds(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(holds),
            serde_json::Value::Object(m) => m.values().any(holds),
            _ => false,
        }
    }
    if !text.contains("\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    holds(&value)
        .then(|| "a text value holds U+0000 (NUL), which PostgreSQL cannot store".to_string())
}

/// A legacy row of type `T`, or why it cannot be read.
pub fn parse_only<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("malformed legacy row: {e}"))
}

/// [`parse_only`], then [`nul`]: for rows that carry no money.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    let row = parse_only(text)?;
    nul(text).map_or(Ok(row), Err)
}

#[cfg(test)]
mod tests {
    use super::nul;

    #[test]
    fn only_a_real_nul_is_one() {
        let line = |text: &str| serde_json::json!({ "ISSUEDTO": text }).to_string();
        assert!(nul(&line("nul\u{0}to")).is_some());
        assert!(nul(&line("a backslash \\u0000 is text")).is_none());
        assert!(nul(&line("plain")).is_none());
    }
}
