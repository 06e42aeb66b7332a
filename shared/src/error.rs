//! Typed errors of the shared crate and their exit codes.
//!
//! Library code returns [`FerryError`]; binaries wrap it in `anyhow` with context and
//! [`crate::exit::exit_code_for`] finds the typed error again to pick the documented exit code.

use std::path::PathBuf;

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
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
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
    /// A server answered with an error during the run.
    #[error("{0}")]
    Database(String),
    /// The stream ended before its end marker: the producer died.
    #[error("{0}")]
    Truncated(String),
    /// A checkpoint does not belong to this run.
    #[error("{0}")]
    Checkpoint(String),
}

impl FerryError {
    /// The exit code that this error stands for.
    pub fn exit(&self) -> Exit {
        match self {
            FerryError::Usage(_) | FerryError::NotFound(_) | FerryError::Auth(_) => Exit::Usage,
            FerryError::TooManyRejects(_) => Exit::Rejects,
            _ => Exit::Failure,
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FerryError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the shared crate.
pub type Result<T, E = FerryError> = std::result::Result<T, E>;
