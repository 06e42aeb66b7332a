//! `backup-dynamo`: see `ferry_dynamo::backup`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_dynamo::backup::Args::parse();
    ferry_shared::exit::finish("backup-dynamo", ferry_dynamo::backup::run(args).await)
}
