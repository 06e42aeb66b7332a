//! Deterministic identifiers for migrated rows: the same legacy id always gives the same
//! new id, on every run and in every file or table that refers to it.

/// UUID v5 of `owner/id` in namespace `ns` (`owner` names the legacy table, e.g.
/// `mingus/users` or `s9/buyers`).
pub fn legacy_uuid(ns: &uuid::Uuid, owner: &str, id: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(ns, format!("{owner}/{id}").as_bytes())
}

/// A namespace of Ferry's own: v5 of `ferry.NAME` in the URL namespace.
pub fn namespace(name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("ferry.{name}").as_bytes(),
    )
}
