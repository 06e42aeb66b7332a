//! Ferry's generic tools: `extract`, `load-postgres`, `load-mysql`, `verify`.
//!
//! Each tool is one module with its `Args` and `run`; the binaries in `src/bin/` only parse
//! and map the result to an exit code.

pub mod extract;
pub mod load;
pub mod load_mysql;
pub mod load_postgres;
pub mod source;
pub mod verify;
