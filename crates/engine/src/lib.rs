//! Ferry's engine: what every tool that moves rows between databases shares.
//!
//! - [`source`]: reading tables and queries from MySQL/MariaDB, PostgreSQL and SQLite as
//!   typed cells, in key order with keyset pagination and a consistent snapshot.
//! - [`load`]: the load path: NDJSON input and resume ([`load::begin`]), casting to the target's
//!   real types ([`load::cast`]), batches applied with bisect-on-failure
//!   ([`load::flush_batch`]), the PostgreSQL binary-COPY target ([`load::pg`]), the MariaDB
//!   `LOAD DATA` target ([`load::mysql`]) and DDL generation ([`load::ddl`]).
//!
//! Tool crates (`ferry-generic`, `ferry-consolidate`, `ferry-s9`) depend on this crate; it
//! depends on no tool crate.

mod digits;
pub mod load;
pub mod source;
pub mod types;
