//! Step 4: `supplier` → `suppliers`. The id is the trimmed CODE (`E15 ` → `E15`); a code
//! seen before (`A22` twice) is skipped and reported, never overwriting the first.
//!
//! | target | legacy |
//! |---|---|
//! | id | CODE, trimmed |
//! | name | NAME, else `Supplier <CODE>` |
//! | contact, email | NULL |
//! | phone | TELEPHONE |
//! | address | ADDRESS1–4, non-empty ones joined with `, ` |
//! | account_number | ACCOUNT |

use super::reader::{raw, Lines};
use super::Ctx;
use crate::legacy::{clean, Supplier};
use crate::output::{Action, Counts, Ndjson, SideFiles};
use ferry_shared::Result;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The target row of a legacy supplier, or why it has none.
pub fn map(s: &Supplier) -> std::result::Result<(String, Value), String> {
    let Some(code) = clean(&s.code) else {
        return Err("CODE is empty: a supplier needs its code as id".into());
    };
    let address: Vec<&str> = [&s.address1, &s.address2, &s.address3, &s.address4]
        .into_iter()
        .filter_map(clean)
        .collect();
    let row = json!({
        "id": code,
        "name": clean(&s.name).map_or_else(|| format!("Supplier {code}"), str::to_string),
        "contact": null, "email": null,
        "phone": clean(&s.telephone),
        "address": if address.is_empty() { None } else { Some(address.join(", ")) },
        "account_number": clean(&s.account),
        "notes_id": null, "created_at": null, "updated_at": null,
    });
    Ok((code.to_string(), row))
}

/// Writes `suppliers.ndjson`.
pub fn run(ctx: &Ctx) -> Result<Counts> {
    let file = "supplier.ndjson";
    let mut lines = Lines::open(&ctx.legacy("supplier"))?;
    let mut out = Ndjson::create(&ctx.target("suppliers"))?;
    let mut side = SideFiles::create(&ctx.rejects_dir, "suppliers", file)?;
    let mut counts = Counts {
        step: "4 suppliers".into(),
        ..Counts::default()
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    while let Some((line, text)) = lines.next_line()? {
        counts.source_rows += 1;
        counts.table("suppliers").processed += 1;
        let mapped = super::reader::parse::<Supplier>(text)
            .map_err(|e| (Action::Error, e))
            .and_then(|s| map(&s).map_err(|r| (Action::Skipped, r)));
        let outcome = mapped.and_then(|(code, row)| match seen.get(&code) {
            Some(first) => Err((
                Action::Skipped,
                format!("duplicate supplier CODE '{code}': line {first} already has it (kept; this one is not merged)"),
            )),
            None => {
                seen.insert(code, line);
                Ok(row)
            }
        });
        match outcome {
            Ok(row) => {
                out.write(&row)?;
                counts.table("suppliers").migrated += 1;
            }
            Err((action, reason)) => {
                side.reject(line, action, &reason, &raw(text))?;
                bump(&mut counts, "suppliers", action);
            }
        }
    }
    out.finish()?;
    side.finish()?;
    Ok(counts)
}

/// Counts a rejected row as skipped or error.
pub fn bump(counts: &mut Counts, table: &str, action: Action) {
    let c = counts.table(table);
    match action {
        Action::Skipped => c.skipped += 1,
        Action::Error => c.errors += 1,
        Action::Kept => c.warnings += 1,
    }
}
