//! The document's `DataTypeConverter`: one SQLite value (any storage class: SQLite types
//! values, not columns) to one PostgreSQL value of the target column's type, or one line
//! saying why not. Then the validation rules of the column.
//!
//! What is converted and how is documented in `docs/tools/sqlite-consolidate.md`; every
//! change of form that is not a plain cast is counted as a named conversion in the report.

use crate::config::Rules;
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ferry_engine::load::cast::Val;
use ferry_shared::schema::LogicalType;
use ferry_shared::value::{parse_when, Decimal, When};
use rusqlite::types::ValueRef;
use std::borrow::Cow;

/// What a value failed: the rule's name (as in the report) and a one-line reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `type`, `range`, `utf8`, `json`, `required`, `email`, `zip`, `min`, `max`,
    /// `max_length`, `json_object`, `future_date`, `foreign_key`.
    pub rule: &'static str,
    /// Why, naming the value.
    pub reason: String,
}

fn fail(rule: &'static str, reason: impl Into<String>) -> Failure {
    Failure {
        rule,
        reason: reason.into(),
    }
}

/// Run-wide settings of the conversions.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Namespace of the v5 UUIDs.
    pub namespace: uuid::Uuid,
    /// Zone of date-times written without one.
    pub zone: FixedOffset,
    /// The run's start (UTC), for `not_future`.
    pub now: NaiveDateTime,
    /// How a number in a date column is read: `None` guesses a Unix epoch by magnitude
    /// (the document's mapping mode), `Some(None)` refuses it (generic mode: never
    /// guessed), `Some(Some(unit))` reads it in the unit the user named.
    pub date_numbers: Option<Option<DateUnit>>,
}

/// The unit of numbers in date columns, named by the user (`--date-numbers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DateUnit {
    /// Seconds since 1970-01-01 UTC.
    EpochS,
    /// Milliseconds since 1970-01-01 UTC.
    EpochMs,
    /// Julian day number (SQLite's `julianday()`), UTC.
    Julianday,
    /// A date written as the integer YYYYMMDD.
    Yyyymmdd,
}

/// The default namespace of legacy-id UUIDs (v5 of "ferry.sqlite-consolidate" in the URL
/// namespace), so the same legacy id gives the same UUID on every run.
pub fn default_namespace() -> uuid::Uuid {
    ferry_shared::ids::namespace("sqlite-consolidate")
}

pub use ferry_shared::ids::legacy_uuid;

/// Parses a zone setting: `UTC`, `Z` or `±HH:MM`.
pub fn parse_zone(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

/// The value as JSON text for the report and the rejects file: numbers as numbers, text as
/// a string, bytes (and text that is not UTF-8) as `{"base64": …}`.
pub fn value_json(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) if f.is_finite() => serde_json::Value::from(f).to_string(),
        ValueRef::Real(f) => serde_json::Value::from(f.to_string()).to_string(),
        ValueRef::Text(b) => match std::str::from_utf8(b) {
            Ok(s) => serde_json::Value::from(s).to_string(),
            Err(_) => b64(b),
        },
        ValueRef::Blob(b) => b64(b),
    }
}

fn b64(b: &[u8]) -> String {
    serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }).to_string()
}

/// The column type written in a configuration (or by the generic type mapping) as the
/// converter's target type.
/// `None` for a type [`convert`] has no conversion for.
pub fn convertible_type(pg_type: &str) -> Option<LogicalType> {
    let t = ferry_engine::types::pg_from_text(pg_type);
    match t {
        LogicalType::Uuid
        | LogicalType::Text { .. }
        | LogicalType::Int { .. }
        | LogicalType::Decimal { .. }
        | LogicalType::Float32
        | LogicalType::Float64
        | LogicalType::Bool
        | LogicalType::Date
        | LogicalType::DateTime
        | LogicalType::Timestamp
        | LogicalType::Json
        | LogicalType::Jsonb
        | LogicalType::TimeOfDay
        | LogicalType::Bytes { .. } => Some(t),
        _ => None,
    }
}

/// The value being converted, with the two views every type's conversion needs: the
/// shortened JSON form that failure messages quote, and its text. Carried as one value so
/// the per-type conversions below share them without a closure per call.
#[derive(Clone, Copy)]
struct Input<'a> {
    v: ValueRef<'a>,
}

impl<'a> Input<'a> {
    /// The value as failure messages show it: its JSON form, cut after 60 characters.
    fn shown(self) -> String {
        let s = value_json(self.v);
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    }

    /// The value's text (text and blobs; empty for numbers), or a failure of `rule_if_bad`
    /// when it is not UTF-8.
    fn text(self, rule_if_bad: &'static str) -> Result<&'a str, Failure> {
        match self.v {
            ValueRef::Text(b) | ValueRef::Blob(b) => std::str::from_utf8(b).map_err(|e| {
                fail(
                    rule_if_bad,
                    format!("{} is not valid UTF-8 ({e})", self.shown()),
                )
            }),
            _ => Ok(""),
        }
    }
}

/// Converts one SQLite value to `t`. `uuid_owner` is `db/table` for a column holding a
/// legacy id that becomes a UUID. `conv` receives the name of a documented conversion.
pub fn convert<'a>(
    v: ValueRef<'a>,
    t: &LogicalType,
    uuid_owner: Option<&str>,
    ctx: &Ctx,
    conv: &mut Option<&'static str>,
) -> Result<Val<'a>, Failure> {
    if let ValueRef::Null = v {
        return Ok(Val::Null);
    }
    let input = Input { v };
    match t {
        LogicalType::Uuid => to_uuid(input, uuid_owner, ctx, conv),
        LogicalType::Int { bits, unsigned } => {
            let (min, max) = LogicalType::int_range(*bits, *unsigned);
            to_int(input, min, max)
        }
        LogicalType::Bool => to_bool(input, conv),
        LogicalType::Float32 | LogicalType::Float64 => to_float(input),
        LogicalType::Decimal { precision, scale } => to_numeric(input, *precision, *scale, conv),
        LogicalType::Text { max_chars } => to_text(input, *max_chars),
        LogicalType::Bytes { .. } => Ok(Val::Bytes(match v {
            ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
            ValueRef::Integer(i) => i.to_string().into_bytes(),
            ValueRef::Real(f) => f.to_string().into_bytes(),
            ValueRef::Null => Vec::new(),
        })),
        LogicalType::Json | LogicalType::Jsonb => to_json(input),
        LogicalType::Date | LogicalType::DateTime | LogicalType::Timestamp => {
            to_when(input, t, ctx, conv)
        }
        LogicalType::TimeOfDay => to_time_of_day(input),
        // Types the configuration cannot name: handed over as text for the server to parse.
        _ => Ok(Val::Text(Cow::Borrowed(input.text("utf8")?))),
    }
}

/// A `time` column: `HH:MM[:SS[.ffffff]]` text, as microseconds since midnight.
fn to_time_of_day(input: Input<'_>) -> Result<Val<'static>, Failure> {
    let s = input.text("type")?.trim();
    chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveTime::parse_from_str(s, "%H:%M"))
        .map(|t| {
            use chrono::Timelike;
            Val::Micros(
                i64::from(t.num_seconds_from_midnight()) * 1_000_000
                    + i64::from(t.nanosecond() / 1000),
            )
        })
        .map_err(|_| fail("type", format!("{} is not a time of day", input.shown())))
}

/// A UUID column: a UUID as it is, or a legacy id (number or text) made a deterministic
/// UUID when the column has an owner.
fn to_uuid<'a>(
    input: Input<'a>,
    uuid_owner: Option<&str>,
    ctx: &Ctx,
    conv: &mut Option<&'static str>,
) -> Result<Val<'a>, Failure> {
    let id: Cow<'a, str> = match input.v {
        ValueRef::Integer(i) => Cow::Owned(i.to_string()),
        ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9e15 => {
            Cow::Owned((f as i64).to_string())
        }
        ValueRef::Blob(b) if b.len() == 16 => {
            return Ok(Val::Uuid(b.try_into().unwrap_or([0; 16])))
        }
        _ => {
            let s = input.text("utf8")?.trim();
            if let Ok(u) = uuid::Uuid::parse_str(s) {
                return Ok(Val::Uuid(*u.as_bytes()));
            }
            match s.parse::<i64>() {
                Ok(i) => Cow::Owned(i.to_string()),
                Err(_) if s.is_empty() => {
                    return Err(fail("type", "an empty id cannot become a UUID"))
                }
                Err(_) => Cow::Borrowed(s),
            }
        }
    };
    match uuid_owner {
        Some(owner) => {
            *conv = Some("legacy_id_to_uuid");
            Ok(Val::Uuid(
                *legacy_uuid(&ctx.namespace, owner, &id).as_bytes(),
            ))
        }
        None => Err(fail("type", format!("{} is not a UUID", input.shown()))),
    }
}

/// An integer column of the range `[min, max]`.
fn to_int<'a>(input: Input<'a>, min: i128, max: i128) -> Result<Val<'a>, Failure> {
    let i: i128 = match input.v {
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 1e18 => f as i128,
        ValueRef::Real(_) => {
            return Err(fail("type", format!("{} is not an integer", input.shown())))
        }
        _ => {
            let s = input.text("utf8")?.trim();
            match s.parse::<i128>() {
                Ok(i) => i,
                Err(_) => Decimal::parse(s).and_then(|d| d.to_i128()).ok_or_else(|| {
                    fail("type", format!("text {} is not an integer", input.shown()))
                })?,
            }
        }
    };
    if i < min || i > max {
        return Err(fail("range", format!("{i} is out of range [{min}, {max}]")));
    }
    Ok(Val::Int(i))
}

/// A boolean column: 0/1, or the usual words in text (counted as a conversion).
fn to_bool<'a>(input: Input<'a>, conv: &mut Option<&'static str>) -> Result<Val<'a>, Failure> {
    match input.v {
        ValueRef::Integer(0) => Ok(Val::Bool(false)),
        ValueRef::Integer(1) => Ok(Val::Bool(true)),
        ValueRef::Real(f) if f == 0.0 || f == 1.0 => Ok(Val::Bool(f == 1.0)),
        ValueRef::Text(_) => {
            let s = input.text("utf8")?.trim().to_ascii_lowercase();
            let b = match s.as_str() {
                "1" | "t" | "true" | "y" | "yes" | "on" => true,
                "0" | "f" | "false" | "n" | "no" | "off" => false,
                _ => return Err(fail("type", format!("{} is not a boolean", input.shown()))),
            };
            *conv = Some("text_to_boolean");
            Ok(Val::Bool(b))
        }
        _ => Err(fail("type", format!("{} is not a boolean", input.shown()))),
    }
}

/// A real or double precision column.
fn to_float<'a>(input: Input<'a>) -> Result<Val<'a>, Failure> {
    let f = match input.v {
        ValueRef::Integer(i) => i as f64,
        ValueRef::Real(f) => f,
        _ => input
            .text("utf8")?
            .trim()
            .parse::<f64>()
            .map_err(|_| fail("type", format!("{} is not a number", input.shown())))?,
    };
    Ok(Val::F8(f))
}

/// A numeric column: money text cleaned, a REAL's binary noise rounded to the scale (both
/// counted as conversions), anything else that does not fit refused.
fn to_numeric<'a>(
    input: Input<'a>,
    precision: Option<u32>,
    scale: Option<u32>,
    conv: &mut Option<&'static str>,
) -> Result<Val<'a>, Failure> {
    let (d, from_real) = match input.v {
        ValueRef::Integer(i) => (Decimal::parse(&i.to_string()), false),
        ValueRef::Real(f) if f.is_finite() => (Decimal::parse(&f.to_string()), true),
        ValueRef::Real(_) => (None, false),
        _ => {
            let s = input.text("utf8")?;
            let cleaned = money_text(s);
            if cleaned.as_deref() != Some(s.trim()) && cleaned.is_some() {
                *conv = Some("money_text_to_decimal");
            }
            (cleaned.as_deref().and_then(Decimal::parse), false)
        }
    };
    let d = d.ok_or_else(|| fail("type", format!("{} is not a decimal number", input.shown())))?;
    let text = match scale {
        Some(s) if d.significant_scale() > s as usize => {
            if !from_real {
                return Err(fail(
                    "range",
                    format!("{} has more than {s} decimal places", input.shown()),
                ));
            }
            // A REAL's shortest text can carry binary noise (0.30000000000000004):
            // rounded half away from zero to the column's scale, and counted.
            *conv = Some("real_rounded_to_scale");
            d.round_text(s as usize)
        }
        Some(s) => d.with_scale(s as usize).unwrap_or_else(|| d.canonical()),
        None => d.canonical(),
    };
    if let (Some(p), Some(s)) = (precision, scale) {
        let int_digits = text
            .trim_start_matches('-')
            .split('.')
            .next()
            .unwrap_or("")
            .trim_start_matches('0')
            .len();
        if int_digits > (p - s) as usize {
            return Err(fail(
                "range",
                format!("{} does not fit numeric({p},{s})", input.shown()),
            ));
        }
    }
    Ok(Val::Numeric(Cow::Owned(text)))
}

/// A text column: no U+0000 (PostgreSQL cannot store it), at most `max_chars` characters.
fn to_text<'a>(input: Input<'a>, max_chars: Option<u32>) -> Result<Val<'a>, Failure> {
    let s: Cow<'a, str> = match input.v {
        ValueRef::Integer(i) => Cow::Owned(i.to_string()),
        ValueRef::Real(f) => Cow::Owned(f.to_string()),
        _ => Cow::Borrowed(input.text("utf8")?),
    };
    if s.contains('\0') {
        return Err(fail(
            "type",
            format!(
                "{} contains U+0000, which PostgreSQL cannot store",
                input.shown()
            ),
        ));
    }
    if let Some(m) = max_chars {
        let n = s.chars().count();
        if n > m as usize {
            return Err(fail(
                "max_length",
                format!("{n} characters is longer than {m}"),
            ));
        }
    }
    Ok(Val::Text(s))
}

/// A json or jsonb column: valid JSON without `\u0000` (PostgreSQL cannot store it).
fn to_json<'a>(input: Input<'a>) -> Result<Val<'a>, Failure> {
    let s: Cow<'a, str> = match input.v {
        ValueRef::Integer(i) => Cow::Owned(i.to_string()),
        ValueRef::Real(f) if f.is_finite() => Cow::Owned(f.to_string()),
        _ => Cow::Borrowed(input.text("utf8")?.trim()),
    };
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&s) {
        return Err(fail(
            "json",
            format!("{} is not valid JSON: {e}", input.shown()),
        ));
    }
    if s.contains("\\u0000") {
        return Err(fail(
            "json",
            format!(
                "{} contains \\u0000, which PostgreSQL cannot store",
                input.shown()
            ),
        ));
    }
    Ok(Val::Json(s))
}

/// A date, timestamp or timestamptz column (`t`): date-times without a zone are in the
/// configured zone, zoned ones are converted to UTC.
fn to_when<'a>(
    input: Input<'a>,
    t: &LogicalType,
    ctx: &Ctx,
    conv: &mut Option<&'static str>,
) -> Result<Val<'a>, Failure> {
    let w = match (date_input(input.v), ctx.date_numbers) {
        (DateInput::When(w), _) => Some(w),
        (DateInput::Number(_), Some(None)) => {
            return Err(fail(
                "type",
                format!(
                    "{} is a number in a date column: its unit is not guessed; name it with --date-numbers epoch-s|epoch-ms|julianday|yyyymmdd",
                    input.shown()
                ),
            ))
        }
        (DateInput::Number(x), Some(Some(unit))) => in_unit(x, unit, conv),
        // Numbers under the mapping's magnitude rule, and the other text forms.
        _ => when(input.v, conv),
    }
    .ok_or_else(|| {
        fail(
            "type",
            format!("{} is not a date or date-time", input.shown()),
        )
    })?;
    if let When::Zero(z) = w {
        if !z.is_full() {
            return Err(fail(
                "type",
                format!(
                    "{} is a partial zero date, which PostgreSQL has no value for",
                    input.shown()
                ),
            ));
        }
        *conv = Some("zero_date_to_null");
        return Ok(Val::Null);
    }
    let midnight = chrono::NaiveTime::MIN;
    Ok(match (t, w) {
        (LogicalType::Date, When::Date(d)) => Val::Date(d),
        (LogicalType::Date, When::Naive(dt)) if dt.time() == midnight => Val::Date(dt.date()),
        (LogicalType::Date, When::Naive(_) | When::Zoned(_)) => {
            return Err(fail(
                "type",
                format!(
                    "{} has a time part; the column is a date (it is not dropped)",
                    input.shown()
                ),
            ))
        }
        (_, When::Date(d)) => {
            *conv = Some("date_to_midnight");
            let dt = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            if *t == LogicalType::Timestamp {
                Val::Ts(local_to_utc(dt, ctx.zone))
            } else {
                Val::Ts(dt)
            }
        }
        (LogicalType::Timestamp, When::Naive(dt)) => {
            if conv.is_none() {
                *conv = Some("naive_datetime_in_configured_zone");
            }
            Val::Ts(local_to_utc(dt, ctx.zone))
        }
        (_, When::Naive(dt)) => Val::Ts(dt),
        (LogicalType::DateTime, When::Zoned(dt)) => {
            // A number read in a named unit keeps that conversion's name.
            if conv.is_none() {
                *conv = Some("zoned_datetime_to_utc");
            }
            Val::Ts(dt.naive_utc())
        }
        (_, When::Zoned(dt)) => Val::Ts(dt.naive_utc()),
        (_, When::Zero(_)) => Val::Null,
    })
}

fn local_to_utc(dt: NaiveDateTime, zone: FixedOffset) -> NaiveDateTime {
    zone.from_local_datetime(&dt)
        .single()
        .map(|z| z.naive_utc())
        .unwrap_or(dt)
}

/// `$1,234.50`, ` 12.5 `, `€ 3`, `-1,000` → plain decimal text. Commas only as thousands
/// separators (groups of three), so `1,5` is refused rather than read as 15.
fn money_text(s: &str) -> Option<String> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.trim_start()),
        None => (false, t),
    };
    let t = t
        .trim_start_matches(['$', '€', '£'])
        .trim_start()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ' ');
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let int = if int.contains(',') {
        let groups: Vec<&str> = int.split(',').collect();
        let ok = groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return None;
        }
        groups.concat()
    } else {
        int.to_string()
    };
    let body = if frac.is_empty() && !t.contains('.') {
        int
    } else {
        format!("{int}.{frac}")
    };
    Some(if neg { format!("-{body}") } else { body })
}

/// Extra text forms seen in legacy SQLite files, tried after ISO 8601. Slashed dates are
/// US order (month first).
const NAIVE_FORMATS: &[&str] = &[
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y%m%dT%H%M%S",
    "%Y-%m-%d %H:%M",
    "%b %d, %Y %H:%M:%S",
];
const DATE_FORMATS: &[&str] = &[
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
];

/// A date or date-time from any storage class: ISO 8601 text (with or without zone), the
/// other text forms above, RFC 2822, or a Unix epoch number (seconds, or milliseconds
/// above 10^11, or microseconds above 10^14), which is UTC.
fn when(v: ValueRef<'_>, conv: &mut Option<&'static str>) -> Option<When> {
    match v {
        ValueRef::Integer(i) => epoch(i as f64, conv),
        ValueRef::Real(f) => epoch(f, conv),
        ValueRef::Text(b) => {
            let s = std::str::from_utf8(b).ok()?.trim();
            if let Some(w) = parse_when(s) {
                return Some(w);
            }
            if let Ok(x) = s.parse::<f64>() {
                return epoch(x, conv);
            }
            *conv = Some("datetime_text_reformatted");
            if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
                return Some(When::Zoned(dt));
            }
            for f in NAIVE_FORMATS {
                if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
                    return Some(When::Naive(dt));
                }
            }
            for f in DATE_FORMATS {
                if let Ok(d) = NaiveDate::parse_from_str(s, f) {
                    return Some(When::Date(d));
                }
            }
            *conv = None;
            None
        }
        _ => None,
    }
}

/// A date column's value, read once: ISO 8601 text, a number (an INTEGER, a REAL, or text
/// that reads as one), or something else for [`when`]'s other forms.
enum DateInput {
    When(When),
    Number(f64),
    Other,
}

fn date_input(v: ValueRef<'_>) -> DateInput {
    match v {
        ValueRef::Integer(i) => DateInput::Number(i as f64),
        ValueRef::Real(x) => DateInput::Number(x),
        ValueRef::Text(b) => {
            let Some(s) = std::str::from_utf8(b).ok().map(str::trim) else {
                return DateInput::Other;
            };
            if let Some(w) = parse_when(s) {
                return DateInput::When(w);
            }
            s.parse().map_or(DateInput::Other, DateInput::Number)
        }
        _ => DateInput::Other,
    }
}

/// A number in the unit the user named; each unit counts under its own name.
fn in_unit(x: f64, unit: DateUnit, conv: &mut Option<&'static str>) -> Option<When> {
    let micros = match unit {
        DateUnit::EpochS => {
            *conv = Some("epoch_seconds_to_timestamp");
            (x * 1e6).round() as i64
        }
        DateUnit::EpochMs => {
            *conv = Some("epoch_millis_to_timestamp");
            (x * 1e3).round() as i64
        }
        DateUnit::Julianday => {
            *conv = Some("julianday_to_timestamp");
            // Julian day 2440587.5 is 1970-01-01T00:00:00Z.
            ((x - 2_440_587.5) * 86_400e6).round() as i64
        }
        DateUnit::Yyyymmdd => {
            *conv = Some("yyyymmdd_to_date");
            if x.fract() != 0.0 {
                return None;
            }
            let n = x as i64;
            let d = NaiveDate::from_ymd_opt(
                (n / 10_000) as i32,
                (n / 100 % 100) as u32,
                (n % 100) as u32,
            )?;
            return Some(When::Date(d));
        }
    };
    let dt = DateTime::<Utc>::from_timestamp_micros(micros)?;
    Some(When::Zoned(dt.fixed_offset()))
}

fn epoch(x: f64, conv: &mut Option<&'static str>) -> Option<When> {
    let (secs, kind) = if x.abs() < 1e11 {
        (x, "epoch_seconds_to_timestamp")
    } else if x.abs() < 1e14 {
        (x / 1e3, "epoch_millis_to_timestamp")
    } else {
        (x / 1e6, "epoch_micros_to_timestamp")
    };
    *conv = Some(kind);
    let micros = (secs * 1e6).round() as i64;
    let dt = DateTime::<Utc>::from_timestamp_micros(micros)?;
    Some(When::Zoned(dt.fixed_offset()))
}

/// The column's validation rules on a converted value (NULL passes all but `required`).
pub fn validate(v: &Val<'_>, required: bool, rules: &Rules, ctx: &Ctx) -> Result<(), Failure> {
    let empty = match v {
        Val::Null => true,
        Val::Text(s) => s.trim().is_empty(),
        _ => false,
    };
    if empty {
        return if required {
            Err(fail("required", "a required field is missing or empty"))
        } else {
            Ok(())
        };
    }
    if let Val::Text(s) = v {
        if rules.email && !ferry_shared::value::is_email(s) {
            return Err(fail("email", format!("{s:?} is not an email address")));
        }
        if rules.zip && !is_zip(s) {
            return Err(fail(
                "zip",
                format!("{s:?} is not a ZIP code (12345 or 12345-6789)"),
            ));
        }
        if let Some(m) = rules.max_length {
            let n = s.chars().count();
            if n > m {
                return Err(fail(
                    "max_length",
                    format!("{n} characters is longer than {m}"),
                ));
            }
        }
    }
    let num = match v {
        Val::Int(i) => Some(*i as f64),
        Val::Numeric(s) => s.parse::<f64>().ok(),
        Val::F8(f) => Some(*f),
        Val::F4(f) => Some(f64::from(*f)),
        _ => None,
    };
    if let Some(x) = num {
        if let Some(min) = rules.min.filter(|m| x < *m) {
            return Err(fail("min", format!("{x} is below the minimum {min}")));
        }
        if let Some(max) = rules.max.filter(|m| x > *m) {
            return Err(fail("max", format!("{x} is above the maximum {max}")));
        }
    }
    if rules.json_object {
        if let Val::Json(s) = v {
            if !s.trim_start().starts_with('{') {
                return Err(fail("json_object", format!("{s} is not a JSON object")));
            }
        }
    }
    if rules.not_future {
        let later = match v {
            Val::Date(d) => *d > ctx.now.date(),
            Val::Ts(t) => *t > ctx.now,
            _ => false,
        };
        if later {
            return Err(fail("future_date", "the date is in the future"));
        }
    }
    Ok(())
}

fn is_zip(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        5 => b.iter().all(u8::is_ascii_digit),
        10 => {
            b[..5].iter().all(u8::is_ascii_digit)
                && b[5] == b'-'
                && b[6..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            namespace: default_namespace(),
            zone: FixedOffset::east_opt(0).unwrap(),
            now: NaiveDate::from_ymd_opt(2026, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            date_numbers: None,
        }
    }

    fn c(v: ValueRef<'_>, t: &str) -> Result<Val<'static>, Failure> {
        let mut conv = None;
        convert(
            v,
            &convertible_type(t).unwrap(),
            Some("db/t"),
            &ctx(),
            &mut conv,
        )
        .map(|v| match v {
            Val::Text(s) => Val::Text(Cow::Owned(s.into_owned())),
            Val::Json(s) => Val::Json(Cow::Owned(s.into_owned())),
            Val::Numeric(s) => Val::Numeric(Cow::Owned(s.into_owned())),
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::F8(f) => Val::F8(f),
            Val::Uuid(u) => Val::Uuid(u),
            Val::Date(d) => Val::Date(d),
            Val::Ts(t) => Val::Ts(t),
            other => panic!("{other:?}"),
        })
    }

    /// Converts `v` to `t` with `date_numbers` set; the value and the conversion's name.
    fn dated(
        v: ValueRef<'_>,
        t: &str,
        unit: Option<Option<DateUnit>>,
    ) -> Result<(String, Option<&'static str>), String> {
        let mut conv = None;
        let cx = Ctx {
            date_numbers: unit,
            ..ctx()
        };
        convert(v, &convertible_type(t).unwrap(), None, &cx, &mut conv)
            .map(|v| (format!("{v:?}"), conv))
            .map_err(|f| f.reason)
    }

    #[test]
    fn generic_dates_never_guess_a_number() {
        let generic = Some(None);
        for v in [
            ValueRef::Integer(20240115),
            ValueRef::Real(2460371.04),
            ValueRef::Integer(0),
            ValueRef::Text(b"2024"),
        ] {
            let e = dated(v, "date", generic).unwrap_err();
            assert!(e.contains("--date-numbers"), "{e}");
        }
        // Julian day 2460369.5 is 2024-02-29T00:00:00Z.
        let jd = dated(
            ValueRef::Real(2460371.0),
            "timestamp",
            Some(Some(DateUnit::Julianday)),
        )
        .unwrap();
        assert_eq!(
            jd,
            (
                "Ts(2024-03-01T12:00:00)".into(),
                Some("julianday_to_timestamp")
            )
        );
        let ymd = dated(
            ValueRef::Integer(20240115),
            "date",
            Some(Some(DateUnit::Yyyymmdd)),
        )
        .unwrap();
        assert_eq!(ymd, ("Date(2024-01-15)".into(), Some("yyyymmdd_to_date")));
        let s = dated(
            ValueRef::Integer(86400),
            "timestamp",
            Some(Some(DateUnit::EpochS)),
        )
        .unwrap();
        assert_eq!(
            s,
            (
                "Ts(1970-01-02T00:00:00)".into(),
                Some("epoch_seconds_to_timestamp")
            )
        );
        let ms = dated(
            ValueRef::Integer(86_400_000),
            "timestamp",
            Some(Some(DateUnit::EpochMs)),
        )
        .unwrap();
        assert_eq!(ms.1, Some("epoch_millis_to_timestamp"));
    }

    #[test]
    fn zero_dates_and_time_parts_are_never_silent() {
        let generic = Some(None);
        let zero = dated(ValueRef::Text(b"0000-00-00 00:00:00"), "timestamp", generic).unwrap();
        assert_eq!(zero, ("Null".into(), Some("zero_date_to_null")));
        let e = dated(ValueRef::Text(b"2024-00-00"), "date", generic).unwrap_err();
        assert!(e.contains("partial zero date"), "{e}");
        let e = dated(ValueRef::Text(b"2024-01-15 10:30:00"), "date", generic).unwrap_err();
        assert!(e.contains("time part"), "{e}");
        let m = dated(ValueRef::Text(b"2017-08-08"), "timestamp", generic).unwrap();
        assert_eq!(
            m,
            ("Ts(2017-08-08T00:00:00)".into(), Some("date_to_midnight"))
        );
        let d = dated(ValueRef::Text(b"2024-01-15 00:00:00"), "date", generic).unwrap();
        assert_eq!(d.0, "Date(2024-01-15)");
    }

    #[test]
    fn uuids_are_deterministic_across_forms() {
        let a = c(ValueRef::Integer(42), "uuid").unwrap();
        assert_eq!(a, c(ValueRef::Text(b" 42"), "uuid").unwrap());
        assert_eq!(a, c(ValueRef::Real(42.0), "uuid").unwrap());
        assert_ne!(a, c(ValueRef::Integer(43), "uuid").unwrap());
        let u = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        assert_eq!(
            c(ValueRef::Text(u.as_bytes()), "uuid").unwrap(),
            Val::Uuid(*uuid::Uuid::parse_str(u).unwrap().as_bytes())
        );
    }

    #[test]
    fn money_and_decimals() {
        let n = |s: &str| Val::Numeric(Cow::Owned(s.to_string()));
        assert_eq!(
            c(ValueRef::Text(b"$85,000.5"), "numeric(12,2)").unwrap(),
            n("85000.50")
        );
        assert_eq!(
            c(ValueRef::Real(0.1 + 0.2), "numeric(12,2)").unwrap(),
            n("0.30")
        );
        assert_eq!(
            c(ValueRef::Real(19.995), "numeric(12,2)").unwrap(),
            n("20.00")
        );
        assert_eq!(
            c(ValueRef::Integer(-7), "numeric(12,2)").unwrap(),
            n("-7.00")
        );
        assert_eq!(
            c(ValueRef::Text(b"1.005"), "numeric(12,2)")
                .unwrap_err()
                .rule,
            "range"
        );
        assert_eq!(
            c(ValueRef::Text(b"1,5"), "numeric(12,2)").unwrap_err().rule,
            "type"
        );
        assert_eq!(
            c(ValueRef::Integer(10_i64.pow(11)), "numeric(12,2)")
                .unwrap_err()
                .rule,
            "range"
        );
        assert_eq!(
            Decimal::parse("9.995").unwrap().round(2).to_string(),
            "10.00"
        );
        assert_eq!(
            Decimal::parse("-0.004").unwrap().round(2).to_string(),
            "0.00"
        );
    }

    #[test]
    fn booleans_integers_text() {
        for (v, b) in [
            (ValueRef::Integer(1), true),
            (ValueRef::Text(b"yes"), true),
            (ValueRef::Text(b"FALSE"), false),
            (ValueRef::Text(b"0"), false),
        ] {
            assert_eq!(c(v, "boolean").unwrap(), Val::Bool(b));
        }
        assert_eq!(
            c(ValueRef::Text(b"maybe"), "boolean").unwrap_err().rule,
            "type"
        );
        assert_eq!(c(ValueRef::Text(b" 12 "), "integer").unwrap(), Val::Int(12));
        assert_eq!(
            c(ValueRef::Text(b"twelve"), "integer").unwrap_err().rule,
            "type"
        );
        assert_eq!(
            c(ValueRef::Integer(1 << 40), "integer").unwrap_err().rule,
            "range"
        );
        assert_eq!(
            c(ValueRef::Text(b"caf\xc3"), "text").unwrap_err().rule,
            "utf8"
        );
        assert_eq!(
            c(ValueRef::Text(b"abcdef"), "varchar(5)").unwrap_err().rule,
            "max_length"
        );
    }

    #[test]
    fn datetimes() {
        let ts = |s: &str| Val::Ts(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap());
        assert_eq!(
            c(ValueRef::Text(b"2024-03-01 10:00:00"), "timestamptz").unwrap(),
            ts("2024-03-01 10:00:00")
        );
        assert_eq!(
            c(ValueRef::Text(b"2024-03-01T10:00:00+02:00"), "timestamptz").unwrap(),
            ts("2024-03-01 08:00:00")
        );
        assert_eq!(
            c(ValueRef::Text(b"03/01/2024 10:00"), "timestamptz").unwrap(),
            ts("2024-03-01 10:00:00")
        );
        assert_eq!(
            c(ValueRef::Integer(1_709_287_200), "timestamptz").unwrap(),
            ts("2024-03-01 10:00:00")
        );
        assert_eq!(
            c(ValueRef::Integer(1_709_287_200_000), "timestamptz").unwrap(),
            ts("2024-03-01 10:00:00")
        );
        assert_eq!(
            c(
                ValueRef::Text(b"Fri, 01 Mar 2024 11:00:00 +0100"),
                "timestamptz"
            )
            .unwrap(),
            ts("2024-03-01 10:00:00")
        );
        assert_eq!(
            c(ValueRef::Text(b"March 1, 2024"), "date").unwrap(),
            Val::Date(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap())
        );
        assert_eq!(
            c(ValueRef::Text(b"yesterday"), "date").unwrap_err().rule,
            "type"
        );
    }

    #[test]
    fn rules() {
        let r = Rules {
            email: true,
            ..Default::default()
        };
        let t = |s: &'static str| Val::Text(Cow::Borrowed(s));
        assert!(validate(&t("a@b.io"), true, &r, &ctx()).is_ok());
        assert_eq!(
            validate(&t("a.b.io"), true, &r, &ctx()).unwrap_err().rule,
            "email"
        );
        assert_eq!(
            validate(&t(" "), true, &r, &ctx()).unwrap_err().rule,
            "required"
        );
        let z = Rules {
            zip: true,
            ..Default::default()
        };
        assert!(validate(&t("02134-0001"), false, &z, &ctx()).is_ok());
        assert_eq!(
            validate(&t("2134"), false, &z, &ctx()).unwrap_err().rule,
            "zip"
        );
        let s = Rules {
            min: Some(1.0),
            max: Some(10.0),
            ..Default::default()
        };
        assert_eq!(
            validate(&Val::Int(11), false, &s, &ctx()).unwrap_err().rule,
            "max"
        );
        let j = Rules {
            json_object: true,
            ..Default::default()
        };
        assert_eq!(
            validate(&Val::Json(Cow::Borrowed("[1]")), false, &j, &ctx())
                .unwrap_err()
                .rule,
            "json_object"
        );
        let f = Rules {
            not_future: true,
            ..Default::default()
        };
        let d = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        assert_eq!(
            validate(&Val::Date(d), false, &f, &ctx()).unwrap_err().rule,
            "future_date"
        );
    }
}
