//! Typed errors of the shared crate and their exit codes.
//!
//! Library code returns [`FerryError`]; binaries wrap it in `anyhow` with context and
//! [`crate::exit::exit_code_for`] finds the typed error again to pick the documented exit code.

/// The documented exit codes (docs/exit-codes.md). Kept in one place so every tool agrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything was read and written.
    Ok = 0,
    /// A runtime failure: a server, a file, a bug. The run may be resumed.
    Failure = 1,
    /// Bad flags, a bad URL, a missing table or column: fix the command and rerun.
    Usage = 2,
    /// The run finished but rejected rows; they are in the rejects file.
    Rejects = 3,
    /// Stopped by Ctrl+C (SIGINT) after the last committed unit: resume with `--resume`.
    Interrupted = 130,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Errors that carry a meaning for the user and therefore an exit code.
#[derive(Debug, thiserror::Error)]
pub enum FerryError {
    /// The command line or configuration is wrong.
    #[error("{0}")]
    Usage(String),
    /// A connection could not be made; the message names host:port and what to check.
    #[error("{0}")]
    Connect(String),
    /// The server refused the credentials: a configuration error, retrying will not help.
    #[error("{0}")]
    Auth(String),
    /// A table, column or file named by the user does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A file could not be read or written. `fs-err` puts the path and the operation in the
    /// message, so the error names the file without a hand-written wrapper.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An input line is not a JSON object (line numbers are 1-based).
    #[error("{file}:{line}: {reason}")]
    BadRecord {
        /// Input name ("-" for stdin).
        file: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// More rows were rejected than `--max-rejects` allows.
    #[error("stopped after {0} rejected rows (--max-rejects); see the rejects file")]
    TooManyRejects(u64),
    /// A server answered with an error during the run; the driver's error is kept as the
    /// source together with its SQLSTATE or MySQL error number.
    #[error(transparent)]
    Database(Box<DbError>),
    /// A run-time failure that is no server's error: a worker that died, counts that differ.
    #[error("{0}")]
    Failed(String),
    /// The stream ended before its end marker: the producer died.
    #[error("{0}")]
    Truncated(String),
    /// A checkpoint does not belong to this run.
    #[error("{0}")]
    Checkpoint(String),
    /// Ctrl+C: the message says what was saved and how to go on.
    #[error("{0}")]
    Interrupted(String),
}

impl FerryError {
    /// The exit code that this error stands for.
    pub fn exit(&self) -> Exit {
        match self {
            FerryError::Usage(_) | FerryError::NotFound(_) | FerryError::Auth(_) => Exit::Usage,
            FerryError::TooManyRejects(_) => Exit::Rejects,
            FerryError::Interrupted(_) => Exit::Interrupted,
            _ => Exit::Failure,
        }
    }
}

impl From<DbError> for FerryError {
    fn from(e: DbError) -> Self {
        FerryError::Database(Box::new(e))
    }
}

/// The code a server or service gave with its error, for decisions that must not parse text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbCode {
    /// A PostgreSQL SQLSTATE such as `23505`.
    SqlState(String),
    /// A MySQL/MariaDB error number and its SQLSTATE.
    Mysql {
        /// The server's error number, e.g. 1062 for a duplicate key.
        code: u16,
        /// The SQLSTATE the server paired with it.
        state: String,
    },
    /// A SQLite extended result code.
    Sqlite(i32),
    /// An AWS service's error code such as `ResourceNotFoundException`.
    Service(String),
}

/// A server's error with what Ferry was doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct DbError {
    /// What Ferry was doing: "read shop.orders", "COPY public.t".
    pub context: String,
    /// The server's message (with its detail), free of connection secrets.
    pub message: String,
    /// The server's error code, when it gave one.
    pub code: Option<DbCode>,
    /// The driver's error, kept for `source()` chains and downcasts.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DbError {
    /// Wraps a driver error with what was being done.
    pub fn wrap<E: DriverError>(context: impl Into<String>, e: E) -> Self {
        DbError {
            context: context.into(),
            message: e.message(),
            code: e.code(),
            source: Some(Box::new(e)),
        }
    }

    /// A database-side failure found by Ferry itself (a table missing right after CREATE).
    pub fn other(context: impl Into<String>, message: impl Into<String>) -> Self {
        DbError {
            context: context.into(),
            message: message.into(),
            code: None,
            source: None,
        }
    }
}

/// A driver's error: its message as the user should read it and its code.
pub trait DriverError: std::error::Error + Send + Sync + Sized + 'static {
    /// The server's words (with detail when the driver has it).
    fn message(&self) -> String {
        self.to_string()
    }
    /// The server's error code, when the error came from the server.
    fn code(&self) -> Option<DbCode>;
}

impl DriverError for tokio_postgres::Error {
    fn message(&self) -> String {
        match self.as_db_error() {
            Some(db) => match db.detail() {
                Some(d) => format!("{} ({d})", db.message()),
                None => db.message().to_string(),
            },
            None => self.to_string(),
        }
    }
    fn code(&self) -> Option<DbCode> {
        self.code().map(|c| DbCode::SqlState(c.code().to_string()))
    }
}

impl DriverError for mysql_async::Error {
    fn code(&self) -> Option<DbCode> {
        match self {
            mysql_async::Error::Server(e) => Some(DbCode::Mysql {
                code: e.code,
                state: e.state.clone(),
            }),
            _ => None,
        }
    }
}

impl DriverError for rusqlite::Error {
    fn code(&self) -> Option<DbCode> {
        match self {
            rusqlite::Error::SqliteFailure(e, _) => Some(DbCode::Sqlite(e.extended_code)),
            _ => None,
        }
    }
}

/// Adds what was being done to a driver error: the one way every crate turns a driver's error
/// into a [`FerryError::Database`].
pub trait DbContext<T> {
    /// Wraps the error with a fixed description.
    fn db_context(self, context: &str) -> Result<T>;
    /// Wraps the error with a description built only on failure.
    fn with_db_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: DriverError> DbContext<T> for std::result::Result<T, E> {
    fn db_context(self, context: &str) -> Result<T> {
        self.map_err(|e| DbError::wrap(context, e).into())
    }
    fn with_db_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| DbError::wrap(context(), e).into())
    }
}

/// Result alias for the shared crate.
pub type Result<T, E = FerryError> = std::result::Result<T, E>;
