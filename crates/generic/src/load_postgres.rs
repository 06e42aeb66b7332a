//! `load-postgres`: NDJSON → PostgreSQL table through binary COPY.

use crate::load::cast::ZeroDatePolicy;
use crate::load::{self, ddl, pg, LoadArgs, Plan};
use clap::{Parser, ValueEnum};
use ferry_shared::conn::Engine;
use ferry_shared::schema::{LogicalType, TableSchema};
use ferry_shared::sql::{literal_pg, quote_pg, split_qualified};
use ferry_shared::{DbContext, DbError, Exit, FerryError};

const EXAMPLES: &str = "\
Examples:
  # a pipeline: the schema travels in the stream's header, --create makes the table
  extract --source mysql://root@127.0.0.1/shop --table orders | \\
    load-postgres --target postgres://postgres@127.0.0.1/app --table orders --create -
  # a file with its sidecar (orders.schema.json beside it), resumable, upserting
  load-postgres --target postgres://postgres@127.0.0.1/app --table sales.orders orders.ndjson --mode upsert --resume
  # validate every row against the table's types without writing
  load-postgres --target postgres://postgres@127.0.0.1/app --table orders orders.ndjson --dry-run";

/// What to do with U+0000 in text, which PostgreSQL cannot store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Nul {
    /// Reject the row (default: nothing changes silently).
    Reject,
    /// Remove the NUL characters and count the conversion in the report.
    Strip,
}

/// Command line of `load-postgres`.
#[derive(Parser, Debug)]
#[command(
    name = "load-postgres",
    version,
    about = "Load NDJSON into a PostgreSQL table with binary COPY, casting to the table's real types.",
    after_help = EXAMPLES,
    mut_arg("target", |a| a.help(crate::apply_migrations::PG_TARGET_HELP))
)]
pub struct Args {
    #[command(flatten)]
    load: LoadArgs,
    /// U+0000 in text: reject the row, or strip it (reported as a conversion).
    #[arg(long, value_enum, default_value_t = Nul::Reject)]
    nul: Nul,
    /// MySQL zero dates, which PostgreSQL has no value for: `null`, `reject`, or a date to
    /// put instead (YYYY-MM-DD[ HH:MM:SS]). Default: a full zero date (0000-00-00) becomes
    /// NULL, a partial one (2020-05-00) is rejected. Every conversion is counted.
    #[arg(long, value_name = "null|reject|DATE")]
    zero_date: Option<ZeroDatePolicy>,
}

/// The schema to create: geometry columns become text (hex EWKB) when the target has no
/// PostGIS, with a warning naming them.
async fn without_postgis(
    client: &tokio_postgres::Client,
    s: &TableSchema,
) -> anyhow::Result<TableSchema> {
    if !s.columns.iter().any(|c| c.logical == LogicalType::Geometry) {
        return Ok(s.clone());
    }
    let has = client
        .query_one("SELECT to_regtype('geometry') IS NOT NULL", &[])
        .await
        .db_context("look for PostGIS")?
        .get::<_, bool>(0);
    if has {
        return Ok(s.clone());
    }
    let (text, changed) = ddl::geometry_as_text(s);
    tracing::warn!(
        "the target has no PostGIS: geometry column(s) {} created as text holding hex EWKB",
        changed.join(", ")
    );
    Ok(text)
}

/// Runs `load-postgres`.
/// The key to build after the load, when this run creates the table: a plain insert (or
/// truncate) of one process, not a shard (other shards load the same table) and not a mode
/// that needs the key while it loads (upsert, ignore).
fn defer_key<'s>(a: &load::LoadArgs, s: &'s TableSchema) -> Option<&'s [String]> {
    let plain = matches!(a.mode, load::Mode::Insert | load::Mode::Truncate);
    (plain && a.shard.shard.is_none() && !s.primary_key.is_empty())
        .then_some(s.primary_key.as_slice())
}

/// CREATE TABLE without the primary key, and the marker that says it is to be built (a
/// run that is not the resume of this load then refuses the table), in one transaction.
fn create_without_key(schema: &str, table: &str, s: &TableSchema) -> String {
    let mut keyless = s.clone();
    keyless.primary_key.clear();
    format!(
        "{}; COMMENT ON TABLE {}.{} IS {}",
        ddl::create_pg(schema, table, &keyless),
        quote_pg(schema),
        quote_pg(table),
        literal_pg(&pg::pending_key_comment(&s.primary_key))
    )
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let a = &args.load;
    ferry_shared::logging::init(&a.common)?;
    let ep = a.target.endpoint_or_database_url()?;
    if ep.engine != Engine::Postgres {
        return Err(FerryError::Usage(format!("--target {ep} is not a postgres:// URL")).into());
    }
    let (schema, table) = split_qualified(&a.table);
    let schema = schema.unwrap_or("public");
    let target_name = format!("{ep} {schema}.{table}");
    let (resume, opened) = load::begin(a, "load-postgres", &target_name)?;
    let client = ferry_shared::conn::connect_postgres(&ep).await?;
    let mut rel_schema = schema.to_string();
    let mut deferred = None;
    let target = match pg::describe(&client, schema, table).await? {
        Some(t) => t,
        None if a.create => {
            let s = &without_postgis(&client, load::create_schema(&opened)?).await?;
            let ddl = ddl::create_pg(schema, table, s);
            if a.run.dry_run {
                // Validate against the table as it would be, without creating it.
                tracing::info!("dry run: would create\n{ddl}");
                rel_schema = "pg_temp".into();
                client
                    .batch_execute(&ddl::create_pg_in(ddl::PgPlace::Temp, table, s))
                    .await
                    .db_context("dry-run table")?;
            } else {
                tracing::info!("creating {schema}.{table}");
                let ddl = match defer_key(a, s) {
                    Some(key) => {
                        deferred = Some(key.to_vec());
                        create_without_key(schema, table, s)
                    }
                    None => ddl,
                };
                if let Err(e) = client.batch_execute(&ddl).await {
                    // Shards started together all create the table: one wins, the others
                    // find it made and load into it.
                    if pg::describe(&client, schema, table).await?.is_none() {
                        return Err(e).with_db_context(|| format!("create {schema}.{table}"))?;
                    }
                    tracing::info!("{schema}.{table} was created meanwhile by another process");
                }
            }
            pg::describe(&client, &rel_schema, table)
                .await?
                .ok_or_else(|| {
                    DbError::other(format!("{schema}.{table}"), "not found after CREATE")
                })?
        }
        None => {
            return Err(load::missing_table(&format!("{schema}.{table}"), &ep.to_string()).into())
        }
    };
    let columns =
        load::target_columns::<pg::PgTarget>(a, &opened, &target, &format!("{schema}.{table}"))?;
    let names = columns.iter().map(|c| c.name.clone()).collect();
    let plan = Plan {
        target: pg::PgTarget::new(
            client,
            &rel_schema,
            table,
            names,
            target.primary_key.clone(),
        )
        .strip_nul(args.nul == Nul::Strip)
        .zero_date(args.zero_date.unwrap_or_default()),
        columns,
        has_unique: target.has_unique,
        target_name,
        deferred_key: deferred,
    };
    load::run_load("load-postgres", a, opened, plan, resume).await
}

/// The whole of `load-postgres`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("load-postgres", |args: Args| {
        ferry_shared::exit::block_on(run(args))
    })
}
