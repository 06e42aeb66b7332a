//! S9 → DynamoDB, the part built so far: the S9 fixture in PostgreSQL, `extract` of sales
//! with their lines (scripts/s9/sales.sql), `transform-sales` through a pipe and
//! `transform-buyers`/`transform-producers` from files: exact items, rejects with reasons.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use ferry_tests::*;
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn items(path: &Path) -> Vec<serde_json::Value> {
    read_ndjson(path)
}

#[test]
fn extract_transform_sales_buyers_producers() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::new("s9");
    let mut g = tool("ferry-gen", dir.path());
    g.args(["s9", "--target", &pg.url()]);
    assert_exit(&run(g), 0);
    let query = std::fs::read_to_string(workspace().join("scripts/s9/sales.sql")).unwrap();
    std::fs::write(dir.path().join("sales.sql"), &query).unwrap();
    let r = sh(
        &format!(
            "set -o pipefail; extract --source {} --query \"$(cat sales.sql)\" --name sales -q \
             | transform-sales - -o sales.items.ndjson --rejects sales.rejects.ndjson -q",
            pg.url()
        ),
        dir.path(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let sales = items(&dir.path().join("sales.items.ndjson"));
    let ids: Vec<&str> = sales
        .iter()
        .map(|i| i["legacyId"]["N"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["100", "101", "103", "105", "106", "100"]);
    let s105 = &sales[3];
    assert_eq!(s105["saleDate"]["S"], "2023-07-15");
    assert_eq!(s105["totalNet"]["N"], "22.00");
    assert_eq!(s105["totalVat"]["N"], "4.62");
    assert_eq!(s105["totalGross"]["N"], "26.62");
    assert_eq!(s105["lines"]["L"][0]["M"]["lineTotal"]["N"], "21.9999");
    let s101 = &sales[1];
    assert_eq!(s101["status"]["S"], "INVOICED");
    assert_eq!(s101["updatedAt"]["S"], "2023-04-20T09:00:00Z");
    assert_eq!(s101["totalNet"]["N"], "239.76");
    let s106 = &sales[4];
    assert_eq!(s106["status"]["S"], "DELETED");
    assert_eq!(s106["deletedAt"]["S"], "2023-09-01T00:00:00Z");
    assert!(s106.get("saleNumber").is_none());
    // The same legacy buyer gives the same key in sales and in buyers.
    let rejects = read_ndjson(&dir.path().join("sales.rejects.ndjson"));
    let why: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(why[0], "sale_date \"2023-02-30\" is not a date");
    assert!(
        why[1].starts_with("the item is 560461 bytes, over DynamoDB's 400 KB limit"),
        "{}",
        why[1]
    );
    assert_eq!(rejects[1]["record"]["id"], 104);

    for (entity, table) in [("buyers", "buyers"), ("producers", "producers")] {
        let mut e = tool("extract", dir.path());
        e.args([
            "--source",
            &pg.url(),
            "--table",
            table,
            "-o",
            &format!("data/extracted/{entity}.ndjson"),
            "-q",
        ]);
        assert_exit(&run(e), 0);
        let mut t = tool(&format!("transform-{entity}"), dir.path());
        t.arg("-q");
        assert_exit(&run(t), 0);
    }
    let buyers = items(&dir.path().join("data/transformed/buyers.ndjson"));
    assert_eq!(buyers.len(), 8);
    assert_eq!(buyers[0]["buyerId"], sales[0]["buyerId"]);
    assert_eq!(buyers[1]["companyName"]["S"], "Société Générale d'Achats");
    assert_eq!(buyers[1]["address"]["M"]["line2"]["S"], "Bât. B");
    assert_eq!(buyers[2]["contactName"]["S"], "山田太郎");
    assert_eq!(buyers[3]["status"]["S"], "DELETED");
    let producers = items(&dir.path().join("data/transformed/producers.ndjson"));
    assert_eq!(producers.len(), 4);
    assert_eq!(producers[0]["producerId"], sales[0]["producerId"]);
    assert_eq!(producers[2]["status"]["S"], "DELETED");
    assert!(
        producers[3].get("name").is_none(),
        "an empty name is left out, not sent"
    );
}
