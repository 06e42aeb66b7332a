//! Step 5: `stock` → `items`, all in the mapping's category ("General").
//!
//! | target | legacy |
//! |---|---|
//! | sku | CODE, trimmed; empty → skipped; a CODE seen before (any case) → skipped |
//! | name | DESC1, else `Item <CODE>` |
//! | description | DESC1 and DESC2 joined with ` - ` (either alone; NULL when both empty) |
//! | category_id | the mapping's `item_category` (General) |
//! | price | PRICE (excluding VAT), two places |
//! | vat_rate / vat_included | `vatparams` ÷ 100 (0.20) / false |
//! | current_stock / minimum_stock | BALANCE / MIN, two places |
//! | unit / location | SIZE or `pieces` / LOCATION |
//! | is_active | HIDDEN ≠ `Y` |
//! | created_by, updated_by | the Legacy System user |

use super::reader::{raw, Lines};
use super::suppliers::bump;
use super::{categories, Ctx, LEGACY_USER};
use crate::legacy::{clean, Stock};
use crate::money::{self, fits, text2, text4, Stored};
use crate::output::{Action, Counts, MoneyTotal, Ndjson, SideFiles};
use ferry_shared::Result;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A decimal column: the stored value, with a note when it differs from the legacy one.
pub struct Col {
    pub name: &'static str,
    pub value: Stored,
    pub was_null: bool,
}

/// A legacy number for a NOT NULL `numeric(precision,2)` column: NULL → 0 (noted), NaN or
/// too large → the reason the row cannot go.
pub fn number(
    name: &'static str,
    v: Option<f64>,
    precision: u32,
) -> std::result::Result<Col, String> {
    let value = match v {
        None => Stored {
            legacy: Decimal::ZERO,
            stored: Decimal::ZERO,
        },
        Some(x) => Stored::of(x).ok_or_else(|| format!("{name} is {x}: no number"))?,
    };
    if !fits(value.stored, precision) {
        return Err(format!(
            "{name} {} does not fit numeric({precision},2)",
            value.legacy
        ));
    }
    Ok(Col {
        name,
        value,
        was_null: v.is_none(),
    })
}

/// The target row of a legacy stock row (without its id) and its price × stock, legacy and
/// stored; or why it has none.
pub fn map(
    s: &Stock,
    category_id: i64,
    vat: Decimal,
) -> std::result::Result<(String, Value, Vec<Col>), String> {
    let Some(code) = clean(&s.code) else {
        return Err("CODE is empty: an item needs a SKU".into());
    };
    let cols = vec![
        number("price", s.price, 10)?,
        number("current_stock", s.balance, 10)?,
        number("minimum_stock", s.min, 10)?,
    ];
    let desc: Vec<&str> = [&s.desc1, &s.desc2].into_iter().filter_map(clean).collect();
    let row = json!({
        "name": clean(&s.desc1).map_or_else(|| format!("Item {code}"), str::to_string),
        "sku": code,
        "description": if desc.is_empty() { None } else { Some(desc.join(" - ")) },
        "category_id": category_id,
        "price": text2(cols[0].value.stored),
        "vat_rate": text4(vat),
        "vat_included": false,
        "current_stock": text2(cols[1].value.stored),
        "minimum_stock": text2(cols[2].value.stored),
        "unit": clean(&s.size).unwrap_or("pieces"),
        "location": clean(&s.location),
        "is_active": clean(&s.hidden).is_none_or(|h| !h.eq_ignore_ascii_case("Y")),
        "low_stock_acknowledged_at": null, "notes_id": null,
        "created_by": LEGACY_USER, "updated_by": LEGACY_USER,
        "created_at": null, "updated_at": null,
    });
    Ok((code.to_string(), row, cols))
}

/// Writes `items.ndjson` (ids 1… in the extract's CODE order).
pub fn run(ctx: &Ctx) -> Result<Counts> {
    let (file, vat, category) = (
        "stock.ndjson",
        ctx.vat_rate()?,
        categories::item_category_id(ctx),
    );
    let mut lines = Lines::open(&ctx.legacy("stock"))?;
    let mut out = Ndjson::create(&ctx.target("items"))?;
    let mut side = SideFiles::create(&ctx.rejects_dir, "items", file)?;
    let mut counts = Counts {
        step: "5 items".into(),
        ..Counts::default()
    };
    let mut value = MoneyTotal {
        what: "Σ price × current_stock".into(),
        ..MoneyTotal::default()
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    while let Some((line, text)) = lines.next_line()? {
        counts.source_rows += 1;
        counts.table("items").processed += 1;
        let parsed = super::reader::parse_only::<Stock>(text).map_err(|e| (Action::Error, e));
        let legacy_value = parsed
            .as_ref()
            .ok()
            .map(|s| legacy_product(s.price, s.balance));
        let parsed = parsed
            .and_then(|s| super::reader::nul(text).map_or(Ok(s), |r| Err((Action::Error, r))));
        let outcome = parsed.and_then(|s| map(&s, category, vat).map_err(|r| (Action::Skipped, r))).and_then(|(code, row, cols)| {
            match seen.get(&code.to_uppercase()) {
                Some(first) => Err((Action::Skipped, format!("duplicate CODE '{code}': line {first} already has this SKU (kept; this row is not merged)"))),
                None => {
                    seen.insert(code.to_uppercase(), line);
                    Ok((row, cols))
                }
            }
        });
        match outcome {
            Ok((mut row, cols)) => {
                row["id"] = json!(out.rows() + 1);
                for c in cols.iter().filter(|c| c.was_null || c.value.rounded()) {
                    counts.table("items").rounded += 1;
                    side.rounded(
                        line,
                        "items",
                        c.name,
                        (!c.was_null).then_some(c.value.legacy),
                        c.value.stored,
                    )?;
                }
                value.legacy += legacy_value.unwrap_or_default();
                value.expected += cols[0].value.stored * cols[1].value.stored;
                out.write(&row)?;
                counts.table("items").migrated += 1;
            }
            Err((action, reason)) => {
                value.not_migrated += legacy_value.unwrap_or_default();
                side.reject(line, action, &reason, &raw(text))?;
                bump(&mut counts, "items", action);
            }
        }
    }
    out.finish()?;
    side.finish()?;
    counts.money.insert("items".into(), value);
    Ok(counts)
}

fn legacy_product(price: Option<f64>, balance: Option<f64>) -> Decimal {
    let p = price.and_then(money::exact).unwrap_or_default();
    let b = balance.and_then(money::exact).unwrap_or_default();
    p * b
}
