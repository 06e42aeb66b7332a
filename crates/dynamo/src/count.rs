//! Exact item counts: a parallel `Scan` with `Select=COUNT` (DescribeTable's ItemCount is
//! refreshed only every few hours, so it cannot verify a load).

use crate::scan::SegmentScan;
use aws_sdk_dynamodb::types::Select;
use aws_sdk_dynamodb::Client;
use ferry_shared::FerryError;

async fn count_segment(
    client: Client,
    table: String,
    segment: i32,
    total: i32,
) -> Result<u64, FerryError> {
    let mut scan = SegmentScan::new(client, &table, segment, total, Some(Select::Count));
    let mut n = 0u64;
    while let Some(out) = scan.next_page().await? {
        n += out.count().max(0) as u64;
    }
    Ok(n)
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
        n += r.map_err(|e| FerryError::Failed(format!("count task: {e}")))??;
    }
    Ok(Some(n))
}
