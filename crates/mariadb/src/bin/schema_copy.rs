//! `schema-copy`: see `ferry_mariadb::schema_copy`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_mariadb::schema_copy::Args::parse();
    ferry_shared::exit::finish("schema-copy", ferry_mariadb::schema_copy::run(args).await)
}
