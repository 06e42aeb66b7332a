//! `validate-s9`: see `ferry_s9::validate`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    ferry_shared::cli::load_dotenv();
    let args = match ferry_s9::validate::Args::try_parse() {
        Ok(args) => args,
        // --help and --version print and exit 0; anything else is a one-line usage error.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            return ferry_shared::exit::finish(
                "validate-s9",
                Err(ferry_s9::validate::usage_error(&e)),
            )
        }
    };
    ferry_shared::exit::finish("validate-s9", ferry_s9::validate::run(args))
}
