//! Dead connections, end to end on the virtual clock: a client on node `holder` takes an
//! advisory lock inside an open transaction and keeps its connection; a client on `waiter`
//! tries the lock every 10 s. Each test applies one fault plan to `holder` and reads from the
//! trace when the server closed the holder's session and when the waiter got the lock.
//!
//! What each one pins: a crash with the link up frees the lock at once (the FIN arrives); a
//! crash behind an isolation keeps it for the keepalive's 7200 s + 9 x 75 s; a rejoin after
//! the FIN retransmissions ended frees it at the first keepalive probe (reset); a rejoin while
//! they still run frees it at the next retransmission; a live holder isolated past the
//! keepalive loses its session and is answered with a reset after the rejoin.

use std::time::Duration;

use crate::pg::PostgresWorld;
use crate::pg::{DbError, PgConfig, PgHandle};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::fault::{Fault, FaultPlan};
use syncsim_sim::run::{Bounds, Case, Outcome};
use syncsim_sim::seed::Seed;
use syncsim_sim::world::{NetConfig, WorldBuilder};

/// The default keepalive: first probe after 7200 s, then 9 probes 75 s apart.
const KEEPALIVE_DEAD: Duration = Duration::from_secs(7200 + 9 * 75);
const WAITER_POLL: Duration = Duration::from_secs(10);
/// The waiter's process ends here (5 h 30 min), after the holder's last statement at 5 h.
const WAITER_END: Duration = Duration::from_secs(5 * 3600 + 1800);

/// The database, a holder of advisory lock 7 and a waiter for it.
fn install(world: &mut WorldBuilder) {
    let pg = world.postgres("db", PgConfig::default());
    let holder_pg = pg.clone();
    world
        .node("holder")
        .daemon("hold", move |ctx| hold(ctx, holder_pg.clone()));
    world
        .node("waiter")
        .process("wait", move |ctx| wait(ctx, pg.clone()));
}

/// At the start only, takes advisory lock 7 in an open transaction, then keeps the
/// connection for 5 h, then tries one more statement and notes how it ended.
async fn hold(ctx: Ctx, pg: PgHandle) {
    if ctx.now().0 > Duration::from_secs(1) {
        // Restarted after a crash: the holder's part is over.
        return;
    }
    let Ok(mut db) = pg.connect(&ctx).await else {
        return;
    };
    if db.begin().await.is_err() || db.execute("SELECT pg_advisory_lock(7)", &[]).await.is_err() {
        return;
    }
    ctx.note("holder: lock taken");
    ctx.sleep(Duration::from_secs(5 * 3600)).await;
    let outcome = db.execute("SELECT 1", &[]).await;
    ctx.note(format!("holder: after 5 h: {outcome:?}"));
}

/// Tries advisory lock 7 every `WAITER_POLL` until it gets it; ends at `WAITER_END`.
async fn wait(ctx: Ctx, pg: PgHandle) {
    ctx.sleep(Duration::from_millis(500)).await;
    let mut db = pg.connect(&ctx).await.expect("the waiter's link works");
    loop {
        let row = db
            .query_one("SELECT pg_try_advisory_lock(7) AS locked", &[])
            .await
            .expect("the waiter's link works");
        if row.get::<bool>("locked") {
            ctx.note("waiter: lock acquired");
            break;
        }
        if ctx.now().0 > WAITER_END {
            ctx.note("waiter: gave up");
            return;
        }
        ctx.sleep(WAITER_POLL).await;
    }
    // The run heals and ends once every workload process is done: keep it going past the
    // holder's last statement.
    ctx.sleep(WAITER_END.saturating_sub(ctx.now().0)).await;
}

/// Runs `faults` in a chaos phase of `chaos` (the heal that follows rejoins and restarts
/// every node), then heals until 6 h.
fn run(faults: FaultPlan, chaos: Duration) -> Outcome {
    let case = Case::quick("pg/keepalive", install)
        .faults(faults)
        .phases(chaos, Duration::from_secs(6 * 3600) - chaos)
        .bounds(Bounds {
            events_max: 100_000,
            time_max: Duration::from_secs(7 * 3600),
            wall_max: Duration::from_secs(60),
        })
        .net(NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            call_timeout: Duration::from_millis(500),
        });
    let outcome = case.run(Seed(3));
    assert_eq!(outcome.failure, None, "{}", outcome.trace.render());
    outcome
}

/// The time of the first trace line containing `needle`.
fn first(outcome: &Outcome, needle: &str) -> Option<Duration> {
    outcome
        .trace
        .events()
        .iter()
        .find(|event| event.to_string().contains(needle))
        .map(|event| event.time.0)
}

fn acquired(outcome: &Outcome) -> Duration {
    first(outcome, "waiter: lock acquired").expect("the waiter gets the lock")
}

#[test]
fn a_crash_with_the_link_up_frees_the_lock_at_once() {
    let faults = FaultPlan::new().at(Duration::from_secs(2), Fault::crash("holder"));
    let outcome = run(faults, Duration::from_secs(200));
    assert!(acquired(&outcome) < Duration::from_secs(2) + WAITER_POLL * 2);
}

#[test]
fn a_crash_behind_an_isolation_keeps_the_lock_until_the_keepalive_gives_up() {
    let faults = FaultPlan::new()
        .at(Duration::from_secs(1), Fault::isolate("holder"))
        .at(Duration::from_secs(2), Fault::crash("holder"));
    let outcome = run(faults, Duration::from_secs(3 * 3600));
    let closed = first(&outcome, "keepalive probes unanswered").expect("the keepalive closes it");
    // Last heard at the lock's reply, a few ms after the start.
    assert!(closed >= KEEPALIVE_DEAD && closed < KEEPALIVE_DEAD + Duration::from_secs(1));
    let acquired = acquired(&outcome);
    assert!(acquired >= closed && acquired < closed + WAITER_POLL * 2);
}

#[test]
fn a_rejoin_after_the_fin_retransmissions_frees_the_lock_at_the_first_probe() {
    let faults = FaultPlan::new()
        .at(Duration::from_secs(1), Fault::isolate("holder"))
        .at(Duration::from_secs(2), Fault::crash("holder"))
        .at(Duration::from_secs(150), Fault::rejoin("holder"));
    let outcome = run(faults, Duration::from_secs(3 * 3600));
    let idle = Duration::from_secs(7200);
    let closed = first(&outcome, "answered by a reset").expect("the probe finds it gone");
    assert!(closed >= idle && closed < idle + Duration::from_secs(1));
    assert!(acquired(&outcome) < closed + WAITER_POLL * 2);
}

#[test]
fn a_rejoin_while_the_fin_is_retransmitted_frees_the_lock_at_the_next_retransmission() {
    let faults = FaultPlan::new()
        .at(Duration::from_secs(1), Fault::isolate("holder"))
        .at(Duration::from_secs(2), Fault::crash("holder"))
        .at(Duration::from_secs(10), Fault::rejoin("holder"));
    let outcome = run(faults, Duration::from_secs(3 * 3600));
    // Retransmissions at 0.2, 0.6, 1.4, 3.0, 6.2, 12.6 s after the close: 12.6 s is the first
    // after the rejoin.
    let closed = first(&outcome, "retransmitted FIN arrived").expect("the FIN gets through");
    let expected = Duration::from_millis(2000 + 12_600);
    assert!(closed >= expected && closed < expected + Duration::from_millis(1));
    assert!(acquired(&outcome) < closed + WAITER_POLL * 2);
}

#[test]
fn a_live_client_isolated_past_the_keepalive_loses_its_session_and_gets_a_reset() {
    let faults = FaultPlan::new()
        .at(Duration::from_secs(1), Fault::isolate("holder"))
        .at(Duration::from_secs(3 * 3600), Fault::rejoin("holder"));
    let outcome = run(faults, Duration::from_secs(4 * 3600));
    let closed = first(&outcome, "keepalive probes unanswered").expect("the keepalive closes it");
    assert!(closed >= KEEPALIVE_DEAD && closed < KEEPALIVE_DEAD + Duration::from_secs(1));
    assert!(acquired(&outcome) < closed + WAITER_POLL * 2);
    let reset = format!("{:?}", Err::<u64, _>(DbError::ConnectionLost));
    assert!(first(&outcome, &format!("holder: after 5 h: {reset}")).is_some());
    assert!(first(&outcome, "session closed by the server: reset").is_some());
}

#[test]
fn a_live_client_isolated_shorter_than_the_keepalive_keeps_its_session() {
    let faults = FaultPlan::new()
        .at(Duration::from_secs(1), Fault::isolate("holder"))
        .at(Duration::from_secs(3600), Fault::rejoin("holder"));
    let outcome = run(faults, Duration::from_secs(2 * 3600));
    // The first probe (at 7200 s) is answered: the idle time starts again, nothing closes.
    assert_eq!(first(&outcome, "keepalive probes unanswered"), None);
    assert!(first(&outcome, "holder: after 5 h: Ok(1)").is_some());
    // The lock is freed only when the holder's process ends, after 5 h.
    assert!(acquired(&outcome) >= Duration::from_secs(5 * 3600));
}
