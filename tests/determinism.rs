//! One seed, one trace: on fresh threads, in another process, in any test order.
//!
//! Runs the catalog's counter scenarios twice per seed and compares trace digests; runs the
//! CLI in two child processes and compares their digests with the in-process one; and checks
//! that different seeds really explore different interleavings.

use std::collections::BTreeSet;
use std::process::Command;

use syncsim::scenarios;
use syncsim::sim::Seed;

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
