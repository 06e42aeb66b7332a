//! `load-mysql`: NDJSON → MySQL/MariaDB table through `LOAD DATA LOCAL INFILE`.

use crate::load::{self, ddl, mysql, LoadArgs, Plan};
use clap::Parser;
use ferry_shared::conn::Engine;
use ferry_shared::sql::split_qualified;
use ferry_shared::{DbContext, DbError, Exit, FerryError};
use mysql_async::prelude::*;

const EXAMPLES: &str = "\
Examples:
  extract --source mysql://root@127.0.0.1/legacy --table orders | \\
    load-mysql --target mysql://root@127.0.0.1/shop --table orders --create -
  load-mysql --target mysql://root@127.0.0.1/shop --table orders orders.ndjson --mode ignore --resume";

/// Command line of `load-mysql`.
#[derive(Parser, Debug)]
#[command(
    name = "load-mysql",
    version,
    about = "Load NDJSON into a MySQL/MariaDB table with LOAD DATA LOCAL INFILE, casting to the table's real types.",
    after_help = EXAMPLES,
    mut_arg("target", |a| a.help("Target URL: mysql://USER@HOST:PORT/DB or mariadb://USER@HOST:PORT/DB \
(else DATABASE_URL). \
The password comes from FERRY_TARGET_PASSWORD, a .env file or --target-password-file"))
)]
pub struct Args {
    #[command(flatten)]
    load: LoadArgs,
}

/// Runs `load-mysql`.
pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let a = &args.load;
    ferry_shared::logging::init(&a.common)?;
    let ep = a.target.endpoint_or_database_url()?;
    if ep.engine != Engine::Mysql {
        return Err(FerryError::Usage(format!("--target {ep} is not a mysql:// URL")).into());
    }
    let (db, table) = split_qualified(&a.table);
    let db = match db {
        Some(d) => d.to_string(),
        None => ep.require_database()?.to_string(),
    };
    let target_name = format!("{ep} {db}.{table}");
    let (resume, opened) = load::begin(a, "load-mysql", &target_name)?;
    let mut conn = ferry_shared::conn::connect_mysql(&ep).await?;
    let target = match mysql::describe(&mut conn, &db, table).await? {
        Some(t) => t,
        None if a.create => {
            let s = load::create_schema(&opened)?;
            let ddl = ddl::create_mysql(&db, table, s);
            if a.run.dry_run {
                tracing::info!("dry run: would create\n{ddl}");
                return Err(FerryError::Usage(format!(
                    "dry run: {db}.{table} does not exist; create it first to validate rows against it"
                ))
                .into());
            }
            tracing::info!("creating {db}.{table}");
            if let Err(e) = conn.query_drop(&ddl).await {
                // Shards started together all create the table: one wins, the others find
                // it made and load into it.
                if mysql::describe(&mut conn, &db, table).await?.is_none() {
                    return Err(e).with_db_context(|| format!("create {db}.{table}"))?;
                }
                tracing::info!("{db}.{table} was created meanwhile by another process");
            }
            mysql::describe(&mut conn, &db, table)
                .await?
                .ok_or_else(|| DbError::other(format!("{db}.{table}"), "not found after CREATE"))?
        }
        None => return Err(load::missing_table(&format!("{db}.{table}"), &ep.to_string()).into()),
    };
    let columns =
        load::target_columns::<mysql::MyTarget>(a, &opened, &target, &format!("{db}.{table}"))?;
    let cols = columns
        .iter()
        .map(|c| (c.name.clone(), c.logical.clone()))
        .collect();
    let plan = Plan {
        target: mysql::MyTarget::new(conn, &db, table, cols, target.primary_key.clone())
            .read_limits()
            .await?,
        columns,
        has_unique: target.has_unique,
        target_name,
        deferred_key: None,
    };
    load::run_load("load-mysql", a, opened, plan, resume).await
}

/// The whole of `load-mysql`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("load-mysql", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
