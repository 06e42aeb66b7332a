//! `extract`: see `ferry_generic::extract`.

fn main() -> std::process::ExitCode {
    ferry_generic::extract::main()
}
