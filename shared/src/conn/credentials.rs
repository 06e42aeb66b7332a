//! The password conventions of the PostgreSQL and MySQL clients, consulted only after every
//! way Ferry has of its own (the URL, `FERRY_*_PASSWORD`, `--*-password-file`, a document's
//! variables) left an endpoint without a password:
//!
//! - PostgreSQL: `PGPASSWORD`, then the passfile (`PGPASSFILE`, else `$HOME/.pgpass`) matched
//!   as libpq matches it (`passwordFromFile` in `fe-connect.c`).
//! - MySQL/MariaDB: `$HOME/.my.cnf`, read as the `mysql` client reads its option files
//!   (`mysys/my_default.c`): the client's groups, `password`, and `user` when the URL names
//!   none.
//!
//! Nothing here prints a password: warnings and the names returned name the variable or the
//! file and line, never the value.

use crate::conn::Secret;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A password found by a convention, and where it was found (for messages).
#[derive(Debug)]
pub struct Found {
    /// The password.
    pub password: Secret,
    /// `PGPASSWORD`, `/home/u/.pgpass line 3`, `/home/u/.my.cnf`.
    pub from: String,
}

/// `$HOME`, as libpq (since PostgreSQL 15) and the mysql client find the user's files.
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Prints `warning` once per process: a tool connects many times.
fn warn_once(warning: String) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(warning.clone())
    {
        tracing::warn!("{warning}");
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// The four values a passfile line is matched against, as libpq forms them.
#[derive(Debug, Clone)]
pub struct PgKey<'a> {
    /// [`pgpass_host`] of the endpoint.
    pub host: &'a str,
    /// The port, in decimal.
    pub port: &'a str,
    /// The database (the user name when none is given, as libpq defaults it).
    pub database: &'a str,
    /// The user name.
    pub user: &'a str,
}

/// Default socket directories of libpq builds: Debian's and upstream's.
const DEFAULT_SOCKET_DIRS: [&str; 3] = ["/var/run/postgresql", "/run/postgresql", "/tmp"];

/// The host name libpq compares: `localhost` when no host is given or the connection is a
/// socket in the default directory; else the socket directory or the host as given (so
/// `127.0.0.1` matches only `127.0.0.1`, as with `psql -h 127.0.0.1`).
pub fn pgpass_host<'a>(host: &'a str, socket: Option<&'a str>) -> &'a str {
    match socket {
        Some(dir) if DEFAULT_SOCKET_DIRS.contains(&dir.trim_end_matches('/')) => "localhost",
        Some(dir) => dir,
        None if host.is_empty() => "localhost",
        None => host,
    }
}

/// libpq's `pwdfMatchesString`: whether the field at the start of `buf` is `*` or equals
/// `token` (`\` escapes the next character), and if so the rest of the line after its `:`.
fn field_matches<'a>(buf: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if buf.starts_with(b"*:") {
        return Some(&buf[2..]);
    }
    let (mut i, mut j) = (0, 0);
    let mut bslash = false;
    while i < buf.len() {
        if buf[i] == b'\\' && !bslash {
            i += 1;
            bslash = true;
        }
        // Past the end reads as C's terminating NUL.
        let c = buf.get(i).copied().unwrap_or(0);
        if c == b':' && j == token.len() && !bslash {
            return Some(&buf[i + 1..]);
        }
        bslash = false;
        if j == token.len() || c != token[j] {
            return None;
        }
        i += 1;
        j += 1;
    }
    None
}

/// The password field: up to the first unescaped `:`, `\x` read as `x`.
fn unescape_password(rest: &[u8]) -> String {
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() && rest[i] != b':' {
        if rest[i] == b'\\' && i + 1 < rest.len() {
            i += 1;
        }
        out.push(rest[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first line of a passfile matching `key`: its 1-based number and its password. Lines
/// starting with `#` and empty lines are skipped; trailing CR/LF are stripped; nothing else
/// is trimmed.
pub fn pgpass_match(text: &[u8], key: &PgKey<'_>) -> Option<(usize, String)> {
    let fields = [key.host, key.port, key.database, key.user];
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        if raw.first() == Some(&b'#') {
            continue;
        }
        let mut line = raw;
        while let [rest @ .., b'\r' | b'\n'] = line {
            line = rest;
        }
        if line.is_empty() {
            continue;
        }
        let rest = fields
            .iter()
            .try_fold(line, |t, f| field_matches(t, f.as_bytes()));
        if let Some(rest) = rest {
            return Some((n + 1, unescape_password(rest)));
        }
    }
    None
}

/// The passfile's bytes; `Ok(None)` when it does not exist or cannot be read (libpq ignores
/// it silently); `Err(warning)` when it is not a plain file or group or others have any
/// access to it (libpq ignores it with that warning).
pub fn passfile_text(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let Ok(meta) = fs_err::metadata(path) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Err(format!(
            "password file \"{}\" is not a plain file; it is ignored",
            path.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less; it is ignored",
            path.display()
        ));
    }
    Ok(fs_err::read(path).ok())
}

/// The passfile libpq would read: `PGPASSFILE`, else `$HOME/.pgpass`.
fn passfile() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => home().map(|h| h.join(".pgpass")),
    }
}

/// The PostgreSQL password for `key` from `PGPASSWORD` (when not empty), else from the
/// passfile; `None` when neither gives one.
pub fn postgres_password(key: &PgKey<'_>) -> Option<Found> {
    if let Some(p) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        return Some(Found {
            password: Secret::new(p),
            from: "PGPASSWORD".into(),
        });
    }
    let path = passfile()?;
    let text = match passfile_text(&path) {
        Ok(t) => t?,
        Err(warning) => {
            warn_once(warning);
            return None;
        }
    };
    let (line, password) = pgpass_match(&text, key)?;
    Some(Found {
        password: Secret::new(password),
        from: format!("{} line {line}", path.display()),
    })
}

// ---------------------------------------------------------------------------------------
// MySQL / MariaDB

/// What `~/.my.cnf` says for a client.
#[derive(Debug, Default)]
pub struct MyCnf {
    /// `user`, the last one of the client's groups.
    pub user: Option<String>,
    /// `password`, the last one; none when the last is a bare `password` (the mysql client
    /// would prompt, Ferry cannot).
    pub password: Option<Secret>,
    /// `!include` / `!includedir` paths, which Ferry does not follow.
    pub includes: Vec<String>,
}

/// The groups the `mysql` command-line client reads, MySQL's and MariaDB's.
const CLIENT_GROUPS: [&str; 5] = [
    "client",
    "mysql",
    "client-server",
    "client-mariadb",
    "mariadb-client",
];

/// `remove_end_comment`: the line up to a `#` outside quotes.
fn remove_end_comment(s: &str) -> &str {
    let mut quote = None;
    let mut escape = false;
    for (i, c) in s.char_indices() {
        if (c == '\'' || c == '"') && !escape {
            match quote {
                None => quote = Some(c),
                Some(q) if q == c => quote = None,
                Some(_) => {}
            }
        }
        if quote.is_none() && c == '#' {
            return &s[..i];
        }
        escape = quote.is_some() && c == '\\' && !escape;
    }
    s
}

/// An option value: spaces trimmed, one pair of matching quotes removed, then the escapes
/// `\n \t \r \b \s \" \' \\` (another `\x` stays as it is).
fn option_value(v: &str) -> String {
    let v = v.trim_matches(|c: char| c.is_ascii_whitespace());
    let b = v.as_bytes();
    let v = if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[0] == b[b.len() - 1] {
        &v[1..v.len() - 1]
    } else {
        v
    };
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' || chars.peek().is_none() {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('s') => out.push(' '),
            Some(e @ ('"' | '\'' | '\\')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => {}
        }
    }
    out
}

/// Reads an option file's text as the mysql client does: `[group]` lines (any case, spaces
/// trimmed), `#` and `;` comment lines, options before any group ignored, `-` and `_` alike
/// in names, a `loose-` prefix dropped, later values replacing earlier ones.
pub fn parse_my_cnf(text: &str) -> MyCnf {
    let mut out = MyCnf::default();
    let mut in_group = false;
    for raw in text.lines() {
        let line = raw.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(directive) = line.strip_prefix('!') {
            if let Some((_, path)) = directive.split_once(|c: char| c.is_ascii_whitespace()) {
                out.includes.push(path.trim().to_string());
            }
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            in_group = group.split_once(']').is_some_and(|(g, _)| {
                let g = g.trim();
                CLIENT_GROUPS.iter().any(|c| c.eq_ignore_ascii_case(g))
            });
            continue;
        }
        if in_group {
            apply_option(&mut out, remove_end_comment(line));
        }
    }
    out
}

/// One `name = value` (or bare `name`) line of a client group.
fn apply_option(out: &mut MyCnf, line: &str) {
    let (name, value) = match line.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (line, None),
    };
    let name = name.trim().replace('_', "-");
    let name = name.strip_prefix("loose-").unwrap_or(&name);
    match (name, value) {
        ("user", Some(v)) => out.user = Some(option_value(v)),
        ("password", Some(v)) => out.password = Some(Secret::new(option_value(v))),
        ("password", None) => out.password = None,
        _ => {}
    }
}

/// An option file's text; `Ok(None)` when it does not exist or cannot be read;
/// `Err(warning)` when it is world-writable (the mysql client ignores it with that warning).
pub fn option_file_text(path: &Path) -> Result<Option<String>, String> {
    let Ok(meta) = fs_err::metadata(path) else {
        return Ok(None);
    };
    if meta.is_file() && meta.permissions().mode() & 0o002 != 0 {
        return Err(format!(
            "World-writable config file '{}' is ignored (as the mysql client ignores it)",
            path.display()
        ));
    }
    Ok(fs_err::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// `$HOME/.my.cnf` as the mysql client reads it, and its path; `None` when there is none or
/// it is ignored.
pub fn my_cnf() -> Option<(MyCnf, PathBuf)> {
    let path = home()?.join(".my.cnf");
    let text = match option_file_text(&path) {
        Ok(t) => t?,
        Err(warning) => {
            warn_once(warning);
            return None;
        }
    };
    let cnf = parse_my_cnf(&text);
    if !cnf.includes.is_empty() {
        tracing::debug!(
            "{}: !include and !includedir are not followed by Ferry ({})",
            path.display(),
            cnf.includes.join(", ")
        );
    }
    Some((cnf, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key<'a>(host: &'a str, port: &'a str, db: &'a str, user: &'a str) -> PgKey<'a> {
        PgKey {
            host,
            port,
            database: db,
            user,
        }
    }

    /// libpq's rules: `*` only as a whole field, `\:` and `\\` escapes in every field and in
    /// the password, an unescaped `:` ending the password, `#` lines and empty lines skipped,
    /// CR/LF stripped, the first matching line wins.
    #[test]
    fn pgpass_matching() {
        let text = b"# host:port:database:user:password\n\
            db.example:5432:shop:app:wrong-db\n\
            \n\
            127.0.0.1:5432:other:app:wrong-other\n\
            127.0.0.1:*:shop:app:p\\:a\\\\ss:ignored after\r\n\
            *:*:*:*:catch-all\n";
        let k = key("127.0.0.1", "5432", "shop", "app");
        assert_eq!(pgpass_match(text, &k), Some((5, "p:a\\ss".to_string())));
        let k = key("elsewhere", "6543", "x", "y");
        assert_eq!(pgpass_match(text, &k), Some((6, "catch-all".to_string())));
        // `*` is a wildcard only as the whole field; `\*` and `a*` are literal.
        let text = b"h\\*:5432:db:u:star-escaped\nh*:5432:db:u:star-inside\n*:5432:db:u:any-host\n";
        assert_eq!(
            pgpass_match(text, &key("h*", "5432", "db", "u")),
            Some((1, "star-escaped".into()))
        );
        assert_eq!(
            pgpass_match(text, &key("hx", "5432", "db", "u")),
            Some((3, "any-host".into()))
        );
        // Escaped colons and backslashes in the key fields.
        let text = b"::1:5432:db:u:not-ipv6\n\\:\\:1:5432:d\\\\b:u\\:x:yes\n";
        assert_eq!(
            pgpass_match(text, &key("::1", "5432", "d\\b", "u:x")),
            Some((2, "yes".into()))
        );
        // No match: a shorter or longer value, a line with too few fields, a comment that
        // would have matched, and a line starting with a space (not a comment, not trimmed).
        let text =
            b"#h:1:d:u:commented\nh:1:d:u\nh:1:dd:u:longer\nh:1:d:uu:longer-user\n h:1:d:u:space\n";
        assert_eq!(pgpass_match(text, &key("h", "1", "d", "u")), None);
        // An empty password field is an empty password; a trailing backslash is kept.
        assert_eq!(
            pgpass_match(b"h:1:d:u:\n", &key("h", "1", "d", "u")),
            Some((1, String::new()))
        );
        assert_eq!(
            pgpass_match(b"h:1:d:u:ab\\", &key("h", "1", "d", "u")),
            Some((1, "ab\\".into()))
        );
    }

    /// The host compared: `localhost` for a socket in the default directory, else the host.
    #[test]
    fn pgpass_host_rules() {
        assert_eq!(pgpass_host("127.0.0.1", None), "127.0.0.1");
        assert_eq!(pgpass_host("localhost", None), "localhost");
        assert_eq!(
            pgpass_host("127.0.0.1", Some("/var/run/postgresql")),
            "localhost"
        );
        assert_eq!(pgpass_host("127.0.0.1", Some("/tmp")), "localhost");
        assert_eq!(pgpass_host("127.0.0.1", Some("/srv/pg")), "/srv/pg");
        assert_eq!(pgpass_host("", None), "localhost");
    }

    /// A passfile with group or world access, or not a plain file, is ignored with libpq's
    /// warning; a missing one silently; 0600 and 0400 are read.
    #[test]
    fn pgpass_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("pgpass");
        // A password no temporary directory's random name can contain (`.tmpw6InOh` held "pw").
        fs_err::write(&f, "*:*:*:*:Secret-7Q\n").expect("write");
        for mode in [0o600, 0o400] {
            fs_err::set_permissions(&f, std::fs::Permissions::from_mode(mode)).expect("chmod");
            assert!(matches!(passfile_text(&f), Ok(Some(_))), "{mode:o}");
        }
        for mode in [0o640, 0o604, 0o620, 0o644, 0o610] {
            fs_err::set_permissions(&f, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let w = passfile_text(&f).expect_err("refused");
            assert!(w.contains("group or world access"), "{mode:o}: {w}");
            assert!(!w.contains("Secret-7Q"), "{w}");
        }
        let w = passfile_text(dir.path()).expect_err("a directory");
        assert!(w.contains("not a plain file"), "{w}");
        assert!(matches!(passfile_text(&dir.path().join("none")), Ok(None)));
    }

    /// The mysql client's reading: its groups only, in file order (the last value wins),
    /// `#`/`;` comment lines, `#` ending a value outside quotes, quotes around the value,
    /// escapes, `-`/`_` alike, `loose-`, includes noted but not read.
    fn pw(c: &MyCnf) -> Option<&str> {
        c.password.as_ref().map(Secret::expose)
    }

    #[test]
    fn my_cnf_parsing() {
        let text = [
            "# comment",
            "; comment",
            "password = before-any-group",
            "[mysqld]",
            "password = server",
            "user = mysql",
            "[client]",
            "user=app",
            "password = first",
            "!include /etc/mysql/extra.cnf",
            "!includedir /etc/mysql/conf.d/",
            "  [ MySQL ]  ",
            "password = \"s3c#r \\\"q\\\" t\"   # trailing comment",
            "[mysqldump]",
            "password = dump-only",
        ]
        .join("\n");
        let c = parse_my_cnf(&text);
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(pw(&c), Some("s3c#r \"q\" t"));
        assert_eq!(
            c.includes,
            vec!["/etc/mysql/extra.cnf", "/etc/mysql/conf.d/"]
        );
        let c = parse_my_cnf("[client]\npassword=a#b\n");
        assert_eq!(pw(&c), Some("a"));
        let c = parse_my_cnf("[client]\npassword='it''s'\n");
        assert_eq!(pw(&c), Some("it''s"));
        let c = parse_my_cnf("[client]\npassword=x\\sy\\tz\\\\w\\q\n");
        assert_eq!(pw(&c), Some("x y\tz\\w\\q"));
        let c = parse_my_cnf("[mariadb-client]\r\nloose_password = \"\"\r\n");
        assert_eq!(pw(&c), Some(""));
        let c = parse_my_cnf("[client-server]\nuser = a b \npassword = \"\n");
        assert_eq!(c.user.as_deref(), Some("a b"));
        assert_eq!(pw(&c), Some("\""));
        // A bare `password` asks the mysql client to prompt: no password from the file.
        let c = parse_my_cnf("[client]\npassword=x\n[mysql]\npassword\n");
        assert_eq!(pw(&c), None);
        let c = parse_my_cnf("[mysqld]\npassword=x\nuser=y\n");
        assert_eq!((c.user.as_deref(), pw(&c)), (None, None));
    }

    /// A world-writable option file is ignored, as the mysql client ignores it.
    #[test]
    fn my_cnf_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join(".my.cnf");
        fs_err::write(&f, "[client]\npassword=pw\n").expect("write");
        for mode in [0o600, 0o644] {
            fs_err::set_permissions(&f, std::fs::Permissions::from_mode(mode)).expect("chmod");
            assert!(matches!(option_file_text(&f), Ok(Some(_))), "{mode:o}");
        }
        fs_err::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let w = option_file_text(&f).expect_err("world-writable");
        assert!(w.contains("World-writable"), "{w}");
        assert!(matches!(
            option_file_text(&dir.path().join("none")),
            Ok(None)
        ));
    }
}
