//! User-written SQL (`--filter`, `--query`) checked before anything reaches a server.
//!
//! Ferry places a filter inside one parenthesised condition of one read-only statement
//! (`WHERE (…)`), sent as a prepared statement in a read-only transaction. This check makes
//! sure the text cannot leave that place: one statement, no comments, parentheses that never
//! close what Ferry opened, no dollar quoting or backslash escapes (which the dialects read
//! differently), no statement keywords, and none of the functions that write, sleep, lock or
//! read files. A refusal is a usage error (exit 2) naming the word, before any connection.

use crate::FerryError;

/// Words that start or join statements: never part of one filter expression.
const STATEMENT_WORDS: &[&str] = &[
    "alter",
    "analyze",
    "attach",
    "call",
    "copy",
    "create",
    "deallocate",
    "delete",
    "detach",
    "do",
    "drop",
    "dumpfile",
    "except",
    "exec",
    "execute",
    "grant",
    "handler",
    "insert",
    "intersect",
    "into",
    "listen",
    "load",
    "lock",
    "merge",
    "notify",
    "outfile",
    "pragma",
    "prepare",
    "rename",
    "reset",
    "revoke",
    "select",
    "set",
    "show",
    "truncate",
    "union",
    "unlock",
    "update",
    "vacuum",
    "with",
];

/// Functions that write, wait, lock, read files or run other SQL. Checked in quoted
/// identifiers too (`"pg_sleep"(5)` calls the function in PostgreSQL).
const FUNCTION_WORDS: &[&str] = &[
    "benchmark",
    "currval",
    "get_lock",
    "load_extension",
    "load_file",
    "master_pos_wait",
    "nextval",
    "query_to_xml",
    "readfile",
    "release_all_locks",
    "release_lock",
    "set_config",
    "setval",
    "sleep",
    "source_pos_wait",
    "writefile",
];

/// Function name prefixes of the same kind (PostgreSQL's server functions, large objects,
/// dblink).
const FUNCTION_PREFIXES: &[&str] = &["pg_", "lo_", "dblink", "xpath", "cursor_to_", "table_to_"];

/// What the text is, for the messages and the rules that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSql {
    /// `--filter`: one boolean expression.
    Filter,
    /// `--query`: one `SELECT` (or `WITH … SELECT`).
    Query,
}

impl UserSql {
    fn flag(self) -> &'static str {
        match self {
            UserSql::Filter => "--filter",
            UserSql::Query => "--query",
        }
    }
}

/// Checks `text` as `kind`; the error is one line naming the flag and what was refused.
pub fn check(kind: UserSql, text: &str) -> Result<(), FerryError> {
    check_flag(kind, kind.flag(), text)
}

/// [`check`], naming the flag the text came from (`compare-counts --filter ENTITY=SQL`, say).
pub fn check_flag(kind: UserSql, flag: &str, text: &str) -> Result<(), FerryError> {
    let refuse = |why: String| {
        Err(FerryError::Usage(format!(
            "{flag} refused: {why}; it must be {} of one read-only query",
            match kind {
                UserSql::Filter => "one condition",
                UserSql::Query => "a single SELECT",
            }
        )))
    };
    let words = match scan(text) {
        Ok(w) => w,
        Err(why) => return refuse(why),
    };
    let mut first = true;
    for w in &words {
        let lower = w.text.to_ascii_lowercase();
        if first && kind == UserSql::Query {
            first = false;
            if !w.quoted && (lower == "select" || lower == "with") {
                continue;
            }
            return refuse("it does not start with SELECT or WITH".into());
        }
        first = false;
        if let Some(why) = refused_word(kind, &lower, w.quoted) {
            return refuse(why);
        }
    }
    if words.is_empty() {
        return refuse("it is empty".into());
    }
    Ok(())
}

/// Why a word is refused, if it is.
fn refused_word(kind: UserSql, lower: &str, quoted: bool) -> Option<String> {
    let allowed_in_query = ["select", "union", "intersect", "except", "with"];
    if !quoted
        && STATEMENT_WORDS.contains(&lower)
        && !(kind == UserSql::Query && allowed_in_query.contains(&lower))
    {
        return Some(format!("{:?} is not allowed", lower.to_ascii_uppercase()));
    }
    if FUNCTION_WORDS.contains(&lower) || FUNCTION_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return Some(format!("the function {lower:?} is not allowed"));
    }
    None
}

/// A word of the text: a bare word, or the content of a quoted identifier.
struct Word {
    text: String,
    quoted: bool,
}

/// Splits the text into words, refusing what cannot stay inside one parenthesised
/// expression: `;`, comments, unbalanced parentheses or quotes, `$`, `\`.
fn scan(text: &str) -> Result<Vec<Word>, String> {
    let b = text.as_bytes();
    let mut words = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b';' => return Err("a `;` (one statement only)".into()),
            b'\\' => return Err("a backslash (write a quote inside a string as '')".into()),
            b'$' => return Err("a `$` (dollar quoting and parameters)".into()),
            b'#' => return Err("a comment (`#`)".into()),
            b'-' if b.get(i + 1) == Some(&b'-') => return Err("a comment (`--`)".into()),
            b'/' if b.get(i + 1) == Some(&b'*') => return Err("a comment (`/*`)".into()),
            b'*' if b.get(i + 1) == Some(&b'/') => return Err("a comment end (`*/`)".into()),
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("a `)` that closes nothing it opened".into());
                }
            }
            b'\'' | b'"' | b'`' => {
                let (content, next) = quoted(b, i)?;
                if c != b'\'' {
                    words.push(Word {
                        text: content,
                        quoted: true,
                    });
                }
                i = next;
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                words.push(Word {
                    text: String::from_utf8_lossy(&b[start..i]).into_owned(),
                    quoted: false,
                });
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    Ok(words)
}

/// The content of the quoted span opening at `start` (a doubled quote is one quote), and
/// the index after it.
fn quoted(b: &[u8], start: usize) -> Result<(String, usize), String> {
    let q = b[start];
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            return Err("a backslash (write a quote inside a string as '')".into());
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                out.push(q);
                i += 2;
                continue;
            }
            return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1));
        }
        out.push(b[i]);
        i += 1;
    }
    Err(format!("an unterminated {} quote", q as char))
}

/// A `--filter` condition that passed [`check`]: the only way a filter reaches a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(String);

impl Filter {
    /// Checks the text as one condition (`--filter`).
    pub fn new(text: &str) -> Result<Self, FerryError> {
        Filter::from_flag("--filter", text)
    }

    /// Checks the text as one condition given with `flag`.
    pub fn from_flag(flag: &str, text: &str) -> Result<Self, FerryError> {
        check_flag(UserSql::Filter, flag, text)?;
        Ok(Filter(text.trim().to_string()))
    }

    /// The text, to be placed as `WHERE (…)`.
    pub fn sql(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Filter {
    type Err = FerryError;
    fn from_str(s: &str) -> Result<Self, FerryError> {
        Filter::new(s)
    }
}

/// A `--query` that passed [`check`]: one SELECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    /// Checks the text as one SELECT. A trailing `;` is dropped: the query is wrapped
    /// (`COPY (…)`, `LIMIT`), where it would end the statement early.
    pub fn new(text: &str) -> Result<Self, FerryError> {
        let text = text.trim().trim_end_matches(';').trim_end();
        check(UserSql::Query, text)?;
        Ok(Query(text.to_string()))
    }

    /// The text.
    pub fn sql(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Query {
    type Err = FerryError;
    fn from_str(s: &str) -> Result<Self, FerryError> {
        Query::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: UserSql, s: &str) -> bool {
        check(kind, s).is_ok()
    }

    #[test]
    fn filters_that_stay_one_expression() {
        for f in [
            "id < 2",
            "status IN ('new', 'paid') AND total > 10.5",
            "name = 'O''Brien; DROP TABLE x'",
            "created_at >= NOW() - INTERVAL 1 DAY",
            "\"Order Date\" > '2020-01-01'",
            "`select` = 1",
            "find_in_set('a', tags) > 0",
            "coalesce(updated, created) IS NOT NULL",
        ] {
            assert!(ok(UserSql::Filter, f), "{f}");
        }
    }

    #[test]
    fn filters_that_try_to_leave() {
        for f in [
            "id < 2; DROP TABLE x",
            "1=1; DROP TABLE t",
            "1=1 -- ",
            "1=1 # x",
            "1=1 /* x */",
            "1=1) OR (1=1",
            "1=1) TO PROGRAM 'touch /tmp/x'",
            "id IN (SELECT id FROM t)",
            "1=1 UNION SELECT password FROM users",
            "SLEEP(5) = 0",
            "pg_sleep(5) IS NULL",
            "\"pg_sleep\"(5) IS NULL",
            "name = 'a\\' OR 1=1",
            "$$x$$ = 'x'",
            "nextval('s') > 0",
            "benchmark(1000000, md5('a'))",
            "1=1 INTO OUTFILE '/tmp/x'",
            "name = 'unterminated",
            "(1=1",
            "",
            "   ",
        ] {
            assert!(!ok(UserSql::Filter, f), "{f}");
        }
        let e = check(UserSql::Filter, "id < 2; DROP TABLE x").unwrap_err();
        assert!(e.to_string().contains("--filter refused"), "{e}");
    }

    #[test]
    fn queries() {
        assert!(ok(UserSql::Query, "SELECT id, name FROM t WHERE id > 2"));
        assert!(ok(
            UserSql::Query,
            "with x as (select 1 as a) select a from x"
        ));
        assert!(ok(
            UserSql::Query,
            "SELECT a FROM t UNION ALL SELECT a FROM u"
        ));
        assert_eq!(Query::new(" SELECT 1 ;; ").unwrap().sql(), "SELECT 1");
        for q in [
            "DELETE FROM t",
            "SELECT 1; DROP TABLE t",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "SELECT * INTO OUTFILE '/tmp/x' FROM t",
            "SELECT sleep(3)",
            "SELECT 1) TO PROGRAM 'id'",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT load_file('/etc/passwd')",
        ] {
            assert!(!ok(UserSql::Query, q), "{q}");
        }
    }
}
