//! The connection to CloudWatch and CloudWatch Logs of one run.

use crate::error::CloudWatchError;
use crate::logs::{batches, LogLine};
use crate::metrics::{requests, Metric};
use crate::{sdk_config, CloudWatchConfig};

/// Sends a run's metrics to one namespace and its log lines to one log stream.
///
/// Every method returns a [`CloudWatchError`] that the caller should log as a warning and
/// go on: a migration does not fail because its monitoring is down.
#[derive(Debug, Clone)]
pub struct Sink {
    metrics: aws_sdk_cloudwatch::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    region: String,
    namespace: String,
    log_group: String,
    log_stream: String,
}

impl Sink {
    /// Connects in `cfg.region` (else `default_region`) and creates the log group and the log
    /// stream (`cfg.log_stream`, else `run_id`) when they are missing; an existing group or
    /// stream is used as it is. Does not look at `cfg.enabled`: the caller decides whether to
    /// connect.
    pub async fn connect(
        cfg: &CloudWatchConfig,
        default_region: &str,
        run_id: &str,
    ) -> Result<Sink, CloudWatchError> {
        let region = cfg.region.as_deref().unwrap_or(default_region);
        let conf = sdk_config(region, cfg.endpoint_url.as_deref()).await;
        let sink = Sink {
            metrics: aws_sdk_cloudwatch::Client::new(&conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
            region: region.to_string(),
            namespace: cfg.namespace.clone(),
            log_group: cfg.log_group.clone(),
            log_stream: cfg.log_stream.clone().unwrap_or_else(|| run_id.to_string()),
        };
        sink.create_log_stream().await?;
        Ok(sink)
    }

    /// The metrics' namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The log group.
    pub fn log_group(&self) -> &str {
        &self.log_group
    }

    /// The log stream.
    pub fn log_stream(&self) -> &str {
        &self.log_stream
    }

    async fn create_log_stream(&self) -> Result<(), CloudWatchError> {
        let group = self
            .logs
            .create_log_group()
            .log_group_name(&self.log_group)
            .send()
            .await;
        if let Err(e) = group {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception())
            {
                let context = format!("CreateLogGroup {} ({})", self.log_group, self.region);
                return Err(CloudWatchError::sdk(context, e));
            }
        }
        let stream = self
            .logs
            .create_log_stream()
            .log_group_name(&self.log_group)
            .log_stream_name(&self.log_stream)
            .send()
            .await;
        if let Err(e) = stream {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception())
            {
                return Err(CloudWatchError::sdk(
                    format!("CreateLogStream {}", self.stream_name()),
                    e,
                ));
            }
        }
        Ok(())
    }

    /// `group/stream (region)`, for messages.
    fn stream_name(&self) -> String {
        format!("{}/{} ({})", self.log_group, self.log_stream, self.region)
    }

    /// Sends the metrics with `PutMetricData`, up to 1,000 per request, timestamped by
    /// CloudWatch on arrival. A value that is NaN or infinite is refused before anything is
    /// sent; a failed request stops the call (the requests before it were stored).
    pub async fn put_metrics(&self, metrics: &[Metric]) -> Result<(), CloudWatchError> {
        if let Some(m) = metrics.iter().find(|m| !m.value.is_finite()) {
            return Err(CloudWatchError::InvalidValue {
                name: m.name.clone(),
                value: m.value,
            });
        }
        for chunk in requests(metrics) {
            self.metrics
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(chunk.iter().map(Metric::datum).collect()))
                .send()
                .await
                .map_err(|e| {
                    let context = format!("PutMetricData {} ({})", self.namespace, self.region);
                    CloudWatchError::sdk(context, e)
                })?;
        }
        Ok(())
    }

    /// Sends the lines with `PutLogEvents`: sorted by time (stably), empty ones left out,
    /// each cut to the API's 256 KiB, in batches within its limits (10,000 events, 1 MiB,
    /// 24 hours). A failed request stops the call; events the service drops (too old or too
    /// new) do not: all batches are sent, then [`CloudWatchError::Rejected`] counts them.
    pub async fn put_logs(&self, lines: &[LogLine]) -> Result<(), CloudWatchError> {
        let (mut rejected, mut sent, mut reasons) = (0, 0, Vec::new());
        for batch in batches(lines) {
            let n = batch.len();
            let out = self
                .logs
                .put_log_events()
                .log_group_name(&self.log_group)
                .log_stream_name(&self.log_stream)
                .set_log_events(Some(batch))
                .send()
                .await
                .map_err(|e| {
                    CloudWatchError::sdk(format!("PutLogEvents {}", self.stream_name()), e)
                })?;
            sent += n;
            if let Some(info) = out.rejected_log_events_info() {
                let (count, reason) = crate::logs::rejected(info, n);
                rejected += count;
                reasons.push(reason);
            }
        }
        if rejected > 0 {
            reasons.dedup();
            return Err(CloudWatchError::Rejected {
                context: format!("PutLogEvents {}", self.stream_name()),
                rejected,
                sent,
                reason: reasons.join("; "),
            });
        }
        Ok(())
    }
}
