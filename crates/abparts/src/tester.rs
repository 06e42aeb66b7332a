//! `test`: each sample is generated in its own scratch database (never the operator's), then
//! migrated for real, validated, and — for `rollback` and `comprehensive` — rolled back from
//! its backup with the fingerprint compared. Results in
//! `reports/migration_test_results_{test_id}.json` with durations and sizes.

use crate::cli::{SampleSize, TestArgs, TestKind};
use crate::engine::{self, Ctx};
use crate::fingerprint::Fingerprint;
use ferry_shared::sql::quote_pg;
use ferry_shared::{DbContext, Exit, FerryError, Result};
use serde::Serialize;
use std::time::Instant;

/// The BEFORE schema: `fixtures/abparts/before.sql` up to its end-of-schema line.
pub fn before_schema() -> &'static str {
    let all = include_str!("../../../fixtures/abparts/before.sql");
    all.split("-- ferry: end of schema").next().unwrap_or(all)
}

/// Defines `pg_temp.ferry_abparts_generate(orgs, users, parts, machines, inventory, stop_dirt)`.
pub const GENERATE: &str = include_str!("../sql/generate.sql");

/// A sample: name, description and the sizes the reference's tester uses.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Organizations.
    pub orgs: i32,
    /// Users.
    pub users: i32,
    /// Parts.
    pub parts: i32,
    /// Machines.
    pub machines: i32,
    /// Inventory rows.
    pub inventory: i32,
}

const fn sample(name: &'static str, description: &'static str, sizes: [i32; 5]) -> Sample {
    let [orgs, users, parts, machines, inventory] = sizes;
    Sample {
        name,
        description,
        orgs,
        users,
        parts,
        machines,
        inventory,
    }
}

/// The reference's table (section 7).
pub const SAMPLES: [Sample; 5] = [
    sample(
        "minimal_sample",
        "Minimal test data with basic entities",
        [3, 5, 10, 2, 20],
    ),
    sample(
        "small_sample",
        "Small production-like sample",
        [10, 25, 50, 15, 100],
    ),
    sample(
        "medium_sample",
        "Medium production-like sample",
        [25, 75, 100, 50, 500],
    ),
    sample(
        "large_sample",
        "Large production-like sample",
        [50, 150, 200, 100, 1000],
    ),
    sample(
        "production_scale",
        "Full production scale sample",
        [100, 200, 200, 150, 7500],
    ),
];

fn of(size: SampleSize) -> Sample {
    let i = match size {
        SampleSize::MinimalSample => 0,
        SampleSize::SmallSample => 1,
        SampleSize::MediumSample => 2,
        SampleSize::LargeSample => 3,
        SampleSize::ProductionScale => 4,
    };
    SAMPLES[i]
}

/// Durations and sizes of one sample.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Metrics {
    /// Seconds to generate the sample.
    pub generate_secs: f64,
    /// Seconds of the migration.
    pub migration_secs: f64,
    /// Seconds of the post-migration validation.
    pub validation_secs: f64,
    /// Seconds of the rollback, when run.
    pub rollback_secs: Option<f64>,
    /// Database size before, MB.
    pub database_size_before_mb: f64,
    /// Database size after the migration, MB.
    pub database_size_after_mb: f64,
}

/// One sample's result, in the reference's shape plus the rollback proof.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// Name.
    pub sample_name: &'static str,
    /// Description.
    pub sample_description: &'static str,
    /// Passed.
    pub success: bool,
    /// Why not.
    pub error_message: Option<String>,
    /// Timings and sizes.
    pub performance_metrics: Option<Metrics>,
    /// The migration report's status.
    pub migration_status: Option<&'static str>,
    /// The 31 checks' summary.
    pub validation_summary: Option<String>,
    /// After the rollback, the fingerprint equals the one before the migration.
    pub rollback_fingerprint_equal: Option<bool>,
    /// The migration id.
    pub migration_id: Option<String>,
}

/// The file.
#[derive(Debug, Serialize)]
struct TestReport {
    test_id: String,
    timestamp: String,
    test_type: String,
    results: Vec<TestResult>,
}

/// Creates the scratch database and fills it with the sample.
async fn prepare(ctx: &Ctx, db: &str, s: &Sample) -> Result<ferry_shared::conn::Endpoint> {
    let admin = crate::db::connect(&ctx.ep).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_pg(db)))
        .await
        .with_db_context(|| format!("create database {db}"))?;
    let mut ep = ctx.ep.clone();
    ep.database = Some(db.to_string());
    generate(&ep, s, false).await?;
    Ok(ep)
}

/// Creates the BEFORE schema in the (empty) database of `ep` and fills it with a sample;
/// `stop_dirt` adds the rows a careful migration must refuse (`ferry-gen abparts`).
pub async fn generate(
    ep: &ferry_shared::conn::Endpoint,
    s: &Sample,
    stop_dirt: bool,
) -> Result<()> {
    let c = crate::db::connect(ep).await?;
    c.batch_execute(before_schema())
        .await
        .db_context("create the BEFORE schema")?;
    c.batch_execute(GENERATE)
        .await
        .db_context("define the sample generator")?;
    c.execute(
        "SELECT pg_temp.ferry_abparts_generate($1, $2, $3, $4, $5, $6)",
        &[
            &s.orgs,
            &s.users,
            &s.parts,
            &s.machines,
            &s.inventory,
            &stop_dirt,
        ],
    )
    .await
    .with_db_context(|| format!("generate {}", s.name))?;
    Ok(())
}

/// The sample of a name (`minimal_sample` … `production_scale`).
pub fn sample_named(name: &str) -> Option<Sample> {
    SAMPLES.iter().copied().find(|s| s.name == name)
}

async fn size_mb(ep: &ferry_shared::conn::Endpoint) -> Result<f64> {
    let c = crate::db::connect(ep).await?;
    let bytes: i64 = c
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await
        .db_context("database size")?
        .get(0);
    Ok(bytes as f64 / 1_048_576.0)
}

/// Migrates, validates and (when asked) rolls back one sample; fills `r`.
async fn exercise(
    ctx: &Ctx,
    s: &Sample,
    db: &str,
    roll_back: bool,
    r: &mut TestResult,
) -> Result<()> {
    let mut m = Metrics::default();
    let clock = Instant::now();
    let ep = prepare(ctx, db, s).await?;
    m.generate_secs = clock.elapsed().as_secs_f64();
    m.database_size_before_mb = size_mb(&ep).await?;
    let before = Fingerprint::take(&crate::db::connect(&ep).await?).await?;
    let sub = Ctx {
        ep: ep.clone(),
        mapping: ctx.mapping.clone(),
        migrations: ctx.migrations.clone(),
        reports: ctx.reports.clone(),
        backups: ctx.backups.clone(),
        fail_at: None,
    };
    let clock = Instant::now();
    let (rep, outcome) = engine::run(&sub, false).await;
    m.migration_secs = clock.elapsed().as_secs_f64();
    rep.write(&ctx.reports)?;
    r.migration_status = Some(rep.status);
    r.migration_id = Some(rep.migration_id.clone());
    r.performance_metrics = Some(m.clone());
    outcome?;
    let backup = rep
        .rollback_info
        .as_ref()
        .and_then(|i| i.backup_file.clone());
    let clock = Instant::now();
    let v = crate::commands::validation(&sub).await?;
    m.validation_secs = clock.elapsed().as_secs_f64();
    m.database_size_after_mb = size_mb(&ep).await?;
    r.validation_summary = Some(v.summary.clone());
    r.performance_metrics = Some(m.clone());
    if !v.is_valid {
        return Err(FerryError::Failed(format!(
            "post-migration validation: {}",
            v.problems().join("; ")
        )));
    }
    let path =
        backup.ok_or_else(|| FerryError::Failed("the migration wrote no backup file".into()))?;
    if !roll_back {
        fs_err::remove_file(&path)?;
    } else {
        let clock = Instant::now();
        let (header, mut reader) = crate::restore::read_header(&path)?;
        let mut c = crate::db::connect(&ep).await?;
        let tx = c.transaction().await.db_context("begin the rollback")?;
        crate::restore::restore(&tx, &header, &mut reader).await?;
        tx.commit().await.db_context("commit the rollback")?;
        m.rollback_secs = Some(clock.elapsed().as_secs_f64());
        let after = Fingerprint::take(&c).await?;
        r.rollback_fingerprint_equal = Some(after == before);
        r.performance_metrics = Some(m);
        fs_err::remove_file(&path)?;
        if after != before {
            return Err(FerryError::Failed(format!(
                "after the rollback the fingerprint differs: {}",
                before.differences(&after).join("; ")
            )));
        }
    }
    Ok(())
}

async fn drop_db(ctx: &Ctx, db: &str) {
    if let Ok(c) = crate::db::connect(&ctx.ep).await {
        let _ = c
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_pg(db)
            ))
            .await;
    }
}

/// `test`.
pub async fn test(ctx: &Ctx, a: &TestArgs) -> Result<Exit> {
    let test_id = uuid::Uuid::new_v4().to_string();
    let samples: Vec<Sample> = match a.kind {
        TestKind::Comprehensive => SAMPLES.to_vec(),
        TestKind::Rollback => vec![SAMPLES[0]],
        TestKind::Sample => vec![of(a.sample_size)],
    };
    let roll_back = a.kind != TestKind::Sample;
    let mut results = Vec::new();
    for s in &samples {
        let db = format!("ferry_abtest_{}_{}", &test_id[..8], s.name);
        tracing::info!(
            "testing {} ({} orgs, {} users, {} parts, {} machines, {} inventory) in {db}",
            s.name,
            s.orgs,
            s.users,
            s.parts,
            s.machines,
            s.inventory
        );
        let mut r = TestResult {
            sample_name: s.name,
            sample_description: s.description,
            success: false,
            error_message: None,
            performance_metrics: None,
            migration_status: None,
            validation_summary: None,
            rollback_fingerprint_equal: None,
            migration_id: None,
        };
        let outcome = exercise(ctx, s, &db, roll_back, &mut r).await;
        r.success = outcome.is_ok();
        r.error_message = outcome.err().map(|e| e.to_string());
        if !a.keep {
            drop_db(ctx, &db).await;
        }
        let m = r.performance_metrics.clone().unwrap_or_default();
        let line = format!(
            "{:<17} {}  migrate {:.2}s  validate {:.2}s  rollback {}  size {:.1} → {:.1} MB{}",
            s.name,
            if r.success { "PASSED" } else { "FAILED" },
            m.migration_secs,
            m.validation_secs,
            m.rollback_secs.map_or("-".into(), |x| format!("{x:.2}s")),
            m.database_size_before_mb,
            m.database_size_after_mb,
            r.error_message
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        );
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes());
        results.push(r);
    }
    let failed = results.iter().filter(|r| !r.success).count();
    let report = TestReport {
        test_id: test_id.clone(),
        timestamp: crate::report::now(),
        test_type: format!("{:?}", a.kind).to_lowercase(),
        results,
    };
    fs_err::create_dir_all(&ctx.reports)?;
    let p = ctx
        .reports
        .join(format!("migration_test_results_{test_id}.json"));
    ferry_shared::fsutil::write_json_atomic(&p, &report)?;
    tracing::info!("test report {}", p.display());
    if failed > 0 {
        return Err(FerryError::Failed(format!(
            "Testing failed: {failed} of {} sample(s) failed ({})",
            report.results.len(),
            p.display()
        )));
    }
    Ok(Exit::Ok)
}
