//! The one retry policy of every tool: exponential backoff with jitter, through `backon`.
//!
//! Connects retry with it on transient errors; DynamoDB writes and scans take its waits one by
//! one, because an unprocessed-items answer is a partial success that the caller handles.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// No wait is longer than this, however many retries came before.
pub const MAX_DELAY: Duration = Duration::from_secs(20);

/// Waits that start at `base`, double, stop growing at [`MAX_DELAY`] and carry random jitter
/// (so writers backing off together do not retry in step), for at most `times` retries.
pub fn policy(base: Duration, times: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(base)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_max_times(times)
        .with_jitter()
}

/// The wait before retry number `attempt` (1-based) of [`policy`] with this `base`.
pub fn delay(attempt: u32, base: Duration) -> Duration {
    let nth = attempt.saturating_sub(1) as usize;
    policy(base, nth + 1).build().nth(nth).unwrap_or(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_bounded_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..=12 {
            let d = delay(attempt, base);
            let floor = base.saturating_mul(1 << (attempt - 1)).min(MAX_DELAY);
            assert!(d >= floor, "attempt {attempt}: {d:?} < {floor:?}");
            assert!(d <= floor * 2, "attempt {attempt}: {d:?} > 2×{floor:?}");
        }
        assert_eq!(policy(base, 3).build().count(), 3);
    }
}
