//! `transform-sales`: see `ferry_s9::transform`.
use clap::Parser;

/// Items are many small allocations freed on another thread than the one that made them:
/// mimalloc keeps that cheap (glibc's malloc spent a third of the CPU there).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_s9::transform::Args::parse();
    ferry_shared::exit::finish(
        "transform-sales",
        ferry_s9::transform::run(ferry_s9::transform::Entity::Sales, args),
    )
}
