//! The S9 → DynamoDB migration (`s9-to-dynamodb.md`). This crate holds the transforms: pure
//! functions from an extracted S9 record (NDJSON from `extract`) to a DynamoDB item in
//! DynamoDB's typed JSON, so the target table designs live in one place
//! (docs/migrations/s9-to-dynamodb.md).

pub mod decimal;
pub mod item;
pub mod transform;
