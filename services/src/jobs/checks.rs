//! Ready-made properties of the job queue, for models and tests: each reads the queue's
//! ground truth (`JobsLog`, and the `good_jobs` rows on the server), never a model's belief.
//!
//! - `follows_retry_policy`: every failed attempt got the decision its kind's policy gives
//!   (retry with a wait inside ActiveJob's bounds, discard, or fail once attempts run out),
//!   counted per `retry_on` declaration from the job's earlier attempts, and the next
//!   attempt started no earlier than that wait, on the virtual clock.
//! - `outcomes_recorded`: a job whose last attempt ended has its row say so, error included.
//! - `one_running_per_key`: attempts of one concurrency key never overlap (perform limit 1).
//! - `crashed_jobs_rerun` and `crash_mid_job`: an attempt cut short by a crash is run again;
//!   coverage that a crash mid-job happened at all.
//! - `cron_ticks_once`: each cron entry's rows sit on distinct multiples of its period.
//!
//! Not checked here: what a handler did (a model checks its own effects).

use std::time::Duration;

use super::log::{Attempt, JobsLog};
use super::policy::{counter_key, wait_bounds, Decision, RetryPolicy, Rule};
use super::{CronEntry, JobsConfig};
use crate::pg::PgServer;
use syncsim_sim::property::{Property, Verdict};

/// Every ended, failed attempt of a declared kind got its policy's decision, and its retry
/// ran no earlier than the drawn wait and no later than `slack` after it.
pub fn follows_retry_policy(jobs: &str, config: &JobsConfig, slack: Duration) -> Property {
    let (jobs, config) = (jobs.to_string(), config.clone());
    Property::eventually("jobs: retries follow the declared policy", move |history| {
        let log = history.service::<JobsLog>(&jobs);
        let problems: Vec<String> = log
            .attempts()
            .iter()
            .filter_map(|attempt| policy_problem(&log, &config, attempt, slack))
            .collect();
        Verdict::check(problems.is_empty(), || problems.join("; "))
    })
}

fn policy_problem(
    log: &JobsLog,
    config: &JobsConfig,
    attempt: &Attempt,
    slack: Duration,
) -> Option<String> {
    let end = attempt.end.as_ref()?;
    let (error_kind, _) = end.error.as_ref()?;
    let kind = config.kinds.iter().find(|kind| kind.name == attempt.kind)?;
    let rule = kind.retry.rule_for(error_kind);
    let count = rule_count(log, attempt, &kind.retry);
    let label = format!("job {} execution {}", attempt.job, attempt.execution);
    let wait = match (&rule, &end.decision) {
        (Some(Rule::RetryOn { wait, attempts, .. }), Some(Decision::Retry { wait: drawn }))
            if count < *attempts =>
        {
            let (base, jitter_max) = wait_bounds(wait, count, kind.retry.jitter);
            if !(base..base + jitter_max.max(Duration::from_micros(1))).contains(drawn) {
                return Some(format!(
                    "{label}: wait {drawn:?} outside {base:?} + {jitter_max:?}"
                ));
            }
            *drawn
        }
        (Some(Rule::RetryOn { attempts, .. }), Some(Decision::Fail)) if count >= *attempts => {
            return None
        }
        (Some(Rule::DiscardOn { .. }), Some(Decision::Discard)) | (None, Some(Decision::Fail)) => {
            return None
        }
        (_, decision) => return Some(format!("{label}: decision {decision:?} against {rule:?}")),
    };
    // The job's next attempt is the retry, unless the outcome write was lost (a crash or a
    // dropped connection): then the same execution ran again once the lock was free.
    let next = log
        .attempts_of(attempt.job)
        .into_iter()
        .find(|later| later.started > attempt.started)
        .filter(|next| next.execution == attempt.execution + 1)?;
    let gap = next.started.0.saturating_sub(end.at.0);
    (gap < wait || gap > wait + slack)
        .then(|| format!("{label}: retried {gap:?} after its end, wait {wait:?}"))
}

/// How many executions the `retry_on` declaration matching `attempt`'s error has handled,
/// this one included (ActiveJob's `exception_executions`), from the ground truth: of each
/// earlier execution number, the last attempt is the one whose outcome was saved (an
/// attempt whose outcome was lost is run again with the same number).
fn rule_count(log: &JobsLog, attempt: &Attempt, policy: &RetryPolicy) -> u32 {
    let Some(end) = &attempt.end else {
        return 0;
    };
    let Some((error_kind, _)) = &end.error else {
        return 0;
    };
    let key = counter_key(error_kind);
    let attempts = log.attempts_of(attempt.job);
    let earlier = (1..attempt.execution).filter(|execution| {
        let saved = attempts
            .iter()
            .rev()
            .find(|earlier| earlier.execution == *execution && earlier.end.is_some());
        saved
            .and_then(|saved| saved.end.as_ref())
            .and_then(|end| end.error.as_ref())
            .is_some_and(|(kind, _)| {
                matches!(policy.rule_for(kind), Some(Rule::RetryOn { .. }))
                    && counter_key(kind) == key
            })
    });
    u32::try_from(earlier.count()).unwrap_or(u32::MAX) + 1
}

/// A job whose last attempt ended has the outcome in its row: `succeeded`, or `failed` /
/// `discarded` with the error as `Kind: message`; a job to retry is not finished.
pub fn outcomes_recorded(jobs: &str, pg: &str) -> Property {
    let (jobs, pg) = (jobs.to_string(), pg.to_string());
    Property::eventually("jobs: outcomes are recorded visibly", move |history| {
        let log = history.service::<JobsLog>(&jobs);
        let rows = JobsLog::jobs(&history.service::<PgServer>(&pg));
        let problems: Vec<String> = rows
            .iter()
            .filter_map(|row| {
                let end = log.attempts_of(row.id).last()?.end.clone()?;
                let error = end
                    .error
                    .map(|(kind, message)| format!("{kind}: {message}"));
                let expected = match end.decision {
                    None => (Some("succeeded"), None),
                    Some(Decision::Retry { .. }) => (None, error),
                    Some(Decision::Discard) => (Some("discarded"), error),
                    Some(Decision::Fail) => (Some("failed"), error),
                };
                let found = (row.outcome.as_deref(), row.error.clone());
                (found != expected).then(|| format!("job {}: {found:?}, not {expected:?}", row.id))
            })
            .collect();
        Verdict::check(problems.is_empty(), || problems.join("; "))
    })
}

/// No two attempts with one concurrency key run at once (for kinds with perform limit 1).
pub fn one_running_per_key(jobs: &str) -> Property {
    let jobs = jobs.to_string();
    Property::always_since(
        "jobs: one running job per concurrency key",
        move |history, since| {
            let log = history.service::<JobsLog>(&jobs);
            let overlaps: Vec<String> = log
                .overlapping_keys_since(since)
                .iter()
                .map(|(first, second)| format!("jobs {} and {}", first.job, second.job))
                .collect();
            let verdict = Verdict::check(overlaps.is_empty(), || overlaps.join(", "));
            (verdict, log.attempts().len())
        },
    )
}

/// Every attempt cut short by a crash was followed by an attempt of the same job that started
/// after the crash and ended.
pub fn crashed_jobs_rerun(jobs: &str) -> Property {
    let jobs = jobs.to_string();
    Property::eventually("jobs: a crashed job runs again", move |history| {
        let log = history.service::<JobsLog>(&jobs);
        let stuck: Vec<String> = log
            .abandoned()
            .iter()
            .filter(|abandoned| {
                !log.attempts_of(abandoned.job)
                    .iter()
                    .any(|later| later.started > abandoned.started && later.end.is_some())
            })
            .map(|abandoned| format!("job {} claim {}", abandoned.job, abandoned.claim))
            .collect();
        Verdict::check(stuck.is_empty(), || {
            format!("never re-run: {}", stuck.join(", "))
        })
    })
}

/// Coverage: some worker crashed mid-job (an attempt never ended).
pub fn crash_mid_job(jobs: &str) -> Property {
    let jobs = jobs.to_string();
    Property::sometimes("jobs: a worker crashed mid-job", move |history| {
        !history.service::<JobsLog>(&jobs).abandoned().is_empty()
    })
}

/// Each entry's rows sit on distinct multiples of its period.
pub fn cron_ticks_once(pg: &str, entries: &[CronEntry]) -> Property {
    let (pg, entries) = (pg.to_string(), entries.to_vec());
    Property::eventually("jobs: each cron tick enqueues once", move |history| {
        let rows = JobsLog::jobs(&history.service::<PgServer>(&pg));
        let problems: Vec<String> = entries
            .iter()
            .filter_map(|entry| {
                let every = i64::try_from(entry.every.as_micros()).unwrap_or(i64::MAX);
                let ticks: Vec<i64> = rows
                    .iter()
                    .filter(|row| row.cron_key.as_deref() == Some(&entry.key[..]))
                    .filter_map(|row| row.cron_at_micros)
                    .collect();
                let aligned = ticks.iter().all(|tick| tick % every == 0);
                let distinct = ticks.windows(2).all(|pair| pair[0] < pair[1]);
                (!aligned || !distinct).then(|| format!("cron {}: ticks {ticks:?}", entry.key))
            })
            .collect();
        Verdict::check(problems.is_empty(), || problems.join("; "))
    })
}
