//! `delete-migrated`: see `ferry_mariadb::delete_migrated`.

fn main() -> std::process::ExitCode {
    ferry_mariadb::delete_migrated::main()
}
