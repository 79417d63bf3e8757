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

fn config_of(kinds: Vec<JobKind>, claim_batch_size_max: u32) -> JobsConfig {
    JobsConfig {
        poll_interval: POLL,
        lock_timeout: LOCK_TIMEOUT,
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
    ];
    for (mutation, property) in expected {
        let failure = retry_case(mutation, 3).run(Seed(1)).failure;
        let failure = failure.unwrap_or_else(|| panic!("{mutation:?} not caught"));
        assert_eq!(failure.property, property, "{mutation:?}: {failure:?}");
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
    let properties = vec![checks::one_running_per_key("jobs"), all_succeeded()];
    case(
        install,
        properties,
        FaultPlan::new(),
        Duration::from_secs(10),
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

#[test]
fn the_key_limit_holds_and_catches_claims_that_skip_the_check_or_its_lock() {
    for seed in 1..=5 {
        assert_eq!(
            concurrency_case(Mutation::None).run(Seed(seed)).failure,
            None
        );
    }
    let unchecked = concurrency_case(Mutation::ConcurrencyUnchecked).run(Seed(1));
    let failure = unchecked.failure.expect("unchecked keys not caught");
    assert_eq!(
        failure.property,
        "jobs: one running job per concurrency key"
    );
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
    let properties = vec![
        checks::crashed_jobs_rerun("jobs"),
        checks::crash_mid_job("jobs"),
        all_succeeded(),
    ];
    case(install, properties, faults, Duration::from_secs(10))
}

#[test]
fn a_crashed_job_reruns_and_a_lease_that_never_expires_is_caught() {
    let outcome = crash_case(Mutation::None).run(Seed(1));
    assert_eq!(outcome.failure, None);
    assert_eq!(
        outcome.sometimes.get("jobs: a worker crashed mid-job"),
        Some(&true)
    );
    let stuck = crash_case(Mutation::LeaseNeverExpires).run(Seed(1));
    let failure = stuck.failure.expect("a stuck lease not caught");
    assert_eq!(
        failure.property,
        "jobs: a crashed job runs again after its lease"
    );
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
