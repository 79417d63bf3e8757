//! The service's tables in both shapes (its own `contacts`, with defaults, and the CRM's,
//! whose timestamps have none), the legacy contacts that hold real data, column positions for
//! properties, and the deterministic ids of contacts and sessions.
//!
//! Not modelled: the rest of the service's schema (journeys and their node graphs, messages).

use serde_json::json;
use syncsim_services::pg::Value;

use super::{JourneySessionsConfig, Variant};

/// `contacts` as the service creates it: everything but the id has a default.
const CONTACTS: &str = "
CREATE TABLE contacts (
    id uuid PRIMARY KEY,
    name text NOT NULL DEFAULT '',
    blocked bool NOT NULL DEFAULT false,
    custom_attributes jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT current_timestamp,
    updated_at timestamptz NOT NULL DEFAULT current_timestamp);";

/// `contacts` in the CRM's shape: the timestamps are `NOT NULL` without a default.
const CONTACTS_CRM_SHAPE: &str = "
CREATE TABLE contacts (
    id uuid PRIMARY KEY,
    name text NOT NULL DEFAULT '',
    blocked bool NOT NULL DEFAULT false,
    custom_attributes jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL);";

const JOURNEY_SESSIONS: &str = "
CREATE TABLE journey_sessions (
    id uuid PRIMARY KEY,
    journey_id text NOT NULL,
    contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    status text NOT NULL,
    current_node int NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT current_timestamp);";

/// Column positions in `contacts`.
pub(crate) mod contact_column {
    pub const ID: usize = 0;
    pub const NAME: usize = 1;
    pub const BLOCKED: usize = 2;
    pub const CUSTOM_ATTRIBUTES: usize = 3;
}

/// Column positions in `journey_sessions`.
pub(crate) mod session_column {
    pub const CONTACT_ID: usize = 2;
    pub const STATUS: usize = 3;
    pub const CURRENT_NODE: usize = 4;
}

/// The schema of the variant, with the legacy contacts' rows.
pub fn schema(config: &JourneySessionsConfig) -> String {
    let contacts = match config.variant {
        Variant::LazyUpsertOnCrmSchema => CONTACTS_CRM_SHAPE,
        _ => CONTACTS,
    };
    let mut sql = format!("{contacts}\n{JOURNEY_SESSIONS}\n");
    for index in (0..config.journey_count).filter(|index| is_local(config, *index)) {
        let (name, blocked, attributes) = real_data(index);
        sql.push_str(&format!(
            "INSERT INTO contacts (id, name, blocked, custom_attributes, created_at, updated_at) \
             VALUES ('{}', '{name}', {blocked}, '{attributes}', now(), now());\n",
            contact_id(index)
        ));
    }
    sql
}

/// Journey `index`'s contact also has a legacy local row: odd indexes, the first
/// `local_contact_count` of them, so local and CRM-only contacts alternate.
pub fn is_local(config: &JourneySessionsConfig, index: u32) -> bool {
    index % 2 == 1 && index / 2 < config.local_contact_count
}

/// Journey `index`'s contact is deleted mid-journey: the last `deleted_contact_count`.
pub fn is_doomed(config: &JourneySessionsConfig, index: u32) -> bool {
    index + config.deleted_contact_count >= config.journey_count
}

/// The real data of legacy contact `index`: name, blocked, custom attributes.
pub(crate) fn real_data(index: u32) -> (String, bool, serde_json::Value) {
    let attributes = json!({ "plan": "pro", "source": "legacy import" });
    (format!("Contact {index}"), index % 4 == 3, attributes)
}

/// The ids' namespace (any fixed UUID would do; this one is ours).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a6f_7572_6e65_4000_8000_7379_6e63_7369);

/// The CRM contact of journey `index`, the same in every run.
pub fn contact_id(index: u32) -> uuid::Uuid {
    uuid::Uuid::new_v5(&NAMESPACE, format!("contact-{index}").as_bytes())
}

/// The session (and workflow key) of journey `index`.
pub fn session_id(index: u32) -> uuid::Uuid {
    uuid::Uuid::new_v5(&NAMESPACE, format!("session-{index}").as_bytes())
}

/// A uuid as a SQL parameter.
pub(crate) fn uuid_value(id: uuid::Uuid) -> Value {
    Value::Uuid(id.as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey_sessions::Variant;
    use crate::pg_test::Engine;

    fn config(variant: Variant) -> JourneySessionsConfig {
        JourneySessionsConfig {
            variant,
            journey_count: 4,
            nodes_per_journey: 2,
            local_contact_count: 2,
            deleted_contact_count: 1,
            contact_lag_max_ms: 0,
            start_gap_max_ms: 0,
            node_wait_max_ms: 0,
            delete_after_max_ms: 0,
            worker_count: 1,
            node_attempts_max: 3,
            attempts_bound: 2,
            mutation: None,
            worker: crate::journey_sessions::deployed_worker(),
            postgres: syncsim_services::pg::PgConfig::default(),
        }
    }

    /// Runs `statements` on a fresh server with the variant's schema; the last one's columns.
    fn run(variant: Variant, statements: &[&str]) -> Result<Vec<String>, String> {
        let mut engine = Engine::with_schema(&schema(&config(variant)));
        let mut last = Vec::new();
        for sql in statements {
            last = engine.run(sql).map_err(|error| error.to_string())?.columns;
        }
        Ok(last)
    }

    #[test]
    fn column_positions_match_the_schema() {
        let columns = run(Variant::LazyUpsert, &["SELECT * FROM contacts"]).expect("runs");
        assert_eq!(columns[contact_column::ID], "id");
        assert_eq!(columns[contact_column::NAME], "name");
        assert_eq!(columns[contact_column::BLOCKED], "blocked");
        assert_eq!(
            columns[contact_column::CUSTOM_ATTRIBUTES],
            "custom_attributes"
        );
        let columns = run(Variant::LazyUpsert, &["SELECT * FROM journey_sessions"]).expect("runs");
        assert_eq!(columns[session_column::CONTACT_ID], "contact_id");
        assert_eq!(columns[session_column::STATUS], "status");
        assert_eq!(columns[session_column::CURRENT_NODE], "current_node");
    }

    #[test]
    fn the_id_only_insert_fails_with_23502_only_on_the_crm_shape() {
        // Contact 1 is a legacy row: the NOT NULL check runs before the conflict check, as
        // in PostgreSQL, so even an existing contact fails on the CRM shape.
        let insert = format!(
            "INSERT INTO contacts (id) VALUES ('{}') ON CONFLICT (id) DO NOTHING",
            contact_id(1)
        );
        assert!(run(Variant::LazyUpsert, &[&insert]).is_ok());
        let error = run(Variant::LazyUpsertOnCrmSchema, &[&insert]).expect_err("fails");
        assert!(error.starts_with("23502"), "{error}");
    }

    #[test]
    fn local_and_doomed_contacts_follow_the_counts() {
        let config = config(Variant::Original);
        let local: Vec<u32> = (0..4).filter(|index| is_local(&config, *index)).collect();
        let doomed: Vec<u32> = (0..4).filter(|index| is_doomed(&config, *index)).collect();
        assert_eq!((local, doomed), (vec![1, 3], vec![3]));
        assert_ne!(contact_id(1), session_id(1));
    }
}
