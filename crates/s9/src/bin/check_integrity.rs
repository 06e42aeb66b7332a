//! `check-integrity`: see [`ferry_s9::integrity`].
fn main() -> std::process::ExitCode {
    ferry_s9::integrity::main()
}
