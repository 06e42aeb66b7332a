//! `extract-buyers`: see `ferry_s9::extract`.
use ferry_s9::extract;
use ferry_s9::transform::Entity;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = extract::parse(Entity::Buyers);
    ferry_shared::exit::finish("extract-buyers", extract::run(Entity::Buyers, args).await)
}
