//! The worker daemon: claim a job with a lease, run the model's handler, write the outcome.
//!
//! A claim is one transaction: lock up to `claim_batch_size_max` runnable rows with
//! `FOR UPDATE SKIP LOCKED` (oldest `scheduled_at` first); for a row with a concurrency key,
//! take `pg_try_advisory_xact_lock(hashtext(key))` (a key another worker is claiming right now
//! is skipped) and count the key's rows under a live lease; claim the first row with room by
//! setting its lease. The advisory lock is what makes the count safe: without it two workers
//! in READ COMMITTED both count zero and both claim. The outcome update is guarded by the
//! claim number, so a worker whose lease ran out (and whose job another worker claimed)
//! changes nothing. Not modelled: a heartbeat extending the lease, graceful shutdown.

use std::time::Duration;

use super::log::{Attempt, End};
use super::policy::Decision;
use super::{micros, Handler, Job, JobError, Jobs, Mutation};
use crate::ctx::Ctx;
use crate::services::pg::{DbError, PgConnection, PgRow, Value};
use crate::time::VirtualTime;

/// A job this worker holds the lease of.
struct Claimed {
    job: Job,
    concurrency_key: Option<String>,
    claim: i32,
    lease_until: VirtualTime,
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
            // session rolls it back; the next loop opens a fresh one.
            connection = None;
            ctx.sleep(jobs.config.poll_interval).await;
        }
    }
}

async fn claim(
    ctx: &Ctx,
    db: &mut PgConnection,
    jobs: &Jobs,
    queues: &[String],
) -> Result<Option<Claimed>, DbError> {
    let now = micros(ctx.now().0);
    let lease_expired = if jobs.mutation == Mutation::LeaseNeverExpires {
        "locked_until_micros IS NULL"
    } else {
        "(locked_until_micros IS NULL OR locked_until_micros <= $1)"
    };
    let mut params = vec![Value::Int8(now)];
    let mut queue_filter = String::new();
    if !queues.is_empty() {
        let placeholders: Vec<String> = (2..queues.len() + 2).map(|n| format!("${n}")).collect();
        queue_filter = format!(" AND queue_name IN ({})", placeholders.join(", "));
        params.extend(queues.iter().map(|queue| Value::from(queue.as_str())));
    }
    let sql = format!(
        "SELECT id, queue_name, job_class, serialized_params, concurrency_key, executions, claims \
         FROM good_jobs WHERE finished_at_micros IS NULL AND scheduled_at_micros <= $1 \
         AND {lease_expired}{queue_filter} ORDER BY scheduled_at_micros, id LIMIT {} \
         FOR UPDATE SKIP LOCKED",
        jobs.config.claim_batch_size_max
    );
    db.begin().await?;
    for row in db.query(&sql, &params).await? {
        if let Some(claimed) = try_claim(ctx, db, jobs, &row, now).await? {
            db.commit().await?;
            return Ok(Some(claimed));
        }
    }
    db.commit().await?;
    Ok(None)
}

/// Claims `row` when its concurrency key has room.
async fn try_claim(
    ctx: &Ctx,
    db: &mut PgConnection,
    jobs: &Jobs,
    row: &PgRow,
    now: i64,
) -> Result<Option<Claimed>, DbError> {
    let kind: String = row.get("job_class");
    let concurrency_key: Option<String> = row.get("concurrency_key");
    if let Some(key) = &concurrency_key {
        if !key_has_room(db, jobs, &kind, key, now).await? {
            ctx.note(format!("jobs: key {key} at its limit"));
            return Ok(None);
        }
    }
    let id: i64 = row.get("id");
    let claim = row.get::<i32>("claims") + 1;
    let lease_until = ctx.now().0 + jobs.config.lock_timeout;
    let sql = "UPDATE good_jobs SET claims = $1, locked_by = $2, locked_until_micros = $3 \
               WHERE id = $4";
    let params = [
        Value::Int4(claim),
        Value::from(ctx.node()),
        Value::Int8(micros(lease_until)),
        Value::Int8(id),
    ];
    db.execute(sql, &params).await?;
    let executions: i32 = row.get("executions");
    let job = Job {
        id,
        kind,
        queue: row.get("queue_name"),
        args: row.get("serialized_params"),
        execution: u32::try_from(executions).unwrap_or(0) + 1,
    };
    Ok(Some(Claimed {
        job,
        concurrency_key,
        claim,
        lease_until: VirtualTime(lease_until),
    }))
}

/// Whether fewer than the kind's `perform_limit` jobs of `key` hold a live lease.
async fn key_has_room(
    db: &mut PgConnection,
    jobs: &Jobs,
    kind: &str,
    key: &str,
    now: i64,
) -> Result<bool, DbError> {
    if jobs.mutation == Mutation::ConcurrencyUnchecked {
        return Ok(true);
    }
    if jobs.mutation != Mutation::ConcurrencyUnlocked {
        let sql = "SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked";
        if !db
            .query_one(sql, &[key.into()])
            .await?
            .get::<bool>("locked")
        {
            return Ok(false);
        }
    }
    let sql = "SELECT count(*) AS running FROM good_jobs WHERE concurrency_key = $1 \
               AND finished_at_micros IS NULL AND locked_until_micros > $2";
    let running: i64 = db
        .query_one(sql, &[key.into(), Value::Int8(now)])
        .await?
        .get("running");
    let limit = jobs.kind(kind).map_or(1, |kind| kind.perform_limit);
    Ok(running < i64::from(limit))
}

/// Runs the claimed job, records the attempt, and writes its outcome.
async fn run(
    ctx: &Ctx,
    db: &mut PgConnection,
    jobs: &Jobs,
    handler: &Handler,
    claimed: Claimed,
) -> Result<(), DbError> {
    let job = claimed.job.clone();
    jobs.log.lock().expect("jobs log").start(Attempt {
        job: job.id,
        kind: job.kind.clone(),
        concurrency_key: claimed.concurrency_key.clone(),
        execution: job.execution,
        claim: u32::try_from(claimed.claim).unwrap_or(0),
        worker: ctx.node().to_string(),
        started: ctx.now(),
        lease_until: claimed.lease_until,
        end: None,
    });
    ctx.note(format!(
        "job {} {} execution {} starts",
        job.id, job.kind, job.execution
    ));
    let result = match jobs.kind(&job.kind) {
        Some(_) => handler(ctx.clone(), job.clone()).await,
        None => Err(JobError::new(
            "UnknownJobKind",
            format!("no job kind {}", job.kind),
        )),
    };
    let error = result.err();
    let decision = error.as_ref().map(|error| decide(ctx, jobs, &job, error));
    ctx.note(format!("job {} ends: {error:?} {decision:?}", job.id));
    let end = End {
        at: ctx.now(),
        error: error.clone().map(|error| (error.kind, error.message)),
        decision: decision.clone(),
    };
    jobs.log
        .lock()
        .expect("jobs log")
        .end(job.id, u32::try_from(claimed.claim).unwrap_or(0), end);
    let error = error.filter(|_| jobs.mutation != Mutation::ErrorNotWritten);
    finish(ctx, db, &claimed, decision, error).await
}

fn decide(ctx: &Ctx, jobs: &Jobs, job: &Job, error: &JobError) -> Decision {
    let Some(kind) = jobs.kind(&job.kind) else {
        return Decision::Fail;
    };
    let executions = match jobs.mutation {
        Mutation::OneMoreAttempt => job.execution - 1,
        Mutation::WaitOffByOne => job.execution + 1,
        _ => job.execution,
    };
    ctx.random(|prng| kind.retry.decide(&error.kind, executions, prng))
}

/// Writes the outcome, unless the lease was lost to a later claim.
async fn finish(
    ctx: &Ctx,
    db: &mut PgConnection,
    claimed: &Claimed,
    decision: Option<Decision>,
    error: Option<JobError>,
) -> Result<(), DbError> {
    let now = ctx.now().0;
    let (outcome, scheduled_at, finished_at) = match decision {
        None => (Some("succeeded"), now, Some(now)),
        Some(Decision::Retry { wait }) => (None, now + wait, None),
        Some(Decision::Discard) => (Some("discarded"), now, Some(now)),
        Some(Decision::Fail) => (Some("failed"), now, Some(now)),
    };
    let sql = "UPDATE good_jobs SET executions = $1, outcome = $2, error = $3, \
               scheduled_at_micros = $4, finished_at_micros = $5, locked_by = NULL, \
               locked_until_micros = NULL WHERE id = $6 AND claims = $7";
    let execution = i32::try_from(claimed.job.execution).unwrap_or(i32::MAX);
    let params = [
        Value::Int4(execution),
        Value::from(outcome),
        Value::from(error.map(|error| format!("{}: {}", error.kind, error.message))),
        Value::Int8(micros(scheduled_at)),
        Value::from(finished_at.map(|at: Duration| micros(at))),
        Value::Int8(claimed.job.id),
        Value::Int4(claimed.claim),
    ];
    if db.execute(sql, &params).await? == 0 {
        ctx.note(format!(
            "job {}: lease lost, outcome dropped",
            claimed.job.id
        ));
    }
    Ok(())
}
