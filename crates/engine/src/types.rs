//! The one type model: a column's [`LogicalType`] from each engine's catalog, written once
//! per engine. The readers put it in the stream's header; the loaders cast to it.

use ferry_shared::schema::LogicalType;
use mysql_async::prelude::FromRow;

/// One row of `information_schema.COLUMNS` as the reader and the loader both read it
/// ([`MYSQL_COLUMNS_SQL`]). Named fields instead of a tuple, so the column each value comes
/// from is visible where it is used.
#[derive(Debug)]
pub(crate) struct MysqlColumnRow {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
    /// `YES` or `NO`.
    pub is_nullable: String,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
    pub max_len: Option<u64>,
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// auto_increment, GENERATED, VIRTUAL, STORED…
    pub extra: String,
    pub default: Option<String>,
}

/// The catalog query [`MysqlColumnRow`] reads; binds the database and the table.
pub(crate) const MYSQL_COLUMNS_SQL: &str =
    "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE, \
     CHARACTER_MAXIMUM_LENGTH, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, COLUMN_DEFAULT \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
     ORDER BY ORDINAL_POSITION";

impl FromRow for MysqlColumnRow {
    /// Converts the columns in the order of [`MYSQL_COLUMNS_SQL`].
    fn from_row_opt(row: mysql_async::Row) -> Result<Self, mysql_async::FromRowError> {
        type Tuple = (
            String,
            String,
            String,
            String,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
        );
        let t: Tuple = FromRow::from_row_opt(row)?;
        Ok(MysqlColumnRow {
            name: t.0,
            data_type: t.1,
            column_type: t.2,
            is_nullable: t.3,
            precision: t.4,
            scale: t.5,
            max_len: t.6,
            charset: t.7,
            collation: t.8,
            extra: t.9,
            default: t.10,
        })
    }
}

impl MysqlColumnRow {
    /// Whether one of the table's CHECK clauses is MariaDB's `json_valid()` on this column.
    pub fn is_json(&self, checks: &[String]) -> bool {
        let want = format!("json_valid({})", ferry_shared::sql::quote_mysql(&self.name));
        checks.iter().any(|ch| ch.replace(' ', "") == want)
    }

    /// The column's type; `checks` as for [`Self::is_json`].
    pub fn logical(&self, checks: &[String]) -> LogicalType {
        mysql(MysqlColumnType {
            data_type: &self.data_type,
            column_type: &self.column_type,
            max_len: self.max_len,
            precision: self.precision,
            scale: self.scale,
            charset: self.charset.as_deref(),
            is_json: self.is_json(checks),
        })
    }
}

/// What MySQL/MariaDB's `information_schema.COLUMNS` says about a column's type.
#[derive(Debug, Clone, Copy)]
pub struct MysqlColumnType<'a> {
    /// DATA_TYPE (`varchar`).
    pub data_type: &'a str,
    /// COLUMN_TYPE (`varchar(20)`, `int(10) unsigned`, `enum('a','b')`).
    pub column_type: &'a str,
    /// CHARACTER_MAXIMUM_LENGTH.
    pub max_len: Option<u64>,
    /// NUMERIC_PRECISION (bits for BIT).
    pub precision: Option<u64>,
    /// NUMERIC_SCALE.
    pub scale: Option<u64>,
    /// CHARACTER_SET_NAME: `binary` makes a CHAR/VARCHAR/TEXT column bytes.
    pub charset: Option<&'a str>,
    /// MariaDB's JSON: LONGTEXT with a `json_valid()` check.
    pub is_json: bool,
}

fn clamp(v: Option<u64>) -> Option<u32> {
    v.map(|v| v.min(u64::from(u32::MAX)) as u32)
}

/// The type of a MySQL/MariaDB column. `tinyint(1)` is an 8-bit integer here: a loader must
/// accept every value the column holds; a reader may still present it as boolean
/// ([`crate::source`] documents when).
pub fn mysql(c: MysqlColumnType<'_>) -> LogicalType {
    let unsigned = c.column_type.contains("unsigned");
    let int = |bits| LogicalType::Int { bits, unsigned };
    let data_type = c.data_type.to_ascii_lowercase();
    match data_type.as_str() {
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "decimal" | "numeric" => LogicalType::Decimal {
            precision: clamp(c.precision),
            scale: clamp(c.scale),
        },
        "float" => LogicalType::Float32,
        "double" | "real" => LogicalType::Float64,
        "json" => LogicalType::Json,
        "longtext" if c.is_json => LogicalType::Json,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
            mysql_text(&data_type, c)
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            LogicalType::Bytes {
                max_bytes: clamp(c.max_len),
                fixed: data_type == "binary",
            }
        }
        "date" => LogicalType::Date,
        "datetime" => LogicalType::DateTime,
        "timestamp" => LogicalType::Timestamp,
        "time" => LogicalType::Time,
        "year" => LogicalType::Year,
        "enum" => LogicalType::Enum {
            values: crate::source::parse_labels(c.column_type),
        },
        "set" => LogicalType::Set {
            values: crate::source::parse_labels(c.column_type),
        },
        "bit" => LogicalType::Bit {
            bits: c.precision.unwrap_or(1) as u32,
        },
        "uuid" => LogicalType::Uuid,
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" => LogicalType::Geometry,
        other => LogicalType::Other {
            name: other.to_string(),
        },
    }
}

/// Character columns: text, or bytes when their character set is `binary`.
fn mysql_text(data_type: &str, c: MysqlColumnType<'_>) -> LogicalType {
    if c.charset == Some("binary") {
        return LogicalType::Bytes {
            max_bytes: clamp(c.max_len),
            fixed: data_type == "char",
        };
    }
    LogicalType::Text {
        max_chars: if data_type.ends_with("text") {
            None
        } else {
            clamp(c.max_len)
        },
    }
}

/// The type of a PostgreSQL column from pg_type's `typname` and `typtype`, the attribute's
/// `atttypmod`, and an enum's labels.
pub fn pg(typname: &str, typtype: &str, typmod: i32, labels: Option<Vec<String>>) -> LogicalType {
    if typtype == "e" {
        return LogicalType::Enum {
            values: labels.unwrap_or_default(),
        };
    }
    let len = (typmod > 4).then(|| (typmod - 4) as u32);
    let int = |bits| LogicalType::Int {
        bits,
        unsigned: false,
    };
    match typname {
        "bool" => LogicalType::Bool,
        "int2" => int(16),
        "int4" => int(32),
        "int8" => int(64),
        "numeric" => LogicalType::Decimal {
            precision: len.map(|l| (l >> 16) & 0xffff),
            scale: len.map(|l| l & 0xffff),
        },
        "float4" => LogicalType::Float32,
        "float8" => LogicalType::Float64,
        "varchar" | "bpchar" => LogicalType::Text { max_chars: len },
        "text" | "name" | "citext" => LogicalType::Text { max_chars: None },
        "bytea" => LogicalType::Bytes {
            max_bytes: None,
            fixed: false,
        },
        "json" => LogicalType::Json,
        "jsonb" => LogicalType::Jsonb,
        "date" => LogicalType::Date,
        "timestamp" => LogicalType::DateTime,
        "timestamptz" => LogicalType::Timestamp,
        "time" => LogicalType::TimeOfDay,
        "interval" => LogicalType::Interval,
        "uuid" => LogicalType::Uuid,
        "geometry" => LogicalType::Geometry,
        "bit" | "varbit" => LogicalType::Bit {
            bits: if typmod > 0 { typmod as u32 } else { 64 },
        },
        other => LogicalType::Other {
            name: other.to_string(),
        },
    }
}

/// The type of a PostgreSQL type as written in DDL or a configuration (`varchar(20)`,
/// `numeric(12,2)`, `timestamp with time zone`): its catalog name and modifier, then [`pg`].
pub fn pg_from_text(text: &str) -> LogicalType {
    let t = text.trim().to_ascii_lowercase();
    let (base, args) = match t.split_once('(') {
        Some((b, a)) => (b.trim(), Some(a.trim_end_matches(')'))),
        None => (t.as_str(), None),
    };
    let nums: Vec<i32> = args
        .map(|a| a.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    let typname = match base {
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "smallint" => "int2",
        "integer" | "int" => "int4",
        "bigint" => "int8",
        "decimal" => "numeric",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "boolean" => "bool",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "bit varying" => "varbit",
        other => other,
    };
    let typmod = match (typname, nums.as_slice()) {
        ("numeric", [p]) => (p << 16) + 4,
        ("numeric", [p, s, ..]) => ((p << 16) | s) + 4,
        ("bit" | "varbit", [n, ..]) => *n,
        ("timestamp" | "timestamptz" | "time", _) => -1,
        (_, [n, ..]) => n + 4,
        _ => -1,
    };
    pg(typname, "b", typmod, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_text_names_match_the_catalog() {
        assert_eq!(
            pg_from_text("character varying(20)"),
            LogicalType::Text {
                max_chars: Some(20)
            }
        );
        assert_eq!(
            pg_from_text("NUMERIC(12, 2)"),
            LogicalType::Decimal {
                precision: Some(12),
                scale: Some(2)
            }
        );
        assert_eq!(
            pg_from_text("numeric(7)"),
            LogicalType::Decimal {
                precision: Some(7),
                scale: Some(0)
            }
        );
        assert_eq!(
            pg_from_text("timestamp with time zone"),
            LogicalType::Timestamp
        );
        assert_eq!(pg_from_text("timestamp(6)"), LogicalType::DateTime);
        assert_eq!(pg_from_text("jsonb"), LogicalType::Jsonb);
        assert_eq!(
            pg_from_text("int"),
            LogicalType::Int {
                bits: 32,
                unsigned: false
            }
        );
        assert_eq!(pg_from_text("geometry"), LogicalType::Geometry);
        assert_eq!(
            pg_from_text("geography"),
            LogicalType::Other {
                name: "geography".into()
            }
        );
    }

    #[test]
    fn int_ranges() {
        assert_eq!(LogicalType::int_range(8, false), (-128, 127));
        assert_eq!(LogicalType::int_range(24, true), (0, 16_777_215));
        assert_eq!(LogicalType::int_range(64, true), (0, i128::from(u64::MAX)));
    }
}
