//! The `ferry` command: its tool list is exactly the workspace's binaries, it runs a tool by
//! name with the tool's own exit code, and `ferry report` refuses a file that is not a report
//! with one line (exit 2).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root (tests/ is one of its members).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `members = [...]` of the root Cargo.toml.
fn members() -> Vec<String> {
    let text = fs_err::read_to_string(root().join("Cargo.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("members line in Cargo.toml");
    line.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// The binaries of one member: its `[[bin]]` names, plus any `src/bin/*.rs` or `src/main.rs`
/// that cargo would build without a `[[bin]]` entry.
fn member_bins(member: &str) -> Vec<String> {
    let dir = root().join(member);
    let text = fs_err::read_to_string(dir.join("Cargo.toml")).unwrap();
    let (mut names, mut paths, mut package) = (Vec::new(), Vec::new(), String::new());
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match (section.as_str(), key.trim()) {
            ("[[bin]]", "name") => names.push(value),
            ("[[bin]]", "path") => paths.push(value),
            ("[package]", "name") => package = value,
            _ => {}
        }
    }
    if let Ok(entries) = fs_err::read_dir(dir.join("src/bin")) {
        for e in entries {
            let rel = format!("src/bin/{}", e.unwrap().file_name().to_string_lossy());
            if rel.ends_with(".rs") && !paths.contains(&rel) {
                names.push(rel["src/bin/".len()..rel.len() - 3].to_string());
            }
        }
    }
    if dir.join("src/main.rs").exists() && !paths.iter().any(|p| p == "src/main.rs") {
        names.push(package);
    }
    names
}

#[test]
fn the_tool_list_is_every_binary_of_the_workspace() {
    let mut bins = Vec::new();
    for m in members() {
        bins.extend(member_bins(&m));
    }
    let workspace: BTreeSet<String> = bins.iter().cloned().collect();
    assert_eq!(workspace.len(), bins.len(), "a binary name twice: {bins:?}");
    assert!(workspace.contains("ferry") && workspace.contains("verify"));

    let dir = tempfile::tempdir().unwrap();
    let mut c = tool("ferry", dir.path());
    c.args(["list", "--names"]);
    let r = run(c);
    assert_exit(&r, 0);
    let listed: Vec<String> = r.stdout.lines().map(str::to_string).collect();
    let set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(set.len(), listed.len(), "a tool listed twice: {listed:?}");
    assert_eq!(
        set, workspace,
        "shared/src/tools.rs TOOLS must name every [[bin]] of the workspace, and only those"
    );
    for name in &listed {
        bin(name);
    }
}

#[test]
fn ferry_lists_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let plain = run(tool("ferry", dir.path()));
    assert_exit(&plain, 0);
    let mut help = tool("ferry", dir.path());
    help.arg("--help");
    let help = run(help);
    assert_exit(&help, 0);
    for out in [&plain.stdout, &help.stdout] {
        assert!(
            out.contains("load-postgres") && out.contains("binary COPY"),
            "{out}"
        );
        assert!(
            out.contains("migrate-abparts") && out.contains("ferry report"),
            "{out}"
        );
    }
    let mut v = tool("ferry", dir.path());
    v.arg("--version");
    assert_eq!(run(v).stdout, "ferry 0.1.0\n");

    // The tool runs with its arguments and its own exit code.
    let mut c = tool("ferry", dir.path());
    c.args(["extract", "--version"]);
    let r = run(c);
    assert_exit(&r, 0);
    assert_eq!(r.stdout, "extract 0.1.0\n");
    let mut c = tool("ferry", dir.path());
    c.args(["load-postgres", "--no-such-flag"]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        r.stderr.starts_with("load-postgres: error: "),
        "{}",
        r.stderr
    );

    let mut c = tool("ferry", dir.path());
    c.args(["rm", "-rf", "/"]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("\"rm\" is not a Ferry tool"),
        "{}",
        r.stderr
    );
}

#[test]
fn ferry_report_refuses_what_is_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("notjson.json"), "hello").unwrap();
    fs_err::write(dir.path().join("other.json"), "{\"rows\": 3}").unwrap();
    let report = r#"{"tool":"load-mysql","status":"ok","tables":[{"table":"a","migrated":7,"skipped":0,"errors":0}]}"#;
    fs_err::write(dir.path().join("good.json"), report).unwrap();
    for (bad, says) in [
        ("notjson.json", "not JSON"),
        ("other.json", "no \"tool\" field"),
        ("missing.json", "cannot read"),
    ] {
        let mut c = tool("ferry", dir.path());
        c.args(["report", "-o", "page.html", "good.json", bad]);
        let r = run(c);
        assert_exit(&r, 2);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(bad) && r.stderr.contains(says),
            "{}",
            r.stderr
        );
        assert!(!dir.path().join("page.html").exists());
    }
    let mut c = tool("ferry", dir.path());
    c.args(["report", "good.json"]);
    assert_exit(&run(c), 0);
    let page = fs_err::read_to_string(dir.path().join("ferry-report.html")).unwrap();
    assert!(page.contains("<table id=\"tables\">") && page.contains("data-n=\"7\""));
}

#[test]
fn every_tool_prints_its_completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, want) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef"),
        ("fish", "complete -c"),
        ("man", ".TH"),
    ] {
        let mut c = tool("ferry", dir.path());
        c.args(["list", "--names"]);
        for name in run(c).stdout.lines() {
            let mut g = tool(name, dir.path());
            g.env("FERRY_GENERATE", kind);
            let r = run(g);
            assert_exit(&r, 0);
            assert!(
                r.stdout.contains(want) && r.stdout.contains(name),
                "{name} {kind}"
            );
        }
    }
}
