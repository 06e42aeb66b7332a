//! `migrate-lustores`: the document's steps 0–9 in its order, each a Ferry tool or a few
//! statements, recorded so that `--resume` continues the same run.
//!
//! Ferry reads and transforms the whole legacy database *before* step 1 changes the target:
//! a source that cannot be read, or a legacy row that breaks the mapping, stops the run while
//! the target is still as it was.

mod args;
mod connect;
mod record;
mod restore;
mod runner;
mod schema_file;
mod steps;
mod summary;
mod target;
mod users;
mod verify;
mod write;

pub use args::Args;

/// `migrate-lustores`'s main.
pub fn main() -> std::process::ExitCode {
    ferry_shared::cli::main_with("migrate-lustores", runner::run)
}
