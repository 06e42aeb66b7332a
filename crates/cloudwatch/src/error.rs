//! The errors of this crate. None of them is meant to stop a migration: the caller logs them
//! as warnings (see the crate documentation).

use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why metrics or log lines did not reach CloudWatch. Each variant that comes from the SDK
/// keeps the SDK's error as its `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudWatchError {
    /// No answer: connection refused, DNS, TLS, a timeout, an unreadable response. Retrying
    /// later (with the next batch) may succeed.
    #[error("{context}: CloudWatch unreachable: {message}")]
    Unreachable {
        /// What was being done: `PutMetricData Migration (us-east-1)`.
        context: String,
        /// The chain of causes on one line.
        message: String,
        /// The SDK's error.
        #[source]
        source: Source,
    },
    /// The service answered with an error: no permission, bad credentials, throttled after
    /// the retries, an invalid parameter.
    #[error("{context}: {code}: {message}")]
    Service {
        /// What was being done.
        context: String,
        /// The service's error code, e.g. `AccessDeniedException`.
        code: String,
        /// The service's message.
        message: String,
        /// The SDK's error.
        #[source]
        source: Source,
    },
    /// The request could not be made: no credentials found, an invalid endpoint URL.
    #[error("{context}: {message}")]
    Request {
        /// What was being done.
        context: String,
        /// The chain of causes on one line.
        message: String,
        /// The SDK's error.
        #[source]
        source: Source,
    },
    /// `PutLogEvents` took the request but dropped some events (older than 14 days, older than
    /// the group's retention, or more than 2 hours in the future).
    #[error("{context}: {rejected} of {sent} log events rejected ({reason})")]
    Rejected {
        /// The log group and stream.
        context: String,
        /// Events dropped.
        rejected: usize,
        /// Events sent.
        sent: usize,
        /// Too old, expired, too new.
        reason: String,
    },
    /// A metric value CloudWatch cannot store (NaN or infinite); nothing was sent.
    #[error("metric {name}: {value} is not a finite number")]
    InvalidValue {
        /// The metric's name.
        name: String,
        /// The value.
        value: f64,
    },
}

impl CloudWatchError {
    /// The service's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CloudWatchError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when CloudWatch could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, CloudWatchError::Unreachable { .. })
    }

    /// An SDK error with what was being done. `E` is an operation's error type of either SDK
    /// crate (they share `SdkError`).
    pub(crate) fn sdk<E>(context: String, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let chain = || causes(&e);
        match &e {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => {
                let message = chain();
                CloudWatchError::Unreachable {
                    context,
                    message,
                    source: Box::new(e),
                }
            }
            SdkError::ServiceError(s) => CloudWatchError::Service {
                context,
                // No code: not an AWS error document (a proxy's page, a wrong endpoint).
                code: e.code().map_or_else(
                    || format!("HTTP {}", s.raw().status().as_u16()),
                    str::to_string,
                ),
                message: e.message().map_or_else(chain, str::to_string),
                source: Box::new(e),
            },
            _ => {
                let message = chain();
                CloudWatchError::Request {
                    context,
                    message,
                    source: Box::new(e),
                }
            }
        }
    }
}

/// An error and its causes on one line, each once: `dispatch failure: io error: … Connection
/// refused (os error 111)`.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out.replace('\n', " ")
}
