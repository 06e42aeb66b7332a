//! `backup-dynamo`: see `ferry_dynamo::backup`.

fn main() -> std::process::ExitCode {
    ferry_dynamo::backup::main()
}
