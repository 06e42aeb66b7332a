//! Ferry's generic tools: `extract`, `load-postgres`, `load-mysql`, `verify`.
//!
//! Each tool is one module with its `Args` and `run`; the binaries in `src/bin/` only parse
//! and map the result to an exit code.

pub mod apply_migrations;
pub mod extract;
pub mod load_mysql;
pub mod load_postgres;
pub mod verify;
pub mod verify_combine;

// The engine moved to `ferry-engine`; these re-exports keep `crate::load`/`crate::source`
// paths inside the tools short.
pub use ferry_engine::{load, source};
