//! The run of `validate-s9`: the inputs checked, the files read in order, the valid items
//! copied, the rejects and the report written.

use super::report::{EntityReport, Listed, Totals, TransformReject, ValidationReport};
use super::rules::Rule;
use super::validator::Validator;
use super::Args;
use crate::transform::Entity;
use anyhow::Context as _;
use ferry_shared::progress::Progress;
use ferry_shared::record::{Item as Line, RecordReader, RecordWriter};
use ferry_shared::rejects::{record_value, Reject, Rejects};
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::{Exit, FerryError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a transform's rejects file (if any): counts, reasons, and the rejected ids so a
/// sale pointing at one is told why.
fn read_transform_rejects(
    path: &Path,
    e: Entity,
    v: &mut Validator,
    max_listed: usize,
    rep: &mut EntityReport,
) -> anyhow::Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    rep.transform_rejects_file = Some(path.display().to_string());
    let mut reader = RecordReader::open(Some(path))?;
    while let Some(kind) = reader.next_item()? {
        if !matches!(kind, Line::Data) {
            continue;
        }
        rep.rejected_by_transform += 1;
        let r: Value = serde_json::from_slice(reader.line()).unwrap_or(Value::Null);
        let legacy = crate::item::record_legacy_id(&r["record"]);
        if let Some(l) = legacy {
            v.transform_rejected(e, l, reader.line_no());
        }
        if rep.transform_rejects.len() < max_listed {
            rep.transform_rejects.push(TransformReject {
                line: r["line"].as_u64(),
                legacy_id: legacy,
                reason: r["reason"]
                    .as_str()
                    .unwrap_or("(unreadable reject line)")
                    .to_string(),
            });
        }
    }
    Ok(())
}

struct Run<'a> {
    args: &'a Args,
    validator: Validator,
    rejects: Rejects,
    listed: Vec<Listed>,
    not_listed: u64,
}

impl Run<'_> {
    /// Validates one entity's file. With `emit` false the entity is read only so that the
    /// sales' references can be checked: nothing is written for it.
    fn entity(&mut self, e: Entity, emit: bool, rep: &mut EntityReport) -> anyhow::Result<()> {
        let name = e.name();
        if emit {
            self.claim_before(e)?;
        }
        let path = source_dir(self.args, emit).join(format!("{name}.ndjson"));
        rep.file = path.display().to_string();
        let mut reader = RecordReader::open(Some(&path))?;
        let out = self.args.output.join(format!("{name}.ndjson"));
        let mut writer = if emit && !self.args.dry_run {
            rep.output = Some(out.display().to_string());
            Some(RecordWriter::create(&out).with_context(|| format!("create {}", out.display()))?)
        } else {
            None
        };
        let res = self.items(e, emit, &mut reader, writer.as_mut(), rep);
        match (res, writer) {
            (Ok(()), Some(w)) => w.finish()?,
            (Ok(()), None) => {}
            (Err(err), w) => {
                // Nothing half-written stays behind: a rerun starts from scratch anyway.
                if w.is_some() {
                    let _ = fs_err::remove_file(ferry_shared::record::part_path(&out));
                }
                return Err(err);
            }
        }
        rep.source_records = rep.total + rep.rejected_by_transform;
        Ok(())
    }

    /// Reads the `--before` files of an entity so their keys and emails are claimed; nothing
    /// of them is counted or written.
    fn claim_before(&mut self, e: Entity) -> anyhow::Result<()> {
        let prefix = format!("{}=", e.name());
        let files: Vec<std::path::PathBuf> = self
            .args
            .before
            .iter()
            .filter_map(|b| b.strip_prefix(&prefix).map(std::path::PathBuf::from))
            .collect();
        for f in files {
            let mut reader = RecordReader::open(Some(&f))?;
            let mut scratch = EntityReport::default();
            self.items(e, false, &mut reader, None, &mut scratch)
                .with_context(|| format!("read {}", f.display()))?;
        }
        Ok(())
    }

    /// The items of one file, in file order.
    fn items(
        &mut self,
        e: Entity,
        emit: bool,
        reader: &mut RecordReader,
        mut writer: Option<&mut RecordWriter>,
        rep: &mut EntityReport,
    ) -> anyhow::Result<()> {
        let name = e.name();
        let mut progress = Progress::new(
            &format!("validate {name}"),
            None,
            self.args.common.quiet || !emit,
        );
        let file = reader.name().to_string();
        while let Some(kind) = reader.next_item()? {
            if !matches!(kind, Line::Data) {
                continue;
            }
            let line = reader.line_no();
            let raw = reader.line();
            let verdict = self.validator.check(e, line, raw);
            rep.total += 1;
            progress.inc(1);
            let Some(main) = verdict.violations.first() else {
                rep.valid += 1;
                if let Some(w) = writer.as_deref_mut() {
                    // Valid items parsed as JSON, so they are UTF-8: copied byte for byte.
                    let text = std::str::from_utf8(raw)
                        .with_context(|| format!("{file}:{line}: not UTF-8"))?;
                    w.object(text)?;
                }
                continue;
            };
            rep.invalid += 1;
            *rep.by_rule.entry(main.rule.name()).or_default() += 1;
            let mut rules: Vec<Rule> = verdict.violations.iter().map(|x| x.rule).collect();
            rules.dedup();
            for r in rules {
                *rep.violations.entry(r.name()).or_default() += 1;
            }
            if !emit {
                continue;
            }
            let reason = verdict.reason();
            self.rejects.add(&Reject {
                file: &file,
                line: Some(line),
                table: name,
                column: Some(main.attribute.as_str()).filter(|a| !a.is_empty()),
                value: main.value.as_deref(),
                reason: &reason,
                rule: Some(main.rule.name()),
                rowid: None,
                record: record_value(raw),
            })?;
            if self.listed.len() < self.args.max_listed {
                self.listed.push(Listed {
                    entity: name,
                    line,
                    legacy_id: verdict.legacy,
                    key: verdict.key.clone(),
                    rule: main.rule.name(),
                    attribute: main.attribute.clone(),
                    reason,
                });
            } else {
                self.not_listed += 1;
            }
        }
        progress.finish();
        Ok(())
    }
}

/// The entities asked for (`selected`, in the fixed order) and those to read (`needed`):
/// sales need the buyers and producers to check their references.
fn entities(args: &Args) -> (Vec<Entity>, Vec<Entity>) {
    let all = [Entity::Buyers, Entity::Producers, Entity::Sales];
    let selected: Vec<Entity> = if args.entities.is_empty() {
        all.to_vec()
    } else {
        all.into_iter()
            .filter(|e| args.entities.contains(e))
            .collect()
    };
    let sales = selected.contains(&Entity::Sales);
    let needed: Vec<Entity> = all
        .into_iter()
        .filter(|e| selected.contains(e) || sales)
        .collect();
    (selected, needed)
}

/// Where an entity's files are read: the input, or for one read only for the sales'
/// references, `--references` when given.
fn source_dir(args: &Args, emit: bool) -> &Path {
    match (&args.references, emit) {
        (Some(r), false) => r,
        _ => &args.input,
    }
}

/// Every input is checked before anything is written, so a usage error leaves no trace.
fn check_inputs(args: &Args, selected: &[Entity], needed: &[Entity]) -> anyhow::Result<()> {
    if !args.input.is_dir() {
        return Err(FerryError::Usage(format!(
            "input folder {} does not exist (run the transforms first, or pass --input DIR)",
            args.input.display()
        ))
        .into());
    }
    for &e in needed {
        let p = source_dir(args, selected.contains(&e)).join(format!("{}.ndjson", e.name()));
        if !p.is_file() {
            let why = if selected.contains(&e) {
                format!("run transform-{}", e.name())
            } else {
                "the sales' references are checked against it".to_string()
            };
            return Err(FerryError::Usage(format!("{} is missing ({why})", p.display())).into());
        }
    }
    Ok(())
}

/// What an earlier run left must not pass for this run's result if this one stops
/// half-way: its rejects of the entities validated now (those of the others stay: a run
/// for sales alone must not erase the buyers' rejects), its report, and (unless a dry
/// run) its validated files.
fn remove_stale(args: &Args, selected: &[Entity]) -> anyhow::Result<()> {
    let names: Vec<&str> = selected.iter().map(|e| e.name()).collect();
    // The earlier run's whole file is kept aside before its lines of these entities go.
    if let Some(kept) = ferry_shared::fsutil::copy_aside(&args.rejects)? {
        tracing::info!("the earlier run's rejects are kept as {}", kept.display());
    }
    crate::files::retain_other_tables(&args.rejects, &names)?;
    let mut stale = vec![args.report_file.clone()];
    if !args.dry_run {
        stale.extend(
            selected
                .iter()
                .map(|e| args.output.join(format!("{}.ndjson", e.name()))),
        );
    }
    for p in stale.iter().filter(|p| p.is_file()) {
        fs_err::remove_file(p).context("remove the previous run's file")?;
    }
    Ok(())
}

/// Sums over the entities validated.
fn totals(entities: &BTreeMap<&'static str, EntityReport>) -> Totals {
    let mut totals = Totals::default();
    for r in entities.values() {
        totals.total += r.total;
        totals.valid += r.valid;
        totals.invalid += r.invalid;
        totals.rejected_by_transform += r.rejected_by_transform;
        totals.source_records += r.source_records;
    }
    totals
}

/// Runs `validate-s9`.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let (selected, needed) = entities(&args);
    check_inputs(&args, &selected, &needed)?;
    remove_stale(&args, &selected)?;
    let started = std::time::Instant::now();
    let mut report = RunReport::start("validate-s9");
    report.dry_run = args.dry_run;
    let mut run = Run {
        args: &args,
        validator: Validator::new(),
        rejects: Rejects::new(args.rejects.clone(), true, args.max_rejects),
        listed: Vec::new(),
        not_listed: 0,
    };
    let mut entities = BTreeMap::new();
    let mut notes = Vec::new();
    for e in needed {
        let name = e.name();
        let emit = selected.contains(&e);
        let t0 = std::time::Instant::now();
        let mut rep = EntityReport::default();
        let tr = source_dir(&args, emit).join(format!("{name}.rejects.ndjson"));
        read_transform_rejects(&tr, e, &mut run.validator, args.max_listed, &mut rep)
            .with_context(|| format!("read {}", tr.display()))?;
        run.entity(e, emit, &mut rep)
            .with_context(|| format!("validate {}", rep.file))?;
        if !emit {
            let note = format!(
                "{name}: read for the sales' references only ({} of {} valid)",
                rep.valid, rep.total
            );
            tracing::info!("{note}");
            notes.push(note);
            continue;
        }
        if rep.rejected_by_transform > 0 {
            tracing::warn!(
                "{name}: {} source records were rejected by transform-{name} ({}); they are not validated or loaded",
                rep.rejected_by_transform,
                tr.display()
            );
        }
        let mut stats = TableStats::new(name);
        stats.migrated = rep.valid;
        stats.errors = rep.invalid;
        stats.duration_secs = t0.elapsed().as_secs_f64();
        report.tables.push(stats);
        entities.insert(name, rep);
    }
    run.rejects.flush()?;
    let totals = totals(&entities);
    let invalid = totals.invalid;
    let transform_rejected = totals.rejected_by_transform;
    if invalid > 0 && args.continue_on_error {
        tracing::warn!(
            "{invalid} invalid items (see {}); exiting 0 because of --continue-on-error",
            args.rejects.display()
        );
        notes.push(format!(
            "--continue-on-error: exit 0 despite {invalid} invalid items"
        ));
    }
    let vr = ValidationReport {
        tool: "validate-s9",
        generated_at: now(),
        duration_secs: started.elapsed().as_secs_f64(),
        input: args.input.display().to_string(),
        output: (!args.dry_run).then(|| args.output.display().to_string()),
        rejects_file: args.rejects.display().to_string(),
        dry_run: args.dry_run,
        continue_on_error: args.continue_on_error,
        valid: invalid == 0,
        entities,
        totals,
        invalid_items: run.listed,
        invalid_items_not_listed: run.not_listed,
        notes: notes.clone(),
    };
    ferry_shared::fsutil::write_json_atomic(&args.report_file, &vr)
        .with_context(|| format!("write {}", args.report_file.display()))?;
    let mut code = report.finish();
    if run.rejects.count() > 0 {
        report.rejects_file = Some(args.rejects.display().to_string());
    }
    report
        .notes
        .push(format!("validation report: {}", args.report_file.display()));
    report.notes.extend(notes);
    if invalid > 0 && args.continue_on_error {
        code = Exit::Ok;
        report.exit_code = code.code();
    }
    if args.strict && transform_rejected > 0 && code == Exit::Ok {
        tracing::error!("--strict: {transform_rejected} records were rejected by the transforms");
        code = Exit::Rejects;
        report.exit_code = code.code();
    }
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}
