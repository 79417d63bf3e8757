//! The toy model end to end: a sweep finds the lost update, the fix holds, a replay matches.
//!
//! `counter/unguarded` must fail within its committed seed budget with the `always`
//! property (so the property can fail), and replaying that one seed alone must reproduce the
//! same failure and digest. `counter/compare_and_set` must hold every seed of its budget and
//! hit its `sometimes` mark (the overlap it guards against really happened).

use syncsim::scenarios;
use syncsim::sim::FailureClass;

#[test]
fn the_unguarded_counter_is_caught_and_its_seed_replays_to_the_same_failure() {
    let scenario = scenarios::find("counter/unguarded").expect("in the catalog");
    let sweep = scenario.case().run_seeds(scenario.seeds(), true);
    let found = sweep.failure.expect("a lost update within the budget");
    let failure = found.failure.clone().expect("failed");
    assert_eq!(failure.class, FailureClass::Correctness);
    assert_eq!(failure.property, "counter: no lost update");
    let replayed = scenario.case().run(found.seed);
    assert_eq!(replayed.failure, found.failure);
    assert_eq!(replayed.digest(), found.digest());
}

#[test]
fn the_compare_and_set_counter_holds_and_its_race_really_happened() {
    let scenario = scenarios::find("counter/compare_and_set").expect("in the catalog");
    let sweep = scenario.case().run_seeds(scenario.seeds(), false);
    assert!(
        sweep.failure.is_none(),
        "{:?}",
        sweep.failure.and_then(|outcome| outcome.report())
    );
    assert_eq!(sweep.seeds.len() as u64, scenario.seed_count);
    assert!(
        sweep.uncovered().is_empty(),
        "never hit: {:?}",
        sweep.uncovered()
    );
    let overlaps = sweep.coverage["counter: two workers read the same value"];
    assert!(overlaps >= 3, "the race happened in only {overlaps} runs");
}
