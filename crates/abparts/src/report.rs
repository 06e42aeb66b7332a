//! `reports/migration_report_{migration_id}.json`, in the shape of the reference's reports
//! (migration id, times, status, the 11 steps, validation errors, rollback info), plus what
//! Ferry adds: the dry-run flag, the fingerprints, the not-migrated rows and both validations.

use crate::checks::ValidationReport;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Now, ISO 8601 with `+00:00` as the reference writes it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// The 11 steps: name and description as the reference's reports have them.
pub const STEPS: [(&str, &str); 11] = [
    (
        "validate_current_schema",
        "Validate current database schema and data integrity",
    ),
    (
        "backup_existing_data",
        "Create backup of existing data for rollback capability",
    ),
    (
        "migrate_organizations",
        "Migrate organizations to new business model structure",
    ),
    (
        "create_default_warehouses",
        "Create default warehouses for existing organizations",
    ),
    (
        "migrate_users",
        "Migrate users with new role and status structure",
    ),
    (
        "migrate_parts",
        "Migrate parts with new classification system",
    ),
    (
        "migrate_machines",
        "Migrate machines with proper customer relationships",
    ),
    (
        "migrate_inventory",
        "Migrate inventory to warehouse-based system",
    ),
    (
        "create_initial_transactions",
        "Create initial transaction records for existing inventory",
    ),
    (
        "validate_migrated_data",
        "Validate all migrated data for integrity and business rules",
    ),
    (
        "cleanup_old_data",
        "Clean up temporary migration data and optimize database",
    ),
];

/// A step's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not reached.
    NotStarted,
    /// Running.
    InProgress,
    /// Done.
    Completed,
    /// Failed (the transaction was rolled back).
    Failed,
}

/// One step of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// State.
    pub status: Status,
    /// Start.
    pub started_at: Option<String>,
    /// End.
    pub completed_at: Option<String>,
    /// Seconds.
    pub duration_secs: Option<f64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Records handled.
    pub records_processed: i64,
    /// Records to handle.
    pub records_total: i64,
}

/// What a rollback needs to know, and what happened to the database after a failure.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackInfo {
    /// The backup file.
    pub backup_file: Option<PathBuf>,
    /// Rows in it.
    pub backup_rows: u64,
    /// How a failure was undone: the transaction was rolled back.
    pub automatic: Option<String>,
    /// The command that restores the BEFORE state after a committed migration.
    pub command: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// UUID v4.
    pub migration_id: String,
    /// A dry run (rolled back at the end).
    pub dry_run: bool,
    /// Start.
    pub started_at: String,
    /// End.
    pub completed_at: Option<String>,
    /// Seconds.
    pub duration_secs: f64,
    /// `completed` or `failed`.
    pub status: &'static str,
    /// Rows written by steps 3–9.
    pub total_records_migrated: i64,
    /// Problems of step 1 or step 10 (each a line).
    pub validation_errors: Vec<String>,
    /// Backup and rollback.
    pub rollback_info: Option<RollbackInfo>,
    /// Fingerprint digest before the run.
    pub fingerprint_before: Option<String>,
    /// Fingerprint digest when the run ended (equal to before after a failure or dry run).
    pub fingerprint_after: Option<String>,
    /// Rows and values that have no place in the AFTER model (also in the backup).
    pub not_migrated: Vec<serde_json::Value>,
    /// Step 1's findings.
    pub pre_validation: Option<ValidationReport>,
    /// Step 10's 31 checks.
    pub post_validation: Option<ValidationReport>,
    /// The steps.
    pub steps: Vec<Step>,
    #[serde(skip)]
    clock: Option<Instant>,
}

impl MigrationReport {
    /// A report with the 11 steps not started.
    pub fn new(dry_run: bool) -> MigrationReport {
        let steps = STEPS
            .iter()
            .map(|(name, description)| Step {
                name,
                description,
                status: Status::NotStarted,
                started_at: None,
                completed_at: None,
                duration_secs: None,
                error_message: None,
                records_processed: 0,
                records_total: 0,
            })
            .collect();
        MigrationReport {
            migration_id: uuid::Uuid::new_v4().to_string(),
            dry_run,
            started_at: now(),
            completed_at: None,
            duration_secs: 0.0,
            status: "in_progress",
            total_records_migrated: 0,
            validation_errors: Vec::new(),
            rollback_info: None,
            fingerprint_before: None,
            fingerprint_after: None,
            not_migrated: Vec::new(),
            pre_validation: None,
            post_validation: None,
            steps,
            clock: Some(Instant::now()),
        }
    }

    /// Closes the report.
    pub fn finish(&mut self, ok: bool) {
        self.status = if ok { "completed" } else { "failed" };
        self.completed_at = Some(now());
        self.duration_secs = self.clock.map_or(0.0, |c| c.elapsed().as_secs_f64());
        self.total_records_migrated = self.steps[2..9].iter().map(|s| s.records_processed).sum();
    }

    /// `dir/migration_report_{id}.json`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("migration_report_{}.json", self.migration_id))
    }

    /// Writes it (atomically).
    pub fn write(&self, dir: &Path) -> ferry_shared::Result<PathBuf> {
        fs_err::create_dir_all(dir)?;
        let p = self.path(dir);
        ferry_shared::fsutil::write_json_atomic(&p, self)?;
        Ok(p)
    }
}
