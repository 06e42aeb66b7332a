//! `customer-filter`: see `ferry_mariadb::customer_filter`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_mariadb::customer_filter::Args::parse();
    ferry_shared::exit::finish(
        "customer-filter",
        ferry_mariadb::customer_filter::run(args).await,
    )
}
