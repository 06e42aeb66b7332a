//! `verify`: see `ferry_generic::verify`.

fn main() -> std::process::ExitCode {
    ferry_generic::verify::main()
}
