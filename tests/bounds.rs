//! Bounds and crashes become reported failures with their reason, never hangs or aborts.
//!
//! Each test builds a process that misbehaves in one way (spins, never finishes, burns real
//! time, panics, never converges) and checks the class, the named check and the reason.

use std::time::Duration;

use syncsim::sim::report::bound;
use syncsim::sim::{FailureClass, FaultPlan, Property, Seed, Verdict};

use crate::support::case;

#[test]
fn a_process_spinning_without_yielding_hits_the_event_bound() {
    let spinner = case(
        |world| {
            world.node("spinner").process("spin", |ctx| async move {
                loop {
                    ctx.note("tick");
                }
            });
        },
        vec![],
        FaultPlan::new(),
    );
    let failure = spinner.run(Seed(1)).failure.expect("the event bound fires");
    assert_eq!(failure.class, FailureClass::Liveness);
    assert_eq!(failure.property, bound::EVENTS);
    assert!(
        failure.reason.contains("more than 10000 trace events"),
        "{}",
        failure.reason
    );
}

#[test]
fn a_process_that_never_finishes_hits_the_virtual_time_bound() {
    let sleeper = case(
        |world| {
            world.node("sleeper").process("forever", |ctx| async move {
                loop {
                    ctx.sleep(Duration::from_secs(1)).await;
                }
            });
        },
        vec![],
        FaultPlan::new(),
    );
    let outcome = sleeper.run(Seed(2));
    let failure = outcome.failure.expect("the virtual-time bound fires");
    assert_eq!(failure.class, FailureClass::Liveness);
    assert_eq!(failure.property, bound::VIRTUAL_TIME);
    assert!(
        failure.reason.contains("sleeper/forever"),
        "{}",
        failure.reason
    );
    // madsim charges 50-100ns of virtual time per task poll, so the bound fires just after 10s.
    let late = failure.time.0 - Duration::from_secs(10);
    assert!(late < Duration::from_millis(1), "fired at {}", failure.time);
}

#[test]
fn a_run_burning_real_time_hits_the_wall_clock_bound() {
    let mut burner = case(
        |world| {
            world.node("burner").process("burn", |ctx| async move {
                loop {
                    let mut sum = 0u64;
                    for value in 0..2_000_000u64 {
                        sum = std::hint::black_box(sum.wrapping_add(value));
                    }
                    ctx.note(format!("burnt {sum}"));
                    ctx.sleep(Duration::from_millis(1)).await;
                }
            });
        },
        vec![],
        FaultPlan::new(),
    );
    burner.bounds.wall_max = Duration::from_millis(300);
    burner.bounds.time_max = Duration::from_secs(3600);
    let failure = burner
        .run(Seed(3))
        .failure
        .expect("the wall-clock bound fires");
    assert_eq!(failure.class, FailureClass::Liveness);
    assert_eq!(failure.property, bound::WALL_TIME);
}

#[test]
fn a_panic_in_model_code_is_a_crash_failure_with_the_seed_and_a_replay_command() {
    let panicker = case(
        |world| {
            world.node("worker").process("boom", |ctx| async move {
                ctx.sleep(Duration::from_millis(5)).await;
                panic!("model invariant broken: boom");
            });
        },
        vec![],
        FaultPlan::new(),
    );
    let outcome = panicker.run(Seed(4));
    let report = outcome.report().expect("a panic is a failure");
    assert_eq!(report.failure.class, FailureClass::Crash);
    assert_eq!(report.failure.property, bound::PANIC);
    assert!(
        report.failure.reason.contains("boom"),
        "{}",
        report.failure.reason
    );
    // The report carries the scenario and seed; the CLI words the command from them.
    let replay = syncsim::cli::seed_command(&report.scenario, None, report.seed);
    let text = syncsim::cli::printed(&report, &replay);
    assert!(text.contains("seed 0x0000000000000004"), "{text}");
    assert!(
        text.contains("run test/kernel --seed 0x0000000000000004"),
        "{text}"
    );
}

#[test]
fn an_eventually_property_that_never_holds_is_a_liveness_failure_after_healing() {
    let idle = case(
        |world| {
            world.node("worker").process("idle", |ctx| async move {
                ctx.sleep(Duration::from_millis(5)).await;
            });
        },
        vec![Property::eventually("test: the impossible happens", |_| {
            Verdict::violated("it never does")
        })],
        FaultPlan::new(),
    );
    let failure = idle.run(Seed(5)).failure.expect("eventually fails");
    assert_eq!(failure.class, FailureClass::Liveness);
    assert_eq!(failure.property, "test: the impossible happens");
    assert_eq!(failure.reason, "it never does");
}
