//! Section "time-to-bug": for every selected `caught` scenario, from each of several starting
//! seeds, the seeds and wall time until the first failing run (one core, seeds upward from
//! the start), then the time to shrink a failure and its size before and after. Starting
//! seeds are `i * 1,000,000` so no two searches share a seed. A search gives up after
//! [`seed_count_max`] seeds; a start that found nothing is counted, not hidden.

use crate::scenarios::{shrink, Expectation, ScenarioSpec};
use crate::sim::{Outcome, Seed};

use super::markdown::Table;
use super::stats::{number, Spread};
use super::Settings;

use crate::cli::{Stopwatch, SHRINK_RUN_COUNT_MAX};

/// Distance between two starting seeds.
const START_STRIDE: u64 = 1_000_000;

/// How far one search goes: twenty times the committed budget, at least a thousand seeds.
fn seed_count_max(scenario: &ScenarioSpec) -> u64 {
    (scenario.seed_count * 20).max(1_000)
}

/// One search from one starting seed.
struct Search {
    seed_count: u64,
    wall_s: f64,
    failure: Option<Outcome>,
}

fn search(scenario: &ScenarioSpec, start: u64) -> Search {
    let case = scenario.case();
    let stopwatch = Stopwatch::start();
    let mut seed_count = 0;
    while seed_count < seed_count_max(scenario) {
        let outcome = case.run(Seed(start + seed_count));
        seed_count += 1;
        if outcome.failure.is_some() {
            return Search {
                seed_count,
                wall_s: stopwatch.elapsed().as_secs_f64(),
                failure: Some(outcome),
            };
        }
    }
    Search {
        seed_count,
        wall_s: stopwatch.elapsed().as_secs_f64(),
        failure: None,
    }
}

/// What shrinking the failures of one scenario did.
struct Shrinks {
    wall_ms: Vec<f64>,
    run_counts: Vec<f64>,
    faults: Vec<(usize, usize)>,
    events: Vec<(usize, usize)>,
}

fn shrink_failures(scenario: &ScenarioSpec, failures: &[&Outcome]) -> Shrinks {
    let mut shrinks = Shrinks {
        wall_ms: Vec::new(),
        run_counts: Vec::new(),
        faults: Vec::new(),
        events: Vec::new(),
    };
    for failure in failures {
        let stopwatch = Stopwatch::start();
        let shrunk = shrink::shrink(scenario, failure, SHRINK_RUN_COUNT_MAX);
        shrinks
            .wall_ms
            .push(stopwatch.elapsed().as_secs_f64() * 1e3);
        shrinks.run_counts.push(f64::from(shrunk.run_count));
        shrinks.faults.push(shrunk.fault_count);
        shrinks.events.push(shrunk.event_count);
    }
    shrinks
}

/// `a -> b` pairs, joined.
fn pairs(values: &[(usize, usize)]) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    let shown: Vec<String> = values
        .iter()
        .map(|(before, after)| format!("{before} -> {after}"))
        .collect();
    shown.join(", ")
}

/// The section's Markdown body.
pub fn section(scenarios: &[ScenarioSpec], settings: &Settings) -> String {
    let mut table = Table::new(&[
        "scenario",
        "found",
        "seeds to failure, median (worst)",
        "wall ms to failure, median (worst)",
        "shrink ms",
        "shrink runs",
        "timed faults before -> after",
        "trace events before -> after",
    ]);
    let caught = scenarios
        .iter()
        .filter(|scenario| scenario.expectation == Expectation::Caught);
    for scenario in caught {
        let searches: Vec<Search> = (0..u64::from(settings.starts))
            .map(|index| search(scenario, index * START_STRIDE))
            .collect();
        let found: Vec<&Search> = searches
            .iter()
            .filter(|search| search.failure.is_some())
            .collect();
        let seeds: Vec<f64> = found
            .iter()
            .map(|search| search.seed_count as f64)
            .collect();
        let wall_ms: Vec<f64> = found.iter().map(|search| search.wall_s * 1e3).collect();
        let failures: Vec<&Outcome> = found
            .iter()
            .filter_map(|search| search.failure.as_ref())
            .take(settings.shrinks as usize)
            .collect();
        let shrinks = shrink_failures(scenario, &failures);
        let worst = |spread: Spread| format!("{} ({})", number(spread.median), number(spread.max));
        table.row(vec![
            scenario.id.clone(),
            format!("{}/{}", found.len(), searches.len()),
            worst(Spread::of(&seeds)),
            worst(Spread::of(&wall_ms)),
            Spread::of(&shrinks.wall_ms).show(),
            number(Spread::of(&shrinks.run_counts).median),
            pairs(&shrinks.faults),
            pairs(&shrinks.events),
        ]);
        eprintln!("bench time-to-bug: {} done", scenario.id);
    }
    format!(
        "From {} starting seeds (`i * {START_STRIDE}`) per scenario, one core: seeds run and \
         wall time until the first failure; a search gives up after max(1000, 20 x the \
         committed budget) seeds (`found` counts the searches that failed a run). Then the \
         first {} failure(s) per scenario shrunk (at most {SHRINK_RUN_COUNT_MAX} candidate \
         runs each): wall time median (min..max), candidate runs, and the plan's timed faults \
         and the trace's events before and after.\n\n{}",
        settings.starts,
        settings.shrinks,
        table.render()
    )
}
