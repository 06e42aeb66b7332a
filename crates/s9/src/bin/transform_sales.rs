//! `transform-sales`: see `ferry_s9::transform`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = ferry_s9::transform::Args::parse();
    ferry_shared::exit::finish(
        "transform-sales",
        ferry_s9::transform::run(ferry_s9::transform::Entity::Sales, args),
    )
}
