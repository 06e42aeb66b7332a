//! The ABParts restructuring (`docs/migrations/abparts.md`): a PostgreSQL database in the
//! BEFORE model (free-text organization types and roles, integer inventory per
//! organization) changed in place to the AFTER model (enums, parents, warehouses, decimal
//! inventory with units, transactions), in the document's 11 steps.
//!
//! The whole restructuring is one transaction: PostgreSQL's DDL is transactional, so a
//! failure at any step leaves the database exactly as it was, and a dry run is the real run
//! rolled back. A committed migration is undone from its JSON backup, and that rollback
//! commits only when the database's fingerprint equals the one taken before the migration.

pub mod backup;
pub mod before;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod db;
pub mod engine;
pub mod fingerprint;
pub mod keys;
pub mod mapping;
pub mod report;
pub mod restore;
pub mod steps;
pub mod tester;

use cli::{Cli, Command, LogLevel};
use ferry_generic::apply_migrations::Migration;
use ferry_shared::{Exit, FerryError};
use tracing_level::level_of;

/// The AFTER schema's migrations, shipped in the binary (`fixtures/abparts/migrations`).
const MIGRATIONS: [(&str, &str); 11] = [
    (
        "0001_enums.sql",
        include_str!("../../../fixtures/abparts/migrations/0001_enums.sql"),
    ),
    (
        "0002_organizations.sql",
        include_str!("../../../fixtures/abparts/migrations/0002_organizations.sql"),
    ),
    (
        "0003_warehouses.sql",
        include_str!("../../../fixtures/abparts/migrations/0003_warehouses.sql"),
    ),
    (
        "0004_users.sql",
        include_str!("../../../fixtures/abparts/migrations/0004_users.sql"),
    ),
    (
        "0005_parts.sql",
        include_str!("../../../fixtures/abparts/migrations/0005_parts.sql"),
    ),
    (
        "0006_machines.sql",
        include_str!("../../../fixtures/abparts/migrations/0006_machines.sql"),
    ),
    (
        "0007_inventory.sql",
        include_str!("../../../fixtures/abparts/migrations/0007_inventory.sql"),
    ),
    (
        "0008_decimal_quantities.sql",
        include_str!("../../../fixtures/abparts/migrations/0008_decimal_quantities.sql"),
    ),
    (
        "0009_transactions.sql",
        include_str!("../../../fixtures/abparts/migrations/0009_transactions.sql"),
    ),
    (
        "0010_stock_adjustments.sql",
        include_str!("../../../fixtures/abparts/migrations/0010_stock_adjustments.sql"),
    ),
    (
        "0011_inventory_triggers.sql",
        include_str!("../../../fixtures/abparts/migrations/0011_inventory_triggers.sql"),
    ),
];

mod tracing_level {
    use super::LogLevel;
    use tracing_subscriber::filter::LevelFilter;

    /// The document's level names as a filter.
    pub fn level_of(l: LogLevel) -> LevelFilter {
        match l {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warning => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// The context of a command: connection, rules, migrations, folders.
fn context(cli: &Cli) -> Result<engine::Ctx, FerryError> {
    let target = ferry_shared::conn::TargetArgs {
        target: cli.target.clone(),
        target_password_file: cli.target_password_file.clone(),
        endpoint_url: None,
    };
    let ep = target.endpoint_or_database_url()?;
    if ep.engine != ferry_shared::conn::Engine::Postgres {
        return Err(FerryError::Usage(format!(
            "--target {ep} is not a postgres:// URL"
        )));
    }
    ep.require_database()?;
    let migrations = match &cli.migrations_dir {
        Some(dir) => ferry_generic::apply_migrations::read_dir(dir)?,
        None => MIGRATIONS
            .iter()
            .map(|(f, s)| Migration::new(f, s))
            .collect(),
    };
    let fail_at = std::env::var("FERRY_TEST_FAIL_AT_STEP")
        .ok()
        .and_then(|v| v.parse().ok());
    Ok(engine::Ctx {
        ep,
        mapping: mapping::Mapping::load(cli.mapping.as_deref())?,
        migrations,
        reports: cli.reports_dir.clone(),
        backups: cli.backups_dir.clone(),
        fail_at,
    })
}

async fn dispatch(cli: Cli) -> Result<Exit, FerryError> {
    let ctx = context(&cli)?;
    match &cli.command {
        Command::Validate => commands::validate(&ctx).await,
        Command::Migrate(a) => commands::migrate(&ctx, a).await,
        Command::Test(a) => tester::test(&ctx, a).await,
        Command::Rollback(a) => commands::rollback(&ctx, a).await,
        Command::Status => commands::status(&ctx).await,
        Command::Fingerprint => commands::fingerprint(&ctx).await,
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let common = ferry_shared::cli::CommonArgs {
        log_file: Some(cli.logs_dir.join("migration.log")),
        ..Default::default()
    };
    ferry_shared::logging::init_at(&common, level_of(cli.log_level))?;
    let rt = ferry_shared::exit::runtime()?;
    Ok(rt.block_on(dispatch(cli))?)
}

/// `migrate-abparts`'s main.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("migrate-abparts", run)
}
