//! `contract_outbox`: a state change and its event written apart.
//!
//! ```text
//!  parents ──POST /contracts/{token}/sign──▶ web (the signing endpoint)
//!     web: load the player by token; PUT the signature image to the object store (outside
//!          any transaction); UPDATE players SET contract_status = 'signed';
//!          INSERT outbox contract_signed {player_id, team_id, parent_id};
//!          then kick POST /internal/process-outbox on api (admin auth; usually 401)
//!  api: cron every N ms, or an authorised kick: BEGIN; claim pending outbox rows
//!       FOR UPDATE SKIP LOCKED; per row load the parent, send the confirmation email through
//!       the mail service, mark it sent (or count an attempt, failed after the last); COMMIT
//! ```
//!
//! The real system is a sports club's contract-signing page and its API, both on one
//! Postgres, with a transactional outbox drained by a cron worker. Variants: `no_outbox`
//! never writes the event; `no_txn` writes the update and the event as two autocommit
//! statements and puts a null `parent_id` in the payload; `fixed` writes both in one
//! transaction and writes the event only when the player has a parent (a warning otherwise).
//! Modelled: crashes of the endpoint (between its statements too) and of the API mid-batch
//! (its claim rolls back), mail service crashes (an attempt counted), concurrent batches
//! (SKIP LOCKED), the parents' retries of a failed signing, players without a parent. The
//! endpoint awaits its kick before answering but ignores the result (the real one does not
//! await it; only the parent's wait differs, which no property reads). The mail service and
//! the object store are request/response services (`ctx.call`) rather than HTTP nodes: they
//! fail the same way, by being down. Not modelled: authentication beyond the kick's admin
//! check, the signature image's content, email bounces, deduplication of an email resent
//! after a crash between the send and the commit (at least once is the outbox's promise),
//! several tenants (every row has tenant 1).

mod endpoint;
mod mail;
mod properties;
mod schema;
mod store;
mod worker;

use serde::{Deserialize, Serialize};
use syncsim_services::pg::PgConfig;
use syncsim_services::pg::PgServer;
use syncsim_services::pg::PostgresWorld;
use syncsim_sim::ServiceKey;
use syncsim_sim::{Knob, Model, ModelConfig, Property, Ratio, WorldBuilder};

pub use mail::{Email, Mail};
pub use schema::SCHEMA;
pub use store::ObjectStore;

/// The database node.
pub const DB: ServiceKey<PgServer> = ServiceKey::new("db");
/// The signing endpoint's node.
pub const WEB: &str = "web";
/// The API's node: the process-outbox endpoint and the cron worker.
pub const API: &str = "api";
/// The mail service's node.
pub const MAIL: ServiceKey<Mail> = ServiceKey::new("mail");
/// The object store's node.
pub const STORE: &str = "store";
/// The parents' node: one signing process per player.
pub const PARENTS: &str = "parents";

/// How the endpoint writes the signature and its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The endpoint never inserts the outbox row.
    NoOutbox,
    /// Two autocommit statements; a null `parent_id` goes into the payload.
    NoTxn,
    /// One transaction; the event only when the player has a parent.
    Fixed,
}

impl Variant {
    /// The variant's name in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::NoOutbox => "no_outbox",
            Variant::NoTxn => "no_txn",
            Variant::Fixed => "fixed",
        }
    }
}

/// Tunables of the contract_outbox model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractOutboxConfig {
    /// How the endpoint writes.
    pub variant: Variant,
    /// Players, each with a contract to sign.
    pub player_count: u32,
    /// Players without a parent (the first ones, at most `player_count`).
    pub orphan_count: u32,
    /// When a parent signs: drawn up to this, in milliseconds.
    pub sign_at_max_ms: u64,
    /// Times a parent submits the form before giving up.
    pub sign_tries_max: u32,
    /// How long a parent waits before submitting again, in milliseconds.
    pub sign_retry_ms: u64,
    /// Share of kicks that carry admin auth (the others get 401).
    pub kick_authorized_ratio: Ratio,
    /// The cron worker's period, in milliseconds (not 0: the cron ticks at its multiples).
    pub cron_interval_ms: std::num::NonZeroU64,
    /// Outbox rows one batch claims, at most.
    pub batch_size_max: u32,
    /// Attempts before an event is marked failed.
    pub attempts_max: u32,
    /// Deployment: the Postgres server's settings (`deadlock_timeout_micros`, TCP
    /// keepalives, ...). Default: PostgreSQL 15's on Linux; a scenario's
    /// `[model.config.postgres]` changes the ones it names.
    #[serde(default, skip_serializing_if = "PgConfig::is_default")]
    pub postgres: PgConfig,
}

/// The contract_outbox model in one variant.
#[derive(Clone, Debug)]
pub struct ContractOutbox {
    /// Its configuration.
    pub config: ContractOutboxConfig,
}

impl Model for ContractOutbox {
    fn name(&self) -> &str {
        "contract_outbox"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let db = world.postgres(DB.name(), self.config.postgres.clone());
        db.setup(SCHEMA);
        db.setup(&schema::seed_rows(&self.config));
        let store = world.service(STORE, ObjectStore::default());
        let mail = world.service(MAIL.name(), Mail::default());
        endpoint::install(world, &db, &store, &self.config);
        worker::install(world, &db, &mail, &self.config);
    }

    fn properties(&self) -> Vec<Property> {
        properties::all(self.config.variant)
    }
}

impl ModelConfig for ContractOutboxConfig {
    const NAME: &'static str = "contract_outbox";
    const ENTITY_KNOB: &'static str = "player_count";

    fn variant(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(ContractOutbox {
            config: self.clone(),
        })
    }

    /// The workload knobs shrinking may lower, with their floors.
    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new("player_count", 1, u64::from(self.player_count)),
            Knob::new("orphan_count", 0, u64::from(self.orphan_count)),
            Knob::new("sign_at_max_ms", 0, self.sign_at_max_ms),
        ]
    }
}

impl ContractOutboxConfig {
    /// Whether player `id` has no parent.
    pub fn is_orphan(&self, id: i64) -> bool {
        id <= i64::from(self.orphan_count)
    }
}
