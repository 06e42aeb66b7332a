//! Step 6: `charge` → `chargecodes` (+ `charge_code_authorized_users`). COSTCENTRE is the
//! code; a cost centre seen before (`PYA1000` with another PIN/ACTIVITY) is skipped and
//! reported with its whole row. The mapping's sale charge code (`GENERAL`) is added when no
//! legacy row has it, because every migrated issue is charged to it.
//!
//! | target | legacy |
//! |---|---|
//! | code, cost_centre | COSTCENTRE, trimmed; empty or repeated → skipped |
//! | title | TITLE, else `Charge Code <code>` |
//! | valid_from / valid_until | START / END at 00:00 |
//! | pin / activity | PIN / ACTIVITY |
//! | on_hold | ONHOLD = `Y` |
//! | charge_code_authorized_users | one row per non-empty AUTHORISE1–3 (user_name) |

use super::reader::{raw, Lines};
use super::suppliers::bump;
use super::{Ctx, LEGACY_USER};
use crate::legacy::{clean, date, not_dates, Charge};
use crate::output::{Action, Counts, Ndjson, SideFiles};
use ferry_shared::Result;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A date at midnight, as a `timestamp`.
pub fn midnight(d: Option<&str>) -> Option<String> {
    d.map(|d| format!("{d}T00:00:00"))
}

/// The chargecode row, the authorised users' names and the warnings (dates that are no
/// calendar day) of a legacy charge row.
pub type Mapped = (String, Value, Vec<String>, Vec<String>);

/// See [`Mapped`].
pub fn map(c: &Charge) -> std::result::Result<Mapped, String> {
    let Some(code) = clean(&c.costcentre) else {
        return Err("COSTCENTRE is empty: a charge code needs it as code".into());
    };
    let row = json!({
        "code": code,
        "title": clean(&c.title).map_or_else(|| format!("Charge Code {code}"), str::to_string),
        "authorised_by": null,
        "valid_from": midnight(date(&c.start)),
        "valid_until": midnight(date(&c.end)),
        "pin": clean(&c.pin), "cost_centre": code, "activity": clean(&c.activity), "cat3": null,
        "notes_id": null,
        "on_hold": clean(&c.onhold).is_some_and(|h| h.eq_ignore_ascii_case("Y")),
        "hold_reason": null, "held_at": null, "held_by": null,
        "created_at": null, "updated_at": null,
    });
    let users = [&c.authorise1, &c.authorise2, &c.authorise3]
        .into_iter()
        .filter_map(clean)
        .map(str::to_string)
        .collect();
    let warnings = not_dates(&[("START", &c.start), ("END", &c.end)]);
    Ok((code.to_string(), row, users, warnings))
}

/// Writes `chargecodes.ndjson` and `charge_code_authorized_users.ndjson`.
pub fn run(ctx: &Ctx) -> Result<Counts> {
    let file = "charge.ndjson";
    let mut lines = Lines::open(&ctx.legacy("charge"))?;
    let mut out = Ndjson::create(&ctx.target("chargecodes"))?;
    let mut auth = Ndjson::create(&ctx.target("charge_code_authorized_users"))?;
    let mut side = SideFiles::create(&ctx.rejects_dir, "chargecodes", file)?;
    let mut counts = Counts {
        step: "6 chargecodes".into(),
        ..Counts::default()
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    while let Some((line, text)) = lines.next_line()? {
        counts.source_rows += 1;
        counts.table("chargecodes").processed += 1;
        let outcome = super::reader::parse::<Charge>(text)
            .map_err(|e| (Action::Error, e))
            .and_then(|c| map(&c).map_err(|r| (Action::Skipped, r)))
            .and_then(|(code, row, users, warnings)| match seen.get(&code) {
                Some(first) => Err((Action::Skipped, format!(
                    "repeated COSTCENTRE '{code}': line {first} is its charge code (this row's PIN, ACTIVITY and TITLE are not migrated)"
                ))),
                None => {
                    seen.insert(code.clone(), line);
                    Ok((code, row, users, warnings))
                }
            });
        match outcome {
            Ok((code, row, users, warnings)) => {
                for w in &warnings {
                    side.reject(line, Action::Kept, w, &raw(text))?;
                    bump(&mut counts, "chargecodes", Action::Kept);
                }
                out.write(&row)?;
                counts.table("chargecodes").migrated += 1;
                for name in users {
                    auth.write(&json!({
                        "id": auth.rows() + 1, "charge_code": code, "user_name": name,
                        "email": null, "department": null, "notes": null,
                        "created_by": LEGACY_USER, "created_at": null, "updated_at": null,
                    }))?;
                }
            }
            Err((action, reason)) => {
                side.reject(line, action, &reason, &raw(text))?;
                bump(&mut counts, "chargecodes", action);
            }
        }
    }
    let general = ctx.mapping.sale_charge_code.clone();
    if !seen.contains_key(&general) {
        out.write(&json!({
            "code": general, "title": "General charges (legacy system)", "authorised_by": null,
            "valid_from": null, "valid_until": null, "pin": null, "cost_centre": null,
            "activity": null, "cat3": null, "notes_id": null, "on_hold": false,
            "hold_reason": null, "held_at": null, "held_by": null,
            "created_at": null, "updated_at": null,
        }))?;
        counts.extra_rows.insert("chargecodes".into(), 1);
    }
    counts
        .extra_rows
        .insert("charge_code_authorized_users".into(), auth.rows());
    out.finish()?;
    auth.finish()?;
    side.finish()?;
    Ok(counts)
}
