//! `--map SRC=DST`: every reference to database `SRC` in a definition (table, view,
//! routine, trigger) becomes `DST`, found by reading the SQL as the server does: strings
//! and comments are skipped, identifiers are bare or backquoted, and a database name is an
//! identifier followed by `.`. A name the copy cannot rewrite safely — the source database
//! named inside a string (dynamic SQL) — is refused, so no object ever points back at the
//! source.

use ferry_shared::sql::quote_mysql as q;

/// Why a definition cannot be renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsafe(pub String);

/// The byte after the quoted run (string or identifier) that opens at `i` with `quote`
/// (a doubled quote or, in strings, a backslash escape stays inside).
fn end_quoted(b: &[u8], i: usize, quote: u8) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if quote != b'`' => j += 2,
            c if c == quote && b.get(j + 1) == Some(&quote) => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The byte after a comment that opens at `i` (`--`/`#` to the end of line, `/* */`), or
/// `None` when none opens there. MariaDB's executable comments (`/*!`) are code, not
/// comments.
fn end_comment(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    if rest.starts_with(b"-- ") || rest.starts_with(b"--\n") || rest.starts_with(b"#") {
        return Some(
            rest.iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p),
        );
    }
    if rest.starts_with(b"/*") && !rest.starts_with(b"/*!") {
        return Some(
            rest.windows(2)
                .skip(2)
                .position(|w| w == b"*/")
                .map_or(b.len(), |p| i + p + 4),
        );
    }
    None
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Whether the next non-blank byte after `j` is `.` (the identifier names a database or
/// table, not a column).
fn followed_by_dot(b: &[u8], mut j: usize) -> bool {
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    b.get(j) == Some(&b'.')
}

/// Whether the last non-blank byte before `i` is `.` (a column of a table named like the
/// database, `t.STARFOX`, is not a database).
fn preceded_by_dot(b: &[u8], i: usize) -> bool {
    b[..i]
        .iter()
        .rev()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|&c| c == b'.')
}

/// The identifier's name: a backquoted one unquoted, a bare one as it is.
fn ident_name(tok: &str) -> String {
    match tok.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => tok.to_string(),
    }
}

/// Whether a string literal's text names database `src` (`src.`, or `` `src`. ``).
fn string_names(lit: &str, src: &str) -> bool {
    let plain = format!("{src}.");
    let quoted = format!("{}.", q(src));
    lit.match_indices(&plain)
        .any(|(p, _)| p == 0 || !is_ident(lit.as_bytes()[p - 1]))
        || lit.contains(&quoted)
}

/// Renames every reference to database `src` in `sql` to `dst`.
pub fn rename(sql: &str, src: &str, dst: &str) -> Result<String, Unsafe> {
    if src == dst {
        return Ok(sql.to_string());
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = end_comment(b, i) {
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let end = end_quoted(b, i, c);
            if string_names(&sql[i..end], src) {
                return Err(Unsafe(format!(
                    "database {src} is named inside a string ({}): dynamic SQL cannot be renamed safely",
                    &sql[i..end.min(i + 60)]
                )));
            }
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        let end = if c == b'`' {
            end_quoted(b, i, b'`')
        } else if is_ident(c) {
            i + b[i..].iter().take_while(|&&x| is_ident(x)).count()
        } else {
            let ch = sql[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&sql[i..i + ch]);
            i += ch;
            continue;
        };
        let tok = &sql[i..end];
        if ident_name(tok) == src && followed_by_dot(b, end) && !preceded_by_dot(b, i) {
            out.push_str(&q(dst));
        } else {
            out.push_str(tok);
        }
        i = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_quoted_references_are_renamed() {
        let sql =
            "INSERT INTO SF.AUDIT (x) SELECT a.SF FROM `SF`.t a, SF . u WHERE b = 'SF' -- SF.x\n";
        assert_eq!(
            rename(sql, "SF", "SF_copy").unwrap(),
            "INSERT INTO `SF_copy`.AUDIT (x) SELECT a.SF FROM `SF_copy`.t a, `SF_copy` . u WHERE b = 'SF' -- SF.x\n"
        );
        assert_eq!(
            rename("SELECT SFX.t, xSF.t", "SF", "D").unwrap(),
            "SELECT SFX.t, xSF.t"
        );
        assert_eq!(
            rename("CALL `we``ird`.p()", "we`ird", "d").unwrap(),
            "CALL `d`.p()"
        );
    }

    #[test]
    fn a_database_inside_a_string_is_refused() {
        let e = rename("PREPARE s FROM 'SELECT * FROM SF.t'", "SF", "D").unwrap_err();
        assert!(e.0.contains("inside a string"), "{e:?}");
        assert!(rename("SET @x = 'SFO.t', @y = 'it''s SF'", "SF", "D").is_ok());
    }
}
