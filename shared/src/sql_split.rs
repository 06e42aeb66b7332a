//! Splitting a PostgreSQL script into its statements, for telling which statement of a file
//! failed when the server's error carries no position (errors found while executing, such
//! as a missing table in `ALTER TABLE`, have none).

/// The statements of `sql`, each with the 1-based line where its text starts. Semicolons
/// inside quotes, quoted identifiers, dollar-quoted bodies and comments do not split.
pub fn statements(sql: &str) -> Vec<(u64, &str)> {
    let mut out = Vec::new();
    let (mut start, mut i, mut line) = (0usize, 0usize, 1u64);
    let mut first_line: Option<u64> = None;
    let b = sql.as_bytes();
    while i < b.len() {
        let skip = skippable(sql, i);
        if skip > 0 {
            line += sql[i..i + skip].matches('\n').count() as u64;
            i += skip;
            continue;
        }
        match b[i] {
            b'\n' => line += 1,
            b';' => {
                push(&mut out, first_line.take(), &sql[start..i]);
                start = i + 1;
            }
            c if !c.is_ascii_whitespace() => {
                let quoted = quoted(sql, i);
                first_line.get_or_insert(line);
                if quoted > 0 {
                    line += sql[i..i + quoted].matches('\n').count() as u64;
                    i += quoted;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    push(&mut out, first_line, &sql[start..]);
    out
}

fn push<'a>(out: &mut Vec<(u64, &'a str)>, line: Option<u64>, text: &'a str) {
    if let Some(l) = line {
        out.push((l, text.trim()));
    }
}

/// Length of a comment starting at `i` (0 when none).
fn skippable(sql: &str, i: usize) -> usize {
    let rest = &sql[i..];
    if rest.starts_with("--") {
        return rest.find('\n').unwrap_or(rest.len());
    }
    if rest.starts_with("/*") {
        let mut depth = 0usize;
        let mut j = 0;
        while j < rest.len() {
            if rest[j..].starts_with("/*") {
                depth += 1;
                j += 2;
            } else if rest[j..].starts_with("*/") {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return j;
                }
            } else {
                j += rest[j..].chars().next().map_or(1, char::len_utf8);
            }
        }
        return rest.len();
    }
    0
}

/// Length of a quoted string, quoted identifier or dollar-quoted body starting at `i`.
fn quoted(sql: &str, i: usize) -> usize {
    let rest = &sql[i..];
    match rest.as_bytes()[0] {
        q @ (b'\'' | b'"') => {
            let mut j = 1;
            let b = rest.as_bytes();
            while j < b.len() {
                if b[j] == q {
                    if b.get(j + 1) == Some(&q) {
                        j += 2;
                        continue;
                    }
                    return j + 1;
                }
                j += 1;
            }
            rest.len()
        }
        b'$' => {
            let tag_end = rest[1..].find('$').map(|k| k + 2);
            match tag_end {
                Some(t)
                    if rest[1..t - 1]
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_') =>
                {
                    let tag = &rest[..t];
                    rest[t..]
                        .find(tag)
                        .map_or(rest.len(), |k| t + k + tag.len())
                }
                _ => 0,
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "-- header; not a statement\nCREATE TABLE a (x text DEFAULT 'a;b');\n\n/* c; */ ALTER TABLE \"we;ird\" ADD y int;\nDO $body$ BEGIN PERFORM 1; END $body$;\nSELECT 1";
        let got = statements(sql);
        let lines: Vec<u64> = got.iter().map(|s| s.0).collect();
        assert_eq!(lines, [2, 4, 5, 6]);
        assert_eq!(got[2].1, "DO $body$ BEGIN PERFORM 1; END $body$");
        assert!(statements("-- only a comment\n\n").is_empty());
    }
}
