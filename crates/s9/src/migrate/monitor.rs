//! CloudWatch, when the configuration enables it: after each step its metrics
//! (`RecordsProcessed`, `Errors`, `Duration` with the dimensions Entity and Phase, from the
//! step's JSON report), and the run's log lines (read back from its log file) to CloudWatch
//! Logs. Monitoring never fails a migration: an unreachable CloudWatch is a warning.

use ferry_cloudwatch::{log_lines_from_file, CloudWatchConfig, Metric, Sink};
use serde_json::Value;
use std::path::PathBuf;

/// The connection to CloudWatch of one run.
pub struct Monitor {
    rt: tokio::runtime::Runtime,
    sink: Sink,
    log: Option<PathBuf>,
    offset: u64,
}

impl Monitor {
    /// Connects when enabled; `None` (with a warning) when CloudWatch cannot be reached.
    pub fn connect(
        cfg: &CloudWatchConfig,
        region: &str,
        run_id: &str,
        log: Option<PathBuf>,
    ) -> Option<Monitor> {
        if !cfg.enabled {
            return None;
        }
        let rt = ferry_shared::exit::runtime().ok()?;
        let sink = match rt.block_on(Sink::connect(cfg, region, run_id)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("CloudWatch: {e}; the migration goes on without it");
                return None;
            }
        };
        // Only this run's lines go to its stream.
        let offset = log
            .as_ref()
            .and_then(|p| fs_err::metadata(p).ok())
            .map_or(0, |m| m.len());
        tracing::info!(
            "CloudWatch: metrics in namespace {}, logs in {}/{}",
            sink.namespace(),
            sink.log_group(),
            sink.log_stream()
        );
        Some(Monitor {
            rt,
            sink,
            log,
            offset,
        })
    }

    /// The metrics of one step (`phase:entity`) from its JSON report; a step over all
    /// entities (validate, verify's counts, the integrity check under the phase name
    /// `integrity`) gives each entity its own values from the report's per-table lines.
    pub fn step(&mut self, id: &str, report: &Value) {
        let (phase, entity) = id.split_once(':').unwrap_or((id, "all"));
        let tables = report["tables"].as_array().cloned().unwrap_or_default();
        let total = report["duration_secs"].as_f64().unwrap_or(0.0);
        let gave_up = report["counters"]["gave_up_items"].as_u64().unwrap_or(0);
        let mut metrics = Vec::new();
        for t in &tables {
            let name = if entity == "all" {
                t["table"].as_str().unwrap_or("all")
            } else {
                entity
            };
            let n = |k: &str| t[k].as_u64().unwrap_or(0);
            let secs = t["duration_secs"]
                .as_f64()
                .filter(|d| *d > 0.0)
                .unwrap_or(total);
            metrics.push(Metric::records_processed(name, phase, n("migrated")));
            metrics.push(Metric::errors(name, phase, n("errors") + gave_up));
            metrics.push(Metric::duration(name, phase, secs));
        }
        if metrics.is_empty() {
            // A step that failed before its report: its time and one error.
            metrics.push(Metric::errors(entity, phase, 1));
        }
        if let Err(e) = self.rt.block_on(self.sink.put_metrics(&metrics)) {
            tracing::warn!("CloudWatch metrics of {id}: {e}");
        }
        self.flush_logs();
    }

    /// Sends the log lines written since the last call.
    pub fn flush_logs(&mut self) {
        let Some(log) = &self.log else { return };
        let (lines, offset) = match log_lines_from_file(log, self.offset) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("CloudWatch Logs: read {}: {e}", log.display());
                return;
            }
        };
        if lines.is_empty() {
            self.offset = offset;
            return;
        }
        // Only lines CloudWatch took are passed over: a failed send is sent again next time.
        match self.rt.block_on(self.sink.put_logs(&lines)) {
            Ok(()) => self.offset = offset,
            Err(e) if e.is_unreachable() => tracing::warn!("CloudWatch Logs: {e}"),
            Err(e) => {
                self.offset = offset;
                tracing::warn!("CloudWatch Logs: {e}");
            }
        }
    }
}
