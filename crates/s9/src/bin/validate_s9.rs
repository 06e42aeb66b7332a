//! `validate-s9`: see `ferry_s9::validate`.

fn main() -> std::process::ExitCode {
    ferry_s9::validate::main()
}
