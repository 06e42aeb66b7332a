//! One flag vocabulary: every tool's `--help` (and each subcommand's) against docs/cli.md.
//!
//! A long flag must be in the common table or in its tool's section (or be one of the
//! documented exceptions); a common flag shows the table's environment variable and short
//! form; a section lists no flag its tool lacks; only the DynamoDB tools show
//! `--endpoint-url`; a `--source`/`--target` help names only the URL schemes the tool takes.
//! Needs only the built binaries, no server.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The tools that talk to DynamoDB: the only ones that may show `--endpoint-url`.
const DYNAMO_TOOLS: &[&str] = &[
    "load-dynamo",
    "backup-dynamo",
    "restore-dynamo",
    "compare-counts",
    "check-integrity",
];

/// The URL schemes a tool's `--source`/`--target` takes (its help names exactly these).
const SCHEMES: &[(&str, &str, &[&str])] = &[
    (
        "extract",
        "source",
        &["mysql", "mariadb", "postgres", "sqlite"],
    ),
    (
        "verify",
        "source",
        &["mysql", "mariadb", "postgres", "sqlite"],
    ),
    (
        "verify",
        "target",
        &["mysql", "mariadb", "postgres", "sqlite"],
    ),
    ("load-postgres", "target", &["postgres"]),
    ("load-mysql", "target", &["mysql", "mariadb"]),
    ("apply-migrations", "target", &["postgres"]),
    ("sqlite-consolidate", "target", &["postgres"]),
    ("schema-copy", "source", &["mysql", "mariadb"]),
    ("schema-copy", "target", &["mysql", "mariadb"]),
    ("customer-filter", "source", &["mysql", "mariadb"]),
    ("customer-filter", "target", &["mysql", "mariadb"]),
    ("delete-migrated", "source", &["mysql", "mariadb"]),
    ("delete-migrated", "target", &["mysql", "mariadb"]),
    ("extract-buyers", "source", &["postgres"]),
    ("extract-producers", "source", &["postgres"]),
    ("extract-sales", "source", &["postgres"]),
    ("compare-counts", "source", &["postgres"]),
    ("compare-counts", "target", &["dynamodb"]),
    ("check-integrity", "target", &["dynamodb"]),
    ("load-dynamo", "target", &["dynamodb"]),
    ("restore-dynamo", "target", &["dynamodb"]),
    ("backup-dynamo", "source", &["dynamodb"]),
    ("migrate-abparts", "target", &["postgres"]),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `[[bin]]` of the workspace's crates: the tools.
fn tools() -> Vec<String> {
    let mut names = Vec::new();
    let mut manifests: Vec<PathBuf> = fs_err::read_dir(repo().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("Cargo.toml"))
        .filter(|p| p.exists())
        .collect();
    manifests.sort();
    for m in manifests {
        let text = fs_err::read_to_string(&m).unwrap();
        let mut in_bin = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin {
                if let Some(v) = line.strip_prefix("name") {
                    let v = v.trim_start().trim_start_matches('=').trim();
                    names.push(v.trim_matches('"').to_string());
                    in_bin = false;
                }
            }
        }
    }
    assert!(names.len() > 20, "found only {names:?}");
    names
}

/// One flag as `--help` shows it.
#[derive(Debug, Clone)]
struct Shown {
    short: Option<char>,
    env: Option<String>,
    /// Its whole help block, whitespace collapsed.
    text: String,
}

/// The long flags of one help text, and its subcommands.
fn parse_help(help: &str) -> (BTreeMap<String, Shown>, Vec<String>) {
    let mut flags: BTreeMap<String, Shown> = BTreeMap::new();
    let mut subcommands = Vec::new();
    let mut section: Option<String> = None;
    let mut current: Option<(String, Shown)> = None;
    let mut finish = |cur: &mut Option<(String, Shown)>| {
        if let Some((long, mut s)) = cur.take() {
            s.text = s.text.split_whitespace().collect::<Vec<_>>().join(" ");
            s.env = s.text.split("[env: ").nth(1).map(|rest| {
                rest.split(['=', ']'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
            flags.insert(long, s);
        }
    };
    for line in help.lines() {
        if !line.is_empty() && !line.starts_with(' ') {
            finish(&mut current);
            let l = line.trim_end();
            section = l.ends_with(':').then(|| l.to_string());
            continue;
        }
        let Some(sec) = section.as_deref() else {
            continue;
        };
        if sec == "Commands:" {
            let name: String = line
                .strip_prefix("  ")
                .filter(|r| r.starts_with(|c: char| c.is_ascii_lowercase()))
                .map(|r| r.split_whitespace().next().unwrap_or_default().to_string())
                .unwrap_or_default();
            if !name.is_empty() && name != "help" {
                subcommands.push(name);
            }
            continue;
        }
        if sec == "Arguments:" || sec.starts_with("Examples") || sec.starts_with("Usage") {
            continue;
        }
        if let Some((short, long)) = arg_line(line) {
            finish(&mut current);
            current = Some((
                long,
                Shown {
                    short,
                    env: None,
                    text: line.to_string(),
                },
            ));
        } else if let Some((_, s)) = current.as_mut() {
            s.text.push(' ');
            s.text.push_str(line.trim());
        }
    }
    finish(&mut current);
    (flags, subcommands)
}

/// `  -t, --table <NAME> …` or `      --table <NAME> …`: the short and the long name.
fn arg_line(line: &str) -> Option<(Option<char>, String)> {
    let (short, rest) = if let Some(r) = line.strip_prefix("      --") {
        (None, r)
    } else {
        let b = line.as_bytes();
        if line.len() > 8 && line.starts_with("  -") && &line[4..8] == ", --" {
            (Some(b[3] as char), &line[8..])
        } else {
            return None;
        }
    };
    let long: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    (!long.is_empty()).then(|| (short, format!("--{long}")))
}

/// A tool's `--help` output (no FERRY_* variables set, so no value shows).
fn help_of(args: &[&str]) -> String {
    let dir = std::env::temp_dir();
    let mut c = tool(args[0], &dir);
    c.args(&args[1..]).arg("--help").env("COLUMNS", "100");
    let r = run(c);
    assert_eq!(r.code, 0, "{args:?} --help: {}", r.stderr);
    r.stdout
}

/// Every long flag a tool shows, its subcommands' included.
fn shown_flags(t: &str) -> BTreeMap<String, Shown> {
    let (mut flags, subs) = parse_help(&help_of(&[t]));
    for s in subs {
        let (more, _) = parse_help(&help_of(&[t, &s]));
        for (k, v) in more {
            flags.entry(k).or_insert(v);
        }
    }
    flags
}

/// A row of the common table.
#[derive(Debug)]
struct Common {
    short: Option<char>,
    env: Option<String>,
}

/// What docs/cli.md says.
#[derive(Debug, Default)]
struct Doc {
    common: BTreeMap<String, Common>,
    /// Tool → the flags its section lists.
    sections: BTreeMap<String, BTreeSet<String>>,
    /// (tool, flag) of the documented exceptions.
    exceptions: BTreeSet<(String, String)>,
}

/// The `--flags` in a table cell.
fn flags_in(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = cell;
    while let Some(i) = rest.find("--") {
        let before = rest[..i].chars().last();
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if matches!(before, None | Some('`' | ' ' | '/' | '(')) && !name.is_empty() {
            out.push(format!("--{}", name.trim_end_matches('-')));
        }
        rest = &rest[i + 2 + name.len()..];
    }
    out
}

/// The `` `names` `` in a text.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The cells of a table row (`\|` inside a cell is a character, not a border).
fn cells(line: &str) -> Vec<String> {
    let line = line.trim().replace("\\|", "\u{1}");
    let inner = line.strip_prefix('|').unwrap_or(&line);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner
        .split('|')
        .map(|c| c.trim().replace('\u{1}', "|"))
        .collect()
}

fn read_doc() -> Doc {
    let text = fs_err::read_to_string(repo().join("docs/cli.md")).unwrap();
    let mut doc = Doc::default();
    let mut part = String::new();
    let mut tools_here: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            part = h.trim().to_string();
            tools_here.clear();
            continue;
        }
        if let Some(h) = line.strip_prefix("### ") {
            tools_here = backticked(h);
            for t in &tools_here {
                doc.sections.entry(t.clone()).or_default();
            }
            continue;
        }
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        let c = cells(line);
        match part.as_str() {
            "Common flags" if c.len() >= 4 => {
                let Some(long) = flags_in(&c[0]).into_iter().next() else {
                    continue;
                };
                let short = backticked(&c[1])
                    .first()
                    .and_then(|s| s.strip_prefix('-'))
                    .and_then(|s| s.chars().next());
                let env = backticked(&c[3]).into_iter().next();
                doc.common.insert(long, Common { short, env });
            }
            "Each tool's own flags" => {
                for t in &tools_here {
                    doc.sections
                        .entry(t.clone())
                        .or_default()
                        .extend(flags_in(&c[0]));
                }
            }
            "Documented exceptions" if c.len() >= 2 => {
                for t in backticked(&c[0]) {
                    for f in flags_in(&c[1]) {
                        doc.exceptions.insert((t.clone(), f));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        doc.common.contains_key("--batch-size") && doc.sections.len() > 20,
        "docs/cli.md: no common table or tool sections found"
    );
    doc
}

/// What is wrong with one tool's flags, one line each.
fn check_tool(t: &str, shown: &BTreeMap<String, Shown>, doc: &Doc) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(section) = doc.sections.get(t) else {
        return vec![format!("{t}: no section in docs/cli.md")];
    };
    for (flag, s) in shown {
        let exception = doc.exceptions.contains(&(t.to_string(), flag.clone()));
        let common = doc.common.get(flag);
        if exception {
            continue;
        }
        if section.contains(flag) {
            if common.is_some() {
                bad.push(format!("{t} {flag}: a common flag listed in the tool's section (a different meaning belongs in the exceptions)"));
            }
            continue;
        }
        let Some(c) = common else {
            bad.push(format!(
                "{t} {flag}: not in docs/cli.md (neither the common table nor the tool's section)"
            ));
            continue;
        };
        if s.env != c.env {
            bad.push(format!(
                "{t} {flag}: shows [env: {}], docs/cli.md says {}",
                s.env.as_deref().unwrap_or("none"),
                c.env.as_deref().unwrap_or("none")
            ));
        }
        if s.short != c.short {
            bad.push(format!(
                "{t} {flag}: short form {:?}, docs/cli.md says {:?}",
                s.short.map(|c| format!("-{c}")),
                c.short.map(|c| format!("-{c}"))
            ));
        }
    }
    for flag in section {
        if !shown.contains_key(flag) {
            bad.push(format!(
                "{t} {flag}: listed in docs/cli.md, but {t} --help does not show it"
            ));
        }
    }
    if shown.contains_key("--endpoint-url") && !DYNAMO_TOOLS.contains(&t) {
        bad.push(format!(
            "{t} --endpoint-url: shown by a tool that never talks to DynamoDB"
        ));
    }
    for (tool_name, side, want) in SCHEMES.iter().filter(|(n, _, _)| *n == t) {
        bad.extend(check_schemes(tool_name, side, want, shown));
    }
    bad
}

/// The URL schemes the `--SIDE` help of a tool names, against those it takes.
fn check_schemes(
    t: &str,
    side: &str,
    want: &[&str],
    shown: &BTreeMap<String, Shown>,
) -> Vec<String> {
    let flag = format!("--{side}");
    let Some(s) = shown.get(&flag) else {
        return vec![format!("{t}: shows no {flag}")];
    };
    let mut named = BTreeSet::new();
    let pieces: Vec<&str> = s.text.split("://").collect();
    for piece in &pieces[..pieces.len() - 1] {
        let scheme: String = piece
            .chars()
            .rev()
            .take_while(char::is_ascii_lowercase)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let scheme = if scheme == "postgresql" {
            "postgres".to_string()
        } else {
            scheme
        };
        named.insert(scheme);
    }
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_string()).collect();
    if named == want {
        Vec::new()
    } else {
        vec![format!(
            "{t} {flag}: its help names the schemes {named:?}, the tool takes {want:?}"
        )]
    }
}

#[test]
fn every_flag_of_every_tool_is_in_docs_cli_md() {
    let doc = read_doc();
    let mut bad = Vec::new();
    let tools = tools();
    for t in &tools {
        let shown = shown_flags(t);
        assert!(!shown.is_empty(), "{t}: no flags parsed from --help");
        bad.extend(check_tool(t, &shown, &doc));
    }
    for t in doc.sections.keys() {
        if !tools.contains(t) {
            bad.push(format!(
                "docs/cli.md has a section for {t}, which is no tool"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} problem(s) with the flag vocabulary (docs/cli.md):\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!("{} tools checked against docs/cli.md", tools.len());
}

/// Parses `args` up to `--help`: 0 when every flag before it is known, 2 when one is not.
fn parses(args: &[&str]) -> Run {
    let dir = std::env::temp_dir();
    let mut c = tool(args[0], &dir);
    c.args(&args[1..]).arg("--help");
    run(c)
}

/// A renamed flag's old spelling still works where the meaning is the same (a hidden alias);
/// a spelling that meant something else is refused, naming it.
#[test]
fn renamed_flags_keep_old_spellings_only_for_the_same_meaning() {
    let same_meaning: &[&[&str]] = &[
        &["extract", "--where", "id > 1"],
        &["apply-migrations", "--dir", "m"],
        &["load-dynamo", "--create-table"],
        &["sqlite-consolidate", "--workers", "2"],
        &["verify", "--max-diffs", "5"],
        &[
            "validate-s9",
            "--max-listed",
            "5",
            "--report-file",
            "r.json",
        ],
        &["migrate-s9", "--data-dir", "d"],
        &[
            "migrate-abparts",
            "--logs-dir",
            "l",
            "--reports-dir",
            "r",
            "--backups-dir",
            "b",
        ],
        &["ferry-gen", "mingus", "--out", "m"],
        &["ferry-gen", "abparts", "--sample", "small_sample"],
    ];
    for args in same_meaning {
        let r = parses(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let other_meaning: &[&[&str]] = &[
        &["backup-dynamo", "--target", "dynamodb://us-east-1"],
        &["compare-counts", "--rejects", "r.ndjson"],
        &["apply-migrations", "--table", "t"],
    ];
    for args in other_meaning {
        let r = parses(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("unexpected argument '{}'", args[1])),
            "{args:?}: {}",
            r.stderr
        );
    }
    for args in [
        &["backup-dynamo", "--source", "dynamodb://us-east-1"][..],
        &["compare-counts", "--count-rejects", "r.ndjson"],
        &[
            "apply-migrations",
            "--tracking-table",
            "t",
            "--migrations-dir",
            "m",
        ],
    ] {
        let r = parses(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}
