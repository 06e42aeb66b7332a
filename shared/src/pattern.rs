//! Table patterns: `DB.TABLE`, `DB.*`, `*.TABLE`, `TABLE` (the current database).

/// One pattern from `--table`, `SKIP_TABLES` and the like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePattern {
    db: Option<String>,
    table: String,
}

impl TablePattern {
    /// Parses a pattern; `*` matches anything in its part.
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((db, t)) => TablePattern {
                db: Some(db.to_string()),
                table: t.to_string(),
            },
            None => TablePattern {
                db: None,
                table: s.to_string(),
            },
        }
    }

    /// Whether `db.table` matches. A pattern without a database matches in any database.
    pub fn matches(&self, db: &str, table: &str) -> bool {
        let part = |p: &str, v: &str| p == "*" || p == v;
        self.db.as_deref().is_none_or(|d| part(d, db)) && part(&self.table, table)
    }

    /// True when the pattern names one table, not a wildcard.
    pub fn is_exact(&self) -> bool {
        self.table != "*" && self.db.as_deref() != Some("*")
    }

    /// The database part, when given.
    pub fn db(&self) -> Option<&str> {
        self.db.as_deref()
    }

    /// The table part.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Parses a comma-separated list of patterns (environment variables use this form).
pub fn parse_list(s: &str) -> Vec<TablePattern> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(TablePattern::parse)
        .collect()
}

/// True when any pattern matches.
pub fn any_match(patterns: &[TablePattern], db: &str, table: &str) -> bool {
    patterns.iter().any(|p| p.matches(db, table))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn forms() {
        assert!(TablePattern::parse("shop.orders").matches("shop", "orders"));
        assert!(!TablePattern::parse("shop.orders").matches("crm", "orders"));
        assert!(TablePattern::parse("shop.*").matches("shop", "x"));
        assert!(TablePattern::parse("*.orders").matches("any", "orders"));
        assert!(TablePattern::parse("orders").matches("any", "orders"));
        assert!(!TablePattern::parse("orders").matches("any", "order"));
        assert_eq!(parse_list("a.b, c ,").len(), 2);
    }
}
