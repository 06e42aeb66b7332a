//! A table's keys: read from DynamoDB (DescribeTable), given on the command line
//! (`--key saleId:S`, `--gsi status-index=status:S,statusSaleDate:S`), or read from a
//! backup's sidecar; and table creation from them (`load-dynamo --create`).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use ferry_shared::FerryError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One key attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    /// Attribute name.
    pub name: String,
    /// `S`, `N` or `B`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A partition key and an optional sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    /// Partition (hash) key.
    pub partition: KeyAttr,
    /// Sort (range) key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sort: Option<KeyAttr>,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    /// Index name.
    pub name: String,
    /// Its keys.
    pub key: KeySpec,
}

/// What a table looks like: what `backup-dynamo` writes beside the items
/// (`FILE.dynamo.json`) and what `--create` creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Table name (of the backed-up table).
    pub table: String,
    /// Primary key.
    pub key: KeySpec,
    /// Global secondary indexes.
    #[serde(default)]
    pub indexes: Vec<IndexSpec>,
}

impl KeySpec {
    /// Parses `NAME:TYPE[,NAME:TYPE]` (type S, N or B; S when left out).
    pub fn parse(s: &str) -> Result<KeySpec, FerryError> {
        let attr = |p: &str| -> Result<KeyAttr, FerryError> {
            let (name, kind) = p.split_once(':').unwrap_or((p, "S"));
            let kind = kind.trim().to_ascii_uppercase();
            if name.trim().is_empty() || !matches!(kind.as_str(), "S" | "N" | "B") {
                return Err(FerryError::Usage(format!(
                    "key {s:?}: expected NAME:TYPE[,NAME:TYPE] with TYPE S, N or B"
                )));
            }
            Ok(KeyAttr {
                name: name.trim().to_string(),
                kind,
            })
        };
        let mut parts = s.split(',');
        let partition = attr(parts.next().unwrap_or(""))?;
        let sort = parts.next().map(attr).transpose()?;
        if parts.next().is_some() {
            return Err(FerryError::Usage(format!(
                "key {s:?}: at most a partition key and a sort key"
            )));
        }
        Ok(KeySpec { partition, sort })
    }

    /// The key attributes.
    pub fn attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        std::iter::once(&self.partition).chain(self.sort.as_ref())
    }

    fn schema(&self) -> Result<Vec<KeySchemaElement>, FerryError> {
        let el = |a: &KeyAttr, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(&a.name)
                .key_type(t)
                .build()
                .map_err(|e| FerryError::Usage(e.to_string()))
        };
        let mut v = vec![el(&self.partition, KeyType::Hash)?];
        if let Some(s) = &self.sort {
            v.push(el(s, KeyType::Range)?);
        }
        Ok(v)
    }
}

impl IndexSpec {
    /// Parses `NAME=NAME:TYPE[,NAME:TYPE]`.
    pub fn parse(s: &str) -> Result<IndexSpec, FerryError> {
        let (name, key) = s.split_once('=').ok_or_else(|| {
            FerryError::Usage(format!("--gsi {s:?}: expected INDEX=NAME:TYPE[,NAME:TYPE]"))
        })?;
        Ok(IndexSpec {
            name: name.trim().to_string(),
            key: KeySpec::parse(key)?,
        })
    }
}

/// The sidecar of a backup file: `FILE.dynamo.json`.
pub fn sidecar(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".dynamo.json");
    PathBuf::from(p)
}

fn usage(e: impl std::fmt::Display) -> FerryError {
    FerryError::Usage(e.to_string())
}

/// The table's spec, or `None` when it does not exist.
pub async fn describe(client: &Client, table: &str) -> Result<Option<TableSpec>, FerryError> {
    let out = match client.describe_table().table_name(table).send().await {
        Ok(o) => o,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(FerryError::Connect(format!(
                "DescribeTable {table}: {}",
                crate::client::message(&e)
            )))
        }
    };
    let Some(t) = out.table() else {
        return Ok(None);
    };
    let types: std::collections::HashMap<&str, String> = t
        .attribute_definitions()
        .iter()
        .map(|d| (d.attribute_name(), d.attribute_type().as_str().to_string()))
        .collect();
    let key_of = |els: &[KeySchemaElement]| -> Option<KeySpec> {
        let attr = |kt: KeyType| {
            els.iter().find(|e| *e.key_type() == kt).map(|e| KeyAttr {
                name: e.attribute_name().to_string(),
                kind: types
                    .get(e.attribute_name())
                    .cloned()
                    .unwrap_or_else(|| "S".into()),
            })
        };
        Some(KeySpec {
            partition: attr(KeyType::Hash)?,
            sort: attr(KeyType::Range),
        })
    };
    let key = key_of(t.key_schema())
        .ok_or_else(|| FerryError::Connect(format!("{table}: table has no partition key")))?;
    let indexes = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| {
            Some(IndexSpec {
                name: g.index_name()?.to_string(),
                key: key_of(g.key_schema())?,
            })
        })
        .collect();
    Ok(Some(TableSpec {
        table: table.to_string(),
        key,
        indexes,
    }))
}

/// Creates the table (on-demand capacity, indexes projecting all attributes) and waits
/// until it is ACTIVE.
pub async fn create(client: &Client, table: &str, spec: &TableSpec) -> Result<(), FerryError> {
    let mut defs: Vec<&KeyAttr> = Vec::new();
    for a in spec
        .key
        .attrs()
        .chain(spec.indexes.iter().flat_map(|i| i.key.attrs()))
    {
        if !defs.iter().any(|d| d.name == a.name) {
            defs.push(a);
        }
    }
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(spec.key.schema()?));
    for d in defs {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&d.name)
                .attribute_type(ScalarAttributeType::from(d.kind.as_str()))
                .build()
                .map_err(usage)?,
        );
    }
    for i in &spec.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&i.name)
                .set_key_schema(Some(i.key.schema()?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(usage)?,
        );
    }
    req.send().await.map_err(|e| {
        FerryError::Connect(format!(
            "CreateTable {table}: {}",
            crate::client::message(&e)
        ))
    })?;
    for _ in 0..600 {
        let out = client.describe_table().table_name(table).send().await;
        if let Ok(o) = out {
            if o.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                tracing::info!("{table}: created (keys {})", spec.key);
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(FerryError::Connect(format!(
        "{table}: created but not ACTIVE after 5 minutes"
    )))
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.partition.name, self.partition.kind)?;
        if let Some(s) = &self.sort {
            write!(f, ",{}:{}", s.name, s.kind)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs() {
        let k = KeySpec::parse("saleId:S,lineNo:n").unwrap();
        assert_eq!(k.to_string(), "saleId:S,lineNo:N");
        assert_eq!(KeySpec::parse("buyerId").unwrap().to_string(), "buyerId:S");
        assert!(KeySpec::parse("a:X").is_err());
        assert!(KeySpec::parse("a,b,c").is_err());
        let g = IndexSpec::parse("status-index=status:S,statusSaleDate:S").unwrap();
        assert_eq!(g.name, "status-index");
        assert_eq!(g.key.to_string(), "status:S,statusSaleDate:S");
    }
}
