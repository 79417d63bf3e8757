//! Cron (periodic) jobs, as GoodJob's cron: a scheduler enqueues an entry's job at every tick
//! of its period, ticks aligned to multiples of `every` on the virtual clock. The row carries
//! `(cron_key, cron_at)` under a unique constraint and the insert says `ON CONFLICT DO
//! NOTHING`, so several schedulers (for availability) enqueue each tick once. Not modelled:
//! cron expressions (only a fixed period), catching up ticks missed while every scheduler was
//! down, time zones.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{micros, JobSpec, Jobs, Mutation};
use crate::pg::{PgConnection, Value};
use syncsim_sim::ctx::Ctx;

/// One periodic job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronEntry {
    /// The entry's name (GoodJob's cron key), unique per queue.
    pub key: String,
    /// The period: a job is enqueued at every multiple of it.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// The job enqueued at each tick (its `wait` is ignored).
    pub job: JobSpec,
}

/// The scheduler loop of one entry.
pub(crate) async fn schedule(ctx: Ctx, jobs: Jobs, entry: CronEntry) {
    assert!(!entry.every.is_zero(), "cron {}: a zero period", entry.key);
    let every = entry.every.as_micros();
    let sql = "INSERT INTO good_jobs (queue_name, job_class, serialized_params, concurrency_key, \
               scheduled_at_micros, cron_key, cron_at_micros) VALUES ($1, $2, $3, $4, $5, $6, $5) \
               ON CONFLICT (cron_key, cron_at_micros) DO NOTHING";
    let mut connection: Option<PgConnection> = None;
    loop {
        let now = ctx.now().0.as_micros();
        let tick = if jobs.mutation == Mutation::CronUnaligned {
            now + every
        } else {
            (now / every + 1) * every
        };
        let tick = Duration::from_micros(u64::try_from(tick).unwrap_or(u64::MAX));
        ctx.sleep(tick - ctx.now().0).await;
        if connection.is_none() {
            connection = jobs.pg.connect(&ctx).await.ok();
        }
        let Some(db) = connection.as_mut() else {
            continue;
        };
        let params = [
            Value::from(entry.job.queue.as_str()),
            Value::from(entry.job.kind.as_str()),
            Value::Jsonb(entry.job.args.clone()),
            Value::from(entry.job.concurrency_key.clone()),
            Value::Int8(micros(tick)),
            Value::from(entry.key.as_str()),
        ];
        match db.execute(sql, &params).await {
            Ok(1) => ctx.note(format!("cron {} enqueued tick {}", entry.key, micros(tick))),
            Ok(_) => {}
            Err(_) => connection = None,
        }
    }
}
