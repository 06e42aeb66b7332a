//! One NDJSON data line read in a single pass into its values by column.
//!
//! The loaders' hot path. serde_json validated each line into raw values and the cast then
//! looked at every value again (classify, unescape): two scans of each byte, about 40 % of
//! `load-postgres`'s instructions. This scanner walks the line once, checking the JSON
//! grammar as strictly as serde_json (no trailing commas, no control characters in strings,
//! numbers as RFC 8259 writes them, nothing after the object) and hands each column its
//! value already classified: numbers and strings without escapes are borrowed from the line,
//! never copied. Rare shapes are left to serde_json, which stays the reference: strings with
//! escapes are unescaped by it, and nested objects and arrays are delimited and validated by
//! it. The differential test below holds the two to the same answers.

use crate::record::ColumnIndex;
use crate::value::Json;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One value of a row: as written in the line (quoted in reject messages) and classified.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<'a> {
    /// The value's JSON text exactly as written.
    pub raw: &'a str,
    /// Its class, strings unescaped.
    pub json: Json<'a>,
}

/// One parsed row: for each column, `None` when the key is absent, else its value.
pub type RawRow<'a> = Vec<Option<Field<'a>>>;

/// Parses one line into values by column. The error is a one-line reason naming the column
/// (byte position, from 1) where the line stops being valid.
pub fn parse_row<'a>(
    line: &'a [u8],
    index: &ColumnIndex,
) -> std::result::Result<RawRow<'a>, String> {
    // Validate UTF-8 once for the line (simdutf8: std's check leaves its ASCII fast path at
    // the first accented letter); slices at ASCII delimiters are then valid too. Its error
    // type says nothing on where: std's check, run only then, does.
    let text = simdutf8::basic::from_utf8(line).map_err(|_| match std::str::from_utf8(line) {
        Err(e) => format!("line is not valid UTF-8: {e}"),
        Ok(_) => "line is not valid UTF-8".to_string(),
    })?;
    let mut s = Scan::new(text);
    let mut row: RawRow<'a> = vec![None; index.len()];
    s.ws();
    s.expect(b'{', "expected '{' (a line is one JSON object)")?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
    } else {
        let mut expect = 0;
        loop {
            s.ws();
            // Keys usually come in column order, as written by extract: the expected name is
            // compared with the line's bytes before any scanning or hashing.
            let i = match index.plain_name(expect) {
                Some(n) if s.plain_key(n) => expect,
                _ => {
                    let key = s.key()?;
                    match index.names().get(expect) {
                        Some(n) if n.as_str() == key.as_ref() => expect,
                        _ => index
                            .position(&key)
                            .ok_or_else(|| format!("malformed JSON: unknown key {key:?}"))?,
                    }
                }
            };
            expect = i + 1;
            if row[i].is_some() {
                return Err(format!(
                    "malformed JSON: duplicate key {:?}",
                    index.names()[i]
                ));
            }
            s.ws();
            s.expect(b':', "expected ':' after a key")?;
            s.ws();
            row[i] = Some(s.value()?);
            s.ws();
            match s.peek() {
                Some(b',') => s.pos += 1,
                Some(b'}') => {
                    s.pos += 1;
                    break;
                }
                _ => return Err(s.fail("expected ',' or '}' after a value")),
            }
        }
    }
    s.ws();
    if s.pos != s.b.len() {
        return Err(s.fail("trailing characters after the object"));
    }
    Ok(row)
}

/// Parses a whole text as one JSON value (for tests and single values).
pub fn parse_value(text: &str) -> std::result::Result<Field<'_>, String> {
    let mut s = Scan::new(text);
    s.ws();
    let v = s.value()?;
    s.ws();
    if s.pos != s.b.len() {
        return Err(s.fail("trailing characters after the value"));
    }
    Ok(v)
}

/// A cursor over one line.
struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(s: &'a str) -> Self {
        Scan {
            s,
            b: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn fail(&self, what: &str) -> String {
        match self.peek() {
            None => format!("malformed JSON: {what}, found the end of the line"),
            Some(_) => format!("malformed JSON: {what} at column {}", self.pos + 1),
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> std::result::Result<(), String> {
        if self.peek() != Some(c) {
            return Err(self.fail(what));
        }
        self.pos += 1;
        Ok(())
    }

    /// True (and the key consumed) when the key at the cursor is exactly `"name"`; `name`
    /// holds nothing JSON escapes, so those bytes can only mean that name.
    fn plain_key(&mut self, name: &str) -> bool {
        let n = name.len();
        let hit = self
            .b
            .get(self.pos..self.pos + n + 2)
            .is_some_and(|k| k[0] == b'"' && k[n + 1] == b'"' && &k[1..=n] == name.as_bytes());
        if hit {
            self.pos += n + 2;
        }
        hit
    }

    fn key(&mut self) -> std::result::Result<Cow<'a, str>, String> {
        if self.peek() != Some(b'"') {
            return Err(self.fail("expected a key in double quotes"));
        }
        self.string()
    }

    /// One value of any class, starting at the cursor (no leading whitespace).
    fn value(&mut self) -> std::result::Result<Field<'a>, String> {
        let start = self.pos;
        let json = match self.peek() {
            Some(b'"') => Json::Str(self.string()?),
            Some(b'n') => self.word("null", Json::Null)?,
            Some(b't') => self.word("true", Json::Bool(true))?,
            Some(b'f') => self.word("false", Json::Bool(false))?,
            Some(b'-' | b'0'..=b'9') => Json::Num(self.number()?),
            Some(b'{' | b'[') => Json::Nested(self.nested()?),
            _ => return Err(self.fail("expected a value")),
        };
        Ok(Field {
            raw: &self.s[start..self.pos],
            json,
        })
    }

    fn word(&mut self, w: &str, j: Json<'a>) -> std::result::Result<Json<'a>, String> {
        if !self.b[self.pos..].starts_with(w.as_bytes()) {
            return Err(self.fail("expected a value"));
        }
        self.pos += w.len();
        Ok(j)
    }

    /// A string's content, borrowed unless it had escapes (unescaped in the same pass).
    fn string(&mut self) -> std::result::Result<Cow<'a, str>, String> {
        self.pos += 1;
        let mut owned: Option<String> = None;
        // Where the current run of plain content began.
        let mut run = self.pos;
        loop {
            self.pos += special(&self.b[self.pos..]);
            match self.peek() {
                Some(b'"') => {
                    let tail = &self.s[run..self.pos];
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut o) => {
                            o.push_str(tail);
                            Cow::Owned(o)
                        }
                    });
                }
                Some(b'\\') => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[run..self.pos]);
                    self.escape(o)?;
                    run = self.pos;
                }
                Some(_) => {
                    return Err(self.fail("control character in a string (write it escaped)"))
                }
                None => return Err(self.fail("unterminated string")),
            }
        }
    }

    /// One escape, the cursor on its backslash, onto `out` (RFC 8259 §7).
    fn escape(&mut self, out: &mut String) -> std::result::Result<(), String> {
        let at = self.pos;
        let c = self.b.get(at + 1).copied();
        self.pos = (at + 2).min(self.b.len());
        out.push(match c {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => self.unicode(at)?,
            _ => {
                return Err(format!(
                    "malformed JSON: bad escape in a string at column {}",
                    at + 1
                ))
            }
        });
        Ok(())
    }

    /// The character of a `\\uXXXX` escape (the cursor after its `u`), joining a surrogate
    /// pair; a lone surrogate is refused, as serde_json refuses it.
    fn unicode(&mut self, at: usize) -> std::result::Result<char, String> {
        let bad = |what: &str| format!("malformed JSON: {what} in the escape at column {}", at + 1);
        let hi = self.hex4().ok_or_else(|| bad("expected four hex digits"))?;
        let code = match hi {
            0xD800..=0xDBFF => {
                let lo = match self.b.get(self.pos..self.pos + 2) {
                    Some(b"\\u") => {
                        self.pos += 2;
                        self.hex4().ok_or_else(|| bad("expected four hex digits"))?
                    }
                    _ => 0,
                };
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(bad("a lone leading surrogate"));
                }
                0x10000 + ((u32::from(hi) - 0xD800) << 10 | (u32::from(lo) - 0xDC00))
            }
            0xDC00..=0xDFFF => return Err(bad("a lone trailing surrogate")),
            _ => u32::from(hi),
        };
        char::from_u32(code).ok_or_else(|| bad("not a character"))
    }

    /// Four hex digits at the cursor, consumed.
    fn hex4(&mut self) -> Option<u16> {
        let h = self.b.get(self.pos..self.pos + 4)?;
        let mut v = 0u16;
        for &c in h {
            v = v << 4 | u16::try_from(char::from(c).to_digit(16)?).ok()?;
        }
        self.pos += 4;
        Some(v)
    }

    /// A number as RFC 8259 writes it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> std::result::Result<&'a str, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("expected a digit in a number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(&self.s[start..self.pos])
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> std::result::Result<(), String> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.fail("expected a digit in a number"));
        }
        self.digits();
        Ok(())
    }

    /// An object or array, delimited and validated by serde_json; returned as written.
    fn nested(&mut self) -> std::result::Result<&'a str, String> {
        let rest = &self.s[self.pos..];
        let mut de = serde_json::Deserializer::from_str(rest);
        let v = <&RawValue>::deserialize(&mut de).map_err(|e| {
            format!(
                "malformed JSON: in the value at column {}: {e}",
                self.pos + 1
            )
        })?;
        let text = v.get();
        // The raw value is a slice of `rest` starting where the value does.
        let len = text.as_ptr() as usize + text.len() - rest.as_ptr() as usize;
        self.pos += len;
        Ok(&rest[..len])
    }
}

/// The position of the first byte in `b` that ends a plain run of string content: a quote, a
/// backslash or a control character (`b.len()` when none). Eight bytes at a time: in each
/// word, the classic has-zero-byte test finds bytes equal to `"` or `\\` and bytes below
/// 0x20; its false positives only ever sit above a true one, so the lowest hit is exact.
pub(crate) fn special(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut chunks = b.chunks_exact(8);
    let mut i = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let tail = chunks.remainder();
    i + tail
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(tail.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn idx() -> ColumnIndex {
        ColumnIndex::new(&["a", "b", "c"])
    }

    #[test]
    fn values_are_classified_and_borrowed() {
        let line = br#"{"a":18446744073709551615,"c":{"x":[1,2.50]}, "b" : "h\u00e9\"y"}"#;
        let row = parse_row(line, &idx()).expect("row");
        let a = row[0].as_ref().expect("a");
        assert_eq!(a.raw, "18446744073709551615");
        assert_eq!(a.json, Json::Num("18446744073709551615"));
        let b = row[1].as_ref().expect("b");
        assert_eq!(b.raw, r#""h\u00e9\"y""#);
        assert_eq!(b.json, Json::Str(Cow::Owned("hé\"y".into())));
        let c = row[2].as_ref().expect("c");
        assert_eq!(c.json, Json::Nested(r#"{"x":[1,2.50]}"#));
        let row = parse_row(br#"{"c":"plain","a":null}"#, &idx()).expect("row");
        assert!(matches!(
            &row[2],
            Some(Field {
                json: Json::Str(Cow::Borrowed("plain")),
                ..
            })
        ));
        assert_eq!(row[0].as_ref().map(|f| &f.json), Some(&Json::Null));
        assert!(row[1].is_none());
    }

    #[test]
    fn special_finds_the_first_quote_backslash_or_control_byte() {
        let plain = "abcdefghé東京naïve ~\u{7f}";
        for cut in 0..=plain.len() + 9 {
            for stop in ["\"", "\\", "\u{0}", "\n", "\u{1f}"] {
                let mut t: String = plain.chars().cycle().take(cut).collect();
                let at = t.len();
                t.push_str(stop);
                t.push_str("xyz\"");
                assert_eq!(special(t.as_bytes()), at, "{t:?}");
            }
        }
        assert_eq!(special(plain.as_bytes()), plain.len());
    }

    #[test]
    fn malformed_lines_say_where() {
        let cases: [(&[u8], &str); 8] = [
            (br#"{"a":1,"zz":2}"#, "unknown key \"zz\""),
            (br#"{"a":1,"a":2}"#, "duplicate key \"a\""),
            (
                br#"{"a":1"#,
                "expected ',' or '}' after a value, found the end",
            ),
            (
                br#"{"a":1} x"#,
                "trailing characters after the object at column 9",
            ),
            (
                br#"{"a":01}"#,
                "expected ',' or '}' after a value at column 7",
            ),
            (
                br#"{"a":1,}"#,
                "expected a key in double quotes at column 8",
            ),
            (b"{\"a\":\"x\ty\"}", "control character in a string"),
            (br#"{"a":"\x"}"#, "bad escape in a string at column 7"),
        ];
        for (line, want) in cases {
            let got = parse_row(line, &idx()).expect_err("malformed");
            assert!(got.starts_with("malformed JSON: "), "{got}");
            assert!(got.contains(want), "{got} does not say {want}");
        }
        assert!(parse_row(b"{\"a\":\"\xff\"}", &idx())
            .expect_err("utf8")
            .contains("not valid UTF-8"));
    }

    /// A small deterministic generator (no dependency for one test).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'x>(&mut self, xs: &[&'x str]) -> &'x str {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    const VALUES: [&str; 27] = [
        "0",
        "-0",
        "12",
        "-3.25",
        "1e3",
        "1E+2",
        "2.5e-7",
        "18446744073709551616",
        "null",
        "true",
        "false",
        r#""""#,
        r#""x y""#,
        r#""a\"b\\c\/\b\f\n\r\t""#,
        r#""\u00e9\ud83d\ude00""#,
        r#""é 😀""#,
        "[]",
        "{}",
        r#"[1,{"k":[null,"v"]}, 2.0]"#,
        r#"{"n":{"m":"}"}}"#,
        " 7 ",
        "\"\u{7f}\"",
        r#""\ud83d""#,
        r#""\ude00x""#,
        r#""\ud83d\u0041""#,
        r#""\u00zz""#,
        r#""\uD83D\uDE00\u0000\u001F""#,
    ];
    const DAMAGE: [&str; 16] = [
        "", "\"", "\\", ",", ":", "{", "}", "[", "]", "-", ".", "e", "0", " ", "\u{1}", "x",
    ];

    /// The oracle: what serde_json says about the same line. `Err(true)` when it refuses
    /// only a number out of f64's range, which the JSON grammar allows (the cast judges it).
    fn oracle(line: &str) -> Result<BTreeMap<String, serde_json::Value>, bool> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| e.to_string().contains("out of range"))?;
        let m = v.as_object().ok_or(false)?;
        Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn random_line(r: &mut Rng) -> String {
        let mut parts = Vec::new();
        for k in ["a", "b", "c"] {
            if !r.next().is_multiple_of(4) {
                // Sometimes escaped: the raw comparison of names must fall back to unescaping.
                let k = if k == "b" && r.next().is_multiple_of(3) {
                    "\\u0062"
                } else {
                    k
                };
                parts.push(format!("\"{k}\":{}", r.pick(&VALUES)));
            }
        }
        let mut line = format!("{{{}}}", parts.join(","));
        if r.next().is_multiple_of(2) {
            // Damage it: insert, delete or replace one byte position (at a char boundary).
            let cuts: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
            let at = cuts[(r.next() % cuts.len() as u64) as usize];
            let end = line[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            let with = r.pick(&DAMAGE);
            match r.next() % 3 {
                0 => line.insert_str(at, with),
                1 => line.replace_range(at..end, ""),
                _ => line.replace_range(at..end, with),
            }
        }
        line
    }

    #[test]
    fn agrees_with_serde_json_on_random_and_damaged_lines() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..40_000 {
            let line = random_line(&mut r);
            let got = parse_row(line.as_bytes(), &idx());
            let want = match oracle(&line) {
                Ok(want) => want,
                Err(range) => {
                    assert!(
                        range || got.is_err(),
                        "accepted what serde_json refuses: {line}"
                    );
                    invalid += 1;
                    continue;
                }
            };
            // serde_json keeps the last of duplicate keys and accepts unknown keys; the
            // scanner refuses both, so compare only lines free of them.
            let keys_ok = want.keys().all(|k| ["a", "b", "c"].contains(&k.as_str()))
                && line.matches("\"a\":").count() <= 1;
            let Ok(row) = got else {
                assert!(!keys_ok, "refused what serde_json accepts: {line}: {got:?}");
                continue;
            };
            valid += 1;
            for (i, k) in ["a", "b", "c"].iter().enumerate() {
                let (Some(f), Some(v)) = (&row[i], want.get(*k)) else {
                    assert_eq!(row[i].is_some(), want.contains_key(*k), "{line}");
                    continue;
                };
                let reparsed: serde_json::Value = serde_json::from_str(f.raw).expect("raw");
                assert_eq!(&reparsed, v, "{line}");
                match (&f.json, v) {
                    (Json::Str(s), serde_json::Value::String(w)) => assert_eq!(s, w, "{line}"),
                    (Json::Num(n), serde_json::Value::Number(_)) => assert_eq!(*n, f.raw),
                    (Json::Nested(n), _) => assert!(v.is_object() || v.is_array(), "{n}"),
                    (Json::Null, serde_json::Value::Null) | (Json::Bool(_), _) => {}
                    other => panic!("{line}: {other:?}"),
                }
            }
        }
        assert!(
            valid > 10_000 && invalid > 5_000,
            "{valid} valid, {invalid} invalid"
        );
    }
}
