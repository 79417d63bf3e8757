//! Reviewable snapshots of what users read: a short canonical trace and a failure report.
//!
//! A change in scheduling, latency draws or rendering shows up here as a diff to review.
//! Accept a deliberate change with `INSTA_UPDATE=always cargo test` (CI never writes them).

use syncsim::scenarios;
use syncsim::sim::Seed;

#[test]
fn trace_of_compare_and_set_on_seed_1() {
    let scenario = scenarios::find("counter/compare_and_set").expect("in the catalog");
    let outcome = scenario.case().run(Seed(1));
    assert_eq!(outcome.failure, None);
    insta::assert_snapshot!(outcome.trace.render());
}

#[test]
fn report_of_the_first_lost_update_found_by_the_committed_budget() {
    let scenario = scenarios::find("counter/unguarded").expect("in the catalog");
    let sweep = scenario.case().run_seeds(scenario.seeds(), true);
    let outcome = sweep.failure.expect("the budget catches the lost update");
    let report = outcome.report().expect("failed");
    let replay = syncsim::cli::seed_command(&report.scenario, None, report.seed);
    insta::assert_snapshot!(syncsim::cli::printed(&report, &replay));
}
