//! Step 2: the Legacy System user every migrated row is created by, and, with
//! `--migrate-users`, the legacy users (the document's user map). Legacy passwords are read
//! from the source into memory, hashed with bcrypt and dropped: they are never written to a
//! file, a log or a report (a rejected user's row is written with the password replaced).

use super::target::{db, qualified};
use crate::mapping::Mapping;
use crate::output::{Action, TableCounts};
use crate::transform::LEGACY_USER;
use ferry_shared::{FerryError, Result};
use mysql_async::prelude::Queryable;
use serde_json::json;
use tokio_postgres::Client;

/// A legacy user as read from the source.
pub struct LegacyUser {
    pub username: Option<String>,
    pub password: Option<String>,
    pub level: Option<String>,
}

/// A target user row (without the password hash).
#[derive(Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
}

/// The document's user map, or why a legacy user has no target row.
pub fn map(u: &LegacyUser, m: &Mapping) -> std::result::Result<UserRow, String> {
    let name = u
        .username
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or("USERNAME is empty")?;
    let role = m.role(u.level.as_deref())?;
    let email = if name.contains('@') {
        name.to_lowercase()
    } else {
        let local: String = name.split_whitespace().collect::<Vec<_>>().join(".");
        format!("{}@{}", local.to_lowercase(), m.email_domain)
    };
    Ok(UserRow {
        id: format!(
            "user-{}",
            name.to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("-")
        ),
        email,
        first_name: name.to_string(),
        last_name: "User".into(),
        role: role.to_string(),
    })
}

/// The legacy users (the only place their passwords are read).
pub async fn read_legacy(ep: &ferry_shared::conn::Endpoint) -> Result<Vec<LegacyUser>> {
    let mut c = ferry_shared::conn::connect_mysql(ep).await?;
    let rows: Vec<(Option<String>, Option<String>, Option<String>)> = c
        .query("SELECT USERNAME, USERPASSWORD, `LEVEL` FROM users ORDER BY USERNAME, `LEVEL`")
        .await
        .map_err(|e| {
            FerryError::from(ferry_shared::error::DbError::wrap(
                "read the legacy users",
                e,
            ))
        })?;
    Ok(rows
        .into_iter()
        .map(|(username, password, level)| LegacyUser {
            username,
            password,
            level,
        })
        .collect())
}

/// The Legacy System user (inactive: nobody logs in as it). Its password hash is made once
/// and kept by later runs.
pub async fn legacy_system(c: &Client, schema: &str) -> Result<()> {
    let hash = bcrypt::hash(uuid::Uuid::new_v4().to_string(), 10)
        .map_err(|e| FerryError::Failed(format!("bcrypt: {e}")))?;
    let sql = format!(
        "INSERT INTO {} (id, email, password_hash, first_name, last_name, role, is_active, must_change_password, show_picking_list, created_at, updated_at) \
         VALUES ($1, 'legacy@system.local', $2, 'Legacy', 'System', 'admin', false, false, true, NULL, NULL) \
         ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, \
         role = EXCLUDED.role, is_active = false, must_change_password = false",
        qualified(schema, "users")
    );
    c.execute(&sql, &[&LEGACY_USER, &hash])
        .await
        .map_err(|e| db("create the Legacy System user", e))?;
    Ok(())
}

/// Writes the mapped legacy users; each one not written goes to `reject` with its reason.
pub async fn migrate(
    c: &Client,
    schema: &str,
    m: &Mapping,
    legacy: &[LegacyUser],
    mut reject: impl FnMut(Action, &str, serde_json::Value) -> Result<()>,
) -> Result<TableCounts> {
    let mut counts = TableCounts::default();
    for u in legacy {
        counts.processed += 1;
        let shown = json!({"USERNAME": u.username, "USERPASSWORD": u.password.as_ref().map(|_| "[redacted]"), "LEVEL": u.level});
        let row = match map(u, m) {
            Ok(r) => r,
            Err(why) => {
                counts.skipped += 1;
                reject(Action::Skipped, &why, shown)?;
                continue;
            }
        };
        match upsert(c, schema, m, &row, u.password.as_deref()).await {
            Ok(()) => counts.migrated += 1,
            Err(e) => {
                counts.errors += 1;
                reject(Action::Error, &format!("user {}: {e}", row.id), shown)?;
            }
        }
    }
    Ok(counts)
}

/// Inserts or updates one user. The stored hash is kept when it still verifies the legacy
/// password, so a rerun leaves the row as it was (bcrypt salts differ per hash).
async fn upsert(
    c: &Client,
    schema: &str,
    m: &Mapping,
    row: &UserRow,
    password: Option<&str>,
) -> Result<()> {
    let users = qualified(schema, "users");
    let old: Option<Option<String>> = c
        .query_opt(
            &format!("SELECT password_hash FROM {users} WHERE id = $1"),
            &[&row.id],
        )
        .await
        .map_err(|e| db("read a user", e))?
        .map(|r| r.get(0));
    let hash = match (password, old.flatten()) {
        (None, _) => None,
        (Some(p), Some(h)) if bcrypt::verify(p, &h).unwrap_or(false) => Some(h),
        (Some(p), _) => Some(
            bcrypt::hash(p, m.bcrypt_cost)
                .map_err(|e| FerryError::Failed(format!("bcrypt: {e}")))?,
        ),
    };
    let sql = format!(
        "INSERT INTO {users} (id, email, password_hash, first_name, last_name, role, is_active, must_change_password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, true, true, NULL, NULL) ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, \
         password_hash = EXCLUDED.password_hash, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, role = EXCLUDED.role"
    );
    c.execute(
        &sql,
        &[
            &row.id,
            &row.email,
            &hash,
            &row.first_name,
            &row.last_name,
            &row.role,
        ],
    )
    .await
    .map_err(|e| db("write a user", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_user_map() {
        let m = Mapping::load(None).unwrap();
        let u = |n: &str, l: &str| LegacyUser {
            username: Some(n.into()),
            password: None,
            level: Some(l.into()),
        };
        let r = map(&u("Jane Doe", "A"), &m).unwrap();
        assert_eq!(
            (r.id.as_str(), r.email.as_str(), r.role.as_str()),
            ("user-jane-doe", "jane.doe@physics.lancs.ac.uk", "admin")
        );
        assert_eq!(
            map(&u("x@lancaster.ac.uk", "U"), &m).unwrap().email,
            "x@lancaster.ac.uk"
        );
        assert_eq!(map(&u("guest", "G"), &m).unwrap().role, "user");
        assert!(map(&u("odd", "Q"), &m).unwrap_err().contains("'Q'"));
    }
}
