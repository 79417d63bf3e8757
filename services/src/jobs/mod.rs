//! A job queue with workers (ActiveJob on GoodJob): jobs are rows of `good_jobs` in the
//! simulated Postgres, inserted by the caller inside its own transaction, so a job exists
//! exactly when that transaction commits; worker nodes claim a row with a session-level
//! advisory lock on their own Postgres connection (GoodJob's default `:advisory` strategy),
//! run the model's handler, and retry, discard or fail the job by its kind's `RetryPolicy`.
//!
//! ```text
//!  app ── BEGIN; INSERT orders ...; jobs.enqueue_in(db, spec); COMMIT ──▶ good_jobs (pg)
//!     (over enqueue_limit: count queued jobs of the key, drop the enqueue) │
//!  cron daemon ── every `every`, aligned: INSERT ... ON CONFLICT (cron_key, cron_at) ─┤
//!  worker daemon ◀── candidates: unfinished, scheduled, oldest first; for each one    │
//!     │               pg_try_advisory_lock(job) on the worker's session ◀──────────────┘
//!     │               UPDATE performed_at, locked_by; with a key over perform_limit:
//!     │               ConcurrencyExceededError (retried polynomially_longer)
//!     │ runs handler(ctx, job) ── JobsLog (ground truth: every attempt and its end)
//!     └─ UPDATE: succeeded | retry at now + wait | discarded | failed; pg_advisory_unlock
//! ```
//!
//! The lock lives as long as the worker's Postgres session: a slow or paused job is never
//! claimed twice; a worker whose process dies frees it at once (its connection closes) and
//! the job runs again at the next poll; a worker cut off by a network loss keeps it until the
//! server's TCP keepalive finds the connection dead (`PgConfig::tcp_keepalives_*`, 2 h 11 min
//! by default). Not modelled: GoodJob's `:skiplocked` and `:hybrid` strategies and its process
//! records, `good_job_executions` and batches, priorities, `perform_later` outside a database
//! transaction to another store, throttles and `total_limit`, LISTEN/NOTIFY wake-ups (workers
//! poll), job timeouts, cron catch-up of ticks missed while no scheduler ran.

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
pub use policy::{
    counter_key, wait_bounds, Decision, ExceptionExecutions, RetryPolicy, Rule, Wait,
    CONCURRENCY_EXCEEDED,
};

use crate::pg::{DbError, PgConnection, PgHandle, Value};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit;
use syncsim_sim::world::{NodeBuilder, WorldBuilder};

/// The table the queue keeps its jobs in. Times are virtual microseconds since the run began.
/// As in GoodJob, `performed_at` and `locked_by` say a worker started the job (they stay set
/// when that worker dies); whether it still runs is whether its advisory lock is held.
/// `claims` counts claims (syncsim's attempt numbering); `exception_executions` is
/// ActiveJob's per-`retry_on` counter, saved when the job is retried.
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
        performed_at_micros bigint,
        outcome text,
        error text,
        cron_key text,
        cron_at_micros bigint,
        finished_at_micros bigint,
        exception_executions jsonb,
        UNIQUE (cron_key, cron_at_micros))";

/// One job kind (ActiveJob class): how it retries and its concurrency limits per key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobKind {
    /// The kind's name, e.g. `SyncAffiliationJob`.
    pub name: String,
    /// Its `retry_on` / `discard_on` declarations.
    pub retry: RetryPolicy,
    /// GoodJob's `perform_limit`, in jobs: of the jobs of one concurrency key that started
    /// and did not finish, only the first this many (by start time) may run; a later one
    /// raises `ConcurrencyExceededError` and is retried. None: no limit.
    pub perform_limit: Option<u32>,
    /// GoodJob's `enqueue_limit`, in jobs: an enqueue is dropped silently when this many jobs
    /// of its key are already queued (unfinished and not started). None: no limit.
    pub enqueue_limit: Option<u32>,
}

/// Knobs of the queue and its workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How long an idle worker waits before it looks for work again (GoodJob's
    /// `poll_interval`, 10 s by default there).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Candidate rows a worker reads per claim and tries to lock in order (GoodJob's
    /// `queue_select_limit`), so jobs running elsewhere do not hide the next one.
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

impl std::fmt::Display for JobError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.kind, self.message)
    }
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
    /// workers once that transaction commits, and never if it rolls back. Returns its id, or
    /// None when the kind's `enqueue_limit` dropped it (GoodJob's `before_enqueue` aborts).
    pub async fn enqueue_in(
        &self,
        db: &mut PgConnection,
        spec: &JobSpec,
    ) -> Result<Option<i64>, DbError> {
        if !self.enqueue_has_room(db, spec).await? {
            let note = format!(
                "jobs: {} over its enqueue_limit: enqueue dropped",
                spec.kind
            );
            db.ctx().note(note);
            return Ok(None);
        }
        let sql = "INSERT INTO good_jobs (queue_name, job_class, serialized_params, \
                   concurrency_key, scheduled_at_micros) VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let scheduled_at = micros(kit::now().0 + spec.wait);
        let params = [
            Value::from(spec.queue.as_str()),
            Value::from(spec.kind.as_str()),
            Value::Jsonb(spec.args.clone()),
            Value::from(spec.concurrency_key.clone()),
            Value::Int8(scheduled_at),
        ];
        Ok(Some(db.query_one(sql, &params).await?.get::<i64>("id")))
    }

    /// GoodJob's enqueue check: in a subtransaction (a savepoint inside the caller's
    /// transaction) that it rolls back, take the key's transaction advisory lock and count the
    /// key's queued jobs (unfinished, not started: `advisory_unlocked` and no `locked_by_id`).
    /// The count and the insert are not atomic, as in GoodJob.
    async fn enqueue_has_room(
        &self,
        db: &mut PgConnection,
        spec: &JobSpec,
    ) -> Result<bool, DbError> {
        let (Some(key), Some(limit)) = (
            spec.concurrency_key.as_deref(),
            self.kind(&spec.kind).and_then(|kind| kind.enqueue_limit),
        ) else {
            return Ok(true);
        };
        if self.mutation == Mutation::EnqueueUnlimited {
            return Ok(true);
        }
        let nested = db.in_transaction();
        db.run(
            if nested {
                "SAVEPOINT good_job_enqueue"
            } else {
                "BEGIN"
            },
            &[],
        )
        .await?;
        let lock = "SELECT pg_advisory_xact_lock(hashtext($1))";
        db.execute(lock, &[concurrency_lock_key(key).into()])
            .await?;
        let sql = "SELECT count(*) AS queued FROM good_jobs WHERE concurrency_key = $1 \
                   AND finished_at_micros IS NULL AND locked_by IS NULL";
        let queued: i64 = db.query_one(sql, &[key.into()]).await?.get("queued");
        let undo = if nested {
            "ROLLBACK TO SAVEPOINT good_job_enqueue"
        } else {
            "ROLLBACK"
        };
        db.run(undo, &[]).await?;
        // GoodJob: exceeded when `queued + 1 > limit`.
        Ok(queued < i64::from(limit))
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
    /// Claimed jobs ignore their key's `perform_limit`.
    ConcurrencyUnchecked,
    /// Over `perform_limit`, the job goes back at once with no execution counted and no
    /// wait (syncsim's old skip at claim time), instead of a polynomially_longer retry.
    ConcurrencyNoBackoff,
    /// `enqueue_limit` is ignored.
    EnqueueUnlimited,
    /// Retry waits use one execution more than the declaration's counter in the formula.
    WaitOffByOne,
    /// One attempt more than `attempts` runs.
    OneMoreAttempt,
    /// Attempts and waits count the job's overall `executions`, not the matching `retry_on`
    /// declaration's `exception_executions` (syncsim's old counting).
    AttemptsOverall,
    /// The worker releases the job's advisory lock right after claiming it, as a lease that
    /// runs out at once: another worker may claim a job that still runs.
    LockReleasedAtClaim,
    /// Cron ticks are not aligned: each scheduler enqueues its own tick.
    CronUnaligned,
    /// A finished job's row loses its error.
    ErrorNotWritten,
}

/// The advisory-lock key string of a job (`good_jobs-<id>`, GoodJob's `lockable_key` form;
/// the server hashes it with `hashtext`).
fn job_lock_key(id: i64) -> String {
    format!("good_jobs-{id}")
}

/// The advisory-lock key string of a concurrency key's checks.
fn concurrency_lock_key(key: &str) -> String {
    format!("good_jobs-concurrency-{key}")
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Declares job queues in a world.
pub trait JobsWorld {
    /// Creates the queue's table on `pg` and registers its ground truth as the service `name`
    /// (`history.service::<JobsLog>(name)`).
    fn jobs(&mut self, name: &str, pg: &PgHandle, config: JobsConfig) -> Jobs;
}

impl JobsWorld for WorldBuilder {
    fn jobs(&mut self, name: &str, pg: &PgHandle, config: JobsConfig) -> Jobs {
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
