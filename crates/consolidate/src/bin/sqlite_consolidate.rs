//! `sqlite-consolidate`: see `ferry_consolidate`.
use clap::Parser;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_consolidate::Args::parse();
    let result = ferry_consolidate::run(args)
        .await
        .map_err(anyhow::Error::from);
    ferry_shared::exit::finish("sqlite-consolidate", result)
}
