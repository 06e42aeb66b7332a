//! `schema-copy` against two real MariaDB servers (3306 → 3307) and on one server with
//! `--map`: every table's DDL equal to the source's, foreign keys added in pass 2, routines
//! that run, the view and the trigger; a rerun compares instead of dropping; `--dry-run`
//! changes nothing.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::Path;

/// STARFOX and ONBOARDING fixtures in fresh databases on the first server.
fn fixture(dir: &Path) -> (MyDb, MyDb) {
    let sf = MyDb::new("sc_starfox");
    let ob = MyDb::new("sc_onboard");
    for (cmd, db) in [("starfox", &sf), ("onboarding", &ob)] {
        let mut c = tool("ferry-gen", dir);
        c.args([cmd, "--target", &db.url()]);
        assert_exit(&run(c), 0);
    }
    (sf, ob)
}

fn tables(db: &MyDb) -> Vec<String> {
    db.query(&format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        db.name
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

fn show_create(db: &MyDb, table: &str) -> String {
    let t = table.replace('`', "``");
    db.query(&format!("SHOW CREATE TABLE `{t}`"))[0][1]
        .clone()
        .unwrap()
}

fn schema_copy(dir: &Path, target_base: &str, dbs: &str, extra: &[&str]) -> Run {
    let mut c = tool("schema-copy", dir);
    c.args([
        "--source",
        &format!("{}/", mysql_base()),
        "--target",
        &format!("{target_base}/"),
        "--databases",
        dbs,
    ]);
    c.args(extra);
    run(c)
}

/// Everything the source has, the target has, with the same definition.
fn assert_same_structure(src: &MyDb, dst: &MyDb) {
    let st = tables(src);
    assert_eq!(st, tables(dst));
    for t in &st {
        assert_eq!(show_create(src, t), show_create(dst, t), "table {t}");
    }
    let objects = |db: &MyDb| {
        db.query(&format!(
            "SELECT 'routine', ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{0}' \
             UNION ALL SELECT 'view', TABLE_NAME, '' FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{0}' \
             UNION ALL SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{0}' \
             ORDER BY 1, 2",
            db.name
        ))
    };
    assert_eq!(objects(src), objects(dst));
    let charset = |db: &MyDb| {
        db.query(&format!(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
            db.name
        ))
    };
    assert_eq!(charset(src), charset(dst));
}

#[test]
fn two_servers_copy_compare_and_recreate() {
    let dir = tempfile::tempdir().unwrap();
    let (sf, ob) = fixture(dir.path());
    let base2 = mysql2_base();
    // The target databases get the source names on the second server.
    let sf2 = MyDb {
        name: sf.name.clone(),
        base: base2.clone(),
    };
    let ob2 = MyDb {
        name: ob.name.clone(),
        base: base2.clone(),
    };
    let dbs = format!("{},{}", sf.name, ob.name);

    // Dry run: DDL on stdout, nothing created.
    let r = schema_copy(dir.path(), &base2, &dbs, &["--dry-run"]);
    assert_exit(&r, 0);
    assert!(
        r.stdout.contains("CREATE TABLE `we``ird'na;me`"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("ADD CONSTRAINT `fk_note_line` FOREIGN KEY (`order_id`, `line_no`)"),
        "{}",
        r.stdout
    );
    assert!(my_query(
        &format!("{base2}/"),
        &format!("SHOW DATABASES LIKE '{}'", sf.name)
    )
    .is_empty());

    let r = schema_copy(dir.path(), &base2, &dbs, &[]);
    assert_exit(&r, 0);
    assert_same_structure(&sf, &sf2);
    assert_same_structure(&ob, &ob2);
    // Routines, the view and the trigger work on the target.
    sf2.exec(
        "SET FOREIGN_KEY_CHECKS = 0; INSERT INTO ACCOUNT (id, customer_id) VALUES (1000, 1); \
         INSERT INTO ORDERS (order_id, customer_id, account_id, total) VALUES (500, 1, 1000, 12.50)",
    );
    assert_eq!(
        sf2.scalar("SELECT fn_order_total(500)").as_deref(),
        Some("12.50")
    );
    assert_eq!(
        sf2.scalar("SELECT note FROM ORDERS WHERE order_id = 500")
            .as_deref(),
        Some("created for 1")
    );
    assert_eq!(
        sf2.scalar("SELECT total_with_tax FROM ORDERS").as_deref(),
        Some("15.00")
    );
    my_exec(&sf2.url(), "CALL sp_customer_orders(1)");
    assert_eq!(
        sf2.scalar("SELECT orders FROM V_CUSTOMER_ORDERS")
            .as_deref(),
        None
    ); // no customers copied: schema only
       // The AUTO_INCREMENT counters are part of the copied definitions (compared above).
    assert!(show_create(&sf, "ORDERS").contains("AUTO_INCREMENT=505"));

    // A rerun compares: nothing differs, nothing is dropped (the row above stays).
    let r = schema_copy(dir.path(), &base2, &dbs, &[]);
    assert_exit(&r, 0);
    assert_eq!(
        sf2.scalar("SELECT count(*) FROM ORDERS").as_deref(),
        Some("1")
    );
    // A changed target table is reported, kept, exit 1.
    sf2.exec("ALTER TABLE COUNTRY ADD COLUMN extra INT");
    let r = schema_copy(dir.path(), &base2, &sf.name, &[]);
    assert_exit(&r, 1);
    assert!(
        r.stderr
            .contains(&format!("table {}.COUNTRY differs", sf.name)),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("target: `extra` int(11) DEFAULT NULL"),
        "{}",
        r.stderr
    );
    assert!(show_create(&sf2, "COUNTRY").contains("`extra`"));
    // --drop-existing without a terminal or --yes drops nothing: reported, exit 1.
    let r = schema_copy(dir.path(), &base2, &sf.name, &["--drop-existing"]);
    assert_exit(&r, 1);
    assert!(
        r.stderr.contains("not dropped: no terminal to confirm"),
        "{}",
        r.stderr
    );
    assert!(show_create(&sf2, "COUNTRY").contains("`extra`"));
    // With --yes it recreates only what differs: COUNTRY; ORDERS keeps its row.
    sf2.exec("SET FOREIGN_KEY_CHECKS = 0; INSERT INTO COUNTRY (code, name) VALUES ('XX', 'x')");
    let r = schema_copy(dir.path(), &base2, &sf.name, &["--drop-existing", "--yes"]);
    assert_exit(&r, 0);
    assert_same_structure(&sf, &sf2);
    assert_eq!(
        sf2.scalar("SELECT count(*) FROM COUNTRY").as_deref(),
        Some("0")
    );
    assert_eq!(
        sf2.scalar("SELECT count(*) FROM ORDERS").as_deref(),
        Some("1"),
        "a table that did not differ keeps its rows"
    );
}

#[test]
fn one_server_with_map_and_env_variables() {
    let dir = tempfile::tempdir().unwrap();
    let (sf, _ob) = fixture(dir.path());
    let copy = MyDb::reserve_on(&mysql_base(), "sc_staging");
    // The document's variables, as a migrate_databases.py user's .env has them.
    fs_err::write(
        dir.path().join(".env"),
        "READ_DB_HOST=127.0.0.1\nREAD_DB_PORT=3306\nREAD_DB_USER=root\nREAD_DB_PASSWORD=\n\
         WRITE_DB_HOST=127.0.0.1\nWRITE_DB_PORT=3306\nWRITE_DB_USER=root\nWRITE_DB_PASSWORD=\n",
    )
    .unwrap();
    let mut c = tool("schema-copy", dir.path());
    c.args([
        "--databases",
        &sf.name,
        "--map",
        &format!("{}={}", sf.name, copy.name),
    ]);
    let r = run(c);
    assert_exit(&r, 0);
    assert_same_structure(&sf, &copy);
    // No databases and no terminal: a usage error, not a hang.
    let mut c = tool("schema-copy", dir.path());
    c.arg("-q");
    let r = run(c);
    assert_exit(&r, 2);
    assert!(r.stderr.contains("--databases"), "{}", r.stderr);
}

/// `--map` renames the source database wherever a body names it, quoted or not, so the copy
/// never writes into the source; a name inside dynamic SQL cannot be renamed safely: exit 2,
/// naming the object, and nothing pointing at the source is created.
#[test]
fn map_renames_database_names_inside_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (sf, _ob) = fixture(dir.path());
    let n = &sf.name;
    sf.exec(&format!(
        "CREATE TRIGGER trg_role_audit AFTER INSERT ON ROLE FOR EACH ROW \
         INSERT INTO {n}.ACCESS_RIGHT (name) VALUES (CONCAT('role ', NEW.id)); \
         CREATE VIEW V_RIGHTS AS SELECT name FROM {n} . ACCESS_RIGHT"
    ));
    let copy = MyDb::reserve_on(&mysql_base(), "sc_mapped");
    let map = format!("{n}={}", copy.name);
    let r = schema_copy(dir.path(), &mysql_base(), n, &["--map", &map]);
    assert_exit(&r, 0);
    let body = copy
        .scalar("SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'trg_role_audit'")
        .unwrap();
    assert!(!body.contains(&format!("{n}.")), "{body}");
    copy.exec("INSERT INTO ROLE VALUES (9, 1, 'x')");
    assert_eq!(
        copy.scalar("SELECT count(*) FROM ACCESS_RIGHT").as_deref(),
        Some("1")
    );
    assert_eq!(
        copy.scalar("SELECT count(*) FROM V_RIGHTS").as_deref(),
        Some("1")
    );
    assert_eq!(
        sf.scalar("SELECT count(*) FROM ACCESS_RIGHT").as_deref(),
        Some("3")
    );

    sf.exec(&format!(
        "CREATE PROCEDURE sp_dynamic() BEGIN PREPARE s FROM 'SELECT * FROM {n}.COUNTRY'; EXECUTE s; END"
    ));
    let copy2 = MyDb::reserve_on(&mysql_base(), "sc_mapped2");
    let r = schema_copy(
        dir.path(),
        &mysql_base(),
        n,
        &["--map", &format!("{n}={}", copy2.name)],
    );
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains(&format!("procedure {n}.sp_dynamic")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("inside a string"), "{}", r.stderr);
}
