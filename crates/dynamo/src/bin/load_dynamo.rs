//! `load-dynamo`: see `ferry_dynamo::load`.

/// Items are many small allocations freed on another thread than the one that made them:
/// mimalloc keeps that cheap (glibc's malloc spent a third of the CPU there).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry_dynamo::load::main()
}
