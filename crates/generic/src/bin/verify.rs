//! `verify`: see `ferry_generic::verify`.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_generic::verify::Args::parse();
    ferry_shared::exit::finish("verify", ferry_generic::verify::run(args).await)
}
