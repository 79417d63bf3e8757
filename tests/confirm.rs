//! `syncsim confirm`'s machinery: a run's SQL history, written as an isolationtester spec,
//! replays in the simulation with the answers the run's server gave (lock waits, a deadlock,
//! bound parameters, the pinned clock, a connection lost mid-transaction), and on a real
//! PostgreSQL when one is reachable (SYNCSIM_PG_URL or the installed binaries; CI requires
//! it). A tampered answer or statement is reported at its step: the comparison can fail.

use std::time::Duration;

use syncsim::scenarios;
use syncsim::services::pg::{PgConfig, PgHandle, PgServer, Value};
use syncsim::sim::{Case, FaultPlan, Outcome, Seed, WorldBuilder};
use syncsim_conformance::confirm::{confirm, prepare_real, Confirmation};
use syncsim_conformance::history_spec::{write_spec, EmittedSpec, RunSql, SpecOptions};
use syncsim_conformance::outcome::StepResult;
use syncsim_conformance::real_backend::RealDriver;
use syncsim_conformance::server;
use syncsim_conformance::sim_backend::SimDriver;
use syncsim_conformance::spec;

use crate::support::case;
use syncsim::services::pg::PostgresWorld;

const LATENCY: Duration = Duration::from_millis(10);

/// Two clients that deadlock on two rows while a third waits for one of them since before
/// (it holds the row's tuple lock, so the deadlock's cycle runs through it: this run found
/// the simulation's missing tuple-lock queue, spec `tuple-lock-queue`); later a fourth locks
/// a row and drops its connection with the transaction open while a fifth waits for that
/// row; parameters and now() in the writes.
fn contended() -> Case {
    let mut case = case(install, vec![], FaultPlan::new());
    case.phases.chaos = Duration::from_secs(5);
    case.net.latency_min = LATENCY;
    case.net.latency_max = LATENCY;
    case.net.call_timeout = Duration::from_secs(5);
    case
}

fn install(world: &mut WorldBuilder) {
    let pg = world.postgres("db", PgConfig::default());
    pg.setup(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, touched timestamptz);
         INSERT INTO accounts VALUES (1, 0, NULL), (2, 0, NULL)",
    );
    for (node, first, second, delay_millis) in [("a", 1, 2, 0), ("b", 2, 1, 5)] {
        let pg = pg.clone();
        world.node(node).process("transfer", move |ctx| {
            let pg = pg.clone();
            async move {
                ctx.sleep(Duration::from_millis(delay_millis)).await;
                let mut db = pg.connect(&ctx).await.expect("up");
                db.begin().await.expect("begin");
                let update = "UPDATE accounts SET balance = balance + $1, touched = now() \
                              WHERE id = $2";
                let amount = Value::Int4(10);
                let result = async {
                    db.execute(update, &[amount.clone(), Value::Int4(first)])
                        .await?;
                    ctx.sleep(Duration::from_millis(100)).await;
                    db.execute(update, &[amount, Value::Int4(second)]).await?;
                    db.commit().await
                }
                .await;
                if result.is_err() {
                    let _ = db.rollback().await;
                }
            }
        });
    }
    waiter(world, &pg, "c", 60, 1);
    waiter(world, &pg, "e", 2_030, 2);
    dropper(world, &pg);
}

/// Updates row `id` after `delay_millis`, waiting for whoever holds it. (Nothing follows: a
/// statement arriving while a deadlock waits for its `deadlock_timeout` would run, in the
/// spec, after the deadlock is broken; the spec notes such waits.)
fn waiter(world: &mut WorldBuilder, pg: &PgHandle, node: &str, delay_millis: u64, id: i32) {
    let pg = pg.clone();
    world.node(node).process("audit", move |ctx| {
        let pg = pg.clone();
        async move {
            ctx.sleep(Duration::from_millis(delay_millis)).await;
            let mut db = pg.connect(&ctx).await.expect("up");
            let sql = "UPDATE accounts SET touched = now() WHERE id = $1 RETURNING balance";
            let _ = db.query(sql, &[Value::Int4(id)]).await;
        }
    });
}

/// Locks row 2 after the others finished and drops its connection with the lock held.
fn dropper(world: &mut WorldBuilder, pg: &PgHandle) {
    let pg = pg.clone();
    world.node("d").process("abandon", move |ctx| {
        let pg = pg.clone();
        async move {
            ctx.sleep(Duration::from_secs(2)).await;
            let mut db = pg.connect(&ctx).await.expect("up");
            db.begin().await.expect("begin");
            let sql = "UPDATE accounts SET balance = -1 WHERE id = 2";
            db.execute(sql, &[]).await.expect("update");
            ctx.sleep(Duration::from_millis(50)).await;
            drop(db);
            ctx.sleep(Duration::from_millis(50)).await;
            let mut db = pg.connect(&ctx).await.expect("up");
            let read = "SELECT balance FROM accounts WHERE id = $1";
            let _ = db.query(read, &[Value::Text("2".into())]).await;
        }
    });
}

fn emitted(outcome: &Outcome, server: &str) -> EmittedSpec {
    let servers = outcome.services.of_type::<PgServer>();
    let (name, pg) = servers
        .iter()
        .find(|(name, _)| *name == server)
        .expect("the run has the server");
    let run = RunSql::of(name, pg, &outcome.trace);
    write_spec("test", &run, &SpecOptions::default()).expect("the run sent SQL")
}

fn run_on_sim(emitted: &EmittedSpec) -> Confirmation {
    let parsed = spec::parse("test", &emitted.text).expect("the written spec parses");
    let mut sim = SimDriver::with_triggers(emitted.triggers.clone());
    confirm(emitted, &parsed, &mut sim, None).expect("the simulation runs the spec")
}

#[test]
fn a_contended_run_replays_through_its_spec_with_the_same_answers_and_waits() {
    let outcome = contended().run_keeping_services(Seed(3));
    assert_eq!(outcome.failure, None);
    let emitted = emitted(&outcome, "db");
    let waited: Vec<&str> = emitted
        .expected
        .iter()
        .filter(|step| step.waited)
        .map(|step| step.step.as_str())
        .collect();
    assert!(
        waited.len() >= 2,
        "two statements waited in the run: {waited:?}"
    );
    let deadlock = emitted.expected.iter().any(
        |step| matches!(&step.result, Some(StepResult::Error(failure)) if failure.code == "40P01"),
    );
    assert!(deadlock, "the run had a deadlock:\n{}", emitted.text);
    assert!(emitted.text.contains("'10'"), "parameters written in");
    assert!(emitted.text.contains("/* syncsim clock: "), "clock markers");
    assert!(
        emitted.text.contains(" ROLLBACK }"),
        "the dropped connection rolls back"
    );
    let confirmation = run_on_sim(&emitted);
    let differing: Vec<_> = confirmation.differing().collect();
    assert!(confirmation.confirmed(), "{differing:#?}\n{}", emitted.text);
    assert_eq!(confirmation.steps.len(), emitted.expected.len());
    confirm_on_postgres(&emitted);
}

/// On a real server when one is reachable; CI sets SYNCSIM_CONFORMANCE_REQUIRED=1.
fn confirm_on_postgres(emitted: &EmittedSpec) {
    let located = match server::locate() {
        Ok(located) => located,
        Err(reason) if !server::required() => {
            eprintln!("confirm test: no PostgreSQL ({reason}); the simulated side ran alone");
            return;
        }
        Err(reason) => panic!("PostgreSQL required: {reason}"),
    };
    let parsed = spec::parse("test", &emitted.text).expect("parses");
    let mut real = RealDriver::connect(&located.url).expect("connects");
    prepare_real(&mut real, emitted);
    let mut sim = SimDriver::with_triggers(emitted.triggers.clone());
    let confirmation = confirm(emitted, &parsed, &mut sim, Some(&mut real)).expect("runs");
    let differing: Vec<_> = confirmation.differing().collect();
    assert!(confirmation.confirmed(), "{differing:#?}");
}

#[test]
fn a_tampered_answer_or_statement_is_reported_at_its_step() {
    let outcome = contended().run_keeping_services(Seed(3));
    let emitted = emitted(&outcome, "db");
    let position = emitted
        .expected
        .iter()
        .position(|step| matches!(step.result, Some(StepResult::Rows { .. })))
        .expect("a step returned rows");
    let mut tampered = emitted.clone();
    tampered.expected[position].result = Some(StepResult::Affected(7));
    let confirmation = run_on_sim(&tampered);
    let first = confirmation
        .differing()
        .next()
        .expect("the tampered answer differs");
    assert_eq!(first.position, position + 1);
    let mut edited = emitted.clone();
    edited.text = edited
        .text
        .replacen("WHERE id = '2' RETURNING", "WHERE id = '1' RETURNING", 1);
    assert_ne!(edited.text, emitted.text);
    let confirmation = run_on_sim(&edited);
    assert!(
        !confirmation.confirmed(),
        "an edited statement changes an answer"
    );
}

#[test]
fn catalog_failures_replay_through_their_spec_in_the_simulation() {
    // Failing seeds of the catalog's SQL-bearing caught scenarios (README), unshrunk.
    let failures = [
        ("contract_outbox/no_txn/crash", 9),
        ("org_sync/fetch_then_write/same_millisecond", 4),
        ("journey_sessions/start_best_effort", 0),
        ("role_sync/unguarded", 0),
    ];
    for (scenario, seed) in failures {
        let case = scenarios::find(scenario).expect("in the catalog").case();
        let outcome = case.run_keeping_services(Seed(seed));
        assert!(outcome.failure.is_some(), "{scenario} fails on seed {seed}");
        let emitted = emitted(&outcome, "db");
        assert!(
            emitted.statements > 10,
            "{scenario}: {}",
            emitted.statements
        );
        let confirmation = run_on_sim(&emitted);
        let differing: Vec<_> = confirmation.differing().take(3).collect();
        assert!(confirmation.confirmed(), "{scenario}: {differing:#?}");
    }
}
