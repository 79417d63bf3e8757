//! A write skew at model level: two doctors on two nodes each check that someone else is on
//! call and take themselves off, through the simulated Postgres over the simulated network.
//! At REPEATABLE READ the check passes on both sides on some seeds and nobody is left on
//! call: the property catches it. At SERIALIZABLE, with the retry on 40001 that PostgreSQL's
//! documentation asks of applications
//! (<https://www.postgresql.org/docs/15/mvcc-serialization-failure-handling.html>), it holds
//! on every seed of the sweep, and the sweep shows the dangerous interleaving happened (a
//! transaction was cancelled and retried).

use syncsim::services::pg::{PgConfig, PgHandle, PgServer, PostgresWorld, Value};
use syncsim::sim::{Ctx, FaultPlan, Outcome, Property, Seed, Verdict, WorldBuilder};

use crate::support::case;

/// Seeds per sweep: enough for the write skew to happen at REPEATABLE READ.
const SEEDS: u64 = 48;

const RETRIED: &str = "test: a doctor retried after 40001";

/// Takes `name` off call if another doctor is on call; at most `attempts` tries, each a
/// fresh transaction at `level` retried on a serialization failure.
async fn go_off_call(ctx: &Ctx, pg: &PgHandle, name: &str, level: &str) {
    let Ok(mut db) = pg.connect(ctx).await else {
        return;
    };
    for _attempt in 0..5 {
        let attempt = async {
            db.execute(&format!("BEGIN ISOLATION LEVEL {level}"), &[])
                .await?;
            let on_call = db
                .query_one("SELECT count(*) FROM doctors WHERE on_call", &[])
                .await?;
            if on_call.get::<i64>("count") >= 2 {
                db.execute(
                    "UPDATE doctors SET on_call = false WHERE name = $1",
                    &[Value::Text(name.to_string())],
                )
                .await?;
            }
            db.commit().await
        };
        match attempt.await {
            Ok(()) => return,
            Err(error) if error.code() == Some("40001") => {
                ctx.mark(RETRIED);
                let _ = db.rollback().await;
            }
            Err(_) => return,
        }
    }
}

fn doctors(level: &'static str) -> impl Fn(&mut WorldBuilder) + Send + Sync + 'static {
    move |world| {
        let pg = world.postgres("db", PgConfig::default());
        pg.setup(
            "CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL);
             INSERT INTO doctors VALUES ('alice', true), ('bob', true)",
        );
        for name in ["alice", "bob"] {
            let pg = pg.clone();
            world.node(name).process("shift", move |ctx| {
                let pg = pg.clone();
                async move { go_off_call(&ctx, &pg, name, level).await }
            });
        }
    }
}

fn run(level: &'static str, seed: u64) -> Outcome {
    let someone_on_call = Property::always("test: a doctor stays on call", |history| {
        let on_call = history
            .service::<PgServer>("db")
            .table_snapshot("doctors")
            .iter()
            .filter(|row| row[1] == Value::Bool(true))
            .count();
        Verdict::check(on_call >= 1, || format!("{on_call} doctors on call"))
    });
    let retried = Property::marked(RETRIED);
    case(
        doctors(level),
        vec![someone_on_call, retried],
        FaultPlan::new(),
    )
    .run(Seed(seed))
}

/// Goal: at REPEATABLE READ the write skew happens on some seed and the property names it.
#[test]
fn write_skew_is_caught_at_repeatable_read() {
    let failed = (0..SEEDS)
        .filter_map(|seed| run("REPEATABLE READ", seed).failure)
        .next()
        .expect("some seed leaves nobody on call");
    assert_eq!(failed.property, "test: a doctor stays on call");
    assert!(
        failed.reason.contains("0 doctors on call"),
        "{}",
        failed.reason
    );
}

/// Goal: at SERIALIZABLE with retries the property holds on every seed, and on some seed a
/// transaction was cancelled with 40001 and retried: the interleaving that broke REPEATABLE
/// READ happened and SSI stopped it.
#[test]
fn write_skew_holds_at_serializable_with_retries() {
    let mut retried = false;
    for seed in 0..SEEDS {
        let outcome = run("SERIALIZABLE", seed);
        assert_eq!(outcome.failure, None, "seed {seed}");
        retried |= outcome.sometimes.get(RETRIED) == Some(&true);
    }
    assert!(
        retried,
        "no seed retried: the dangerous interleaving never happened"
    );
}

const DEFERRED_READ: &str = "test: the DEFERRABLE read returned the safe snapshot's rows";

/// Goal: over the simulated network, a SERIALIZABLE READ ONLY DEFERRABLE read waits for the
/// writable SERIALIZABLE transaction that overlaps it, and its 10 ms `lock_timeout` does not
/// end that wait (it is no lock wait): it returns once the writer commits, on its safe
/// snapshot from before the commit (two on call).
#[test]
fn a_deferrable_read_waits_out_a_writer_past_its_lock_timeout() {
    let install = |world: &mut WorldBuilder| {
        let pg = world.postgres("db", PgConfig::default());
        pg.setup(
            "CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL);
             INSERT INTO doctors VALUES ('alice', true), ('bob', true)",
        );
        let writer = pg.clone();
        world.node("writer").process("shift", move |ctx| {
            let pg = writer.clone();
            async move {
                let mut db = pg.connect(&ctx).await.expect("up");
                db.execute("BEGIN ISOLATION LEVEL SERIALIZABLE", &[])
                    .await
                    .expect("begin");
                db.query("SELECT count(*) FROM doctors", &[])
                    .await
                    .expect("read");
                ctx.sleep(std::time::Duration::from_secs(2)).await;
                db.execute(
                    "UPDATE doctors SET on_call = false WHERE name = 'alice'",
                    &[],
                )
                .await
                .expect("write");
                db.commit().await.expect("commit");
            }
        });
        world.node("report").process("read", move |ctx| {
            let pg = pg.clone();
            async move {
                ctx.sleep(std::time::Duration::from_millis(200)).await;
                let mut db = pg.connect(&ctx).await.expect("up");
                db.execute("SET lock_timeout = '10ms'", &[])
                    .await
                    .expect("set");
                db.execute(
                    "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
                    &[],
                )
                .await
                .expect("begin");
                let row = db
                    .query_one("SELECT count(*) FROM doctors WHERE on_call", &[])
                    .await
                    .expect("the read waits, then runs");
                if row.get::<i64>("count") == 2 {
                    ctx.mark(DEFERRED_READ);
                }
                db.commit().await.expect("commit");
            }
        });
    };
    let no_errors = Property::eventually("test: no statement failed", |history| {
        let server = history.service::<PgServer>("db");
        let codes: Vec<&str> = server
            .statement_errors()
            .iter()
            .map(|logged| logged.error.code())
            .collect();
        Verdict::check(codes.is_empty(), || format!("{codes:?}"))
    });
    let properties = vec![no_errors, Property::marked(DEFERRED_READ)];
    let outcome = case(install, properties, FaultPlan::new()).run(Seed(1));
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.sometimes.get(DEFERRED_READ), Some(&true));
}
