//! The worker daemon: claim a job with a session-level advisory lock (GoodJob's default
//! `:advisory` lock strategy), run the model's handler, write the outcome, unlock.
//!
//! A claim reads up to `claim_batch_size_max` candidate rows (unfinished, `scheduled_at`
//! reached, oldest first) and, in order, tries `pg_try_advisory_lock` on each job's key on the
//! worker's own session; a locked job is re-read (GoodJob's `executable?`: it may have been
//! finished or rescheduled since the candidates were read) and marked started
//! (`performed_at`, `locked_by`). The lock is held by the session, not by a transaction: it
//! lasts until the worker unlocks it after the outcome is written, or until the session ends
//! (the worker's process died and its connection closed, or the server's keepalive declared
//! a vanished worker dead). GoodJob does the candidate read and the lock in one statement (a
//! materialized CTE); here they are separate round trips, with the same result. A job whose
//! key has a `perform_limit` then runs GoodJob's check: under the key's transaction advisory
//! lock, the first `perform_limit` started-and-unfinished jobs of the key by `performed_at`
//! may run; any other raises `ConcurrencyExceededError` as its execution. Not modelled:
//! graceful shutdown, GoodJob's `InterruptedError` bookkeeping of a re-run, throttles.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::log::{Attempt, End, JobsLog};
use super::policy::{Decision, ExceptionExecutions, CONCURRENCY_EXCEEDED};
use super::{concurrency_lock_key, job_lock_key, micros, Handler, Job, JobError, Jobs, Mutation};
use crate::pg::{DbError, PgConnection, Value};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit;

/// A job this worker holds the advisory lock of.
struct Claimed {
    job: Job,
    concurrency_key: Option<String>,
    claim: i32,
    performed_at_micros: i64,
    exception_executions: ExceptionExecutions,
}

/// The worker loop: claim, run, repeat; sleep `poll_interval` when there is nothing to run.
pub(crate) async fn serve(ctx: Ctx, jobs: Jobs, queues: Vec<String>, handler: Handler) {
    let mut connection: Option<PgConnection> = None;
    loop {
        if connection.is_none() {
            connection = jobs.pg.connect(&ctx).await.ok();
        }
        let Some(db) = connection.as_mut() else {
            ctx.sleep(jobs.config.poll_interval).await;
            continue;
        };
        let result = match claim(&ctx, db, &jobs, &queues).await {
            Ok(Some(claimed)) => run(&ctx, db, &jobs, &handler, claimed).await,
            Ok(None) => {
                ctx.sleep(jobs.config.poll_interval).await;
                Ok(())
            }
            Err(error) => Err(error),
        };
        if result.is_err() {
            // A broken connection, or an error that left a transaction aborted: closing the
            // session rolls it back and frees its advisory locks (at once while the link
            // works; after the server's keepalive when it does not); a fresh one follows.
            connection = None;
            ctx.sleep(jobs.config.poll_interval).await;
        }
    }
}

/// Locks the first runnable candidate no other session holds, and marks it started.
async fn claim(
    ctx: &Ctx,
    db: &mut PgConnection,
    jobs: &Jobs,
    queues: &[String],
) -> Result<Option<Claimed>, DbError> {
    let mut params = vec![Value::Int8(micros(ctx.now().0))];
    let mut queue_filter = String::new();
    if !queues.is_empty() {
        let placeholders: Vec<String> = (2..queues.len() + 2).map(|n| format!("${n}")).collect();
        queue_filter = format!(" AND queue_name IN ({})", placeholders.join(", "));
        params.extend(queues.iter().map(|queue| Value::from(queue.as_str())));
    }
    let sql = format!(
        "SELECT id FROM good_jobs WHERE finished_at_micros IS NULL \
         AND scheduled_at_micros <= $1{queue_filter} ORDER BY scheduled_at_micros, id LIMIT {}",
        jobs.config.claim_batch_size_max
    );
    let candidates: Vec<i64> = db
        .query(&sql, &params)
        .await?
        .iter()
        .map(|row| row.get("id"))
        .collect();
    assert!(candidates.len() <= jobs.config.claim_batch_size_max as usize);
    for id in candidates {
        let lock = "SELECT pg_try_advisory_lock(hashtext($1)) AS locked";
        let key = Value::from(job_lock_key(id));
        if !db.query_one(lock, &[key]).await?.get::<bool>("locked") {
            continue;
        }
        if let Some(claimed) = mark_started(ctx, db, id).await? {
            if jobs.mutation == Mutation::LockReleasedAtClaim {
                unlock(db, id).await?;
            }
            return Ok(Some(claimed));
        }
        unlock(db, id).await?;
    }
    Ok(None)
}

/// Re-reads the locked job (it may have finished or been rescheduled since the candidates
/// were read) and marks it started, as GoodJob's `perform` does before running it.
async fn mark_started(
    ctx: &Ctx,
    db: &mut PgConnection,
    id: i64,
) -> Result<Option<Claimed>, DbError> {
    let now = micros(ctx.now().0);
    let sql = "SELECT id, queue_name, job_class, serialized_params, concurrency_key, executions, \
               claims, exception_executions FROM good_jobs \
               WHERE id = $1 AND finished_at_micros IS NULL AND scheduled_at_micros <= $2";
    let Some(row) = db
        .query_opt(sql, &[Value::Int8(id), Value::Int8(now)])
        .await?
    else {
        return Ok(None);
    };
    let claim = row.get::<i32>("claims") + 1;
    // The client's clock at the update, as GoodJob's `Time.current`: the perform-limit check
    // orders started jobs by it.
    let now = micros(ctx.now().0);
    let sql = "UPDATE good_jobs SET claims = $1, locked_by = $2, performed_at_micros = $3 \
               WHERE id = $4";
    let params = [
        Value::Int4(claim),
        Value::from(ctx.node()),
        Value::Int8(now),
        Value::Int8(id),
    ];
    db.execute(sql, &params).await?;
    let executions: i32 = row.get("executions");
    let counters: Option<serde_json::Value> = row.get("exception_executions");
    let job = Job {
        id,
        kind: row.get("job_class"),
        queue: row.get("queue_name"),
        args: row.get("serialized_params"),
        execution: u32::try_from(executions).unwrap_or(0) + 1,
    };
    Ok(Some(Claimed {
        job,
        concurrency_key: row.get("concurrency_key"),
        claim,
        performed_at_micros: now,
        exception_executions: counters
            .and_then(|json| serde_json::from_value(json).ok())
            .unwrap_or_default(),
    }))
}

async fn unlock(db: &mut PgConnection, id: i64) -> Result<(), DbError> {
    let sql = "SELECT pg_advisory_unlock(hashtext($1)) AS unlocked";
    let unlocked: bool = db
        .query_one(sql, &[job_lock_key(id).into()])
        .await?
        .get("unlocked");
    assert!(unlocked, "a worker unlocks only a job it locked");
    Ok(())
}

/// GoodJob's perform-limit check, run once the job is marked started: under the key's
/// transaction advisory lock (rolled back after), whether the job is among the first
/// `perform_limit` started-and-unfinished jobs of its key, by start time.
async fn perform_allowed(
    db: &mut PgConnection,
    jobs: &Jobs,
    claimed: &Claimed,
) -> Result<bool, DbError> {
    let Some(key) = claimed.concurrency_key.as_deref() else {
        return Ok(true);
    };
    let limit = jobs
        .kind(&claimed.job.kind)
        .and_then(|kind| kind.perform_limit);
    let Some(limit) = limit.filter(|_| jobs.mutation != Mutation::ConcurrencyUnchecked) else {
        return Ok(true);
    };
    db.begin().await?;
    let lock = "SELECT pg_advisory_xact_lock(hashtext($1))";
    db.execute(lock, &[concurrency_lock_key(key).into()])
        .await?;
    let sql = format!(
        "SELECT id FROM good_jobs WHERE concurrency_key = $1 AND performed_at_micros IS NOT NULL \
         AND finished_at_micros IS NULL ORDER BY performed_at_micros, id LIMIT {limit}"
    );
    let allowed = db
        .query(&sql, &[key.into()])
        .await?
        .iter()
        .any(|row| row.get::<i64>("id") == claimed.job.id);
    db.rollback().await?;
    Ok(allowed)
}

/// Records a started attempt as abandoned when the worker's task is dropped before it ends
/// (its node crashed, or the run ended): the ground truth of when it stopped running.
struct AbandonGuard {
    log: Arc<Mutex<JobsLog>>,
    job: i64,
    claim: u32,
    armed: bool,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(now) = kit::try_now() {
            let mut log = self
                .log
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            log.abandon(self.job, self.claim, now);
        }
    }
}

/// Runs the claimed job (or raises `ConcurrencyExceededError` for it), records the attempt,
/// and writes its outcome.
async fn run(
    ctx: &Ctx,
    db: &mut PgConnection,
    jobs: &Jobs,
    handler: &Handler,
    claimed: Claimed,
) -> Result<(), DbError> {
    let job = claimed.job.clone();
    let claim = u32::try_from(claimed.claim).unwrap_or(0);
    // The attempt starts, in the ground truth, once the check let it run (or failed it): a
    // job that waits for its check is not running yet.
    let allowed = perform_allowed(db, jobs, &claimed).await?;
    jobs.log.lock().expect("jobs log").start(Attempt {
        job: job.id,
        kind: job.kind.clone(),
        concurrency_key: claimed.concurrency_key.clone(),
        execution: job.execution,
        claim,
        worker: ctx.node().to_string(),
        started: ctx.now(),
        abandoned_at: None,
        end: None,
    });
    let mut guard = AbandonGuard {
        log: jobs.log.clone(),
        job: job.id,
        claim,
        armed: true,
    };
    ctx.note(format!(
        "job {} {} execution {} starts",
        job.id, job.kind, job.execution
    ));
    let result = if !allowed {
        let key = claimed.concurrency_key.as_deref().unwrap_or_default();
        let message = format!("key {key} at its perform_limit");
        Err(JobError::new(CONCURRENCY_EXCEEDED, message))
    } else if jobs.kind(&job.kind).is_some() {
        handler(ctx.clone(), job.clone()).await
    } else {
        let message = format!("no job kind {}", job.kind);
        Err(JobError::new("UnknownJobKind", message))
    };
    let error = result.err();
    let mut counters = claimed.exception_executions.clone();
    let decision = error
        .as_ref()
        .map(|error| decide(ctx, jobs, &job, error, &mut counters));
    let ending = match (&error, &decision) {
        (Some(error), Some(decision)) => format!("{error}; {decision}"),
        _ => "done".to_string(),
    };
    ctx.note(format!("job {} ends: {ending}", job.id));
    let end = End {
        at: ctx.now(),
        error: error.clone().map(|error| (error.kind, error.message)),
        decision: decision.clone(),
    };
    jobs.log.lock().expect("jobs log").end(job.id, claim, end);
    guard.armed = false;
    let error = error.filter(|_| jobs.mutation != Mutation::ErrorNotWritten);
    finish(ctx, db, &claimed, decision, error, &counters).await?;
    if jobs.mutation != Mutation::LockReleasedAtClaim {
        unlock(db, job.id).await?;
    }
    Ok(())
}

/// The policy's decision, by the matching `retry_on` declaration's counter (raised in
/// `counters`), or as a deliberate bug switches it.
fn decide(
    ctx: &Ctx,
    jobs: &Jobs,
    job: &Job,
    error: &JobError,
    counters: &mut ExceptionExecutions,
) -> Decision {
    let Some(kind) = jobs.kind(&job.kind) else {
        return Decision::Fail;
    };
    if error.kind == CONCURRENCY_EXCEEDED && jobs.mutation == Mutation::ConcurrencyNoBackoff {
        return Decision::Retry {
            wait: Duration::ZERO,
        };
    }
    let policy = &kind.retry;
    ctx.random(|prng| match jobs.mutation {
        Mutation::AttemptsOverall => policy.decide(&error.kind, job.execution, prng),
        Mutation::OneMoreAttempt | Mutation::WaitOffByOne => {
            let (_, count) = policy.decide_counted(&error.kind, counters, prng);
            let count = count.unwrap_or(0);
            let shifted = if jobs.mutation == Mutation::OneMoreAttempt {
                count.saturating_sub(1)
            } else {
                count + 1
            };
            policy.decide(&error.kind, shifted, prng)
        }
        _ => policy.decide_counted(&error.kind, counters, prng).0,
    })
}

/// Writes the outcome, guarded by the claim number (a claim of the same row since then, which
/// only a deliberate bug allows while the lock is held, wins).
async fn finish(
    ctx: &Ctx,
    db: &mut PgConnection,
    claimed: &Claimed,
    decision: Option<Decision>,
    error: Option<JobError>,
    counters: &ExceptionExecutions,
) -> Result<(), DbError> {
    let now = ctx.now().0;
    let (outcome, scheduled_at, finished_at) = match decision {
        None => (Some("succeeded"), now, Some(now)),
        Some(Decision::Retry { wait }) => (None, now + wait, None),
        Some(Decision::Discard) => (Some("discarded"), now, Some(now)),
        Some(Decision::Fail) => (Some("failed"), now, Some(now)),
    };
    // A retried job is queued again: GoodJob clears `performed_at` so it no longer counts as
    // started; a finished one keeps it.
    let performed_at = finished_at.map(|_| claimed.performed_at_micros);
    let sql = "UPDATE good_jobs SET executions = $1, outcome = $2, error = $3, \
               scheduled_at_micros = $4, finished_at_micros = $5, locked_by = NULL, \
               performed_at_micros = $6, exception_executions = $7 WHERE id = $8 AND claims = $9";
    let execution = i32::try_from(claimed.job.execution).unwrap_or(i32::MAX);
    let params = [
        Value::Int4(execution),
        Value::from(outcome),
        Value::from(error.map(|error| format!("{}: {}", error.kind, error.message))),
        Value::Int8(micros(scheduled_at)),
        Value::from(finished_at.map(|at: Duration| micros(at))),
        Value::from(performed_at),
        Value::Jsonb(serde_json::to_value(counters).expect("counters serialize")),
        Value::Int8(claimed.job.id),
        Value::Int4(claimed.claim),
    ];
    if db.execute(sql, &params).await? == 0 {
        ctx.note(format!(
            "job {}: claimed again meanwhile, outcome dropped",
            claimed.job.id
        ));
    }
    Ok(())
}
