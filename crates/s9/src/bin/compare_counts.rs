//! `compare-counts`: see `ferry_s9::compare`.
fn main() -> std::process::ExitCode {
    ferry_s9::compare::main()
}
