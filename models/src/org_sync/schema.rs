//! The local table, its column positions for properties, and the deterministic id and slug
//! functions both variants use.
//!
//! Not modelled: the rest of the application schema (members, domains).

use syncsim_services::pg::Value;

/// `organization_metadata` as the application creates it. `deleted_at` marks a soft delete,
/// so the event-ordering guard still has `last_event_id` after a delete.
pub const SCHEMA: &str = "
CREATE TABLE organization_metadata (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    workos_id text UNIQUE,
    external_id text,
    workos_updated_at timestamptz,
    last_event_id text,
    deleted_at timestamptz
);
";

/// Column positions in `SCHEMA`, for properties reading table snapshots.
pub(crate) mod column {
    pub const ID: usize = 0;
    pub const NAME: usize = 1;
    pub const SLUG: usize = 2;
    pub const WORKOS_ID: usize = 3;
    pub const DELETED_AT: usize = 7;
}

/// The provider's namespace for UUID v5 ids (any fixed UUID would do; this one is ours).
const ORG_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f72_6773_796e_4000_8000_7379_6e63_7369);

/// The local id of a provider org: UUID v5 of its provider id, the same on every attempt.
pub fn org_id(workos_id: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&ORG_NAMESPACE, workos_id.as_bytes())
}

/// `org_id` as a SQL parameter.
pub(crate) fn org_id_value(workos_id: &str) -> Value {
    Value::Uuid(org_id(workos_id).as_u128())
}

/// The base slug of a name: lower case ASCII words joined by `-` (the `slug` crate).
pub fn slugify(name: &str) -> String {
    slug::slugify(name)
}

/// The `n`th candidate for `base`: `base`, then `base-2`, `base-3`, ...
pub(crate) fn suffixed(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_string()
    } else {
        format!("{base}-{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg_test::Engine;

    #[test]
    fn column_positions_match_the_schema() {
        let mut engine = Engine::with_schema(SCHEMA);
        let columns = engine
            .run("SELECT * FROM organization_metadata")
            .expect("valid SQL")
            .columns;
        let at = |index: usize| columns[index].as_str();
        assert_eq!(at(column::ID), "id");
        assert_eq!(at(column::NAME), "name");
        assert_eq!(at(column::SLUG), "slug");
        assert_eq!(at(column::WORKOS_ID), "workos_id");
        assert_eq!(at(column::DELETED_AT), "deleted_at");
    }

    #[test]
    fn ids_and_slugs_are_deterministic() {
        assert_eq!(org_id("org_1"), org_id("org_1"));
        assert_ne!(org_id("org_1"), org_id("org_2"));
        assert_eq!(slugify("ACME Corp."), "acme-corp");
        assert_eq!(slugify("Acme corp"), "acme-corp");
        assert_eq!(suffixed("acme-corp", 1), "acme-corp");
        assert_eq!(suffixed("acme-corp", 3), "acme-corp-3");
    }
}
