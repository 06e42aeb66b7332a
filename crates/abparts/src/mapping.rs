//! The decision rules (`config/abparts/mapping.json`): every value the steps write that is
//! not copied comes from here, so an operator changes a rule by editing data, and a value no
//! rule covers is found by step 1 instead of being given a default.

use ferry_shared::FerryError as Error;
use serde::Deserialize;
use std::path::Path;

/// The default rules, shipped in the binary so an installed tool needs no checkout.
pub const DEFAULT: &str = include_str!("../../../config/abparts/mapping.json");

/// The whole mapping file; keys this tool does not read (`about`, `ref`, …) are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Mapping {
    /// Step 3: organization types.
    pub organization_types: TextRules,
    /// Step 3: the other organization columns.
    pub organizations: Organizations,
    /// Step 4.
    pub warehouses: Warehouses,
    /// Step 5: roles.
    pub user_roles: RoleRules,
    /// Step 6.
    pub parts: PartRules,
    /// Step 7.
    pub machines: Machines,
    /// Step 9.
    pub transactions: Transactions,
}

/// Free text → enum label rules.
#[derive(Debug, Clone, Deserialize)]
pub struct TextRules {
    /// The rules, first match wins.
    pub rules: Vec<TextRule>,
}

/// One text rule; the value is under `organization_type` or `role`.
#[derive(Debug, Clone, Deserialize)]
pub struct TextRule {
    /// The text, compared after [`normalise`].
    pub text: String,
    /// The organization type (organization rules).
    #[serde(default)]
    pub organization_type: Option<String>,
    /// The role (role rules).
    #[serde(default)]
    pub role: Option<String>,
}

/// Step 3's fixed values.
#[derive(Debug, Clone, Deserialize)]
pub struct Organizations {
    /// Organizations the AFTER model needs, created when no row maps to their type.
    pub ensure: Vec<EnsureOrganization>,
}

/// An organization step 3 creates when missing.
#[derive(Debug, Clone, Deserialize)]
pub struct EnsureOrganization {
    /// Created when no organization has this type.
    pub when_no_organization_of_type: String,
    /// Its id (fixed, so reruns and the reference seed agree).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its type.
    pub organization_type: String,
    /// Its address.
    pub address: Option<String>,
    /// Its contact information.
    pub contact_info: Option<String>,
}

/// Step 4.
#[derive(Debug, Clone, Deserialize)]
pub struct Warehouses {
    /// The organization types that get a default warehouse.
    pub for_organization_types: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
}

/// Step 5.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleRules {
    /// Text → role.
    pub rules: Vec<TextRule>,
    /// Who becomes super_admin.
    pub super_admins: SuperAdmins,
}

/// The users made super_admin by name.
#[derive(Debug, Clone, Deserialize)]
pub struct SuperAdmins {
    /// Their usernames.
    pub usernames: Vec<String>,
    /// The organization type they must belong to.
    pub organization_type: String,
}

/// Step 6.
#[derive(Debug, Clone, Deserialize)]
pub struct PartRules {
    /// First match wins.
    pub rules: Vec<PartRule>,
}

/// One part rule.
#[derive(Debug, Clone, Deserialize)]
pub struct PartRule {
    /// What it matches; every given key must hold.
    #[serde(rename = "match")]
    pub matches: PartMatch,
    /// → part_type.
    pub part_type: String,
    /// → unit_of_measure.
    pub unit_of_measure: String,
    /// → manufacturer_part_number.
    #[serde(default)]
    pub manufacturer_part_number: Option<String>,
}

/// The conditions of a part rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartMatch {
    /// Exact part number.
    #[serde(default)]
    pub part_number: Option<String>,
    /// The BEFORE flag.
    #[serde(default)]
    pub is_consumable: Option<bool>,
    /// Any word of the name (lower case, split on non-alphanumerics) equal to one of these.
    #[serde(default)]
    pub name_words_any: Option<Vec<String>>,
}

/// Step 7.
#[derive(Debug, Clone, Deserialize)]
pub struct Machines {
    /// The model types a machine may have.
    pub known_model_types: Vec<String>,
}

/// Step 9.
#[derive(Debug, Clone, Deserialize)]
pub struct Transactions {
    /// The user recorded as performing the opening balances.
    pub performed_by_username: String,
    /// `MIGRATION-{inventory_id}`.
    pub reference_number: String,
    /// `… {organization_name}`.
    pub notes: String,
}

/// Free text as the rules compare it: lower case, without whitespace, `_` or `-`.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The part's properties a rule may look at.
pub struct PartFacts<'a> {
    /// part_number.
    pub part_number: &'a str,
    /// name.
    pub name: &'a str,
    /// is_consumable.
    pub is_consumable: bool,
}

impl Mapping {
    /// The default rules, or the file given with `--mapping`.
    pub fn load(path: Option<&Path>) -> Result<Mapping, Error> {
        let (text, name) = match path {
            Some(p) => (
                fs_err::read_to_string(p).map_err(|e| Error::Usage(format!("--mapping: {e}")))?,
                p.display().to_string(),
            ),
            None => (DEFAULT.to_string(), "the built-in mapping".to_string()),
        };
        let m: Mapping = serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("{name}: not a valid mapping: {e}")))?;
        m.check(&name)?;
        Ok(m)
    }

    /// Rules whose values are not labels of the AFTER enums would fail half-way; refused here.
    fn check(&self, name: &str) -> Result<(), Error> {
        let org = ["oraseas_ee", "bossaqua", "customer", "supplier"];
        let role = ["user", "admin", "super_admin"];
        let part = ["consumable", "bulk_material"];
        let bad = |what: &str, v: &str| Error::Usage(format!("{name}: {what} '{v}' is no label"));
        for r in &self.organization_types.rules {
            let v = r.organization_type.as_deref().unwrap_or("");
            if !org.contains(&v) {
                return Err(bad("organization_type", v));
            }
        }
        for r in &self.user_roles.rules {
            let v = r.role.as_deref().unwrap_or("");
            if !role.contains(&v) {
                return Err(bad("role", v));
            }
        }
        for r in &self.parts.rules {
            if !part.contains(&r.part_type.as_str()) {
                return Err(bad("part_type", &r.part_type));
            }
            let m = &r.matches;
            if m.part_number.is_none() && m.is_consumable.is_none() && m.name_words_any.is_none() {
                return Err(Error::Usage(format!(
                    "{name}: a parts rule with an empty match would match every part"
                )));
            }
        }
        Ok(())
    }

    /// The organization type of a BEFORE `type` text, if a rule covers it.
    pub fn organization_type(&self, text: &str) -> Option<&str> {
        let n = normalise(text);
        let rule = self.organization_types.rules.iter();
        rule.filter(|r| normalise(&r.text) == n)
            .find_map(|r| r.organization_type.as_deref())
    }

    /// The role of a BEFORE `role` text, if a rule covers it (super admins aside).
    pub fn role(&self, text: &str) -> Option<&str> {
        let n = normalise(text);
        let rule = self.user_roles.rules.iter();
        rule.filter(|r| normalise(&r.text) == n)
            .find_map(|r| r.role.as_deref())
    }

    /// The first part rule that matches.
    pub fn part_rule(&self, p: &PartFacts<'_>) -> Option<&PartRule> {
        self.parts.rules.iter().find(|r| r.matches.holds(p))
    }
}

impl PartMatch {
    fn holds(&self, p: &PartFacts<'_>) -> bool {
        let number = self
            .part_number
            .as_deref()
            .is_none_or(|n| n == p.part_number);
        let flag = self.is_consumable.is_none_or(|c| c == p.is_consumable);
        let words = self.name_words_any.as_ref().is_none_or(|list| {
            let lower = p.name.to_lowercase();
            lower
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| list.iter().any(|l| l.eq_ignore_ascii_case(w)))
        });
        number && flag && words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_normalise_to_one_rule() {
        let m = Mapping::load(None).expect("default mapping");
        for t in ["Customer", " Customer  ", "CUSTOMER", "customer"] {
            assert_eq!(m.organization_type(t), Some("customer"), "{t:?}");
        }
        assert_eq!(m.organization_type("SUPPLIER "), Some("supplier"));
        assert_eq!(m.organization_type("Warehouse"), Some("oraseas_ee"));
        assert_eq!(m.organization_type("Distributor"), None);
        assert_eq!(m.role(" customer user "), Some("user"));
        assert_eq!(m.role("SupplierUser"), Some("user"));
        assert_eq!(m.role("CUSTOMER ADMIN"), Some("admin"));
        assert_eq!(m.role("Technician"), None);
    }

    #[test]
    fn parts_by_number_then_flag() {
        let m = Mapping::load(None).expect("default mapping");
        let belt = PartFacts {
            part_number: "PN-005-E",
            name: "Drive Belt",
            is_consumable: true,
        };
        let r = m.part_rule(&belt).expect("belt rule");
        assert_eq!(
            (r.part_type.as_str(), r.unit_of_measure.as_str()),
            ("bulk_material", "meters")
        );
        let coating = PartFacts {
            part_number: "PN-007-G",
            name: "Antifouling Coating",
            is_consumable: true,
        };
        assert!(m.part_rule(&coating).is_none());
        let net = PartFacts {
            part_number: "PN-006-F",
            name: "Net Panel 10 x 10 m",
            is_consumable: false,
        };
        assert_eq!(
            m.part_rule(&net).map(|r| r.unit_of_measure.as_str()),
            Some("pieces")
        );
    }
}
