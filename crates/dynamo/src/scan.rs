//! One segment of a parallel Scan, page by page, with transient errors retried: what
//! `backup-dynamo` (items) and the exact counts (`Select=COUNT`) both walk through.

use crate::client::{backoff, classify, db_error, message, Failure};
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use ferry_shared::FerryError;
use std::collections::HashMap;
use std::time::Duration;

/// Retries of one page before the scan fails.
const MAX_RETRIES: u32 = 10;

/// Segment `segment` of `total` of a table.
pub struct SegmentScan {
    client: Client,
    table: String,
    segment: i32,
    total: i32,
    select: Option<Select>,
    /// Only these attributes (ProjectionExpression `#p0, #p1`, names in `names`).
    projection: Option<String>,
    names: Option<HashMap<String, String>>,
    start: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

impl SegmentScan {
    /// A scan of one segment; `select` e.g. `Select::Count` for counts only.
    pub fn new(
        client: Client,
        table: &str,
        segment: i32,
        total: i32,
        select: Option<Select>,
    ) -> Self {
        SegmentScan {
            client,
            table: table.to_string(),
            segment,
            total,
            select,
            projection: None,
            names: None,
            start: None,
            done: false,
        }
    }

    /// Reads only the attributes `attrs` of each item (e.g. the key, to compare key sets).
    pub fn only<'a>(mut self, attrs: impl IntoIterator<Item = &'a str>) -> Self {
        let names: HashMap<String, String> = attrs
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("#p{i}"), a.to_string()))
            .collect();
        let mut refs: Vec<&String> = names.keys().collect();
        refs.sort();
        self.projection = Some(
            refs.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
        self.names = Some(names);
        self
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<ScanOutput>, FerryError> {
        if self.done {
            return Ok(None);
        }
        let mut attempt = 0u32;
        let out = loop {
            let res = self
                .client
                .scan()
                .table_name(&self.table)
                .segment(self.segment)
                .total_segments(self.total)
                .set_select(self.select.clone())
                .set_projection_expression(self.projection.clone())
                .set_expression_attribute_names(self.names.clone())
                .set_exclusive_start_key(self.start.clone())
                .send()
                .await;
            match res {
                Ok(o) => break o,
                Err(e) if classify(&e) == Failure::Transient && attempt < MAX_RETRIES => {
                    attempt += 1;
                    let wait = backoff(attempt, Duration::from_millis(100));
                    tracing::info!(
                        "{}: scan segment {}: {}; retry {attempt}/{MAX_RETRIES} in {} ms",
                        self.table,
                        self.segment,
                        message(&e),
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let context = format!("Scan {} segment {}", self.table, self.segment);
                    return Err(db_error(context, e));
                }
            }
        };
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => self.start = Some(k.clone()),
            _ => self.done = true,
        }
        Ok(Some(out))
    }
}
