//! `transform-buyers`, `transform-producers`, `transform-sales`: one extracted S9 record in,
//! one DynamoDB item out, by pure functions ([`buyer`], [`producer`], [`sale`]). The table
//! designs, attribute names and rules are in docs/migrations/s9-to-dynamodb.md.
//!
//! A record that cannot become an item (no legacy id, a date that is no date, an amount
//! that is no number, an item over 400 KB) goes to the rejects file with its reason; the
//! tool then exits 3. Business rules (required fields, references, duplicates) are
//! `validate-s9`'s job, not the transform's.

use crate::item::Item;
use chrono::{NaiveDate, NaiveDateTime};
use clap::{Parser, ValueEnum};
use ferry_shared::cli::CommonArgs;
use ferry_shared::record::{Item as Line, RecordReader, RecordWriter};
use ferry_shared::rejects::{record_value, Reject, Rejects};
use ferry_shared::report::{RunReport, TableStats};
use ferry_shared::value::Decimal;
use ferry_shared::Exit;
use serde_json::{Map, Value};
use std::path::PathBuf;

pub use ferry_dynamo::av::MAX_ITEM_BYTES;

/// Which entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    /// S9 buyers → BuyersTable.
    Buyers,
    /// S9 producers → ProducersTable.
    Producers,
    /// S9 sales with their lines → SalesTable.
    Sales,
}

impl Entity {
    /// The S9 table (and file stem) of the entity: `buyers`, `producers`, `sales`.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Buyers => "buyers",
            Entity::Producers => "producers",
            Entity::Sales => "sales",
        }
    }
}

/// Command line of the transforms.
#[derive(Parser, Debug, serde::Serialize)]
#[command(
    version,
    about = "Transform extracted S9 records (NDJSON) into DynamoDB items (typed JSON, one per line).",
    after_help = "Examples:\n  transform-sales data/extracted/sales.ndjson -o data/transformed/sales.ndjson\n  transform-producers --input data/extracted/producers.json --output data/transformed/producers.json\n  extract --source postgres://… --query \"$(cat scripts/s9/sales.sql)\" --name sales | transform-sales - | load-dynamo …"
)]
pub struct Args {
    /// Extracted NDJSON (default data/extracted/ENTITY.ndjson; `-` for stdin).
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Output (default data/transformed/ENTITY.ndjson; `-` for stdout).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rejected records (default data/transformed/ENTITY.rejects.ndjson).
    #[arg(long, env = "FERRY_REJECTS", value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
}

/// Why a record cannot become an item.
pub type Why = String;

fn field<'a>(r: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    r.get(k).filter(|v| !v.is_null())
}

/// Text of a field, trimmed; empty text is absent.
fn text(r: &Map<String, Value>, k: &str) -> Option<String> {
    match field(r, k)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn legacy_id(r: &Map<String, Value>, k: &str) -> Result<i64, Why> {
    match field(r, k) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("{k} {n} is not an integer id")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("{k} {s:?} is not an integer id")),
        _ => Err(format!("{k} is missing")),
    }
}

/// The new id of a legacy S9 row: UUID v5 of `s9/TABLE/ID` (so references resolve
/// without a lookup, and reruns give the same keys).
pub fn new_id(table: &str, legacy: i64) -> String {
    ferry_shared::ids::legacy_uuid(
        &ferry_shared::ids::namespace("s9"),
        &format!("s9/{table}"),
        &legacy.to_string(),
    )
    .to_string()
}

/// S9 timestamps are naive and in UTC: ISO 8601 with `Z`, to the second (or the
/// microsecond when it has one).
fn timestamp(r: &Map<String, Value>, k: &str) -> Result<Option<String>, Why> {
    let Some(s) = text(r, k) else { return Ok(None) };
    let t = s.replace(' ', "T");
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(&t, f) {
            return Ok(Some(ferry_shared::value::format_utc(&dt)));
        }
    }
    Err(format!("{k} {s:?} is not a date-time"))
}

/// A calendar date: ISO `YYYY-MM-DD`, or S9's European `DD/MM/YYYY`.
fn date(r: &Map<String, Value>, k: &str) -> Result<Option<String>, Why> {
    let Some(s) = text(r, k) else { return Ok(None) };
    for f in ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(&s, f) {
            return Ok(Some(d.format("%Y-%m-%d").to_string()));
        }
    }
    Err(format!("{k} {s:?} is not a date"))
}

fn number(r: &Map<String, Value>, k: &str) -> Result<Option<Decimal>, Why> {
    let Some(s) = text(r, k) else { return Ok(None) };
    crate::item::number(&s)
        .map(Some)
        .ok_or_else(|| format!("{k} {s:?} is not a number"))
}

fn common(item: &mut Item, r: &Map<String, Value>) -> Result<(), Why> {
    let deleted = timestamp(r, "deleted_at")?;
    item.s("createdAt", timestamp(r, "created_at")?)
        .s("updatedAt", timestamp(r, "updated_at")?)
        .b("isDeleted", deleted.is_some())
        .s("deletedAt", deleted);
    Ok(())
}

fn address(r: &Map<String, Value>) -> Item {
    let mut a = Item::default();
    a.s("line1", text(r, "address_line1"))
        .s("line2", text(r, "address_line2"))
        .s("city", text(r, "city"))
        .s("postalCode", text(r, "postal_code"))
        .s(
            "countryCode",
            text(r, "country_code").map(|c| c.to_ascii_uppercase()),
        );
    a
}

/// VAT numbers without spaces, dots or dashes, upper case (`de 123.456-789` → `DE123456789`).
pub fn vat(s: Option<String>) -> Option<String> {
    s.map(|v| {
        v.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase()
    })
    .filter(|v| !v.is_empty())
}

/// A buyer: BuyersTable item.
pub fn buyer(r: &Map<String, Value>) -> Result<Item, Why> {
    let id = legacy_id(r, "id")?;
    let mut i = Item::default();
    i.s("buyerId", Some(new_id("buyers", id)))
        .n("legacyId", Some(id))
        .s("buyerCode", text(r, "buyer_code"))
        .s("companyName", text(r, "company_name"))
        .s("contactName", text(r, "contact_name"))
        .s("email", text(r, "email").map(|e| e.to_lowercase()))
        .s("vatNumber", vat(text(r, "vat_number")))
        .s("phone", text(r, "phone"))
        .m("address", address(r))
        .s("status", Some(status(r, "status", "ACTIVE")));
    common(&mut i, r)?;
    Ok(i)
}

fn status(r: &Map<String, Value>, k: &str, default: &str) -> String {
    if field(r, "deleted_at").is_some() {
        return "DELETED".into();
    }
    text(r, k).map_or_else(|| default.to_string(), |s| s.to_ascii_uppercase())
}

/// A producer: ProducersTable item.
pub fn producer(r: &Map<String, Value>) -> Result<Item, Why> {
    let id = legacy_id(r, "id")?;
    let active = matches!(field(r, "is_active"), Some(Value::Bool(true)));
    let mut i = Item::default();
    i.s("producerId", Some(new_id("producers", id)))
        .n("legacyId", Some(id))
        .s("name", text(r, "name"))
        .s("email", text(r, "email").map(|e| e.to_lowercase()))
        .s("vatNumber", vat(text(r, "vat_number")))
        .m("address", address(r))
        .s(
            "status",
            Some(if field(r, "deleted_at").is_some() {
                "DELETED"
            } else if active {
                "ACTIVE"
            } else {
                "INACTIVE"
            }),
        );
    common(&mut i, r)?;
    Ok(i)
}

/// A sale with its lines: SalesTable item. Money is exact: line totals are quantity ×
/// unit price, net is their sum, VAT per line rounded to the cent, gross = net + VAT.
pub fn sale(r: &Map<String, Value>) -> Result<Item, Why> {
    let id = legacy_id(r, "id")?;
    let buyer = legacy_id(r, "buyer_id").ok();
    let producer = legacy_id(r, "producer_id").ok();
    let sale_date = date(r, "sale_date")?;
    let mut lines = Vec::new();
    let (mut net, mut vat_total) = (Decimal::zero(), Decimal::zero());
    let raw_lines = match field(r, "lines") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => {
            serde_json::from_str::<Vec<Value>>(s).map_err(|e| format!("lines: {e}"))?
        }
        _ => Vec::new(),
    };
    let mut raw_lines: Vec<Map<String, Value>> = raw_lines
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    raw_lines.sort_by_key(|l| legacy_id(l, "line_no").unwrap_or(0));
    for l in &raw_lines {
        // A missing amount is not zero: the line's and the sale's totals cannot be known.
        let required = |f: &str| -> Result<Decimal, Why> {
            number(l, f)?.ok_or_else(|| {
                format!(
                    "line {}: {f} is NULL: its totals cannot be computed",
                    text(l, "line_no").unwrap_or_else(|| "?".into())
                )
            })
        };
        let qty = required("quantity")?;
        let price = required("unit_price")?;
        let rate = required("vat_rate")?;
        let total = qty.checked_mul(&price).ok_or("line total overflows")?;
        let line_vat = total
            .checked_mul(&rate)
            .ok_or("VAT overflows")?
            .checked_mul(&Decimal::from_scaled(1, 2))
            .ok_or("VAT overflows")?
            .round(2);
        net = net.checked_add(&total).ok_or("total overflows")?;
        vat_total = vat_total.checked_add(&line_vat).ok_or("total overflows")?;
        let mut li = Item::default();
        li.n("lineNo", text(l, "line_no"))
            .s("productCode", text(l, "product_code"))
            .s("description", text(l, "description"))
            .n("quantity", Some(qty.normalized()))
            .n("unitPrice", Some(price.normalized()))
            .n("vatRate", Some(rate.normalized()))
            .n("lineTotal", Some(total.normalized()));
        lines.push(li);
    }
    let net = net.round(2);
    let gross = net.checked_add(&vat_total).ok_or("total overflows")?;
    let status = status(r, "status", "DRAFT");
    let mut i = Item::default();
    i.s("saleId", Some(new_id("sales", id)))
        .n("legacyId", Some(id))
        .s("saleNumber", text(r, "sale_number"))
        .s("buyerId", buyer.map(|b| new_id("buyers", b)))
        .n("buyerLegacyId", buyer)
        .s("producerId", producer.map(|p| new_id("producers", p)))
        .n("producerLegacyId", producer)
        .s("saleDate", sale_date.clone())
        .s(
            "statusSaleDate",
            sale_date.as_ref().map(|d| format!("{status}#{d}")),
        )
        .s("status", Some(status))
        .s(
            "currency",
            text(r, "currency").map(|c| c.to_ascii_uppercase()),
        )
        .s("notes", text(r, "notes"))
        .l("lines", lines)
        .n("totalNet", Some(net))
        .n("totalVat", Some(vat_total.round(2)))
        .n("totalGross", Some(gross.round(2)));
    common(&mut i, r)?;
    let size = i.size();
    if size > MAX_ITEM_BYTES {
        return Err(format!(
            "the item is {size} bytes, over DynamoDB's 400 KB limit"
        ));
    }
    Ok(i)
}

/// Runs one transform over a file or stdin.
pub fn run(entity: Entity, args: Args) -> anyhow::Result<Exit> {
    ferry_shared::logging::init(&args.common)?;
    let name = entity.name();
    let input = match &args.input {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!("data/extracted/{name}.ndjson"))),
    };
    let output = match &args.output {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!("data/transformed/{name}.ndjson"))),
    };
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("data/transformed/{name}.rejects.ndjson")));
    let mut reader = RecordReader::open(input.as_deref())?;
    let mut writer = match &output {
        Some(p) => RecordWriter::create(p)?,
        None => RecordWriter::stdout(),
    };
    let mut rejects = Rejects::new(rejects_path.clone(), false, 0);
    let mut report = RunReport::start(&format!("transform-{name}"));
    let mut stats = TableStats::new(name);
    let started = std::time::Instant::now();
    let f = match entity {
        Entity::Buyers => buyer,
        Entity::Producers => producer,
        Entity::Sales => sale,
    };
    let file = reader.name().to_string();
    while let Some(line) = reader.next_item()? {
        if !matches!(line, Line::Data) {
            continue;
        }
        let raw = reader.line();
        let res = match serde_json::from_slice::<Map<String, Value>>(raw) {
            Ok(rec) => f(&rec),
            Err(e) => Err(format!("malformed JSON: {e}")),
        };
        match res {
            Ok(item) => {
                writer.object(&item.to_json())?;
                stats.migrated += 1;
            }
            Err(why) => {
                rejects.add(&Reject {
                    file: &file,
                    line: Some(reader.line_no()),
                    table: name,
                    column: None,
                    value: None,
                    reason: &why,
                    rule: None,
                    rowid: None,
                    record: record_value(raw),
                })?;
                stats.errors += 1;
            }
        }
    }
    rejects.flush()?;
    writer.finish()?;
    stats.duration_secs = started.elapsed().as_secs_f64();
    report.tables.push(stats);
    let code = report.finish();
    if rejects.count() > 0 {
        report.rejects_file = Some(rejects_path.display().to_string());
    }
    report.emit(args.common.quiet, args.common.report.as_deref())?;
    Ok(code)
}

/// The whole of `transform-ENTITY`: flags, runtime, exit code. In the library, so the runtime, the
/// argument parser and every future under them are compiled once, not again in the binary.
pub fn main(entity: Entity, tool: &str) -> std::process::ExitCode {
    ferry_shared::cli::main_parsed(
        tool,
        |argv| ferry_shared::cli::parse_with_input_flag::<Args, _, _>(tool, argv),
        |args: Args| run(entity, args),
    )
}

impl ferry_shared::cli::InputArg for Args {
    fn set_input(&mut self, path: PathBuf) {
        self.input = Some(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_null_amount_of_a_line_is_a_reject_not_zero() {
        for f in ["quantity", "unit_price", "vat_rate"] {
            let mut line = json!({"line_no": 2, "product_code": "X", "quantity": "1", "unit_price": "2.50", "vat_rate": "21"});
            line[f] = Value::Null;
            let r = json!({"id": 7, "sale_date": "2024-01-02", "lines": [line]});
            let why = sale(r.as_object().unwrap()).unwrap_err();
            assert_eq!(
                why,
                format!("line 2: {f} is NULL: its totals cannot be computed")
            );
        }
    }

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sale_is_exact_and_keyed() {
        let r = rec(json!({
            "id": 105, "sale_number": "S-2023-0006", "buyer_id": 6, "producer_id": 10,
            "sale_date": "15/07/2023", "status": "confirmed ", "currency": "eur",
            "created_at": "2023-07-15 15:00:00", "deleted_at": null,
            "lines": [{"line_no": 1, "product_code": "SHERRY-50", "quantity": "3.000", "unit_price": "7.3333", "vat_rate": "21.00"}]
        }));
        let i = sale(&r).unwrap();
        let m = &i.0;
        assert_eq!(m["saleId"]["S"], new_id("sales", 105));
        assert_eq!(m["buyerId"]["S"], new_id("buyers", 6));
        assert_eq!(m["saleDate"]["S"], "2023-07-15");
        assert_eq!(m["status"]["S"], "CONFIRMED");
        assert_eq!(m["statusSaleDate"]["S"], "CONFIRMED#2023-07-15");
        assert_eq!(m["currency"]["S"], "EUR");
        assert_eq!(m["createdAt"]["S"], "2023-07-15T15:00:00Z");
        assert_eq!(m["lines"]["L"][0]["M"]["lineTotal"]["N"], "21.9999");
        assert_eq!(m["totalNet"]["N"], "22.00");
        assert_eq!(m["totalVat"]["N"], "4.62");
        assert_eq!(m["totalGross"]["N"], "26.62");
        assert_eq!(m["isDeleted"]["BOOL"], false);
        assert!(!m.contains_key("deletedAt"));
        assert!(!m.contains_key("notes"));
    }

    #[test]
    fn refuses_what_cannot_become_an_item() {
        let bad_date = rec(json!({"id": 102, "sale_date": "2023-02-30"}));
        assert_eq!(
            sale(&bad_date).unwrap_err(),
            "sale_date \"2023-02-30\" is not a date"
        );
        let huge = rec(json!({"id": 104, "sale_date": "2023-06-06", "notes": "x".repeat(500_000)}));
        assert!(sale(&huge)
            .unwrap_err()
            .contains("over DynamoDB's 400 KB limit"));
        assert_eq!(
            buyer(&rec(json!({"company_name": "x"}))).unwrap_err(),
            "id is missing"
        );
    }

    #[test]
    fn buyer_fields() {
        let r = rec(
            json!({"id": 4, "company_name": " Old Buyer Ltd ", "email": "Gone@Old.Example", "vat_number": "gb 123.456-789",
            "address_line1": "1 High St", "city": "London", "country_code": "gb", "status": "inactive",
            "created_at": "2019-01-01 00:00:00", "deleted_at": "2022-06-30 12:00:00", "phone": ""}),
        );
        let i = buyer(&r).unwrap();
        assert_eq!(i.0["companyName"]["S"], "Old Buyer Ltd");
        assert_eq!(i.0["email"]["S"], "gone@old.example");
        assert_eq!(i.0["vatNumber"]["S"], "GB123456789");
        assert_eq!(i.0["status"]["S"], "DELETED");
        assert_eq!(i.0["isDeleted"]["BOOL"], true);
        assert_eq!(i.0["deletedAt"]["S"], "2022-06-30T12:00:00Z");
        assert_eq!(i.0["address"]["M"]["countryCode"]["S"], "GB");
        assert!(!i.0.contains_key("phone"), "empty strings are left out");
    }
}
