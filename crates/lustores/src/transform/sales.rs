//! Step 8: `issues` → `sales` + `sale_items`, one sale with one line per issue. Issues must
//! come ordered by DATE (`migrate-lustores` extracts them so): the sale id's counter runs
//! per item and day.
//!
//! | target | legacy |
//! |---|---|
//! | the item | STOCK_CODE is a SKU (any case, trimmed); else one word of it is a SKU; else it is an item's name (any case). No item, or two → skipped with the reason |
//! | sales.sale_id | `LEGACY-<SKU>-<YYYYMMDD>-<NNNNNN>`, NNNNNN counting the issues of that item and day (`NODATE` when DATE is NULL) |
//! | sales.charge_code | the mapping's `sale_charge_code` (`GENERAL`); COSTCENTRE is kept in customer_info |
//! | sales.subtotal_amount | VALUE, two places (NULL → skipped: no amount is invented) |
//! | sales.vat_amount / total_amount | subtotal × VAT rate / subtotal + VAT |
//! | sales.status | `refunded` when QUANTITY < 0 (a reversal), else `completed` |
//! | sales.customer_info | `{name: ISSUEDTO or "Unknown", legacy_issue: true, reason: REASON or "", original_date, matched_by, legacy_data: {costcentre, activity, user, periodcode, pin, stock_code, quantity, value}}` |
//! | sales.delivered_to / delivered_at, created_at | ISSUEDTO / DATE at 00:00 |
//! | sale_items.quantity | QUANTITY, two places (NULL → skipped) |
//! | sale_items.item_sku / item_name / unit_price | the matched item's SKU, name and price |

use super::chargecodes::midnight;
use super::index::{ItemRef, Items};
use super::reader::{raw, Lines};
use super::suppliers::bump;
use super::{Ctx, LEGACY_USER};
use crate::legacy::{clean, date, not_dates, Issue};
use crate::money::{fits, round2, text2, text4, Stored};
use crate::output::{Action, Counts, MoneyTotal, Ndjson, SideFiles};
use ferry_shared::{FerryError, Result};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;

/// The item an issue's STOCK_CODE text names, and the rule that found it.
pub fn find_item<'a>(
    text: Option<&str>,
    items: &'a Items,
) -> std::result::Result<(&'a ItemRef, &'static str), String> {
    let Some(text) = text else {
        return Err("STOCK_CODE is empty: no item to issue".into());
    };
    if let Some(i) = items.sku(text) {
        return Ok((i, "sku"));
    }
    let mut found: Vec<&ItemRef> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter_map(|w| items.sku(w))
        .collect();
    found.dedup_by_key(|i| i.id);
    match found.as_slice() {
        [one] => return Ok((one, "code_in_text")),
        [a, b, ..] => {
            return Err(format!(
                "STOCK_CODE '{text}' names several items ({}, {}): not guessed",
                a.sku, b.sku
            ))
        }
        [] => {}
    }
    match items.by_name.get(&text.trim().to_lowercase()) {
        Some(Some(sku)) => Ok((&items.by_sku[sku], "name")),
        Some(None) => Err(format!(
            "STOCK_CODE '{text}' is the name of several items: not guessed"
        )),
        None => Err(format!(
            "STOCK_CODE '{text}' matches no item (not a SKU, holds no SKU, is no item's name)"
        )),
    }
}

/// The legacy amounts of an issue at the target's scale: quantity, subtotal.
fn amounts(i: &Issue) -> std::result::Result<(Stored, Stored), String> {
    let q = i
        .quantity
        .ok_or("QUANTITY is NULL: the sale line's quantity would be invented")?;
    let v = i
        .value
        .ok_or("VALUE is NULL: the sale's amount would be invented")?;
    let q = Stored::of(q)
        .filter(|q| fits(q.stored, 10))
        .ok_or(format!("QUANTITY {q} does not fit numeric(10,2)"))?;
    let v = Stored::of(v)
        .filter(|v| fits(v.stored, 10))
        .ok_or(format!("VALUE {v} does not fit numeric(10,2)"))?;
    Ok((q, v))
}

/// The customer_info document: who, why, and every legacy field the sale has no column for.
#[derive(Serialize)]
struct CustomerInfo<'a> {
    name: &'a str,
    legacy_issue: bool,
    reason: &'a str,
    original_date: Option<&'a str>,
    matched_by: &'a str,
    legacy_data: LegacyData<'a>,
}

/// The issue's fields that have no column of their own.
#[derive(Serialize)]
struct LegacyData<'a> {
    costcentre: &'a str,
    activity: &'a str,
    user: &'a str,
    periodcode: &'a str,
    pin: &'a str,
    stock_code: &'a str,
    quantity: Option<f64>,
    value: Option<f64>,
}

fn customer_info<'a>(i: &'a Issue, matched_by: &'a str) -> CustomerInfo<'a> {
    let s = |v: &'a Option<String>| clean(v).unwrap_or("");
    CustomerInfo {
        name: clean(&i.issuedto).unwrap_or("Unknown"),
        legacy_issue: true,
        reason: s(&i.reason),
        original_date: date(&i.date),
        matched_by,
        legacy_data: LegacyData {
            costcentre: s(&i.costcentre),
            activity: s(&i.activity),
            user: s(&i.user),
            periodcode: s(&i.periodcode),
            pin: s(&i.pin),
            stock_code: i.stock_code.as_deref().unwrap_or(""),
            quantity: i.quantity,
            value: i.value,
        },
    }
}

/// A `sales` row.
#[derive(Serialize)]
struct SaleRow<'a> {
    id: u64,
    sale_id: &'a str,
    charge_code: &'a str,
    subtotal_amount: &'a str,
    vat_amount: &'a str,
    total_amount: &'a str,
    vat_applied: bool,
    customer_info: CustomerInfo<'a>,
    notes_id: Option<i64>,
    status: &'a str,
    is_paid: bool,
    processed_by: &'a str,
    delivered_to: Option<&'a str>,
    delivered_to_email: Option<&'a str>,
    delivered_at: Option<&'a str>,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
}

/// A `sale_items` row.
#[derive(Serialize)]
struct SaleItemRow<'a> {
    id: u64,
    sale_id: u64,
    item_id: i64,
    item_name: &'a str,
    item_sku: &'a str,
    unit_price: &'a str,
    vat_rate: &'a str,
    vat_included: bool,
    vat_amount: &'a str,
    quantity: String,
    subtotal: &'a str,
    total_with_vat: &'a str,
    created_at: Option<&'a str>,
}

/// The step's state: outputs, the items, the per-item-and-day counters of the current day.
struct Step<'a> {
    sales: Ndjson,
    lines: Ndjson,
    side: SideFiles,
    counts: Counts,
    money: MoneyTotal,
    items: &'a Items,
    vat: Decimal,
    vat_text: String,
    charge_code: String,
    day: Option<Option<String>>,
    counter: HashMap<i64, u32>,
}

/// Writes `sales.ndjson` and `sale_items.ndjson`.
pub fn run(ctx: &Ctx) -> Result<Counts> {
    let items = Items::load(&ctx.target("items"))?;
    let mut step = Step {
        sales: Ndjson::create(&ctx.target("sales"))?,
        lines: Ndjson::create(&ctx.target("sale_items"))?,
        side: SideFiles::create(&ctx.rejects_dir, "sales", "issues.ndjson")?,
        counts: Counts {
            step: "8 sales".into(),
            ..Counts::default()
        },
        money: MoneyTotal {
            what: "Σ issue VALUE".into(),
            ..MoneyTotal::default()
        },
        items: &items,
        vat: ctx.vat_rate()?,
        vat_text: String::new(),
        charge_code: ctx.mapping.sale_charge_code.clone(),
        day: None,
        counter: HashMap::new(),
    };
    step.vat_text = text4(step.vat);
    let mut input = Lines::open(&ctx.legacy("issues"))?;
    while let Some((line, text)) = input.next_line()? {
        step.issue(line, text)?;
    }
    let Step {
        sales,
        lines,
        side,
        mut counts,
        money,
        ..
    } = step;
    sales.finish()?;
    lines.finish()?;
    side.finish()?;
    counts.money.insert("sales".into(), money);
    Ok(counts)
}

impl Step<'_> {
    fn issue(&mut self, line: u64, text: &str) -> Result<()> {
        self.counts.source_rows += 1;
        self.counts.table("sales").processed += 1;
        let issue = match super::reader::parse_only::<Issue>(text) {
            Ok(i) => i,
            Err(e) => return self.reject(line, Action::Error, &e, text, None),
        };
        if let Some(reason) = super::reader::nul(text) {
            return self.reject(line, Action::Error, &reason, text, issue.value);
        }
        self.next_day(line, clean(&issue.date))?;
        let found = find_item(clean(&issue.stock_code), self.items)
            .and_then(|(item, rule)| amounts(&issue).map(|a| (item, rule, a)));
        let (item, rule, (qty, value)) = match found {
            Ok(f) => f,
            Err(reason) => return self.reject(line, Action::Skipped, &reason, text, issue.value),
        };
        let n = self.counter.entry(item.id).or_insert(0);
        *n += 1;
        // The day as the legacy row wrote it (a zero month too), so ids never repeat.
        let day = clean(&issue.date).map_or_else(|| "NODATE".to_string(), |d| d.replace('-', ""));
        let sale_id = format!("LEGACY-{}-{day}-{n:06}", item.sku);
        if sale_id.len() > 50 {
            return self.reject(
                line,
                Action::Error,
                &format!("sale id {sale_id} is longer than sales.sale_id's 50 characters"),
                text,
                issue.value,
            );
        }
        *self.counts.matched_by.entry(rule.to_string()).or_default() += 1;
        for w in not_dates(&[("DATE", &issue.date)]) {
            self.side.reject(line, Action::Kept, &w, &raw(text))?;
            self.counts.table("sales").warnings += 1;
        }
        for (table, column, s) in [
            ("sale_items", "quantity", qty),
            ("sales", "subtotal_amount", value),
        ] {
            if s.rounded() {
                self.counts.table(table).rounded += 1;
                self.side
                    .rounded(line, table, column, Some(s.legacy), s.stored)?;
            }
        }
        self.write(&issue, item, rule, &sale_id, qty, value)?;
        self.money.legacy += value.legacy;
        self.money.expected += value.stored;
        Ok(())
    }

    /// Issues come ordered by DATE: a new day starts its counters afresh; a day earlier than
    /// the last one means the input is not ordered, and the ids could repeat.
    fn next_day(&mut self, line: u64, d: Option<&str>) -> Result<()> {
        let d = d.map(str::to_string);
        match &self.day {
            Some(last) if *last == d => return Ok(()),
            Some(last) if *last > d => {
                return Err(FerryError::Usage(format!(
                    "issues.ndjson:{line}: DATE {} comes after {}: the issues must be ordered by DATE (migrate-lustores extracts them so)",
                    d.as_deref().unwrap_or("NULL"),
                    last.as_deref().unwrap_or("NULL")
                )))
            }
            _ => {}
        }
        self.day = Some(d);
        self.counter.clear();
        Ok(())
    }

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
        bump(&mut self.counts, "sales", action);
        bump(&mut self.counts, "sale_items", action);
        self.counts.table("sale_items").processed += 1;
        Ok(())
    }

    fn write(
        &mut self,
        i: &Issue,
        item: &ItemRef,
        rule: &str,
        sale_id: &str,
        qty: Stored,
        value: Stored,
    ) -> Result<()> {
        let id = self.sales.rows() + 1;
        let subtotal = value.stored;
        let vat = round2(subtotal * self.vat);
        let at = midnight(date(&i.date));
        let (sub, vat_t, total) = (text2(subtotal), text2(vat), text2(subtotal + vat));
        let refund = qty.stored.is_sign_negative() && !qty.stored.is_zero();
        self.sales.write(&SaleRow {
            id,
            sale_id,
            charge_code: &self.charge_code,
            subtotal_amount: &sub,
            vat_amount: &vat_t,
            total_amount: &total,
            vat_applied: true,
            customer_info: customer_info(i, rule),
            notes_id: None,
            status: if refund { "refunded" } else { "completed" },
            is_paid: false,
            processed_by: LEGACY_USER,
            delivered_to: clean(&i.issuedto),
            delivered_to_email: None,
            delivered_at: at.as_deref(),
            created_at: at.as_deref(),
            updated_at: at.as_deref(),
        })?;
        self.lines.write(&SaleItemRow {
            id,
            sale_id: id,
            item_id: item.id,
            item_name: &item.name,
            item_sku: &item.sku,
            unit_price: &item.price,
            vat_rate: &self.vat_text,
            vat_included: false,
            vat_amount: &vat_t,
            quantity: text2(qty.stored),
            subtotal: &sub,
            total_with_vat: &total,
            created_at: at.as_deref(),
        })?;
        self.counts.table("sales").migrated += 1;
        self.counts.table("sale_items").processed += 1;
        self.counts.table("sale_items").migrated += 1;
        Ok(())
    }
}
