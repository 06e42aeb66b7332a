//! The schema export JSON (`database_schemas_export_*.json`): the document requires it; the
//! database names and types it holds are logged, and a file that is not such an export
//! stops the run before anything is read.

use ferry_shared::FerryError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct Export {
    schemas: BTreeMap<String, Schema>,
}

#[derive(Deserialize)]
struct Schema {
    database_name: String,
    database_type: String,
    tables: BTreeMap<String, serde_json::Value>,
}

/// (source database name, target database name).
pub fn names(path: &Path) -> Result<(String, String), FerryError> {
    let text = fs_err::read_to_string(path)
        .map_err(|e| FerryError::Usage(format!("--schema-file: {e}")))?;
    let export: Export = serde_json::from_str(&text).map_err(|e| {
        FerryError::Usage(format!(
            "--schema-file {}: not a schema export ({e})",
            path.display()
        ))
    })?;
    let side = |name: &str, kind: &str| {
        let s = export.schemas.get(name).ok_or_else(|| {
            FerryError::Usage(format!(
                "--schema-file {}: no \"{name}\" schema",
                path.display()
            ))
        })?;
        if !s.database_type.starts_with(kind) {
            return Err(FerryError::Usage(format!(
                "--schema-file {}: the {name} is a {} database, not {kind}",
                path.display(),
                s.database_type
            )));
        }
        tracing::debug!(
            "schema file: {name} {} has {} tables",
            s.database_name,
            s.tables.len()
        );
        Ok(s.database_name.clone())
    };
    Ok((side("source", "mysql")?, side("target", "postgres")?))
}
