//! `load-postgres`: see `ferry_generic::load_postgres`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_generic::load_postgres::Args::parse();
    ferry_shared::exit::finish(
        "load-postgres",
        ferry_generic::load_postgres::run(args).await,
    )
}
