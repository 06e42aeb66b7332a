//! Monitoring of a migration in AWS: metrics to CloudWatch (`PutMetricData`) and the run's
//! log lines to CloudWatch Logs (`PutLogEvents`), through the AWS SDK.
//!
//! The S9 → DynamoDB migration turns it on with a `"cloudwatch": {…}` block in its
//! `config.json` ([`CloudWatchConfig`]); docs/cloudwatch.md describes the block, the metrics
//! and what happens when CloudWatch cannot be reached.
//!
//! Monitoring must never fail a migration: every error of this crate ([`CloudWatchError`]) is
//! meant to be logged by the caller as a warning, after which the migration goes on (without
//! CloudWatch, or trying again with the next batch of metrics and lines).
//!
//! ```no_run
//! # async fn run(cfg: &ferry_cloudwatch::CloudWatchConfig) {
//! use ferry_cloudwatch::{Metric, Sink};
//! let sink = match Sink::connect(cfg, "us-east-1", "run-20260130-150000").await {
//!     Ok(sink) => Some(sink),
//!     Err(e) => {
//!         tracing::warn!("CloudWatch off for this run: {e}");
//!         None
//!     }
//! };
//! if let Some(sink) = &sink {
//!     let metrics = [Metric::records_processed("Sales", "load", 8542)];
//!     if let Err(e) = sink.put_metrics(&metrics).await {
//!         tracing::warn!("{e}");
//!     }
//! }
//! # }
//! ```

mod client;
mod config;
mod error;
mod logs;
mod metrics;
mod sink;

pub use client::sdk_config;
pub use config::CloudWatchConfig;
pub use error::CloudWatchError;
pub use logs::{log_lines_from_file, LogLine};
pub use metrics::{Metric, Unit};
pub use sink::Sink;
