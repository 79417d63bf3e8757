//! `journey_sessions`: a foreign key to a table the service never fills.
//!
//! ```text
//!  upstream ──(lag)──▶ crm (Contact objects) ◀── GET /contacts/<id> ── crm-api (HTTP face)
//!  automation (one process per journey): once its contact is in the CRM,
//!     POST app /journeys ──▶ persist(session) ──▶ signal_with_start(session id) ──▶ temporal
//!     later, for some contacts: delete in the CRM, then POST app /contacts/deleted
//!                                 └─▶ DELETE FROM contacts (cascades to journey_sessions)
//!  worker-1/2: node 1..N, each one activity: BEGIN; persist(session); GET the contact from
//!              crm-api (404: ROLLBACK, the journey stops); COMMIT
//!  db: contacts (a few legacy rows with real data), journey_sessions (contact_id REFERENCES
//!      contacts ON DELETE CASCADE)
//! ```
//!
//! The real system is an automation service running journeys for contacts that live in a CRM
//! reached over HTTP. Its database has a `contacts` table the service never fills (only some
//! legacy rows hold real data) and `journey_sessions` with a foreign key into it. A workflow
//! engine runs the journey's nodes one by one as activities, and every node saves the session
//! through one persistence function. Variants: `original` (every persist raises `23503` for
//! a contact missing locally, so such a journey aborts at start); `start_best_effort` (the
//! start swallows the violation, the node writes still raise); `lazy_upsert` (the persist
//! first runs `INSERT INTO contacts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`);
//! `lazy_upsert_on_crm_schema` (the same code against a `contacts` table whose timestamps are
//! `NOT NULL` without a default: the id-only insert fails with `23502`).
//!
//! Modelled: upstream lag before a contact reaches the CRM, contacts deleted mid-journey (in
//! the CRM, then locally by the CRM's deletion webhook), worker and app crashes with leases
//! lost and journeys run again, bounded activity retries. Not modelled: the journeys' own
//! actions (messages sent), branching nodes, contact updates, the CRM's webhook delivery
//! faults (the deletion call is retried until it lands).

mod app;
mod journey;
mod properties;
mod schema;
mod workload;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncsim_services::crm::CrmStore;
use syncsim_services::crm::CrmWorld;
use syncsim_services::pg::PgConfig;
use syncsim_services::pg::PgServer;
use syncsim_services::pg::PostgresWorld;
use syncsim_services::workflow::WorkflowStore;
use syncsim_services::workflow::WorkflowWorld;
use syncsim_services::workflow::{RetryPolicy, WorkerConfig};
use syncsim_sim::ServiceKey;
use syncsim_sim::{Knob, Model, ModelConfig, Property, WorldBuilder};

pub use journey::{
    MARK_DELETED_MID_JOURNEY, MARK_MET_REAL_CONTACT, MARK_NODE1_CRM_ONLY, MARK_STOPPED,
};
pub use schema::{contact_id, is_doomed, is_local, schema, session_id};

/// The database node.
pub const DB: ServiceKey<PgServer> = ServiceKey::new("db");
/// The CRM's object store node.
pub const CRM: ServiceKey<CrmStore> = ServiceKey::new("crm");
/// The CRM's HTTP API node.
pub const CRM_API: &str = "crm-api";
/// The service's HTTP node (journey starts, the CRM's deletion webhook).
pub const APP: &str = "app";
/// The workflow service node.
pub const TEMPORAL: ServiceKey<WorkflowStore> = ServiceKey::new("temporal");
/// The CRM object type of contacts.
pub const CONTACT: &str = "Contact";

/// How the service persists a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Every persist raises on the foreign-key violation.
    Original,
    /// The start path swallows the violation; the node writes still raise.
    StartBestEffort,
    /// Every persist first inserts the contact's id, `ON CONFLICT (id) DO NOTHING`.
    LazyUpsert,
    /// `LazyUpsert` against the CRM's `contacts` shape: timestamps `NOT NULL`, no default.
    LazyUpsertOnCrmSchema,
}

impl Variant {
    /// The variant's name in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::StartBestEffort => "start_best_effort",
            Variant::LazyUpsert => "lazy_upsert",
            Variant::LazyUpsertOnCrmSchema => "lazy_upsert_on_crm_schema",
        }
    }

    /// Whether the persist inserts the contact's id first.
    pub fn lazy(self) -> bool {
        matches!(self, Variant::LazyUpsert | Variant::LazyUpsertOnCrmSchema)
    }
}

/// Deliberate bugs a test switches on to show a property can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mutation {
    /// The lazy insert "touches" an existing contact: `ON CONFLICT (id) DO UPDATE SET` its
    /// name and attributes from the id-only row, i.e. to the defaults.
    LazyUpsertOverwrites,
}

/// Tunables of the journey_sessions model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneySessionsConfig {
    /// How sessions are persisted.
    pub variant: Variant,
    /// Journeys, one per contact.
    pub journey_count: u32,
    /// Nodes per journey.
    pub nodes_per_journey: u32,
    /// Contacts that also have a local row with real data (odd-numbered ones).
    pub local_contact_count: u32,
    /// Contacts deleted mid-journey (the last ones).
    pub deleted_contact_count: u32,
    /// Longest upstream lag before a contact reaches the CRM, in milliseconds.
    pub contact_lag_max_ms: u64,
    /// Longest gap between a contact's arrival and its journey's start, in milliseconds.
    pub start_gap_max_ms: u64,
    /// Longest wait of a node before its write, in milliseconds (drawn from 0).
    pub node_wait_max_ms: u64,
    /// Longest time from a journey's start to its contact's deletion, in milliseconds.
    pub delete_after_max_ms: u64,
    /// Workflow worker nodes.
    pub worker_count: u32,
    /// Attempts of one node's activity before the journey fails.
    pub node_attempts_max: u32,
    /// Attempts of one node beyond which a deleted contact's journey is a retry loop.
    pub attempts_bound: u32,
    /// A deliberate bug, for tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<Mutation>,
    /// Deployment: how the Temporal-like workers lease and poll. Default: 10 s leases and a
    /// 1 s poll; a scenario's `[model.config.worker]` changes them.
    #[serde(default = "deployed_worker", deserialize_with = "worker_over_deployed")]
    pub worker: WorkerConfig,
    /// Deployment: the Postgres server's settings (`deadlock_timeout_micros`, TCP
    /// keepalives, ...). Default: PostgreSQL 15's on Linux; a scenario's
    /// `[model.config.postgres]` changes the ones it names.
    #[serde(default, skip_serializing_if = "PgConfig::is_default")]
    pub postgres: PgConfig,
}

/// The journey_sessions model in one variant.
#[derive(Clone, Debug)]
pub struct JourneySessions {
    /// Its configuration.
    pub config: JourneySessionsConfig,
}

impl Model for JourneySessions {
    fn name(&self) -> &str {
        "journey_sessions"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let db = world.postgres(DB.name(), self.config.postgres.clone());
        db.setup(&schema(&self.config));
        let crm = world.crm(CRM.name());
        workload::install_crm_api(world, &crm);
        let workflows = world.workflows(TEMPORAL.name());
        app::install(world, &db, &workflows, &self.config);
        for worker_index in 1..=self.config.worker_count {
            let node = world.node(&format!("worker-{worker_index}"));
            let (db, config) = (db.clone(), self.config.clone());
            workflows.worker(
                node,
                self.config.worker.clone(),
                move |wf, _key, payload| journey::run(wf, db.clone(), config.clone(), payload),
            );
        }
        workload::install(world, &crm, &self.config);
    }

    fn properties(&self) -> Vec<Property> {
        properties::all(&self.config)
    }
}

/// The production deployment's workers: leases outlast a node's wait and write; a crashed
/// worker's journey runs again elsewhere. An idle worker polls once a second (a long poll,
/// as Temporal's workers do).
pub fn deployed_worker() -> WorkerConfig {
    WorkerConfig {
        lease: Duration::from_secs(10),
        poll_interval: Duration::from_secs(1),
    }
}

/// Reads a scenario's `worker` table over `deployed_worker()`: a field left out keeps the
/// deployed value.
fn worker_over_deployed<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<WorkerConfig, D::Error> {
    crate::deployed::over(deserializer, deployed_worker(), "worker")
}

impl ModelConfig for JourneySessionsConfig {
    const NAME: &'static str = "journey_sessions";
    const ENTITY_KNOB: &'static str = "journey_count";

    fn variant(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(JourneySessions {
            config: self.clone(),
        })
    }

    /// Every journey's nodes are built at setup.
    fn check_limits(&self) -> Result<(), String> {
        syncsim_sim::limits::setup_at_most(&[
            ("journey_count", u64::from(self.journey_count)),
            ("nodes_per_journey", u64::from(self.nodes_per_journey)),
        ])
    }

    /// The workload knobs shrinking may lower, with their floors. Deletions and legacy
    /// contacts come first, so fewer journeys are tried once they are gone.
    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new(
                "deleted_contact_count",
                0,
                u64::from(self.deleted_contact_count),
            ),
            Knob::new(
                "local_contact_count",
                0,
                u64::from(self.local_contact_count),
            ),
            Knob::new("journey_count", 1, u64::from(self.journey_count)),
            Knob::new("nodes_per_journey", 1, u64::from(self.nodes_per_journey)),
            Knob::new("contact_lag_max_ms", 0, self.contact_lag_max_ms),
            Knob::new("worker_count", 1, u64::from(self.worker_count)),
        ]
    }
}

impl JourneySessionsConfig {
    /// Each node's activity: 1 s doubling, `node_attempts_max` attempts, then the journey
    /// fails (visible in the workflow store).
    pub fn node_policy(&self) -> RetryPolicy {
        RetryPolicy {
            backoff_max: Duration::from_secs(10),
            ..RetryPolicy::attempts(self.node_attempts_max)
        }
    }
}
