//! `load-dynamo`: see `ferry_dynamo::load`.
use clap::Parser;

/// Items are many small allocations freed on another thread than the one that made them:
/// mimalloc keeps that cheap (glibc's malloc spent a third of the CPU there).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_dynamo::load::Args::parse();
    ferry_shared::exit::finish("load-dynamo", ferry_dynamo::load::run(args).await)
}
