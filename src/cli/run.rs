//! `syncsim run`: one scenario (a catalog id, or a scenario file with `--file`) on one seed or
//! a range; a failure is shrunk, written as a replay file, and reported with the one command
//! that replays it.

use std::collections::BTreeMap;

use crate::scenarios::{self, ScenarioSpec};
use crate::sim::{Outcome, SeedRange};

use super::args::RunArgs;
use super::{record_failure, replay_file_command, Stopwatch, Usage};

/// Runs the seeds; exit code 1 on a failure.
pub fn run(arguments: &RunArgs) -> Result<u8, Usage> {
    let (scenario, file) = match (&arguments.scenario, &arguments.file) {
        (Some(id), _) => super::find_scenario(id, arguments.dir.as_deref())?,
        (None, Some(path)) => (
            scenarios::file::load(path).map_err(Usage)?,
            Some(path.clone()),
        ),
        (None, None) => unreachable!("clap requires a scenario or --file"),
    };
    let seeds = match (&arguments.seed, &arguments.seeds) {
        (Some(seed), _) => SeedRange::one(*seed),
        (None, Some(seeds)) => *seeds,
        (None, None) => scenario.seed_range(),
    };
    let stopwatch = Stopwatch::start();
    let mut last: Option<Outcome> = None;
    let mut ran_count = 0;
    // For each `sometimes` property, the runs that hit it: a pass means little without it.
    let mut coverage: BTreeMap<String, u64> = BTreeMap::new();
    for seed in seeds {
        // The first seed always runs: a budget shorter than one run still runs one.
        let spent = arguments
            .budget
            .is_some_and(|budget| stopwatch.elapsed() >= budget);
        if ran_count > 0 && spent {
            say!("budget spent after {ran_count} seed(s)");
            break;
        }
        let outcome = scenario.case().run(seed);
        ran_count += 1;
        for (name, hit) in &outcome.sometimes {
            *coverage.entry(name.clone()).or_default() += u64::from(*hit);
        }
        let failed = outcome.failure.is_some();
        let mark = if failed { " FAILED" } else { "" };
        say!(
            "seed {} digest {} events {}{mark}",
            seed,
            outcome.digest(),
            outcome.trace.len()
        );
        last = Some(outcome);
        if failed {
            break;
        }
    }
    let last = last.expect("at least one seed ran");
    if arguments.trace {
        for line in last.trace.lines() {
            say!("{line}");
        }
    }
    if last.failure.is_none() {
        say!("{ran_count} seed(s) of {} passed", scenario.id);
        for (name, hits) in &coverage {
            say!("  sometimes {hits:>5}/{ran_count} run(s)  {name}");
        }
        return Ok(0);
    }
    let seed_command = super::seed_command(&scenario.id, file.as_deref(), last.seed);
    report_failure(&scenario, &last, !arguments.no_shrink, &seed_command);
    Ok(1)
}

/// Shrinks, writes the replay file and prints the report of a failed run: the report is
/// printed even when the file cannot be written, and the write error follows it.
fn report_failure(scenario: &ScenarioSpec, outcome: &Outcome, shrink: bool, seed_command: &str) {
    let always = || true;
    let recorded = record_failure(scenario, outcome, shrink.then_some(&always));
    let shown = (recorded.shrunk.as_ref()).map_or(outcome, |shrunk| &shrunk.outcome);
    let report = shown.report().expect("a failed run has a report");
    let replay = match &recorded.written {
        Ok(path) => replay_file_command(path),
        Err(_) => "(no replay file: see the error below)".to_string(),
    };
    say!("{}", super::printed(&report, &replay));
    if let Some(stats) = &recorded.file.shrink {
        say!(
            "  shrunk:   faults {} -> {}, trace events {} -> {}, in {} candidate runs",
            stats.fault_count_before,
            stats.fault_count_after,
            stats.event_count_before,
            stats.event_count_after,
            stats.run_count
        );
        let failure = outcome.failure.as_ref().expect("a failed run");
        if !failure.also.is_empty() {
            let others: Vec<&str> = failure
                .also
                .iter()
                .map(|other| other.property.as_str())
                .collect();
            say!(
                "  kept:     shrinking kept `{}`; the unshrunk run also failed `{}`",
                failure.property,
                others.join("`, `")
            );
        }
    }
    say!("  seed:     {seed_command}");
    if let Err(error) = &recorded.written {
        eprintln!("error: {error}");
    }
}
