//! A job queue with workers (ActiveJob on GoodJob): jobs are rows of `good_jobs` in the
//! simulated Postgres, inserted by the caller inside its own transaction, so a job exists
//! exactly when that transaction commits; worker nodes claim rows with a lease, run the
//! model's handler, and retry, discard or fail the job by its kind's `RetryPolicy`.
//!
//! ```text
//!  app ── BEGIN; INSERT orders ...; jobs.enqueue_in(db, spec); COMMIT ──▶ good_jobs (pg)
//!  cron daemon ── every `every`, aligned: INSERT ... ON CONFLICT (cron_key, cron_at) ─┘ │
//!  worker daemon ◀── claim: SELECT ... FOR UPDATE SKIP LOCKED; per concurrency key      │
//!     │               pg_try_advisory_xact_lock + count running < perform_limit;         │
//!     │               UPDATE locked_by, locked_until = now + lock_timeout ◀──────────────┘
//!     │ runs handler(ctx, job) ── JobsLog (ground truth: every attempt and its end)
//!     └─ UPDATE: succeeded | retry at now + wait | discarded | failed, guarded by its claim
//! ```
//!
//! At least once: a worker that crashes mid-job leaves its lease to run out, then another
//! worker claims the row and runs the job again. A job that runs longer than `lock_timeout`
//! is claimable again while it still runs (no heartbeat). Not modelled: GoodJob's
//! `good_job_executions` and batches, priorities, `perform_later` outside a database
//! transaction to another store, enqueue-side concurrency limits, LISTEN/NOTIFY wake-ups
//! (workers poll), job timeouts, cron catch-up of ticks missed while no scheduler ran.

pub mod checks;
mod cron;
mod log;
mod policy;
mod worker;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cron::CronEntry;
pub use log::{Attempt, End, JobRow, JobsLog};
pub use policy::{wait_bounds, Decision, RetryPolicy, Rule, Wait};

use crate::ctx::Ctx;
use crate::rt;
use crate::services::pg::{DbError, PgConnection, PgHandle, Value};
use crate::world::{NodeBuilder, WorldBuilder};

/// The table the queue keeps its jobs in. Times are virtual microseconds since the run began.
pub const SCHEMA: &str = "
    CREATE TABLE good_jobs (
        id bigserial PRIMARY KEY,
        queue_name text NOT NULL,
        job_class text NOT NULL,
        serialized_params jsonb NOT NULL,
        concurrency_key text,
        scheduled_at_micros bigint NOT NULL,
        executions int NOT NULL DEFAULT 0,
        claims int NOT NULL DEFAULT 0,
        locked_by text,
        locked_until_micros bigint,
        outcome text,
        error text,
        cron_key text,
        cron_at_micros bigint,
        finished_at_micros bigint,
        UNIQUE (cron_key, cron_at_micros))";

/// One job kind (ActiveJob class): how it retries and how many may run per concurrency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobKind {
    /// The kind's name, e.g. `SyncAffiliationJob`.
    pub name: String,
    /// Its `retry_on` / `discard_on` declarations.
    pub retry: RetryPolicy,
    /// GoodJob's `perform_limit`: jobs of the same concurrency key running at once, at most.
    pub perform_limit: u32,
}

/// Knobs of the queue and its workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How long an idle worker waits before it looks for work again.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How long a claim lasts: a job whose worker crashed runs again after this.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// Candidate rows a worker locks per claim, to skip jobs whose key is at its limit.
    pub claim_batch_size_max: u32,
    /// The declared job kinds; a job of another kind fails with `UnknownJobKind`.
    pub kinds: Vec<JobKind>,
}

/// What a model enqueues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job kind.
    pub kind: String,
    /// The named queue (`default` in ActiveJob).
    pub queue: String,
    /// The arguments, as ActiveJob serializes them.
    pub args: serde_json::Value,
    /// Jobs with the same key run at most `perform_limit` at a time.
    pub concurrency_key: Option<String>,
    /// Run no earlier than this long after the enqueue (`set(wait:)`).
    #[serde(with = "humantime_serde")]
    pub wait: Duration,
}

/// The job a handler runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// `good_jobs.id`.
    pub id: i64,
    /// The job kind.
    pub kind: String,
    /// The queue it came from.
    pub queue: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// ActiveJob's `executions` for this attempt (1 for the first).
    pub execution: u32,
}

/// A handler's failure: the error's kind (its class) decides the retry rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// The error kind, matched by `retry_on` / `discard_on`.
    pub kind: String,
    /// Its message.
    pub message: String,
}

impl JobError {
    /// An error of `kind` with `message`.
    pub fn new(kind: &str, message: impl Into<String>) -> JobError {
        JobError {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>>>>;
pub(crate) type Handler = Arc<dyn Fn(Ctx, Job) -> HandlerFuture + Send + Sync>;

/// A handle to the queue: enqueue through it, put workers and cron entries on nodes.
#[derive(Clone)]
pub struct Jobs {
    pg: PgHandle,
    config: Arc<JobsConfig>,
    log: Arc<Mutex<JobsLog>>,
    mutation: Mutation,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Jobs(on {})", self.pg.name())
    }
}

impl Jobs {
    /// Inserts the job on `db`, inside whatever transaction `db` has open: the job exists for
    /// workers once that transaction commits, and never if it rolls back. Returns its id.
    pub async fn enqueue_in(&self, db: &mut PgConnection, spec: &JobSpec) -> Result<i64, DbError> {
        let sql = "INSERT INTO good_jobs (queue_name, job_class, serialized_params, \
                   concurrency_key, scheduled_at_micros) VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let scheduled_at = micros(rt::now().0 + spec.wait);
        let params = [
            Value::from(spec.queue.as_str()),
            Value::from(spec.kind.as_str()),
            Value::Jsonb(spec.args.clone()),
            Value::from(spec.concurrency_key.clone()),
            Value::Int8(scheduled_at),
        ];
        Ok(db.query_one(sql, &params).await?.get::<i64>("id"))
    }

    /// Makes `node` a worker for `queues` (every queue when empty): a daemon claims jobs and
    /// runs `handler` for each.
    pub fn worker<'a, F, Fut>(
        &self,
        node: NodeBuilder<'a>,
        queues: &[&str],
        handler: F,
    ) -> NodeBuilder<'a>
    where
        F: Fn(Ctx, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + 'static,
    {
        let handler: Handler = Arc::new(move |ctx, job| Box::pin(handler(ctx, job)));
        let queues: Vec<String> = queues.iter().map(|queue| queue.to_string()).collect();
        let jobs = self.clone();
        node.daemon("jobs worker", move |ctx| {
            worker::serve(ctx, jobs.clone(), queues.clone(), handler.clone())
        })
    }

    /// Makes `node` a cron scheduler for `entry`. Several schedulers of one entry enqueue
    /// each tick once.
    pub fn cron<'a>(&self, node: NodeBuilder<'a>, entry: CronEntry) -> NodeBuilder<'a> {
        let jobs = self.clone();
        let process = format!("cron {}", entry.key);
        node.daemon(&process, move |ctx| {
            cron::schedule(ctx, jobs.clone(), entry.clone())
        })
    }

    fn kind(&self, name: &str) -> Option<&JobKind> {
        self.config.kinds.iter().find(|kind| kind.name == name)
    }

    #[cfg(test)]
    pub(crate) fn set_mutation(&mut self, mutation: Mutation) {
        self.mutation = mutation;
    }
}

/// Deliberate bugs, switchable only in this module's tests, so each check can be shown to
/// fail. Outside tests the handle always holds `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code, reason = "only tests switch a bug on"))]
pub(crate) enum Mutation {
    /// The correct queue.
    #[default]
    None,
    /// Claims ignore concurrency keys.
    ConcurrencyUnchecked,
    /// Claims count running jobs of a key without the advisory lock (a claim race).
    ConcurrencyUnlocked,
    /// Retry waits use `executions + 1` in the formula.
    WaitOffByOne,
    /// One attempt more than `attempts` runs.
    OneMoreAttempt,
    /// A lease never runs out: a crashed worker's job is stuck.
    LeaseNeverExpires,
    /// Cron ticks are not aligned: each scheduler enqueues its own tick.
    CronUnaligned,
    /// A finished job's row loses its error.
    ErrorNotWritten,
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl WorldBuilder {
    /// Creates the queue's table on `pg` and registers its ground truth as the service `name`
    /// (`history.service::<JobsLog>(name)`).
    pub fn jobs(&mut self, name: &str, pg: &PgHandle, config: JobsConfig) -> Jobs {
        pg.setup(SCHEMA);
        let log = Arc::new(Mutex::new(JobsLog::default()));
        self.ground_truth(name, log.clone());
        Jobs {
            pg: pg.clone(),
            config: Arc::new(config),
            log,
            mutation: Mutation::None,
        }
    }
}
