//! `migrate-lustores`: the orchestrator (next).
