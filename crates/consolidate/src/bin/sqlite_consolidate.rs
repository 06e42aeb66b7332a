//! `sqlite-consolidate`: see `ferry_consolidate`.

fn main() -> std::process::ExitCode {
    ferry_consolidate::main()
}
