//! `migrate-s9`: see `ferry_s9::migrate`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_s9::migrate::Args::parse();
    ferry_shared::exit::finish("migrate-s9", ferry_s9::migrate::run(args))
}
