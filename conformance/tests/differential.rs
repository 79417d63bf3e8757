//! Differential random testing: generated scripts (conformance::generate) run on the
//! simulation and on a live PostgreSQL must give the same log; a difference shrinks to a
//! minimal script, printed in the `.spec` format.
//!
//! Budget: SYNCSIM_CONFORMANCE_CASES scripts (default 160; CI uses the default, ask for more
//! locally), seed SYNCSIM_CONFORMANCE_SEED (default 1), so a run is repeatable.

use std::cell::RefCell;

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use syncsim_conformance::compare::first_difference;
use syncsim_conformance::generate::{script, spec_text, Script};
use syncsim_conformance::outcome::{render, StepResult};
use syncsim_conformance::runner::{run_spec, BackendError, Driver, Settled};
use syncsim_conformance::sim_backend::SimDriver;
use syncsim_conformance::spec::Spec;

use crate::support::with_server;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

fn runner(cases: u64, seed: u64) -> TestRunner {
    let config = Config {
        cases: u32::try_from(cases).unwrap_or(u32::MAX),
        max_shrink_iters: 400,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed_bytes = [0_u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    )
}

/// Runs `script` on both drivers; a difference (or a backend error) fails the case.
fn differ(
    left: &mut dyn Driver,
    right: &mut dyn Driver,
    script: &Script,
) -> Result<(), TestCaseError> {
    let spec = script.to_spec("generated");
    let run = |driver: &mut dyn Driver| {
        run_spec(driver, &spec)
            .map(|logs| render(&logs))
            .map_err(|error| TestCaseError::fail(format!("backend error: {error}")))
    };
    let (sim, real) = (run(left)?, run(right)?);
    match first_difference(&sim, &real) {
        None => Ok(()),
        Some(difference) => Err(TestCaseError::fail(format!(
            "{difference}\n-- script\n{}\n-- sim\n{sim}\n-- other\n{real}",
            spec_text(&spec)
        ))),
    }
}

/// Runs the property over the budget; returns the shrunk failure message, if any.
fn search(runner: &mut TestRunner, other: &mut dyn Driver) -> Option<String> {
    let other = RefCell::new(other);
    let result = runner.run(&script(3), |script| {
        differ(&mut SimDriver::default(), *other.borrow_mut(), &script)
    });
    match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, _)) => Some(reason.to_string()),
        Err(TestError::Abort(reason)) => Some(format!("aborted: {reason}")),
    }
}

#[test]
fn random_scripts_agree_with_a_live_server() {
    let cases = env_number("SYNCSIM_CONFORMANCE_CASES", 160);
    let seed = env_number("SYNCSIM_CONFORMANCE_SEED", 1);
    with_server("differential", |driver| {
        if let Some(failure) = search(&mut runner(cases, seed), driver) {
            panic!("simulated and real PostgreSQL differ (seed {seed}), shrunk:\n{failure}");
        }
    });
}

/// A simulated server with a planted bug: UPDATE counts one row too many.
struct MiscountingSim(SimDriver, Vec<bool>);

impl Driver for MiscountingSim {
    fn start(
        &mut self,
        spec: &Spec,
    ) -> Result<Vec<syncsim_conformance::outcome::Event>, BackendError> {
        self.1 = spec.sessions.iter().map(|_| false).collect();
        self.0.start(spec)
    }
    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError> {
        self.1[session] = sql.starts_with("UPDATE");
        self.0.issue(session, sql)
    }
    fn settle(&mut self) -> Result<Settled, BackendError> {
        let mut settled = self.0.settle()?;
        for (session, result) in &mut settled.finished {
            if let (true, StepResult::Affected(count)) = (self.1[*session], &mut *result) {
                *count += 1;
            }
        }
        Ok(settled)
    }
    fn finish(
        &mut self,
        spec: &Spec,
    ) -> Result<Vec<syncsim_conformance::outcome::Event>, BackendError> {
        self.0.finish(spec)
    }
}

/// The differential search is able to fail: against a simulation with a planted bug it finds
/// a difference within the CI budget and shrinks it to the smallest script the generator can
/// make: two sessions (the minimum) of one step each, plus the observer.
#[test]
fn a_planted_bug_is_found_and_shrunk() {
    let mut buggy = MiscountingSim(SimDriver::default(), Vec::new());
    let failure = search(&mut runner(48, 1), &mut buggy).expect("the planted bug is found");
    let script = failure.split("-- script\n").nth(1).unwrap_or_default();
    let steps = script
        .lines()
        .filter(|line| line.starts_with("step "))
        .count();
    assert!(steps <= 3, "shrunk to {steps} steps:\n{failure}");
    assert!(script.contains("UPDATE"), "{failure}");
}

/// The simulation agrees with itself on every generated script (the determinism the recorded
/// logs rely on).
#[test]
fn the_simulation_agrees_with_itself() {
    assert_eq!(search(&mut runner(64, 7), &mut SimDriver::default()), None);
}

/// SQLSTATE 40001 answered for read/write dependencies (SSI), not for a concurrent update.
fn ssi_failures(logs: &[syncsim_conformance::outcome::PermutationLog]) -> usize {
    logs.iter()
        .flat_map(|log| {
            log.text(true)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.contains("40001") && line.contains("read/write dependencies"))
        .count()
}

/// The generator reaches SERIALIZABLE's dangerous structures: among 400 scripts run on the
/// simulation alone (the scripts of the CI budget and more), some transaction is cancelled
/// for read/write dependencies, so the differential search compares that path with the real
/// server too. Measured: 7, 2 and 13 cancellations in 1,000 scripts for seeds 1 to 3; 1 to
/// 6 in 400 for seeds 1 to 6 (2 for seed 1).
#[test]
fn generated_scripts_reach_serializable_failures() {
    // A fixed seed: another seed's 400 scripts may meet none without anything wrong.
    let mut runner = runner(400, 1);
    let mut failures = 0;
    for _ in 0..400 {
        let tree = proptest::strategy::Strategy::new_tree(&script(3), &mut runner).expect("tree");
        let spec = proptest::strategy::ValueTree::current(&tree).to_spec("generated");
        let logs = run_spec(&mut SimDriver::default(), &spec).expect("the simulation runs it");
        failures += ssi_failures(&logs);
    }
    assert!(
        failures > 0,
        "no generated script met a SERIALIZABLE cancellation"
    );
}
