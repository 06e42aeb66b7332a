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
use std::collections::HashMap;
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

/// What writing one user did.
enum Written {
    /// A new row.
    Inserted,
    /// The row an earlier run wrote, unchanged (its password hash is never touched again).
    Same,
}

/// Writes the mapped legacy users; each one not written goes to `reject` with its reason.
/// Existing users are never changed: a legacy user whose id or e-mail is taken by another
/// row (an admin, an SSO user, a user changed in the app since) is skipped with the reason,
/// and two legacy users that map to one id or e-mail (`Bob` and `bob`) are never merged.
pub async fn migrate(
    c: &Client,
    schema: &str,
    m: &Mapping,
    legacy: &[LegacyUser],
    mut reject: impl FnMut(Action, &str, serde_json::Value) -> Result<()>,
) -> Result<TableCounts> {
    let mut counts = TableCounts::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    for u in legacy {
        counts.processed += 1;
        let shown = json!({"USERNAME": u.username, "USERPASSWORD": u.password.as_ref().map(|_| "[redacted]"), "LEVEL": u.level});
        let outcome = match map(u, m) {
            Err(why) => Err((Action::Skipped, why)),
            Ok(row) => match [&row.id, &row.email].iter().find_map(|k| seen.get(&k.to_lowercase())) {
                Some(first) => Err((Action::Skipped, format!("USERNAME '{}' gives the same user id or e-mail as '{first}' ({}, {}): not merged", row.first_name, row.id, row.email))),
                None => {
                    seen.insert(row.id.to_lowercase(), row.first_name.clone());
                    seen.insert(row.email.to_lowercase(), row.first_name.clone());
                    write(c, schema, m, &row, u.password.as_deref()).await?.map_err(|why| (Action::Skipped, why))
                }
            },
        };
        match outcome {
            Ok(Written::Inserted | Written::Same) => counts.migrated += 1,
            Err((action, why)) => {
                if action == Action::Skipped {
                    counts.skipped += 1;
                } else {
                    counts.errors += 1;
                }
                reject(action, &why, shown)?;
            }
        }
    }
    Ok(counts)
}

/// Inserts a new user; an existing row with this id or e-mail is left as it is: the same
/// user as an earlier run wrote counts as written, anyone else is the reason to skip.
async fn write(
    c: &Client,
    schema: &str,
    m: &Mapping,
    row: &UserRow,
    password: Option<&str>,
) -> Result<std::result::Result<Written, String>> {
    let users = qualified(schema, "users");
    let found = c
        .query(
            &format!("SELECT id, email, first_name, last_name, role FROM {users} WHERE id = $1 OR lower(email) = lower($2) ORDER BY id"),
            &[&row.id, &row.email],
        )
        .await
        .map_err(|e| db("read a user", e))?;
    if let Some(r) = found.first() {
        let existing = UserRow {
            id: r.get(0),
            email: r.get(1),
            first_name: r.get::<_, Option<String>>(2).unwrap_or_default(),
            last_name: r.get::<_, Option<String>>(3).unwrap_or_default(),
            role: r.get(4),
        };
        return Ok(if found.len() == 1 && existing == *row {
            Ok(Written::Same)
        } else {
            Err(format!(
                "the target already has user {} <{}> (role {}), which this legacy user ({} <{}>) would change: it is kept as it is",
                existing.id, existing.email, existing.role, row.id, row.email
            ))
        });
    }
    let hash = password
        .map(|p| {
            bcrypt::hash(p, m.bcrypt_cost).map_err(|e| FerryError::Failed(format!("bcrypt: {e}")))
        })
        .transpose()?;
    let sql = format!(
        "INSERT INTO {users} (id, email, password_hash, first_name, last_name, role, is_active, must_change_password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, true, true, NULL, NULL)"
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
    Ok(Ok(Written::Inserted))
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
