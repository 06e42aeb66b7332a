//! Ferry's common crate: everything the tools share and nothing specific to one tool.
//!
//! - [`conn`]: connection flags, URLs, secrets, connect with retry.
//! - [`record`], [`value`], [`schema`], [`checksum`]: the NDJSON contract.
//! - [`checkpoint`], [`fsutil`]: resume and atomic files.
//! - [`cli`], [`logging`], [`progress`], [`report`], [`rejects`], [`exit`], [`error`]: the
//!   common run behaviour.
//! - [`pattern`]: table patterns.
//! - [`sql`]: identifier quoting per dialect.

pub mod checkpoint;
pub mod checksum;
pub mod cli;
pub mod conn;
pub mod error;
pub mod exit;
pub mod fsutil;
pub mod geometry;
pub mod ids;
pub mod logging;
pub mod pattern;
pub mod progress;
pub mod record;
pub mod rejects;
pub mod report;
pub mod report_html;
pub mod retry;
pub mod row;
pub mod run;
pub mod schema;
pub mod shard;
pub mod sql;
pub mod sql_split;
pub mod stream;
pub mod tools;
pub mod user_sql;
pub mod value;

pub use error::{DbCode, DbContext, DbError, DriverError, Exit, FerryError, Result};
