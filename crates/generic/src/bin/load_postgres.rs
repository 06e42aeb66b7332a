//! `load-postgres`: see `ferry_generic::load_postgres`.

fn main() -> std::process::ExitCode {
    ferry_generic::load_postgres::main()
}
