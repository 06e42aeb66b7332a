//! `extract-sales`: see `ferry_s9::extract`.

fn main() -> std::process::ExitCode {
    ferry_s9::extract::main(ferry_s9::transform::Entity::Sales, "extract-sales")
}
