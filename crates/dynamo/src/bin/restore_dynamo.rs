//! `restore-dynamo`: see `ferry_dynamo::restore`.

fn main() -> std::process::ExitCode {
    ferry_dynamo::restore::main()
}
