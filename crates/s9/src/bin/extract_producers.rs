//! `extract-producers`: see `ferry_s9::extract`.
use ferry_s9::extract;
use ferry_s9::transform::Entity;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = extract::parse(Entity::Producers);
    ferry_shared::exit::finish(
        "extract-producers",
        extract::run(Entity::Producers, args).await,
    )
}
