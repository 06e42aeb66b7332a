//! The client conventions, after Ferry's own flags and variables: `DATABASE_URL` for the
//! tools that talk to one database, `PGPASSWORD` and the passfile for PostgreSQL, `~/.my.cnf`
//! for MariaDB. Each run has its own HOME, so the user's own files never play a part, and no
//! password ever reaches stderr.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Writes `text` to `path` with mode `mode` (0600 for a credentials file).
fn write_mode(path: &Path, text: &str, mode: u32) {
    fs_err::write(path, text).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A tool run in `dir` with `home` as HOME (`tool` unsets the conventions' variables).
fn tool_at(name: &str, dir: &Path, home: &Path) -> Command {
    let mut c = tool(name, dir);
    c.env("HOME", home);
    c
}

#[track_caller]
fn assert_no_secret(r: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !r.stderr.contains(s) && !r.stdout.contains(s),
            "{s:?} printed:\n{}",
            r.stderr
        );
    }
}

/// A MariaDB account with a password, able to read one database; dropped at the end.
struct MyUser {
    name: String,
}

impl MyUser {
    fn new(db: &MyDb, password: &str) -> Self {
        let name = format!(
            "ferry_pw_{}_{}",
            std::process::id(),
            unique("u").rsplit('_').next().unwrap()
        );
        my_exec(
            &format!("{}/", db.base),
            &format!(
                "CREATE USER '{name}'@'%' IDENTIFIED BY '{}'; GRANT SELECT ON `{}`.* TO '{name}'@'%'",
                password.replace('\\', "\\\\").replace('\'', "\\'"),
                db.name
            ),
        );
        MyUser { name }
    }
}

impl Drop for MyUser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            my_exec(
                &format!("{}/", mysql_base()),
                &format!("DROP USER IF EXISTS '{}'@'%'", self.name),
            )
        });
    }
}

/// `host:port` of the test MariaDB.
fn my_hostport() -> String {
    let base = mysql_base();
    let after = base.split_once("://").unwrap().1;
    after.rsplit_once('@').map_or(after, |(_, h)| h).to_string()
}

/// `~/.my.cnf`: the user's password for an account that has one; the mysql client's groups
/// in file order (the last value wins), quotes, escapes and `#` comments as the client reads
/// them; Ferry's own variable beats it; a world-writable file is ignored, like the client.
#[test]
fn my_cnf_gives_the_password_after_ferrys_own() {
    const PW: &str = "Fy7#q \"z\" w";
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let db = MyDb::new("mycnf");
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(10)); INSERT INTO t VALUES (1,'a'),(2,'b')",
    );
    let user = MyUser::new(&db, PW);
    let url = format!("mysql://{}@{}/{}", user.name, my_hostport(), db.name);
    let extract = |url: &str, envs: &[(&str, &str)]| {
        let mut c = tool_at("extract", dir.path(), home.path());
        c.args(["--source", url, "--table", "t", "--no-header"]);
        c.envs(envs.iter().copied());
        run(c)
    };
    let secrets = [
        &PW[..3],
        "nope-Fy8",
        "wrong-server",
        "wrong-client",
        "not-this-one",
    ];

    // No password anywhere: refused, exit 2.
    let r = extract(&url, &[]);
    assert_exit(&r, 2);

    let cnf = home.path().join(".my.cnf");
    let text = format!(
        "# options of the mysql client\n[mysqld]\npassword = wrong-server\n\n[client]\nport=3306\npassword = wrong-client\n  [mysql]   \npassword = \"{}\"   # the client's own group, later: it wins\n",
        PW.replace('"', "\\\"")
    );
    write_mode(&cnf, &text, 0o600);
    let r = extract(&url, &[]);
    assert_exit(&r, 0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert_no_secret(&r, &secrets);

    // The user too, when the URL names none.
    write_mode(
        &cnf,
        &format!("{text}[client]\nuser = {}\n", user.name),
        0o600,
    );
    let r = extract(&format!("mysql://{}/{}", my_hostport(), db.name), &[]);
    assert_exit(&r, 0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);

    // Ferry's own variable is never overridden, and no password is printed.
    let r = extract(&url, &[("FERRY_SOURCE_PASSWORD", "not-this-one")]);
    assert_exit(&r, 2);
    assert_no_secret(&r, &secrets);

    // A wrong password from the file: exit 2, the message names the file, not the password.
    write_mode(&cnf, "[client]\npassword=nope-Fy8\n", 0o600);
    let r = extract(&url, &[]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains(".my.cnf"), "{}", r.stderr);
    assert_no_secret(&r, &secrets);

    // World-writable: ignored with a warning, as the mysql client does.
    write_mode(&cnf, &text, 0o666);
    let r = extract(&url, &[]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("World-writable"), "{}", r.stderr);
    assert_no_secret(&r, &secrets);
}

/// PGPASSWORD, then the passfile with libpq's matching: the server trusts 127.0.0.1, so the
/// debug log says which password was chosen (never the password itself).
#[test]
fn pgpassword_and_pgpass_after_ferrys_own() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let pg = PgDb::new("pgpass");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)");
    let url = pg.url();
    let extract = |envs: &[(&str, &str)]| {
        let mut c = tool_at("extract", dir.path(), home.path());
        c.args(["--source", &url, "--table", "t", "--no-header", "-v"]);
        c.envs(envs.iter().copied());
        let r = run(c);
        assert_exit(&r, 0);
        assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
        r
    };
    let (host, port) = {
        let ep = url.split_once('@').unwrap().1;
        let hp = ep.split('/').next().unwrap();
        let (h, p) = hp.rsplit_once(':').unwrap();
        (h.to_string(), p.to_string())
    };
    let user = url
        .split_once("://")
        .unwrap()
        .1
        .split(['@', ':'])
        .next()
        .unwrap()
        .to_string();
    let secrets = [
        "Pq-a", "Pq-b", "Pq-c", "Pq-d", "Pq-env", "Pq-ferry", "Pq-file",
    ];
    let pgpass = home.path().join(".pgpass");
    write_mode(
        &pgpass,
        &format!(
            "# host:port:database:user:password\n\
             {host}:{port}:other_db:{user}:Pq-a\n\
             localhost:{port}:*:{user}:Pq-b\n\
             {host}:*:{}:{user}:Pq-c\\:x\n\
             *:*:*:*:Pq-d\n",
            pg.name
        ),
        0o600,
    );
    let r = extract(&[]);
    assert!(
        r.stderr.contains("password from") && r.stderr.contains(".pgpass line 4"),
        "{}",
        r.stderr
    );
    assert_no_secret(&r, &secrets);

    let r = extract(&[("PGPASSWORD", "Pq-env")]);
    assert!(
        r.stderr.contains("password from PGPASSWORD"),
        "{}",
        r.stderr
    );
    assert_no_secret(&r, &secrets);

    let r = extract(&[
        ("PGPASSWORD", "Pq-env"),
        ("FERRY_SOURCE_PASSWORD", "Pq-ferry"),
    ]);
    assert!(!r.stderr.contains("password from"), "{}", r.stderr);
    assert_no_secret(&r, &secrets);

    // PGPASSFILE names another file.
    let other = home.path().join("elsewhere");
    write_mode(&other, &format!("*:*:{}:*:Pq-file\n", pg.name), 0o600);
    let r = extract(&[("PGPASSFILE", other.to_str().unwrap())]);
    assert!(r.stderr.contains("elsewhere line 1"), "{}", r.stderr);
    assert_no_secret(&r, &secrets);

    // Readable by others: ignored with libpq's warning.
    fs_err::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = extract(&[]);
    assert!(
        r.stderr.contains("group or world access") && !r.stderr.contains("password from"),
        "{}",
        r.stderr
    );
    assert_no_secret(&r, &secrets);
}

/// `DATABASE_URL` is the target of a loader and the source of extract when neither the flag
/// nor the FERRY_ variable is given; FERRY_TARGET beats it; a two-database tool ignores it.
#[test]
fn database_url_for_one_database_tools() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let pg = PgDb::new("dburl");
    pg.exec("CREATE TABLE items (id int PRIMARY KEY, name text)");
    fs_err::write(
        dir.path().join("items.ndjson"),
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n",
    )
    .unwrap();
    let load = |envs: &[(&str, &str)]| {
        let mut c = tool_at("load-postgres", dir.path(), home.path());
        c.args(["--table", "items", "items.ndjson", "--mode", "upsert"]);
        c.envs(envs.iter().copied());
        run(c)
    };

    let r = load(&[]);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("DATABASE_URL"), "{}", r.stderr);

    let r = load(&[("DATABASE_URL", &pg.url())]);
    assert_exit(&r, 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM items").as_deref(),
        Some("2")
    );

    pg.exec("DELETE FROM items");
    let r = load(&[
        (
            "DATABASE_URL",
            "postgres://nobody:Dz-secret@127.0.0.1:1/none",
        ),
        ("FERRY_TARGET", &pg.url()),
    ]);
    assert_exit(&r, 0);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM items").as_deref(),
        Some("2")
    );
    assert_no_secret(&r, &["Dz-secret"]);

    let mut c = tool_at("extract", dir.path(), home.path());
    c.args(["--table", "items", "--no-header"])
        .env("DATABASE_URL", pg.url());
    let r = run(c);
    assert_exit(&r, 0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);

    // Two databases: DATABASE_URL is not taken for either.
    let mut c = tool_at("verify", dir.path(), home.path());
    c.args(["--target", &pg.url(), "--table", "items"])
        .env("DATABASE_URL", pg.url());
    let r = run(c);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("--source"), "{}", r.stderr);
}
