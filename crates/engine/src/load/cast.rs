//! Casting NDJSON values to a target column's real type, read from the target's catalog.
//!
//! One function per direction: [`cast`] turns a raw JSON value into a typed [`Val`] or says
//! in one line why it cannot (that line goes to the rejects file). Engine encoders then write
//! the `Val` in their wire format. Documented conversions (zero dates to NULL, NUL removed)
//! are reported, never silent.

use chrono::{NaiveDate, NaiveDateTime};
use ferry_shared::row::Field;
use ferry_shared::schema::LogicalType;
use ferry_shared::value::{parse_duration_micros, parse_when, Decimal, Json, When, ZeroDate};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A value cast to its target type.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// NULL.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer (also YEAR and bit strings).
    Int(i128),
    /// Exact decimal text that fits the column (at most its scale of fraction digits).
    Numeric(Cow<'a, str>),
    /// Single precision.
    F4(f32),
    /// Double precision.
    F8(f64),
    /// Text (also enum/set labels, UUID text for MySQL, unknown types).
    Text(Cow<'a, str>),
    /// Bytes.
    Bytes(Vec<u8>),
    /// JSON text.
    Json(Cow<'a, str>),
    /// Date.
    Date(NaiveDate),
    /// Date-time (UTC for zoned targets).
    Ts(NaiveDateTime),
    /// A MySQL zero date (full or partial), kept as it was for targets that hold it.
    ZeroDate(ZeroDate),
    /// PostgreSQL's `infinity` (true) or `-infinity` date or timestamp.
    Infinity(bool),
    /// Duration in microseconds.
    Micros(i64),
    /// UUID bytes.
    Uuid([u8; 16]),
}

/// What the cast had to do besides casting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// A MySQL zero date became NULL (the target has no zero date).
    ZeroDateToNull,
    /// A partial zero date (`2020-05-00`) became NULL (`--zero-date null`).
    PartialZeroDateToNull,
    /// A zero date became the `--zero-date` replacement value.
    ZeroDateReplaced,
    /// NUL characters were removed from text (`--nul strip`).
    NulRemoved,
    /// A JSON boolean went into an integer column as 1 or 0.
    BooleanToInteger,
    /// A JSON number went into a text column as written.
    NumberToText,
    /// A JSON boolean went into a text column as `true`/`false`.
    BooleanToText,
    /// A JSON object or array went into a text column as its JSON text.
    JsonToText,
    /// A string holding a JSON object or array went into a JSON column as that document.
    JsonTextParsed,
    /// Any other string went into a JSON column as a JSON string.
    TextToJsonString,
}

impl Conversion {
    /// The report's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Conversion::ZeroDateToNull => "zero_date_to_null",
            Conversion::PartialZeroDateToNull => "partial_zero_date_to_null",
            Conversion::ZeroDateReplaced => "zero_date_replaced",
            Conversion::NulRemoved => "nul_removed",
            Conversion::BooleanToInteger => "boolean_to_integer",
            Conversion::NumberToText => "number_to_text",
            Conversion::BooleanToText => "boolean_to_text",
            Conversion::JsonToText => "json_to_text",
            Conversion::JsonTextParsed => "json_text_parsed",
            Conversion::TextToJsonString => "text_to_json_string",
        }
    }
}

/// What becomes of a MySQL zero date in a target that has none (`--zero-date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroDatePolicy {
    /// A full zero date (`0000-00-00`) becomes NULL; a partial one (`2020-05-00`, which
    /// still holds a year or month) is rejected: nothing it says is dropped unasked.
    #[default]
    NullFullRejectPartial,
    /// Every zero date becomes NULL (each kind counted).
    Null,
    /// Every zero date is rejected.
    Reject,
    /// Every zero date becomes this value (the date part for a date column), counted.
    Replace(NaiveDateTime),
}

impl std::str::FromStr for ZeroDatePolicy {
    type Err = String;
    /// `null`, `reject`, or a date or date-time to put in their place.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "null" => Ok(ZeroDatePolicy::Null),
            "reject" => Ok(ZeroDatePolicy::Reject),
            _ => match parse_when(s) {
                Some(When::Date(d)) => {
                    Ok(ZeroDatePolicy::Replace(d.and_time(chrono::NaiveTime::MIN)))
                }
                Some(When::Naive(dt)) => Ok(ZeroDatePolicy::Replace(dt)),
                _ => Err(format!(
                    "{s:?}: give null, reject, or a date (YYYY-MM-DD[ HH:MM:SS]) to use instead"
                )),
            },
        }
    }
}

/// Per-target rules of the cast.
#[derive(Debug, Clone, Copy)]
pub struct CastRules {
    /// The target holds MySQL zero dates (MySQL/MariaDB do; PostgreSQL does not).
    pub zero_dates: bool,
    /// What a target without zero dates does with one.
    pub zero_date: ZeroDatePolicy,
    /// The target refuses U+0000 in text (PostgreSQL).
    pub no_nul: bool,
    /// Remove U+0000 instead of rejecting the row.
    pub strip_nul: bool,
    /// The target has no NaN or infinities (MySQL/MariaDB).
    pub finite_only: bool,
    /// The target stores geometry as MariaDB does (SRID, then WKB), not as EWKB.
    pub mysql_geometry: bool,
    /// The target's dates have the years 0000–9999 only (MySQL/MariaDB).
    pub four_digit_years: bool,
}

fn what(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

fn text_of<'a>(j: &Json<'a>) -> Option<Cow<'a, str>> {
    match j {
        Json::Str(s) => Some(s.clone()),
        Json::Num(n) => Some(Cow::Borrowed(n)),
        _ => None,
    }
}

/// Casts one value of a line to `t`. `conv` receives any documented conversion.
pub fn cast<'a>(
    field: Field<'a>,
    t: &LogicalType,
    rules: CastRules,
    conv: &mut Option<Conversion>,
) -> Result<Val<'a>, String> {
    let Field { raw, json: j } = field;
    if j == Json::Null {
        return Ok(Val::Null);
    }
    let c = Cell { raw, j };
    match t {
        LogicalType::Bool => cast_bool(&c),
        LogicalType::Int { bits, unsigned } => {
            let (min, max) = LogicalType::int_range(*bits, *unsigned);
            cast_int(&c, min, max, conv)
        }
        LogicalType::Year => cast_year(&c),
        LogicalType::Bit { bits } => cast_bit(&c, *bits),
        LogicalType::Decimal { precision, scale } => cast_numeric(&c, *precision, *scale),
        LogicalType::Float32 => cast_float(&c, true, rules),
        LogicalType::Float64 => cast_float(&c, false, rules),
        LogicalType::Text { max_chars } => text_cast(raw, &c.j, *max_chars, rules, conv),
        LogicalType::Other { .. } => text_cast(raw, &c.j, None, rules, conv),
        LogicalType::Enum { values } => cast_label(&c, values, false),
        LogicalType::Set { values } => cast_label(&c, values, true),
        LogicalType::Bytes { max_bytes, .. } => cast_bytes(&c, *max_bytes),
        LogicalType::Json | LogicalType::Jsonb => cast_json(&c, rules, conv),
        LogicalType::Date | LogicalType::DateTime | LogicalType::Timestamp => {
            cast_date_time(&c, t, rules, conv)
        }
        LogicalType::Time => cast_time(&c, true),
        LogicalType::TimeOfDay => cast_time(&c, false),
        LogicalType::Interval => cast_interval(&c),
        LogicalType::Uuid => cast_uuid(&c),
        LogicalType::Geometry => cast_geometry(&c, rules),
    }
}

/// Geometry travels as hex EWKB; it leaves as the target stores it (PostGIS reads EWKB).
fn cast_geometry<'a>(c: &Cell<'a>, rules: CastRules) -> Result<Val<'a>, String> {
    use ferry_shared::geometry;
    let s = c.string("is not hex EWKB")?;
    let ewkb = geometry::from_hex(&s).map_err(|e| c.bad(&e))?;
    if rules.mysql_geometry {
        return geometry::ewkb_to_mysql(&ewkb).map(Val::Bytes);
    }
    Ok(Val::Bytes(ewkb))
}

/// One non-null value being cast. Every family's refusal quotes the raw value the same way,
/// so the raw text travels with its JSON class instead of each caster rebuilding the message.
struct Cell<'a> {
    /// The value as written in the NDJSON line (quoted, shortened, in error messages).
    raw: &'a str,
    /// Its JSON class.
    j: Json<'a>,
}

impl<'a> Cell<'a> {
    /// The reject line: the value, then why it does not fit.
    fn bad(&self, why: &str) -> String {
        format!("{} {why}", what(self.raw))
    }

    /// A string or number as text, or the reject line `why`.
    fn text(&self, why: &str) -> Result<Cow<'a, str>, String> {
        text_of(&self.j).ok_or_else(|| self.bad(why))
    }

    /// A JSON string only (dates, bytes, labels must be strings), or the reject line `why`.
    fn string(&self, why: &str) -> Result<Cow<'a, str>, String> {
        match &self.j {
            Json::Str(s) => Ok(s.clone()),
            _ => Err(self.bad(why)),
        }
    }
}

/// Booleans accept JSON booleans, 0/1 and the usual spellings of yes/no.
fn cast_bool<'a>(c: &Cell<'a>) -> Result<Val<'a>, String> {
    match &c.j {
        Json::Bool(b) => Ok(Val::Bool(*b)),
        Json::Num("0") => Ok(Val::Bool(false)),
        Json::Num("1") => Ok(Val::Bool(true)),
        Json::Str(s) => match s.to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "yes" | "y" | "on" => Ok(Val::Bool(true)),
            "f" | "false" | "0" | "no" | "n" | "off" => Ok(Val::Bool(false)),
            _ => Err(c.bad("is not a boolean")),
        },
        _ => Err(c.bad("is not a boolean (true/false or 0/1)")),
    }
}

/// Integers accept booleans and exact decimals without a fraction (`1.0e3`), within the
/// column's range.
fn cast_int<'a>(
    c: &Cell<'a>,
    min: i128,
    max: i128,
    conv: &mut Option<Conversion>,
) -> Result<Val<'a>, String> {
    let v = match &c.j {
        Json::Bool(b) => {
            *conv = Some(Conversion::BooleanToInteger);
            i128::from(*b)
        }
        _ => {
            let s = c.text("is not an integer")?;
            match s.parse::<i128>() {
                Ok(v) => v,
                Err(_) => Decimal::parse(&s)
                    .and_then(|d| d.to_i128())
                    .ok_or_else(|| c.bad("is not an integer"))?,
            }
        }
    };
    if v < min || v > max {
        return Err(c.bad(&format!("is out of range [{min}, {max}]")));
    }
    Ok(Val::Int(v))
}

/// MySQL YEAR: 0 or 1901..2155.
fn cast_year<'a>(c: &Cell<'a>) -> Result<Val<'a>, String> {
    let s = c.text("is not a year")?;
    let v: i128 = s.parse().map_err(|_| c.bad("is not a year"))?;
    if v != 0 && !(1901..=2155).contains(&v) {
        return Err(c.bad("is outside YEAR's range 1901..2155"));
    }
    Ok(Val::Int(v))
}

/// Bit strings accept booleans, a string of exactly `n` binary digits, or a decimal integer.
fn cast_bit<'a>(c: &Cell<'a>, n: u32) -> Result<Val<'a>, String> {
    let v: i128 = match &c.j {
        Json::Bool(b) => i128::from(*b),
        _ => {
            let s = c.text("is not a bit value")?;
            if !s.is_empty()
                && s.len() as u32 == n
                && s.bytes().all(|b| b == b'0' || b == b'1')
                && s.len() > 1
            {
                i128::from_str_radix(&s, 2).map_err(|_| c.bad("is not a bit value"))?
            } else {
                s.parse().map_err(|_| c.bad("is not a bit value"))?
            }
        }
    };
    if v < 0 || (n < 127 && v >= (1i128 << n)) {
        return Err(c.bad(&format!("does not fit in {n} bits")));
    }
    Ok(Val::Int(v))
}

/// Exact decimals are never rounded: too many fraction or integer digits is a reject.
fn cast_numeric<'a>(
    c: &Cell<'a>,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<Val<'a>, String> {
    let s = c.text("is not a number")?;
    if matches!(s.as_ref(), "NaN") && precision.is_none() {
        return Ok(Val::Numeric(Cow::Borrowed("NaN")));
    }
    if plain_decimal_fits(&s, precision, scale) {
        // The common case, without allocating: the digits go out as written.
        return Ok(Val::Numeric(s));
    }
    let d = Decimal::parse(&s).ok_or_else(|| c.bad("is not a decimal number"))?;
    let text = match scale {
        Some(sc) => d.with_scale(sc as usize).ok_or_else(|| {
            c.bad(&format!(
                "has more than {sc} decimal places (would be rounded)"
            ))
        })?,
        None => d.to_string(),
    };
    if let (Some(p), Some(sc)) = (precision, scale) {
        let int_digits = d.int.len() as u32;
        if int_digits > p - sc {
            return Err(c.bad(&format!("does not fit numeric({p},{sc})")));
        }
    }
    Ok(Val::Numeric(Cow::Owned(text)))
}

/// Floats accept numbers and the NaN/Infinity spellings (refused by finite-only targets);
/// `real` refuses values that only fit a double. A number beyond the type's range (`1e400`)
/// or so small it would become 0 (`1e-400`) is refused, as PostgreSQL's own input refuses
/// it: Rust's parser would make it an infinity or a zero without a word.
fn cast_float<'a>(c: &Cell<'a>, single: bool, rules: CastRules) -> Result<Val<'a>, String> {
    let s = c.text("is not a number")?;
    let v: f64 = match s.as_ref() {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        other => other.parse().map_err(|_| c.bad("is not a number"))?,
    };
    // Asked only of an infinite value: no lower-casing for every float of a load.
    let spelt_inf = || {
        matches!(
            s.trim_start_matches(['+', '-'])
                .to_ascii_lowercase()
                .as_str(),
            "inf" | "infinity"
        )
    };
    let name = if single { "real" } else { "double precision" };
    if v.is_infinite() && !spelt_inf() {
        return Err(c.bad(&format!("is out of range for {name}")));
    }
    if rules.finite_only && !v.is_finite() {
        return Err(c.bad("is not finite; the target has no NaN or infinity"));
    }
    let (value, is_inf, is_zero) = if single {
        let f = s.parse::<f32>().unwrap_or(v as f32);
        (Val::F4(f), f.is_infinite(), f == 0.0)
    } else {
        (Val::F8(v), false, v == 0.0)
    };
    if is_inf && !spelt_inf() {
        return Err(c.bad(&format!("is out of range for {name}")));
    }
    let mantissa = s.split(['e', 'E']).next().unwrap_or_default();
    if is_zero && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(c.bad(&format!("is too small for {name} (it would become 0)")));
    }
    Ok(value)
}

/// Enum labels must be one of the column's labels; SET values a comma list of them (an
/// empty label list, unknown to the catalog reader, accepts anything).
fn cast_label<'a>(c: &Cell<'a>, labels: &[String], set: bool) -> Result<Val<'a>, String> {
    let s = match &c.j {
        Json::Str(s) => s.clone(),
        _ => return Err(c.bad("is not a label")),
    };
    let ok = if set {
        s.is_empty() || s.split(',').all(|p| labels.iter().any(|l| l == p))
    } else {
        labels.iter().any(|l| l == s.as_ref())
    };
    if !ok && !labels.is_empty() {
        return Err(c.bad(&format!("is not one of {labels:?}")));
    }
    Ok(Val::Text(s))
}

/// Bytes travel as base64 text. MySQL pads BINARY(n) with zero bytes itself, so a short value
/// for a fixed-length column is not refused: the padding is the column's semantics.
fn cast_bytes<'a>(c: &Cell<'a>, max_bytes: Option<u32>) -> Result<Val<'a>, String> {
    use base64::Engine as _;
    let s = c.string("is not base64 bytes")?;
    let b = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| c.bad(&format!("is not valid base64 ({e})")))?;
    if let Some(m) = max_bytes {
        if b.len() > m as usize {
            return Err(format!("{} bytes are longer than {m}", b.len()));
        }
    }
    Ok(Val::Bytes(b))
}

/// JSON goes out as written; PostgreSQL jsonb refuses an escaped NUL inside it.
///
/// A string is text that may hold a document (a JSON column read from a text column): one
/// holding an object or array becomes that document (`json_text_parsed`), any other becomes
/// a JSON string (`text_to_json_string`). Both are counted, never silent.
fn cast_json<'a>(
    c: &Cell<'a>,
    rules: CastRules,
    conv: &mut Option<Conversion>,
) -> Result<Val<'a>, String> {
    let doc: Cow<'a, str> = match &c.j {
        Json::Str(s) => {
            let t = s.trim_start();
            let parsed = (t.starts_with('{') || t.starts_with('['))
                && serde_json::from_str::<&RawValue>(s).is_ok();
            if parsed {
                *conv = Some(Conversion::JsonTextParsed);
                s.clone()
            } else {
                *conv = Some(Conversion::TextToJsonString);
                Cow::Borrowed(c.raw)
            }
        }
        _ => Cow::Borrowed(c.raw),
    };
    if rules.no_nul && doc.contains("\\u0000") {
        return Err(c.bad("contains \\u0000, which PostgreSQL jsonb refuses"));
    }
    Ok(Val::Json(doc))
}

/// Dates and timestamps from ISO 8601 text. MySQL zero dates stay where the target holds them
/// and become NULL (reported as a conversion) elsewhere; zoned values are stored as UTC.
fn cast_date_time<'a>(
    c: &Cell<'a>,
    t: &LogicalType,
    rules: CastRules,
    conv: &mut Option<Conversion>,
) -> Result<Val<'a>, String> {
    let s = c.string("is not a date/time string")?;
    if let Some(positive) = infinity(&s) {
        if rules.four_digit_years {
            return Err(c.bad("is infinity, which the target's dates cannot hold"));
        }
        return Ok(Val::Infinity(positive));
    }
    let w = parse_when(&s).ok_or_else(|| c.bad("is not a valid ISO 8601 date/time"))?;
    if rules.four_digit_years && w.year().is_some_and(|y| !(0..=9999).contains(&y)) {
        return Err(c.bad("is outside the years 0000-9999 that the target's dates hold"));
    }
    match (w, t) {
        (When::Zero(z), LogicalType::Date) if z.time_micros.unwrap_or(0) != 0 => {
            Err(c.bad("has a time part; the column is a date"))
        }
        (When::Zero(z), _) if rules.zero_dates => Ok(Val::ZeroDate(z)),
        (When::Zero(z), _) => zero_date(c, z, t, rules.zero_date, conv),
        (When::Date(d), LogicalType::Date) => Ok(Val::Date(d)),
        (When::Naive(dt), LogicalType::Date) if dt.time() == chrono::NaiveTime::MIN => {
            Ok(Val::Date(dt.date()))
        }
        (When::Date(d), _) => Ok(Val::Ts(d.and_time(chrono::NaiveTime::MIN))),
        (When::Naive(dt), LogicalType::DateTime | LogicalType::Timestamp) => Ok(Val::Ts(dt)),
        (When::Zoned(dt), LogicalType::DateTime | LogicalType::Timestamp) => {
            Ok(Val::Ts(dt.naive_utc()))
        }
        _ => Err(c.bad("has a time part; the column is a date")),
    }
}

/// PostgreSQL's infinite dates, as its text output writes them.
fn infinity(s: &str) -> Option<bool> {
    match s {
        "infinity" => Some(true),
        "-infinity" => Some(false),
        _ => None,
    }
}

/// A zero date for a target without zero dates, by `--zero-date`: never dropped unasked.
fn zero_date<'a>(
    c: &Cell<'a>,
    z: ZeroDate,
    t: &LogicalType,
    policy: ZeroDatePolicy,
    conv: &mut Option<Conversion>,
) -> Result<Val<'a>, String> {
    match policy {
        ZeroDatePolicy::Replace(dt) => {
            *conv = Some(Conversion::ZeroDateReplaced);
            Ok(match t {
                LogicalType::Date => Val::Date(dt.date()),
                _ => Val::Ts(dt),
            })
        }
        ZeroDatePolicy::Reject => Err(c.bad(
            "is a zero date, which the target cannot hold (--zero-date reject); --zero-date null or a date converts it",
        )),
        ZeroDatePolicy::NullFullRejectPartial | ZeroDatePolicy::Null if z.is_full() => {
            *conv = Some(Conversion::ZeroDateToNull);
            Ok(Val::Null)
        }
        ZeroDatePolicy::Null => {
            *conv = Some(Conversion::PartialZeroDateToNull);
            Ok(Val::Null)
        }
        ZeroDatePolicy::NullFullRejectPartial => Err(c.bad(
            "is a partial zero date, which the target cannot hold; --zero-date null or --zero-date DATE converts it",
        )),
    }
}

/// Time of day (PostgreSQL, below 24 h) or MySQL TIME (±838:59:59.999999).
fn cast_time<'a>(c: &Cell<'a>, mysql: bool) -> Result<Val<'a>, String> {
    let s = c.string("is not a time string")?;
    let us = parse_duration_micros(&s).ok_or_else(|| c.bad("is not a time (HH:MM:SS)"))?;
    let limit = if mysql {
        838 * 3600 + 59 * 60 + 59
    } else {
        24 * 3600
    };
    if us < 0 && !mysql || us.abs() > limit * 1_000_000 + if mysql { 999_999 } else { 0 } {
        return Err(c.bad("is outside the column's time range"));
    }
    Ok(Val::Micros(us))
}

/// PostgreSQL interval from a duration string (how MySQL TIME values arrive).
fn cast_interval<'a>(c: &Cell<'a>) -> Result<Val<'a>, String> {
    let s = c.string("is not a duration string")?;
    parse_duration_micros(&s)
        .map(Val::Micros)
        .ok_or_else(|| c.bad("is not a duration (HH:MM:SS)"))
}

/// UUID from its usual hex forms.
fn cast_uuid<'a>(c: &Cell<'a>) -> Result<Val<'a>, String> {
    let s = c.string("is not a UUID string")?;
    parse_uuid(&s)
        .map(Val::Uuid)
        .ok_or_else(|| c.bad("is not a UUID"))
}

/// Any JSON value into a text column: strings as themselves, numbers and booleans as written,
/// nested JSON as its JSON text.
fn text_cast<'a>(
    raw: &'a str,
    j: &Json<'a>,
    max_chars: Option<u32>,
    rules: CastRules,
    conv: &mut Option<Conversion>,
) -> Result<Val<'a>, String> {
    let (s, how): (Cow<'a, str>, Option<Conversion>) = match j {
        Json::Str(s) => (s.clone(), None),
        Json::Num(n) => (Cow::Borrowed(n), Some(Conversion::NumberToText)),
        Json::Nested(n) => (Cow::Borrowed(n), Some(Conversion::JsonToText)),
        Json::Bool(b) => (
            Cow::Borrowed(if *b { "true" } else { "false" }),
            Some(Conversion::BooleanToText),
        ),
        Json::Null => return Ok(Val::Null),
    };
    if how.is_some() {
        *conv = how;
    }
    let s = nul_rule(s, rules, conv).map_err(|e| format!("{} {e}", what(raw)))?;
    // A text no longer in bytes than the limit is within it in characters: not counted.
    if let Some(m) = max_chars.filter(|m| s.len() > *m as usize) {
        let n = s.chars().count();
        if n > m as usize {
            return Err(format!("text of {n} characters is longer than {m}"));
        }
    }
    Ok(Val::Text(s))
}

fn nul_rule<'a>(
    s: Cow<'a, str>,
    rules: CastRules,
    conv: &mut Option<Conversion>,
) -> Result<Cow<'a, str>, String> {
    if !rules.no_nul || !s.contains('\0') {
        return Ok(s);
    }
    if rules.strip_nul {
        *conv = Some(Conversion::NulRemoved);
        return Ok(Cow::Owned(s.replace('\0', "")));
    }
    Err("contains U+0000 (NUL), which PostgreSQL text cannot hold; rerun with --nul strip to remove it".into())
}

/// `[-]digits[.digits]` whose integer digits (without leading zeros) and fraction digits fit
/// `numeric(precision, scale)`.
fn plain_decimal_fits(s: &str, precision: Option<u32>, scale: Option<u32>) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
    if ip.is_empty()
        || !ip.bytes().all(|b| b.is_ascii_digit())
        || !fp.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let int_digits = ip.trim_start_matches('0').len() as u32;
    match (precision, scale) {
        (Some(p), Some(sc)) => fp.len() as u32 <= sc && int_digits <= p.saturating_sub(sc),
        (None, Some(sc)) => fp.len() as u32 <= sc,
        (_, None) => true,
    }
}

/// Parses a UUID in its usual hex forms.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv(s: &str) -> Field<'_> {
        ferry_shared::row::parse_value(s).expect("one JSON value")
    }
    const PG: CastRules = CastRules {
        zero_dates: false,
        zero_date: ZeroDatePolicy::NullFullRejectPartial,
        no_nul: true,
        strip_nul: false,
        finite_only: false,
        mysql_geometry: false,
        four_digit_years: false,
    };

    #[test]
    fn integers_and_ranges() {
        let mut c = None;
        let t = LogicalType::Int {
            bits: 16,
            unsigned: false,
        };
        assert_eq!(cast(rv("12"), &t, PG, &mut c), Ok(Val::Int(12)));
        assert!(cast(rv("40000"), &t, PG, &mut c).is_err());
        assert!(cast(rv("1.5"), &t, PG, &mut c).is_err());
        assert!(cast(rv("\"abc\""), &t, PG, &mut c).is_err());
    }

    #[test]
    fn floats_out_of_range_are_refused_not_made_infinite_or_zero() {
        let mut c = None;
        let (f8, f4) = (LogicalType::Float64, LogicalType::Float32);
        assert_eq!(cast(rv("1.5"), &f8, PG, &mut c), Ok(Val::F8(1.5)));
        assert_eq!(cast(rv("5e-324"), &f8, PG, &mut c), Ok(Val::F8(5e-324)));
        assert_eq!(cast(rv("0e5"), &f8, PG, &mut c), Ok(Val::F8(0.0)));
        assert_eq!(cast(rv("-0.000"), &f8, PG, &mut c), Ok(Val::F8(-0.0)));
        assert_eq!(
            cast(rv("\"-Infinity\""), &f8, PG, &mut c),
            Ok(Val::F8(f64::NEG_INFINITY))
        );
        let big = cast(rv("1e400"), &f8, PG, &mut c).expect_err("overflow");
        assert_eq!(big, "1e400 is out of range for double precision");
        let tiny = cast(rv("-2.5e-400"), &f8, PG, &mut c).expect_err("underflow");
        assert!(tiny.contains("too small for double precision"), "{tiny}");
        assert_eq!(
            cast(rv("1e39"), &f4, PG, &mut c),
            Err("1e39 is out of range for real".into())
        );
        assert_eq!(
            cast(rv("1e400"), &f4, PG, &mut c),
            Err("1e400 is out of range for real".into())
        );
        assert!(cast(rv("1e-50"), &f4, PG, &mut c).is_err());
        assert_eq!(cast(rv("1e38"), &f4, PG, &mut c), Ok(Val::F4(1e38)));
        // A finite-only target (MySQL) names the range, not infinity, for a huge number.
        let my = CastRules {
            finite_only: true,
            ..PG
        };
        let big = cast(rv("1e400"), &f8, my, &mut c).expect_err("overflow");
        assert_eq!(big, "1e400 is out of range for double precision");
        assert!(cast(rv("\"Infinity\""), &f8, my, &mut c)
            .expect_err("finite only")
            .contains("not finite"));
    }

    #[test]
    fn numerics_never_round() {
        let mut c = None;
        let t = LogicalType::Decimal {
            precision: Some(12),
            scale: Some(2),
        };
        // Plain digits go out as written (the server pads the scale); others are normalized.
        assert_eq!(
            cast(rv("\"12.5\""), &t, PG, &mut c),
            Ok(Val::Numeric("12.5".into()))
        );
        assert_eq!(
            cast(rv("\"1.5e1\""), &t, PG, &mut c),
            Ok(Val::Numeric("15.00".into()))
        );
        assert_eq!(
            cast(rv("\"-0012.10\""), &t, PG, &mut c),
            Ok(Val::Numeric("-0012.10".into()))
        );
        assert!(cast(rv("\"12.345\""), &t, PG, &mut c).is_err());
        assert!(cast(rv("\"12345678901.00\""), &t, PG, &mut c).is_err());
    }

    #[test]
    fn zero_dates_and_nul() {
        let mut c = None;
        assert_eq!(
            cast(rv("\"0000-00-00\""), &LogicalType::Date, PG, &mut c),
            Ok(Val::Null)
        );
        assert_eq!(c, Some(Conversion::ZeroDateToNull));
        let mut c = None;
        assert!(cast(
            rv("\"a\\u0000b\""),
            &LogicalType::Text { max_chars: None },
            PG,
            &mut c
        )
        .is_err());
        let strip = CastRules {
            strip_nul: true,
            ..PG
        };
        assert_eq!(
            cast(
                rv("\"a\\u0000b\""),
                &LogicalType::Text { max_chars: None },
                strip,
                &mut c
            ),
            Ok(Val::Text(Cow::Owned("ab".into())))
        );
        assert_eq!(c, Some(Conversion::NulRemoved));
    }
}
