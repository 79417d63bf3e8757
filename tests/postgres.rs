//! The simulated Postgres on a node: statements are round trips on the virtual clock, lock
//! waits park the caller until the holder ends, deadlocks and lock timeouts fire on virtual
//! time, crashes roll back open transactions and turn an in-flight COMMIT into "outcome
//! unknown", and properties read the committed rows.
//!
//! Each test runs a tiny world with a fixed 10 ms one-way latency, so the instants in the
//! assertions follow from the schedule written in the test.

use std::time::Duration;

use syncsim::services::pg::{DbError, PgConfig, PgConnection, PgHandle, PgServer, Value};
use syncsim::sim::{
    Case, Ctx, Episodes, EventKind, Fault, FaultPlan, Outcome, Property, RandomFault, Ratio,
    RequestFaults, Seed, Verdict, WorldBuilder,
};

use crate::support::case;
use syncsim::services::pg::PostgresWorld;

const LATENCY: Duration = Duration::from_millis(10);

fn pg_case(
    install: impl Fn(&mut WorldBuilder) + Send + Sync + 'static,
    properties: Vec<Property>,
    faults: FaultPlan,
) -> Case {
    let mut case = case(install, properties, faults);
    case.phases.chaos = Duration::from_secs(5);
    case.net.latency_min = LATENCY;
    case.net.latency_max = LATENCY;
    case.net.call_timeout = Duration::from_secs(3);
    case
}

fn database(world: &mut WorldBuilder) -> PgHandle {
    let pg = world.postgres("db", PgConfig::default());
    pg.setup(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
         INSERT INTO accounts VALUES (1, 0), (2, 0)",
    );
    pg
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

fn trace_has(outcome: &Outcome, needle: &str) -> bool {
    outcome
        .trace
        .events()
        .iter()
        .any(|event| event.detail.contains(needle))
}

async fn connect(ctx: &Ctx, pg: &PgHandle) -> PgConnection {
    pg.connect(ctx).await.expect("the server is up")
}

#[test]
fn a_blocked_update_waits_for_the_holder_and_rechecks_its_where_clause() {
    let outcome = pg_case(
        |world| {
            let pg = database(world);
            let holder = pg.clone();
            world.node("a").process("hold", move |ctx| {
                let pg = holder.clone();
                async move {
                    let mut db = connect(&ctx, &pg).await;
                    db.begin().await.expect("begin");
                    db.execute("UPDATE accounts SET balance = 1 WHERE id = 1", &[])
                        .await
                        .expect("update");
                    ctx.sleep(Duration::from_millis(100)).await;
                    db.commit().await.expect("commit");
                    ctx.note("a committed");
                }
            });
            world.node("b").process("wait", move |ctx| {
                let pg = pg.clone();
                async move {
                    ctx.sleep(Duration::from_millis(50)).await;
                    let mut db = connect(&ctx, &pg).await;
                    let sql = "UPDATE accounts SET balance = 2 WHERE id = 1 AND balance = 0";
                    let updated = db.execute(sql, &[]).await;
                    ctx.note(format!("b updated {updated:?}"));
                }
            });
        },
        vec![],
        FaultPlan::new(),
    )
    .run(Seed(1));
    assert_eq!(outcome.failure, None);
    let notes = notes(&outcome);
    // a: connect 0-20, BEGIN 20-40, UPDATE 40-60 (row locked at 50), sleep to 160, COMMIT
    // reaches the server at 170. b: connect 50-70, UPDATE arrives at 80 and waits until 170,
    // then re-checks `balance = 0` against a's committed row and updates nothing.
    assert_eq!(
        notes,
        vec![
            "0.180000s a committed".to_string(),
            "0.180000s b updated Ok(0)".to_string(),
        ]
    );
    // Session 1 ran the setup script; the connections are sessions 2 and 3.
    assert!(trace_has(&outcome, "conn#3 waits for conn#2"));
}

fn deadlock_world(world: &mut WorldBuilder) {
    let pg = database(world);
    for (node, first, second) in [("a", 1, 2), ("b", 2, 1)] {
        let pg = pg.clone();
        world.node(node).process("transfer", move |ctx| {
            let pg = pg.clone();
            async move {
                let mut db = connect(&ctx, &pg).await;
                db.begin().await.expect("begin");
                let sql = "UPDATE accounts SET balance = balance + 1 WHERE id = $1";
                db.execute(sql, &[first.into()]).await.expect("first row");
                let second = db.execute(sql, &[second.into()]).await;
                let code = second.as_ref().err().and_then(DbError::code);
                ctx.note(format!("{} second row: {:?}", ctx.node(), code));
                let _ = db.commit().await;
            }
        });
    }
}

#[test]
fn a_deadlock_aborts_one_transaction_with_40p01_after_deadlock_timeout() {
    let logged = Property::eventually("test: the server logged the deadlock", |history| {
        let server = history.service::<PgServer>("db");
        let codes: Vec<(&str, &str)> = server
            .statement_errors()
            .iter()
            .map(|logged| (logged.error.code(), logged.sql.as_str()))
            .collect();
        let sql = "UPDATE accounts SET balance = balance + 1 WHERE id = $1";
        Verdict::check(codes == [("40P01", sql)], || format!("{codes:?}"))
    });
    let outcome = pg_case(deadlock_world, vec![logged], FaultPlan::new()).run(Seed(2));
    assert_eq!(outcome.failure, None);
    let notes = notes(&outcome);
    assert_eq!(notes.len(), 2, "{notes:?}");
    let victims: Vec<&String> = notes.iter().filter(|note| note.contains("40P01")).collect();
    assert_eq!(victims.len(), 1, "exactly one victim: {notes:?}");
    // Both second updates reach the server at 70 ms; the first waiter checks at 1.07 s.
    assert!(victims[0].starts_with("1.080000s"), "{notes:?}");
    let winner = notes
        .iter()
        .find(|note| !note.contains("40P01"))
        .expect("a winner");
    assert!(winner.ends_with("second row: None"), "{notes:?}");
}

#[test]
fn a_lock_timeout_cancels_the_wait_with_55p03_on_virtual_time() {
    let outcome = lock_then_update(FaultPlan::new(), Some("SET lock_timeout = '250ms'"));
    // b: connect 150-170, SET 170-190, UPDATE waits from 200 to 450, reply at 460.
    let expected = "0.460000s b updated Err(Some(\"55P03\"))";
    assert_eq!(notes(&outcome), vec![expected.to_string()]);
}

/// Whether the accounts table holds the row with id 3, read from the server's ground truth.
fn row_3_committed(history: &syncsim::sim::History) -> bool {
    let server = history.service::<PgServer>("db");
    server
        .table_snapshot("accounts")
        .iter()
        .any(|row| row[0] == Value::Int4(3))
}

/// One client inserts row 3 in a transaction and notes how each step ended; the server
/// crashes at `crash_ms` and comes back 5 ms later. The property states whether row 3 must be
/// committed at the end.
fn commit_under_crash(crash_ms: u64, committed: bool) -> Outcome {
    // connect 0-20, BEGIN 20-40, INSERT 40-60, COMMIT sent at 60, applied at 70, reply at 80.
    let faults = FaultPlan::new()
        .at(Duration::from_millis(crash_ms), Fault::crash("db"))
        .at(Duration::from_millis(crash_ms + 5), Fault::restart("db"));
    let expectation = Property::eventually("test: row 3 committed as expected", move |history| {
        let found = row_3_committed(history);
        Verdict::check(found == committed, || format!("row 3 committed: {found}"))
    });
    pg_case(
        |world| {
            let pg = database(world);
            world.node("client").process("insert", move |ctx| {
                let pg = pg.clone();
                async move {
                    let mut db = connect(&ctx, &pg).await;
                    db.begin().await.expect("begin");
                    let insert = db.execute("INSERT INTO accounts VALUES (3, 30)", &[]).await;
                    ctx.note(format!("insert: {insert:?}"));
                    let commit = db.commit().await;
                    ctx.note(format!("commit: {commit:?}"));
                }
            });
        },
        vec![expectation],
        faults,
    )
    .run(Seed(4))
}

fn ends(notes: &[String]) -> Vec<&str> {
    notes
        .iter()
        .map(|note| note.split_once(' ').expect("time, then text").1)
        .collect()
}

#[test]
fn a_crash_before_the_commit_arrives_rolls_back_and_the_client_cannot_tell() {
    let outcome = commit_under_crash(65, false);
    assert_eq!(outcome.failure, None);
    let notes = notes(&outcome);
    assert_eq!(
        ends(&notes),
        ["insert: Ok(1)", "commit: Err(OutcomeUnknown)"]
    );
}

#[test]
fn a_crash_after_the_commit_ran_keeps_it_and_the_client_cannot_tell() {
    let outcome = commit_under_crash(75, true);
    assert_eq!(outcome.failure, None);
    let notes = notes(&outcome);
    assert_eq!(
        ends(&notes),
        ["insert: Ok(1)", "commit: Err(OutcomeUnknown)"]
    );
}

#[test]
fn the_committed_row_check_reads_the_server_and_can_fail() {
    let outcome = commit_under_crash(75, false);
    let failure = outcome.failure.expect("row 3 is committed");
    assert_eq!(failure.property, "test: row 3 committed as expected");
}

#[test]
fn a_crash_mid_transaction_loses_the_connection_and_nothing_of_it_survives() {
    // The INSERT reaches the server at 50, after the crash (45) and restart (50): the new
    // server does not know the session. The COMMIT then fails at once on the broken connection.
    let outcome = commit_under_crash(45, false);
    assert_eq!(outcome.failure, None);
    let notes = notes(&outcome);
    assert_eq!(
        ends(&notes),
        ["insert: Err(ConnectionLost)", "commit: Err(ConnectionLost)"]
    );
}

/// Node `a` locks row 1 and sleeps 2 s; node `b` connects at 150 ms, runs `setting` if any,
/// updates row 1 and notes when and how that ended.
fn lock_then_update(faults: FaultPlan, setting: Option<&'static str>) -> Outcome {
    pg_case(
        move |world| {
            let pg = database(world);
            let holder = pg.clone();
            world.node("a").daemon("hold", move |ctx| {
                let pg = holder.clone();
                async move {
                    let mut db = connect(&ctx, &pg).await;
                    db.begin().await.expect("begin");
                    let sql = "SELECT * FROM accounts WHERE id = 1 FOR UPDATE";
                    db.query(sql, &[]).await.expect("lock");
                    ctx.sleep(Duration::from_secs(2)).await;
                    db.commit().await.expect("commit");
                }
            });
            world.node("b").process("update", move |ctx| {
                let pg = pg.clone();
                async move {
                    ctx.sleep(Duration::from_millis(150)).await;
                    let mut db = connect(&ctx, &pg).await;
                    if let Some(setting) = setting {
                        db.execute(setting, &[]).await.expect("SET");
                    }
                    let sql = "UPDATE accounts SET balance = 7 WHERE id = 1";
                    let updated = db.execute(sql, &[]).await;
                    let updated = updated.map_err(|error| error.code());
                    ctx.note(format!("b updated {updated:?}"));
                }
            });
        },
        vec![],
        faults,
    )
    .run(Seed(5))
}

#[test]
fn a_client_crash_closes_its_session_and_releases_its_locks() {
    let held = lock_then_update(FaultPlan::new(), None);
    // a commits at 2.07 s (its SELECT ended at 60 ms, then 2 s of sleep and a 10 ms trip).
    assert_eq!(notes(&held), vec!["2.080000s b updated Ok(1)".to_string()]);
    let crashed = lock_then_update(
        FaultPlan::new().at(Duration::from_millis(100), Fault::crash("a")),
        None,
    );
    // b: connect 150-170, UPDATE arrives at 180 and finds no lock holder.
    assert_eq!(
        notes(&crashed),
        vec!["0.190000s b updated Ok(1)".to_string()]
    );
    assert!(trace_has(&crashed, "closed: open transaction rolled back"));
}

/// Three workers move money between the two accounts in random order, retrying through
/// every error, while the server crashes and replies get lost or delayed. With `atomic` off
/// each transfer is two autocommit statements, so a crash between them loses money.
fn chaos_world(world: &mut WorldBuilder, atomic: bool) {
    let pg = database(world);
    for node in ["w1", "w2", "w3"] {
        let pg = pg.clone();
        world.node(node).process("transfers", move |ctx| {
            let pg = pg.clone();
            async move {
                for _ in 0..5 {
                    let Ok(mut db) = pg.connect(&ctx).await else {
                        continue;
                    };
                    let (from, to) =
                        ctx.random(|prng| if prng.index(2) == 0 { (1, 2) } else { (2, 1) });
                    let _ = transfer(&mut db, from, to, atomic).await;
                }
            }
        });
    }
}

async fn transfer(db: &mut PgConnection, from: i32, to: i32, atomic: bool) -> Result<(), DbError> {
    if atomic {
        db.begin().await?;
    }
    let sql = "UPDATE accounts SET balance = balance + $2 WHERE id = $1";
    db.execute(sql, &[from.into(), (-1).into()]).await?;
    db.execute(sql, &[to.into(), 1.into()]).await?;
    if atomic {
        db.commit().await?;
    }
    Ok(())
}

fn chaos_case(atomic: bool) -> Case {
    let crashes = Episodes {
        nodes: vec!["db".to_string()],
        probability_per_sec: Ratio::new(1, 2),
        duration_min: Duration::from_millis(10),
        duration_max: Duration::from_millis(300),
        stability: Duration::from_millis(500),
    };
    let requests = RequestFaults {
        reply_lost_probability: Ratio::new(1, 20),
        delay_probability: Ratio::new(1, 5),
        delay_max: Duration::from_millis(50),
        targets: Vec::new(),
        ..RequestFaults::default()
    };
    let faults = FaultPlan::new()
        .random(RandomFault::CrashRestart(crashes))
        .random(RandomFault::Requests(requests));
    let money_is_conserved = Property::always("test: transfers conserve money", |history| {
        let server = history.service::<PgServer>("db");
        let total: i32 = server
            .table_snapshot("accounts")
            .iter()
            .map(|row| match row[1] {
                Value::Int4(balance) => balance,
                _ => 0,
            })
            .sum();
        Verdict::check(total == 0, || format!("total balance {total}"))
    });
    let install = move |world: &mut WorldBuilder| chaos_world(world, atomic);
    let mut case = pg_case(install, vec![money_is_conserved], faults);
    case.net.latency_min = Duration::from_millis(1);
    case.net.latency_max = Duration::from_millis(20);
    case
}

#[test]
fn under_crashes_and_lost_replies_transactions_stay_atomic_and_runs_replay() {
    let case = chaos_case(true);
    let mut waits = 0;
    let mut unknown_outcomes = 0;
    for seed in 0..12 {
        let outcome = case.run(Seed(seed));
        assert_eq!(outcome.failure, None, "seed {seed}");
        waits += usize::from(trace_has(&outcome, "waits for"));
        unknown_outcomes += usize::from(trace_has(&outcome, "connection lost"));
    }
    assert!(
        waits > 0 && unknown_outcomes > 0,
        "waits {waits}, lost {unknown_outcomes}"
    );
    for seed in [Seed(0), Seed(7)] {
        let digest = case.check_determinism(seed);
        assert!(digest.is_ok(), "seed {seed}: {digest:?}");
    }
}

#[test]
fn the_atomicity_check_catches_transfers_split_across_two_commits() {
    let case = chaos_case(false);
    let caught = (0..12).find_map(|seed| case.run(Seed(seed)).failure);
    let failure = caught.expect("a crash between the two updates loses money in 12 seeds");
    assert_eq!(failure.property, "test: transfers conserve money");
}

/// The README's example, verbatim.
async fn claim(ctx: &Ctx, pg: &PgHandle) -> Result<(), DbError> {
    let mut db = pg.connect(ctx).await?;
    db.begin().await?;
    let sql = "SELECT id FROM jobs WHERE state = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
    if let Some(job) = db.query_opt(sql, &["new".into()]).await? {
        let id: i64 = job.get("id");
        db.execute("UPDATE jobs SET state = 'done' WHERE id = $1", &[id.into()])
            .await?;
    }
    db.commit().await // Err(DbError::OutcomeUnknown) if the server crashed meanwhile
}

#[test]
fn the_readme_job_claim_runs_and_skip_locked_never_waits() {
    let all_done = Property::eventually("test: every job is done", |history| {
        let server = history.service::<PgServer>("db");
        let states: Vec<Value> = server
            .table_snapshot("jobs")
            .into_iter()
            .map(|row| row[1].clone())
            .collect();
        let done = states.iter().all(|state| *state == Value::from("done"));
        Verdict::check(done, || format!("job states {states:?}"))
    });
    let outcome = pg_case(
        |world| {
            let pg = world.postgres("db", PgConfig::default());
            pg.setup(
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'new');
                 INSERT INTO jobs (state) VALUES ('new'), ('new'), ('new')",
            );
            for node in ["worker-0", "worker-1", "worker-2"] {
                let pg = pg.clone();
                world.node(node).process("claim", move |ctx| {
                    let pg = pg.clone();
                    async move {
                        let claimed = claim(&ctx, &pg).await;
                        ctx.note(format!("{claimed:?}"));
                    }
                });
            }
        },
        vec![all_done],
        FaultPlan::new(),
    )
    .run(Seed(6));
    assert_eq!(outcome.failure, None);
    assert_eq!(notes(&outcome).len(), 3);
    assert!(
        !trace_has(&outcome, "waits for"),
        "{}",
        outcome.trace.render()
    );
}

/// Writer `node` updates account `id` at once and commits after `hold`.
fn writer(world: &mut WorldBuilder, pg: &PgHandle, node: &str, id: i32, hold: Duration) {
    let pg = pg.clone();
    world.node(node).process("write", move |ctx| {
        let pg = pg.clone();
        async move {
            let mut db = connect(&ctx, &pg).await;
            db.begin().await.expect("begin");
            let sql = format!("UPDATE accounts SET balance = balance + 1 WHERE id = {id}");
            db.execute(&sql, &[]).await.expect("update");
            ctx.sleep(hold).await;
            db.commit().await.expect("commit");
        }
    });
}

#[test]
fn the_commit_log_orders_two_writers_by_virtual_commit_time_and_names_each_client() {
    let outcome = pg_case(
        |world| {
            let pg = database(world);
            writer(world, &pg, "slow", 1, Duration::from_millis(300));
            writer(world, &pg, "fast", 2, Duration::from_millis(50));
        },
        vec![],
        FaultPlan::new(),
    )
    .run_keeping_services(Seed(3));
    assert_eq!(outcome.failure, None);
    // When the server applied each client's COMMIT, as the trace shows it.
    let applied: Vec<(String, u64)> = outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.kind == EventKind::Apply && event.detail.ends_with(" COMMIT"))
        .map(|event| {
            let client = event.peer.clone().expect("a client");
            (client, event.time.0.as_micros() as u64)
        })
        .collect();
    let servers = outcome.services.of_type::<PgServer>();
    let server = &servers[0].1;
    let committed: Vec<(String, u64)> = server
        .commit_log()
        .iter()
        .filter(|txn| !txn.client.is_empty())
        .map(|txn| (txn.client.clone(), txn.committed_at_micros))
        .collect();
    assert_eq!(committed, applied);
    let clients: Vec<&str> = committed
        .iter()
        .map(|(client, _)| client.as_str())
        .collect();
    assert_eq!(clients, ["fast", "slow"], "the fast writer committed first");
    let setup = &server.commit_log()[0];
    assert!(
        setup.client.is_empty(),
        "the setup script has no client: {setup:?}"
    );
}
