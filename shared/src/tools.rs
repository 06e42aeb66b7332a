//! Every Ferry tool by name, with its one-line purpose: the one list that `ferry` prints,
//! runs from, and `make install` installs. `tests/tools_list.rs` compares it with the
//! workspace's `[[bin]]` targets, so a new tool cannot be left out.

/// `(binary name, what it does)`, in the order of the README's tool table.
pub const TOOLS: &[(&str, &str)] = &[
    (
        "ferry",
        "this list; runs a tool by name; JSON reports -> one HTML page (ferry report)",
    ),
    (
        "extract",
        "tables or a query from MySQL/MariaDB, PostgreSQL, SQLite -> NDJSON + schema",
    ),
    (
        "load-postgres",
        "NDJSON -> PostgreSQL table (binary COPY): create, modes, rejects, resume",
    ),
    (
        "load-mysql",
        "NDJSON -> MySQL/MariaDB table (LOAD DATA LOCAL INFILE), same flags",
    ),
    (
        "verify",
        "source vs target across engines: counts, checksums per range, differing keys",
    ),
    (
        "apply-migrations",
        "a folder of SQL migration files -> PostgreSQL, each once, in name order",
    ),
    (
        "sqlite-consolidate",
        "several SQLite files -> one PostgreSQL database (mapping file or generic)",
    ),
    (
        "schema-copy",
        "MariaDB structure to another server or name: tables, keys, routines, views",
    ),
    (
        "customer-filter",
        "one customer set's MariaDB rows with their foreign-key closure, resumable",
    ),
    (
        "delete-migrated",
        "removes exactly what customer-filter inserted, from its journal",
    ),
    (
        "extract-buyers",
        "S9 (PostgreSQL) buyers -> NDJSON in a stable order",
    ),
    (
        "extract-producers",
        "S9 (PostgreSQL) producers -> NDJSON in a stable order",
    ),
    (
        "extract-sales",
        "S9 (PostgreSQL) sales -> NDJSON in a stable order",
    ),
    (
        "transform-buyers",
        "S9 buyer records -> DynamoDB items (typed JSON)",
    ),
    (
        "transform-producers",
        "S9 producer records -> DynamoDB items (typed JSON)",
    ),
    (
        "transform-sales",
        "S9 sale records -> DynamoDB items (typed JSON)",
    ),
    (
        "validate-s9",
        "checks S9 items (formats, rules, references, duplicates) -> valid + rejects",
    ),
    (
        "load-dynamo",
        "typed-JSON items -> DynamoDB (BatchWriteItem): retries, rejects, resume",
    ),
    (
        "backup-dynamo",
        "a DynamoDB table -> NDJSON + key-schema sidecar (parallel scan)",
    ),
    (
        "restore-dynamo",
        "a backup -> exactly that item set in the DynamoDB table",
    ),
    (
        "compare-counts",
        "S9 rows vs DynamoDB items per entity, net of rejects, every key looked up",
    ),
    (
        "check-integrity",
        "the S9 tables read back: references, required fields, types, rules",
    ),
    (
        "migrate-s9",
        "the whole S9 -> DynamoDB migration from config.json: phases, dry run, resume",
    ),
    (
        "migrate-lustores",
        "the LUStores migration: physicsstores (MySQL) -> university_inventory (PG)",
    ),
    (
        "transform-lustores",
        "LUStores field maps: physicsstores records -> university_inventory rows",
    ),
    (
        "migrate-abparts",
        "the ABParts restructuring in place in PostgreSQL: 11 steps, rollback",
    ),
    (
        "ferry-gen",
        "deterministic fixtures: bench, awkward types, MINGUS, S9, LUStores, ABParts",
    ),
];

/// The purpose of tool `name`, when it is one.
pub fn purpose(name: &str) -> Option<&'static str> {
    TOOLS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}
