//! `schema-copy` + `customer-filter` + `delete-migrated` on the STARFOX/ONBOARDING fixture,
//! from the first MariaDB to the second (two servers) and on one server with `--map`: the
//! target holds exactly the rows the documented rules select (computed here in SQL on the
//! source), no orphans, routines that run; reruns insert nothing; `--force-tables` redoes
//! one table; `kill -9` then the same command gives the same target; `delete-migrated`
//! returns every table's checksum to what it was.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;

struct Setup {
    dir: tempfile::TempDir,
    sf: MyDb,
    ob: MyDb,
    sf2: MyDb,
    ob2: MyDb,
}

/// Fixtures on the first server, their structure (schema-copy) on the target server.
fn setup(target_base: &str, mapped: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sf = MyDb::new("cf_starfox");
    let ob = MyDb::new("cf_onboard");
    for (cmd, db) in [("starfox", &sf), ("onboarding", &ob)] {
        let mut c = tool("ferry-gen", dir.path());
        c.args([cmd, "--target", &db.url()]);
        assert_exit(&run(c), 0);
    }
    let (sf2, ob2) = if mapped {
        (
            MyDb::reserve_on(target_base, "cf_sf_copy"),
            MyDb::reserve_on(target_base, "cf_ob_copy"),
        )
    } else {
        (
            MyDb {
                name: sf.name.clone(),
                base: target_base.to_string(),
            },
            MyDb {
                name: ob.name.clone(),
                base: target_base.to_string(),
            },
        )
    };
    let s = Setup {
        dir,
        sf,
        ob,
        sf2,
        ob2,
    };
    let mut c = tool("schema-copy", s.dir.path());
    c.args(s.servers(target_base));
    c.args(["--databases", &format!("{},{}", s.sf.name, s.ob.name), "-q"]);
    assert_exit(&run(c), 0);
    s
}

impl Setup {
    fn servers(&self, target_base: &str) -> Vec<String> {
        self.servers_into(target_base, (&self.sf2, &self.ob2))
    }
    /// The source server, `target_base`, and `--map` pairs when the target names differ.
    fn servers_into(&self, target_base: &str, (sf, ob): (&MyDb, &MyDb)) -> Vec<String> {
        let mut v = vec![
            "--source".to_string(),
            format!("{}/", mysql_base()),
            "--target".to_string(),
            format!("{target_base}/"),
        ];
        if sf.name != self.sf.name {
            v.push("--map".into());
            v.push(format!("{}={}", self.sf.name, sf.name));
            v.push("--map".into());
            v.push(format!("{}={}", self.ob.name, ob.name));
        }
        v
    }
    fn filter_cmd(&self, target_base: &str, extra: &[&str]) -> std::process::Command {
        let mut c = tool("customer-filter", self.dir.path());
        c.args(self.servers(target_base));
        c.args([
            "--databases",
            &format!("{},{}", self.sf.name, self.ob.name),
            "--customer-ids",
            "1,2",
        ]);
        c.args(extra);
        c
    }
    fn filter(&self, target_base: &str, extra: &[&str]) -> Run {
        run(self.filter_cmd(target_base, extra))
    }
}

fn rows(db: &MyDb, sql: &str) -> Vec<Vec<Option<String>>> {
    db.query(sql)
}

/// How many triggers a database has.
fn triggers(db: &MyDb) -> Option<String> {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}'",
        db.name
    ))
}

/// CHECKSUM TABLE of every table of a database.
fn checksums(db: &MyDb) -> Vec<Vec<Option<String>>> {
    let tables = db.query(&format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        db.name
    ));
    let mut out = Vec::new();
    for t in tables {
        let name = t[0].clone().unwrap().replace('`', "``");
        out.extend(
            db.query(&format!("CHECKSUM TABLE `{name}`"))
                .into_iter()
                .map(|mut r| {
                    r.remove(0);
                    r
                }),
        );
    }
    out
}

/// The documented selection, computed on the source: (table, ORDER BY, WHERE).
fn expected() -> Vec<(&'static str, &'static str, String)> {
    let accounts = "SELECT id FROM ACCOUNT WHERE customer_id IN (1, 2)";
    let orders = "SELECT order_id FROM ORDERS WHERE customer_id IN (1, 2)";
    vec![
        ("CUSTOMER", "customer_id", "customer_id IN (1, 2)".into()),
        ("ACCOUNT", "id", "customer_id IN (1, 2)".into()),
        ("ORDERS", "order_id", "customer_id IN (1, 2)".into()),
        ("ROLE", "id", "customer_id IN (1, 2)".into()),
        ("`we``ird'na;me`", "id", "customer_id IN (1, 2)".into()),
        ("USER_SETTING", "id", "user_id IN (1, 2)".into()),
        // Seed users, plus the users the migrated accounts name and their managers (parents
        // brought along).
        (
            "APP_USER",
            "user_id",
            format!(
                "user_id IN (1, 2) OR user_id IN (SELECT created_by FROM ACCOUNT WHERE id IN ({accounts})) \
                 OR user_id IN (SELECT manager_user_id FROM APP_USER WHERE user_id IN (SELECT created_by FROM ACCOUNT WHERE id IN ({accounts})))"
            ),
        ),
        ("INVOICE", "invoice_id", format!("account_id IN ({accounts})")),
        ("ORDER_LINE", "order_id, line_no", format!("order_id IN ({orders})")),
        (
            "LINE_NOTE",
            "id",
            format!("(order_id, line_no) IN (SELECT order_id, line_no FROM ORDER_LINE WHERE order_id IN ({orders}))"),
        ),
        ("ROLE_ACCESS_MAP", "role_id, access_right_id", "role_id IN (SELECT id FROM ROLE WHERE customer_id IN (1, 2))".into()),
        // Teams led by a migrated account, plus the teams migrated accounts belong to.
        ("TEAM", "id", format!("lead_account_id IN ({accounts}) OR id IN (SELECT team_id FROM ACCOUNT WHERE id IN ({accounts}))")),
        ("COUNTRY", "code", "TRUE".into()),
        ("PRODUCT", "code", "TRUE".into()),
        ("ACCESS_RIGHT", "id", "TRUE".into()),
    ]
}

fn assert_selection(s: &Setup, big_log_rows: &str) {
    for (t, order, cond) in expected() {
        let want = rows(
            &s.sf,
            &format!("SELECT * FROM {t} WHERE {cond} ORDER BY {order}"),
        );
        let got = rows(&s.sf2, &format!("SELECT * FROM {t} ORDER BY {order}"));
        assert!(!want.is_empty(), "{t}: empty selection");
        assert_eq!(got, want, "{t}");
    }
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM BIG_LOG").as_deref(),
        Some(big_log_rows)
    );
    for (t, order, cond) in [
        ("CUSTOMER_PROGRESS", "id", "customer_id IN (1, 2)"),
        ("USER_TOUR", "id", "user_id IN (1, 2)"),
        ("STEP", "id", "TRUE"),
        ("schema_version", "version", "TRUE"),
    ] {
        let want = rows(
            &s.ob,
            &format!("SELECT * FROM {t} WHERE {cond} ORDER BY {order}"),
        );
        assert_eq!(
            rows(&s.ob2, &format!("SELECT * FROM {t} ORDER BY {order}")),
            want,
            "{t}"
        );
    }
}

#[test]
fn two_servers_closure_rerun_force_tables_delete() {
    let base2 = mysql2_base();
    let s = setup(&base2, false);
    let before = (checksums(&s.sf2), checksums(&s.ob2));

    // --plan: the closure before any data moves.
    let r = s.filter(&base2, &["--plan"]);
    assert_exit(&r, 0);
    assert!(r.stdout.contains("phase 1C INVOICE"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("INVOICE.account_id → ACCOUNT.customer_id IN (1, 2) (implicit key)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "LINE_NOTE.order_id+line_no → ORDER_LINE.order_id → ORDERS.customer_id IN (1, 2)"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(checksums(&s.sf2), before.0);

    let r = s.filter(&base2, &[]);
    assert_exit(&r, 0);
    assert!(
        r.stderr.contains("BIG_LOG: skipped (no_terminal"),
        "{}",
        r.stderr
    );
    assert_selection(&s, "0");
    // Every target row is a source row: the selection above compares whole rows. Orphans:
    // the tool's check found none, and here is one of ours, through the implicit key.
    let report_orphans = s.sf2.scalar("SELECT COUNT(*) FROM INVOICE i LEFT JOIN ACCOUNT a ON a.id = i.account_id WHERE a.id IS NULL");
    assert_eq!(report_orphans.as_deref(), Some("0"));
    // The trigger was set aside during the load (it would have filled ORDERS.note) and is back.
    assert_eq!(triggers(&s.sf2).as_deref(), Some("1"));
    // Routines exist and run on the target.
    assert_eq!(
        s.sf2.scalar("SELECT fn_order_total(501)").as_deref(),
        Some("20.00")
    );
    my_exec(&s.sf2.url(), "CALL sp_customer_orders(1)");
    assert_eq!(
        s.sf2
            .scalar("SELECT orders FROM V_CUSTOMER_ORDERS WHERE customer_id = 1")
            .as_deref(),
        Some("2")
    );

    // --status, in the document's form.
    let mut c = tool("customer-filter", s.dir.path());
    c.args(["--status", "--customer-ids", "2,1"]);
    let st = run(c);
    assert_exit(&st, 0);
    assert!(
        st.stdout
            .contains("State file: .migration_state/migration_state_1_2.json"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout.contains("  ✓ CUSTOMER: completed [2 rows]"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout.contains("  ⊗ BIG_LOG: skipped (no_terminal)"),
        "{}",
        st.stdout
    );

    // A rerun without --force inserts nothing.
    let after_first = checksums(&s.sf2);
    let r = s.filter(&base2, &["--report", "rerun.json"]);
    assert_exit(&r, 0);
    let rep: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(s.dir.path().join("rerun.json")).unwrap())
            .unwrap();
    assert_eq!(rep["totals"]["migrated"], 0, "{rep}");
    assert_eq!(checksums(&s.sf2), after_first);

    // --force-tables X redoes X only; FORCE_MIGRATE_TABLES takes the large table whole.
    s.sf2.exec("SET FOREIGN_KEY_CHECKS = 0; DELETE FROM ROLE_ACCESS_MAP WHERE role_id = 1; DELETE FROM USER_SETTING WHERE user_id = 2");
    let r = s.filter(&base2, &["--force-tables", "ROLE_ACCESS_MAP"]);
    assert_exit(&r, 0);
    assert_eq!(
        s.sf2
            .scalar("SELECT COUNT(*) FROM ROLE_ACCESS_MAP")
            .as_deref(),
        Some("5")
    );
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM USER_SETTING").as_deref(),
        Some("1")
    );
    let mut c = tool("customer-filter", s.dir.path());
    c.args(s.servers(&base2));
    c.args([
        "--databases",
        &s.sf.name,
        "--customer-ids",
        "1,2",
        "--force-tables",
        "USER_SETTING",
    ]);
    c.env("FORCE_MIGRATE_TABLES", "*.BIG_LOG");
    assert_exit(&run(c), 0);
    assert_selection(&s, "1000");

    // delete-migrated: every table back to its checksum before customer-filter.
    let mut c = tool("delete-migrated", s.dir.path());
    c.args(["--target", &format!("{base2}/"), "--customer-ids", "1,2"]);
    assert_exit(&run(c), 0);
    assert_eq!(checksums(&s.sf2), before.0);
    assert_eq!(checksums(&s.ob2), before.1);
}

#[test]
fn one_server_mapped_kill_and_rerun() {
    let base = mysql_base();
    let s = setup(&base, true);
    // A large phase-1 table: 300,000 rows of customers 1 and 2 (and 3, not migrated).
    gen_bench(&s.sf.url(), "BULK_ORDER", 300_000, s.dir.path());
    s.sf.exec("UPDATE BULK_ORDER SET customer_id = id % 3 + 1");
    let mut c = tool("schema-copy", s.dir.path());
    c.args(s.servers(&base));
    c.args(["--databases", &s.sf.name, "-q"]);
    assert_exit(&run(c), 0);
    let before = checksums(&s.sf2);
    let state = s
        .dir
        .path()
        .join(".migration_state/migration_state_1_2.json");
    let bulk_started = || {
        fs_err::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v["databases"][&s.sf.name]["tables"]["BULK_ORDER"]["last_key"]
                    .as_array()
                    .cloned()
            })
            .is_some()
    };
    // Ctrl+C (SIGINT) mid-table: the page finishes, the state is saved, the trigger is back.
    let pages = ["--batch-size", "5000"];
    let mut c = s.filter_cmd(&base, &pages);
    c.args(["--report", "interrupted.json"]);
    let out = ctrl_c_once(c, &bulk_started, 120);
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(130) {
        assert!(err.contains("interrupted by Ctrl+C; state saved"), "{err}");
        let st: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(&state).unwrap()).unwrap();
        assert_eq!(
            st["databases"][&s.sf.name]["tables"]["BULK_ORDER"]["status"], "in_progress",
            "{st}"
        );
        assert!(st.get("suspended_triggers").is_none(), "{st}");
        // The report agrees with the exit code (it said "failed", 1).
        let rep: serde_json::Value = serde_json::from_str(
            &fs_err::read_to_string(s.dir.path().join("interrupted.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (&rep["status"], &rep["exit_code"]),
            (&"interrupted".into(), &130.into()),
            "{rep}"
        );
    } else {
        eprintln!("the run ended before SIGINT arrived: {err}");
    }
    assert_eq!(triggers(&s.sf2).as_deref(), Some("1"));
    // Then a crash mid-table: BULK_ORDER alone has 40 pages of 5,000 rows.
    crash_at(
        s.filter_cmd(&base, &pages),
        "customer-filter",
        crash_point(25, 35),
    );
    let st: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        st["databases"][&s.sf.name]["tables"]["BULK_ORDER"]["status"], "in_progress",
        "{st}"
    );
    let copied = s.sf2.scalar("SELECT COUNT(*) FROM BULK_ORDER").unwrap();
    eprintln!("BULK_ORDER rows before the rerun: {copied}");
    let r = s.filter(&base, &pages);
    assert_exit(&r, 0);
    assert_eq!(
        rows(
            &s.sf2,
            "SELECT COUNT(*), SUM(id), SUM(amount) FROM BULK_ORDER"
        ),
        rows(
            &s.sf,
            "SELECT COUNT(*), SUM(id), SUM(amount) FROM BULK_ORDER WHERE customer_id IN (1, 2)"
        )
    );
    assert_selection(&s, "0");
    let mut c = tool("delete-migrated", s.dir.path());
    c.args(["--target", &format!("{base}/"), "--customer-ids", "1,2"]);
    assert_exit(&run(c), 0);
    assert_eq!(checksums(&s.sf2), before);
}

/// `customer-filter --status` of a customer set (state folder of the setup), its stdout.
fn status(s: &Setup, ids: &str) -> String {
    let mut c = tool("customer-filter", s.dir.path());
    c.args(["--status", "--customer-ids", ids]);
    let r = run(c);
    assert_exit(&r, 0);
    r.stdout
}

/// schema-copy of both fixture databases into other names on `base` (the same source).
fn mapped_copy(s: &Setup, base: &str, prefix: &str) -> (MyDb, MyDb) {
    let sf = MyDb::reserve_on(base, &format!("{prefix}_sf"));
    let ob = MyDb::reserve_on(base, &format!("{prefix}_ob"));
    let mut c = tool("schema-copy", s.dir.path());
    c.args(s.servers_into(base, (&sf, &ob)));
    c.args(["--databases", &format!("{},{}", s.sf.name, s.ob.name), "-q"]);
    assert_exit(&run(c), 0);
    (sf, ob)
}

/// customer-filter of `ids` from the fixture into `sf`/`ob` (mapped names on `base`), with
/// its own state folder `state`.
fn filter_into(
    s: &Setup,
    base: &str,
    target: (&MyDb, &MyDb),
    ids: &str,
    state: &str,
    extra: &[&str],
) -> Run {
    let mut c = tool("customer-filter", s.dir.path());
    c.args(s.servers_into(base, target));
    c.args([
        "--databases",
        &format!("{},{}", s.sf.name, s.ob.name),
        "--customer-ids",
        ids,
    ]);
    c.args(["--state-dir", state]);
    c.args(extra);
    run(c)
}

/// Two customer sets into one target, then the first removed: the second set's rows and
/// everything they reference stay, no orphan, and every table equals "schema-copy + the
/// second set alone". A keyless table selected by both sets is neither doubled (by the
/// second set or by --force) nor removed while the second set holds it.
#[test]
fn two_sets_then_deleting_the_first_leaves_the_second_alone() {
    let base2 = mysql2_base();
    let s = setup(&base2, false);
    // No primary key, but a unique NOT NULL key: its rows are told apart by it.
    let tags = "CREATE TABLE TAGS (code VARCHAR(10) NOT NULL, customer_id INT NOT NULL, UNIQUE KEY uk_code (code))";
    s.sf.exec(&format!(
        "{tags}; INSERT INTO TAGS VALUES ('a', 1), ('b', 2), ('c', 3)"
    ));
    s.sf2.exec(tags);
    let target = (&s.sf2, &s.ob2);
    assert_exit(&filter_into(&s, &base2, target, "1,2", "st", &["--yes"]), 0);
    assert_exit(&filter_into(&s, &base2, target, "3", "st", &["--yes"]), 0);
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM BIG_LOG").as_deref(),
        Some("1000")
    );
    assert_exit(
        &filter_into(&s, &base2, target, "3", "st", &["--yes", "--force"]),
        0,
    );
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM BIG_LOG").as_deref(),
        Some("1000")
    );

    let delete_first = || {
        let mut c = tool("delete-migrated", s.dir.path());
        c.args([
            "--target",
            &format!("{base2}/"),
            "--customer-ids",
            "2,1",
            "--state-dir",
            "st",
        ]);
        c
    };
    // A dry run names what would go and changes nothing (it failed with "No database
    // selected": the real run had a current database only by way of the trigger code).
    let before = (checksums(&s.sf2), checksums(&s.ob2));
    let mut c = delete_first();
    c.arg("--dry-run");
    let r = run(c);
    assert_exit(&r, 0);
    assert!(r.stdout.contains("would delete"), "{}", r.stdout);
    assert_eq!((checksums(&s.sf2), checksums(&s.ob2)), before);
    let mut c = delete_first();
    c.args(["--report", "delete.json"]);
    let r = run(c);
    assert_exit(&r, 0);
    let rep = fs_err::read_to_string(s.dir.path().join("delete.json")).unwrap();
    assert!(rep.contains("integrity check: 0 orphan rows"), "{rep}");

    // The reference: the second set alone into a fresh copy of the structure.
    let (rsf, rob) = mapped_copy(&s, &base2, "cf_ref");
    assert_exit(
        &filter_into(&s, &base2, (&rsf, &rob), "3", "ref_st", &["--yes"]),
        0,
    );
    assert_eq!(
        s.sf2
            .scalar("SELECT GROUP_CONCAT(code) FROM TAGS")
            .as_deref(),
        Some("c")
    );
    assert_eq!(checksums(&s.sf2), checksums(&rsf), "STARFOX");
    assert_eq!(checksums(&s.ob2), checksums(&rob), "ONBOARDING");

    // Removing the second set too returns the target to the bare structure.
    let mut c = tool("delete-migrated", s.dir.path());
    c.args([
        "--target",
        &format!("{base2}/"),
        "--customer-ids",
        "3",
        "--state-dir",
        "st",
    ]);
    assert_exit(&run(c), 0);
    let (esf, eob) = mapped_copy(&s, &base2, "cf_empty");
    assert_eq!(
        checksums(&s.sf2),
        checksums(&esf),
        "STARFOX after both removed"
    );
    assert_eq!(
        checksums(&s.ob2),
        checksums(&eob),
        "ONBOARDING after both removed"
    );
}

/// A page the server writes with a warning (a column too narrow) is rolled back and the
/// table marked failed; after the column is fixed, the rerun gives every row exactly.
#[test]
fn a_failed_table_is_redone_exactly_after_the_fix() {
    let base2 = mysql2_base();
    let s = setup(&base2, false);
    s.sf2.exec("ALTER TABLE ORDERS MODIFY note VARCHAR(3) NULL");
    let r = s.filter(&base2, &[]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("rolled back"), "{}", r.stderr);
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM ORDERS").as_deref(),
        Some("0")
    );
    s.sf2.exec("ALTER TABLE ORDERS MODIFY note TEXT NULL");
    let r = s.filter(&base2, &[]);
    assert_exit(&r, 0);
    assert_selection(&s, "0");
}

/// SKIP_TABLES tables receive no row, not even a brought-along parent, and the references
/// left dangling are said; a table skipped by the threshold into which parents were brought
/// stays `skipped`, and the next run with --yes takes it whole.
#[test]
fn skipped_tables_stay_skipped() {
    let base2 = mysql2_base();
    let s = setup(&base2, false);
    let mut c = s.filter_cmd(&base2, &["--report", "skip.json"]);
    c.env("SKIP_TABLES", "*.COUNTRY");
    let r = run(c);
    assert_exit(&r, 0);
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM COUNTRY").as_deref(),
        Some("0")
    );
    let rep = fs_err::read_to_string(s.dir.path().join("skip.json")).unwrap();
    assert!(
        rep.contains("reference rows of SKIP_TABLES tables"),
        "{rep}"
    );
    assert!(
        r.stderr.contains("reference into a skipped table"),
        "{}",
        r.stderr
    );

    let base2 = mysql2_base();
    let s = setup(&base2, false);
    let mut c = s.filter_cmd(&base2, &[]);
    c.env("AUTO_CONFIRM_THRESHOLD", "2");
    assert_exit(&run(c), 0);
    // COUNTRY and PRODUCT (4 and 3 rows) were declined; the parents migrated rows need came.
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM COUNTRY").as_deref(),
        Some("2")
    );
    let st = status(&s, "1,2");
    assert!(st.contains("⊗ COUNTRY: skipped (no_terminal)"), "{st}");
    let mut c = s.filter_cmd(&base2, &["--yes"]);
    c.env("AUTO_CONFIRM_THRESHOLD", "2");
    assert_exit(&run(c), 0);
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM COUNTRY").as_deref(),
        Some("4")
    );
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM PRODUCT").as_deref(),
        Some("3")
    );
}

/// kill -9 while a table's triggers are set aside: the next command of any of the three
/// tools (customer-filter --status, schema-copy, delete-migrated) puts them back first.
#[test]
fn triggers_come_back_after_kill_9_with_any_next_command() {
    let base = mysql_base();
    let s = setup(&base, true);
    gen_bench(&s.sf.url(), "BULK_ORDER", 60_000, s.dir.path());
    s.sf.exec("UPDATE BULK_ORDER SET customer_id = id % 3 + 1");
    s.sf.exec("CREATE TRIGGER trg_bulk BEFORE INSERT ON BULK_ORDER FOR EACH ROW SET NEW.quantity = NEW.quantity");
    let mut c = tool("schema-copy", s.dir.path());
    c.args(s.servers(&base));
    c.args(["--databases", &s.sf.name, "-q"]);
    assert_exit(&run(c), 0);
    assert_eq!(triggers(&s.sf2).as_deref(), Some("2"));
    // Each round starts afresh (its own state folder), so the crash lands in BULK_ORDER.
    let next: [&dyn Fn(&str) -> std::process::Command; 3] = [
        &|st| {
            let mut c = tool("customer-filter", s.dir.path());
            c.args(s.servers(&base));
            c.args(["--status", "--customer-ids", "1,2", "--state-dir", st]);
            c
        },
        &|st| {
            let mut c = tool("schema-copy", s.dir.path());
            c.args(s.servers(&base));
            c.args(["--databases", &s.sf.name, "-q", "--state-dir", st]);
            c
        },
        &|st| {
            let mut c = tool("delete-migrated", s.dir.path());
            c.args([
                "--target",
                &format!("{base}/"),
                "--customer-ids",
                "1,2",
                "--state-dir",
                st,
            ]);
            c
        },
    ];
    for (i, cmd) in next.iter().enumerate() {
        let st = format!("st{i}");
        let crash = s.filter_cmd(&base, &["--batch-size", "5000", "--state-dir", &st]);
        crash_at(crash, "customer-filter", crash_point(3, 6));
        // Only the table being copied lacks its trigger.
        assert_eq!(triggers(&s.sf2).as_deref(), Some("1"));
        let r = run(cmd(&st));
        assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
        assert_eq!(triggers(&s.sf2).as_deref(), Some("2"), "{}", r.stderr);
    }
}

/// The smaller points: an unknown customer id is said; a table missing on the target stops
/// the run before anything is written; --force-tables keeps the status counts and writes no
/// journal line twice; the document's BATCH_SIZE is read; a `.env` of a parent folder is
/// not; a refused password names the variable the user set.
#[test]
fn smaller_points_of_the_customer_tools() {
    let base2 = mysql2_base();
    let s = setup(&base2, false);
    s.sf2.exec("RENAME TABLE ORDER_LINE TO ORDER_LINE_OLD");
    let r = s.filter(&base2, &[]);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("ORDER_LINE do not exist in destination"),
        "{}",
        r.stderr
    );
    assert_eq!(
        s.sf2.scalar("SELECT COUNT(*) FROM CUSTOMER").as_deref(),
        Some("0")
    );
    s.sf2.exec("RENAME TABLE ORDER_LINE_OLD TO ORDER_LINE");

    let mut c = tool("customer-filter", s.dir.path());
    c.args(s.servers(&base2));
    c.args(["--databases", &s.sf.name, "--customer-ids", "1,99"]);
    c.env("BATCH_SIZE", "1");
    let r = run(c);
    assert_exit(&r, 0);
    assert!(
        r.stderr.contains("customer id 99 matches no row"),
        "{}",
        r.stderr
    );
    let journal = s.dir.path().join(format!(
        ".migration_state/journal_1_99/{}.ACCOUNT.ndjson",
        s.sf.name
    ));
    let lines = || fs_err::read_to_string(&journal).unwrap().lines().count();
    assert_eq!(lines(), 2);
    let mut c = tool("customer-filter", s.dir.path());
    c.args(s.servers(&base2));
    c.args([
        "--databases",
        &s.sf.name,
        "--customer-ids",
        "1,99",
        "--force",
    ]);
    assert_exit(&run(c), 0);
    assert_eq!(lines(), 2, "a forced rerun journals no key twice");
    let st = status(&s, "1,99");
    assert!(st.contains("✓ ACCOUNT: completed [2 rows]"), "{st}");

    // .env: the working folder only, never a parent's.
    let child = s.dir.path().join("child");
    fs_err::create_dir_all(&child).unwrap();
    fs_err::write(
        s.dir.path().join(".env"),
        "READ_DB_HOST=127.0.0.1\nREAD_DB_USER=root\nWRITE_DB_HOST=127.0.0.1\nWRITE_DB_USER=root\n",
    )
    .unwrap();
    let mut c = tool("schema-copy", &child);
    c.args(["--databases", &s.sf.name, "--dry-run"]);
    let r = run(c);
    assert_exit(&r, 2);
    assert!(
        r.stderr.contains("Missing required environment variables"),
        "{}",
        r.stderr
    );
    let mut c = tool("schema-copy", &child);
    c.args(["--databases", &s.sf.name, "--dry-run"]);
    c.envs([
        ("READ_DB_HOST", "127.0.0.1"),
        ("READ_DB_USER", "root"),
        ("READ_DB_PASSWORD", "wrong"),
        ("WRITE_DB_HOST", "127.0.0.1"),
        ("WRITE_DB_USER", "root"),
    ]);
    let r = run(c);
    assert!(r.stderr.contains("READ_DB_PASSWORD"), "{}", r.stderr);
    assert!(!r.stderr.contains("wrong"), "{}", r.stderr);
}

/// On a terminal: the run asks "Confirm", then asks for the large reference table; Ctrl+C at
/// that prompt stops the run at once (exit 130, one line saying the state is saved), with
/// every trigger of the target in place — none is set aside while a prompt waits.
#[test]
fn ctrl_c_at_a_prompt_stops_at_once_with_triggers_in_place() {
    let base2 = mysql2_base();
    let s = setup(&base2, false);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pty_run.py");
    let mut c = std::process::Command::new("python3");
    c.current_dir(s.dir.path());
    c.args([
        script.to_str().unwrap(),
        "60",
        "Confirm (yes/no)=yes",
        "[y/N]=^C",
        "--",
    ]);
    c.arg(bin("customer-filter"));
    c.args(s.servers(&base2));
    c.args([
        "--databases",
        &format!("{},{}", s.sf.name, s.ob.name),
        "--customer-ids",
        "1,2",
    ]);
    let started = std::time::Instant::now();
    let r = run(c);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("BIG_LOG is a reference table with 1000 rows"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.trim_end().ends_with("exit 130"), "{}", r.stdout);
    assert!(
        r.stdout.contains("interrupted by Ctrl+C at a prompt"),
        "{}",
        r.stdout
    );
    assert_eq!(triggers(&s.sf2).as_deref(), Some("1"));
}

/// One source database made by `ddl` on the first server, its structure copied to the
/// second (same name), and customer-filter of customer 1 between them in pages of `page`.
struct OneDb {
    dir: tempfile::TempDir,
    src: MyDb,
    dst: MyDb,
}

impl OneDb {
    fn new(prefix: &str, ddl: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = MyDb::new(prefix);
        let dst = MyDb {
            name: src.name.clone(),
            base: mysql2_base(),
        };
        src.exec(ddl);
        let mut c = tool("schema-copy", dir.path());
        c.args(["--source", &format!("{}/", mysql_base()), "--target"]);
        c.args([&format!("{}/", dst.base), "--databases", &src.name, "-q"]);
        assert_exit(&run(c), 0);
        OneDb { dir, src, dst }
    }
    /// The target's `t` (id, customer_id, note) holds customer 1's `rows` source rows
    /// exactly: the same count, each id once, the same sum of row checksums.
    fn assert_customer_1_in_t(&self, rows: u64) {
        let sums = "SELECT COUNT(*), COUNT(DISTINCT id), SUM(CRC32(CONCAT_WS('|', id, customer_id, note))) FROM t";
        let want = self.src.query(&format!("{sums} WHERE customer_id = 1"));
        assert_eq!(self.dst.query(sums), want);
        assert_eq!(want[0][0], Some(rows.to_string()));
    }
    fn filter(&self, page: &str) -> std::process::Command {
        self.filter_ids("1", page)
    }
    fn filter_ids(&self, ids: &str, page: &str) -> std::process::Command {
        let mut c = tool("customer-filter", self.dir.path());
        c.args(["--source", &format!("{}/", mysql_base()), "--target"]);
        c.args([
            &format!("{}/", self.dst.base),
            "--databases",
            &self.src.name,
        ]);
        c.args(["--customer-ids", ids, "--batch-size", page, "--yes"]);
        c
    }
}

/// A page is sent to the target in pieces, never as one packet: a page of wide rows larger
/// than the target's `max_allowed_packet` (16 MiB by default) loads whole, the same bytes.
/// (It failed with "Packet is larger than max_allowed_packet" when a page went as one piece.)
#[test]
fn a_page_larger_than_the_targets_packet_limit_loads() {
    let db = OneDb::new(
        "cf_wide",
        "CREATE TABLE wide (id INT PRIMARY KEY, customer_id INT NOT NULL, body MEDIUMTEXT NOT NULL);
         INSERT INTO wide SELECT seq, 1 + seq % 2, REPEAT(CONCAT('wide-', seq, '-é\t\\\\\n'), 5000)
           FROM seq_1_to_700;",
    );
    let bytes = db
        .src
        .scalar("SELECT SUM(LENGTH(body)) FROM wide WHERE customer_id = 1");
    assert!(
        bytes.unwrap().parse::<u64>().unwrap() > 20 << 20,
        "the page is > 20 MiB"
    );
    assert_exit(&run(db.filter("1000")), 0);
    let sums = "SELECT COUNT(*), SUM(CRC32(CONCAT(id, customer_id, body))) FROM wide";
    let want = db.src.query(&format!("{sums} WHERE customer_id = 1"));
    assert_eq!(db.dst.query(sums), want);
    assert_eq!(want[0][0].as_deref(), Some("350"));
}

/// A page loads as two halves at once on two connections: when the second half fails (a
/// value too long for the target), the first rolls back with it and the target holds
/// nothing of the page; a crash between the two halves' COMMITs leaves one half in, and
/// the next run gives every selected row exactly once (and the run after it adds none).
#[test]
fn a_pages_halves_fail_together_and_a_crash_between_their_commits_resumes_exactly() {
    let db = OneDb::new(
        "cf_halves",
        "CREATE TABLE t (id INT PRIMARY KEY, customer_id INT NOT NULL, note VARCHAR(40) NOT NULL);
         INSERT INTO t SELECT seq, 1 + seq % 2, CONCAT('n', seq) FROM seq_1_to_1000;
         UPDATE t SET note = 'far too long for the target' WHERE id = 380;",
    );
    let dst = &db.dst;
    dst.exec("ALTER TABLE t MODIFY note VARCHAR(5) NOT NULL");
    // Customer 1: the 500 even ids; pages of 200 rows, halves of 100 (ids 2–200, 202–400).
    let r = run(db.filter("200"));
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("rolled back"), "{}", r.stderr);
    assert_eq!(dst.scalar("SELECT COUNT(*) FROM t").as_deref(), Some("0"));

    dst.exec("ALTER TABLE t MODIFY note VARCHAR(40) NOT NULL");
    crash_at(db.filter("200"), "customer-filter-halves", 2);
    // Page 1 whole, and the first half of page 2.
    assert_eq!(dst.scalar("SELECT COUNT(*) FROM t").as_deref(), Some("300"));
    assert_exit(&run(db.filter("200")), 0);
    db.assert_customer_1_in_t(500);
    assert_exit(&run(db.filter("200")), 0);
    db.assert_customer_1_in_t(500);
}

/// Customer ids that match no row are named, whether the ids are few (asked one by one) or
/// many (one pass over the table), and only those.
#[test]
fn unknown_customer_ids_are_named_few_or_many() {
    let db = OneDb::new(
        "cf_ids",
        "CREATE TABLE t (id INT PRIMARY KEY, customer_id INT NOT NULL);
         INSERT INTO t SELECT seq, 1 + seq % 20 FROM seq_1_to_400;",
    );
    let many: Vec<String> = (1..=18).chain([99]).map(|i| i.to_string()).collect();
    for ids in ["2,99,20", &many.join(",")] {
        let r = run(db.filter_ids(ids, "100"));
        assert_exit(&r, 0);
        let named: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains("matches no row"))
            .collect();
        assert_eq!(named.len(), 1, "{ids}: {}", r.stderr);
        assert!(named[0].contains("customer id 99 "), "{}", r.stderr);
    }
}

/// A second target connection is a speed-up, never a requirement: into a target whose user
/// may hold one connection (`MAX_USER_CONNECTIONS 1`), the copy goes through that one,
/// exactly, and says so.
#[test]
fn a_target_allowing_one_connection_gets_the_copy_through_one() {
    let db = OneDb::new(
        "cf_onecon",
        "CREATE TABLE t (id INT PRIMARY KEY, customer_id INT NOT NULL, note VARCHAR(40));
         INSERT INTO t SELECT seq, 1 + seq % 2, CONCAT('n\t', seq) FROM seq_1_to_3000;",
    );
    let user = db.src.name.clone();
    let grant = format!(
        "DROP USER IF EXISTS '{user}'@'%';
         CREATE USER '{user}'@'%' IDENTIFIED BY 'one-pw' WITH MAX_USER_CONNECTIONS 1;
         GRANT ALL ON `{user}`.* TO '{user}'@'%';"
    );
    my_exec(&db.dst.base, &grant);
    let base = db.dst.base.replacen("root@", &format!("{user}:one-pw@"), 1);
    let mut c = tool("customer-filter", db.dir.path());
    c.args(["--source", &format!("{}/", mysql_base()), "--target"]);
    c.args([&format!("{base}/"), "--databases", &db.src.name]);
    c.args(["--customer-ids", "1", "--batch-size", "400", "--yes"]);
    let r = run(c);
    my_exec(&db.dst.base, &format!("DROP USER IF EXISTS '{user}'@'%'"));
    assert_exit(&r, 0);
    assert!(r.stderr.contains("through one connection"), "{}", r.stderr);
    assert!(!r.stderr.contains("one-pw"), "{}", r.stderr);
    db.assert_customer_1_in_t(1500);
}

/// FLOAT values arrive bit for bit: the text protocol writes a FLOAT with six significant
/// digits (123456789 was stored as 123456792 and arrived as 123457000), so a copy through
/// it changed them without a word. Plain, `(M,D)`, UNSIGNED, NULL, the extremes and a
/// subnormal; and FLOAT keys that six digits cannot tell apart, paged two rows at a time.
#[test]
fn float_values_and_float_keys_arrive_bit_for_bit() {
    let db = OneDb::new(
        "cf_float",
        "CREATE TABLE f (id INT PRIMARY KEY, customer_id INT NOT NULL, v FLOAT, d FLOAT(7,4),
           u FLOAT UNSIGNED);
         INSERT INTO f VALUES (1, 1, 1/3, 1.2346, 0.5), (2, 1, 3.4028234663852886e38, -999.9999, 3e38),
           (3, 1, -3.4028234663852886e38, 0.0001, 0), (4, 1, 16777217, 0, NULL),
           (5, 1, 123456789, NULL, 1e-45), (6, 1, 1.17549435e-38, 12.5, 0.1), (7, 1, 1e-45, 1, 2),
           (8, 1, NULL, -0.5, 1), (9, 2, 0.1, 0.1, 0.1), (10, 1, 0.1, 1.1, 7.7);
         CREATE TABLE k (customer_id INT NOT NULL, x FLOAT NOT NULL, note VARCHAR(10),
           PRIMARY KEY (customer_id, x));
         INSERT INTO k VALUES (1, 1, 'a'), (1, 1.0000001, 'b'), (1, 1.0000002, 'c'),
           (1, 1.0000004, 'd'), (1, 1.0000005, 'e'), (2, 1.0000001, 'z');",
    );
    assert_exit(&run(db.filter("2")), 0);
    let rows = "SELECT id, customer_id, CAST(v AS DOUBLE), CAST(d AS DOUBLE), CAST(u AS DOUBLE) \
                FROM f WHERE customer_id = 1 ORDER BY id";
    let want = db.src.query(rows);
    assert_eq!(want.len(), 9);
    assert_eq!(want[4][2].as_deref(), Some("123456792"));
    assert_eq!(db.dst.query(rows), want);
    let keys =
        "SELECT customer_id, CAST(x AS DOUBLE), note FROM k WHERE customer_id = 1 ORDER BY x";
    let want = db.src.query(keys);
    assert_eq!(want.len(), 5);
    assert_eq!(db.dst.query(keys), want);
    // --force reads the table again and asks the target which keys it holds: all five,
    // told apart exactly, so the journal gains none of them again.
    let mut c = db.filter("2");
    c.arg("--force");
    assert_exit(&run(c), 0);
    assert_eq!(db.dst.query(keys), want, "a forced rerun adds nothing");
    let journal = db.dir.path().join(format!(
        ".migration_state/journal_1/{}.k.ndjson",
        db.src.name
    ));
    let journal = fs_err::read_to_string(journal).unwrap();
    assert_eq!(journal.lines().count(), 5, "{journal}");
}

/// Ctrl+C while delete-migrated's DELETE waits on a row another session holds: the tool
/// cancels its statement on the server (`KILL QUERY`) before it exits. (The server went on
/// with the statement of a client that had gone: waiting out the lock, or for minutes of
/// work.) Nothing is removed, and the same command afterwards removes the set.
#[test]
fn ctrl_c_in_delete_migrated_cancels_its_statement_on_the_server() {
    use mysql_async::prelude::Queryable;
    let db = OneDb::new(
        "cf_kill",
        "CREATE TABLE t (id INT PRIMARY KEY, customer_id INT NOT NULL);
         INSERT INTO t SELECT seq, 1 + seq % 2 FROM seq_1_to_2000;",
    );
    assert_exit(&run(db.filter("500")), 0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut holder = rt.block_on(async {
        let mut c = mysql_async::Conn::from_url(db.dst.url()).await.unwrap();
        c.query_drop("START TRANSACTION").await.unwrap();
        c.query_drop("SELECT id FROM t WHERE id = 2 FOR UPDATE")
            .await
            .unwrap();
        c
    });
    let waiting = || {
        db.dst.scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE 'DELETE t FROM%' AND INFO LIKE '%{}%'",
            db.dst.name
        ))
    };
    let delete = || {
        let mut c = tool("delete-migrated", db.dir.path());
        c.args([
            "--target",
            &format!("{}/", db.dst.base),
            "--customer-ids",
            "1",
        ]);
        c
    };
    let out = ctrl_c_once(delete(), &|| waiting().as_deref() == Some("1"), 30);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gone = std::time::Instant::now();
    while waiting().as_deref() != Some("0") {
        assert!(
            gone.elapsed().as_secs() < 10,
            "the DELETE runs on after the tool ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    rt.block_on(async {
        holder.query_drop("ROLLBACK").await.unwrap();
        holder.disconnect().await.unwrap();
    });
    assert_eq!(
        db.dst.scalar("SELECT COUNT(*) FROM t").as_deref(),
        Some("1000")
    );
    assert_exit(&run(delete()), 0);
    assert_eq!(
        db.dst.scalar("SELECT COUNT(*) FROM t").as_deref(),
        Some("0")
    );
}

/// Starts `cmd`, sends it SIGINT once `ready()` holds (or it has ended), within `secs`
/// seconds, and returns how it ended.
fn ctrl_c_once(
    mut cmd: std::process::Command,
    ready: &dyn Fn() -> bool,
    secs: u64,
) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !ready() && child.try_wait().unwrap().is_none() {
        assert!(start.elapsed().as_secs() < secs, "not ready in {secs} s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait_with_output().unwrap()
}
