//! `migrate-lustores`: see `ferry_lustores::migrate`.

fn main() -> std::process::ExitCode {
    ferry_lustores::migrate::main()
}
