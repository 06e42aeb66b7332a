//! `migrate-s9`: see `ferry_s9::migrate`.

fn main() -> std::process::ExitCode {
    ferry_s9::migrate::main()
}
