//! Reading metrics and log lines back from the local CloudWatch-compatible server with
//! the AWS SDK, for the tests of `ferry-cloudwatch` and of `migrate-s9`.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use ferry_cloudwatch::sdk_config;
use std::time::{Duration, SystemTime};

const REGION: &str = "us-east-1";

/// The SDK configuration for the local server, with the test credentials given
/// explicitly (the test process's environment may have none).
async fn local_config() -> aws_config::SdkConfig {
    let env: std::collections::HashMap<_, _> = crate::aws_env().into_iter().collect();
    let creds = aws_sdk_cloudwatch::config::Credentials::new(
        env["AWS_ACCESS_KEY_ID"].clone(),
        env["AWS_SECRET_ACCESS_KEY"].clone(),
        None,
        None,
        "ferry-tests",
    );
    sdk_config(REGION, Some(&crate::dynamo_url()))
        .await
        .into_builder()
        .credentials_provider(aws_sdk_cloudwatch::config::SharedCredentialsProvider::new(
            creds,
        ))
        .build()
}

/// The Sum of a metric with the dimensions Entity and Phase over the last and the next
/// hour, and the units of its data points.
pub async fn metric_sum(
    namespace: &str,
    name: &str,
    entity: &str,
    phase: &str,
) -> (f64, Vec<String>) {
    let conf = local_config().await;
    let client = aws_sdk_cloudwatch::Client::new(&conf);
    let now = SystemTime::now();
    let dims = [("Entity", entity), ("Phase", phase)]
        .map(|(n, v)| Dimension::builder().name(n).value(v).build());
    let out = client
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(name)
        .set_dimensions(Some(dims.to_vec()))
        .start_time(DateTime::from(now - Duration::from_secs(3600)))
        .end_time(DateTime::from(now + Duration::from_secs(3600)))
        .period(3600)
        .statistics(Statistic::Sum)
        .send()
        .await
        .unwrap();
    let points = out.datapoints();
    let sum = points.iter().map(|p| p.sum().unwrap()).sum();
    let units = points
        .iter()
        .map(|p| p.unit().unwrap().as_str().to_string())
        .collect();
    (sum, units)
}

/// Every event of a log stream, oldest first, following the forward tokens.
pub async fn log_events(group: &str, stream: &str) -> Vec<(i64, String)> {
    let conf = local_config().await;
    let client = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let (mut out, mut token) = (Vec::new(), None::<String>);
    loop {
        let page = client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        let events = page.events();
        out.extend(
            events
                .iter()
                .map(|e| (e.timestamp().unwrap(), e.message().unwrap().to_string())),
        );
        let next = page.next_forward_token().map(str::to_string);
        if events.is_empty() || next.is_none() || next == token {
            return out;
        }
        token = next;
    }
}
