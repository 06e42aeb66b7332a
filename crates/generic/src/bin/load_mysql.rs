//! `load-mysql`: see `ferry_generic::load_mysql`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_generic::load_mysql::Args::parse();
    ferry_shared::exit::finish("load-mysql", ferry_generic::load_mysql::run(args).await)
}
