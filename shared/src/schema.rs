//! The schema sidecar: what an extract knows about the columns it wrote.
//!
//! Written beside a data file as `NAME.schema.json`, or inline as the first line of a stream
//! (see [`crate::record`]), so a loader can create the target table without a second step.

use crate::conn::Engine;
use serde::{Deserialize, Serialize};

/// Ferry's engine-neutral column type: what the values in the NDJSON mean.
///
/// Loaders map it to their own types when they create a table (docs/type-mapping.md); when
/// the table exists they cast to the catalog's real type instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogicalType {
    /// true/false.
    Bool,
    /// A JSON integer of `bits` width.
    Int {
        /// 8, 16, 24, 32 or 64.
        bits: u8,
        /// Unsigned in the source.
        unsigned: bool,
    },
    /// An exact decimal, written as a JSON string.
    Decimal {
        /// Total digits (None: unconstrained).
        precision: Option<u32>,
        /// Digits after the point.
        scale: Option<u32>,
    },
    /// IEEE single precision number.
    Float32,
    /// IEEE double precision number.
    Float64,
    /// Text, optionally bounded in characters.
    Text {
        /// Maximum characters.
        max_chars: Option<u32>,
    },
    /// Bytes, written as base64.
    Bytes {
        /// Maximum bytes.
        max_bytes: Option<u32>,
        /// Fixed length (BINARY(n)).
        fixed: bool,
    },
    /// Nested JSON.
    Json,
    /// Nested JSON that PostgreSQL stores parsed (`jsonb`: its binary COPY form has a
    /// version byte, and duplicate keys keep the last value).
    Jsonb,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]` without a zone.
    DateTime,
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`: an instant.
    Timestamp,
    /// `[-]HHH:MM:SS[.ffffff]`: a duration or time of day (MySQL TIME reaches 838 h).
    Time,
    /// `HH:MM:SS[.ffffff]`: a time of day only (PostgreSQL `time`, 00:00 to 24:00).
    TimeOfDay,
    /// A PostgreSQL `interval` (months, days and microseconds), written as its text.
    Interval,
    /// A year, as an integer.
    Year,
    /// One of the labels.
    Enum {
        /// Allowed labels.
        values: Vec<String>,
    },
    /// Comma-separated subset of the labels (MySQL SET).
    Set {
        /// Allowed labels.
        values: Vec<String>,
    },
    /// A bit string of `bits` bits, written as an unsigned integer.
    Bit {
        /// Width.
        bits: u32,
    },
    /// A UUID string.
    Uuid,
    /// A spatial value (MariaDB's geometry types, PostGIS `geometry`), written as hex EWKB
    /// ([`crate::geometry`]): exact, with its SRID.
    Geometry,
    /// Anything else, written as its text form.
    Other {
        /// The source's type name.
        name: String,
    },
}

impl LogicalType {
    /// The smallest and largest value of an integer of `bits` bits.
    pub fn int_range(bits: u8, unsigned: bool) -> (i128, i128) {
        let bits = u32::from(bits.clamp(1, 64));
        if unsigned {
            (0, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        }
    }

    /// Whether the values are JSON documents.
    pub fn is_json(&self) -> bool {
        matches!(self, LogicalType::Json | LogicalType::Jsonb)
    }
}

/// One column of the sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// The source's own type text (`bigint(20) unsigned`, `numeric(12,2)`, `INTEGER`).
    pub source_type: String,
    /// The engine-neutral meaning of the values.
    #[serde(rename = "type")]
    pub logical: LogicalType,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// The sidecar: everything a loader or a reviewer needs to know about an extracted table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Sidecar format version.
    pub version: u32,
    /// Table name (without database).
    pub table: String,
    /// Source database (or schema) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Source engine.
    pub engine: Engine,
    /// Columns in record order.
    pub columns: Vec<ColumnSchema>,
    /// Primary key columns (empty when the table has none).
    pub primary_key: Vec<String>,
    /// Rows written (known when the extract has finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    /// Order-independent checksum of the written lines (see [`crate::checksum`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The key range, when the rows are one shard of the table (`extract --shard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardRange>,
}

impl TableSchema {
    /// Current sidecar version.
    pub const VERSION: u32 = 1;

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The sidecar path for a data file: `orders.ndjson` → `orders.schema.json`.
pub fn sidecar_path(data: &std::path::Path) -> std::path::PathBuf {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".ndjson")
        .or_else(|| name.strip_suffix(".jsonl"))
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(&name);
    data.with_file_name(format!("{stem}.schema.json"))
}

/// Reads a sidecar file.
pub fn read_sidecar(path: &std::path::Path) -> crate::Result<TableSchema> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| {
        crate::FerryError::Usage(format!(
            "{}: not a Ferry schema sidecar: {e}",
            path.display()
        ))
    })
}
