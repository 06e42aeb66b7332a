//! `sqlite-consolidate`: see `ferry_consolidate`.
use clap::Parser;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_consolidate::Args::parse();
    ferry_shared::exit::finish("sqlite-consolidate", ferry_consolidate::run(args).await)
}
