//! `schema-copy`: see `ferry_mariadb::schema_copy`.

fn main() -> std::process::ExitCode {
    ferry_mariadb::schema_copy::main()
}
