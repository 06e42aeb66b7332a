//! `load-postgres`: see `ferry_generic::load_postgres`.

/// Every row is parsed into short-lived values freed on another thread than the one that
/// made them: mimalloc keeps that cheap (glibc's malloc and free were a tenth of the
/// loader's profile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry_generic::load_postgres::main()
}
