//! Tests written to kill mutants that `cargo mutants` left alive in
//! `scenarios/src/shrink.rs` (MUTANTS.md, "Shrinking"). Each pins one promise of `shrink`
//! that no other test observed.

use syncsim::scenarios::{self, shrink};

/// `shrink` tries at most `run_count_max` candidates (its doc, and the CLI's
/// `SHRINK_RUN_COUNT_MAX` budget, which bounds how long a failing run takes to report), and
/// what it returns still fails the same property on the same seed. With a budget far below
/// what the search wants (the swarm failure has many faults to drop), every budget is used
/// up exactly.
/// Kills `shrink.rs` `shrink`: `<` → `<=` in the inner `run_count < run_count_max`, which
/// ran one candidate past the budget.
#[test]
fn shrinking_tries_exactly_its_budget_of_candidates_when_the_search_wants_more() {
    let scenario = scenarios::find("counter/unguarded/swarm").expect("in the catalog");
    let sweep = scenario.case().run_seeds(scenario.seeds(), true);
    let failed = sweep.failure.expect("the budget catches it");
    let property = failed.failure.clone().expect("failed").property;
    assert!(failed.plan.timed.len() > 5, "the swarm drew faults to drop");
    for run_count_max in 0..=5 {
        let shrunk = shrink::shrink(&scenario, &failed, run_count_max);
        assert_eq!(shrunk.run_count, run_count_max);
        let still = shrunk.outcome.failure.as_ref().expect("still fails");
        assert_eq!(still.property, property, "budget {run_count_max}");
        // Why: the result is a run of the returned spec, so it replays.
        assert_eq!(
            shrunk.spec.case().run(failed.seed).digest(),
            shrunk.outcome.digest()
        );
    }
}
