//! The LUStores migration (`lustores-physicsstores-to-postgres.rst`): the legacy PHP stores
//! system's MySQL database `physicsstores` into PostgreSQL `university_inventory`.
//!
//! [`transform`] holds the field maps as pure record → record functions, one file per target
//! entity, so the whole mapping reads in one place (docs/migrations/lustores.md has them as
//! tables). [`migrate`] is the orchestrator `migrate-lustores`: the document's steps 0–9,
//! each a Ferry tool (`apply-migrations`, `extract`, `transform-lustores`, `load-postgres`)
//! or a few statements of its own, recorded so that `--resume` continues the same run.

pub mod legacy;
pub mod mapping;
pub mod migrate;
pub mod money;
pub mod output;
pub mod transform;
