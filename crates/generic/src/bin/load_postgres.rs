//! `load-postgres`: see `ferry_generic::load_postgres`.
//!
//! The system allocator: since batches are reused (`ferry_engine::load`), mimalloc saved
//! no CPU here (paired runs, 2M rows: 0.98× the CPU without it) and held 50 MB more.

fn main() -> std::process::ExitCode {
    ferry_generic::load_postgres::main()
}
