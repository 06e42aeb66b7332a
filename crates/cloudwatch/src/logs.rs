//! Log lines: read from a Ferry log file, cut into `PutLogEvents` batches.

use aws_sdk_cloudwatchlogs::types::{InputLogEvent, RejectedLogEventsInfo};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Events per `PutLogEvents` request: the API's limit.
pub(crate) const MAX_EVENTS: usize = 10_000;
/// Bytes per request as the API counts them: each message in UTF-8 plus 26 per event.
pub(crate) const MAX_BATCH_BYTES: usize = 1_048_576;
/// What the API adds to each message when it counts a request's bytes.
pub(crate) const EVENT_OVERHEAD: usize = 26;
/// Longest message: an event (message and overhead) may have 256 KiB.
pub(crate) const MAX_MESSAGE_BYTES: usize = 262_144 - EVENT_OVERHEAD;
/// Widest time span of one request: the API refuses a batch spanning more than 24 hours.
const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;

/// One line of a log, with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since 1970-01-01 UTC.
    pub timestamp_ms: i64,
    /// The line, without its line break.
    pub message: String,
}

/// The message cut to [`MAX_MESSAGE_BYTES`] on a character boundary.
fn cut(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// The lines as `PutLogEvents` batches: sorted by time (equal times keep their order), empty
/// messages left out (the API refuses them), messages cut, each batch within the count, byte
/// and time-span limits.
pub(crate) fn batches(lines: &[LogLine]) -> Vec<Vec<InputLogEvent>> {
    let mut sorted: Vec<&LogLine> = lines.iter().filter(|l| !l.message.is_empty()).collect();
    sorted.sort_by_key(|l| l.timestamp_ms);
    let mut out = Vec::new();
    let (mut batch, mut bytes, mut first_ms) = (Vec::new(), 0, 0);
    for line in sorted {
        let message = cut(&line.message);
        let size = message.len() + EVENT_OVERHEAD;
        let full = batch.len() == MAX_EVENTS
            || bytes + size > MAX_BATCH_BYTES
            || line.timestamp_ms - first_ms >= MAX_SPAN_MS;
        if full && !batch.is_empty() {
            out.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        if batch.is_empty() {
            first_ms = line.timestamp_ms;
        }
        bytes += size;
        // Both fields are set, so the builder cannot fail.
        if let Ok(event) = InputLogEvent::builder()
            .timestamp(line.timestamp_ms)
            .message(message)
            .build()
        {
            batch.push(event);
        }
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

/// How many of a batch of `n` events the service dropped, and why.
pub(crate) fn rejected(info: &RejectedLogEventsInfo, n: usize) -> (usize, String) {
    let index = |i: Option<i32>| i.and_then(|i| usize::try_from(i).ok()).map(|i| i.min(n));
    let too_old = index(info.too_old_log_event_end_index());
    let expired = index(info.expired_log_event_end_index());
    let too_new = index(info.too_new_log_event_start_index());
    let mut reasons = Vec::new();
    if too_old.is_some() {
        reasons.push("older than 14 days");
    }
    if expired.is_some() {
        reasons.push("older than the log group's retention");
    }
    if too_new.is_some() {
        reasons.push("more than 2 hours in the future");
    }
    // The old and expired ranges start at the first event and may overlap. The API calls
    // the end index exclusive, some servers send the last rejected index: at least one.
    let end = |i: Option<usize>| i.map_or(0, |i| i.max(1));
    let old = end(too_old).max(end(expired)).min(n);
    let new = too_new.map_or(0, |start| n - start.max(old));
    (old + new, reasons.join(", "))
}

/// The complete lines appended to a Ferry log file (`--log-file`, `--error-log-file`) since
/// byte `since_byte`, and the offset to give next time. A line still being written (no line
/// break yet) is left for the next call; a file shorter than `since_byte` was replaced and is
/// read from its start.
///
/// A line starts with the time tracing wrote (`2026-01-30T15:00:00.123456Z  INFO …`); a line
/// without one (the continuation of a multi-line message) takes the time of the line before
/// it, the first line of the read the current time. Lines are kept whole, time included; empty
/// lines are left out.
pub fn log_lines_from_file(path: &Path, since_byte: u64) -> io::Result<(Vec<LogLine>, u64)> {
    let mut file = fs_err::File::open(path)?;
    let len = file.metadata()?.len();
    let start = if len < since_byte { 0 } else { since_byte };
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(len - start).read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut previous_ms = chrono::Utc::now().timestamp_millis();
    let mut lines = Vec::new();
    for raw in bytes[..complete].split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let timestamp_ms = leading_time(text).unwrap_or(previous_ms);
        previous_ms = timestamp_ms;
        lines.push(LogLine {
            timestamp_ms,
            message: text.to_string(),
        });
    }
    Ok((lines, start + complete as u64))
}

/// The RFC 3339 time a line starts with, in milliseconds.
fn leading_time(line: &str) -> Option<i64> {
    let first = line.split_ascii_whitespace().next()?;
    chrono::DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.timestamp_millis())
}
