//! Step 7: `orders` (one row per order line, ORDER_NO/DATE/SUPPLIER repeated) → `orders` +
//! `order_items`. Lines are grouped by trimmed ORDER_NO; the order takes the first line's
//! DATE and SUPPLIER, and a line that disagrees is kept with a warning.
//!
//! | target | legacy |
//! |---|---|
//! | orders.order_id | ORDER_NO, trimmed; a line without one → skipped |
//! | orders.supplier_id | SUPPLIER, trimmed, when a migrated supplier; else NULL with a warning |
//! | orders.status | `completed` when DATE is set, else `pending` |
//! | orders.total_amount | Σ VALUE of its lines (each at two places) |
//! | orders.created_at | DATE at 00:00 |
//! | orders.received_at | the latest RECD_DATE, when every line has one |
//! | order_items.item_id / item_name | the item whose SKU is STOCK_CODE (any case), else NULL / `Item <STOCK_CODE>` |
//! | order_items.item_sku | STOCK_CODE, trimmed; empty → skipped |
//! | order_items.unit_cost / quantity / total_cost | PRICE / QTY / VALUE, two places |
//! | order_items.received / received_quantity | RECD_DATE set / QTY when received |

use super::chargecodes::midnight;
use super::index::{ids, Items};
use super::items::{number, Col};
use super::reader::{raw, Lines};
use super::suppliers::bump;
use super::{categories, Ctx, LEGACY_USER};
use crate::legacy::{clean, date, not_dates, OrderLine};
use crate::money::{text2, text4};
use crate::output::{Action, Counts, MoneyTotal, Ndjson, SideFiles};
use ferry_shared::Result;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// One legacy line of an order: its line number, the row and the raw text.
struct Line {
    line: u64,
    row: OrderLine,
    text: String,
}

/// The outputs and state of the step.
struct Out<'a> {
    orders: Ndjson,
    items_out: Ndjson,
    side: SideFiles,
    counts: Counts,
    money: MoneyTotal,
    items: &'a Items,
    suppliers: HashSet<String>,
    vat: Decimal,
    category: i64,
}

/// An order line's target row (without ids), its decimal columns; or why it has none.
fn map_line(
    l: &OrderLine,
    items: &Items,
    category: i64,
    vat: Decimal,
) -> std::result::Result<(Value, Vec<Col>), String> {
    let Some(code) = clean(&l.stock_code) else {
        return Err("STOCK_CODE is empty: an order line needs an item SKU".into());
    };
    let cols = vec![
        number("unit_cost", l.price, 10)?,
        number("quantity", l.qty, 10)?,
        number("total_cost", l.value, 12)?,
    ];
    let item = items.sku(code);
    // The document: RECD_DATE not NULL → received (a zero date is set, though no day).
    let received = clean(&l.recd_date).is_some();
    let row = json!({
        "item_id": item.map(|i| i.id),
        "item_name": item.map_or_else(|| format!("Item {code}"), |i| i.name.clone()),
        "item_sku": code, "vendor_sku": null, "item_description": null,
        "category_id": item.map_or(category, |i| i.category_id),
        "unit_cost": text2(cols[0].value.stored),
        "quantity": text2(cols[1].value.stored),
        "total_cost": text2(cols[2].value.stored),
        "vat_rate": text4(vat), "vat_amount": "0.00",
        "received": received,
        "received_quantity": received.then(|| text2(cols[1].value.stored)),
        "created_at": midnight(date(&l.date)), "updated_at": midnight(date(&l.date)),
    });
    Ok((row, cols))
}

/// When every line of an order has its RECD_DATE: the latest (the order was received then).
fn received_at(lines: &[Line]) -> Option<String> {
    let dates: Option<Vec<&str>> = lines.iter().map(|l| date(&l.row.recd_date)).collect();
    midnight(dates?.into_iter().max())
}

/// Writes `orders.ndjson` and `order_items.ndjson`.
pub fn run(ctx: &Ctx) -> Result<Counts> {
    let file = "orders.ndjson";
    let items = Items::load(&ctx.target("items"))?;
    let mut out = Out {
        orders: Ndjson::create(&ctx.target("orders"))?,
        items_out: Ndjson::create(&ctx.target("order_items"))?,
        side: SideFiles::create(&ctx.rejects_dir, "orders", file)?,
        counts: Counts {
            step: "7 orders".into(),
            ..Counts::default()
        },
        money: MoneyTotal {
            what: "Σ order line VALUE".into(),
            ..MoneyTotal::default()
        },
        items: &items,
        suppliers: ids(&ctx.target("suppliers"))?,
        vat: ctx.vat_rate()?,
        category: categories::item_category_id(ctx),
    };
    for (order_no, lines) in group(ctx, &mut out)? {
        out.order(&order_no, &lines)?;
    }
    let Out {
        orders,
        items_out,
        side,
        mut counts,
        money,
        ..
    } = out;
    orders.finish()?;
    items_out.finish()?;
    side.finish()?;
    counts.money.insert("orders".into(), money);
    Ok(counts)
}

/// The legacy lines by trimmed ORDER_NO (orders are few: the whole table is held); lines
/// without one, and malformed lines, are rejected here.
fn group(ctx: &Ctx, out: &mut Out<'_>) -> Result<BTreeMap<String, Vec<Line>>> {
    let mut groups: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    let mut lines = Lines::open(&ctx.legacy("orders"))?;
    while let Some((line, text)) = lines.next_line()? {
        out.counts.source_rows += 1;
        out.counts.table("order_items").processed += 1;
        match super::reader::parse_only::<OrderLine>(text) {
            Ok(row) if super::reader::nul(text).is_some() => {
                let reason = super::reader::nul(text).unwrap_or_default();
                out.reject(line, Action::Error, &reason, text, row.value)?;
            }
            Ok(row) => match clean(&row.order_no).map(str::to_string) {
                Some(no) => groups.entry(no).or_default().push(Line {
                    line,
                    row,
                    text: text.to_string(),
                }),
                None => out.reject(
                    line,
                    Action::Skipped,
                    "ORDER_NO is empty: the line belongs to no order",
                    text,
                    row.value,
                )?,
            },
            Err(e) => out.reject(line, Action::Error, &e, text, None)?,
        }
    }
    Ok(groups)
}

impl Out<'_> {
    fn reject(
        &mut self,
        line: u64,
        action: Action,
        reason: &str,
        text: &str,
        value: Option<f64>,
    ) -> Result<()> {
        self.side
            .not_migrated(&mut self.money, line, action, reason, &raw(text), value)?;
        bump(&mut self.counts, "order_items", action);
        Ok(())
    }

    /// One order and its lines.
    fn order(&mut self, order_no: &str, lines: &[Line]) -> Result<()> {
        self.counts.table("orders").processed += 1;
        let first = &lines[0].row;
        let order_id = self.orders.rows() + 1;
        let (mut total, written) = (Decimal::ZERO, self.items_out.rows());
        for l in lines {
            total += self.line(order_id, first, l)?;
        }
        if self.items_out.rows() == written {
            let reason = format!("order {order_no}: none of its lines could be migrated (see them above): the order is kept with no line and a total of 0.00");
            self.side
                .reject(lines[0].line, Action::Kept, &reason, &raw(&lines[0].text))?;
            self.counts.table("orders").warnings += 1;
        }
        let supplier = clean(&first.supplier).filter(|s| self.suppliers.contains(*s));
        if let (None, Some(code)) = (supplier, clean(&first.supplier)) {
            let reason = format!("order {order_no}: SUPPLIER '{code}' is not a migrated supplier: supplier_id is NULL");
            self.side
                .reject(lines[0].line, Action::Kept, &reason, &raw(&lines[0].text))?;
            self.counts.table("orders").warnings += 1;
        }
        let created = midnight(date(&first.date));
        self.orders.write(&json!({
            "id": order_id, "order_id": order_no, "supplier_id": supplier,
            "status": if clean(&first.date).is_some() { "completed" } else { "pending" },
            "notes_id": null, "total_amount": text2(total), "delivery_charge": "0.00",
            "vat_rate": text4(self.vat), "vat_included": false, "update_inventory_values": false,
            "invoice_pdf_path": null, "created_by": LEGACY_USER, "received_by": null,
            "received_at": received_at(lines), "created_at": created, "updated_at": created,
        }))?;
        self.counts.table("orders").migrated += 1;
        Ok(())
    }

    /// One order line; returns the total it adds to its order.
    fn line(&mut self, order_id: u64, first: &OrderLine, l: &Line) -> Result<Decimal> {
        let (items, category, vat) = (self.items, self.category, self.vat);
        match map_line(&l.row, items, category, vat) {
            Err(reason) => {
                self.reject(l.line, Action::Skipped, &reason, &l.text, l.row.value)?;
                Ok(Decimal::ZERO)
            }
            Ok((mut row, cols)) => {
                if clean(&l.row.date) != clean(&first.date)
                    || clean(&l.row.supplier) != clean(&first.supplier)
                {
                    let reason = "this line's DATE or SUPPLIER differs from its order's first line: migrated into that order";
                    self.side
                        .reject(l.line, Action::Kept, reason, &raw(&l.text))?;
                    self.counts.table("order_items").warnings += 1;
                }
                for w in not_dates(&[("DATE", &l.row.date), ("RECD_DATE", &l.row.recd_date)]) {
                    self.side.reject(l.line, Action::Kept, &w, &raw(&l.text))?;
                    self.counts.table("order_items").warnings += 1;
                }
                row["id"] = json!(self.items_out.rows() + 1);
                row["order_id"] = json!(order_id);
                for c in cols.iter().filter(|c| c.was_null || c.value.rounded()) {
                    self.counts.table("order_items").rounded += 1;
                    self.side.rounded(
                        l.line,
                        "order_items",
                        c.name,
                        (!c.was_null).then_some(c.value.legacy),
                        c.value.stored,
                    )?;
                }
                self.money.legacy += cols[2].value.legacy;
                self.money.expected += cols[2].value.stored;
                self.items_out.write(&row)?;
                self.counts.table("order_items").migrated += 1;
                Ok(cols[2].value.stored)
            }
        }
    }
}
