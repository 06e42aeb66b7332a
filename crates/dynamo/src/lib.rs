//! Ferry's DynamoDB tools: `load-dynamo` (NDJSON items → table with BatchWriteItem, retries,
//! rejects, resume) and `backup-dynamo` (table → NDJSON plus key schema), and the pieces
//! other tools reuse: the connection flags, typed-JSON items, key specs and counting.

pub mod av;
pub mod backup;
pub mod client;
pub mod count;
pub mod json;
pub mod load;
pub mod number;
pub mod scan;
pub mod table;
