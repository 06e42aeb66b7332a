//! `delete-migrated`: see `ferry_mariadb::delete_migrated`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_mariadb::delete_migrated::Args::parse();
    ferry_shared::exit::finish(
        "delete-migrated",
        ferry_mariadb::delete_migrated::run(args).await,
    )
}
