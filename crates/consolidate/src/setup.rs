//! Everything `run` settles before it touches the target: the databases, the settings
//! (flags over configuration), the table plans and their order, the migration's id and
//! folder, and the report's opening notes. Kept apart from the run so that the order of
//! the checks (and so which error a bad command meets first) is visible in one place.

use crate::config::{self, Config};
use crate::convert;
use crate::plan::{self, TablePlan};
use crate::state::{self, RunState};
use crate::Args;
use chrono::Offset as _;
use ferry_shared::cli::CommonArgs;
use ferry_shared::conn::{Endpoint, Engine, TargetArgs};
use ferry_shared::report::RunReport;
use ferry_shared::{FerryError, Result};
use std::path::{Path, PathBuf};

/// What a run does with the target. One value instead of two flags, because validate-only
/// implies a dry run and the three cases are all there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunMode {
    /// Rows are written.
    Migrate,
    /// Read, convert, validate and check the target; write nothing.
    DryRun,
    /// Read, convert and validate; do not connect to PostgreSQL.
    ValidateOnly,
}

impl RunMode {
    /// True when nothing is written (dry run or validate only).
    pub(crate) fn dry_run(self) -> bool {
        self != RunMode::Migrate
    }

    /// True when PostgreSQL is not touched at all.
    pub(crate) fn validate_only(self) -> bool {
        self == RunMode::ValidateOnly
    }

    /// The suffix of the opening log line.
    fn label(self) -> &'static str {
        match self {
            RunMode::Migrate => "",
            RunMode::DryRun => " (dry run)",
            RunMode::ValidateOnly => " (validate only)",
        }
    }
}

/// The run's settings, flags over configuration over defaults, resolved once so that the
/// rest of the run does not look at both sources again.
pub(crate) struct Settings {
    pub mode: RunMode,
    pub batch_size: usize,
    pub workers: usize,
    pub enable_rollback: bool,
    pub create_backup: bool,
    /// Target schema of mapped tables.
    pub schema: String,
    /// Zone of date-times written without one.
    pub zone: chrono::FixedOffset,
    /// Namespace of the UUIDs made from legacy ids.
    pub namespace: uuid::Uuid,
    /// Numbers in date columns ([`convert::Ctx::date_numbers`]).
    pub date_numbers: Option<Option<convert::DateUnit>>,
}

impl Settings {
    /// Resolves the settings; a bad timezone or UUID namespace is a usage error.
    pub(crate) fn resolve(args: &Args, cfg: &Config) -> Result<Settings> {
        let validate_only = args.validate_only || cfg.validate_only;
        let dry_run = args.dry_run || cfg.dry_run || validate_only;
        let mode = if validate_only {
            RunMode::ValidateOnly
        } else if dry_run {
            RunMode::DryRun
        } else {
            RunMode::Migrate
        };
        let zone = match &cfg.timezone {
            Some(z) => convert::parse_zone(z)
                .ok_or_else(|| FerryError::Usage(format!("timezone {z:?}: use UTC or ±HH:MM")))?,
            None => chrono::FixedOffset::east_opt(0).unwrap_or_else(|| chrono::Utc.fix()),
        };
        let namespace = match &cfg.uuid_namespace {
            Some(s) => uuid::Uuid::parse_str(s)
                .map_err(|e| FerryError::Usage(format!("uuid_namespace {s:?}: {e}")))?,
            None => convert::default_namespace(),
        };
        // Generic mode never guesses the unit of a number in a date column; the document's
        // mappings keep their magnitude rule unless a unit is named.
        let date_numbers = match (args.date_numbers, cfg.tables.is_empty()) {
            (Some(u), _) => Some(Some(u)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        Ok(Settings {
            mode,
            // 10,000 rows a batch by measurement (1M rows: 3.2 s, against 27.6 s at the
            // document's 1000, which a configuration or --batch-size still sets).
            batch_size: args.batch_size.or(cfg.batch_size).unwrap_or(10_000).max(1),
            workers: args.workers.or(cfg.max_workers).unwrap_or(4).max(1),
            enable_rollback: !args.no_rollback && cfg.enable_rollback.unwrap_or(true),
            create_backup: !args.no_backup && cfg.create_backup.unwrap_or(true),
            schema: args
                .schema
                .clone()
                .or(cfg.target_schema.clone())
                .unwrap_or_else(|| "public".into()),
            zone,
            namespace,
            date_numbers,
        })
    }
}

/// The configuration file (or an empty one) and the folder its relative paths start from.
pub(crate) fn load_config(args: &Args) -> Result<(Config, PathBuf)> {
    Ok(match &args.config {
        Some(p) => {
            let l = config::load(p)?;
            (l.config, l.base)
        }
        None => (Config::default(), PathBuf::from(".")),
    })
}

/// The common flags, with the configuration's `log_level: debug` acting as `-v`.
pub(crate) fn common_args(args: &Args, cfg: &Config) -> CommonArgs {
    let mut common = args.common.clone();
    if common.verbose == 0
        && cfg
            .log_level
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("debug"))
    {
        common.verbose = 1;
    }
    common
}

/// The databases: configuration, then positional files and --database (flags win). Each
/// file must exist.
pub(crate) fn database_files(
    args: &Args,
    cfg: &Config,
    base: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = cfg
        .sqlite_databases
        .iter()
        .map(|(n, p)| {
            (
                n.clone(),
                args.sqlite_dir.as_deref().unwrap_or(base).join(p),
            )
        })
        .collect();
    // A file or --database replaces the configuration's database of that name; two of
    // them with one name (`a/app.db`, `b/app.db`) are refused, never one dropped.
    let mut given: Vec<(String, PathBuf)> = Vec::new();
    for s in args.files.iter().chain(&args.databases) {
        let (n, p) = crate::database_arg(s);
        if let Some((_, other)) = given.iter().find(|g| g.0 == n) {
            return Err(FerryError::Usage(format!(
                "{} and {} are both database {n:?}: name them, e.g. {n}_2={}",
                other.display(),
                p.display(),
                p.display()
            )));
        }
        files.retain(|f| f.0 != n);
        given.push((n, p));
    }
    files.extend(given);
    if files.is_empty() {
        return Err(FerryError::Usage(
            "no SQLite databases: give files, --database NAME=PATH or a --config with sqlite_databases".into(),
        ));
    }
    for (n, p) in &files {
        if !p.exists() {
            return Err(FerryError::NotFound(format!(
                "SQLite file {} (database {n}) does not exist",
                p.display()
            )));
        }
    }
    Ok(files)
}

/// The table plans and the levels they run in (parents before children in mapped mode;
/// one level of everything in generic mode).
pub(crate) async fn plan_tables(
    cfg: &Config,
    files: &[(String, PathBuf)],
    schema: &str,
) -> Result<(Vec<TablePlan>, Vec<Vec<usize>>)> {
    if cfg.tables.is_empty() {
        let plans = plan::generic(files).await?;
        let levels = vec![(0..plans.len()).collect()];
        return Ok((plans, levels));
    }
    let plans = plan::mapped(&cfg.tables, files, schema)?;
    let levels = config::levels(&cfg.tables).map_err(FerryError::Usage)?;
    Ok((plans, levels))
}

/// The state of the migration being resumed (`--resume`): `--migration-id`, else the latest
/// interrupted (unfinished) migration into this target under `--work-dir`.
pub(crate) fn resumed(args: &Args, ep: Option<&Endpoint>) -> Result<Option<RunState>> {
    if !args.resume {
        return Ok(None);
    }
    let target = ep.map(ToString::to_string);
    let dir = match &args.migration_id {
        None => state::latest(&args.work_dir, &|st| {
            !st.finished && target.as_ref().is_none_or(|t| &st.target == t)
        })?,
        Some(id) => args.work_dir.join(id),
    };
    let st = state::read(&dir)?;
    if st.finished {
        tracing::info!(
            "migration {} had finished; rerunning it skips what is there",
            st.migration_id
        );
    }
    Ok(Some(st))
}

/// The migration's id and the files of its folder, named once.
pub(crate) struct Migration {
    /// The migration id (new, or the resumed one's).
    pub id: String,
    /// `--work-dir/ID`: checkpoint, key journals, rollback SQL, report.
    pub dir: PathBuf,
    /// The rejects file.
    pub rejects: PathBuf,
}

impl Migration {
    /// Names the migration (the resumed one's id, else a new one) and creates its folder.
    pub(crate) fn open(args: &Args, resumed: Option<&RunState>) -> Result<Migration> {
        let id = resumed
            .map(|r| r.migration_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let dir = args.work_dir.join(&id);
        fs_err::create_dir_all(dir.join("keys"))?;
        let rejects = args
            .rejects
            .clone()
            .unwrap_or_else(|| dir.join("rejects.ndjson"));
        Ok(Migration { id, dir, rejects })
    }
}

/// Starts the report, logs the opening line and notes what is not migrated: unmapped
/// columns and (mapped mode) tables the mapping does not name.
pub(crate) fn start_report(
    mode: RunMode,
    migration_id: &str,
    files: &[(String, PathBuf)],
    plans: &[TablePlan],
    mapped: bool,
) -> Result<RunReport> {
    let mut report = RunReport::start("sqlite-consolidate");
    report.dry_run = mode.dry_run();
    report.source = Some(
        files
            .iter()
            .map(|f| format!("{}={}", f.0, f.1.display()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    tracing::info!(
        "migration {migration_id}: {} tables from {} SQLite files{}",
        plans.len(),
        files.len(),
        mode.label()
    );
    for p in plans {
        for n in &p.notes {
            tracing::info!("{n}");
            report.notes.push(n.clone());
        }
        if !p.unmapped.is_empty() {
            report.notes.push(format!(
                "{}: source columns not mapped, not migrated: {}",
                p.key(),
                p.unmapped.join(", ")
            ));
        }
    }
    if mapped {
        note_unmapped_tables(&mut report, files, plans)?;
    }
    Ok(report)
}

/// Notes every source table the mapping does not name (it is not migrated).
fn note_unmapped_tables(
    report: &mut RunReport,
    files: &[(String, PathBuf)],
    plans: &[TablePlan],
) -> Result<()> {
    for (db, file) in files {
        let conn = plan::open(file)?;
        for t in plan::sqlite_tables(&conn)? {
            if !plans.iter().any(|p| &p.db == db && p.source == t) {
                report
                    .notes
                    .push(format!("{db}.{t}: table not in the mapping, not migrated"));
            }
        }
    }
    Ok(())
}

/// The PostgreSQL target (`--target`, else the configuration's URL), none when validating
/// only. Anything but a postgres:// URL is a usage error.
pub(crate) fn target_endpoint(
    args: &Args,
    cfg: &Config,
    mode: RunMode,
) -> Result<Option<Endpoint>> {
    if mode.validate_only() {
        return Ok(None);
    }
    let url = match (&args.target.target, &cfg.postgres_url) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(u)) => Some(ferry_shared::cli::interpolate(u)?),
        (None, None) => None,
    };
    let t = TargetArgs {
        target: url,
        ..args.target.clone()
    };
    let ep = t.endpoint()?;
    if ep.engine != Engine::Postgres {
        return Err(FerryError::Usage(format!(
            "--target {ep} is not a postgres:// URL"
        )));
    }
    Ok(Some(ep))
}

/// The state of a new migration: its id, start, target and the tables' load order.
pub(crate) fn new_state(
    migration_id: &str,
    ep: Option<&Endpoint>,
    plans: &[TablePlan],
    levels: &[Vec<usize>],
) -> RunState {
    RunState {
        migration_id: migration_id.to_string(),
        started_at: crate::now(),
        target: ep.map(ToString::to_string).unwrap_or_default(),
        order: levels.iter().flatten().map(|&i| plans[i].key()).collect(),
        ..Default::default()
    }
}
