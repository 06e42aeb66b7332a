//! The SDK configuration shared by the CloudWatch and CloudWatch Logs clients: the same HTTPS
//! client as ferry-dynamo's (rustls on ring), an explicit region, an optional endpoint URL,
//! credentials from the standard AWS chain, and timeouts that bound how long a migration can
//! wait for its monitoring.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use std::time::Duration;

/// Attempts per request, the first included. Monitoring has no retry loop of its own: the
/// SDK's standard retries (exponential backoff with jitter) cover throttling and blips.
const MAX_ATTEMPTS: u32 = 3;

/// The configuration both clients are built from. A dead endpoint costs at most
/// `MAX_ATTEMPTS` connect timeouts plus the backoff between them; a request that hangs is
/// cut after 20 s per attempt and 45 s in all.
pub async fn sdk_config(region: &str, endpoint_url: Option<&str>) -> SdkConfig {
    // rustls with ring: the SDK's default TLS stack would build aws-lc from C source.
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(45))
                .build(),
        );
    if let Some(u) = endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}
