//! `ferry`: see `ferry_cli`.

fn main() -> std::process::ExitCode {
    ferry_cli::main()
}
