//! One seed, one trace: on fresh threads, in another process, in any test order.
//!
//! Runs the catalog's counter scenarios twice per seed and compares trace digests; runs the
//! CLI in two child processes and compares their digests with the in-process one; and checks
//! that different seeds really explore different interleavings, and that a digest follows
//! what the trace means, not the Rust types that carried it.

use std::collections::BTreeSet;
use std::process::Command;

use std::time::Duration;

use syncsim::scenarios;
use syncsim::sim::fault::RandomFault;
use syncsim::sim::{Caller, Case, FaultPlan, Ratio, RequestFaults, Seed, Service};

#[test]
fn the_same_seed_gives_the_same_trace_on_fresh_threads() {
    for scenario in scenarios::catalog() {
        for seed in 0..6 {
            let result = scenario.case().check_determinism(Seed(seed));
            assert!(
                result.is_ok(),
                "{} seed {seed}: {}",
                scenario.id,
                result.unwrap_err()
            );
        }
    }
}

fn digest_from_cli(scenario: &str, seed: Seed) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_syncsim"))
        .args(["run", scenario, "--seed", &seed.to_string()])
        .output()
        .expect("the syncsim binary runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let line = stdout
        .lines()
        .find(|line| line.starts_with("seed "))
        .unwrap_or_else(|| panic!("no seed line in {stdout}"));
    line.split_whitespace()
        .nth(3)
        .expect("seed S digest D ...")
        .to_string()
}

#[test]
fn the_same_seed_gives_the_same_digest_in_two_other_processes() {
    let scenario = scenarios::find("counter/unguarded").expect("in the catalog");
    let seed = Seed(0x18);
    let in_process = scenario.case().run(seed).digest();
    assert_eq!(digest_from_cli(&scenario.id, seed), in_process);
    assert_eq!(digest_from_cli(&scenario.id, seed), in_process);
}

#[test]
fn different_seeds_explore_different_interleavings() {
    let scenario = scenarios::find("counter/compare_and_set").expect("in the catalog");
    let digests: BTreeSet<String> = (0..20)
        .map(|seed| scenario.case().run(Seed(seed)).digest())
        .collect();
    assert_eq!(
        digests.len(),
        20,
        "seeds 0..20 gave only {} distinct traces",
        digests.len()
    );
}

/// A store's request, version 1.
#[derive(Clone, Debug)]
struct PutV1 {
    key: String,
    value: i64,
}

/// The same request after a refactor renamed both fields: its text for people is the same.
#[derive(Clone, Debug)]
struct PutV2 {
    name: String,
    amount: i64,
}

impl std::fmt::Display for PutV1 {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "put {} = {}", self.key, self.value)
    }
}

impl std::fmt::Display for PutV2 {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "put {} = {}", self.name, self.amount)
    }
}

/// A store that sums what it is sent, generic over the request's Rust type.
struct Summing<R> {
    total: i64,
    amount: fn(&R) -> i64,
}

impl<R: std::fmt::Display + Clone + Send + 'static> Service for Summing<R> {
    type Request = R;
    type Response = i64;

    fn apply(&mut self, _caller: Caller<'_>, request: R) -> i64 {
        self.total += (self.amount)(&request);
        self.total
    }

    fn crash(&mut self) {}
}

/// The digest of a run where two clients put 1..=3 into a summing store, each request made
/// by `request(client, value)`, under the plan's request faults.
fn digest_of<R>(request: fn(&str, i64) -> R, amount: fn(&R) -> i64, seed: Seed) -> String
where
    R: std::fmt::Display + Clone + Send + 'static,
{
    Case::quick("test/renamed-field", move |world| {
        let store = world.service("store", Summing { total: 0, amount });
        for client in ["a", "b"] {
            let store = store.clone();
            world.node(client).process("put", move |ctx| {
                let store = store.clone();
                async move {
                    for value in 1..=3 {
                        let _ = ctx.call(&store, request(client, value)).await;
                    }
                }
            });
        }
    })
    .faults(
        FaultPlan::new().random(RandomFault::Requests(RequestFaults {
            reject_probability: Ratio::new(1, 5),
            reply_lost_probability: Ratio::new(1, 5),
            duplicate_probability: Ratio::new(1, 5),
            delay_probability: Ratio::new(1, 5),
            delay_max: Duration::from_millis(300),
            targets: Vec::new(),
        })),
    )
    .run(seed)
    .digest()
}

#[test]
fn renaming_a_field_of_a_request_type_leaves_digests_unchanged() {
    let v1 = |client: &str, value| PutV1 {
        key: client.to_string(),
        value,
    };
    let v2 = |client: &str, value| PutV2 {
        name: client.to_string(),
        amount: value,
    };
    assert_ne!(format!("{:?}", v1("a", 1)), format!("{:?}", v2("a", 1)));
    let mut distinct = BTreeSet::new();
    for seed in 0..8 {
        let before = digest_of(v1, |put| put.value, Seed(seed));
        assert_eq!(
            before,
            digest_of(v2, |put| put.amount, Seed(seed)),
            "seed {seed}"
        );
        distinct.insert(before);
    }
    assert!(distinct.len() > 1, "the seeds explored different runs");
    // The digest does see the request's meaning: another key is another trace.
    let other = |client: &str, value| PutV1 {
        key: format!("{client}-other"),
        value,
    };
    assert_ne!(
        digest_of(v1, |put| put.value, Seed(0)),
        digest_of(other, |put| put.value, Seed(0))
    );
}
