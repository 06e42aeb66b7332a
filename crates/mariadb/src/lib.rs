//! The MariaDB migration of `mariadb-schema-and-customer-data.md`: `schema-copy` (structure in
//! two passes, then routines, views and triggers) and, built on it, the customer-data tools.
//!
//! Connections keep the document's variables: `READ_DB_HOST/PORT/USER/PASSWORD` for the
//! source and `WRITE_DB_*` for the target (from the environment or `.env`), overridden by
//! `--source`/`--target` URLs. Source and target may be one server: `--map SRC=DST` gives
//! target databases other names.

pub mod closure;
pub mod copy;
pub mod customer_filter;
pub mod delete_migrated;
pub mod integrity;
pub mod prompt;
pub mod rename;
pub mod schema_copy;
pub mod servers;
pub mod state;
pub mod triggers;
