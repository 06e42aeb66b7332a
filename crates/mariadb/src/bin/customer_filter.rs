//! `customer-filter`: see `ferry_mariadb::customer_filter`.

fn main() -> std::process::ExitCode {
    ferry_mariadb::customer_filter::main()
}
