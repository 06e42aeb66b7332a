//! `migrate-abparts`: see `ferry_abparts`.

fn main() -> std::process::ExitCode {
    ferry_abparts::main()
}
