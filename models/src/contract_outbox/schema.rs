//! The tables the signing page and the API share, the workload's rows, and the column
//! positions the properties read.
//!
//! `signing_token` is the token the parent's link carries (the real page keeps it on the
//! player too). `bigserial`, `jsonb`, `timestamptz` with `now()` and the worker's `FOR UPDATE
//! SKIP LOCKED` are all in the simulated Postgres's subset, so the SQL is the app's. Not
//! modelled: teams and tenants as tables (`team_id` and `tenant_id` are plain numbers), the
//! signature's URL on the player.

use super::ContractOutboxConfig;

/// Tables as the app's migrations create them.
pub const SCHEMA: &str = "
CREATE TABLE parents (
    id bigint PRIMARY KEY,
    email text NOT NULL);
CREATE TABLE players (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    parent_id bigint REFERENCES parents (id),
    team_id bigint NOT NULL,
    signing_token text NOT NULL UNIQUE,
    contract_status text NOT NULL DEFAULT 'pending',
    signed_at timestamptz);
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz);
";

/// Column positions in `parents`.
pub(crate) mod parent_column {
    pub const ID: usize = 0;
    pub const EMAIL: usize = 1;
}

/// Column positions in `players`.
pub(crate) mod player_column {
    pub const ID: usize = 0;
    pub const PARENT_ID: usize = 2;
    pub const CONTRACT_STATUS: usize = 5;
}

/// Column positions in `outbox`.
pub(crate) mod outbox_column {
    pub const ID: usize = 0;
    pub const EVENT_TYPE: usize = 2;
    pub const PAYLOAD: usize = 3;
    pub const STATUS: usize = 4;
    pub const ATTEMPTS: usize = 5;
}

/// The event type the endpoint writes.
pub const CONTRACT_SIGNED: &str = "contract_signed";

/// The signing token of player `id`.
pub fn token(id: i64) -> String {
    format!("tok-{id}")
}

/// The email of parent `id`.
pub fn parent_email(id: i64) -> String {
    format!("parent{id}@example.org")
}

/// The workload's rows: one parent per player, except the orphans; every contract pending.
pub fn seed_rows(config: &ContractOutboxConfig) -> String {
    let mut sql = String::new();
    for id in 1..=i64::from(config.player_count) {
        let parent = if config.is_orphan(id) {
            "NULL".to_string()
        } else {
            let email = parent_email(id);
            sql.push_str(&format!(
                "INSERT INTO parents (id, email) VALUES ({id}, '{email}');\n"
            ));
            id.to_string()
        };
        let (team, token) = (1 + id % 3, token(id));
        sql.push_str(&format!(
            "INSERT INTO players (id, name, parent_id, team_id, signing_token) \
             VALUES ({id}, 'Player {id}', {parent}, {team}, '{token}');\n"
        ));
    }
    sql
}
