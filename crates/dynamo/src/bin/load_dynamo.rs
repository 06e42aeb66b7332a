//! `load-dynamo`: see `ferry_dynamo::load`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_dynamo::load::Args::parse();
    ferry_shared::exit::finish("load-dynamo", ferry_dynamo::load::run(args).await)
}
