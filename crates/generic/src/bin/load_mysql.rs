//! `load-mysql`: see `ferry_generic::load_mysql`.

fn main() -> std::process::ExitCode {
    ferry_generic::load_mysql::main()
}
