//! Nothing outlives its run: every task is dropped at teardown and memory stays flat.
//!
//! A token is cloned into processes that are still running (or parked on a timer) when the
//! run ends; after the run, only the test's own reference may remain. A long series of cases
//! must not grow the resident memory beyond a small allowance.

use std::sync::Arc;
use std::time::Duration;

use syncsim::scenarios;
use syncsim::sim::{FaultPlan, Seed};

use crate::support::case;

#[test]
fn tasks_still_running_at_the_end_are_dropped_with_everything_they_hold() {
    let token = Arc::new(());
    let held = token.clone();
    let lingering = case(
        move |world| {
            let daemon_token = held.clone();
            world.node("daemon").daemon("forever", move |ctx| {
                let token = daemon_token.clone();
                async move {
                    loop {
                        ctx.sleep(Duration::from_secs(3600)).await;
                        drop(token.clone());
                    }
                }
            });
            let worker_token = held.clone();
            world.node("worker").process("short", move |ctx| {
                let token = worker_token.clone();
                async move {
                    ctx.sleep(Duration::from_millis(5)).await;
                    drop(token);
                }
            });
        },
        vec![],
        FaultPlan::new(),
    );
    for seed in 0..50 {
        let outcome = lingering.run(Seed(seed));
        assert_eq!(outcome.failure, None);
        // The case itself (its install closure) holds one clone; the test holds the other.
        assert_eq!(Arc::strong_count(&token), 2, "a task outlived seed {seed}");
    }
}

// Reads /proc to measure this test process, not simulated code.
#[allow(clippy::disallowed_methods)]
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace()
        .nth(1)
        .expect("a number")
        .parse()
        .expect("kB")
}

#[test]
fn memory_does_not_grow_with_the_number_of_cases() {
    let scenario = scenarios::find("counter/compare_and_set").expect("in the catalog");
    for seed in 0..100 {
        scenario.case().run(Seed(seed));
    }
    let warm_kib = resident_kib();
    for seed in 100..1100 {
        scenario.case().run(Seed(seed));
    }
    let grown_kib = resident_kib().saturating_sub(warm_kib);
    // Other tests run in parallel threads of this process; allow their noise, not 1000 leaks.
    assert!(
        grown_kib < 32 * 1024,
        "resident memory grew by {grown_kib} KiB over 1000 cases"
    );
}
