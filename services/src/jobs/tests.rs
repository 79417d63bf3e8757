//! Whole runs of the queue with a deliberate bug switched on, one per check, to show each
//! check of `tests/jobs.rs` can fail: the same properties pass on the correct queue and
//! catch the mutated one. Workers run a handler driven by the job's arguments:
//! `{"sleep_ms": n, "fail": "Kind", "fail_times": k}` sleeps, then fails with `Kind` while
//! `execution <= k`; `{"fail_sequence": ["A", "B"]}` fails execution `n` with the `n`-th kind.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::pg::PostgresWorld;
use crate::pg::{PgConfig, PgServer};
use syncsim_sim::fault::{Fault, FaultPlan};
use syncsim_sim::history::History;
use syncsim_sim::property::{Property, Verdict};
use syncsim_sim::run::{Bounds, Case};
use syncsim_sim::seed::Seed;
use syncsim_sim::world::NetConfig;

mod mutants_policy;

const POLL: Duration = Duration::from_millis(200);

fn kind(name: &str, retry: RetryPolicy) -> JobKind {
    JobKind {
        name: name.to_string(),
        retry,
        perform_limit: Some(1),
        enqueue_limit: None,
    }
}

fn spec(kind: &str, key: Option<&str>, args: serde_json::Value) -> JobSpec {
    JobSpec {
        kind: kind.to_string(),
        queue: "default".to_string(),
        args,
        concurrency_key: key.map(str::to_string),
        wait: Duration::ZERO,
    }
}

/// The queue on `db` with `kinds`, workers on `workers`, the test handler.
pub(super) fn queue(
    world: &mut WorldBuilder,
    kinds: Vec<JobKind>,
    workers: &[&str],
    mutation: Mutation,
    claim_batch_size_max: u32,
) -> Jobs {
    let pg = world.postgres("db", PgConfig::default());
    let mut jobs = world.jobs("jobs", &pg, config_of(kinds, claim_batch_size_max));
    jobs.set_mutation(mutation);
    for worker in workers {
        jobs.worker(world.node(worker), &[], handle);
    }
    jobs
}

async fn handle(ctx: Ctx, job: Job) -> Result<(), JobError> {
    let sleep_ms = job.args["sleep_ms"].as_u64().unwrap_or(0);
    ctx.sleep(Duration::from_millis(sleep_ms)).await;
    let index = usize::try_from(job.execution).unwrap_or(usize::MAX) - 1;
    if let Some(kind) = job.args["fail_sequence"]
        .get(index)
        .and_then(|kind| kind.as_str())
    {
        return Err(JobError::new(kind, format!("execution {}", job.execution)));
    }
    let fail_times = job.args["fail_times"].as_u64().unwrap_or(0);
    match job.args["fail"].as_str() {
        Some(kind) if u64::from(job.execution) <= fail_times => {
            Err(JobError::new(kind, format!("execution {}", job.execution)))
        }
        _ => Ok(()),
    }
}

/// Enqueues `specs` from node `app` at 10 ms, each in its own committed transaction.
fn enqueue_all(world: &mut WorldBuilder, jobs: &Jobs, specs: Vec<JobSpec>) {
    let jobs = jobs.clone();
    world.node("app").process("enqueue", move |ctx| {
        let (jobs, specs) = (jobs.clone(), specs.clone());
        async move {
            ctx.sleep(Duration::from_millis(10)).await;
            let mut db = jobs.pg.connect(&ctx).await.expect("db up");
            for spec in &specs {
                db.begin().await.expect("begin");
                jobs.enqueue_in(&mut db, spec).await.expect("enqueue");
                db.commit().await.expect("commit");
            }
            // Keep the chaos phase going for the timed faults.
            ctx.sleep(Duration::from_secs(1)).await;
        }
    });
}

fn case(
    install: impl Fn(&mut WorldBuilder) + Send + Sync + 'static,
    properties: Vec<Property>,
    faults: FaultPlan,
    heal: Duration,
) -> Case {
    Case::quick("jobs/unit", install)
        .properties(properties)
        .faults(faults)
        .phases(Duration::from_secs(1), heal)
        .bounds(Bounds {
            events_max: 200_000,
            time_max: heal + Duration::from_secs(10),
            wall_max: Duration::from_secs(60),
        })
        .net(NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            call_timeout: Duration::from_millis(500),
        })
        .build()
}

fn log(history: &History) -> std::sync::MutexGuard<'_, JobsLog> {
    history.service::<JobsLog>("jobs")
}

fn config_of(kinds: Vec<JobKind>, claim_batch_size_max: u32) -> JobsConfig {
    JobsConfig {
        poll_interval: POLL,
        claim_batch_size_max,
        kinds,
    }
}

/// Job 1 ran `attempts` times in all.
fn attempt_count(attempts: usize) -> Property {
    Property::eventually("jobs: attempts stop at the limit", move |history| {
        let count = log(history).attempts_of(1).len();
        Verdict::check(count == attempts, || format!("{count} attempts"))
    })
}

fn retry_case(mutation: Mutation, attempts: u32) -> Case {
    let policy = RetryPolicy::default()
        .retry_on("Timeout", Wait::PolynomiallyLonger, attempts)
        .retry_on("RateLimited", Wait::Fixed(Duration::from_secs(5)), attempts)
        .discard_on("NotFound");
    let kinds = vec![kind("Push", policy)];
    let slack = POLL + Duration::from_millis(100);
    let properties = vec![
        checks::follows_retry_policy("jobs", &config_of(kinds.clone(), 10), slack),
        checks::outcomes_recorded("jobs", "db"),
        attempt_count(attempts as usize),
    ];
    let install = move |world: &mut WorldBuilder| {
        let jobs = queue(world, kinds.clone(), &["w1", "w2"], mutation, 10);
        let specs = vec![
            spec("Push", None, json!({"fail": "Timeout", "fail_times": 99})),
            spec(
                "Push",
                None,
                json!({"fail": "RateLimited", "fail_times": 1}),
            ),
            spec("Push", None, json!({"fail": "NotFound", "fail_times": 1})),
            spec("Push", None, json!({"fail": "Unhandled", "fail_times": 1})),
            // Per-declaration counting: Timeout's declaration starts at 1 after two rate
            // limits (3 s, then 18 s), and allows its own attempts.
            spec(
                "Push",
                None,
                json!({"fail_sequence": ["RateLimited", "RateLimited", "Timeout", "Timeout"]}),
            ),
        ];
        enqueue_all(world, &jobs, specs);
    };
    case(
        install,
        properties,
        FaultPlan::new(),
        Duration::from_secs(40),
    )
}

#[test]
fn retry_checks_pass_on_the_queue_and_catch_each_policy_bug() {
    assert_eq!(retry_case(Mutation::None, 3).run(Seed(1)).failure, None);
    let expected = [
        (
            Mutation::WaitOffByOne,
            "jobs: retries follow the declared policy",
        ),
        (
            Mutation::OneMoreAttempt,
            "jobs: retries follow the declared policy",
        ),
        (
            Mutation::ErrorNotWritten,
            "jobs: outcomes are recorded visibly",
        ),
        (
            Mutation::AttemptsOverall,
            "jobs: retries follow the declared policy",
        ),
    ];
    for (mutation, property) in expected {
        let failure = retry_case(mutation, 3).run(Seed(1)).failure;
        let failure = failure.unwrap_or_else(|| panic!("{mutation:?} not caught"));
        assert_eq!(failure.property, property, "{mutation:?}: {failure:?}");
    }
}

/// Claims lock any free candidate, so two workers may run two jobs of one key at once unless
/// the perform-limit check makes the later one raise `ConcurrencyExceededError`.
fn concurrency_case(mutation: Mutation) -> Case {
    let kinds = vec![kind("Sync", RetryPolicy::default())];
    let properties = vec![
        checks::one_running_per_key("jobs"),
        checks::follows_retry_policy("jobs", &config_of(kinds.clone(), 10), POLL * 2),
        all_succeeded(),
    ];
    let install = move |world: &mut WorldBuilder| {
        let jobs = queue(world, kinds.clone(), &["w1", "w2", "w3"], mutation, 10);
        let keys = ["org-1", "org-1", "org-2", "org-1", "org-3", "org-1"];
        let specs = keys
            .iter()
            .map(|key| spec("Sync", Some(key), json!({"sleep_ms": 300})))
            .collect();
        enqueue_all(world, &jobs, specs);
    };
    // Four jobs of org-1 over three workers: some raise ConcurrencyExceededError up to three
    // times (waits of about 3, 18 and 83 s).
    case(
        install,
        properties,
        FaultPlan::new(),
        Duration::from_secs(300),
    )
}

/// Every job succeeded.
fn all_succeeded() -> Property {
    Property::eventually("jobs: every job succeeded", |history| {
        let rows = JobsLog::jobs(&history.service::<PgServer>("db"));
        let done = rows
            .iter()
            .filter(|row| row.outcome.as_deref() == Some("succeeded"));
        Verdict::check(done.count() == rows.len(), || format!("rows {rows:?}"))
    })
}

fn exceeded_count(outcome: &syncsim_sim::run::Outcome) -> usize {
    outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.detail.contains("ConcurrencyExceededError"))
        .count()
}

#[test]
fn the_perform_limit_raises_concurrency_exceeded_and_catches_a_skipped_check_or_backoff() {
    for seed in 1..=5 {
        let outcome = concurrency_case(Mutation::None).run(Seed(seed));
        assert_eq!(outcome.failure, None);
        assert!(exceeded_count(&outcome) > 0, "the limit was never hit");
    }
    let unchecked = concurrency_case(Mutation::ConcurrencyUnchecked).run(Seed(1));
    let failure = unchecked.failure.expect("unchecked keys not caught");
    assert_eq!(
        failure.property,
        "jobs: one running job per concurrency key"
    );
    let eager = concurrency_case(Mutation::ConcurrencyNoBackoff).run(Seed(1));
    let failure = eager.failure.expect("a retry with no backoff not caught");
    assert_eq!(failure.property, "jobs: retries follow the declared policy");
}

/// One job of 1 s with a key, on workers w1 and w2, under `faults`; the run lasts `heal`
/// after a chaos phase of `chaos`, kept going by a sleeper process.
fn lock_case(mutation: Mutation, faults: FaultPlan, chaos: Duration, heal: Duration) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let kinds = vec![kind("Sync", RetryPolicy::default())];
        let jobs = queue(world, kinds, &["w1", "w2"], mutation, 10);
        let job = spec("Sync", Some("org-1"), json!({"sleep_ms": 1000}));
        enqueue_all(world, &jobs, vec![job]);
        world.node("clock").process("sleep", move |ctx| async move {
            ctx.sleep(chaos).await;
        });
    };
    let properties = vec![
        checks::one_running_per_key("jobs"),
        checks::crashed_jobs_rerun("jobs"),
        checks::crash_mid_job("jobs"),
        all_succeeded(),
    ];
    let mut case = case(install, properties, faults, heal);
    case.phases.chaos = chaos;
    case.bounds.time_max = chaos + heal + Duration::from_secs(10);
    // Two workers polling every 200 ms for hours.
    case.bounds.events_max = 2_000_000;
    case
}

/// When the job's successful attempt started.
fn success_start(outcome: &syncsim_sim::run::Outcome) -> Duration {
    let line = outcome
        .trace
        .events()
        .iter()
        .rev()
        .find(|event| event.detail.starts_with("job 1 Sync execution 1 starts"))
        .expect("the job started");
    line.time.0
}

#[test]
fn a_job_whose_worker_dies_runs_again_at_the_next_poll() {
    // The job is claimed by about 250 ms and runs 1 s: crash both workers mid-job at 600 ms,
    // bring one back at 700 ms. The crash closes w1's connection, which frees the lock.
    let faults = FaultPlan::new()
        .at(Duration::from_millis(600), Fault::crash("w1"))
        .at(Duration::from_millis(600), Fault::crash("w2"))
        .at(Duration::from_millis(700), Fault::restart("w2"));
    let chaos = Duration::from_secs(1);
    let outcome = lock_case(Mutation::None, faults, chaos, Duration::from_secs(10)).run(Seed(1));
    assert_eq!(outcome.failure, None);
    assert_eq!(
        outcome.sometimes.get("jobs: a worker crashed mid-job"),
        Some(&true)
    );
    let rerun = success_start(&outcome);
    assert!(rerun < Duration::from_millis(700) + POLL + Duration::from_millis(100));
}

#[test]
fn a_paused_job_is_never_run_twice_and_a_lock_released_at_claim_is_caught() {
    // w1 claims the job (w2 starts polling later) and is paused mid-job for 5 s: its session
    // keeps the lock, so w2 never runs the job meanwhile.
    let faults = FaultPlan::new()
        .at(Duration::from_millis(500), Fault::pause("w1"))
        .at(Duration::from_millis(5500), Fault::resume("w1"));
    let chaos = Duration::from_secs(6);
    let run = |mutation| {
        let case = lock_case(mutation, faults.clone(), chaos, Duration::from_secs(10));
        case.run(Seed(1))
    };
    let outcome = run(Mutation::None);
    assert_eq!(outcome.failure, None);
    let failure = run(Mutation::LockReleasedAtClaim).failure;
    let failure = failure.expect("a job run twice at once not caught");
    assert_eq!(
        failure.property,
        "jobs: one running job per concurrency key"
    );
}

#[test]
fn a_job_whose_worker_vanished_behind_a_network_loss_waits_for_the_keepalive() {
    // w1 is isolated mid-job, then crashes: its FIN is lost, and the server keeps its session
    // and the job's lock until 7200 s + 9 x 75 s after the last packet.
    let faults = FaultPlan::new()
        .at(Duration::from_millis(600), Fault::isolate("w1"))
        .at(Duration::from_millis(700), Fault::crash("w1"));
    let chaos = Duration::from_secs(3 * 3600);
    let outcome = lock_case(Mutation::None, faults, chaos, Duration::from_secs(10)).run(Seed(1));
    assert_eq!(outcome.failure, None);
    let dead = Duration::from_secs(7200 + 9 * 75);
    let rerun = success_start(&outcome);
    assert!(
        rerun > dead && rerun < dead + Duration::from_secs(2),
        "{rerun:?}"
    );
}

/// No worker; the app enqueues three `org-1` jobs in three transactions and three `org-2`
/// jobs in one, with `enqueue_limit` 2: two of each exist, the third enqueue is dropped.
fn enqueue_limit_case(mutation: Mutation) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let mut limited = kind("Sync", RetryPolicy::default());
        limited.enqueue_limit = Some(2);
        let jobs = queue(world, vec![limited], &[], mutation, 10);
        world.node("app").process("enqueue", move |ctx| {
            let jobs = jobs.clone();
            async move {
                let mut db = jobs.pg.connect(&ctx).await.expect("db up");
                let mut ids = Vec::new();
                for _ in 0..3 {
                    let job = spec("Sync", Some("org-1"), json!({}));
                    ids.push(jobs.enqueue_in(&mut db, &job).await.expect("enqueue"));
                }
                db.begin().await.expect("begin");
                for _ in 0..3 {
                    let job = spec("Sync", Some("org-2"), json!({}));
                    ids.push(jobs.enqueue_in(&mut db, &job).await.expect("enqueue"));
                }
                db.commit().await.expect("commit");
                let dropped = ids.iter().filter(|id| id.is_none()).count();
                ctx.note(format!("app: {dropped} enqueue(s) dropped"));
            }
        });
    };
    let two_per_key = Property::eventually("jobs: two jobs per key", |history| {
        let rows = JobsLog::jobs(&history.service::<PgServer>("db"));
        let count = |key: &str| {
            let of_key = rows
                .iter()
                .filter(|row| row.concurrency_key.as_deref() == Some(key));
            of_key.count()
        };
        let counts = (count("org-1"), count("org-2"));
        Verdict::check(counts == (2, 2), || format!("rows per key {counts:?}"))
    });
    case(
        install,
        vec![two_per_key],
        FaultPlan::new(),
        Duration::from_secs(2),
    )
}

#[test]
fn an_enqueue_over_the_enqueue_limit_is_dropped_and_ignoring_the_limit_is_caught() {
    let outcome = enqueue_limit_case(Mutation::None).run(Seed(1));
    assert_eq!(outcome.failure, None);
    let note = outcome
        .trace
        .events()
        .iter()
        .any(|event| event.detail == "app: 2 enqueue(s) dropped");
    assert!(note, "enqueue_in returns None for a dropped enqueue");
    let unlimited = enqueue_limit_case(Mutation::EnqueueUnlimited).run(Seed(1));
    let failure = unlimited
        .failure
        .expect("an ignored enqueue_limit not caught");
    assert_eq!(failure.property, "jobs: two jobs per key");
}

fn cron_case(mutation: Mutation) -> Case {
    let entry = CronEntry {
        key: "digest".to_string(),
        every: Duration::from_secs(1),
        job: spec("Digest", None, json!({})),
    };
    let properties = vec![
        checks::cron_ticks_once("db", std::slice::from_ref(&entry)),
        all_succeeded(),
    ];
    let install = move |world: &mut WorldBuilder| {
        let kinds = vec![kind("Digest", RetryPolicy::default())];
        let jobs = queue(world, kinds, &["w1"], mutation, 10);
        for scheduler in ["s1", "s2"] {
            jobs.cron(world.node(scheduler), entry.clone());
        }
    };
    case(
        install,
        properties,
        FaultPlan::new(),
        Duration::from_secs(6),
    )
}

#[test]
fn cron_enqueues_each_tick_once_and_unaligned_schedulers_are_caught() {
    let outcome = cron_case(Mutation::None).run(Seed(1));
    assert_eq!(outcome.failure, None);
    let enqueued = outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.detail.starts_with("cron digest enqueued"));
    assert!(enqueued.count() >= 5, "fewer ticks than expected");
    let doubled = cron_case(Mutation::CronUnaligned).run(Seed(1));
    let failure = doubled.failure.expect("duplicate cron ticks not caught");
    assert_eq!(failure.property, "jobs: each cron tick enqueues once");
}
