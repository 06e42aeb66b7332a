//! The decisions the document leaves to configuration, in one file
//! (`config/lustores/mapping.json`; `--mapping FILE` replaces it): how LEVEL becomes a role,
//! the e-mail domain of user names without `@`, the VAT rate when `vatparams` has none, the
//! charge code of migrated issues. A LEVEL no rule covers rejects the user (never a silent
//! default role).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The mapping file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Appended as `@DOMAIN` to a USERNAME that has no `@`.
    pub email_domain: String,
    /// Numeric LEVELs: the first rule whose `min` the level reaches (highest first).
    pub numeric_levels: Vec<LevelRule>,
    /// Letter LEVELs, as the real data holds them (`A`, `G`, `U`), upper-cased.
    pub letter_levels: BTreeMap<String, String>,
    /// VAT rate (fraction) when `vatparams` holds no row.
    pub default_vat_rate: String,
    /// The charge code every migrated issue (sale) is charged to, created if missing.
    pub sale_charge_code: String,
    /// The category every migrated item goes to.
    pub item_category: String,
    /// bcrypt cost of the legacy passwords' hashes.
    pub bcrypt_cost: u32,
}

/// `min` and above → `role`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRule {
    pub min: i64,
    pub role: String,
}

/// The shipped default, also `config/lustores/mapping.json`.
pub const DEFAULT: &str = include_str!("../../../config/lustores/mapping.json");

impl Mapping {
    /// The file given, or the shipped default.
    pub fn load(path: Option<&Path>) -> Result<Mapping, MappingError> {
        let (text, name) = match path {
            Some(p) => (
                fs_err::read_to_string(p).map_err(MappingError::Read)?,
                p.display().to_string(),
            ),
            None => (DEFAULT.to_string(), "the default mapping".to_string()),
        };
        serde_json::from_str(&text).map_err(|e| MappingError::Parse(name, e))
    }

    /// The app role of a legacy LEVEL, or why there is none.
    pub fn role(&self, level: Option<&str>) -> Result<&str, String> {
        let level = level.map(str::trim).filter(|l| !l.is_empty());
        let Some(level) = level else {
            return Err("LEVEL is empty: no role rule applies".into());
        };
        if let Ok(n) = level.parse::<i64>() {
            let mut rules: Vec<&LevelRule> = self.numeric_levels.iter().collect();
            rules.sort_by_key(|r| std::cmp::Reverse(r.min));
            return rules
                .into_iter()
                .find(|r| n >= r.min)
                .map(|r| r.role.as_str())
                .ok_or_else(|| format!("LEVEL {n} is below every numeric_levels rule"));
        }
        self.letter_levels
            .get(&level.to_uppercase())
            .map(String::as_str)
            .ok_or_else(|| format!("LEVEL '{level}' has no letter_levels rule in the mapping"))
    }
}

/// The mapping file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read the mapping: {0}")]
    Read(#[source] std::io::Error),
    #[error("{0} is not a valid mapping: {1}")]
    Parse(String, #[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_by_number_and_letter_and_unknown_ones_are_refused() {
        let m = Mapping::load(None).unwrap();
        assert_eq!(m.role(Some("A")), Ok("admin"));
        assert_eq!(m.role(Some("u")), Ok("user"));
        assert_eq!(m.role(Some("5")), Ok("superuser"));
        assert_eq!(m.role(Some("1")), Ok("user"));
        assert!(m.role(Some("Z")).unwrap_err().contains("'Z'"));
        assert!(m.role(None).is_err());
    }
}
