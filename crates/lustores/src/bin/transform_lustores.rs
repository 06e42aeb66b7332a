//! `transform-lustores`: see `ferry_lustores::transform`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferry_lustores::transform::main()
}
