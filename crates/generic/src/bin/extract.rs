//! `extract`: see `ferry_generic::extract`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_generic::extract::Args::parse();
    ferry_shared::exit::finish("extract", ferry_generic::extract::run(args).await)
}
