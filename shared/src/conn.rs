//! Connection options shared by every tool: URLs, secrets, TLS, connect with retry.
//!
//! One clap `Args` struct per side (`--source`, `--target`) is flattened into each tool, so
//! the flags, environment variables and error messages are spelled the same everywhere.

use crate::error::{DbContext, FerryError, Result};
use clap::Args;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod credentials;

/// Which kind of server or file a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    Mysql,
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// A SQLite file (`sqlite://PATH`).
    Sqlite,
    /// Amazon DynamoDB or a compatible local server (`dynamodb://REGION`).
    Dynamodb,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Mysql => "mysql",
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
            Engine::Dynamodb => "dynamodb",
        })
    }
}

/// TLS policy, from the URL's `?tls=` parameter (or PostgreSQL's `sslmode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP (the default; local servers).
    Disable,
    /// Encrypt, but accept any certificate (like `sslmode=require`).
    Require,
    /// Encrypt and verify the certificate and host name.
    Verify,
}

/// A password that never prints.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The password itself, only for handing to a driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A parsed, validated connection target.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The engine.
    pub engine: Engine,
    /// Host name or address (servers).
    pub host: String,
    /// TCP port (servers).
    pub port: u16,
    /// User name (servers).
    pub user: String,
    /// Password, from the URL, a password file or the environment.
    pub password: Option<Secret>,
    /// Database name (servers); region for DynamoDB.
    pub database: Option<String>,
    /// File path (SQLite).
    pub path: Option<PathBuf>,
    /// Unix socket (MySQL `?socket=`).
    pub socket: Option<String>,
    /// TLS policy.
    pub tls: Tls,
    /// Endpoint URL for a DynamoDB-compatible local server.
    pub endpoint_url: Option<String>,
    /// Connect timeout in seconds (`?connect_timeout=`; default 10). It bounds each whole
    /// attempt (TCP, TLS, authentication and session set-up), not only the TCP handshake,
    /// so a server that accepts the connection and never answers cannot hang a run.
    pub connect_timeout: Option<u64>,
    /// Statement timeout in milliseconds (`?statement_timeout=`), set in the session.
    pub statement_timeout_ms: Option<u64>,
    /// Which side this is ("source" or "target"), for messages.
    pub side: &'static str,
    /// Where the password came from when it is not the usual place (the document's
    /// `READ_DB_PASSWORD`, `PGPASSWORD`, `~/.pgpass line 3`, `~/.my.cnf`), so a refused
    /// login names what the user set.
    pub password_from: Option<String>,
    /// Whether the URL named the user (else the engine's default is in `user`, and
    /// `~/.my.cnf` may name another).
    pub user_in_url: bool,
}

impl fmt::Display for Endpoint {
    /// The URL with the password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.engine {
            Engine::Sqlite => write!(
                f,
                "sqlite://{}",
                self.path.as_deref().unwrap_or(Path::new("")).display()
            ),
            Engine::Dynamodb => {
                write!(f, "dynamodb://{}", self.database.as_deref().unwrap_or(""))?;
                if let Some(u) = &self.endpoint_url {
                    write!(f, " (endpoint {u})")?;
                }
                Ok(())
            }
            _ => {
                write!(f, "{}://{}", self.engine, self.user)?;
                if self.password.is_some() {
                    f.write_str(":***")?;
                }
                write!(f, "@{}:{}", self.host, self.port)?;
                if let Some(db) = &self.database {
                    write!(f, "/{db}")?;
                }
                Ok(())
            }
        }
    }
}

impl Endpoint {
    /// `host:port` for messages.
    pub fn addr(&self) -> String {
        match &self.socket {
            Some(s) => format!("socket {s}"),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// The database name, or a usage error naming the flag.
    pub fn require_database(&self) -> Result<&str> {
        self.database.as_deref().ok_or_else(|| {
            FerryError::Usage(format!(
                "--{} {self} names no database; add /DATABASE to the URL",
                self.side
            ))
        })
    }
}

/// Replaces `user:password@` in any URL inside `s` with `user:***@`.
///
/// Applied to every error line, so a driver that echoes its connection string cannot leak.
pub fn redact_urls(s: &str) -> String {
    rewrite_url_passwords(s, Some("***"))
}

/// Removes `:password` from any URL inside `s` (`user:pw@host` becomes `user@host`): for a
/// command line printed to be run again, where a `***` would be taken as the password and
/// the password is to come from the environment instead.
pub fn strip_url_passwords(s: &str) -> String {
    rewrite_url_passwords(s, None)
}

/// [`redact_urls`] and [`strip_url_passwords`]: each URL's password replaced by `mask`, or
/// removed with its colon.
fn rewrite_url_passwords(s: &str, mask: Option<&str>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon]);
                if let Some(m) = mask {
                    out.push(':');
                    out.push_str(m);
                }
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Decodes `%XX` escapes; bytes that are not UTF-8 become U+FFFD rather than a panic.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a connection URL. `side` is "source" or "target" and names the flag in errors.
///
/// Server URLs are read by the `url` crate (WHATWG rules: `[::1]`, percent-encoded and
/// non-ASCII user names and passwords, the last `@` ending the user part). `sqlite://PATH`
/// and `dynamodb://REGION` have no authority and are split by hand.
pub fn parse_url(url: &str, side: &'static str) -> Result<Endpoint> {
    let bad = |why: &str| {
        FerryError::Usage(format!(
            "--{side} {}: {why} (expected mysql://, mariadb://, postgres://, sqlite://PATH or dynamodb://REGION)",
            redact_urls(url)
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not a URL"))?;
    let engine = match scheme.to_ascii_lowercase().as_str() {
        "mysql" | "mariadb" => Engine::Mysql,
        "postgres" | "postgresql" => Engine::Postgres,
        "sqlite" => Engine::Sqlite,
        "dynamodb" => Engine::Dynamodb,
        _ => return Err(bad("unknown scheme")),
    };
    let mut ep = Endpoint::defaults(engine, side);
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        ep.apply_param(&k, &v).map_err(|why| bad(&why))?;
    }
    match engine {
        Engine::Sqlite if rest.is_empty() => return Err(bad("no file path")),
        Engine::Sqlite => ep.path = Some(PathBuf::from(percent_decode(rest))),
        Engine::Dynamodb => {
            let region = rest.trim_end_matches('/');
            ep.database = Some(
                if region.is_empty() {
                    "us-east-1"
                } else {
                    region
                }
                .into(),
            );
        }
        _ => {
            let parsed =
                url::Url::parse(&format!("{scheme}://{rest}")).map_err(|e| bad(&e.to_string()))?;
            ep.apply_server(&parsed);
        }
    }
    Ok(ep)
}

impl Endpoint {
    /// The endpoint a URL describes before its parts are read: local host, default port,
    /// `root` for MySQL and `$USER` for PostgreSQL, no TLS.
    fn defaults(engine: Engine, side: &'static str) -> Endpoint {
        Endpoint {
            engine,
            host: "127.0.0.1".into(),
            port: match engine {
                Engine::Mysql => 3306,
                Engine::Postgres => 5432,
                _ => 0,
            },
            user: match engine {
                Engine::Mysql => "root".into(),
                _ => std::env::var("USER").unwrap_or_else(|_| "postgres".into()),
            },
            password: None,
            database: None,
            path: None,
            socket: None,
            tls: Tls::Disable,
            endpoint_url: None,
            connect_timeout: None,
            statement_timeout_ms: None,
            side,
            password_from: None,
            user_in_url: false,
        }
    }

    /// Applies one `?key=value` parameter (already decoded), or says why it is wrong.
    fn apply_param(&mut self, k: &str, v: &str) -> std::result::Result<(), String> {
        match k {
            "tls" | "sslmode" | "ssl-mode" => {
                self.tls = match v.to_ascii_lowercase().as_str() {
                    "disable" | "disabled" | "false" | "prefer" | "allow" => Tls::Disable,
                    "require" | "required" | "true" => Tls::Require,
                    "verify" | "verify-full" | "verify-ca" | "verify_identity" => Tls::Verify,
                    _ => return Err(format!("unknown tls mode {v:?}")),
                }
            }
            "socket" => self.socket = Some(v.to_string()),
            "connect_timeout" => {
                let secs = v
                    .parse()
                    .map_err(|_| format!("connect_timeout {v:?} is not seconds"))?;
                self.connect_timeout = Some(secs);
            }
            "statement_timeout" => {
                let ms = v
                    .parse()
                    .map_err(|_| format!("statement_timeout {v:?} is not milliseconds"))?;
                self.statement_timeout_ms = Some(ms);
            }
            "endpoint" | "endpoint_url" => self.endpoint_url = Some(v.to_string()),
            _ => return Err(format!("unknown parameter {k:?}")),
        }
        Ok(())
    }

    /// Takes host, port, user, password and database from a parsed server URL.
    fn apply_server(&mut self, u: &url::Url) {
        match u.host() {
            Some(url::Host::Ipv6(a)) => self.host = a.to_string(),
            Some(h) => self.host = percent_decode(&h.to_string()),
            None => {}
        }
        if let Some(port) = u.port() {
            self.port = port;
        }
        if !u.username().is_empty() {
            self.user = percent_decode(u.username());
            self.user_in_url = true;
        }
        if let Some(p) = u.password() {
            self.password = Some(Secret::new(percent_decode(p)));
        }
        let db = u.path().trim_start_matches('/');
        if !db.is_empty() {
            self.database = Some(percent_decode(db));
        }
    }
}

/// Source connection flags, flattened into every tool that reads a database.
#[derive(Args, Debug, Clone, Default, serde::Serialize)]
pub struct SourceArgs {
    /// Source URL: mysql://USER@HOST:PORT/DB, mariadb://…, postgres://USER@HOST/DB or
    /// sqlite://PATH. The password comes from FERRY_SOURCE_PASSWORD, a .env file or
    /// --source-password-file.
    // A tool that reads fewer kinds replaces this help with its own (`mut_arg("source", …)`).
    #[arg(
        long = "source",
        env = "FERRY_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: Option<String>,
    /// File whose first line is the source password.
    #[arg(long, env = "FERRY_SOURCE_PASSWORD_FILE", value_name = "FILE")]
    pub source_password_file: Option<PathBuf>,
}

/// Target connection flags, flattened into every tool that writes a database.
#[derive(Args, Debug, Clone, Default, serde::Serialize)]
pub struct TargetArgs {
    /// Target URL: postgres://USER@HOST/DB, mysql://USER@HOST:PORT/DB, mariadb://… or
    /// sqlite://PATH. The password comes from FERRY_TARGET_PASSWORD, a .env file or
    /// --target-password-file.
    // A tool that writes fewer kinds replaces this help with its own (`mut_arg("target", …)`).
    #[arg(
        long = "target",
        env = "FERRY_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: Option<String>,
    /// File whose first line is the target password.
    #[arg(long, env = "FERRY_TARGET_PASSWORD_FILE", value_name = "FILE")]
    pub target_password_file: Option<PathBuf>,
    /// Endpoint URL of a DynamoDB-compatible server, set by code only: no tool that takes
    /// these flags writes to DynamoDB, so none shows `--endpoint-url` (the DynamoDB tools
    /// have their own flags, `ferry_dynamo::client`).
    #[arg(skip)]
    #[serde(skip)]
    pub endpoint_url: Option<String>,
}

/// One side's endpoint: the flag or its FERRY_ variable (clap has read both into `url`), else
/// `DATABASE_URL` when the tool talks to this one database only (`database_url`); then the
/// password from the URL, the password file or `{env_prefix}_PASSWORD`. The client
/// conventions (`PGPASSWORD`, `.pgpass`, `.my.cnf`) come last, at connect time, so they
/// also follow the documents' own variables ([`with_client_conventions`]).
fn resolve(
    url: Option<&str>,
    password_file: Option<&Path>,
    side: &'static str,
    env_prefix: &str,
    database_url: bool,
) -> Result<Endpoint> {
    let fallback = if url.is_none() && database_url {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
    } else {
        None
    };
    let mut ep = match (url, fallback.as_deref()) {
        (Some(url), _) => parse_url(url, side)?,
        (None, Some(url)) => {
            let ep = parse_url(url, side).map_err(|e| {
                FerryError::Usage(format!(
                    "DATABASE_URL (the --{side}, as neither --{side} nor {env_prefix} is set): {e}"
                ))
            })?;
            tracing::info!("--{side} from DATABASE_URL: {ep}");
            ep
        }
        (None, None) => {
            let or_database_url = if database_url { " or DATABASE_URL" } else { "" };
            return Err(FerryError::Usage(format!(
                "no --{side} given (or {env_prefix}{or_database_url} in the environment or .env)"
            )));
        }
    };
    if ep.password.is_none() {
        if let Some(file) = password_file {
            let text = fs_err::read_to_string(file).map_err(|e| {
                FerryError::Usage(format!("--{side}-password-file {}: {e}", file.display()))
            })?;
            ep.password = Some(Secret::new(text.lines().next().unwrap_or("").to_string()));
        } else if let Ok(p) = std::env::var(format!("{env_prefix}_PASSWORD")) {
            ep.password = Some(Secret::new(p));
        }
    }
    Ok(ep)
}

impl SourceArgs {
    /// The source endpoint, with its password resolved.
    pub fn endpoint(&self) -> Result<Endpoint> {
        self.resolve(false)
    }

    /// The source of a tool that talks to this one database only (`extract`): as
    /// [`endpoint`](Self::endpoint), and `DATABASE_URL` when neither `--source` nor
    /// `FERRY_SOURCE` is given.
    pub fn endpoint_or_database_url(&self) -> Result<Endpoint> {
        self.resolve(true)
    }

    fn resolve(&self, database_url: bool) -> Result<Endpoint> {
        resolve(
            self.source.as_deref(),
            self.source_password_file.as_deref(),
            "source",
            "FERRY_SOURCE",
            database_url,
        )
    }
}

impl TargetArgs {
    /// The target endpoint, with its password resolved.
    pub fn endpoint(&self) -> Result<Endpoint> {
        self.resolve(false)
    }

    /// The target of a tool that talks to this one database only (the loaders,
    /// `apply-migrations`, `migrate-abparts`): as [`endpoint`](Self::endpoint), and
    /// `DATABASE_URL` when neither `--target` nor `FERRY_TARGET` is given.
    pub fn endpoint_or_database_url(&self) -> Result<Endpoint> {
        self.resolve(true)
    }

    fn resolve(&self, database_url: bool) -> Result<Endpoint> {
        let mut ep = resolve(
            self.target.as_deref(),
            self.target_password_file.as_deref(),
            "target",
            "FERRY_TARGET",
            database_url,
        )?;
        if self.endpoint_url.is_some() {
            ep.endpoint_url.clone_from(&self.endpoint_url);
        }
        Ok(ep)
    }
}

/// `ep` as it connects: Ferry's own password (URL, variable, file, a document's variables)
/// when it has one, else the client conventions of its engine ([`credentials`]): for
/// PostgreSQL `PGPASSWORD`, then the passfile; for MySQL `~/.my.cnf`'s `password`, and its
/// `user` when the URL names none. Where the password came from goes to the debug log and
/// into refused-login messages; the password itself never.
fn with_client_conventions(ep: &Endpoint) -> std::borrow::Cow<'_, Endpoint> {
    use std::borrow::Cow;
    match ep.engine {
        Engine::Postgres if ep.password.is_none() => {
            let port = ep.port.to_string();
            let key = credentials::PgKey {
                host: credentials::pgpass_host(&ep.host, ep.socket.as_deref()),
                port: &port,
                database: ep.database.as_deref().unwrap_or(&ep.user),
                user: &ep.user,
            };
            let Some(found) = credentials::postgres_password(&key) else {
                return Cow::Borrowed(ep);
            };
            tracing::debug!("{ep}: password from {}", found.from);
            let mut ep = ep.clone();
            ep.password = Some(found.password);
            ep.password_from = Some(found.from);
            Cow::Owned(ep)
        }
        Engine::Mysql if ep.password.is_none() || !ep.user_in_url => {
            let Some((cnf, path)) = credentials::my_cnf() else {
                return Cow::Borrowed(ep);
            };
            let mut out = ep.clone();
            if let (Some(user), false) = (cnf.user, ep.user_in_url) {
                tracing::debug!("{ep}: user {user:?} from {}", path.display());
                out.user = user;
            }
            if let (Some(password), None) = (cnf.password, &ep.password) {
                tracing::debug!("{ep}: password from {}", path.display());
                out.password = Some(password);
                out.password_from = Some(path.display().to_string());
            }
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(ep),
    }
}

/// How many connect attempts are made on transient errors (`FERRY_CONNECT_RETRIES`).
fn connect_attempts() -> u32 {
    std::env::var("FERRY_CONNECT_RETRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        + 1
}

/// Retries `f` with the shared backoff ([`crate::retry::policy`]) while the error is transient.
async fn with_retry<T, F, Fut, E>(
    ep: &Endpoint,
    f: F,
    transient: fn(&E) -> bool,
) -> std::result::Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: fmt::Display,
{
    use backon::Retryable;
    let retries = connect_attempts() - 1;
    f.retry(crate::retry::policy(
        Duration::from_millis(250),
        retries as usize,
    ))
    .sleep(tokio::time::sleep)
    .when(transient)
    .notify(|e, delay| {
        tracing::warn!(
            "connect to {} failed ({}), retrying in {delay:?} (at most {retries} retries)",
            ep.addr(),
            redact_urls(&e.to_string()),
        );
    })
    .await
}

fn io_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | Interrupted
    )
}

/// A failed PostgreSQL connection attempt: the server's or driver's error, or no answer
/// within the connect timeout.
#[derive(Debug)]
enum PgAttempt {
    Pg(tokio_postgres::Error),
    TimedOut(Duration),
}

impl fmt::Display for PgAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgAttempt::Pg(e) => write!(f, "{e}"),
            PgAttempt::TimedOut(d) => write!(
                f,
                "no answer within the connect timeout of {}s (the server accepted the connection but did not complete the start-up)",
                d.as_secs()
            ),
        }
    }
}

fn pg_transient(e: &PgAttempt) -> bool {
    let PgAttempt::Pg(e) = e else {
        return true;
    };
    if let Some(db) = e.as_db_error() {
        // 57P03: the database system is starting up; 53300: too many connections.
        return matches!(db.code().code(), "57P03" | "53300");
    }
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(io_transient)
        || e.to_string().contains("timed out")
}

/// One connection attempt, TLS or not, bounded as a whole by `limit`; the connection task
/// runs in the background.
async fn pg_attempt(
    cfg: &tokio_postgres::Config,
    tls: Option<&postgres_native_tls::MakeTlsConnector>,
    limit: Duration,
) -> std::result::Result<tokio_postgres::Client, PgAttempt> {
    let attempt = async {
        match tls {
            None => {
                let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("postgres connection closed: {e}");
                    }
                });
                Ok(client)
            }
            Some(tls) => {
                let (client, conn) = cfg.connect(tls.clone()).await?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("postgres connection closed: {e}");
                    }
                });
                Ok(client)
            }
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r.map_err(PgAttempt::Pg),
        Err(_) => Err(PgAttempt::TimedOut(limit)),
    }
}

/// The TLS connector for `Tls::Require`/`Tls::Verify`, none for `Tls::Disable`.
fn pg_tls(ep: &Endpoint) -> Result<Option<postgres_native_tls::MakeTlsConnector>> {
    if ep.tls == Tls::Disable {
        return Ok(None);
    }
    let mut b = native_tls::TlsConnector::builder();
    if ep.tls == Tls::Require {
        b.danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
    }
    let connector = b
        .build()
        .map_err(|e| FerryError::Connect(format!("TLS setup failed: {e}")))?;
    Ok(Some(postgres_native_tls::MakeTlsConnector::new(connector)))
}

/// The error for a connection that could not be made, naming where and what to check.
fn pg_connect_error(ep: &Endpoint, e: &PgAttempt) -> FerryError {
    let db_error = match e {
        PgAttempt::Pg(e) => e.as_db_error(),
        PgAttempt::TimedOut(_) => None,
    };
    // 28P01 bad password, 28000 no such role/auth rule, 3D000 no such database.
    let auth = db_error.is_some_and(|d| matches!(d.code().code(), "28P01" | "28000" | "3D000"));
    let detail = match (db_error, e) {
        (Some(db), _) => db.message().to_string(),
        (None, PgAttempt::Pg(e)) => std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string()),
        (None, t) => t.to_string(),
    };
    let make = if auth {
        FerryError::Auth
    } else {
        FerryError::Connect
    };
    make(format!(
        "cannot connect to PostgreSQL at {} as {:?}, database {:?}: {}; check that the server runs and the URL{} is right",
        ep.addr(),
        ep.user,
        ep.database.as_deref().unwrap_or(&ep.user),
        redact_urls(&detail),
        match &ep.password_from {
            Some(from) => format!(" and the password (from {from})"),
            None => format!(" and FERRY_{}_PASSWORD", ep.side.to_uppercase()),
        }
    ))
}

/// Connects to PostgreSQL; the connection task runs in the background. Every attempt,
/// start-up and session set-up included, is bounded by the connect timeout; a statement
/// timeout from the URL is set in the session.
pub async fn connect_postgres(ep: &Endpoint) -> Result<tokio_postgres::Client> {
    let ep = &*with_client_conventions(ep);
    let limit = Duration::from_secs(ep.connect_timeout.unwrap_or(10).max(1));
    let mut cfg = tokio_postgres::Config::new();
    match &ep.socket {
        Some(s) => cfg.host_path(s),
        None => cfg.host(&ep.host),
    };
    cfg.port(ep.port)
        .user(&ep.user)
        .dbname(ep.database.as_deref().unwrap_or(&ep.user))
        .application_name("ferry")
        .connect_timeout(limit);
    if let Some(p) = &ep.password {
        cfg.password(p.expose());
    }
    let tls = pg_tls(ep)?;
    if tls.is_some() {
        cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
    }
    let client = with_retry(ep, || pg_attempt(&cfg, tls.as_ref(), limit), pg_transient)
        .await
        .map_err(|e| pg_connect_error(ep, &e))?;
    let mut setup = String::from(
        "SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'",
    );
    if let Some(ms) = ep.statement_timeout_ms {
        setup.push_str(&format!("; SET statement_timeout = {ms}"));
    }
    match tokio::time::timeout(limit, client.batch_execute(&setup)).await {
        Ok(r) => r.with_db_context(|| format!("session setup on {}", ep.addr()))?,
        Err(_) => return Err(pg_connect_error(ep, &PgAttempt::TimedOut(limit))),
    }
    Ok(client)
}

/// Connects to MySQL/MariaDB with utf8mb4, UTC and strict mode, so values are never changed
/// silently by the server.
pub async fn connect_mysql(ep: &Endpoint) -> Result<mysql_async::Conn> {
    let ep = &*with_client_conventions(ep);
    let mut b = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ep.host.clone())
        .tcp_port(ep.port)
        .user(Some(ep.user.clone()))
        .pass(ep.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(ep.database.clone())
        .prefer_socket(false)
        .socket(ep.socket.clone())
        .init(vec![
            "SET NAMES utf8mb4",
            "SET time_zone = '+00:00'",
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'",
        ]);
    if ep.tls != Tls::Disable {
        let mut ssl = mysql_async::SslOpts::default();
        if ep.tls == Tls::Require {
            ssl = ssl
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true);
        }
        b = b.ssl_opts(ssl);
    }
    let opts = mysql_async::Opts::from(b);
    let transient = |e: &mysql_async::Error| match e {
        mysql_async::Error::Io(mysql_async::IoError::Io(e)) => io_transient(e),
        // 1040: too many connections.
        mysql_async::Error::Server(s) => s.code == 1040,
        _ => false,
    };
    with_retry(ep, || mysql_async::Conn::new(opts.clone()), transient)
        .await
        .map_err(|e| {
            let hint = match &e {
                mysql_async::Error::Server(s) if s.code == 1045 => match &ep.password_from {
                    Some(var) => format!("; check the user and password ({var})"),
                    None => format!(
                        "; check the user and password (FERRY_{}_PASSWORD, .env or --{}-password-file)",
                        ep.side.to_uppercase(),
                        ep.side
                    ),
                },
                mysql_async::Error::Server(s) if s.code == 1049 => "; check the database name".into(),
                mysql_async::Error::Io(_) => "; check that the server runs and listens there".into(),
                _ => String::new(),
            };
            let msg = format!(
                "cannot connect to MySQL at {} as {:?}: {}{hint}",
                ep.addr(),
                ep.user,
                redact_urls(&e.to_string())
            );
            match &e {
                mysql_async::Error::Server(s) if matches!(s.code, 1044 | 1045 | 1049 | 1698) => {
                    FerryError::Auth(msg)
                }
                _ => FerryError::Connect(msg),
            }
        })
}

/// Opens a SQLite file. Sources are opened read-only so a typo never creates an empty file.
pub fn open_sqlite(ep: &Endpoint, read_only: bool) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let path = ep
        .path
        .as_deref()
        .ok_or_else(|| FerryError::Usage("sqlite URL without a path".into()))?;
    if read_only && !path.exists() {
        return Err(FerryError::NotFound(format!(
            "SQLite file {} does not exist",
            path.display()
        )));
    }
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| {
        FerryError::Connect(format!("cannot open SQLite file {}: {e}", path.display()))
    })?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| FerryError::Connect(format!("{}: {e}", path.display())))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let ep = parse_url(
            "mysql://app:s3cr%40t@db.example:3307/shop?tls=require",
            "source",
        )
        .expect("parse");
        assert_eq!(ep.engine, Engine::Mysql);
        assert_eq!(ep.host, "db.example");
        assert_eq!(ep.port, 3307);
        assert_eq!(ep.user, "app");
        assert_eq!(ep.password.as_ref().map(Secret::expose), Some("s3cr@t"));
        assert_eq!(ep.database.as_deref(), Some("shop"));
        assert_eq!(ep.tls, Tls::Require);
        let shown = ep.to_string();
        assert!(!shown.contains("s3cr"), "{shown}");
        assert_eq!(shown, "mysql://app:***@db.example:3307/shop");
        assert_eq!(
            redact_urls("failed: postgres://u:hunter2@h:5432/db bad"),
            "failed: postgres://u:***@h:5432/db bad"
        );
    }

    /// IPv6 hosts, non-ASCII and percent-encoded secrets, and bad ports: parsed or refused
    /// with a usage error, never a panic, and the password never in the message.
    #[test]
    fn awkward_urls() {
        let ep = parse_url("postgres://u@[::1]:5433/db", "source").expect("ipv6");
        assert_eq!((ep.host.as_str(), ep.port), ("::1", 5433));
        let ep = parse_url("mysql://app:pässwörd@h/db", "source").expect("non-ascii");
        assert_eq!(ep.password.as_ref().map(Secret::expose), Some("pässwörd"));
        let ep = parse_url("mysql://app:p%C3%A4ss%2Fw@h/db", "source").expect("encoded");
        assert_eq!(ep.password.as_ref().map(Secret::expose), Some("päss/w"));
        let ep = parse_url("mysql://app:p@ss@h:3307/d%20b", "source").expect("last @");
        assert_eq!(ep.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!((ep.host.as_str(), ep.port), ("h", 3307));
        assert_eq!(ep.database.as_deref(), Some("d b"));
        let ep = parse_url("mysql://app:%E2%82@h/db", "source").expect("cut sequence");
        assert_eq!(ep.password.as_ref().map(Secret::expose), Some("\u{fffd}"));
        let err = parse_url("mysql://app:sécret@h:99999/db", "source").expect_err("port");
        assert!(!err.to_string().contains("sécret"), "{err}");
        assert!(matches!(err, FerryError::Usage(_)));
        let ep = parse_url("mysql://h/db?socket=%2Frun%2Fmy.sock", "source").expect("socket");
        assert_eq!(ep.socket.as_deref(), Some("/run/my.sock"));
    }

    #[test]
    fn sqlite_and_dynamo() {
        let ep = parse_url("sqlite:///tmp/a.db", "source").expect("parse");
        assert_eq!(ep.path.as_deref(), Some(Path::new("/tmp/a.db")));
        let ep = parse_url("dynamodb://eu-west-1", "target").expect("parse");
        assert_eq!(ep.database.as_deref(), Some("eu-west-1"));
        assert!(parse_url("oracle://x", "source").is_err());
    }
}
