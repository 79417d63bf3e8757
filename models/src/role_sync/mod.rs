//! `role_sync`: a child row pushed to the CRM before its parent.
//!
//! ```text
//!  app: BEGIN; INSERT school, user, owner role; enqueue SchoolSyncJob + RoleSyncJob; COMMIT
//!        │ (different concurrency keys: any order, in parallel)
//!  worker-1/2 ── SchoolSyncJob ──▶ salesforce.editor (PENDING)
//!             └─ RoleSyncJob ───▶ salesforce.contact_editor_affiliation (PENDING)
//!  upstream ──(lag, or never)──▶ crm Contact ──pull──▶ salesforce.contact (SYNCED)
//!  connect: Heroku Connect's triggers log each app write; one writer sends the log in id
//!           order (every 2 min, within 10 s of a change); an affiliation whose editor or
//!           contact the CRM lacks is FAILED for good; a create whose reply was lost fails
//!           as a duplicate when it is sent again
//! ```
//!
//! The real system is a school-management app mirroring schools, users and roles into a CRM
//! through Heroku Connect, with ActiveJob on GoodJob. Variants: `unguarded` writes the
//! affiliation at once; `guarded` first checks that both parent mirror rows carry a CRM id
//! and otherwise raises `NotFound`, retried with `polynomially_longer` for 10 attempts, after
//! which the job is failed, visibly. Modelled: independent job order, Heroku Connect's capture
//! triggers, trigger log and serial writer (or a per-table cadence, as config), upstream
//! contact lag (for some users, never), worker crashes and isolations, mirror daemon pauses,
//! lost CRM replies. Not modelled: role updates and deletes, the CRM's own validation rules.

mod app;
mod jobs;
mod properties;
mod schema;

use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncsim_services::crm::CrmStore;
use syncsim_services::crm::CrmWorld;
use syncsim_services::crm::{MirrorCadence, MirrorConfig};
use syncsim_services::jobs::JobsLog;
use syncsim_services::jobs::JobsWorld;
use syncsim_services::jobs::{JobKind, JobsConfig, RetryPolicy, Wait};
use syncsim_services::pg::PgConfig;
use syncsim_services::pg::PgServer;
use syncsim_services::pg::PostgresWorld;
use syncsim_sim::ServiceKey;
use syncsim_sim::{Knob, Model, ModelConfig, Property, WorldBuilder};

pub use schema::{lost_users, mirror_tables, roles, RoleRow, SCHEMA};

/// The database node.
pub const DB: ServiceKey<PgServer> = ServiceKey::new("db");
/// The CRM node.
pub const CRM: ServiceKey<CrmStore> = ServiceKey::new("crm");
/// The mirror's sync daemon node.
pub const CONNECT: &str = "connect";
/// The job queue's ground truth.
pub const JOBS: ServiceKey<JobsLog> = ServiceKey::new("jobs");
/// The school sync job kind.
pub const SCHOOL_SYNC_JOB: &str = "SchoolSyncJob";
/// The role sync job kind.
pub const ROLE_SYNC_JOB: &str = "RoleSyncJob";

/// How the role job writes the affiliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Write the affiliation at once.
    Unguarded,
    /// Write only once both parents carry a CRM id; otherwise raise `NotFound` and retry.
    Guarded,
}

impl Variant {
    /// The variant's name in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Unguarded => "unguarded",
            Variant::Guarded => "guarded",
        }
    }
}

/// Tunables of the role_sync model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSyncConfig {
    /// How the role job writes.
    pub variant: Variant,
    /// Schools created, each with its owner role in the same transaction.
    pub school_count: u32,
    /// Teacher roles per school, each created later in its own transaction.
    pub teachers_per_school: u32,
    /// Student roles per school (the role job skips them).
    pub students_per_school: u32,
    /// Longest gap between two app actions, in milliseconds (drawn from 0).
    pub action_gap_max_ms: u64,
    /// Longest upstream lag before a user's contact reaches the CRM, in seconds.
    pub contact_lag_max_s: u64,
    /// Staff users whose contact never reaches the CRM.
    pub lost_contact_count: u32,
    /// How the mirror schedules its writes to the CRM: Heroku Connect's one serial writer
    /// (the production deployment), or one loop per table on the intervals below.
    pub mirror_cadence: MirrorCadence,
    /// Push cadence of `salesforce.editor` with a per-table mirror, in milliseconds.
    pub editor_poll_interval_ms: u64,
    /// Pull cadence of `salesforce.contact` (Connect's read polling), in milliseconds.
    pub contact_poll_interval_ms: u64,
    /// Push cadence of `salesforce.contact_editor_affiliation` with a per-table mirror, in
    /// milliseconds.
    pub affiliation_poll_interval_ms: u64,
    /// Job worker nodes.
    pub worker_count: u32,
    /// How long an idle job worker waits before polling again, in milliseconds.
    pub job_poll_interval_ms: u64,
    /// Longest time a job works (loads, renders) before its write, in milliseconds (drawn
    /// from 0): a worker crash in it is a crash mid-job.
    pub job_work_max_ms: u64,
    /// Deployment: attempts of each job's `retry_on` (ActiveJob's `attempts:`), with
    /// `polynomially_longer` waits. Default: 10, as the production jobs declare.
    #[serde(default = "deployed_retry_attempts")]
    pub retry_attempts: u32,
    /// Deployment: candidate jobs a worker reads per claim and tries to lock in order
    /// (GoodJob's `queue_select_limit`; its own default is 1000, docs/jobs.md). Default: 10,
    /// as this deployment runs it.
    #[serde(default = "deployed_claim_batch_size_max")]
    pub claim_batch_size_max: NonZeroU32,
    /// Deployment: the Postgres server's settings (`deadlock_timeout_micros`, TCP
    /// keepalives, ...). Default: PostgreSQL 15's on Linux; a scenario's
    /// `[model.config.postgres]` changes the ones it names.
    #[serde(default, skip_serializing_if = "PgConfig::is_default")]
    pub postgres: PgConfig,
}

/// The role_sync model in one variant.
#[derive(Clone, Debug)]
pub struct RoleSync {
    /// Its configuration.
    pub config: RoleSyncConfig,
}

impl Model for RoleSync {
    fn name(&self) -> &str {
        "role_sync"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let db = world.postgres(DB.name(), self.config.postgres.clone());
        db.setup(SCHEMA);
        let crm = world.crm(CRM.name());
        let mirror = MirrorConfig {
            schema: "salesforce".to_string(),
            cadence: self.config.mirror_cadence.clone(),
            tables: mirror_tables(&self.config),
        };
        world.crm_mirror(CONNECT, &db, &crm, mirror);
        let jobs = world.jobs(JOBS.name(), &db, self.jobs_config());
        for worker_index in 1..=self.config.worker_count {
            let node = world.node(&format!("worker-{worker_index}"));
            let (db, config) = (db.clone(), self.config.clone());
            jobs.worker(node, &["default"], move |ctx, job| {
                jobs::perform(ctx, db.clone(), config.clone(), job)
            });
        }
        app::install(world, &db, &jobs, &crm, &self.config);
    }

    fn properties(&self) -> Vec<Property> {
        properties::all()
    }
}

/// The deployment's `queue_select_limit`.
pub fn deployed_claim_batch_size_max() -> NonZeroU32 {
    NonZeroU32::new(10).expect("not zero")
}

/// The production jobs' `retry_on ... attempts: 10`.
pub fn deployed_retry_attempts() -> u32 {
    10
}

impl RoleSync {
    /// Both kinds retry a lost database connection; the guarded role job also retries
    /// `NotFound` (a parent not in the CRM yet), `polynomially_longer`, `retry_attempts`
    /// attempts (10 deployed).
    fn jobs_config(&self) -> JobsConfig {
        let attempts = self.config.retry_attempts;
        let retry = RetryPolicy::default().retry_on("DbError", Wait::PolynomiallyLonger, attempts);
        let role_retry = retry
            .clone()
            .retry_on("NotFound", Wait::PolynomiallyLonger, attempts);
        let kind = |name: &str, retry: RetryPolicy| JobKind {
            name: name.to_string(),
            retry,
            perform_limit: Some(1),
            enqueue_limit: None,
        };
        JobsConfig {
            poll_interval: Duration::from_millis(self.config.job_poll_interval_ms),
            claim_batch_size_max: self.config.claim_batch_size_max.get(),
            kinds: vec![
                kind(SCHOOL_SYNC_JOB, retry),
                kind(ROLE_SYNC_JOB, role_retry),
            ],
        }
    }
}

impl ModelConfig for RoleSyncConfig {
    const NAME: &'static str = "role_sync";
    const ENTITY_KNOB: &'static str = "school_count";

    fn variant(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(RoleSync {
            config: self.clone(),
        })
    }

    /// Every school's roles (its owner, teachers and students) are built at setup.
    fn check_limits(&self) -> Result<(), String> {
        let per_school =
            1 + u64::from(self.teachers_per_school) + u64::from(self.students_per_school);
        syncsim_sim::limits::setup_at_most(&[
            ("school_count", u64::from(self.school_count)),
            (
                "(1 + teachers_per_school + students_per_school)",
                per_school,
            ),
        ])
    }

    /// The workload knobs shrinking may lower, with their floors.
    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new("school_count", 1, u64::from(self.school_count)),
            Knob::new(
                "teachers_per_school",
                0,
                u64::from(self.teachers_per_school),
            ),
            Knob::new(
                "students_per_school",
                0,
                u64::from(self.students_per_school),
            ),
            Knob::new("action_gap_max_ms", 0, self.action_gap_max_ms),
            Knob::new("lost_contact_count", 0, u64::from(self.lost_contact_count)),
            Knob::new("worker_count", 1, u64::from(self.worker_count)),
        ]
    }
}
