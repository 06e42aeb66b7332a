//! The DynamoDB connection, the same code path for real AWS and a local server: the
//! region comes from `--target dynamodb://REGION` (`--source` for `backup-dynamo`, which
//! reads the table; or `AWS_REGION`), credentials from the
//! standard AWS chain (environment, profile, SSO, instance role), and a local server is
//! only an endpoint URL (`--endpoint-url`, `FERRY_ENDPOINT_URL` or `AWS_ENDPOINT_URL`).

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use clap::Args;
use ferry_shared::{DbCode, DbError, FerryError};
use std::time::Duration;

/// Connection flags of the tools that work on the migration's DynamoDB target:
/// `load-dynamo`, `restore-dynamo`, `compare-counts`, `check-integrity`.
#[derive(Args, Debug, Clone, Default, serde::Serialize)]
pub struct DynamoArgs {
    /// Target URL: dynamodb://REGION (default: AWS_REGION, else us-east-1).
    #[arg(
        long = "target",
        env = "FERRY_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: Option<String>,
    /// Endpoint URL of a DynamoDB-compatible server (e.g. http://127.0.0.1:5500).
    #[arg(
        long,
        env = "FERRY_ENDPOINT_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,
}

/// The connection flags of `backup-dynamo`, which reads a table: the table is its source,
/// so the URL is `--source` (`FERRY_SOURCE`), as for every tool that reads.
#[derive(Args, Debug, Clone, Default, serde::Serialize)]
pub struct DynamoSourceArgs {
    /// Source URL: dynamodb://REGION (default: AWS_REGION, else us-east-1).
    #[arg(
        long = "source",
        env = "FERRY_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: Option<String>,
    /// Endpoint URL of a DynamoDB-compatible server (e.g. http://127.0.0.1:5500).
    #[arg(
        long,
        env = "FERRY_ENDPOINT_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,
}

impl DynamoSourceArgs {
    /// The same connection as [`DynamoArgs`] (client, description), the region checked
    /// under `--source`.
    pub fn conn(&self) -> ferry_shared::Result<DynamoArgs> {
        let region = region_of(self.source.as_deref(), "source")?;
        Ok(DynamoArgs {
            target: Some(format!("dynamodb://{region}")),
            endpoint_url: self.endpoint_url.clone(),
        })
    }
}

/// The region of `--SIDE dynamodb://REGION`, or from the environment when no URL is given.
fn region_of(url: Option<&str>, side: &'static str) -> ferry_shared::Result<String> {
    match url {
        Some(t) => {
            let ep = ferry_shared::conn::parse_url(t, side)?;
            if ep.engine != ferry_shared::conn::Engine::Dynamodb {
                return Err(FerryError::Usage(format!(
                    "--{side} {ep} (or FERRY_{}): this tool works on DynamoDB; give dynamodb://REGION",
                    side.to_ascii_uppercase()
                )));
            }
            Ok(ep.database.unwrap_or_else(|| "us-east-1".into()))
        }
        None => Ok(std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|_| "us-east-1".into())),
    }
}

impl DynamoArgs {
    /// The region, from the URL or the environment.
    pub fn region(&self) -> ferry_shared::Result<String> {
        region_of(self.target.as_deref(), "target")
    }

    /// How the target is shown in logs and reports.
    pub fn describe(&self) -> String {
        let region = self.region().unwrap_or_default();
        match &self.endpoint_url {
            Some(u) => format!("dynamodb://{region} at {u}"),
            None => format!("dynamodb://{region}"),
        }
    }

    /// A client. The SDK's own retries are off: Ferry retries with its own backoff so each
    /// retry is counted, logged and bounded by `--max-retries`.
    pub async fn client(&self) -> ferry_shared::Result<Client> {
        let region = self.region()?;
        // rustls with ring: the SDK's default TLS stack would build aws-lc from C source.
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https)
            .region(aws_config::Region::new(region))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(u) = &self.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        Ok(Client::new(&loader.load().await))
    }
}

/// What to do about a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Throttled or a transient server/network fault: retry after a backoff.
    Transient,
    /// The request itself is invalid (an item DynamoDB refuses): do not retry as is.
    Invalid,
    /// Anything else (no such table, no permission, bad credentials): stop.
    Fatal,
}

/// Classifies an SDK error by its error code and HTTP status.
pub fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient
        }
        SdkError::ServiceError(_) => match e.code().unwrap_or("") {
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "LimitExceededException"
            | "TransactionInProgressException" => Failure::Transient,
            "ValidationException" | "ItemCollectionSizeLimitExceededException" => Failure::Invalid,
            _ if e
                .raw_response()
                .is_some_and(|r| r.status().is_server_error()) =>
            {
                Failure::Transient
            }
            _ => Failure::Fatal,
        },
        _ => Failure::Fatal,
    }
}

/// The error's code (e.g. `ProvisionedThroughputExceededException`) or its kind.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(_) => "connection failure".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        _ => e.code().unwrap_or("error").to_string(),
    }
}

/// A service error as a [`FerryError::Database`] that keeps the SDK error and its code.
pub fn db_error<E>(context: impl Into<String>, e: SdkError<E, HttpResponse>) -> FerryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    DbError {
        context: context.into(),
        message: message(&e),
        code: Some(DbCode::Service(code(&e))),
        source: Some(Box::new(e)),
    }
    .into()
}

/// One line for a user: code and message, with the chain of causes for network errors.
pub fn message<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => format!("{}", DisplayErrorContext(e)).replace('\n', " "),
    }
}

/// The shared backoff ([`ferry_shared::retry`]): DynamoDB retries wait as connects do.
pub use ferry_shared::retry::delay as backoff;
