//! `compare-counts`: see `ferry_s9::compare`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_s9::compare::Args::parse();
    ferry_shared::exit::finish("compare-counts", ferry_s9::compare::run(args).await)
}
