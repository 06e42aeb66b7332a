//! Exact item counts: a parallel `Scan` with `Select=COUNT` (DescribeTable's ItemCount is
//! refreshed only every few hours, so it cannot verify a load).

use crate::client::{backoff, classify, message, Failure};
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use ferry_shared::FerryError;
use std::collections::HashMap;
use std::time::Duration;

async fn count_segment(
    client: Client,
    table: String,
    segment: i32,
    total: i32,
) -> Result<u64, FerryError> {
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    let mut n = 0u64;
    let mut attempt = 0u32;
    loop {
        let res = client
            .scan()
            .table_name(&table)
            .select(Select::Count)
            .segment(segment)
            .total_segments(total)
            .set_exclusive_start_key(start.clone())
            .send()
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) if classify(&e) == Failure::Transient && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt, Duration::from_millis(100))).await;
                continue;
            }
            Err(e) => {
                return Err(FerryError::Database(format!(
                    "Scan (count) {table}: {}",
                    message(&e)
                )))
            }
        };
        n += out.count().max(0) as u64;
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(n),
        }
    }
}

/// Items in `table`, or `None` when the table does not exist.
pub async fn count_items(
    client: &Client,
    table: &str,
    segments: i32,
) -> Result<Option<u64>, FerryError> {
    if crate::table::describe(client, table).await?.is_none() {
        return Ok(None);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..segments.max(1) {
        tasks.spawn(count_segment(
            client.clone(),
            table.to_string(),
            s,
            segments.max(1),
        ));
    }
    let mut n = 0;
    while let Some(r) = tasks.join_next().await {
        n += r.map_err(|e| FerryError::Database(format!("count task: {e}")))??;
    }
    Ok(Some(n))
}
