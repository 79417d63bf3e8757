//! `org_sync`: identity-provider webhook events kept in a local table with a unique slug.
//!
//! ```text
//!  idp (admin process) ──call──▶ idp-api (the provider's org store, external_id)
//!   │ emit organization.created / updated / deleted (ULID ids)
//!   ▼ webhook: at least once, delayed, duplicated, out of order, reconcile replays
//!  app POST /webhooks ──signal_with_start(org id)──▶ temporal (one workflow per org)
//!                                                      │ worker-1, worker-2
//!                                                      ▼ activity "apply event" (retried forever)
//!                        db: organization_metadata (id uuid PK, slug UNIQUE, workos_id UNIQUE)
//! ```
//!
//! The real system is an application mirroring a WorkOS-like provider's organizations. Each
//! org's events run serially in a Temporal-like workflow whose activity is retried forever
//! (Temporal's default). Variants: `blind_upsert` upserts on the primary key and sets the
//! slug from the new name, so a rename onto a sibling's slug fails with `23505` forever; it
//! also pushes `external_id` before writing and applies stale events. `fetch_then_write`
//! looks the row up first, creates under an advisory lock with slug suffixing, never changes
//! a slug, skips events not newer than the row's last one, and pushes `external_id` only
//! after its commit.
//!
//! Modelled: delivery faults of the webhook (WorkOS's retry window of about 3 days, so a
//! receiver down for minutes loses nothing), ids that can invert within a millisecond, per-org
//! serial execution with lease loss and re-runs, crashes and request faults on every call (a
//! failed provider write included), concurrent creates of one base slug, and optionally two
//! changes of one org emitted in the same millisecond. The provider's workload ends once its
//! webhook source owes nothing, so a run's chaos lasts through the retries. Not modelled:
//! memberships, domains, the provider's own rate limits, webhook signatures, the org's
//! `updated_at`, the Events API (the app takes pushes only), hard deletes (a delete is a soft
//! `deleted_at`).

mod app;
mod apply;
mod properties;
mod provider;
mod schema;

use serde::{Deserialize, Serialize};
use syncsim_services::pg::PgConfig;
use syncsim_services::pg::PgServer;
use syncsim_services::pg::PostgresWorld;
use syncsim_services::webhook::WebhookSource;
use syncsim_services::webhook::WebhookWorld;
use syncsim_services::webhook::{IdOrder, WebhookConfig};
use syncsim_services::workflow::WorkflowStore;
use syncsim_services::workflow::WorkflowWorld;
use syncsim_services::workflow::{RetryPolicy, WorkerConfig};
use syncsim_sim::ServiceKey;
use syncsim_sim::{Knob, Model, ModelConfig, Property, Ratio, WorldBuilder};

pub use provider::{Directory, Org};
pub use schema::{org_id, slugify, SCHEMA};

/// The database node.
pub const DB: ServiceKey<PgServer> = ServiceKey::new("db");
/// The provider's webhook source node (its admin process runs there too).
pub const IDP: ServiceKey<WebhookSource> = ServiceKey::new("idp");
/// The provider's API node, holding its orgs and their `external_id`.
pub const IDP_API: ServiceKey<Directory> = ServiceKey::new("idp-api");
/// The application node receiving webhooks.
pub const APP: &str = "app";
/// The workflow service node.
pub const TEMPORAL: ServiceKey<WorkflowStore> = ServiceKey::new("temporal");

/// How the app applies an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// `INSERT ... ON CONFLICT (id) DO UPDATE SET slug = <new slug>`, no ordering guard,
    /// `external_id` pushed before the write.
    BlindUpsert,
    /// Look up, then write: advisory-locked creates with suffixing, stable slugs, an
    /// event-ordering guard, `external_id` pushed after commit.
    FetchThenWrite,
}

impl Variant {
    /// The variant's name in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::BlindUpsert => "blind_upsert",
            Variant::FetchThenWrite => "fetch_then_write",
        }
    }
}

/// Tunables of the org_sync model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSyncConfig {
    /// How events are applied.
    pub variant: Variant,
    /// Organizations the provider creates (the first two share a base slug).
    pub org_count: u32,
    /// Renames after the creates; about half reuse a sibling's current name.
    pub rename_count: u32,
    /// Deletes at the end of the workload.
    pub delete_count: u32,
    /// Longest gap between two provider actions, in milliseconds (drawn from 0).
    pub action_gap_max_ms: u64,
    /// Workflow worker nodes.
    pub worker_count: u32,
    /// Activity attempts an event may take before "retried forever" is declared.
    pub attempts_bound: u32,
    /// Chance of one extra webhook copy after an acknowledgement.
    pub duplicate_probability: Ratio,
    /// How often the provider replays recent events, in milliseconds; none: never.
    pub reconcile_interval_ms: Option<u64>,
    /// How far back a replay reaches, in milliseconds. The heal phase must outlast the last
    /// replay, or a run can end with a replayed event still being applied.
    pub reconcile_window_ms: u64,
    /// How the provider's event ids of one millisecond compare (WorkOS promises no order).
    pub id_order: IdOrder,
    /// Chance that a rename comes with a second rename of the same org that the provider
    /// commits with it, so both events leave in one millisecond (0: never).
    pub same_millisecond_probability: Ratio,
    /// Deployment: how the Temporal-like workers lease and poll. Default: leases long
    /// enough for one apply (2 s; a worker paused longer loses its org to another) and a
    /// 50 ms poll; a scenario's `[model.config.worker]` changes them.
    #[serde(default = "deployed_worker", deserialize_with = "worker_over_deployed")]
    pub worker: WorkerConfig,
    /// Deployment: the apply activity's retry policy. Default: Temporal's (unlimited
    /// attempts, 1 s initial interval, coefficient 2, 100 s maximum: docs/workflow.md); a
    /// scenario's `[model.config.activity_retry]` changes the fields it names.
    #[serde(
        default = "RetryPolicy::forever",
        deserialize_with = "retry_over_deployed",
        skip_serializing_if = "is_forever"
    )]
    pub activity_retry: RetryPolicy,
    /// Deployment: the Postgres server's settings (`deadlock_timeout_micros`, TCP
    /// keepalives, ...). Default: PostgreSQL 15's on Linux; a scenario's
    /// `[model.config.postgres]` changes the ones it names.
    #[serde(default, skip_serializing_if = "PgConfig::is_default")]
    pub postgres: PgConfig,
}

/// The org_sync model in one variant.
#[derive(Clone, Debug)]
pub struct OrgSync {
    /// Its configuration.
    pub config: OrgSyncConfig,
}

impl Model for OrgSync {
    fn name(&self) -> &str {
        "org_sync"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let db = world.postgres(DB.name(), self.config.postgres.clone());
        db.setup(SCHEMA);
        let directory = world.service(IDP_API.name(), Directory::default());
        let (idp, idp_node) = world.webhook_source(IDP.name(), self.webhook_config());
        let config = self.config.clone();
        let admin_directory = directory.clone();
        idp_node.process("admin", move |ctx| {
            provider::admin(ctx, idp.clone(), admin_directory.clone(), config.clone())
        });
        let workflows = world.workflows(TEMPORAL.name());
        app::install(world, &workflows);
        for worker_index in 1..=self.config.worker_count {
            let node = world.node(&format!("worker-{worker_index}"));
            let (db, directory, variant) = (db.clone(), directory.clone(), self.config.variant);
            let policy = self.config.activity_retry.clone();
            workflows.worker(
                node,
                self.config.worker.clone(),
                move |wf, _key, payload| {
                    let policy = policy.clone();
                    app::handle(wf, db.clone(), directory.clone(), variant, policy, payload)
                },
            );
        }
    }

    fn properties(&self) -> Vec<Property> {
        properties::all(&self.config)
    }
}

/// The production deployment's workers: leases long enough for one apply; a worker paused
/// longer loses its org to another.
pub fn deployed_worker() -> WorkerConfig {
    WorkerConfig {
        lease: std::time::Duration::from_secs(2),
        poll_interval: std::time::Duration::from_millis(50),
    }
}

/// Reads a scenario's `worker` table over `deployed_worker()`: a field left out keeps the
/// deployed value.
fn worker_over_deployed<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<WorkerConfig, D::Error> {
    crate::deployed::over(deserializer, deployed_worker(), "worker")
}

fn is_forever(policy: &RetryPolicy) -> bool {
    *policy == RetryPolicy::forever()
}

/// Reads a scenario's `activity_retry` table over Temporal's default policy.
fn retry_over_deployed<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<RetryPolicy, D::Error> {
    use serde::de::Error as _;
    let policy: RetryPolicy =
        crate::deployed::over(deserializer, RetryPolicy::forever(), "activity_retry")?;
    if policy.attempts_max == Some(0) || policy.backoff_coefficient == 0 {
        return Err(D::Error::custom(
            "`attempts_max` and `backoff_coefficient` must be at least 1",
        ));
    }
    Ok(policy)
}

impl OrgSync {
    fn webhook_config(&self) -> WebhookConfig {
        let mut config = WebhookConfig::new(APP, app::WEBHOOK_PATH);
        config.duplicate_probability = self.config.duplicate_probability;
        config.reconcile_interval = self
            .config
            .reconcile_interval_ms
            .map(std::time::Duration::from_millis);
        config.reconcile_window = std::time::Duration::from_millis(self.config.reconcile_window_ms);
        config.id_order = self.config.id_order;
        config
    }
}

impl ModelConfig for OrgSyncConfig {
    const NAME: &'static str = "org_sync";
    const ENTITY_KNOB: &'static str = "org_count";

    fn variant(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(OrgSync {
            config: self.clone(),
        })
    }

    /// The workload knobs shrinking may lower, with their floors.
    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new("org_count", 2, u64::from(self.org_count)),
            Knob::new("rename_count", 0, u64::from(self.rename_count)),
            Knob::new("delete_count", 0, u64::from(self.delete_count)),
            Knob::new("action_gap_max_ms", 0, self.action_gap_max_ms),
            Knob::new("worker_count", 1, u64::from(self.worker_count)),
        ]
    }
}
