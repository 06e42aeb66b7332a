//! `load-mysql`: see `ferry_generic::load_mysql`.
//!
//! The system allocator, as load-postgres (mimalloc: more CPU and 50 MB more here).

fn main() -> std::process::ExitCode {
    ferry_generic::load_mysql::main()
}
