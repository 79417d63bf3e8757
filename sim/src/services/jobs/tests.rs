//! Whole runs of the queue with a deliberate bug switched on, one per check, to show each
//! check of `tests/jobs.rs` can fail: the same properties pass on the correct queue and
//! catch the mutated one. Workers run a handler driven by the job's arguments:
//! `{"sleep_ms": n, "fail": "Kind", "fail_times": k}` sleeps, then fails with `Kind` while
//! `execution <= k`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::fault::{Fault, FaultPlan};
use crate::history::History;
use crate::model::Model;
use crate::prng::Ratio;
use crate::property::{Property, Verdict};
use crate::run::{Bounds, Case, Phases};
use crate::seed::Seed;
use crate::services::pg::{PgConfig, PgServer};
use crate::world::NetConfig;

const POLL: Duration = Duration::from_millis(200);
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

type Install = Arc<dyn Fn(&mut WorldBuilder) + Send + Sync>;

struct TestModel {
    install: Install,
    properties: Vec<Property>,
}

impl Model for TestModel {
    fn name(&self) -> &str {
        "jobs"
    }

    fn install(&self, world: &mut WorldBuilder) {
        (self.install)(world);
    }

    fn properties(&self) -> Vec<Property> {
        self.properties.clone()
    }
}

fn kind(name: &str, retry: RetryPolicy) -> JobKind {
    JobKind {
        name: name.to_string(),
        retry,
        perform_limit: 1,
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
    let config = JobsConfig {
        poll_interval: POLL,
        lock_timeout: LOCK_TIMEOUT,
        claim_batch_size_max,
        kinds,
    };
    let mut jobs = world.jobs("jobs", &pg, config);
    jobs.set_mutation(mutation);
    for worker in workers {
        jobs.worker(world.node(worker), &[], handle);
    }
    jobs
}

async fn handle(ctx: Ctx, job: Job) -> Result<(), JobError> {
    let sleep_ms = job.args["sleep_ms"].as_u64().unwrap_or(0);
    ctx.sleep(Duration::from_millis(sleep_ms)).await;
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
    Case {
        scenario: "jobs/unit".to_string(),
        model: Arc::new(TestModel {
            install: Arc::new(install),
            properties,
        }),
        faults,
        phases: Phases {
            chaos: Duration::from_secs(1),
            heal,
        },
        bounds: Bounds {
            events_max: 200_000,
            time_max: heal + Duration::from_secs(10),
            wall_max: Duration::from_secs(60),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            call_timeout: Duration::from_millis(500),
        },
    }
}

fn log(history: &History) -> std::sync::MutexGuard<'_, JobsLog> {
    history.service::<JobsLog>("jobs")
}

/// Attempts of job 1 are `attempts` in all, the row failed with the last error, and each gap
/// between attempts lies within the formula's bounds plus the claim's overhead.
pub(super) fn retry_property(attempts: u32, wait: Wait) -> Property {
    Property::eventually(
        "jobs: retries wait by the formula and stop at the limit",
        move |h| {
            let gaps = log(h).gaps_of(1);
            let rows = JobsLog::jobs(&h.service::<PgServer>("db"));
            let Some(row) = rows.first() else {
                return Verdict::violated("no job row");
            };
            let count_ok = gaps.len() + 1 == attempts as usize;
            let failed = row.outcome.as_deref() == Some("failed")
                && row.error.as_deref() == Some(&format!("Timeout: execution {attempts}")[..]);
            let bad_gaps: Vec<(usize, Duration)> = gaps
                .iter()
                .enumerate()
                .filter(|(index, gap)| {
                    let execution = u32::try_from(*index).unwrap_or(0) + 1;
                    let (base, jitter_max) = wait_bounds(&wait, execution, Ratio::new(15, 100));
                    // A retry is claimed by the first poll after its time, plus round trips.
                    let slack = POLL + Duration::from_millis(100);
                    !(base..base + jitter_max + slack).contains(gap)
                })
                .map(|(index, gap)| (index, *gap))
                .collect();
            Verdict::check(count_ok && failed && bad_gaps.is_empty(), || {
                format!("gaps {gaps:?}, off the formula {bad_gaps:?}; row {row:?}")
            })
        },
    )
}

fn retry_case(mutation: Mutation, attempts: u32, wait: Wait) -> Case {
    let property = retry_property(attempts, wait.clone());
    let install = move |world: &mut WorldBuilder| {
        let policy = RetryPolicy::default().retry_on("Timeout", wait.clone(), attempts);
        let jobs = queue(
            world,
            vec![kind("Push", policy)],
            &["w1", "w2"],
            mutation,
            10,
        );
        let args = json!({"sleep_ms": 50, "fail": "Timeout", "fail_times": 99});
        enqueue_all(world, &jobs, vec![spec("Push", None, args)]);
    };
    case(
        install,
        vec![property],
        FaultPlan::new(),
        Duration::from_secs(40),
    )
}

#[test]
fn retry_checks_pass_on_the_queue_and_catch_a_wrong_wait_and_an_extra_attempt() {
    let wait = Wait::PolynomiallyLonger;
    assert_eq!(
        retry_case(Mutation::None, 3, wait.clone())
            .run(Seed(1))
            .failure,
        None
    );
    for mutation in [Mutation::WaitOffByOne, Mutation::OneMoreAttempt] {
        let failure = retry_case(mutation, 3, wait.clone()).run(Seed(1)).failure;
        let failure = failure.unwrap_or_else(|| panic!("{mutation:?} not caught"));
        assert_eq!(
            failure.property,
            "jobs: retries wait by the formula and stop at the limit"
        );
    }
}

/// Claims lock one candidate row each, so two workers may hold two rows of one key at once
/// and only the advisory lock keeps them from both claiming.
fn concurrency_case(mutation: Mutation) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let kinds = vec![kind("Sync", RetryPolicy::default())];
        let jobs = queue(world, kinds, &["w1", "w2", "w3"], mutation, 1);
        let keys = ["org-1", "org-1", "org-2", "org-1", "org-3", "org-1"];
        let specs = keys
            .iter()
            .map(|key| spec("Sync", Some(key), json!({"sleep_ms": 300})))
            .collect();
        enqueue_all(world, &jobs, specs);
    };
    case(
        install,
        vec![key_limit()],
        FaultPlan::new(),
        Duration::from_secs(10),
    )
}

/// No two attempts with the same key overlap, and every job succeeded.
pub(super) fn key_limit() -> Property {
    Property::eventually("jobs: one running job per concurrency key", |history| {
        let log = log(history);
        let overlaps: Vec<(i64, i64)> = log
            .overlapping_keys()
            .iter()
            .map(|(first, second)| (first.job, second.job))
            .collect();
        let rows = JobsLog::jobs(&history.service::<PgServer>("db"));
        let done = rows
            .iter()
            .filter(|row| row.outcome.as_deref() == Some("succeeded"));
        Verdict::check(overlaps.is_empty() && done.count() == rows.len(), || {
            format!("overlapping jobs {overlaps:?}; rows {rows:?}")
        })
    })
}

#[test]
fn the_key_limit_holds_and_catches_claims_that_skip_the_check_or_its_lock() {
    for seed in 1..=5 {
        assert_eq!(
            concurrency_case(Mutation::None).run(Seed(seed)).failure,
            None
        );
    }
    let unchecked = concurrency_case(Mutation::ConcurrencyUnchecked).run(Seed(1));
    assert!(unchecked.failure.is_some(), "unchecked keys not caught");
    let caught = (1..=20)
        .filter(|seed| {
            let outcome = concurrency_case(Mutation::ConcurrencyUnlocked).run(Seed(*seed));
            outcome.failure.is_some()
        })
        .count();
    assert!(
        caught > 0,
        "the unlocked claim race was never caught in 20 seeds"
    );
}

fn crash_case(mutation: Mutation) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let kinds = vec![kind("Sync", RetryPolicy::default())];
        let jobs = queue(world, kinds, &["w1", "w2"], mutation, 10);
        enqueue_all(
            world,
            &jobs,
            vec![spec("Sync", None, json!({"sleep_ms": 1000}))],
        );
    };
    // The job is claimed by about 250 ms and runs 1 s: crash both workers mid-job at 600 ms,
    // bring one back at 700 ms.
    let faults = FaultPlan::new()
        .at(Duration::from_millis(600), Fault::crash("w1"))
        .at(Duration::from_millis(600), Fault::crash("w2"))
        .at(Duration::from_millis(700), Fault::restart("w2"));
    case(
        install,
        vec![rerun_after_lease()],
        faults,
        Duration::from_secs(10),
    )
}

/// Job 1's first attempt was cut short by a crash, a second one started after its lease ran
/// out and succeeded.
pub(super) fn rerun_after_lease() -> Property {
    Property::eventually(
        "jobs: a crashed job runs again after its lease",
        |history| {
            let log = log(history);
            let attempts = log.attempts_of(1);
            let rerun = match attempts.as_slice() {
                [first, second] => {
                    first.end.is_none()
                        && second.started >= first.lease_until
                        && second.end.as_ref().is_some_and(|end| end.error.is_none())
                }
                _ => false,
            };
            Verdict::check(rerun, || format!("attempts {attempts:?}"))
        },
    )
}

#[test]
fn a_crashed_job_reruns_and_a_lease_that_never_expires_is_caught() {
    assert_eq!(crash_case(Mutation::None).run(Seed(1)).failure, None);
    let stuck = crash_case(Mutation::LeaseNeverExpires).run(Seed(1));
    assert!(stuck.failure.is_some(), "a stuck lease not caught");
}

fn cron_case(mutation: Mutation) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let kinds = vec![kind("Digest", RetryPolicy::default())];
        let jobs = queue(world, kinds, &["w1"], mutation, 10);
        let entry = CronEntry {
            key: "digest".to_string(),
            every: Duration::from_secs(1),
            job: spec("Digest", None, json!({})),
        };
        for scheduler in ["s1", "s2"] {
            jobs.cron(world.node(scheduler), entry.clone());
        }
    };
    case(
        install,
        vec![cron_once_per_tick()],
        FaultPlan::new(),
        Duration::from_secs(6),
    )
}

/// Cron rows sit on distinct whole seconds, one per tick, and all ran.
pub(super) fn cron_once_per_tick() -> Property {
    Property::eventually("jobs: each cron tick enqueues once", |history| {
        let rows = JobsLog::jobs(&history.service::<PgServer>("db"));
        let ticks: Vec<i64> = rows.iter().filter_map(|row| row.cron_at_micros).collect();
        let aligned = ticks.iter().all(|tick| tick % 1_000_000 == 0);
        let distinct = ticks.windows(2).all(|pair| pair[0] < pair[1]);
        let ran = log(history).attempts().len() + 1 >= ticks.len();
        Verdict::check(ticks.len() >= 5 && aligned && distinct && ran, || {
            format!("ticks {ticks:?}")
        })
    })
}

#[test]
fn cron_enqueues_each_tick_once_and_unaligned_schedulers_are_caught() {
    assert_eq!(cron_case(Mutation::None).run(Seed(1)).failure, None);
    let doubled = cron_case(Mutation::CronUnaligned).run(Seed(1));
    assert!(doubled.failure.is_some(), "duplicate cron ticks not caught");
}
