//! `--report-html` and `ferry report`: run reports as one self-contained HTML page.
//!
//! The page is read when something went wrong, on a machine that may have no network, and
//! is often attached to a ticket: so it is one file with inline CSS and inline SVG, no
//! script, no font, no image fetched from anywhere (a Content-Security-Policy tells the
//! browser so as well). Table names, rejected values and error messages are user data and
//! every one is HTML-escaped. Reports are read tolerantly: any field may be missing (older
//! reports, tool-specific shapes); a missing field shows as nothing, never as a failed page.
//!
//! Sections, in the order a reader asks the questions: did each run succeed (a summary per
//! run), how many rows per table (`#tables` and the stacked bars), how fast (throughput over
//! time), what was rejected and why (`#rejects`, the rejects file streamed and grouped by
//! reason), and is the target equal to the source (`#verify`, when a `verify` report is
//! among the inputs).

use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

/// Distinct reject reasons listed per run; rows with further reasons are counted together,
/// so a rejects file where every line has its own reason cannot make the page huge.
const MAX_REASONS: usize = 200;
/// Examples shown per reason: enough to see the pattern, few enough to scroll past.
const EXAMPLES: usize = 3;
/// Characters of a rejected record shown in an example (records can be megabytes).
const RECORD_CHARS: usize = 300;
/// Tables drawn as bars per run; every table is still in the counts table.
const MAX_BARS: usize = 300;
/// Reason groups shown open; the rest are folded (`<details>`, no script needed).
const OPEN_REASONS: usize = 10;

/// One page for `reports`: each the report's JSON (the shape of
/// [`crate::report::RunReport`]) with the file it was read from, when any (a relative
/// `rejects_file` is looked for in the current directory, then beside it).
pub fn render_reports(reports: &[(Option<PathBuf>, Value)]) -> String {
    let runs: Vec<Run<'_>> = reports
        .iter()
        .enumerate()
        .map(|(i, (path, v))| Run {
            n: i + 1,
            path: path.as_deref(),
            v,
        })
        .collect();
    let mut out = String::with_capacity(32 * 1024);
    page_head(&mut out, &runs);
    out.push_str("<section id=\"runs\">");
    for run in &runs {
        run_summary(&mut out, run);
    }
    out.push_str("</section>\n");
    counts_section(&mut out, &runs);
    throughput_section(&mut out, &runs);
    rejects_section(&mut out, &runs);
    verify_section(&mut out, &runs);
    let _ = writeln!(
        out,
        "<footer>Ferry {} · {} report(s) · this page needs no network and runs no script</footer>\n</main></body></html>",
        env!("CARGO_PKG_VERSION"),
        runs.len()
    );
    out
}

/// One report with its position on the page.
struct Run<'a> {
    /// 1-based, so a reader can say "run 2".
    n: usize,
    /// The file the report was read from (rejects files are also looked for beside it).
    path: Option<&'a Path>,
    v: &'a Value,
}

impl Run<'_> {
    fn tool(&self) -> &str {
        text(self.v, "tool").unwrap_or("unknown tool")
    }

    /// `run 2: verify`, the name the sections use for this run.
    fn label(&self) -> String {
        format!("run {}: {}", self.n, self.tool())
    }

    /// The per-table entries that carry counts (an old `verify` report's `tables` are
    /// verdicts, shown in `#verify` instead).
    fn count_tables(&self) -> Vec<&Value> {
        self.v
            .get("tables")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter(|e| has_counts(e)).collect())
            .unwrap_or_default()
    }

    /// The run's totals: the report's own, or summed over its tables when it has none.
    fn totals(&self) -> Counts {
        let mut c = match self.v.get("totals").filter(|t| has_counts(t)) {
            Some(t) => Counts::of(t),
            None => {
                let mut c = Counts::default();
                for t in self.count_tables() {
                    c.add(&Counts::of(t));
                }
                c
            }
        };
        if c.duration_secs == 0.0 {
            c.duration_secs = num(self.v, "duration_secs");
        }
        c
    }
}

/// Rows of one table (or of the whole run).
#[derive(Default, Debug, PartialEq)]
struct Counts {
    migrated: u64,
    skipped: u64,
    errors: u64,
    resumed: u64,
    duration_secs: f64,
    rows_per_sec: f64,
}

impl Counts {
    fn of(v: &Value) -> Self {
        Counts {
            migrated: count(v, "migrated"),
            skipped: count(v, "skipped"),
            errors: count(v, "errors"),
            resumed: count(v, "resumed"),
            duration_secs: num(v, "duration_secs"),
            rows_per_sec: num(v, "rows_per_sec"),
        }
    }

    fn add(&mut self, o: &Counts) {
        self.migrated += o.migrated;
        self.skipped += o.skipped;
        self.errors += o.errors;
        self.resumed += o.resumed;
    }

    /// migrated / (migrated + errors), in percent, as the summary table on stderr computes it.
    fn success_rate(&self) -> f64 {
        let denom = self.migrated + self.errors;
        if denom == 0 {
            100.0
        } else {
            self.migrated as f64 * 100.0 / denom as f64
        }
    }
}

fn has_counts(v: &Value) -> bool {
    ["migrated", "skipped", "errors"]
        .iter()
        .any(|k| v.get(k).is_some_and(|n| !n.is_null()))
}

// ---- reading a report tolerantly -------------------------------------------------------

/// A string field, or `None` when missing or not a string.
fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A number field (also from a string or a float), 0 when missing.
fn num(v: &Value, key: &str) -> f64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
    .max(0.0)
}

/// A count field, exact for any `u64` (a float or string is accepted as well).
fn count(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or_else(|| num(v, key) as u64),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// A list of strings (other items written as JSON), empty when missing.
fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(plain).collect())
        .unwrap_or_default()
}

/// A value as a reader wants it: a string without its quotes, anything else as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---- text ------------------------------------------------------------------------------

/// HTML-escapes text for element content and for attribute values alike.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The first `max` characters (not bytes: names and values are any language), with `…`.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `1234567` → `1,234,567`: counts are read at a glance.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration as people say it: `0.42 s`, `12.3 s`, `3 min 05 s`, `2 h 04 min`.
fn human_secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let t = s.round() as u64;
        format!("{} min {:02} s", t / 60, t % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// An axis label: `0`, `0.5`, `750`, `1.5k`, `2M`.
fn compact(x: f64) -> String {
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

/// The CSS class of a status; unknown statuses share one, so report text never becomes a
/// class name.
fn status_class(status: &str) -> &'static str {
    match status {
        "ok" => "st-ok",
        "rejects" => "st-rejects",
        "different" => "st-different",
        "failed" => "st-failed",
        "interrupted" => "st-interrupted",
        "running" => "st-running",
        _ => "st-other",
    }
}

// ---- the page ----------------------------------------------------------------------------

/// Inline style only: the page must render the same with no network.
const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:6px 0 14px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d5dae1;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
section.run{background:#fff;border:1px solid #d5dae1;border-left:6px solid #8a94a3;border-radius:6px;padding:10px 16px;margin:10px 0}
section.run.st-ok{border-left-color:#2e7d32}section.run.st-rejects{border-left-color:#d08b00}
section.run.st-different,section.run.st-failed{border-left-color:#c62828}section.run.st-interrupted{border-left-color:#6a1b9a}
section.run.st-running{border-left-color:#1565c0}
.status{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-size:13px;font-weight:600;vertical-align:middle;background:#8a94a3}
.status.st-ok{background:#2e7d32}.status.st-rejects{background:#d08b00}.status.st-different,.status.st-failed{background:#c62828}
.status.st-interrupted{background:#6a1b9a}.status.st-running{background:#1565c0}
.dry{font-size:12px;color:#1565c0;border:1px solid #1565c0;border-radius:10px;padding:0 7px;margin-left:6px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.facts dt{color:#5b6573}dl.facts dd{margin:0;overflow-wrap:anywhere}
code{font:12.5px/1.4 ui-monospace,'DejaVu Sans Mono',monospace;background:#eef1f4;padding:1px 4px;border-radius:3px}
p.error{background:#fdecea;color:#8e1b1b;padding:6px 10px;border-radius:4px;margin:6px 0}
p.resume{background:#f3e9f7;padding:6px 10px;border-radius:4px;margin:6px 0}
ul.warnings li{color:#8a5a00}ul.notes li{color:#3c4652}
table{border-collapse:collapse;background:#fff;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d5dae1;padding:3px 9px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.n{text-align:right}tr.total td{font-weight:600;background:#f8f9fb}
td.errors.nz{color:#c62828;font-weight:600}
svg{background:#fff;border:1px solid #d5dae1;border-radius:4px;display:block;margin:6px 0 14px;max-width:100%;height:auto}
svg text{font:12px system-ui,'DejaVu Sans',sans-serif;fill:#1d232b}svg text.muted{fill:#5b6573}
rect.migrated{fill:#2e7d32}rect.skipped{fill:#9aa3ad}rect.errors{fill:#c62828}
.legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px;vertical-align:-1px}
.legend .migrated{background:#2e7d32}.legend .skipped{background:#9aa3ad}.legend .errors{background:#c62828}
polyline.rate{fill:none;stroke:#1565c0;stroke-width:2}line.grid{stroke:#e3e7ec}line.axis{stroke:#5b6573}
details.reason{background:#fff;border:1px solid #d5dae1;border-radius:4px;margin:6px 0;padding:4px 10px}
details.reason summary{cursor:pointer}span.count{font-weight:700;color:#c62828}
span.column{font:12.5px ui-monospace,'DejaVu Sans Mono',monospace;background:#fdecea;padding:1px 5px;border-radius:3px}
span.varied{color:#5b6573;font-size:12px}td.where{font-size:13px;min-width:180px;max-width:360px;overflow-wrap:anywhere}
.verdict{font-weight:700}.verdict.equal{color:#2e7d32}.verdict.different{color:#c62828}.verdict.unknown{color:#5b6573}
footer{margin-top:30px;color:#5b6573;font-size:12px}
";

/// `<head>` with the style and a policy that forbids every external load, then the title.
fn page_head(out: &mut String, runs: &[Run<'_>]) {
    let tools: Vec<&str> = runs.iter().map(Run::tool).collect();
    let title = if tools.is_empty() {
        "Ferry report".to_string()
    } else {
        format!("Ferry report: {}", tools.join(", "))
    };
    let _ = writeln!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{CSS}</style></head>\n<body><main>\n<h1>{t}</h1>",
        t = esc(&title)
    );
    if runs.is_empty() {
        out.push_str("<p>No report was given.</p>\n");
    }
}

/// The header of one run: what ran, did it succeed, how long, on what, and what to do next.
fn run_summary(out: &mut String, run: &Run<'_>) {
    let v = run.v;
    let status = status_of(v);
    let class = status_class(status);
    let _ = write!(
        out,
        "<section class=\"run {class}\" id=\"run-{n}\"><h3>run {n}: {tool} <span class=\"status {class}\">{st}</span>{dry}</h3>\n<dl class=\"facts\">",
        n = run.n,
        tool = esc(run.tool()),
        st = esc(status),
        dry = if v.get("dry_run").and_then(Value::as_bool) == Some(true) {
            "<span class=\"dry\">dry run</span>"
        } else {
            ""
        },
    );
    for (name, value) in run_facts(run) {
        let _ = write!(out, "<dt>{}</dt><dd>{value}</dd>", esc(name));
    }
    out.push_str("</dl>\n");
    run_messages(out, v);
    out.push_str("</section>\n");
}

/// The run's status; an older `verify` report has none, its verdict says it.
fn status_of(v: &Value) -> &str {
    text(v, "status").unwrap_or_else(|| match verify_details(v).map(verdict) {
        Some(("EQUAL", _)) => "ok",
        Some(("DIFFERENT", _)) => "different",
        _ => "unknown",
    })
}

/// The facts of a run's header as (label, HTML) pairs; missing facts are left out.
fn run_facts(run: &Run<'_>) -> Vec<(&'static str, String)> {
    let v = run.v;
    let mut f: Vec<(&'static str, String)> = Vec::new();
    let t = run.totals();
    if v.get("duration_secs").is_some() {
        f.push(("duration", esc(&human_secs(num(v, "duration_secs")))));
    }
    if let Some(s) = text(v, "started_at") {
        let end = text(v, "finished_at").map_or(String::new(), |e| format!(" → {}", esc(e)));
        f.push(("when", format!("{}{end}", esc(s))));
    }
    if let Some(d) = verify_details(v) {
        let (word, class) = verdict(d);
        f.push((
            "verdict",
            format!("<span class=\"verdict {class}\">{word}</span>"),
        ));
    }
    if v.get("exit_code").is_some() {
        f.push(("exit code", count(v, "exit_code").to_string()));
    }
    if !run.count_tables().is_empty() || v.get("totals").is_some() {
        let rate = v
            .get("success_rate")
            .map_or(t.success_rate(), |_| num(v, "success_rate"));
        f.push((
            "rows",
            format!(
                "{} migrated · {} skipped · {} errors · {rate:.2}% success",
                group(t.migrated),
                group(t.skipped),
                group(t.errors)
            ),
        ));
    }
    let cmd = strings(v, "command_line");
    if !cmd.is_empty() {
        let line: Vec<String> = cmd.iter().map(|a| shell_word(a)).collect();
        f.push(("command", format!("<code>{}</code>", esc(&line.join(" ")))));
    }
    f.extend(flow(v));
    if let Some(p) = run.path {
        f.push(("report file", esc(&p.display().to_string())));
    }
    f
}

/// An argument as a shell reads it back: as is when it has no special character, else in
/// single quotes, so the command line can be copied from the page and run.
fn shell_word(arg: &str) -> String {
    let plain = |c: char| c.is_alphanumeric() || "_-+=/.,:@%^".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// Where the run read from and wrote to: source → target, inputs → outputs.
fn flow(v: &Value) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    let (src, dst) = (text(v, "source"), text(v, "target"));
    if src.is_some() || dst.is_some() {
        f.push((
            "source → target",
            format!("{} → {}", esc(src.unwrap_or("–")), esc(dst.unwrap_or("–"))),
        ));
    }
    let (ins, outs) = (strings(v, "inputs"), strings(v, "outputs"));
    if !ins.is_empty() || !outs.is_empty() {
        let side = |l: &[String]| {
            if l.is_empty() {
                "–".to_string()
            } else {
                esc(&l.join(", "))
            }
        };
        f.push((
            "inputs → outputs",
            format!("{} → {}", side(&ins), side(&outs)),
        ));
    }
    f
}

/// The error, the command that resumes, warnings, notes and counters of a run.
fn run_messages(out: &mut String, v: &Value) {
    if let Some(e) = text(v, "error") {
        let _ = writeln!(out, "<p class=\"error\"><b>error:</b> {}</p>", esc(e));
    }
    if let Some(c) = text(v, "resume_command") {
        let _ = writeln!(
            out,
            "<p class=\"resume\"><b>to continue:</b> <code>{}</code></p>",
            esc(c)
        );
    }
    for (key, class) in [("warnings", "warnings"), ("notes", "notes")] {
        let items = strings(v, key);
        if !items.is_empty() {
            let _ = write!(out, "<ul class=\"{class}\">");
            for i in items {
                let _ = write!(out, "<li>{}</li>", esc(&i));
            }
            out.push_str("</ul>\n");
        }
    }
    if let Some(c) = v
        .get("counters")
        .and_then(Value::as_object)
        .filter(|c| !c.is_empty())
    {
        let parts: Vec<String> = c
            .iter()
            .map(|(k, n)| format!("{}={}", esc(k), esc(&plain(n))))
            .collect();
        let _ = writeln!(
            out,
            "<p class=\"counters\">counters: {}</p>",
            parts.join(" · ")
        );
    }
}

// ---- counts and bars -------------------------------------------------------------------

/// `#tables`: one table for every run's per-table counts (with a total row per run), then
/// each run's stacked bars.
fn counts_section(out: &mut String, runs: &[Run<'_>]) {
    out.push_str("<section id=\"counts\"><h2>Rows per table</h2>\n");
    let with_counts: Vec<&Run<'_>> = runs
        .iter()
        .filter(|r| !r.count_tables().is_empty())
        .collect();
    if with_counts.is_empty() {
        out.push_str("<p>No run reported per-table counts.</p></section>\n");
        return;
    }
    out.push_str(
        "<table id=\"tables\"><thead><tr><th>run</th><th>table</th><th>migrated</th><th>skipped</th>\
         <th>errors</th><th>success</th><th>rows/s</th><th>duration</th><th>conversions</th></tr></thead><tbody>\n",
    );
    for run in &with_counts {
        for t in run.count_tables() {
            let name = text(t, "table").unwrap_or("?");
            count_row(out, run.n, name, &Counts::of(t), t.get("conversions"), "");
        }
        let v = run.v.get("totals");
        count_row(
            out,
            run.n,
            "TOTAL",
            &run.totals(),
            v.and_then(|t| t.get("conversions")),
            " class=\"total\"",
        );
    }
    out.push_str("</tbody></table>\n");
    out.push_str("<p class=\"legend\"><span class=\"migrated\"></span>migrated<span class=\"skipped\"></span>skipped<span class=\"errors\"></span>errors</p>\n");
    for run in &with_counts {
        let _ = writeln!(out, "<h3>{}</h3>", esc(&run.label()));
        bars_svg(out, &run.count_tables());
    }
    out.push_str("</section>\n");
}

/// One row of `#tables`; `data-table` carries the exact name for tests and for find-in-page.
fn count_row(
    out: &mut String,
    run: usize,
    table: &str,
    c: &Counts,
    conv: Option<&Value>,
    attr: &str,
) {
    let conversions = conv
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, n)| format!("{}={}", esc(k), esc(&plain(n))))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<tr{attr} data-run=\"{run}\" data-table=\"{t}\"><td>{run}</td><td class=\"table\">{t}</td>\
         <td class=\"n migrated\" data-n=\"{m}\">{gm}</td><td class=\"n skipped\" data-n=\"{s}\">{gs}</td>\
         <td class=\"n errors{nz}\" data-n=\"{e}\">{ge}</td><td class=\"n\">{rate:.2}%</td>\
         <td class=\"n\">{rps}</td><td class=\"n\">{dur}</td><td>{conversions}</td></tr>",
        t = esc(table),
        m = c.migrated,
        gm = group(c.migrated),
        s = c.skipped,
        gs = group(c.skipped),
        e = c.errors,
        ge = group(c.errors),
        nz = if c.errors > 0 { " nz" } else { "" },
        rate = c.success_rate(),
        rps = group(c.rows_per_sec.round() as u64),
        dur = human_secs(c.duration_secs),
    );
}

/// Left edge of the bars (the table names are left of it).
const BAR_X: f64 = 210.0;
/// Width of the longest bar.
const BAR_W: f64 = 640.0;
/// Height of one table's row.
const BAR_ROW: f64 = 24.0;

/// Horizontal stacked bars, one per table, all on the scale of the run's largest table, so
/// the tables compare at a glance.
fn bars_svg(out: &mut String, tables: &[&Value]) {
    let shown = &tables[..tables.len().min(MAX_BARS)];
    let max = shown
        .iter()
        .map(|t| {
            let c = Counts::of(t);
            c.migrated + c.skipped + c.errors
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let height = BAR_ROW * shown.len() as f64 + 8.0;
    let _ = writeln!(
        out,
        "<svg class=\"bars\" width=\"980\" height=\"{height}\" viewBox=\"0 0 980 {height}\" role=\"img\" aria-label=\"rows per table\">"
    );
    for (i, t) in shown.iter().enumerate() {
        bar_row(out, 4.0 + BAR_ROW * i as f64, t, max);
    }
    out.push_str("</svg>\n");
    if tables.len() > shown.len() {
        let _ = writeln!(
            out,
            "<p>{} more tables are in the table above.</p>",
            tables.len() - shown.len()
        );
    }
}

/// One table's bar at height `y`: its name, migrated, skipped and errors side by side (a
/// non-zero part at least 2 px wide, so two errors among millions of rows still show), then
/// the three numbers.
fn bar_row(out: &mut String, y: f64, t: &Value, max: u64) {
    let name = text(t, "table").unwrap_or("?");
    let c = Counts::of(t);
    let _ = write!(
        out,
        "<g><text x=\"8\" y=\"{:.1}\">{}</text>",
        y + 15.0,
        esc(&truncate(name, 28))
    );
    let mut x = BAR_X;
    for (class, n) in [
        ("migrated", c.migrated),
        ("skipped", c.skipped),
        ("errors", c.errors),
    ] {
        let w = if n == 0 {
            0.0
        } else {
            (n as f64 / max as f64 * BAR_W).max(2.0)
        };
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"18\"><title>{}: {} {class}</title></rect>",
            esc(name),
            group(n)
        );
        x += w;
    }
    let _ = writeln!(
        out,
        "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\">{} / {} / {}</text></g>",
        x + 6.0,
        y + 14.0,
        group(c.migrated),
        group(c.skipped),
        group(c.errors)
    );
}

// ---- throughput ------------------------------------------------------------------------

/// One chart per run of rows per second over the run's time.
fn throughput_section(out: &mut String, runs: &[Run<'_>]) {
    out.push_str("<section id=\"throughput\"><h2>Throughput</h2>\n");
    let mut any = false;
    for run in runs {
        let steps = rate_steps(run);
        if steps.is_empty() {
            continue;
        }
        any = true;
        let peak = steps.iter().map(|p| p.1).fold(0.0, f64::max);
        let t = run.totals();
        let avg = if t.duration_secs > 0.0 {
            t.migrated.saturating_sub(t.resumed) as f64 / t.duration_secs
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "<h3>{}</h3><p>peak {} rows/s · average {} rows/s over {}</p>",
            esc(&run.label()),
            group(peak.round() as u64),
            group(avg.round() as u64),
            human_secs(t.duration_secs)
        );
        throughput_svg(out, &steps);
    }
    if !any {
        out.push_str("<p>No run recorded throughput.</p>\n");
    }
    out.push_str("</section>\n");
}

/// The run's samples (`{secs, rows}`, cumulative) as steps of rows/s between samples: a
/// step, not a slope, because the rate is only known as an average over each interval.
/// Without samples, the run's average over its duration. A last interval much shorter than
/// the others (the closing sample) is merged into the one before, or it would draw a spike.
fn rate_steps(run: &Run<'_>) -> Vec<(f64, f64)> {
    let mut s: Vec<(f64, f64)> = run
        .v
        .get("throughput")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| (num(p, "secs"), count(p, "rows") as f64))
                .collect()
        })
        .unwrap_or_default();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    if s.first().is_some_and(|p| p.0 > 0.0) {
        s.insert(0, (0.0, 0.0));
    }
    if s.len() < 2 {
        let t = run.totals();
        if t.duration_secs <= 0.0 {
            return Vec::new();
        }
        s = vec![
            (0.0, 0.0),
            (t.duration_secs, t.migrated.saturating_sub(t.resumed) as f64),
        ];
    }
    let s = merge_short_tail(s);
    let mut steps = Vec::with_capacity(s.len() * 2);
    for w in s.windows(2) {
        let dt = w[1].0 - w[0].0;
        if dt > 0.0 {
            let r = (w[1].1 - w[0].1).max(0.0) / dt;
            steps.push((w[0].0, r));
            steps.push((w[1].0, r));
        }
    }
    steps
}

/// Drops the last-but-one sample when the last interval is under a quarter of the median.
fn merge_short_tail(mut s: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if s.len() < 4 {
        return s;
    }
    let mut gaps: Vec<f64> = s
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|d| *d > 0.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let n = s.len();
    if s[n - 1].0 - s[n - 2].0 < median / 4.0 {
        s.remove(n - 2);
    }
    s
}

/// Ticks from 0 to just past `max` at a round step (1, 2 or 5 × 10ⁿ): the smallest step
/// that needs at most six intervals, so the axis ends close to the data.
fn nice_ticks(max: f64) -> Vec<f64> {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return vec![0.0, 1.0];
    }
    let mag = 10f64.powf((max / 6.0).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (max / s - 1e-9).ceil() <= 6.0)
        .unwrap_or(10.0 * mag);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=n).map(|i| step * i as f64).collect()
}

/// A tick's label: [`compact`], with as many decimals as the step needs (0.005 s steps
/// would otherwise all read `0.01`).
fn tick_label(x: f64, ticks: &[f64]) -> String {
    let step = ticks.get(1).copied().unwrap_or(1.0);
    if step >= 1.0 || x == 0.0 {
        return compact(x);
    }
    let decimals = (-step.log10()).ceil().clamp(0.0, 9.0) as usize;
    let s = format!("{x:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The line chart: rows/s (y) over seconds since the start (x), grid and labelled axes.
fn throughput_svg(out: &mut String, steps: &[(f64, f64)]) {
    let (w, h, left, right, top, bottom) = (980.0, 220.0, 72.0, 24.0, 14.0, 44.0);
    let xt = nice_ticks(steps.iter().map(|p| p.0).fold(0.0, f64::max));
    let yt = nice_ticks(steps.iter().map(|p| p.1).fold(0.0, f64::max));
    let (xmax, ymax) = (
        xt.last().copied().unwrap_or(1.0),
        yt.last().copied().unwrap_or(1.0),
    );
    let px = |x: f64| left + x / xmax * (w - left - right);
    let py = |y: f64| h - bottom - y / ymax * (h - top - bottom);
    let _ = writeln!(out, "<svg class=\"throughput\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"rows per second over time\">");
    for y in &yt {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/><text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            py(*y) + 4.0,
            tick_label(*y, &yt),
            yy = py(*y)
        );
    }
    for x in &xt {
        let _ = writeln!(
            out,
            "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            px(*x),
            h - bottom + 16.0,
            tick_label(*x, &xt)
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{b}\"/><line class=\"axis\" x1=\"{left}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\"/>\n\
         <text x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\">seconds since the start</text>\
         <text x=\"14\" y=\"{cy:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {cy:.1})\">rows/s</text>",
        b = h - bottom,
        r = w - right,
        cx = (left + w - right) / 2.0,
        ly = h - 6.0,
        cy = (top + h - bottom) / 2.0,
    );
    let points: Vec<String> = steps
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
        .collect();
    let _ = writeln!(
        out,
        "<polyline class=\"rate\" points=\"{}\"/>\n</svg>",
        points.join(" ")
    );
}

// ---- rejects ---------------------------------------------------------------------------

/// Rejected rows of one rejects file, grouped by reason.
#[derive(Default)]
struct Reasons {
    /// In order of first appearance; sorted by count when shown.
    groups: Vec<Group>,
    /// Group of each [`reason_key`].
    index: HashMap<String, usize>,
    /// Rows whose reason came after [`MAX_REASONS`] distinct ones.
    other_rows: u64,
    /// Lines read.
    rows: u64,
}

/// One reason with how often it occurred and its first examples.
struct Group {
    /// The first row's reason, word for word.
    reason: String,
    /// The column the rows have in common, when they name one.
    column: Option<String>,
    count: u64,
    /// Whether some rows' reasons differ from the first in their values.
    varied: bool,
    examples: Vec<Example>,
}

/// Where a rejected row came from, what in it was wrong, and the start of the row.
struct Example {
    /// `table`, `column = value`, `file:line`, `rule`, the exact reason: whichever there are.
    facts: Vec<(&'static str, String)>,
    /// The record as it was written, cut to [`RECORD_CHARS`].
    record: String,
}

impl Reasons {
    /// Counts one line of a rejects file: `v` its JSON object (`None` when unreadable),
    /// `text` the line as written (for its record, key order kept).
    fn add(&mut self, line: u64, text: &str, v: Option<&Value>) {
        self.rows += 1;
        let reason = v.map_or_else(
            || "unreadable line in the rejects file".to_string(),
            |v| without_row(&reason_of(v)).to_string(),
        );
        let column = v.and_then(|v| v.get("column")).map(plain);
        let key = format!(
            "{}\u{1}{}",
            column.as_deref().unwrap_or(""),
            reason_key(&reason, v)
        );
        let i = match self.index.get(&key) {
            Some(i) => *i,
            None if self.groups.len() >= MAX_REASONS => {
                self.other_rows += 1;
                return;
            }
            None => {
                self.index.insert(key, self.groups.len());
                self.groups.push(Group {
                    reason: reason.clone(),
                    column,
                    count: 0,
                    varied: false,
                    examples: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        g.count += 1;
        g.varied |= g.reason != reason;
        if g.examples.len() < EXAMPLES {
            g.examples.push(example_of(line, text, v, &reason));
        }
    }

    /// Groups by count, largest first (ties in order of first appearance).
    fn sorted(&self) -> Vec<&Group> {
        let mut g: Vec<&Group> = self.groups.iter().collect();
        g.sort_by_key(|b| std::cmp::Reverse(b.count));
        g
    }
}

/// The reason of a rejects line: `reason` (the loaders), else `error`, else the first of
/// `errors` (the S9 and DynamoDB tools); a structured error gives its message.
fn reason_of(v: &Value) -> String {
    let first = v.get("reason").or_else(|| v.get("error")).or_else(|| {
        v.get("errors")
            .and_then(|e| e.as_array().map_or(Some(e), |a| a.first()))
    });
    match first {
        None | Some(Value::Null) => "(no reason given)".to_string(),
        Some(Value::Object(o)) => ["message", "reason", "error", "rule"]
            .iter()
            .find_map(|k| o.get(*k).map(plain))
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        Some(other) => plain(other),
    }
}

/// What makes two reasons the same reason: the text without the row's own data, which many
/// messages quote (`70000 is out of range …`, `text of 14 characters …`, PostgreSQL's
/// `(Failing row contains (…))`, MySQL's `Duplicate entry '42'`). Without this, a check
/// constraint that refuses a thousand rows would show as a thousand reasons.
fn reason_key(reason: &str, v: Option<&Value>) -> String {
    let mut r = without_row(reason).to_string();
    if let Some(value) = v.and_then(|v| v.get("value")).map(plain) {
        let bare = value.trim_matches('"');
        if !bare.is_empty() {
            r = r.replace(bare, "…");
        }
    }
    let mut key = String::with_capacity(r.len());
    let mut quoted = false;
    for c in r.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                key.push(c);
            }
            _ if quoted => {}
            '0'..='9' if key.ends_with('#') => {}
            '0'..='9' => key.push('#'),
            _ => key.push(c),
        }
    }
    key
}

/// A reason without PostgreSQL's copy of the row (` (Failing row contains (…))`): the
/// example's record shows the row, and the reason reads the same for every row.
fn without_row(reason: &str) -> &str {
    reason
        .split(" (Failing row contains")
        .next()
        .unwrap_or(reason)
}

/// The record of a rejects line as it was written (key order kept; a record kept as text,
/// like a malformed line, without its quotes), or the whole line for shapes without one.
fn record_text(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        record: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow)]
        item: Option<&'a serde_json::value::RawValue>,
    }
    let raw = serde_json::from_str::<Raw<'_>>(text).ok();
    match raw.and_then(|r| r.record.or(r.item)).map(|r| r.get()) {
        Some(s) if s.starts_with('"') => serde_json::from_str::<String>(s).unwrap_or_default(),
        Some(s) => s.to_string(),
        None => text.to_string(),
    }
}

/// An example from a rejects line: its facts and its record.
fn example_of(line: u64, text: &str, v: Option<&Value>, reason: &str) -> Example {
    let mut facts = Vec::new();
    let v = v.unwrap_or(&Value::Null);
    if let Some(t) = v.get("table").or_else(|| v.get("entity")) {
        facts.push(("table", plain(t)));
    }
    match (v.get("column"), v.get("value")) {
        (Some(c), Some(x)) => facts.push(("value", format!("{} = {}", plain(c), plain(x)))),
        (Some(c), None) => facts.push(("column", plain(c))),
        (None, Some(x)) => facts.push(("value", plain(x))),
        (None, None) => {}
    }
    if let Some(f) = v.get("file") {
        let at = v
            .get("line")
            .map_or(String::new(), |l| format!(":{}", plain(l)));
        facts.push(("from", format!("{}{at}", plain(f))));
    }
    for key in ["rule", "rowid"] {
        if let Some(x) = v.get(key) {
            facts.push((key, plain(x)));
        }
    }
    facts.push(("rejects file line", line.to_string()));
    facts.push(("reason", reason.to_string()));
    Example {
        facts,
        record: truncate(&record_text(text), RECORD_CHARS),
    }
}

/// Reads a rejects file line by line (never whole: it can be gigabytes), grouping reasons.
fn read_rejects(path: &Path) -> std::io::Result<Reasons> {
    let mut reader = std::io::BufReader::new(fs_err::File::open(path)?);
    let mut reasons = Reasons::default();
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object);
        reasons.add(line, text, parsed.as_ref());
    }
    Ok(reasons)
}

/// A relative rejects file: where the tool ran (usually here), else beside the report.
fn resolve_rejects(file: &str, report: Option<&Path>) -> Option<PathBuf> {
    let p = Path::new(file);
    if p.is_file() {
        return Some(p.to_path_buf());
    }
    if p.is_absolute() {
        return None;
    }
    let beside = report?.parent()?.join(p);
    beside.is_file().then_some(beside)
}

/// `#rejects`: per run with a rejects file, its reasons with counts and examples.
fn rejects_section(out: &mut String, runs: &[Run<'_>]) {
    out.push_str("<section id=\"rejects\"><h2>Rejected rows</h2>\n");
    let mut any = false;
    for run in runs {
        let Some(file) = text(run.v, "rejects_file") else {
            continue;
        };
        any = true;
        let _ = writeln!(
            out,
            "<div class=\"rejects-run\" data-run=\"{}\"><h3>{}: <code>{}</code></h3>",
            run.n,
            esc(&run.label()),
            esc(file)
        );
        match resolve_rejects(file, run.path).map(|p| read_rejects(&p)) {
            None => {
                let _ = writeln!(out, "<p class=\"error\">{} was not found (looked in the current directory and beside the report).</p>", esc(file));
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    out,
                    "<p class=\"error\">cannot read {}: {}</p>",
                    esc(file),
                    esc(&e.to_string())
                );
            }
            Some(Ok(reasons)) => reason_groups(out, &reasons),
        }
        out.push_str("</div>\n");
    }
    if !any {
        out.push_str("<p>No run rejected rows.</p>\n");
    }
    out.push_str("</section>\n");
}

/// The reason groups of one rejects file, largest first, each with its examples.
fn reason_groups(out: &mut String, r: &Reasons) {
    let _ = writeln!(
        out,
        "<p>{} rejected rows, {} distinct reasons.</p>",
        group(r.rows),
        r.groups.len()
    );
    for (i, g) in r.sorted().into_iter().enumerate() {
        let _ = writeln!(
            out,
            "<details class=\"reason\"{}><summary><span class=\"count\">{}</span> × {}<span class=\"reason-text\">{}</span>{}</summary>",
            if i < OPEN_REASONS { " open" } else { "" },
            group(g.count),
            g.column.as_deref().map_or(String::new(), |c| format!("<span class=\"column\">{}</span> ", esc(c))),
            esc(&g.reason),
            if g.varied { " <span class=\"varied\">(values in the reason vary from row to row)</span>" } else { "" },
        );
        out.push_str("<table class=\"examples\"><thead><tr><th>where</th><th>record</th></tr></thead><tbody>\n");
        for e in &g.examples {
            let facts: Vec<String> = e
                .facts
                .iter()
                .filter(|(k, v)| *k != "reason" || (g.varied && *v != g.reason))
                .map(|(k, v)| format!("{k}: {}", esc(v)))
                .collect();
            let _ = writeln!(
                out,
                "<tr><td class=\"where\">{}</td><td><code>{}</code></td></tr>",
                facts.join("<br>"),
                esc(&e.record)
            );
        }
        out.push_str("</tbody></table></details>\n");
    }
    if r.other_rows > 0 {
        let _ = writeln!(
            out,
            "<p>{} more rows have reasons beyond the first {MAX_REASONS} distinct ones.</p>",
            group(r.other_rows)
        );
    }
}

// ---- verify ----------------------------------------------------------------------------

/// `verify`'s verdict: the report's `details` (the common shape), or the report itself (the
/// older shape, where `equal` and the table verdicts were at the top).
fn verify_details(v: &Value) -> Option<&Value> {
    let looks = |d: &Value| {
        d.get("equal").is_some_and(Value::is_boolean)
            && d.get("tables").is_some_and(Value::is_array)
    };
    v.get("details")
        .filter(|d| looks(d))
        .or_else(|| Some(v).filter(|v| looks(v)))
}

/// `EQUAL`, `DIFFERENT`, or `UNKNOWN` when the report does not say, with its CSS class.
fn verdict(v: &Value) -> (&'static str, &'static str) {
    match v.get("equal").and_then(Value::as_bool) {
        Some(true) => ("EQUAL", "equal"),
        Some(false) => ("DIFFERENT", "different"),
        None => ("UNKNOWN", "unknown"),
    }
}

/// `#verify`, when a verify report is among the inputs: the verdict per table and counts.
fn verify_section(out: &mut String, runs: &[Run<'_>]) {
    let verifies: Vec<(&Run<'_>, &Value)> = runs
        .iter()
        .filter_map(|r| verify_details(r.v).map(|d| (r, d)))
        .collect();
    if verifies.is_empty() {
        return;
    }
    out.push_str("<section id=\"verify\"><h2>Verification</h2>\n");
    for (run, d) in verifies {
        let (word, class) = verdict(d);
        let _ = writeln!(
            out,
            "<h3>{}: <span class=\"verdict {class}\">{word}</span></h3>",
            esc(&run.label())
        );
        out.push_str(
            "<table class=\"verify\"><thead><tr><th>table</th><th>target table</th><th>verdict</th><th>source rows</th>\
             <th>target rows</th><th>missing in target</th><th>extra in target</th><th>different</th><th>differing ranges</th>\
             <th>duration</th></tr></thead><tbody>\n",
        );
        let tables = d
            .get("tables")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for t in tables {
            verify_row(out, t);
        }
        out.push_str("</tbody></table>\n");
        for t in tables.iter().filter(|t| verdict(t).0 != "EQUAL") {
            verify_differences(out, t);
        }
    }
    out.push_str("</section>\n");
}

/// One table's verdict and counts.
fn verify_row(out: &mut String, t: &Value) {
    let (word, class) = verdict(t);
    let name = text(t, "table").unwrap_or("?");
    let ranges = match t.get("ranges") {
        Some(n) => format!("{} of {}", strings_len(t, "differing_ranges"), plain(n)),
        None => strings_len(t, "differing_ranges").to_string(),
    };
    let _ = writeln!(
        out,
        "<tr data-table=\"{n}\"><td class=\"table\">{n}</td><td>{tt}</td><td class=\"verdict {class}\">{word}</td>\
         <td class=\"n source_rows\">{}</td><td class=\"n target_rows\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        group(count(t, "source_rows")),
        group(count(t, "target_rows")),
        group(count(t, "missing_in_target")),
        group(count(t, "extra_in_target")),
        group(count(t, "different")),
        esc(&ranges),
        human_secs(num(t, "duration_secs")),
        n = esc(name),
        tt = esc(text(t, "target_table").unwrap_or(name)),
    );
}

fn strings_len(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// What differs in one table: columns on one side only and the first differing rows.
fn verify_differences(out: &mut String, t: &Value) {
    let _ = writeln!(
        out,
        "<h3>{}: what differs</h3><ul>",
        esc(text(t, "table").unwrap_or("?"))
    );
    for (key, label) in [
        ("columns_only_in_source", "columns only in the source"),
        ("columns_only_in_target", "columns only in the target"),
    ] {
        let cols = strings(t, key);
        if !cols.is_empty() {
            let _ = writeln!(out, "<li>{label}: {}</li>", esc(&cols.join(", ")));
        }
    }
    let diffs = t
        .get("first_differences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for d in diffs.iter().take(10) {
        let _ = writeln!(
            out,
            "<li><code>{}</code></li>",
            esc(&truncate(&d.to_string(), RECORD_CHARS))
        );
    }
    if diffs.len() > 10 {
        let _ = writeln!(out, "<li>… {} more in the report</li>", diffs.len() - 10);
    }
    out.push_str("</ul>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load_report(rejects: Option<&str>) -> Value {
        json!({
            "report_version": 1, "tool": "load-postgres", "version": "0.1.0",
            "command_line": ["load-postgres", "--table", "t", "in put.ndjson"],
            "inputs": ["in.ndjson"], "outputs": ["postgres://***@h/db"],
            "started_at": "2026-12-02T10:00:00Z", "finished_at": "2026-12-02T10:00:04Z",
            "duration_secs": 4.0, "dry_run": false,
            "tables": [{"table": "<script>alert(1)</script>", "migrated": 1234567, "skipped": 3, "errors": 2,
                        "conversions": {"zero_date_to_null": 1}, "duration_secs": 4.0, "rows_per_sec": 308641.75}],
            "totals": {"table": "TOTAL", "migrated": 1234567, "skipped": 3, "errors": 2, "conversions": {},
                       "duration_secs": 4.0, "rows_per_sec": 308641.75},
            "success_rate": 99.99, "rejects_file": rejects, "status": "rejects", "exit_code": 3,
            "warnings": ["a <b> warning"], "notes": [], "counters": {"retries": 2},
            "throughput": [{"secs": 0.0, "rows": 0}, {"secs": 1.0, "rows": 300000}, {"secs": 2.0, "rows": 600000},
                           {"secs": 3.0, "rows": 900000}, {"secs": 4.0, "rows": 1234567}]
        })
    }

    #[test]
    fn escapes_every_kind_of_user_text() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = render_reports(&[(None, load_report(None))]);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("a &lt;b&gt; warning"));
        assert!(
            !page.contains("http:") && !page.contains("https:"),
            "a resource in the page"
        );
        assert!(page.contains("data-table=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    }

    #[test]
    fn counts_bars_and_throughput_are_drawn() {
        let page = render_reports(&[(None, load_report(None))]);
        assert!(page.contains("<table id=\"tables\">"));
        assert!(page.contains("data-n=\"1234567\">1,234,567</td>"));
        assert!(page.contains("<td class=\"n errors nz\" data-n=\"2\">2</td>"));
        assert!(page.contains("<svg class=\"bars\""));
        for class in ["migrated", "skipped", "errors"] {
            assert!(
                page.contains(&format!("<rect class=\"{class}\"")),
                "{class}"
            );
        }
        assert!(page.contains("<svg class=\"throughput\""));
        assert!(page.contains("<polyline class=\"rate\""));
        assert!(page.contains("status st-rejects"));
        assert!(page.contains("<code>load-postgres --table t &#39;in put.ndjson&#39;</code>"));
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn groups_rejects_by_reason_with_three_examples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lines = String::new();
        for i in 0..5 {
            lines.push_str(&format!("{{\"file\":\"in\",\"line\":{i},\"table\":\"t\",\"column\":\"qty\",\"value\":\"70000\",\"reason\":\"out of range\",\"record\":\"{{\\\"qty\\\":70000,\\\"pad\\\":\\\"{}\\\"}}\"}}\n", "x".repeat(400)));
        }
        lines.push_str("{\"table\":\"t\",\"reason\":\"<b>bad</b>\",\"record\":{\"id\":1}}\n");
        lines.push_str("{\"item\":{\"id\":2},\"errors\":[\"missing buyer_id\",\"bad date\"]}\n");
        lines.push_str("{\"error\":{\"message\":\"throttled\"}}\nnot json\n\n");
        let path = dir.path().join("rejects.ndjson");
        fs_err::write(&path, lines).expect("write");
        let r = read_rejects(&path).expect("read");
        assert_eq!(r.rows, 9);
        let g = r.sorted();
        assert_eq!(
            (g[0].reason.as_str(), g[0].count, g[0].examples.len()),
            ("out of range", 5, 3)
        );
        assert!(g[0].examples[0].record.chars().count() <= RECORD_CHARS + 1);
        let reasons: Vec<&str> = g.iter().map(|g| g.reason.as_str()).collect();
        for want in [
            "<b>bad</b>",
            "missing buyer_id",
            "throttled",
            "unreadable line in the rejects file",
        ] {
            assert!(reasons.contains(&want), "{reasons:?}");
        }
        let report = load_report(Some("rejects.ndjson"));
        let page = render_reports(&[(Some(dir.path().join("load.json")), report)]);
        assert!(page.contains(
            "<span class=\"count\">5</span> × <span class=\"column\">qty</span> <span class=\"reason-text\">out of range</span>"
        ));
        assert!(page.contains("&lt;b&gt;bad&lt;/b&gt;") && !page.contains("<b>bad"));
        assert!(page.contains("<code>{&quot;qty&quot;:70000,&quot;pad&quot;:&quot;xxx"));
    }

    #[test]
    fn reasons_that_quote_the_row_are_one_reason() {
        let mut r = Reasons::default();
        let lines = [
            r#"{"column":"qty","value":"70000","reason":"70000 is out of range [-32768, 32767]","record":{"id":1}}"#,
            r#"{"column":"qty","value":"-90000","reason":"-90000 is out of range [-32768, 32767]","record":{"id":2}}"#,
            r#"{"column":"name","value":"\"abcdefghij\"","reason":"text of 10 characters is longer than 8","record":{"id":3}}"#,
            r#"{"column":"name","value":"\"abcdefghijk\"","reason":"text of 11 characters is longer than 8","record":{"id":4}}"#,
            r#"{"reason":"new row violates check constraint \"c\" (Failing row contains (5, -50).)","record":{"id":5}}"#,
            r#"{"reason":"new row violates check constraint \"c\" (Failing row contains (6, -51).)","record":{"id":6}}"#,
            r#"{"reason":"Duplicate entry 'a-1' for key 'PRIMARY'","record":{"id":7}}"#,
            r#"{"reason":"Duplicate entry 'b-2' for key 'PRIMARY'","record":{"id":8}}"#,
        ];
        for (i, l) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(l).expect("json");
            r.add(i as u64 + 1, l, Some(&v));
        }
        let counts: Vec<(u64, bool)> = r.groups.iter().map(|g| (g.count, g.varied)).collect();
        assert_eq!(
            counts,
            vec![(2, true), (2, true), (2, false), (2, true)],
            "{:?}",
            r.groups.iter().map(|g| &g.reason).collect::<Vec<_>>()
        );
        assert_eq!(r.groups[1].column.as_deref(), Some("name"));
        assert_eq!(r.groups[0].examples[1].record, "{\"id\":2}");
        assert_eq!(
            r.groups[2].reason,
            "new row violates check constraint \"c\""
        );
    }

    #[test]
    fn caps_distinct_reasons() {
        let mut r = Reasons::default();
        for i in 0..(MAX_REASONS + 50) {
            let word: String = [i / 26 / 26, i / 26 % 26, i % 26]
                .iter()
                .map(|d| char::from(b'a' + *d as u8))
                .collect();
            r.add(
                i as u64,
                "{}",
                Some(&json!({ "reason": format!("reason {word}") })),
            );
        }
        assert_eq!(r.groups.len(), MAX_REASONS);
        assert_eq!(r.other_rows, 50);
    }

    #[test]
    fn empty_input_and_empty_reports_render() {
        let page = render_reports(&[]);
        assert!(page.contains("No report was given.") && page.ends_with("</html>\n"));
        let page = render_reports(&[(None, json!({}))]);
        assert!(
            page.contains("unknown tool") && page.contains("No run reported per-table counts.")
        );
        assert!(page.contains("No run rejected rows.") && !page.contains("id=\"verify\""));
    }

    #[test]
    fn a_report_with_missing_fields_still_renders() {
        let old = json!({"tool": "load-mysql", "status": "ok",
                         "tables": [{"table": "a", "migrated": "12"}, {"table": "b", "errors": 1}],
                         "throughput": [{"secs": 2.0}], "rejects_file": "/nonexistent/rejects.ndjson"});
        let page = render_reports(&[(None, old)]);
        assert!(page.contains("data-n=\"12\">12</td>"), "{page}");
        assert!(page.contains("data-table=\"TOTAL\""));
        assert!(page.contains("was not found"));
        assert!(page.contains("<section id=\"throughput\">"));
    }

    #[test]
    fn verify_verdicts_in_both_shapes() {
        let table = json!({"table": "t", "target_table": "t", "equal": false, "source_rows": 10, "target_rows": 9,
                           "missing_in_target": 1, "columns_only_in_source": ["x<y"], "first_differences": [{"key": [3]}]});
        let new = json!({"tool": "verify", "status": "different", "tables": [], "details": {"equal": false, "tables": [table]}});
        let old = json!({"tool": "verify", "equal": true, "tables": [{"table": "u", "equal": true, "source_rows": 5, "target_rows": 5}]});
        let page = render_reports(&[(None, new), (None, old)]);
        assert!(page.contains("<section id=\"verify\">"));
        assert!(page.contains("<td class=\"verdict different\">DIFFERENT</td>"));
        assert!(page.contains("<td class=\"verdict equal\">EQUAL</td>"));
        assert!(page.contains("x&lt;y"));
        assert!(!page.contains("id=\"tables\""), "verdicts are not counts");
    }

    #[test]
    fn steps_ticks_and_numbers() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(compact(1500.0), "1.5k");
        assert_eq!(nice_ticks(9.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(4.016), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            nice_ticks(300.0),
            vec![0.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0]
        );
        let small = nice_ticks(0.046);
        assert_eq!(small.len(), 6);
        assert_eq!(tick_label(small[3], &small), "0.03");
        assert_eq!(tick_label(0.015, &[0.0, 0.005]), "0.015");
        assert_eq!(truncate("ééé", 2), "éé…");
        let v = json!({"throughput": [{"secs": 0, "rows": 0}, {"secs": 1, "rows": 100}, {"secs": 2, "rows": 300},
                                      {"secs": 3, "rows": 400}, {"secs": 3.01, "rows": 410}]});
        let steps = rate_steps(&Run {
            n: 1,
            path: None,
            v: &v,
        });
        assert_eq!(steps.last().map(|p| p.0), Some(3.01));
        assert!(steps.iter().all(|p| p.1 <= 200.0 + 1e-9), "{steps:?}");
        let none = json!({"duration_secs": 2.0, "totals": {"migrated": 10}});
        assert_eq!(
            rate_steps(&Run {
                n: 1,
                path: None,
                v: &none
            }),
            vec![(0.0, 5.0), (2.0, 5.0)]
        );
    }
}
