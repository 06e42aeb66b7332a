//! NDJSON records: one JSON object per line, read and written without loss.
//!
//! A stream may start with a header line `{"$ferry":"header","schema":{…}}` and end with
//! `{"$ferry":"end","rows":N,"checksum":"…"}`: the schema travels with a pipe, and a loader
//! can tell a finished stream from one whose producer died. Files written with `-o` carry the
//! schema in a sidecar instead. See docs/ndjson.md.

use crate::checksum::Checksum;
use crate::error::{FerryError, Result};
use crate::schema::TableSchema;
use base64::Engine as _;
use fs_err::File;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MARKER_PREFIX: &[u8] = b"{\"$ferry\"";

#[derive(serde::Serialize, serde::Deserialize)]
struct ControlLine {
    #[serde(rename = "$ferry")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema: Option<TableSchema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

// ---------------------------------------------------------------- writing

enum Sink {
    Stdout(BufWriter<std::io::Stdout>),
    File {
        tmp: PathBuf,
        dest: PathBuf,
        w: BufWriter<File>,
    },
}

/// Writes records to stdout or to a file that appears under its name only when finished.
pub struct RecordWriter {
    sink: Sink,
    line: Vec<u8>,
    keys: Vec<Vec<u8>>,
    field: usize,
    checksum: Checksum,
    offset: u64,
}

/// The temporary name a file has while it is being written.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

impl RecordWriter {
    /// Writes to stdout.
    pub fn stdout() -> Self {
        widen_pipe(std::io::stdout());
        Self::with_sink(
            Sink::Stdout(BufWriter::with_capacity(1 << 18, std::io::stdout())),
            0,
        )
    }

    /// Writes to `dest.part`, renamed to `dest` by [`RecordWriter::finish`]. Missing parent
    /// folders are created (`-o data/extracted/sales.ndjson` on a fresh checkout).
    pub fn create(dest: &Path) -> Result<Self> {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir)?;
        }
        let tmp = part_path(dest);
        let f = crate::fsutil::create_private(&tmp)?;
        Ok(Self::with_sink(
            Sink::File {
                tmp,
                dest: dest.to_path_buf(),
                w: BufWriter::with_capacity(1 << 18, f),
            },
            0,
        ))
    }

    /// Reopens `dest.part` after a crash, cut back to `offset` (the last checkpoint), with the
    /// checksum saved then.
    pub fn resume(dest: &Path, offset: u64, checksum: Checksum) -> Result<Self> {
        let tmp = part_path(dest);
        let f = fs_err::OpenOptions::new().write(true).open(&tmp)?;
        f.set_len(offset)?;
        let mut f = f;
        f.seek(SeekFrom::Start(offset))?;
        let mut w = Self::with_sink(
            Sink::File {
                tmp,
                dest: dest.to_path_buf(),
                w: BufWriter::with_capacity(1 << 18, f),
            },
            offset,
        );
        w.checksum = checksum;
        Ok(w)
    }

    fn with_sink(sink: Sink, offset: u64) -> Self {
        RecordWriter {
            sink,
            line: Vec::with_capacity(4096),
            keys: Vec::new(),
            field: 0,
            checksum: Checksum::default(),
            offset,
        }
    }

    fn out(&mut self) -> &mut dyn Write {
        match &mut self.sink {
            Sink::Stdout(w) => w,
            Sink::File { w, .. } => w,
        }
    }

    /// Names the output in a write error; a file's errors already carry its path (fs-err).
    fn io_err(&self, e: std::io::Error) -> FerryError {
        match &self.sink {
            Sink::Stdout(_) => {
                std::io::Error::new(e.kind(), format!("write to stdout: {e}")).into()
            }
            Sink::File { .. } => e.into(),
        }
    }

    /// Sets the column names; keys are escaped once here, not per row.
    ///
    /// A name starting with `$` is written with the `$` as `\u0024`: the same key to every
    /// JSON reader, but a row whose first column is `$ferry` can never look like a control
    /// line (`{"$ferry":…`).
    pub fn set_columns<S: AsRef<str>>(&mut self, names: &[S]) {
        self.keys = names
            .iter()
            .map(|n| {
                let mut k = serde_json::to_vec(n.as_ref()).unwrap_or_default();
                if k.get(1) == Some(&b'$') {
                    k.splice(1..2, b"\\u0024".iter().copied());
                }
                k.push(b':');
                k
            })
            .collect();
    }

    /// Writes the header control line carrying the schema.
    pub fn write_header(&mut self, schema: &TableSchema) -> Result<()> {
        let line = ControlLine {
            kind: "header".into(),
            schema: Some(schema.clone()),
            rows: None,
            checksum: None,
        };
        self.write_control(&line)
    }

    /// Writes the end control line with the row count and checksum.
    pub fn write_end(&mut self) -> Result<()> {
        let line = ControlLine {
            kind: "end".into(),
            schema: None,
            rows: Some(self.checksum.count()),
            checksum: Some(self.checksum.hex()),
        };
        self.write_control(&line)
    }

    fn write_control(&mut self, line: &ControlLine) -> Result<()> {
        let mut bytes = serde_json::to_vec(line)
            .map_err(|e| FerryError::Failed(format!("encode a record: {e}")))?;
        bytes.push(b'\n');
        self.offset += bytes.len() as u64;
        self.out().write_all(&bytes).map_err(|e| self.io_err(e))
    }

    /// Starts a record.
    pub fn begin(&mut self) {
        self.line.clear();
        self.line.push(b'{');
        self.field = 0;
    }

    fn key(&mut self) {
        if self.field > 0 {
            self.line.push(b',');
        }
        let k = &self.keys[self.field];
        self.line.extend_from_slice(k);
        self.field += 1;
    }

    /// Writes NULL.
    pub fn null(&mut self) {
        self.key();
        self.line.extend_from_slice(b"null");
    }
    /// Writes a boolean.
    pub fn bool(&mut self, v: bool) {
        self.key();
        self.line
            .extend_from_slice(if v { b"true" } else { b"false" });
    }
    /// Writes a signed integer.
    pub fn i64(&mut self, v: i64) {
        self.key();
        self.line
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    /// Writes an unsigned integer.
    pub fn u64(&mut self, v: u64) {
        self.key();
        self.line
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    /// Writes a double; NaN and infinities become the strings "NaN", "Infinity", "-Infinity".
    pub fn f64(&mut self, v: f64) {
        self.key();
        write_float(&mut self.line, v, |b, v| {
            let _ = write!(b, "{v:?}");
        });
    }
    /// Writes a single-precision float with its own shortest form (3.4028235e38, not
    /// 3.4028234663852886e38).
    pub fn f32(&mut self, v: f32) {
        self.key();
        write_float(&mut self.line, f64::from(v), |b, _| {
            let _ = write!(b, "{v:?}");
        });
    }
    /// Writes a string.
    pub fn str(&mut self, s: &str) {
        self.key();
        write_json_str(&mut self.line, s);
    }
    /// Writes bytes as base64.
    pub fn bytes(&mut self, b: &[u8]) {
        self.key();
        self.line.push(b'"');
        let start = self.line.len();
        let n = base64::encoded_len(b.len(), true).unwrap_or(0);
        self.line.resize(start + n, 0);
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(b, &mut self.line[start..]);
        self.line.push(b'"');
    }
    /// Writes already-valid JSON (nested JSON columns), verbatim except for line breaks.
    ///
    /// A PostgreSQL `json` value keeps its text as written, line breaks included, and a
    /// line break would split the NDJSON record. In valid JSON a CR or LF can only be
    /// whitespace between tokens (inside strings they are escaped), so each becomes a
    /// space: the value is unchanged.
    pub fn raw(&mut self, json: &str) {
        self.key();
        let bytes = json.as_bytes();
        if bytes.iter().any(|&b| b == b'\n' || b == b'\r') {
            self.line.extend(bytes.iter().map(|&b| match b {
                b'\n' | b'\r' => b' ',
                b => b,
            }));
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    /// Writes a whole record that is already one JSON object (records whose keys vary, such
    /// as DynamoDB items), counted in the checksum like any other.
    pub fn object(&mut self, json: &str) -> Result<()> {
        self.line.clear();
        self.line.extend_from_slice(json.as_bytes());
        self.emit()
    }

    /// Ends the record and writes it.
    pub fn end(&mut self) -> Result<()> {
        self.line.push(b'}');
        self.emit()
    }

    fn emit(&mut self) -> Result<()> {
        self.checksum.add(&self.line);
        self.line.push(b'\n');
        self.offset += self.line.len() as u64;
        let Self { sink, line, .. } = self;
        let r = match sink {
            Sink::Stdout(w) => w.write_all(line),
            Sink::File { w, .. } => w.write_all(line),
        };
        r.map_err(|e| self.io_err(e))
    }

    /// Rows written so far (including rows before a resume).
    pub fn rows(&self) -> u64 {
        self.checksum.count()
    }

    /// The checksum so far.
    pub fn checksum(&self) -> Checksum {
        self.checksum
    }

    /// Flushes (and for files fsyncs) so that everything up to the returned offset is durable:
    /// call before writing a checkpoint that names this offset.
    pub fn sync(&mut self) -> Result<u64> {
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::File { w, .. } => w.flush().and_then(|_| w.get_ref().sync_data()),
        };
        r.map_err(|e| self.io_err(e))?;
        Ok(self.offset)
    }

    /// Flushes and, for files, renames the temporary file to its final name.
    pub fn finish(mut self) -> Result<()> {
        self.sync()?;
        if let Sink::File { tmp, dest, .. } = &self.sink {
            fs_err::rename(tmp, dest)?;
            crate::fsutil::sync_dir(dest);
        }
        Ok(())
    }
}

fn write_float(buf: &mut Vec<u8>, v: f64, finite: impl FnOnce(&mut Vec<u8>, f64)) {
    if v.is_nan() {
        buf.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        finite(buf, v);
    }
}

/// Appends `s` as a JSON string literal.
///
/// Byte for byte what serde_json writes (the tests compare): only `"`, `\\` and control
/// characters are escaped, so plain runs are found eight bytes at a time and copied whole
/// (serde_json's escaper looks up every byte: 14 % of extract's instructions).
pub fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    let mut b = s.as_bytes();
    buf.push(b'"');
    loop {
        let n = crate::row::special(b);
        buf.extend_from_slice(&b[..n]);
        let Some(&c) = b.get(n) else { break };
        match c {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0x08 => buf.extend_from_slice(b"\\b"),
            0x0c => buf.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.extend_from_slice(&[HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
            }
        }
        b = &b[n + 1..];
    }
    buf.push(b'"');
}

// ---------------------------------------------------------------- reading

/// What one input line is.
#[derive(Debug)]
pub enum Item {
    /// A data record; its bytes are [`RecordReader::line`].
    Data,
    /// The stream's header with its schema.
    Header(Box<TableSchema>),
    /// The stream's end marker.
    End {
        /// Rows the producer wrote.
        rows: u64,
        /// Their checksum.
        checksum: String,
    },
}

/// Reads NDJSON lines from a file or stdin, counting lines and bytes for errors and resume.
pub struct RecordReader {
    name: String,
    path: Option<PathBuf>,
    inner: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line_no: u64,
    offset: u64,
}

impl RecordReader {
    fn stdin() -> Self {
        widen_pipe(std::io::stdin());
        Self::from_reader(
            "-",
            None,
            Box::new(BufReader::with_capacity(1 << 18, std::io::stdin())),
        )
    }

    /// Opens `path`, or stdin when it is `None` or `-`.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        match path {
            None => Ok(Self::stdin()),
            Some(p) if p == Path::new("-") => Ok(Self::stdin()),
            Some(p) => {
                // A missing or unreadable input is the user's to fix: a usage error.
                let f = File::open(p).map_err(|e| {
                    FerryError::Usage(format!("cannot read input {}: {e}", p.display()))
                })?;
                if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                    return Err(FerryError::Usage(format!("{} is a directory", p.display())));
                }
                Ok(Self::from_reader(
                    &p.display().to_string(),
                    Some(p.to_path_buf()),
                    Box::new(BufReader::with_capacity(1 << 18, f)),
                ))
            }
        }
    }

    /// Wraps any reader (tests).
    pub fn from_reader(name: &str, path: Option<PathBuf>, inner: Box<dyn BufRead + Send>) -> Self {
        RecordReader {
            name: name.to_string(),
            path,
            inner,
            buf: Vec::with_capacity(4096),
            line_no: 0,
            offset: 0,
        }
    }

    /// The input's name for messages (`-` for stdin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The input's path, when it is a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Continues after `line_no` lines / `offset` bytes: seeks in a file, skips lines on stdin.
    pub fn skip_to(&mut self, line_no: u64, offset: u64) -> Result<()> {
        if let Some(p) = &self.path {
            let mut f = File::open(p)?;
            f.seek(SeekFrom::Start(offset))?;
            self.inner = Box::new(BufReader::with_capacity(1 << 18, f));
            self.line_no = line_no;
            self.offset = offset;
            return Ok(());
        }
        while self.line_no < line_no {
            if self.next_raw()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// 1-based number of the current line.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Byte offset just after the current line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The current line, without its line ending.
    pub fn line(&self) -> &[u8] {
        &self.buf
    }

    fn next_raw(&mut self) -> Result<Option<()>> {
        self.buf.clear();
        let n = read_line(&mut *self.inner, &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.offset += n as u64;
        self.line_no += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        Ok(Some(()))
    }

    /// Reads the next non-blank line. Data lines are left in [`RecordReader::line`] to be
    /// parsed by the caller, who knows the columns.
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        loop {
            if self.next_raw()?.is_none() {
                return Ok(None);
            }
            // A UTF-8 byte order mark (editors on Windows write one) is not data.
            if self.line_no == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.buf.starts_with(MARKER_PREFIX) {
                // Only a well-formed header or end line is one; anything else (another
                // producer's column named `$ferry`) is data.
                match serde_json::from_slice::<ControlLine>(&self.buf) {
                    Ok(ControlLine {
                        kind,
                        schema: Some(s),
                        ..
                    }) if kind == "header" => return Ok(Some(Item::Header(Box::new(s)))),
                    Ok(c) if c.kind == "end" && c.rows.is_some() => {
                        return Ok(Some(Item::End {
                            rows: c.rows.unwrap_or(0),
                            checksum: c.checksum.unwrap_or_default(),
                        }))
                    }
                    _ => {}
                }
            }
            return Ok(Some(Item::Data));
        }
    }
}

/// Widens a pipe on stdin or stdout to 1 MiB, the most an unprivileged process may ask
/// (`/proc/sys/fs/pipe-max-size`). With Linux's 64 KiB the producer and the consumer of
/// `extract | load-…` take turns every 64 KiB: the wider pipe made that pipeline about 10 %
/// faster in wall time on 2 cores (paired runs). A file, a terminal or a refusal is left
/// as it is: this only ever saves time.
fn widen_pipe(fd: impl std::os::fd::AsFd) {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, 1 << 20);
}

/// `BufRead::read_until(b'\n', buf)` with the memchr crate's vectorised search: std's
/// word-at-a-time search was 5 % of a load's instructions.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (used, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), avail.is_empty()),
        };
        buf.extend_from_slice(&avail[..used]);
        r.consume(used);
        n += used;
        if done {
            return Ok(n);
        }
    }
}

// ---------------------------------------------------------------- parsing a row

/// Maps key names to column positions for fast, allocation-free row parsing.
#[derive(Debug, Clone)]
pub struct ColumnIndex {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Per column: its name holds nothing JSON escapes (compared raw with the line).
    plain: Vec<bool>,
}

impl ColumnIndex {
    /// Builds the index for these column names.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        let names: Vec<String> = names.iter().map(|s| s.as_ref().to_string()).collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let plain = names
            .iter()
            .map(|n| crate::row::special(n.as_bytes()) == n.len())
            .collect();
        ColumnIndex {
            names,
            index,
            plain,
        }
    }
    /// Column `i`'s name when a key can be matched with it byte for byte.
    pub(crate) fn plain_name(&self, i: usize) -> Option<&str> {
        self.plain
            .get(i)
            .filter(|p| **p)
            .map(|_| self.names[i].as_str())
    }
    /// Number of columns.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
    /// The column names, in record order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }
    /// The position of column `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// The keys of a line, in order (used to learn the columns when no schema travels along).
pub fn line_keys(line: &[u8]) -> std::result::Result<Vec<String>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).map_err(|e| format!("malformed JSON: {e}"))?;
    Ok(map.keys().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_are_widened_and_files_left_alone() {
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        widen_pipe(&w);
        assert_eq!(rustix::pipe::fcntl_getpipe_size(&r).expect("size"), 1 << 20);
        let f = tempfile::tempfile().expect("file");
        widen_pipe(&f);
    }

    #[test]
    fn lines_are_split_as_read_until_splits_them() {
        let long = "x".repeat(100_000);
        let text = format!("a\n\r\n\n{long}\r\nb\n{long}");
        for cap in [1, 7, 8192] {
            let (mut ours, mut std_) = (Vec::new(), Vec::new());
            let mut r = BufReader::with_capacity(cap, text.as_bytes());
            let mut s = BufReader::with_capacity(cap, text.as_bytes());
            loop {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let n = read_line(&mut r, &mut a).expect("read");
                assert_eq!(n, s.read_until(b'\n', &mut b).expect("read"));
                ours.push(a);
                std_.push(b);
                if n == 0 {
                    break;
                }
            }
            assert_eq!(ours, std_, "capacity {cap}");
            assert_eq!(ours.len(), 7);
        }
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut texts: Vec<String> = (0u32..0x300)
            .filter_map(char::from_u32)
            .map(|c| format!("{c}"))
            .collect();
        texts.extend(
            [
                "",
                "plain text of some length",
                "a\"b\\c\u{0}\u{1f}\u{7f}\u{2028}東京😀\n\r\t",
            ]
            .map(String::from),
        );
        let joined: String = texts.concat();
        texts.push(joined.clone());
        for cut in 0..joined.len() {
            if joined.is_char_boundary(cut) {
                texts.push(joined[cut..].to_string());
            }
        }
        for t in &texts {
            let mut got = Vec::new();
            write_json_str(&mut got, t);
            assert_eq!(got, serde_json::to_vec(t).expect("json"), "{t:?}");
        }
    }

    #[test]
    fn a_dollar_ferry_column_is_data_and_a_bom_is_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("d.ndjson");
        let mut w = RecordWriter::create(&dest).expect("create");
        w.set_columns(&["$ferry", "b"]);
        w.begin();
        w.str("header");
        w.i64(1);
        w.end().expect("end");
        w.finish().expect("finish");
        let text = fs_err::read_to_string(&dest).expect("read");
        assert_eq!(text, "{\"\\u0024ferry\":\"header\",\"b\":1}\n");
        let idx = ColumnIndex::new(&["$ferry", "b"]);
        let row = crate::row::parse_row(text.trim_end().as_bytes(), &idx).expect("row");
        assert_eq!(row[0].as_ref().map(|f| f.raw), Some("\"header\""));

        let foreign = dir.path().join("f.ndjson");
        fs_err::write(&foreign, "\u{feff}{\"$ferry\":1}\n{\"$ferry\":\"end\"}\n").expect("w");
        let mut r = RecordReader::open(Some(foreign.as_path())).expect("open");
        for want in [&b"{\"$ferry\":1}"[..], &b"{\"$ferry\":\"end\"}"[..]] {
            assert!(matches!(r.next_item().expect("item"), Some(Item::Data)));
            assert_eq!(r.line(), want);
        }
    }

    #[test]
    fn nested_json_stays_on_one_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("j.ndjson");
        let mut w = RecordWriter::create(&dest).expect("create");
        w.set_columns(&["j"]);
        w.begin();
        w.raw("{\"a\":\r\n [1,\n \"x\\ny\"]}");
        w.end().expect("end");
        w.finish().expect("finish");
        let text = fs_err::read_to_string(&dest).expect("read");
        assert_eq!(text, "{\"j\":{\"a\":   [1,  \"x\\ny\"]}}\n");
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).expect("json");
        assert_eq!(v["j"]["a"][1], "x\ny");
    }
}
