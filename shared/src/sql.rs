//! Identifier quoting: every table and column name goes through here.

/// Quotes an identifier for MySQL/MariaDB: backticks, inner backticks doubled.
pub fn quote_mysql(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// Quotes an identifier for PostgreSQL and SQLite: double quotes, inner quotes doubled.
pub fn quote_pg(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A comma-separated list of quoted identifiers (`quote` picks the dialect).
pub fn quote_list<S: AsRef<str>>(names: &[S], quote: fn(&str) -> String) -> String {
    names
        .iter()
        .map(|n| quote(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Quotes a string literal for PostgreSQL (standard_conforming_strings on).
pub fn literal_pg(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How `LOAD DATA … FIELDS ESCAPED BY '\\'` (and PostgreSQL's COPY text format) writes NULL.
pub const LOAD_DATA_NULL: &[u8] = b"\\N";

/// Appends a value escaped for a tab-separated `LOAD DATA` / COPY text line: backslash, tab,
/// newline, carriage return and NUL become `\\`, `\t`, `\n`, `\r`, `\0`. The one escaper of
/// every tool that writes such lines, so they cannot disagree on a byte.
pub fn load_data_escape(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

/// Splits `schema.table` (PostgreSQL) or `db.table` (MySQL); a name without a dot has no
/// qualifier. A quoted name keeps its dots.
pub fn split_qualified(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => (Some(a), b),
        _ => (None, name),
    }
}

/// A name PostgreSQL keeps whole. It stores 63 bytes of an identifier and silently drops the
/// rest, so two long names can become one; a longer name is shortened deterministically:
/// its first bytes, `_`, and 8 hex digits of a hash of the whole name (the same name gives
/// the same result on every run).
pub fn pg_identifier(name: &str) -> String {
    const MAX: usize = 63;
    if name.len() <= MAX {
        return name.to_string();
    }
    let h = crate::checksum::row_hash(name.as_bytes()) as u32;
    let mut cut = MAX - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{h:08x}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_identifiers_shorten_without_colliding() {
        let a = format!("{}_alpha", "x".repeat(70));
        let b = format!("{}_beta", "x".repeat(70));
        assert_eq!(pg_identifier("short"), "short");
        assert_eq!(pg_identifier(&a).len(), 63);
        assert_ne!(pg_identifier(&a), pg_identifier(&b));
        assert_eq!(pg_identifier(&a), pg_identifier(&a));
        assert!(pg_identifier(&"é".repeat(40)).len() <= 63);
    }

    #[test]
    fn load_data_escaping() {
        let mut out = Vec::new();
        load_data_escape("a\\b\tc\nd\re\0fé".as_bytes(), &mut out);
        assert_eq!(out, "a\\\\b\\tc\\nd\\re\\0fé".as_bytes());
    }
    #[test]
    fn quoting() {
        assert_eq!(quote_mysql("we`ird;'"), "`we``ird;'`");
        assert_eq!(quote_pg("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal_pg("o'k"), "'o''k'");
    }
}
