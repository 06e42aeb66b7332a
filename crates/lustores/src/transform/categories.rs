//! Step 3: the document's default categories. Ids are fixed (1…6 in the document's order),
//! so items can name theirs before it is loaded and a rerun gives the same ids.

use super::Ctx;
use crate::output::{Counts, Ndjson};
use ferry_shared::Result;
use serde_json::json;

/// Name, description, icon, colour.
pub const DEFAULTS: [(&str, &str, &str, &str); 6] = [
    (
        "IT Equipment",
        "Computers, laptops, and technology devices",
        "fas fa-laptop",
        "blue",
    ),
    (
        "Office Supplies",
        "Pens, paper, and general office materials",
        "fas fa-paperclip",
        "green",
    ),
    (
        "Textbooks",
        "Educational books and learning materials",
        "fas fa-book",
        "orange",
    ),
    (
        "Laboratory",
        "Scientific equipment and lab supplies",
        "fas fa-microscope",
        "purple",
    ),
    (
        "Furniture",
        "Desks, chairs, and office furniture",
        "fas fa-chair",
        "brown",
    ),
    (
        "General",
        "General laboratory supplies (migrated from legacy system)",
        "fas fa-box",
        "#6c757d",
    ),
];

/// The id of the category items go to (the mapping's `item_category`): its place among the
/// defaults, or 7 when the mapping names another one (then written as a seventh).
pub fn item_category_id(ctx: &Ctx) -> i64 {
    DEFAULTS
        .iter()
        .position(|d| d.0 == ctx.mapping.item_category)
        .map_or(DEFAULTS.len() as i64 + 1, |i| i as i64 + 1)
}

/// Writes `categories.ndjson`.
pub fn run(ctx: &Ctx) -> Result<Counts> {
    let mut out = Ndjson::create(&ctx.target("categories"))?;
    let mut rows: Vec<(&str, &str, &str, &str)> = DEFAULTS.to_vec();
    if item_category_id(ctx) as usize > DEFAULTS.len() {
        rows.push((
            ctx.mapping.item_category.as_str(),
            "Migrated from the legacy system",
            "fas fa-box",
            "#6c757d",
        ));
    }
    for (i, (name, description, icon, color)) in rows.iter().enumerate() {
        out.write(&json!({
            "id": i + 1, "name": name, "description": description, "icon": icon,
            "color": color, "created_at": null, "updated_at": null,
        }))?;
    }
    let n = out.finish()?;
    let mut counts = Counts {
        step: "3 categories".into(),
        ..Counts::default()
    };
    let c = counts.table("categories");
    c.processed = n;
    c.migrated = n;
    Ok(counts)
}
