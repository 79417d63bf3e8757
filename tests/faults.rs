//! Node faults do what their names say: crash drops requests and loses non-durable state,
//! restart reruns a node's processes, pause holds requests until resume, heal restores all.
//!
//! Each test drives a tiny model with a timed fault and reads the outcome from the trace and
//! from what the process observed (recorded as notes).

use std::time::Duration;

use syncsim::services::register::{Register, RegisterRequest};
use syncsim::sim::{Ack, Caller, EventKind, Fault, FaultPlan, Outcome, Seed, Service};

use crate::support::case;
use syncsim::services::pg::PostgresWorld;

fn get() -> RegisterRequest {
    RegisterRequest::Get {
        key: "k".to_string(),
    }
}

fn notes(outcome: &Outcome) -> Vec<String> {
    outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.kind == EventKind::Note)
        .map(|event| format!("{} {}", event.time, event.detail))
        .collect()
}

/// One client calls the store once at 20ms and notes the result.
fn one_call(faults: FaultPlan) -> Outcome {
    case(
        |world| {
            let store = world.service("store", Register::default());
            world.node("client").process("call", move |ctx| {
                let store = store.clone();
                async move {
                    ctx.sleep(Duration::from_millis(20)).await;
                    let result = ctx.call(&store, get()).await;
                    ctx.note(format!("{result:?}"));
                }
            });
        },
        vec![],
        faults,
    )
    .run(Seed(9))
}

#[test]
fn a_request_to_a_crashed_service_is_lost_and_times_out() {
    let outcome = one_call(FaultPlan::new().at(Duration::from_millis(10), Fault::crash("store")));
    assert_eq!(outcome.failure, None);
    let notes = notes(&outcome);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].ends_with("Err(Timeout)"), "{notes:?}");
    assert!(
        notes[0].starts_with("0.220000s"),
        "the timeout is 200ms after the send: {notes:?}"
    );
    let dropped = outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.kind == EventKind::Drop)
        .count();
    assert_eq!(dropped, 1);
}

#[test]
fn a_request_to_a_paused_service_waits_for_resume() {
    let faults = FaultPlan::new()
        .at(Duration::from_millis(10), Fault::pause("store"))
        .at(Duration::from_millis(100), Fault::resume("store"));
    let outcome = one_call(faults);
    let notes = notes(&outcome);
    assert!(notes[0].ends_with("Ok(Value(0))"), "{notes:?}");
    let answered_at = outcome
        .trace
        .events()
        .iter()
        .find(|event| event.kind == EventKind::Apply);
    let answered_at = answered_at.expect("applied after resume").time.0;
    assert!(
        answered_at >= Duration::from_millis(100),
        "applied at {answered_at:?}"
    );
}

#[test]
fn a_crashed_worker_restarts_from_scratch_at_heal() {
    let outcome = case(
        |world| {
            world.node("worker").process("work", |ctx| async move {
                ctx.note("begin");
                ctx.sleep(Duration::from_millis(50)).await;
                ctx.note("end");
            });
        },
        vec![],
        FaultPlan::new().at(Duration::from_millis(10), Fault::crash("worker")),
    )
    .run(Seed(10));
    assert_eq!(outcome.failure, None);
    let notes: Vec<String> = notes(&outcome)
        .into_iter()
        .map(|note| note[10..].to_string())
        .collect();
    assert_eq!(
        notes,
        vec!["begin", "begin", "end"],
        "crash cut the first attempt"
    );
    let starts = outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.kind == EventKind::Start)
        .count();
    assert_eq!(starts, 2, "booted once, restarted once by the heal phase");
}

#[test]
fn a_planned_outage_lasts_as_planned_after_the_workload_is_done() {
    // The client is done at about 20 ms; the pause planned for 300..700 ms must still run,
    // ended by its own resume at 700 ms, not dropped (nor ended early by the heal phase).
    let faults = FaultPlan::new()
        .at(Duration::from_millis(300), Fault::pause("store"))
        .at(Duration::from_millis(700), Fault::resume("store"));
    let outcome = one_call(faults);
    assert_eq!(outcome.failure, None);
    let applied: Vec<String> = outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.kind == EventKind::Fault)
        .map(|event| format!("{} {}", event.time, event.detail))
        .collect();
    assert_eq!(
        applied,
        vec!["0.300000s pause store", "0.700000s resume store"],
        "both planned faults ran at their times"
    );
}

/// A service that keeps only volatile state: a crash forgets it.
#[derive(Default)]
struct Volatile {
    seen_count: u64,
}

/// A request that says only that it came.
#[derive(Clone, Copy)]
struct Ping;

impl std::fmt::Display for Ping {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ping")
    }
}

impl Service for Volatile {
    type Request = Ping;
    type Response = u64;

    fn apply(&mut self, _caller: Caller<'_>, _request: Ping) -> u64 {
        self.seen_count += 1;
        self.seen_count
    }

    fn crash(&mut self) {
        self.seen_count = 0;
    }
}

#[test]
fn a_crash_keeps_only_what_the_service_keeps_durably() {
    let faults = FaultPlan::new()
        .at(Duration::from_millis(150), Fault::crash("cache"))
        .at(Duration::from_millis(160), Fault::restart("cache"));
    let outcome = case(
        |world| {
            let cache = world.service("cache", Volatile::default());
            world.node("client").process("count", move |ctx| {
                let cache = cache.clone();
                async move {
                    for _ in 0..3 {
                        let seen = ctx.call(&cache, Ping).await;
                        ctx.note(format!("{seen:?}"));
                        ctx.sleep(Duration::from_millis(100)).await;
                    }
                }
            });
        },
        vec![],
        faults,
    )
    .run(Seed(11));
    let seen: Vec<String> = notes(&outcome)
        .iter()
        .map(|note| note[10..].to_string())
        .collect();
    assert_eq!(
        seen,
        vec!["Ok(1)", "Ok(2)", "Ok(1)"],
        "the crash at 150ms reset the count"
    );
}

/// A service that says when the run's world let it go.
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Service for DropFlag {
    type Request = Ping;
    type Response = Ack;

    fn apply(&mut self, _caller: Caller<'_>, _request: Ping) -> Ack {
        Ack
    }

    fn crash(&mut self) {}
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn nothing_of_a_run_outlives_it_not_even_a_servers_kernel_timer() {
    // A Postgres connection starts the server kernel's keepalive task, parked for two hours
    // of virtual time when the run ends: unless the run kills its node, the task keeps the
    // whole world (this service with it) alive after the run, a leak of every seed's state.
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    let outcome = case(
        move |world| {
            world.service("flag", DropFlag(flag.clone()));
            let db = world.postgres("db", syncsim::services::pg::PgConfig::default());
            world.node("client").process("query", move |ctx| {
                let db = db.clone();
                async move {
                    let mut conn = db.connect(&ctx).await.expect("the server is up");
                    conn.query("SELECT 1", &[]).await.expect("a query");
                    ctx.note("queried");
                }
            });
        },
        vec![],
        FaultPlan::new(),
    )
    .run(Seed(12));
    assert_eq!(outcome.failure, None);
    assert_eq!(notes(&outcome).len(), 1, "the client queried");
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the run's world outlived it"
    );
}
