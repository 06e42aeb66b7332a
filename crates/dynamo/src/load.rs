//! `load-dynamo`: NDJSON items (DynamoDB typed JSON, one per line) → a DynamoDB table with
//! BatchWriteItem.
//!
//! How it keeps the contracts:
//! - **Nothing dropped or changed.** An item DynamoDB would refuse (over 400 KB, no key, a
//!   value of no DynamoDB type, a number out of its range, a duplicate set member, an empty
//!   name) or silently change (a name twice, NULL false) is rejected before sending, with its
//!   attribute and reason ([`crate::av`]); a number keeps its text, also a JSON number.
//!   UnprocessedItems and throttling errors are retried with exponential backoff and jitter up to
//!   `--max-retries`; what is still not written then goes to the rejects file (reason
//!   "gave up …", counter `gave_up_items`) and the run fails (exit 1: no bad data, a rerun
//!   writes them).
//! - **Keyed puts, in file order.** A key seen twice in one batch would fail the whole
//!   request, so the batch is sent before the second one is added; a batch holding a key
//!   that is still in flight in another batch waits for it. The last line for a key wins,
//!   as in a sequential load.
//! - **Resume.** Batches complete out of order; the checkpoint records the line up to
//!   which every item is written or rejected. A rerun with `--resume` continues there;
//!   items after it may be put again, which changes nothing (puts are keyed).

use crate::av::{item_from_json, item_size, SdkItem, MAX_ITEM_BYTES};
use crate::client::{backoff, classify, code, db_error, message, DynamoArgs, Failure};
use crate::json::Json;
use crate::table::{self, IndexSpec, KeySpec, TableSpec};
use anyhow::Context;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemError, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use clap::Parser;
use ferry_shared::checkpoint::Checkpoint;
use ferry_shared::cli::{CommonArgs, RunArgs};
use ferry_shared::progress::Progress;
use ferry_shared::record::{Item as Line, RecordReader};
use ferry_shared::rejects::{record_value, Reject, Rejects};
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{Exit, FerryError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// BatchWriteItem's limits.
const MAX_BATCH_ITEMS: usize = 25;
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

const EXAMPLES: &str = "\
Examples:
  # the document's spelling: --input FILE is the positional FILE
  load-dynamo --input data/transformed/sales.json --table SalesTable-dev
  # exactly 1 s before each retry (the document's \"exponentialBackoff\": false)
  load-dynamo sales.ndjson --table SalesTable-dev --max-retries 3 \\
      --retry-delay-ms 1000 --fixed-delay
  # a transformed file into a local DynamoDB-compatible server, creating the table
  load-dynamo data/validated/sales.ndjson --table SalesTable-dev \\
      --endpoint-url http://127.0.0.1:5500 --create --key saleId:S \\
      --gsi buyerId-saleDate-index=buyerId:S,saleDate:S
  # through a pipe
  transform-sales data/extracted/sales.ndjson -o - | load-dynamo - --table SalesTable-dev
  # after a crash: continue after the last committed line
  load-dynamo data/validated/sales.ndjson --table SalesTable-dev --resume
  # a backup's items into a new table (keys and indexes from its .dynamo.json sidecar);
  # restore-dynamo --backup FILE returns a table to exactly a backup instead
  load-dynamo data/backups/SalesTable-dev-20260130-150000.ndjson --table SalesTable-copy --create";

/// Command line of `load-dynamo`. `--input FILE` (the migration document's spelling of the
/// input) is added to it by [`parse_from`], not a field: other tools build this struct.
#[derive(Parser, Debug, serde::Serialize)]
#[command(
    name = "load-dynamo",
    version,
    about = "Load NDJSON items (DynamoDB typed JSON) into a DynamoDB table with BatchWriteItem: retries, rejects, resume.",
    after_help = EXAMPLES
)]
pub struct Args {
    /// Items, one typed-JSON object per line (`-` or absent: stdin).
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Target table.
    #[arg(long, short = 't', value_name = "NAME")]
    pub table: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub conn: DynamoArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub tuning: Tuning,
    /// Create the table when it does not exist (keys from --key, or the input's
    /// .dynamo.json sidecar written by backup-dynamo).
    #[arg(long = "create", alias = "create-table")]
    pub create_table: bool,
    /// Key specification NAME:TYPE[,NAME:TYPE] (partition, sort; TYPE S, N or B).
    #[arg(long, value_name = "SPEC")]
    pub key: Option<String>,
    /// A global secondary index for --create: INDEX=NAME:TYPE[,NAME:TYPE]; repeatable.
    #[arg(long = "gsi", value_name = "SPEC")]
    pub gsi: Vec<String>,
    /// Back up the table (as backup-dynamo does) before writing to it, when it already
    /// exists.
    #[arg(long)]
    pub backup_before_load: bool,
    /// Where --backup-before-load writes.
    #[arg(long, default_value = "data/backups", value_name = "DIR")]
    pub backup_dir: PathBuf,
    /// Resume, checkpoint, dry run and rejects, as every tool spells them. The checkpoint
    /// defaults to INPUT.load-dynamo.checkpoint.json (load-dynamo-TABLE.checkpoint.json for
    /// stdin), the rejects to INPUT.load.rejects.ndjson (load-dynamo-TABLE.rejects.ndjson).
    #[command(flatten)]
    #[serde(flatten)]
    pub run: RunArgs,
    /// Label of the progress display (default `[Load] TABLE`).
    #[arg(long, value_name = "TEXT")]
    pub progress_label: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}

/// How `load-dynamo` paces its requests. Its own struct so a caller (`migrate-s9`) can
/// start from the environment and defaults ([`ferry_shared::cli::from_env`]) and set what
/// its configuration says.
#[derive(clap::Args, Debug, Clone, serde::Serialize)]
pub struct Tuning {
    /// Items per BatchWriteItem request (at most 25, DynamoDB's limit).
    #[arg(
        long,
        env = "FERRY_BATCH_SIZE",
        default_value_t = MAX_BATCH_ITEMS,
        value_name = "N"
    )]
    pub batch_size: usize,
    /// Requests in flight at once.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
    /// Retries of throttled requests and unprocessed items before they are rejected.
    #[arg(long, env = "FERRY_MAX_RETRIES", default_value_t = 8, value_name = "N")]
    pub max_retries: u32,
    /// First backoff in milliseconds (doubling each retry, with jitter, capped at 20 s).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub retry_delay_ms: u64,
    /// Wait exactly --retry-delay-ms before every retry: no doubling, no jitter (the
    /// document's `"exponentialBackoff": false` with its `retryDelay`).
    #[arg(long)]
    pub fixed_delay: bool,
    /// Pause after each request, in milliseconds (rate limiting: the document's batchDelay).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub batch_delay_ms: u64,
}

/// What the checkpoint records.
#[derive(Debug, Serialize, Deserialize, Default, Clone)]
struct LoadState {
    /// Lines of input read and settled (written or rejected).
    line: u64,
    /// Byte offset after `line`.
    offset: u64,
    /// Items written up to `line`.
    written: u64,
    /// Items rejected up to `line`.
    rejected: u64,
    /// Length of the rejects file holding exactly those rejects.
    rejects_len: u64,
    /// Retry counters so the final report covers the whole load.
    counters: BTreeMap<String, u64>,
    /// The backup taken before the first run wrote anything.
    backup: Option<String>,
}

/// An input line that will not be sent.
#[derive(Debug)]
struct Bad {
    line: u64,
    raw: Vec<u8>,
    column: Option<String>,
    reason: String,
}

/// An item ready to send.
struct Entry {
    line: u64,
    raw: Vec<u8>,
    key: String,
    item: SdkItem,
}

/// What the reader thread sends, each with the line and byte offset just read.
enum Msg {
    Item(Entry, usize, (u64, u64)),
    Bad(Bad, (u64, u64)),
    /// A line that carries no item (an `extract` stream's header or end line).
    Pos((u64, u64)),
    Failed(FerryError),
}

/// A batch on its way.
struct Batch {
    seq: u64,
    entries: Vec<Entry>,
    bad: Vec<Bad>,
    bytes: usize,
    end: (u64, u64),
}

/// A settled batch.
struct Done {
    seq: u64,
    written: u64,
    failed: Vec<Bad>,
    counters: BTreeMap<String, u64>,
    keys: Vec<String>,
    end: (u64, u64),
}

/// Retry settings of one run (also what `restore-dynamo`'s deletes retry with).
#[derive(Clone, Copy)]
pub(crate) struct Retry {
    pub(crate) max: u32,
    /// The first wait (exponential), or every wait (`fixed`).
    base: Duration,
    fixed: bool,
    delay: Duration,
    dry_run: bool,
}

impl Retry {
    pub(crate) fn of(t: &Tuning, dry_run: bool) -> Retry {
        let ms = if t.fixed_delay {
            t.retry_delay_ms
        } else {
            t.retry_delay_ms.max(1)
        };
        Retry {
            max: t.max_retries,
            base: Duration::from_millis(ms),
            fixed: t.fixed_delay,
            delay: Duration::from_millis(t.batch_delay_ms),
            dry_run,
        }
    }

    /// The wait before retry number `attempt` (1-based): `--retry-delay-ms` exactly with
    /// `--fixed-delay`, else the shared exponential backoff with jitter.
    pub(crate) fn wait(&self, attempt: u32) -> Duration {
        if self.fixed {
            self.base
        } else {
            backoff(attempt, self.base)
        }
    }
}

/// The key of an item as one string (partition, then sort), equal for equal keys (a number
/// in its canonical form: `1` and `1.0` are one key): for duplicate detection and to match
/// the items DynamoDB returns unprocessed to their input lines. The error names the key
/// attribute and what is wrong with it.
pub(crate) fn key_of_item(spec: &KeySpec, item: &SdkItem) -> Result<String, (String, String)> {
    let mut out = String::new();
    for a in spec.attrs() {
        let fail = |why: String| Err((a.name.clone(), why));
        let text = match (a.kind.as_str(), item.get(&a.name)) {
            (_, None) => {
                return fail(format!(
                    "key attribute {:?} ({}) is missing",
                    a.name, a.kind
                ))
            }
            ("S", Some(AttributeValue::S(s))) => s.clone(),
            ("N", Some(AttributeValue::N(n))) => {
                crate::number::Decimal::parse(n).map_or_else(|| n.clone(), |d| d.canonical())
            }
            ("B", Some(AttributeValue::B(b))) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(b.as_ref())
            }
            (_, Some(other)) => {
                return fail(format!(
                    "key attribute {:?} must be {} (the table's key type), found {}",
                    a.name,
                    a.kind,
                    crate::av::type_name(other)
                ))
            }
        };
        if text.is_empty() {
            let what = if a.kind == "B" { "binary" } else { "string" };
            return fail(format!(
                "key attribute {:?} is an empty {what} (DynamoDB refuses it)",
                a.name
            ));
        }
        if !out.is_empty() {
            out.push('\u{1f}');
        }
        out.push_str(&text);
    }
    Ok(out)
}

/// The key of an input line, or `None` when the line is no item that would be written.
pub(crate) fn line_key(spec: &KeySpec, raw: &[u8]) -> Option<String> {
    parse_line(spec, 0, raw).ok().map(|(e, _)| e.key)
}

/// The members of a line's item: the object itself, or the `{"Item": {...}}` of the AWS CLI
/// and of backups.
fn line_members(raw: &[u8]) -> Result<Vec<(String, Json)>, String> {
    match Json::parse(raw) {
        Ok(Json::Object(mut m)) => {
            if m.len() == 1 && m[0].0 == "Item" && matches!(m[0].1, Json::Object(_)) {
                if let Some((_, Json::Object(inner))) = m.pop() {
                    return Ok(inner);
                }
            }
            Ok(m)
        }
        Ok(other) => Err(format!("not a JSON object: {}", other.text())),
        Err(e) => Err(format!("malformed JSON: {e}")),
    }
}

/// Parses and checks one line.
fn parse_line(spec: &KeySpec, line: u64, raw: &[u8]) -> Result<(Entry, usize), Bad> {
    let bad = |column: Option<String>, reason: String| Bad {
        line,
        raw: raw.to_vec(),
        column,
        reason,
    };
    let members = line_members(raw).map_err(|e| bad(None, e))?;
    let size = item_size(&members);
    if size > MAX_ITEM_BYTES {
        return Err(bad(
            None,
            format!("item is {size} bytes, over DynamoDB's 400 KB ({MAX_ITEM_BYTES} bytes) limit"),
        ));
    }
    let item =
        item_from_json(&members).map_err(|r| bad(Some(r.attribute.clone()), r.to_string()))?;
    let key = key_of_item(spec, &item).map_err(|(c, r)| bad(Some(c), r))?;
    Ok((
        Entry {
            line,
            raw: raw.to_vec(),
            key,
            item,
        },
        size,
    ))
}

/// Reads the input on a blocking thread, parsing and checking each line. Lines travel in
/// chunks: one hand-over per line cost more CPU in thread wake-ups than the parsing.
fn spawn_reader(
    mut reader: RecordReader,
    spec: KeySpec,
    tx: mpsc::Sender<Vec<Msg>>,
) -> std::thread::JoinHandle<()> {
    const CHUNK: usize = 256;
    std::thread::spawn(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            let msg = match reader.next_item() {
                Ok(None) => break,
                Ok(Some(Line::Data)) => {
                    let at = (reader.line_no(), reader.offset());
                    match parse_line(&spec, at.0, reader.line()) {
                        Ok((e, size)) => Msg::Item(e, size, at),
                        Err(b) => Msg::Bad(b, at),
                    }
                }
                Ok(Some(_)) => Msg::Pos((reader.line_no(), reader.offset())),
                Err(e) => Msg::Failed(e),
            };
            let failed = matches!(msg, Msg::Failed(_));
            chunk.push(msg);
            if failed {
                break;
            }
            if chunk.len() >= CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                if tx.blocking_send(full).is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
    })
}

fn put(item: SdkItem) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("item is set"),
        )
        .build()
}

fn count(c: &mut BTreeMap<String, u64>, k: &str, n: u64) {
    *c.entry(k.to_string()).or_default() += n;
}

/// What every writer task of a run shares. One value to clone into each spawned batch
/// instead of four arguments threaded through the dispatcher and the retry loop.
#[derive(Clone)]
struct Writer {
    client: Client,
    table: Arc<str>,
    spec: Arc<KeySpec>,
    retry: Retry,
}

/// A failed BatchWriteItem call, as the SDK returns it.
type BatchWriteError = SdkError<BatchWriteItemError, HttpResponse>;

/// What the retry loop does after one outcome: send `pending` again, or stop with what is
/// settled so far.
enum Step {
    Again,
    Stop,
}

/// The requests of an unprocessed or refused response, keyed as the input lines are.
type Lines = HashMap<String, (u64, Vec<u8>)>;

/// One batch's retry loop, as state plus one method per outcome of a BatchWriteItem call
/// (success, unprocessed items, transient error, invalid request, fatal error), so each
/// outcome reads on its own while the counters and rejects stay in one place.
struct BatchWrite<'a> {
    w: &'a Writer,
    seq: u64,
    end: (u64, u64),
    /// The requests to send next.
    pending: Vec<WriteRequest>,
    /// The input lines of the items not yet settled, to reject or rebuild them.
    lines: Lines,
    written: u64,
    attempt: u32,
    counters: BTreeMap<String, u64>,
    failed: Vec<Bad>,
}

/// Sends one batch until every item is written or out of retries.
async fn write_batch(w: Writer, batch: Batch) -> Result<Done, FerryError> {
    let keys: Vec<String> = batch.entries.iter().map(|e| e.key.clone()).collect();
    let (seq, end) = (batch.seq, batch.end);
    if w.retry.dry_run {
        return Ok(Done {
            seq,
            written: batch.entries.len() as u64,
            failed: batch.bad,
            counters: BTreeMap::new(),
            keys,
            end,
        });
    }
    let mut lines: Lines = HashMap::with_capacity(batch.entries.len());
    let mut pending = Vec::with_capacity(batch.entries.len());
    for e in batch.entries {
        lines.insert(e.key, (e.line, e.raw));
        pending.push(put(e.item));
    }
    let mut bw = BatchWrite {
        w: &w,
        seq,
        end,
        pending,
        lines,
        written: 0,
        attempt: 0,
        counters: BTreeMap::new(),
        failed: batch.bad,
    };
    bw.run().await?;
    Ok(Done {
        seq,
        written: bw.written,
        failed: bw.failed,
        counters: bw.counters,
        keys,
        end,
    })
}

impl BatchWrite<'_> {
    /// Sends `pending` until nothing is left or an outcome says stop.
    async fn run(&mut self) -> Result<(), FerryError> {
        while !self.pending.is_empty() {
            // The request is consumed by `send`; keep a copy only for a retry of the whole
            // request (throttling), which is rare: rebuild it from the input lines then.
            let sent = self.pending.len() as u64;
            let res = self
                .w
                .client
                .batch_write_item()
                .request_items(self.w.table.to_string(), std::mem::take(&mut self.pending))
                .send()
                .await;
            if !self.w.retry.delay.is_zero() {
                tokio::time::sleep(self.w.retry.delay).await;
            }
            let step = match res {
                Ok(out) => self.on_success(&out, sent).await,
                Err(e) => self.on_error(e).await?,
            };
            if let Step::Stop = step {
                break;
            }
        }
        Ok(())
    }

    /// Rejects the items of `requests` whose lines are still unsettled, with `reason`.
    fn fail_all(&mut self, requests: &[WriteRequest], reason: &str) {
        for req in requests {
            let k = req
                .put_request()
                .and_then(|p| key_of_item(&self.w.spec, p.item()).ok())
                .unwrap_or_default();
            if let Some((line, raw)) = self.lines.remove(&k) {
                self.failed.push(Bad {
                    line,
                    raw,
                    column: None,
                    reason: reason.to_string(),
                });
            }
        }
    }

    /// The request went through: what DynamoDB did not process is retried.
    async fn on_success(&mut self, out: &BatchWriteItemOutput, sent: u64) -> Step {
        let unprocessed: Vec<WriteRequest> = out
            .unprocessed_items()
            .and_then(|m| m.get(self.w.table.as_ref()))
            .cloned()
            .unwrap_or_default();
        let done = sent - unprocessed.len() as u64;
        self.written += done;
        // Lines of written items are settled.
        if unprocessed.is_empty() {
            self.lines.clear();
            return Step::Again;
        }
        self.on_unprocessed(unprocessed).await
    }

    /// Some items came back in UnprocessedItems: back off and send them again, or reject
    /// them when the retries are used up.
    async fn on_unprocessed(&mut self, unprocessed: Vec<WriteRequest>) -> Step {
        let still: std::collections::HashSet<String> = unprocessed
            .iter()
            .filter_map(|w| {
                w.put_request()
                    .and_then(|p| key_of_item(&self.w.spec, p.item()).ok())
            })
            .collect();
        self.lines.retain(|k, _| still.contains(k));
        let retry = self.w.retry;
        self.attempt += 1;
        if self.attempt > retry.max {
            let reason = format!(
                "gave up: still in UnprocessedItems after {} retries",
                retry.max
            );
            self.fail_all(&unprocessed, &reason);
            count(
                &mut self.counters,
                "gave_up_items",
                unprocessed.len() as u64,
            );
            return Step::Stop;
        }
        count(
            &mut self.counters,
            "retried_unprocessed_items",
            unprocessed.len() as u64,
        );
        let wait = retry.wait(self.attempt);
        log_retry(
            &self.w.table,
            self.seq,
            &format!("{} unprocessed items", unprocessed.len()),
            self.attempt,
            retry.max,
            wait,
        );
        tokio::time::sleep(wait).await;
        self.pending = unprocessed;
        Step::Again
    }

    /// The request failed as a whole: its items are rebuilt from the input lines, then
    /// retried, split up, rejected or the load stopped, as the kind of error says.
    async fn on_error(&mut self, e: BatchWriteError) -> Result<Step, FerryError> {
        let kind = classify(&e);
        let why = message(&e);
        // Rebuild the unsent requests from the lines still pending.
        let rebuilt: Vec<WriteRequest> = self
            .lines
            .values()
            .map(|(line, raw)| {
                parse_line(&self.w.spec, *line, raw)
                    .map(|(e, _)| put(e.item))
                    .map_err(|b| FerryError::Failed(b.reason))
            })
            .collect::<Result<_, _>>()?;
        match kind {
            Failure::Transient => Ok(self.on_transient(&e, &why, rebuilt).await),
            Failure::Invalid if rebuilt.len() > 1 => {
                self.one_by_one(&why).await?;
                Ok(Step::Stop)
            }
            Failure::Invalid => {
                self.fail_all(&rebuilt, &format!("refused by DynamoDB: {why}"));
                Ok(Step::Stop)
            }
            Failure::Fatal => Err(db_error(format!("BatchWriteItem {}", self.w.table), e)),
        }
    }

    /// Throttling and the like: back off and send the whole request again, or reject its
    /// items when the retries are used up.
    async fn on_transient(
        &mut self,
        e: &BatchWriteError,
        why: &str,
        rebuilt: Vec<WriteRequest>,
    ) -> Step {
        let retry = self.w.retry;
        count(&mut self.counters, &format!("error_{}", code(e)), 1);
        self.attempt += 1;
        if self.attempt > retry.max {
            let reason = format!("gave up after {} retries: {why}", retry.max);
            self.fail_all(&rebuilt, &reason);
            count(&mut self.counters, "gave_up_items", rebuilt.len() as u64);
            return Step::Stop;
        }
        count(&mut self.counters, "retried_requests", 1);
        let wait = retry.wait(self.attempt);
        log_retry(
            &self.w.table,
            self.seq,
            &code(e),
            self.attempt,
            retry.max,
            wait,
        );
        tokio::time::sleep(wait).await;
        self.pending = rebuilt;
        Step::Again
    }

    /// One item spoils the request: send the items one by one, in input order, so only
    /// that one is rejected.
    async fn one_by_one(&mut self, why: &str) -> Result<(), FerryError> {
        let (table, seq) = (&self.w.table, self.seq);
        tracing::debug!("{table}: batch {seq}: {why}; sending its items one by one");
        let mut rest: Vec<(u64, Vec<u8>)> = self.lines.drain().map(|(_, v)| v).collect();
        rest.sort_by_key(|(l, _)| *l);
        for (line, raw) in rest {
            let entry = match parse_line(&self.w.spec, line, &raw) {
                Ok((e, _)) => e,
                Err(b) => {
                    self.failed.push(b);
                    continue;
                }
            };
            let one = Batch {
                seq,
                entries: vec![entry],
                bad: Vec::new(),
                bytes: 0,
                end: self.end,
            };
            let d = Box::pin(write_batch(self.w.clone(), one)).await?;
            self.written += d.written;
            self.failed.extend(d.failed);
            for (k, v) in d.counters {
                count(&mut self.counters, &k, v);
            }
        }
        Ok(())
    }
}

/// Retries are logged (the first ones on stderr, all in the log file).
fn log_retry(table: &str, seq: u64, what: &str, attempt: u32, max: u32, wait: Duration) {
    static SHOWN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SHOWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if n < 20 {
        tracing::info!(
            "{table}: batch {seq}: {what}; retry {attempt}/{max} in {} ms",
            wait.as_millis()
        );
    } else {
        if n == 20 {
            tracing::info!("{table}: more retries (counted in the report; -v shows each)");
        }
        tracing::debug!(
            "{table}: batch {seq}: {what}; retry {attempt}/{max} in {} ms",
            wait.as_millis()
        );
    }
}

/// Lines in a file, for the progress total.
fn count_lines(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut f = fs_err::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf).ok()?;
        if r == 0 {
            return Some(n);
        }
        n += buf[..r].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn default_beside(input: Option<&Path>, suffix: &str, table: &str) -> PathBuf {
    match input {
        Some(p) => {
            let mut s = p.as_os_str().to_owned();
            s.push(suffix);
            PathBuf::from(s)
        }
        None => PathBuf::from(format!(
            "load-dynamo-{}{suffix}",
            ferry_shared::cli::file_safe(table)
        )),
    }
}

/// The table's keys: from DynamoDB when it exists; else --key/--gsi or the input's sidecar
/// (and the table is created when --create says so).
async fn resolve_table(
    args: &Args,
    client: &Client,
    input: Option<&Path>,
) -> anyhow::Result<(KeySpec, bool)> {
    let wanted = match &args.key {
        Some(k) => Some(TableSpec {
            table: args.table.clone(),
            key: KeySpec::parse(k)?,
            indexes: args
                .gsi
                .iter()
                .map(|g| IndexSpec::parse(g))
                .collect::<Result<_, _>>()?,
        }),
        None => match input.map(table::sidecar).filter(|p| p.exists()) {
            Some(p) => {
                let text =
                    fs_err::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
                let spec: TableSpec = serde_json::from_str(&text).map_err(|e| {
                    FerryError::Usage(format!("{}: not a table spec: {e}", p.display()))
                })?;
                Some(spec)
            }
            None => None,
        },
    };
    if let Some(existing) = table::describe(client, &args.table).await? {
        if let Some(w) = &wanted {
            if w.key != existing.key {
                return Err(FerryError::Usage(format!(
                    "table {} has keys {}, not {}",
                    args.table, existing.key, w.key
                ))
                .into());
            }
        }
        return Ok((existing.key, true));
    }
    let Some(spec) = wanted else {
        return Err(FerryError::NotFound(format!(
            "table {} does not exist; give --create --key NAME:TYPE to create it",
            args.table
        ))
        .into());
    };
    if args.run.dry_run {
        tracing::info!(
            "{}: does not exist; would create it (keys {})",
            args.table,
            spec.key
        );
        return Ok((spec.key, false));
    }
    if !args.create_table {
        return Err(FerryError::NotFound(format!(
            "table {} does not exist; add --create to create it with keys {}",
            args.table, spec.key
        ))
        .into());
    }
    table::create(client, &args.table, &spec).await?;
    Ok((spec.key, false))
}

/// The usage errors of the numbers `run` is given, before anything is opened.
fn check_args(args: &Args) -> anyhow::Result<()> {
    if args.tuning.batch_size == 0 || args.tuning.batch_size > MAX_BATCH_ITEMS {
        return Err(FerryError::Usage(format!(
            "--batch-size {}: BatchWriteItem takes 1 to {MAX_BATCH_ITEMS} items",
            args.tuning.batch_size
        ))
        .into());
    }
    if args.tuning.concurrency == 0 {
        return Err(FerryError::Usage("--concurrency must be at least 1".into()).into());
    }
    Ok(())
}

/// The checkpoint of this input and table (`--checkpoint`, or beside the input).
fn checkpoint_of(args: &Args, input: Option<&Path>) -> Checkpoint<LoadState> {
    Checkpoint::<LoadState>::new(
        args.run
            .checkpoint
            .clone()
            .unwrap_or_else(|| default_beside(input, ".load-dynamo.checkpoint.json", &args.table)),
        "load-dynamo",
        format!(
            "{} {}",
            args.table,
            input.map_or("-".into(), |p| p.display().to_string())
        ),
    )
}

/// The rejects file (`--rejects`, or beside the input).
fn rejects_path_of(args: &Args, input: Option<&Path>) -> PathBuf {
    args.run.rejects.clone().unwrap_or_else(|| {
        // A rehearsal must not replace the real run's rejects.
        let suffix = if args.run.dry_run {
            ".load.dry-run.rejects.ndjson"
        } else {
            ".load.rejects.ndjson"
        };
        default_beside(input, suffix, &args.table)
    })
}

/// Where this run starts: the checkpoint's state with `--resume`, else the beginning (and
/// an interrupted run's checkpoint is cleared so it cannot be resumed into this run).
fn initial_state(args: &Args, cp: &Checkpoint<LoadState>) -> anyhow::Result<LoadState> {
    let mut state = LoadState::default();
    if args.run.dry_run {
        // A dry run neither reads nor moves a checkpoint.
    } else if args.run.resume {
        if let Some(s) = cp.load()? {
            tracing::info!(
                "{}: resuming after line {} ({} items written, {} rejected)",
                args.table,
                s.line,
                s.written,
                s.rejected
            );
            state = s;
        }
    } else if cp.path().exists() {
        tracing::warn!(
            "{}: an interrupted load left {}; starting over (--resume continues it)",
            args.table,
            cp.path().display()
        );
        cp.clear()?;
    }
    Ok(state)
}

/// `--backup-before-load`: backs up an existing table once per load (a resumed load keeps
/// the first run's backup), recording it in the checkpoint.
async fn backup_before_load(
    args: &Args,
    client: &Client,
    existed: bool,
    state: &mut LoadState,
    cp: &Checkpoint<LoadState>,
    report: &mut RunReport,
) -> anyhow::Result<()> {
    if args.backup_before_load && !existed {
        tracing::info!("{}: no backup needed: the table is new", args.table);
    }
    if args.backup_before_load && existed && !args.run.dry_run && state.backup.is_none() {
        let dest = crate::backup::Dest::Dir(&args.backup_dir);
        let (n, path) = crate::backup::backup(client, &args.table, dest, 4, true).await?;
        let path = path.unwrap_or_default();
        tracing::info!("{}: backed up {n} items to {}", args.table, path.display());
        report
            .notes
            .push(format!("backup: {} ({n} items)", path.display()));
        state.backup = Some(path.display().to_string());
        if !args.run.dry_run {
            cp.save(state)?;
        }
    }
    Ok(())
}

/// Runs `load-dynamo`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    check_args(&args)?;
    let client = args.conn.client().await?;
    let mut report = RunReport::start("load-dynamo");
    report.target = Some(format!("{} table {}", args.conn.describe(), args.table));
    report.dry_run = args.run.dry_run;
    let result = load_into(&args, &client, &mut report).await;
    // A load that stopped after it began has its report (marked failed); one that could not
    // begin (usage, no table) has none to show.
    if result.is_ok() || report.status == "failed" {
        report.emit(args.common.quiet, args.common.report.as_deref())?;
    }
    result
}

/// The load itself, for `load-dynamo` and for `restore-dynamo` (which puts a backup's items
/// back through it): resolves (or creates) the table, reads and checks the input, writes it
/// with retries, keeps the checkpoint and the rejects, and puts the table's numbers, the
/// counters and the rejects file in `report`, closed with [`RunReport::finish`]. An error
/// after the load began leaves `report` marked failed. Items given up after the retries are
/// an error (exit 1), not rejects (exit 3): they are no bad data, a rerun writes them.
pub(crate) async fn load_into(
    args: &Args,
    client: &Client,
    report: &mut RunReport,
) -> anyhow::Result<Exit> {
    let input = args.input.clone().filter(|p| p.as_os_str() != "-");
    let (spec, existed) = resolve_table(args, client, input.as_deref()).await?;

    let cp = checkpoint_of(args, input.as_deref());
    let rejects_path = rejects_path_of(args, input.as_deref());
    let mut state = initial_state(args, &cp)?;
    let resumed = state.line > 0;
    let state_written = state.written;
    let mut rejects = if resumed {
        Rejects::resume_at(
            rejects_path.clone(),
            state.rejects_len,
            args.run.max_rejects,
        )?
    } else {
        Rejects::new(rejects_path.clone(), false, args.run.max_rejects)
    };
    backup_before_load(args, client, existed, &mut state, &cp, report).await?;

    let mut reader = RecordReader::open(input.as_deref())?;
    if resumed {
        reader.skip_to(state.line, state.offset)?;
    }
    let file = reader.name().to_string();
    let total = input.as_deref().and_then(count_lines);
    let label = args
        .progress_label
        .clone()
        .unwrap_or_else(|| format!("[Load] {}", args.table));
    let mut progress = Progress::new(&label, total, args.common.quiet);
    progress.set_position(state.line);

    let (tx, mut rx) = mpsc::channel::<Vec<Msg>>(16);
    let reader_thread = spawn_reader(reader, spec.clone(), tx);
    let mut run = Runner {
        inflight: JoinSet::new(),
        inflight_keys: HashMap::new(),
        done: BTreeMap::new(),
        next_seq: 1,
        settled_seq: 0,
        state,
        rejects: &mut rejects,
        file,
        table_name: args.table.clone(),
        cp: (!args.run.dry_run).then_some(&cp),
        last_save: Instant::now(),
        progress: &mut progress,
        written_before: state_written,
        writer: Writer {
            client: client.clone(),
            table: Arc::from(args.table.as_str()),
            spec: Arc::new(spec),
            retry: Retry::of(&args.tuning, args.run.dry_run),
        },
        concurrency: args.tuning.concurrency,
        batch_size: args.tuning.batch_size,
        started: Instant::now(),
        resumed,
    };
    let result = run.pump(&mut rx).await;
    drop(rx);
    let _ = reader_thread.join();
    if let Err(e) = result {
        return Err(run.abandon(e, report, &rejects_path).await);
    }
    run.rejects.flush()?;
    report.tables.push(run.stats());
    report.counters = run.state.counters.clone();
    progress.finish();
    if !args.run.dry_run {
        cp.clear()?;
    }
    if rejects.count() > 0 || report.tables[0].errors > 0 {
        report.rejects_file = Some(rejects_path.display().to_string());
    }
    let exit = report.finish();
    if let Some(e) = gave_up_error(&report.counters, args.tuning.max_retries, &rejects_path) {
        report.fail(Exit::Failure);
        return Err(e.into());
    }
    Ok(exit)
}

/// Items given up after the retries (`gave_up_items`) as the run's error: one line with the
/// count and what to do.
fn gave_up_error(counters: &BTreeMap<String, u64>, max: u32, rejects: &Path) -> Option<FerryError> {
    let n = counters.get("gave_up_items").copied().unwrap_or(0);
    (n > 0).then(|| {
        FerryError::Failed(format!(
            "{n} items were given up after {max} retries (throttling or transient errors): \
             they are in {}; rerun the load to write them",
            rejects.display()
        ))
    })
}

fn next_batch(b: &mut Batch, seq: &mut u64) -> Batch {
    *seq += 1;
    let end = b.end;
    std::mem::replace(
        b,
        Batch {
            seq: *seq,
            entries: Vec::with_capacity(MAX_BATCH_ITEMS),
            bad: Vec::new(),
            bytes: 0,
            end,
        },
    )
}

/// The dispatcher: batches in flight, their keys, and the settled prefix.
struct Runner<'a> {
    inflight: JoinSet<Result<Done, FerryError>>,
    inflight_keys: HashMap<String, u32>,
    done: BTreeMap<u64, Done>,
    next_seq: u64,
    settled_seq: u64,
    state: LoadState,
    rejects: &'a mut Rejects,
    file: String,
    table_name: String,
    cp: Option<&'a Checkpoint<LoadState>>,
    last_save: Instant,
    progress: &'a mut Progress,
    /// Items written by the run this one resumes.
    written_before: u64,
    /// What each batch's writer task is given.
    writer: Writer,
    /// Requests in flight at once.
    concurrency: usize,
    /// Items per request.
    batch_size: usize,
    /// When the load began, for the report.
    started: Instant,
    /// This run continues an interrupted one.
    resumed: bool,
}

impl Runner<'_> {
    /// Reads the checked lines as the reader thread sends them, cuts them into batches and
    /// sends those, then waits for every batch in flight.
    async fn pump(&mut self, rx: &mut mpsc::Receiver<Vec<Msg>>) -> anyhow::Result<()> {
        let mut batch = Batch {
            seq: 1,
            entries: Vec::new(),
            bad: Vec::new(),
            bytes: 0,
            end: (self.state.line, self.state.offset),
        };
        while let Some(chunk) = rx.recv().await {
            for msg in chunk {
                self.take(msg, &mut batch).await?;
            }
        }
        if !batch.entries.is_empty() || !batch.bad.is_empty() || batch.end.0 > self.state.line {
            let last = next_batch(&mut batch, &mut self.next_seq);
            self.dispatch(last).await?;
        }
        while self.settle_one().await? {}
        Ok(())
    }

    /// Adds one message of the reader to the batch being filled, sending the batch first
    /// when the item cannot join it and after when it is full.
    async fn take(&mut self, msg: Msg, batch: &mut Batch) -> anyhow::Result<()> {
        match msg {
            Msg::Failed(e) => return Err(e.into()),
            Msg::Pos(at) => batch.end = at,
            Msg::Bad(b, at) => {
                batch.bad.push(b);
                batch.end = at;
            }
            Msg::Item(e, size, at) => {
                let dup = batch.entries.iter().any(|x| x.key == e.key);
                if dup || batch.bytes + size + 1024 > MAX_REQUEST_BYTES {
                    let full = next_batch(batch, &mut self.next_seq);
                    self.dispatch(full).await?;
                }
                batch.bytes += size + 64;
                batch.entries.push(e);
                batch.end = at;
            }
        }
        if batch.entries.len() >= self.batch_size || batch.bad.len() >= 1024 {
            let full = next_batch(batch, &mut self.next_seq);
            self.dispatch(full).await?;
        }
        Ok(())
    }

    async fn dispatch(&mut self, batch: Batch) -> anyhow::Result<()> {
        while self.inflight.len() >= self.concurrency
            || batch
                .entries
                .iter()
                .any(|e| self.inflight_keys.contains_key(&e.key))
        {
            if !self.settle_one().await? {
                break;
            }
        }
        for e in &batch.entries {
            *self.inflight_keys.entry(e.key.clone()).or_default() += 1;
        }
        self.inflight.spawn(write_batch(self.writer.clone(), batch));
        Ok(())
    }

    /// The load stopped on `e`: settles what is in flight so the checkpoint is as far as it
    /// can be, puts the numbers in `report` (marked failed) and returns the error to stop
    /// with: `e`, or the given-up items when they are why `--max-rejects` was reached.
    async fn abandon(
        &mut self,
        e: anyhow::Error,
        report: &mut RunReport,
        rejects_path: &Path,
    ) -> anyhow::Error {
        while matches!(self.settle_one().await, Ok(true)) {}
        let _ = self.save();
        let _ = self.rejects.flush();
        report.tables.push(self.stats());
        report.counters = self.state.counters.clone();
        report.rejects_file =
            Some(rejects_path.display().to_string()).filter(|_| self.state.rejected > 0);
        let max = self.writer.retry.max;
        let e = match gave_up_error(&report.counters, max, rejects_path) {
            Some(g) if matches!(e.downcast_ref(), Some(FerryError::TooManyRejects(_))) => {
                anyhow::Error::new(g).context("stopped at --max-rejects")
            }
            _ => e,
        };
        report.fail_with(&e);
        if let Some(cp) = self.cp {
            tracing::info!(
                "checkpoint {} at line {}: rerun with --resume to continue",
                cp.path().display(),
                self.state.line
            );
        }
        e
    }

    /// Waits for one batch; false when none is in flight.
    async fn settle_one(&mut self) -> anyhow::Result<bool> {
        let Some(res) = self.inflight.join_next().await else {
            return Ok(false);
        };
        let d = res.context("a writer task failed")??;
        for k in &d.keys {
            if let Some(n) = self.inflight_keys.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    self.inflight_keys.remove(k);
                }
            }
        }
        self.done.insert(d.seq, d);
        // Batches are numbered from 1; settle them in order.
        while let Some(mut d) = self.done.remove(&(self.settled_seq + 1)) {
            self.settled_seq = d.seq;
            // Rejects in input order, whatever order the retries ended in.
            d.failed.sort_by_key(|b| b.line);
            self.state.written += d.written;
            for b in &d.failed {
                self.state.rejected += 1;
                self.rejects.add(&Reject {
                    file: &self.file,
                    line: Some(b.line),
                    table: &self.table_name,
                    column: b.column.as_deref(),
                    value: None,
                    reason: &b.reason,
                    rule: None,
                    rowid: None,
                    record: record_value(&b.raw),
                })?;
            }
            for (k, v) in &d.counters {
                count(&mut self.state.counters, k, *v);
            }
            let advanced = d.end.0.saturating_sub(self.state.line);
            (self.state.line, self.state.offset) = d.end;
            self.progress.inc(advanced);
        }
        if self.last_save.elapsed() >= Duration::from_secs(1) {
            self.save()?;
        }
        Ok(true)
    }

    fn save(&mut self) -> anyhow::Result<()> {
        if let Some(cp) = self.cp {
            self.rejects.flush()?;
            self.state.rejects_len = self.rejects.bytes();
            cp.save(&self.state)?;
            self.last_save = Instant::now();
        }
        Ok(())
    }

    fn stats(&self) -> TableStats {
        let mut s = TableStats::new(&self.table_name);
        s.migrated = self.state.written;
        s.errors = self.state.rejected;
        s.duration_secs = self.started.elapsed().as_secs_f64();
        if self.resumed {
            s.resumed = self.written_before;
        }
        s
    }
}

impl ferry_shared::cli::InputArg for Args {
    fn set_input(&mut self, path: PathBuf) {
        self.input = Some(path);
    }
}

/// The command line of `load-dynamo`: [`Args`] plus `--input FILE`, the same as the
/// positional FILE (the document's `load_sales.py --input FILE`); both at once is a usage
/// error ([`ferry_shared::cli::parse_with_input_flag`], as the S9 transforms).
pub fn parse_from<I, T>(argv: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    ferry_shared::cli::parse_with_input_flag::<Args, _, _>("load-dynamo", argv)
}

/// The whole of `load-dynamo`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_parsed("load-dynamo", parse_from, |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning(delay_ms: u64, fixed: bool) -> Tuning {
        let mut t = ferry_shared::cli::from_env::<Tuning>();
        t.retry_delay_ms = delay_ms;
        t.fixed_delay = fixed;
        t
    }

    #[test]
    fn fixed_delay_waits_exactly_the_retry_delay() {
        let r = Retry::of(&tuning(250, true), false);
        for attempt in 1..=12 {
            assert_eq!(
                r.wait(attempt),
                Duration::from_millis(250),
                "retry {attempt}"
            );
        }
        assert_eq!(Retry::of(&tuning(0, true), false).wait(3), Duration::ZERO);
        // Without it: doubling from the delay, with jitter up to twice the floor.
        let r = Retry::of(&tuning(250, false), false);
        let third = r.wait(3);
        assert!(third >= Duration::from_millis(1000) && third <= Duration::from_millis(2000));
    }

    #[test]
    fn input_is_a_flag_or_the_positional_file_not_both() {
        let parse =
            |argv: &[&str]| parse_from(std::iter::once("load-dynamo").chain(argv.iter().copied()));
        let a = parse(&["--input", "data/transformed/sales.json", "--table", "T"]).unwrap();
        assert_eq!(a.input, Some(PathBuf::from("data/transformed/sales.json")));
        let a = parse(&["sales.ndjson", "--table", "T"]).unwrap();
        assert_eq!(a.input, Some(PathBuf::from("sales.ndjson")));
        assert_eq!(parse(&["--table", "T"]).unwrap().input, None);
        let e = parse(&["a.ndjson", "--input", "b.ndjson", "--table", "T"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{e}");
        let a = parse(&["--table", "T", "--fixed-delay", "--retry-delay-ms", "1000"]).unwrap();
        assert!(a.tuning.fixed_delay);
    }
}
