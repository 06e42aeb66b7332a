//! `apply-migrations`: see `ferry_generic::apply_migrations`.

fn main() -> std::process::ExitCode {
    ferry_generic::apply_migrations::main()
}
