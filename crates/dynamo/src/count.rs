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

/// The items of `table` with these `keys` (values of the string partition key `attr`, at
/// most 100), whole or (`key_only`) just their key, asked with BatchGetItem (consistent
/// reads; unprocessed keys asked again with a backoff). `None` when the table does not
/// exist or its key is not `attr`: it holds none of them.
pub async fn get_items(
    client: &Client,
    table: &str,
    attr: &str,
    keys: &[String],
    key_only: bool,
) -> Result<Option<std::collections::HashMap<String, crate::av::SdkItem>>, FerryError> {
    use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
    let mut want: Vec<_> = keys
        .iter()
        .map(|k| {
            std::collections::HashMap::from([(attr.to_string(), AttributeValue::S(k.clone()))])
        })
        .collect();
    let mut found = std::collections::HashMap::new();
    let mut attempt = 0u32;
    while !want.is_empty() {
        let mut ka = KeysAndAttributes::builder()
            .set_keys(Some(want.clone()))
            .consistent_read(true);
        if key_only {
            ka = ka
                .projection_expression("#k")
                .expression_attribute_names("#k", attr);
        }
        let ka = ka
            .build()
            .map_err(|e| FerryError::Failed(format!("BatchGetItem request: {e}")))?;
        let out = match client
            .batch_get_item()
            .request_items(table, ka)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if crate::client::code(&e) == "ResourceNotFoundException" => return Ok(None),
            Err(e) if crate::client::code(&e) == "ValidationException" => {
                // The table's key is not `attr`: none of these keys can be in it.
                tracing::warn!(
                    "{table}: cannot look up {attr} keys ({})",
                    crate::client::message(&e)
                );
                return Ok(None);
            }
            Err(e) => {
                return Err(crate::client::db_error(
                    format!("look up keys in {table}"),
                    e,
                ))
            }
        };
        for item in out
            .responses()
            .and_then(|r| r.get(table))
            .into_iter()
            .flatten()
        {
            if let Some(AttributeValue::S(k)) = item.get(attr) {
                found.insert(k.clone(), item.clone());
            }
        }
        want = out
            .unprocessed_keys()
            .and_then(|u| u.get(table))
            .map(|k| k.keys().to_vec())
            .unwrap_or_default();
        if !want.is_empty() {
            attempt += 1;
            if attempt > 10 {
                return Err(FerryError::Failed(format!(
                    "{table}: keys still unprocessed after 10 retries of BatchGetItem"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(8))).await;
        }
    }
    Ok(Some(found))
}

/// Which of `keys` (values of the string partition key `attr`, at most 100) `table` does
/// not hold ([`get_items`] of the keys only).
pub async fn absent_keys(
    client: &Client,
    table: &str,
    attr: &str,
    keys: &[String],
) -> Result<Vec<String>, FerryError> {
    let found = get_items(client, table, attr, keys, true)
        .await?
        .unwrap_or_default();
    Ok(keys
        .iter()
        .filter(|k| !found.contains_key(*k))
        .cloned()
        .collect())
}
