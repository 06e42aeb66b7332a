//! The `"cloudwatch": {…}` block of the migration's `config.json`.

use serde::Deserialize;

/// Where and whether to send metrics and logs. Every key may be left out:
///
/// ```json
/// "cloudwatch": {
///   "enabled": true,
///   "region": "eu-west-1",
///   "endpointUrl": "http://127.0.0.1:5500",
///   "namespace": "Migration",
///   "logGroup": "/ferry/s9-migration",
///   "logStream": "s9-20260130-150000"
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CloudWatchConfig {
    /// Send anything at all (default false: a migration sends nothing unless asked).
    pub enabled: bool,
    /// AWS region of CloudWatch (default: the region the caller gives, the DynamoDB target's).
    pub region: Option<String>,
    /// A CloudWatch-compatible server instead of AWS (tests, rehearsals). The SDK also reads
    /// `AWS_ENDPOINT_URL` when this is not given.
    pub endpoint_url: Option<String>,
    /// Namespace of the metrics (default `Migration`).
    pub namespace: String,
    /// Log group of the log lines (default `/ferry/s9-migration`); created when missing.
    pub log_group: String,
    /// Log stream (default: the run id the caller gives); created when missing.
    pub log_stream: Option<String>,
}

impl Default for CloudWatchConfig {
    fn default() -> Self {
        CloudWatchConfig {
            enabled: false,
            region: None,
            endpoint_url: None,
            namespace: "Migration".into(),
            log_group: "/ferry/s9-migration".into(),
            log_stream: None,
        }
    }
}
