//! `--create`: the target table from the schema sidecar, with the documented type mapping
//! (docs/type-mapping.md). Same-engine copies keep the source's own type text.

use ferry_shared::conn::Engine;
use ferry_shared::schema::{ColumnSchema, LogicalType, TableSchema};
use ferry_shared::sql::{literal_pg, quote_mysql, quote_pg};

/// PostgreSQL type for a source column.
pub fn pg_type(c: &ColumnSchema, engine: Engine) -> String {
    if engine == Engine::Postgres && !matches!(c.logical, LogicalType::Enum { .. }) {
        return c.source_type.clone();
    }
    match &c.logical {
        LogicalType::Bool => "boolean".into(),
        LogicalType::Int { bits, unsigned } => match (bits, unsigned) {
            (8, _) | (16, false) => "smallint".into(),
            (16, true) | (24, _) | (32, false) => "integer".into(),
            (32, true) | (64, false) => "bigint".into(),
            _ => "numeric(20,0)".into(),
        },
        LogicalType::Decimal {
            precision: Some(p),
            scale,
        } => format!("numeric({p},{})", scale.unwrap_or(0)),
        LogicalType::Decimal { .. } => "numeric".into(),
        LogicalType::Float32 => "real".into(),
        LogicalType::Float64 => "double precision".into(),
        LogicalType::Text { max_chars: Some(n) } if *n <= 10_485_760 => format!("varchar({n})"),
        LogicalType::Text { .. } | LogicalType::Set { .. } | LogicalType::Other { .. } => {
            "text".into()
        }
        LogicalType::Bytes { .. } => "bytea".into(),
        LogicalType::Json | LogicalType::Jsonb => "jsonb".into(),
        LogicalType::Interval => "interval".into(),
        LogicalType::TimeOfDay => "time(6)".into(),
        LogicalType::Date => "date".into(),
        LogicalType::DateTime => "timestamp(6)".into(),
        LogicalType::Timestamp => "timestamptz(6)".into(),
        // MySQL TIME spans ±838 hours: only interval holds it. SQLite has no TIME type.
        LogicalType::Time if engine == Engine::Mysql => "interval".into(),
        LogicalType::Time => "time(6)".into(),
        LogicalType::Year => "smallint".into(),
        LogicalType::Enum { .. } => "text".into(),
        LogicalType::Bit { bits: 1 } => "boolean".into(),
        LogicalType::Bit { bits } if *bits <= 63 => "bigint".into(),
        LogicalType::Bit { .. } => "numeric(20,0)".into(),
        LogicalType::Uuid => "uuid".into(),
        LogicalType::Geometry => "geometry".into(),
    }
}

/// The schema for a PostgreSQL target without PostGIS: geometry columns become `text`
/// holding the hex EWKB (which `ALTER TABLE … TYPE geometry USING g::geometry` turns into
/// PostGIS values later). Names the columns it changed.
pub fn geometry_as_text(s: &TableSchema) -> (TableSchema, Vec<String>) {
    let mut out = s.clone();
    let mut changed = Vec::new();
    for c in &mut out.columns {
        if c.logical == LogicalType::Geometry {
            c.logical = LogicalType::Text { max_chars: None };
            c.source_type = "text".into();
            changed.push(c.name.clone());
        }
    }
    (out, changed)
}

/// MySQL/MariaDB type for a source column.
pub fn mysql_type(c: &ColumnSchema, engine: Engine, in_key: bool) -> String {
    if engine == Engine::Mysql {
        return match c.logical {
            LogicalType::Json | LogicalType::Jsonb => "json".into(),
            _ => c.source_type.clone(),
        };
    }
    match &c.logical {
        LogicalType::Bool => "tinyint(1)".into(),
        LogicalType::Int { bits, unsigned } => {
            let base = match bits {
                8 => "tinyint",
                16 => "smallint",
                24 => "mediumint",
                32 => "int",
                _ => "bigint",
            };
            if *unsigned {
                format!("{base} unsigned")
            } else {
                base.into()
            }
        }
        LogicalType::Decimal {
            precision: Some(p),
            scale,
        } if *p <= 65 => format!("decimal({p},{})", scale.unwrap_or(0)),
        LogicalType::Decimal { .. } => "decimal(65,30)".into(),
        LogicalType::Float32 => "float".into(),
        LogicalType::Float64 => "double".into(),
        LogicalType::Text { max_chars: Some(n) } if *n <= 16_383 => format!("varchar({n})"),
        LogicalType::Text { .. } | LogicalType::Other { .. } if in_key => "varchar(768)".into(),
        LogicalType::Text { .. } | LogicalType::Other { .. } => "longtext".into(),
        LogicalType::Bytes {
            max_bytes: Some(n),
            fixed: true,
        } if *n <= 255 => format!("binary({n})"),
        LogicalType::Bytes {
            max_bytes: Some(n), ..
        } if *n <= 65_535 => format!("varbinary({n})"),
        LogicalType::Bytes { .. } if in_key => "varbinary(768)".into(),
        LogicalType::Bytes { .. } => "longblob".into(),
        LogicalType::Json | LogicalType::Jsonb => "json".into(),
        LogicalType::Date => "date".into(),
        LogicalType::DateTime | LogicalType::Timestamp => "datetime(6)".into(),
        LogicalType::Time | LogicalType::TimeOfDay => "time(6)".into(),
        // An interval has months and days besides a time: kept as PostgreSQL's text.
        LogicalType::Interval => "varchar(64)".into(),
        LogicalType::Year => "year".into(),
        LogicalType::Enum { values } => format!(
            "enum({})",
            values
                .iter()
                .map(|v| literal_pg(v))
                .collect::<Vec<_>>()
                .join(",")
        ),
        LogicalType::Set { values } => format!(
            "set({})",
            values
                .iter()
                .map(|v| literal_pg(v))
                .collect::<Vec<_>>()
                .join(",")
        ),
        LogicalType::Bit { bits } => format!("bit({bits})"),
        LogicalType::Uuid => "char(36)".into(),
        LogicalType::Geometry => "geometry".into(),
    }
}

/// CREATE TABLE from column definitions and the primary key, in one dialect's quoting.
fn create_table(
    head: &str,
    rel: String,
    s: &TableSchema,
    quote: fn(&str) -> String,
    def: impl Fn(&ColumnSchema) -> String,
    suffix: &str,
) -> String {
    let mut parts: Vec<String> = s.columns.iter().map(def).collect();
    if !s.primary_key.is_empty() {
        let key: Vec<String> = s.primary_key.iter().map(|k| quote(k)).collect();
        parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    format!("{head} {rel} (\n  {}\n){suffix}", parts.join(",\n  "))
}

/// Where a PostgreSQL table is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgPlace<'a> {
    /// A permanent table in this schema.
    Schema(&'a str),
    /// A session-private `CREATE TEMP TABLE`: a dry run checks rows against the table as it
    /// would be without creating anything other sessions can see.
    Temp,
}

/// CREATE TABLE for PostgreSQL.
pub fn create_pg(schema_name: &str, table: &str, s: &TableSchema) -> String {
    create_pg_in(PgPlace::Schema(schema_name), table, s)
}

/// CREATE TABLE for PostgreSQL, in a schema or as a temporary table.
pub fn create_pg_in(place: PgPlace<'_>, table: &str, s: &TableSchema) -> String {
    let rel = match place {
        PgPlace::Schema(schema_name) => format!("{}.{}", quote_pg(schema_name), quote_pg(table)),
        PgPlace::Temp => quote_pg(table),
    };
    let head = match place {
        PgPlace::Schema(_) => "CREATE TABLE",
        PgPlace::Temp => "CREATE TEMP TABLE",
    };
    create_table(
        head,
        rel,
        s,
        quote_pg,
        |c| {
            let mut d = format!("{} {}", quote_pg(&c.name), pg_type(c, s.engine));
            if !c.nullable {
                d.push_str(" NOT NULL");
            }
            if let LogicalType::Enum { values } = &c.logical {
                if s.engine != Engine::Postgres && !values.is_empty() {
                    let labels: Vec<String> = values.iter().map(|v| literal_pg(v)).collect();
                    d.push_str(&format!(
                        " CHECK ({} IN ({}))",
                        quote_pg(&c.name),
                        labels.join(", ")
                    ));
                }
            }
            d
        },
        "",
    )
}

/// CREATE TABLE for MySQL/MariaDB.
pub fn create_mysql(db: &str, table: &str, s: &TableSchema) -> String {
    let rel = format!("{}.{}", quote_mysql(db), quote_mysql(table));
    create_table(
        "CREATE TABLE",
        rel,
        s,
        quote_mysql,
        |c| {
            let in_key = s.primary_key.contains(&c.name);
            let null = if c.nullable { " NULL" } else { " NOT NULL" };
            format!(
                "{} {}{null}",
                quote_mysql(&c.name),
                mysql_type(c, s.engine, in_key)
            )
        },
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_table_is_a_parameter() {
        let s: TableSchema = serde_json::from_value(serde_json::json!({
            "version": 1, "table": "t", "engine": "mysql", "primary_key": ["id"],
            "columns": [{"name": "id", "source_type": "int", "nullable": false,
                         "type": {"kind": "int", "bits": 32, "unsigned": false}}]
        }))
        .expect("schema");
        let temp = create_pg_in(PgPlace::Temp, "t", &s);
        assert!(
            temp.starts_with("CREATE TEMP TABLE \"t\" (\n  \"id\" "),
            "{temp}"
        );
        let kept = create_pg("app", "t", &s);
        assert!(
            kept.starts_with("CREATE TABLE \"app\".\"t\" (\n  \"id\" "),
            "{kept}"
        );
        assert!(kept.ends_with("PRIMARY KEY (\"id\")\n)"), "{kept}");
    }
}
