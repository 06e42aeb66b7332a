//! The lossless value rules, in one place for every reader and writer.
//!
//! Integers are JSON numbers of any width; decimals are JSON strings with every digit; NaN
//! and infinities are the strings "NaN", "Infinity", "-Infinity"; bytes are base64 strings;
//! dates and times are ISO 8601 (`Z` when the source type has a zone); JSON columns are
//! nested JSON; MySQL zero dates stay `0000-00-00` in NDJSON and are converted (and counted)
//! by loaders whose target cannot hold them. docs/ndjson.md has the table.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use std::borrow::Cow;

/// A raw JSON value, classified without allocating where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// null
    Null,
    /// true/false
    Bool(bool),
    /// A number, as written.
    Num(&'a str),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// An object or array, as written.
    Nested(&'a str),
}

/// An exact decimal number: sign, integer digits (no leading zeros), fraction digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    /// Negative (never for zero).
    pub negative: bool,
    /// Integer digits without leading zeros ("" for zero).
    pub int: String,
    /// Fraction digits as written (may have trailing zeros).
    pub frac: String,
}

impl Decimal {
    /// Parses `-12.340`, `+5`, `.5`, `1e3`, `1.5E-2`. Rejects anything else.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (negative, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if !body.contains(['e', 'E']) {
            let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
            if (ip.is_empty() && fp.is_empty())
                || !ip.bytes().all(|b| b.is_ascii_digit())
                || !fp.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let int = ip.trim_start_matches('0');
            let zero = int.is_empty() && fp.bytes().all(|b| b == b'0');
            return Some(Decimal {
                negative: negative && !zero,
                int: int.to_string(),
                frac: fp.to_string(),
            });
        }
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
            None => (body, 0),
        };
        let (ip, fp) = match mant.split_once('.') {
            Some((a, b)) => (a, b),
            None => (mant, ""),
        };
        if ip.is_empty() && fp.is_empty() {
            return None;
        }
        if !ip.bytes().all(|b| b.is_ascii_digit()) || !fp.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits = format!("{ip}{fp}");
        let mut point = ip.len() as i64 + i64::from(exp);
        if point < 0 {
            digits = "0".repeat((-point) as usize) + &digits;
            point = 0;
        }
        if point as usize > digits.len() {
            let pad = point as usize - digits.len();
            digits.push_str(&"0".repeat(pad));
        }
        let (i, f) = digits.split_at(point as usize);
        let int = i.trim_start_matches('0').to_string();
        let frac = f.to_string();
        let zero = int.is_empty() && frac.bytes().all(|b| b == b'0');
        Some(Decimal {
            negative: negative && !zero,
            int,
            frac,
        })
    }

    /// Canonical text: no trailing fraction zeros, `0` for zero.
    pub fn canonical(&self) -> String {
        let frac = self.frac.trim_end_matches('0');
        let int = if self.int.is_empty() { "0" } else { &self.int };
        let sign = if self.negative { "-" } else { "" };
        if frac.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        }
    }

    /// Digits after the point once trailing zeros are dropped.
    pub fn significant_scale(&self) -> usize {
        self.frac.trim_end_matches('0').len()
    }

    /// Text with exactly `scale` fraction digits; `None` if that would drop a non-zero digit.
    pub fn with_scale(&self, scale: usize) -> Option<String> {
        if self.significant_scale() > scale {
            return None;
        }
        let mut frac = self.frac.trim_end_matches('0').to_string();
        while frac.len() < scale {
            frac.push('0');
        }
        let int = if self.int.is_empty() { "0" } else { &self.int };
        let sign = if self.negative { "-" } else { "" };
        Some(if scale == 0 {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        })
    }

    /// `mantissa × 10^-scale`.
    pub fn from_scaled(mantissa: i128, scale: u32) -> Decimal {
        let digits = mantissa.unsigned_abs().to_string();
        let s = scale as usize;
        let (int, frac) = if digits.len() > s {
            let (i, f) = digits.split_at(digits.len() - s);
            (i.trim_start_matches('0').to_string(), f.to_string())
        } else {
            (
                String::new(),
                format!("{}{digits}", "0".repeat(s - digits.len())),
            )
        };
        Decimal {
            negative: mantissa < 0,
            int,
            frac,
        }
    }

    /// Zero.
    pub fn zero() -> Decimal {
        Decimal::from_scaled(0, 0)
    }

    /// The value as `mantissa × 10^-scale` (scale = the fraction digits as written), when
    /// it fits 38 digits: what exact arithmetic works on.
    fn scaled(&self) -> Option<(i128, u32)> {
        if self.int.len() + self.frac.len() > 38 {
            return None;
        }
        let digits = format!("{}{}", self.int, self.frac);
        let m: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Some((if self.negative { -m } else { m }, self.frac.len() as u32))
    }

    fn rescaled(m: i128, from: u32, to: u32) -> Option<i128> {
        m.checked_mul(10i128.checked_pow(to.checked_sub(from)?)?)
    }

    /// Exact sum; `None` past 38 digits.
    pub fn checked_add(&self, o: &Decimal) -> Option<Decimal> {
        let ((a, sa), (b, sb)) = (self.scaled()?, o.scaled()?);
        let s = sa.max(sb);
        let sum = Self::rescaled(a, sa, s)?.checked_add(Self::rescaled(b, sb, s)?)?;
        Some(Decimal::from_scaled(sum, s))
    }

    /// Exact product; `None` past 38 digits.
    pub fn checked_mul(&self, o: &Decimal) -> Option<Decimal> {
        let ((a, sa), (b, sb)) = (self.scaled()?, o.scaled()?);
        Some(Decimal::from_scaled(a.checked_mul(b)?, sa + sb))
    }

    /// Rounded half away from zero to exactly `scale` fraction digits (money to the cent).
    pub fn round(&self, scale: usize) -> Decimal {
        Decimal::parse(&self.round_text(scale)).unwrap_or_else(Decimal::zero)
    }

    /// [`Decimal::round`] as text (`-12.35`, `0.00`): one buffer, for the loaders' per-value
    /// path.
    pub fn round_text(&self, scale: usize) -> String {
        let keep = scale.min(self.frac.len());
        let mut d: Vec<u8> = Vec::with_capacity(self.int.len() + scale + 1);
        d.extend_from_slice(self.int.as_bytes());
        d.extend_from_slice(&self.frac.as_bytes()[..keep]);
        d.resize(self.int.len() + scale, b'0');
        if self.frac.as_bytes().get(scale).is_some_and(|&b| b >= b'5') {
            carry_one(&mut d);
        }
        let int_len = d.len() - scale;
        let int_start = d[..int_len]
            .iter()
            .position(|&b| b != b'0')
            .unwrap_or(int_len);
        let zero = d.iter().all(|&b| b == b'0');
        let mut out = String::with_capacity(d.len() + 3);
        if self.negative && !zero {
            out.push('-');
        }
        fn text(r: &[u8]) -> &str {
            std::str::from_utf8(r).unwrap_or_default()
        }
        if int_start == int_len {
            out.push('0');
        } else {
            out.push_str(text(&d[int_start..int_len]));
        }
        if scale > 0 {
            out.push('.');
            out.push_str(text(&d[int_len..]));
        }
        out
    }

    /// Without trailing fraction zeros: equal values are equal `Decimal`s.
    pub fn normalized(&self) -> Decimal {
        Decimal {
            negative: self.negative,
            int: self.int.clone(),
            frac: self.frac.trim_end_matches('0').to_string(),
        }
    }

    /// Above zero.
    pub fn is_positive(&self) -> bool {
        !self.negative && (self.int.bytes().chain(self.frac.bytes()).any(|b| b != b'0'))
    }

    /// As an integer, when it has no fraction and fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.significant_scale() > 0 || self.int.len() > 38 {
            return None;
        }
        let v: i128 = if self.int.is_empty() {
            0
        } else {
            self.int.parse().ok()?
        };
        Some(if self.negative { -v } else { v })
    }
}

/// Adds one to the decimal digits in `d` (ASCII), carrying left; a carry out of the first
/// digit prepends a `1`.
fn carry_one(d: &mut Vec<u8>) {
    for b in d.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return;
        }
    }
    d.insert(0, b'1');
}

impl std::fmt::Display for Decimal {
    /// The digits as written (`12.50` stays `12.50`; `0` for an empty integer part).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let int = if self.int.is_empty() { "0" } else { &self.int };
        let sign = if self.negative { "-" } else { "" };
        if self.frac.is_empty() {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{}", self.frac)
        }
    }
}

/// A MySQL/MariaDB date with a zero month or day (`0000-00-00`, `2020-05-00`,
/// `2020-00-00 00:00:01`): no calendar date, but MariaDB stores it (without
/// NO_ZERO_IN_DATE), so it must come back exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroDate {
    /// Year (0 allowed).
    pub year: u16,
    /// Month (0 allowed).
    pub month: u8,
    /// Day (0 allowed).
    pub day: u8,
    /// Microseconds since midnight, when the value has a time part.
    pub time_micros: Option<u64>,
}

impl ZeroDate {
    /// MySQL's "no date": every part zero. Anything else is a partial zero date, which
    /// still carries a year, a month or a time.
    pub fn is_full(&self) -> bool {
        self.year == 0 && self.month == 0 && self.day == 0 && self.time_micros.unwrap_or(0) == 0
    }

    /// `YYYY-MM-DD`, then ` HH:MM:SS[.ffffff]` when `with_time` (midnight if it has none).
    pub fn mysql_text(&self, with_time: bool) -> String {
        let mut s = format!("{:04}-{:02}-{:02}", self.year, self.month, self.day);
        if with_time {
            let us = self.time_micros.unwrap_or(0);
            let secs = us / 1_000_000;
            s.push_str(&format!(
                " {:02}:{:02}:{:02}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            ));
            if !us.is_multiple_of(1_000_000) {
                s.push_str(&format!(".{:06}", us % 1_000_000));
            }
        }
        s
    }

    /// One text per value: the date, and the time only when it is not midnight.
    pub fn canonical(&self) -> String {
        self.mysql_text(self.time_micros.unwrap_or(0) != 0)
    }

    /// Reads `YYYY-MM-DD` with a zero month or day, then nothing or `[T ]HH:MM:SS[.f]`
    /// (and an optional `Z`).
    fn parse(s: &str) -> Option<ZeroDate> {
        let b = s.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
        if (m != 0 && d != 0) || m > 12 || d > 31 {
            return None;
        }
        let rest = s[10..].trim_end_matches('Z');
        let time_micros = match rest.as_bytes().first() {
            None => None,
            Some(b'T' | b' ') => {
                let t = chrono::NaiveTime::parse_from_str(&rest[1..], "%H:%M:%S%.f").ok()?;
                let us = t
                    .signed_duration_since(chrono::NaiveTime::MIN)
                    .num_microseconds()?;
                Some(u64::try_from(us).ok()?)
            }
            Some(_) => return None,
        };
        Some(ZeroDate {
            year: y as u16,
            month: m as u8,
            day: d as u8,
            time_micros,
        })
    }
}

/// A date or date-time value as found in NDJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A MySQL zero date, full or partial.
    Zero(ZeroDate),
    /// A calendar date.
    Date(NaiveDate),
    /// A date-time without zone.
    Naive(NaiveDateTime),
    /// A date-time with a zone.
    Zoned(DateTime<FixedOffset>),
}

impl When {
    /// The calendar year (the UTC one for a zoned value); none for a zero date.
    pub fn year(&self) -> Option<i32> {
        use chrono::Datelike;
        match self {
            When::Zero(_) => None,
            When::Date(d) => Some(d.year()),
            When::Naive(dt) => Some(dt.year()),
            When::Zoned(dt) => Some(dt.naive_utc().year()),
        }
    }
}

/// Parses the date/time forms Ferry writes and the common ones people write by hand:
/// `2024-01-02`, `2024-01-02T03:04:05[.ffffff]`, with `' '` for `T`, with `Z` or `±HH:MM`.
pub fn parse_when(s: &str) -> Option<When> {
    let s = s.trim();
    if let Some(w) = fast_when(s.as_bytes()) {
        return Some(w);
    }
    if s.get(..10).is_some_and(is_zero_date) {
        return ZeroDate::parse(s).map(When::Zero);
    }
    // A signed or five-digit year (`-4713-11-24`, ISO 8601's expanded form) moves the end of
    // the date part.
    let date_end = s.get(1..).and_then(|r| r.find('-')).map_or(10, |i| i + 7);
    if s.len() == date_end {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(When::Date);
    }
    let norm: Cow<str> = if s.as_bytes().get(date_end) == Some(&b' ') {
        Cow::Owned(format!("{}T{}", &s[..date_end], &s[date_end + 1..]))
    } else {
        Cow::Borrowed(s)
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&norm) {
        return Some(When::Zoned(dt));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(&norm, f) {
            return Some(When::Zoned(dt));
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(&norm, f) {
            return Some(When::Naive(dt));
        }
    }
    None
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// The common shapes without chrono's format interpreter (the loaders' hot path):
/// `YYYY-MM-DD`, then `T` or space, `HH:MM:SS`, optional `.f{1,9}`, optional `Z`/`±HH:MM`.
fn fast_when(b: &[u8]) -> Option<When> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if m == 0 || d == 0 {
        return std::str::from_utf8(b)
            .ok()
            .and_then(ZeroDate::parse)
            .map(When::Zero);
    }
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)?;
    if b.len() == 10 {
        return Some(When::Date(date));
    }
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        nanos = digits(&b[start..end])? * 10u32.pow((9 - (end - start)) as u32);
        i = end;
    }
    let dt = date.and_hms_nano_opt(h, mi, sec, nanos)?;
    let rest = &b[i..];
    let offset_secs: i32 = match rest {
        [] => return Some(When::Naive(dt)),
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), hh @ ..] => {
            let (oh, om) = match hh {
                [a, b2] => (digits(&[*a, *b2])?, 0),
                [a, b2, b':', c, d2] | [a, b2, c, d2] => (digits(&[*a, *b2])?, digits(&[*c, *d2])?),
                _ => return None,
            };
            let secs = (oh * 3600 + om * 60) as i32;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let off = FixedOffset::east_opt(offset_secs)?;
    dt.and_local_timezone(off).single().map(When::Zoned)
}

/// True for `0000-00-00` and MySQL's partial zero dates (`2024-00-00`).
pub fn is_zero_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && (&d[5..7] == "00" || &d[8..10] == "00")
}

/// Parses `[-]H+:MM:SS[.ffffff]` (MySQL TIME, up to 838 hours) into microseconds.
pub fn parse_duration_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let mut parts = body.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next().unwrap_or("0");
    let (sec, frac) = match sec.split_once('.') {
        Some((a, b)) => (a, b),
        None => (sec, ""),
    };
    let sec: i64 = sec.parse().ok()?;
    if !(0..60).contains(&m) || !(0..60).contains(&sec) || frac.len() > 6 {
        return None;
    }
    let us: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + us;
    Some(if neg { -total } else { total })
}

/// Formats microseconds as `[-]HH:MM:SS[.ffffff]` (hours may exceed 24).
pub fn format_duration_micros(us: i64) -> String {
    let neg = us < 0;
    let a = us.unsigned_abs();
    let (s, frac) = (a / 1_000_000, a % 1_000_000);
    let out = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    let out = if frac > 0 {
        format!("{out}.{frac:06}")
    } else {
        out
    };
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// Formats a naive date-time the way Ferry writes it: `T` separator, fraction only if any.
pub fn format_naive(dt: &NaiveDateTime) -> String {
    if dt.and_utc().timestamp_subsec_micros() == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// Formats an instant in UTC with `Z`.
pub fn format_utc(dt: &NaiveDateTime) -> String {
    format!("{}Z", format_naive(dt))
}

/// Formats a time of day.
pub fn format_time(t: &NaiveTime) -> String {
    let s = t.format("%H:%M:%S").to_string();
    let us = t.format("%6f").to_string();
    if us == "000000" {
        s
    } else {
        format!("{s}.{us}")
    }
}

/// Sorts object keys recursively: the canonical form used to compare JSON columns across
/// engines (jsonb reorders keys, MySQL JSON keeps them).
/// JSON text in one canonical form, compared the way PostgreSQL's jsonb compares: object keys
/// sorted, the last of duplicate keys kept, and every number by its exact decimal value (`1e2`
/// and `100` are one value; `18446744073709551617` is not `18446744073709551616`, as it
/// would be through a float). `None` when the text is not JSON.
pub fn canonical_json_text(text: &str) -> Option<String> {
    let raw: &serde_json::value::RawValue = serde_json::from_str(text).ok()?;
    let mut out = String::with_capacity(text.len());
    write_canonical(raw, &mut out)?;
    Some(out)
}

fn write_canonical(raw: &serde_json::value::RawValue, out: &mut String) -> Option<()> {
    use serde_json::value::RawValue;
    let s = raw.get().trim();
    match s.as_bytes().first()? {
        b'{' => {
            let m: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(s).ok()?;
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).ok()?);
                out.push(':');
                write_canonical(v, out)?;
            }
            out.push('}');
        }
        b'[' => {
            let a: Vec<&RawValue> = serde_json::from_str(s).ok()?;
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out)?;
            }
            out.push(']');
        }
        b'"' => {
            let text: String = serde_json::from_str(s).ok()?;
            out.push_str(&serde_json::to_string(&text).ok()?);
        }
        b't' | b'f' | b'n' => out.push_str(s),
        _ => out.push_str(&Decimal::parse(s)?.canonical()),
    }
    Some(())
}

/// An email address (the one check every tool uses): one `@`, a local part without spaces, a domain of dot-separated labels
/// (letters, digits, `-`) ending in a top-level domain of two or more letters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@<>()[]\\,;:\"".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| t.chars().count() >= 2 && t.chars().all(char::is_alphabetic));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let d = Decimal::parse("-0012.3400").expect("d");
        assert_eq!(d.canonical(), "-12.34");
        assert_eq!(d.with_scale(2).as_deref(), Some("-12.34"));
        assert_eq!(d.with_scale(1), None);
        assert_eq!(Decimal::parse("1.5e3").expect("d").canonical(), "1500");
        assert_eq!(Decimal::parse("1.5E-2").expect("d").canonical(), "0.015");
        assert_eq!(Decimal::parse("-0.00").expect("d").canonical(), "0");
        assert!(Decimal::parse("1.2.3").is_none());
    }

    #[test]
    fn json_is_compared_by_exact_value() {
        let c = |s: &str| canonical_json_text(s).expect("json");
        assert_eq!(
            c(r#"{"b":1e2,"a":[1.50,"x"]}"#),
            c(r#"{"a":[1.5, "x"],"b":100}"#)
        );
        assert_ne!(c("18446744073709551617"), c("18446744073709551616"));
        assert_eq!(c(r#"{"k":1,"k":2}"#), r#"{"k":2}"#);
        assert_eq!(c(r#""\u00e9""#), c(r#""é""#));
        assert!(canonical_json_text("{nope").is_none());
    }

    #[test]
    fn decimal_arithmetic_is_exact() {
        let d = |s: &str| Decimal::parse(s).expect("d");
        let q = d("12").checked_mul(&d("8.5000")).expect("mul");
        assert_eq!(q.normalized().to_string(), "102");
        let t = d("3").checked_mul(&d("7.3333")).expect("mul");
        assert_eq!(t.to_string(), "21.9999");
        assert_eq!(t.round(2).to_string(), "22.00");
        assert_eq!(
            d("0.1").checked_add(&d("0.2")).expect("add").to_string(),
            "0.3"
        );
        assert_eq!(d("-0.005").round(2).to_string(), "-0.01");
        assert_eq!(d("0.004").round(2).to_string(), "0.00");
        assert_eq!(d("-0.004").round(2).to_string(), "0.00");
        assert_eq!(d("9.995").round(2).to_string(), "10.00");
        assert_eq!(d("-9.995").round_text(2), "-10.00");
        assert_eq!(d("0.5").round_text(0), "1");
        assert_eq!(d("-0.4").round_text(0), "0");
        assert_eq!(d("123.456").round_text(1), "123.5");
        assert_eq!(Decimal::from_scaled(-5, 3).to_string(), "-0.005");
        assert_eq!(Decimal::from_scaled(1234, 2).to_string(), "12.34");
        assert!(d("1e40").checked_add(&d("1")).is_none());
        assert!(d("0.5").is_positive() && !d("-0.5").is_positive() && !d("0.00").is_positive());
        assert!(Decimal::parse("abc").is_none());
        assert_eq!(
            Decimal::parse("18446744073709551615").and_then(|d| d.to_i128()),
            Some(18446744073709551615)
        );
    }

    #[test]
    fn dates_and_durations() {
        let full = |s: &str| matches!(parse_when(s), Some(When::Zero(z)) if z.is_full());
        assert!(full("0000-00-00T00:00:00"));
        assert!(full("0000-00-00"));
        let partial = |s: &str| match parse_when(s) {
            Some(When::Zero(z)) if !z.is_full() => Some(z.canonical()),
            _ => None,
        };
        assert_eq!(partial("2020-05-00").as_deref(), Some("2020-05-00"));
        assert_eq!(
            partial("2020-00-00 00:00:01").as_deref(),
            Some("2020-00-00 00:00:01")
        );
        assert_eq!(
            partial("0000-00-00T00:00:00.5").as_deref(),
            Some("0000-00-00 00:00:00.500000")
        );
        assert_eq!(parse_when("2020-13-00"), None);
        assert_eq!(parse_when("2020-05-00 junk"), None);
        assert!(matches!(parse_when("2024-02-29"), Some(When::Date(_))));
        assert!(parse_when("2023-02-29").is_none());
        assert!(matches!(
            parse_when("2024-01-02T03:04:05.123456"),
            Some(When::Naive(_))
        ));
        assert!(matches!(
            parse_when("2024-01-02 03:04:05"),
            Some(When::Naive(_))
        ));
        assert!(matches!(
            parse_when("2024-01-02T03:04:05Z"),
            Some(When::Zoned(_))
        ));
        assert!(matches!(
            parse_when("2024-01-02T03:04:05+02:00"),
            Some(When::Zoned(_))
        ));
        // Expanded years (PostgreSQL's BC dates as ISO years) keep their sign.
        assert_eq!(
            parse_when("-4713-11-24").and_then(|w| w.year()),
            Some(-4713)
        );
        assert_eq!(
            parse_when("-0044-03-15 12:00:00").and_then(|w| w.year()),
            Some(-44)
        );
        assert_eq!(parse_when("2024-01-1é"), None);
        assert_eq!(
            parse_duration_micros("-838:59:59"),
            Some(-3_020_399_000_000)
        );
        assert_eq!(format_duration_micros(-3_020_399_000_000), "-838:59:59");
        assert_eq!(format_duration_micros(1_500_000), "00:00:01.500000");
    }
}
