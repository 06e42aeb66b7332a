//! The fingerprint of schema `public`: its catalog (extensions, enums, columns in order with
//! type, NULL and default, constraints, indexes, triggers, functions, sequences) and one
//! checksum per table. Two databases with equal fingerprints hold the same schema and the
//! same rows; this is how a failed step, a dry run and a rollback are proven to leave the
//! database as it was.

use ferry_shared::{DbContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio_postgres::GenericClient;

/// The catalog as sorted text lines (`fixtures/abparts/catalog.sql`, plus column positions
/// and sequences, and with the tracking table, which a rollback must remove as well).
const CATALOG: &str = r#"
WITH t AS (
    SELECT c.oid, c.relname FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
)
SELECT line FROM (
    SELECT 'extension ' || extname AS line FROM pg_extension WHERE extname <> 'plpgsql'
    UNION ALL
    SELECT 'enum ' || ty.typname || ' (' || string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) || ')'
    FROM pg_type ty JOIN pg_enum e ON e.enumtypid = ty.oid
    WHERE ty.typnamespace = 'public'::regnamespace GROUP BY ty.typname
    UNION ALL
    SELECT 'column ' || t.relname || '.' || a.attname || ' #'
           || row_number() OVER (PARTITION BY t.oid ORDER BY a.attnum) || ' '
           || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
           || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
    FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
    UNION ALL
    SELECT 'constraint ' || t.relname || ' ' || co.conname || ': ' || pg_get_constraintdef(co.oid)
    FROM t JOIN pg_constraint co ON co.conrelid = t.oid
    UNION ALL
    SELECT 'index ' || t.relname || ' ' || pg_get_indexdef(i.indexrelid)
    FROM t JOIN pg_index i ON i.indrelid = t.oid
    UNION ALL
    SELECT 'trigger ' || t.relname || ' ' || pg_get_triggerdef(tg.oid)
           || CASE WHEN tg.tgenabled = 'D' THEN ' DISABLED' ELSE '' END
    FROM t JOIN pg_trigger tg ON tg.tgrelid = t.oid AND NOT tg.tgisinternal
    UNION ALL
    SELECT 'function ' || p.proname || '(' || pg_get_function_arguments(p.oid) || ') returns '
           || pg_get_function_result(p.oid) || ' body md5 ' || md5(p.prosrc)
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend dp
                      WHERE dp.classid = 'pg_proc'::regclass AND dp.objid = p.oid AND dp.deptype = 'e')
    UNION ALL
    SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' END || c.relname
           || ' md5 ' || md5(pg_get_viewdef(c.oid))
           || CASE WHEN c.relkind = 'm' AND NOT c.relispopulated THEN ' not populated' ELSE '' END
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'type ' || c.relname || ' (' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) || ')'
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'c' GROUP BY c.relname
    UNION ALL
    SELECT 'domain ' || t.typname || ' ' || format_type(t.typbasetype, t.typtypmod)
           || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
           || COALESCE(' ' || (SELECT string_agg(pg_get_constraintdef(co.oid), ' ' ORDER BY co.conname) FROM pg_constraint co WHERE co.contypid = t.oid), '')
    FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'd'
    UNION ALL
    SELECT 'row security ' || c.relname || CASE WHEN c.relforcerowsecurity THEN ' forced' ELSE '' END
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relrowsecurity
    UNION ALL
    SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || COALESCE(qual, '') || ' / ' || COALESCE(with_check, '')
    FROM pg_policies WHERE schemaname = 'public'
    UNION ALL
    SELECT 'rule ' || tablename || ' ' || rulename || ' md5 ' || md5(definition)
    FROM pg_rules WHERE schemaname = 'public'
    UNION ALL
    SELECT 'sequence ' || sequencename || ' ' || data_type::text || ' last ' || COALESCE(last_value::text, 'none')
    FROM pg_sequences WHERE schemaname = 'public'
) catalog
ORDER BY line COLLATE "C""#;

/// A table's rows, order-free: their number and the sum of a 64-bit hash of each row's text
/// (`hashtextextended`, PostgreSQL's own: several times cheaper than md5 on a million rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSum {
    /// Rows.
    pub rows: i64,
    /// Σ of hashtextextended(row text, 0), as decimal text (it outgrows 64 bits).
    pub hash_sum: String,
}

/// Schema and data of `public`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The catalog lines.
    pub catalog: Vec<String>,
    /// Per table.
    pub tables: BTreeMap<String, TableSum>,
}

impl Fingerprint {
    /// Reads it with `client` (inside a transaction, it sees that transaction's changes).
    pub async fn take(client: &impl GenericClient) -> Result<Fingerprint> {
        let rows = client
            .query(CATALOG, &[])
            .await
            .db_context("read the catalog for the fingerprint")?;
        let catalog: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let mut tables = BTreeMap::new();
        for name in crate::db::public_tables(client).await? {
            let q = format!(
                "SELECT count(*), COALESCE(sum(hashtextextended(t::text, 0)::numeric), 0)::text FROM public.{} t",
                ferry_shared::sql::quote_pg(&name)
            );
            let row = client
                .query_one(&q, &[])
                .await
                .with_db_context(|| format!("checksum table {name}"))?;
            let sum = TableSum {
                rows: row.get(0),
                hash_sum: row.get(1),
            };
            tables.insert(name, sum);
        }
        Ok(Fingerprint { catalog, tables })
    }

    /// A short digest for logs and reports.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// What differs, one line each (empty when equal).
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mine: std::collections::BTreeSet<&String> = self.catalog.iter().collect();
        let theirs: std::collections::BTreeSet<&String> = other.catalog.iter().collect();
        for l in mine.difference(&theirs) {
            out.push(format!("catalog: only before: {l}"));
        }
        for l in theirs.difference(&mine) {
            out.push(format!("catalog: only now: {l}"));
        }
        let names: std::collections::BTreeSet<&String> =
            self.tables.keys().chain(other.tables.keys()).collect();
        for n in names {
            let (a, b) = (self.tables.get(n), other.tables.get(n));
            if a != b {
                out.push(format!("table {n}: before {}, now {}", shown(a), shown(b)));
            }
        }
        out
    }
}

/// A table's sum for a message.
fn shown(s: Option<&TableSum>) -> String {
    s.map_or("absent".to_string(), |s| {
        format!("{} rows, sum {}", s.rows, s.hash_sum)
    })
}
