//! The S9 → DynamoDB migration (`s9-to-dynamodb.md`). This crate holds the extractors
//! ([`extract`]: one S9 entity in a stable order, paged, resumable) and the transforms: pure
//! functions from an extracted S9 record to a DynamoDB item in DynamoDB's typed JSON, so the
//! target table designs live in one place (docs/migrations/s9-to-dynamodb.md).

pub mod compare;
pub mod extract;
pub mod files;
pub mod integrity;
pub mod item;
pub mod migrate;
pub mod transform;
pub mod validate;
