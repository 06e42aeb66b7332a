//! The READ and WRITE servers, from `--source`/`--target` or the document's variables.

use clap::Args;
use ferry_shared::conn::{parse_url, Endpoint, Secret, SourceArgs, TargetArgs};
use ferry_shared::{FerryError, Result};
use std::collections::BTreeMap;

/// Connection flags of the MariaDB tools.
#[derive(Args, Debug, Clone, Default)]
#[command(
    mut_arg("source", |a| a.help("Source URL (the READ server): mysql://USER@HOST:PORT/ or \
mariadb://USER@HOST:PORT/; default READ_DB_HOST/PORT/USER/PASSWORD. The password comes from \
FERRY_SOURCE_PASSWORD, a .env file or --source-password-file")),
    mut_arg("target", |a| a.help("Target URL (the WRITE server): mysql://USER@HOST:PORT/ or \
mariadb://USER@HOST:PORT/; default WRITE_DB_HOST/PORT/USER/PASSWORD. The password comes from \
FERRY_TARGET_PASSWORD, a .env file or --target-password-file"))
)]
pub struct Servers {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Target database name for a source database: SRC=DST (repeatable), so source and
    /// target can live side by side on one server.
    #[arg(long = "map", value_name = "SRC=DST")]
    pub map: Vec<String>,
}

/// One side from `PREFIX_HOST`, `PREFIX_PORT`, `PREFIX_USER`, `PREFIX_PASSWORD`.
fn from_env(prefix: &str, side: &'static str) -> Result<Endpoint> {
    let get = |k: &str| {
        std::env::var(format!("{prefix}_{k}"))
            .ok()
            .filter(|v| !v.is_empty())
    };
    let (Some(host), Some(user)) = (get("HOST"), get("USER")) else {
        return Err(FerryError::Usage(format!(
            "Missing required environment variables: {prefix}_HOST and {prefix}_USER (or --{side} URL); set them in .env"
        )));
    };
    let port = get("PORT").unwrap_or_else(|| "3306".into());
    let mut ep = parse_url(&format!("mysql://{user}@{host}:{port}/"), side)?;
    ep.user = user;
    if let Some(p) = get("PASSWORD") {
        ep.password = Some(Secret::new(p));
    }
    ep.password_from = Some(format!("{prefix}_USER and {prefix}_PASSWORD"));
    Ok(ep)
}

impl Servers {
    /// The READ server: `--source`/`FERRY_SOURCE`, else `READ_DB_*`.
    pub fn read(&self) -> Result<Endpoint> {
        let ep = if self.source.source.is_some() {
            self.source.endpoint()?
        } else {
            from_env("READ_DB", "source")?
        };
        Self::mysql(ep)
    }
    /// The WRITE server: `--target`/`FERRY_TARGET`, else `WRITE_DB_*`.
    pub fn write(&self) -> Result<Endpoint> {
        let ep = if self.target.target.is_some() {
            self.target.endpoint()?
        } else {
            from_env("WRITE_DB", "target")?
        };
        Self::mysql(ep)
    }
    fn mysql(mut ep: Endpoint) -> Result<Endpoint> {
        if ep.engine != ferry_shared::conn::Engine::Mysql {
            return Err(FerryError::Usage(format!(
                "{ep} is not a mysql:// or mariadb:// URL"
            )));
        }
        // The tools name databases in every statement; the connection needs none.
        ep.database = None;
        Ok(ep)
    }
    /// The `--map` pairs.
    pub fn mapping(&self) -> Result<BTreeMap<String, String>> {
        self.map
            .iter()
            .map(|m| {
                m.split_once('=')
                    .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| FerryError::Usage(format!("--map {m:?}: use SRC=DST")))
            })
            .collect()
    }
}

/// The target name of source database `db`.
pub fn mapped<'a>(map: &'a BTreeMap<String, String>, db: &'a str) -> &'a str {
    map.get(db).map_or(db, String::as_str)
}
