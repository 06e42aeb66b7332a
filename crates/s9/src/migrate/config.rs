//! The document's `config.json`: source, target tables and migration settings, with
//! `${VAR}` replaced from the environment or `.env`.

use ferry_shared::FerryError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The document's configuration file.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub source: SourceCfg,
    #[serde(default)]
    pub target: TargetCfg,
    #[serde(default)]
    pub migration: MigrationCfg,
    /// CloudWatch metrics and logs (docs/cloudwatch.md).
    #[serde(default)]
    pub cloudwatch: ferry_cloudwatch::CloudWatchConfig,
}

/// The S9 database.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SourceCfg {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ssl: Option<bool>,
    /// Milliseconds: bounds the whole connection (TCP, TLS, authentication, start-up).
    pub connection_timeout: Option<u64>,
    /// Milliseconds: bounds each statement (*Ferry's addition*; none by default, since an
    /// extraction page or a count of a large table may rightly take long).
    pub statement_timeout: Option<u64>,
}

/// The DynamoDB tables (each key may be left out: the document's names).
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetCfg {
    pub region: String,
    pub sales_table: String,
    pub buyers_table: String,
    pub producers_table: String,
    /// A local DynamoDB-compatible server (not in the document: for tests and rehearsals).
    pub endpoint_url: Option<String>,
}

impl Default for TargetCfg {
    fn default() -> Self {
        TargetCfg {
            region: "us-east-1".into(),
            sales_table: "SalesTable-dev".into(),
            buyers_table: "BuyersTable-dev".into(),
            producers_table: "ProducersTable-dev".into(),
            endpoint_url: None,
        }
    }
}

/// How the load behaves (each key may be left out: the document's values).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MigrationCfg {
    pub batch_size: u64,
    pub max_retries: u32,
    pub continue_on_error: bool,
    pub backup_before_load: bool,
    /// Restore the tables this run changed from the backups it took when a load fails
    /// (default: on when `backupBeforeLoad` is).
    pub rollback_on_error: Option<bool>,
    /// Seconds before the first retry (the document's retryDelay).
    pub retry_delay: Option<f64>,
    /// `false`: every retry waits exactly `retryDelay`.
    pub exponential_backoff: Option<bool>,
    /// Milliseconds between batches.
    pub batch_delay: Option<u64>,
    pub concurrency: Option<usize>,
}

impl Default for MigrationCfg {
    fn default() -> Self {
        MigrationCfg {
            batch_size: 25,
            max_retries: 3,
            continue_on_error: false,
            backup_before_load: true,
            rollback_on_error: None,
            retry_delay: None,
            exponential_backoff: None,
            batch_delay: None,
            concurrency: None,
        }
    }
}

impl MigrationCfg {
    /// Whether a failed load restores the tables from this run's backups.
    pub fn rollback_on_error(&self) -> bool {
        self.rollback_on_error.unwrap_or(self.backup_before_load)
    }
}

/// Reads the configuration (`config.json` when it exists and none is named).
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None if Path::new("config.json").exists() => PathBuf::from("config.json"),
        None => {
            tracing::info!("no config.json: using defaults and FERRY_SOURCE");
            return Ok(Config::default());
        }
    };
    let text = fs_err::read_to_string(&path)
        .map_err(|e| FerryError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let bad = |e: serde_json::Error| FerryError::Usage(format!("{}: {e}", path.display()));
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    ferry_shared::cli::interpolate_json(&mut value)?;
    Ok(serde_json::from_value(value).map_err(bad)?)
}

/// The source URL from the configuration (password kept out of it: it travels in
/// FERRY_SOURCE_PASSWORD). `connectionTimeout` becomes `connect_timeout` (the whole
/// connection), `statementTimeout` `statement_timeout`, both read by Ferry's connector.
pub fn source_url(c: &SourceCfg) -> Option<String> {
    let host = c.host.as_ref()?;
    let mut u = format!(
        "postgres://{}@{}:{}/{}",
        c.username.as_deref().unwrap_or("postgres"),
        host,
        c.port.unwrap_or(5432),
        c.database.as_deref().unwrap_or("postgres")
    );
    let mut q = Vec::new();
    if let Some(ssl) = c.ssl {
        q.push(format!(
            "sslmode={}",
            if ssl { "require" } else { "disable" }
        ));
    }
    if let Some(t) = c.connection_timeout {
        q.push(format!("connect_timeout={}", t.div_ceil(1000)));
    }
    if let Some(t) = c.statement_timeout {
        q.push(format!("statement_timeout={t}"));
    }
    if !q.is_empty() {
        u.push('?');
        u.push_str(&q.join("&"));
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_url_keeps_the_password_out() {
        let c = SourceCfg {
            host: Some("s9-database.internal".into()),
            port: Some(5432),
            database: Some("s9_production".into()),
            username: Some("migration_user".into()),
            password: Some("pw".into()),
            ssl: Some(true),
            connection_timeout: Some(30000),
            statement_timeout: Some(600000),
        };
        assert_eq!(
            source_url(&c).unwrap(),
            "postgres://migration_user@s9-database.internal:5432/s9_production?sslmode=require&connect_timeout=30&statement_timeout=600000"
        );
    }
}
