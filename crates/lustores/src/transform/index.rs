//! The migrated items and suppliers, read back from their transformed files, for the steps
//! that refer to them (orders, issues).

use super::reader::Lines;
use ferry_shared::{FerryError, Result};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

/// A migrated item.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemRef {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price: String,
    pub category_id: i64,
}

impl ItemRef {
    /// Its price as a decimal.
    pub fn price(&self) -> Decimal {
        Decimal::from_str(&self.price).unwrap_or_default()
    }
}

/// Items by upper-cased SKU and by lower-cased name (a name two items share finds none).
#[derive(Default)]
pub struct Items {
    pub by_sku: HashMap<String, ItemRef>,
    pub by_name: HashMap<String, Option<String>>,
}

impl Items {
    /// Reads `items.ndjson`.
    pub fn load(path: &Path) -> Result<Items> {
        let mut items = Items::default();
        let mut lines = Lines::open(path)?;
        while let Some((line, text)) = lines.next_line()? {
            let item: ItemRef = serde_json::from_str(text).map_err(|e| FerryError::BadRecord {
                file: path.display().to_string(),
                line,
                reason: e.to_string(),
            })?;
            let sku = item.sku.to_uppercase();
            items
                .by_name
                .entry(item.name.trim().to_lowercase())
                .and_modify(|v| *v = None)
                .or_insert_with(|| Some(sku.clone()));
            items.by_sku.insert(sku, item);
        }
        Ok(items)
    }

    /// The item whose SKU is `code` (any case, trimmed).
    pub fn sku(&self, code: &str) -> Option<&ItemRef> {
        self.by_sku.get(&code.trim().to_uppercase())
    }
}

/// The ids in a transformed file's `id` column (suppliers).
pub fn ids(path: &Path) -> Result<HashSet<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let mut out = HashSet::new();
    let mut lines = Lines::open(path)?;
    while let Some((line, text)) = lines.next_line()? {
        let r: Id = serde_json::from_str(text).map_err(|e| FerryError::BadRecord {
            file: path.display().to_string(),
            line,
            reason: e.to_string(),
        })?;
        out.insert(r.id);
    }
    Ok(out)
}
