//! Ferry's DynamoDB tools: `load-dynamo` (NDJSON items → table with BatchWriteItem, retries,
//! rejects, resume), `backup-dynamo` (table → NDJSON plus key schema) and `restore-dynamo`
//! (a backup → exactly that item set in the table), and the pieces other tools reuse: the
//! connection flags, typed-JSON items, key specs and counting.

pub mod av;
pub mod backup;
pub mod client;
pub mod count;
pub mod json;
pub mod load;
pub mod number;
pub mod restore;
pub mod scan;
pub mod table;
