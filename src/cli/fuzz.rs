//! `syncsim fuzz`: random seeds of the catalog for a wall-clock budget, on several cores.
//!
//! Per scenario, committed regression seeds run first, then seeds from the range upward; a
//! shard `I/N` takes only seeds with `seed % N == I - 1`, so shards are disjoint and together
//! cover what one unsharded run covers. A `caught` scenario stops at its first failure (its
//! bug is known); every failure of a `holds` scenario is shrunk and written as a replay file.
//! Exit code 1 when a `holds` scenario failed. Seeds tried are listed so a sweep can be
//! resumed (`--seeds A..B`) or split across machines (`--shard`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::scenarios::{self, regressions, Expectation, ScenarioSpec};
use crate::sim::{Outcome, Seed};

use super::args::FuzzArgs;
use super::{record_failure, write_file, Recorded, Stopwatch, Usage};

/// The seeds a scenario draws in this shard: regressions first, then the range.
struct SeedSource {
    regressions: Vec<Seed>,
    first: u64,
    step: u64,
    end: u64,
}

impl SeedSource {
    fn new(scenario: &ScenarioSpec, arguments: &FuzzArgs) -> SeedSource {
        let shard = arguments.shard.unwrap_or((1, 1));
        let range = arguments.seeds.unwrap_or((0, u64::MAX));
        SeedSource::of(regressions::seeds(&scenario.id), shard, range)
    }

    /// The seeds of shard `(index, count)` of `start..end`, `regressions` (those in the
    /// shard and range) first.
    fn of(regressions: Vec<Seed>, (index, count): (u64, u64), (start, end): (u64, u64)) -> Self {
        let in_shard = |seed: u64| seed % count == index - 1 && (start..end).contains(&seed);
        let regressions = regressions.into_iter().filter(|seed| in_shard(seed.0));
        let offset = (index - 1 + count - start % count) % count;
        SeedSource {
            regressions: regressions.collect(),
            first: start.saturating_add(offset),
            step: count,
            end,
        }
    }

    /// The `index`-th seed: the regressions, then the range without them.
    fn nth(&self, index: usize) -> Option<Seed> {
        match self.regressions.get(index) {
            Some(seed) => Some(*seed),
            None => self.nth_of_range((index - self.regressions.len()) as u64),
        }
    }

    /// Where a sweep that ran this source's first `ran_count` seeds resumes: the first
    /// range seed it did not run (the regressions run again first on a resumed sweep).
    fn resume_after(&self, ran_count: usize) -> Option<Seed> {
        let range_count = ran_count.saturating_sub(self.regressions.len());
        self.nth_of_range(range_count as u64)
    }

    /// The `generated_index`-th seed of the range, regression seeds skipped.
    fn nth_of_range(&self, generated_index: u64) -> Option<Seed> {
        // Skip range seeds that already ran as regressions: each one below the candidate
        // pushes it one step further.
        let mut skipped_count = 0;
        loop {
            let steps = generated_index.checked_add(skipped_count)?;
            let seed = self.first.checked_add(steps.checked_mul(self.step)?)?;
            let below = self
                .regressions
                .iter()
                .filter(|regression| regression.0 <= seed);
            let below_count = below
                .filter(|regression| regression.0 >= self.first)
                .count() as u64;
            if below_count == skipped_count {
                return (seed < self.end).then_some(Seed(seed));
            }
            skipped_count = below_count;
        }
    }
}

/// What one scenario's sweep found.
struct ScenarioResult {
    scenario: ScenarioSpec,
    seeds: Vec<Seed>,
    failures: Vec<Outcome>,
    /// The first seed of the range the sweep did not reach (`--seeds R..` resumes it), or
    /// `None` when it ran the whole range.
    resume: Option<Seed>,
}

fn sweep(
    scenario: &ScenarioSpec,
    source: &SeedSource,
    budget: Duration,
    jobs: usize,
) -> ScenarioResult {
    let stopwatch = Stopwatch::start();
    let next_index = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let ran: Mutex<Vec<Seed>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let progress = progress_bar(&scenario.id);
    let case = scenario.case();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) && stopwatch.elapsed() < budget {
                    let Some(seed) = source.nth(next_index.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let outcome = case.run(seed);
                    ran.lock().expect("no panics while held").push(seed);
                    progress.inc(1);
                    if outcome.failure.is_some() {
                        if scenario.expectation == Expectation::Caught {
                            stop.store(true, Ordering::Relaxed);
                        }
                        failures.lock().expect("no panics while held").push(outcome);
                    }
                }
            });
        }
    });
    progress.finish_and_clear();
    let mut seeds = ran.into_inner().expect("threads joined");
    // Every index taken ran to its end, and indexes are taken in order: the seeds that ran
    // are the source's first `len`, so the next one is where a resumed sweep starts. (Not
    // the largest seed run plus one: a regression seed may lie far ahead in the range.)
    let resume = source.resume_after(seeds.len());
    seeds.sort();
    let mut failures = failures.into_inner().expect("threads joined");
    failures.sort_by_key(|outcome| outcome.seed);
    if scenario.expectation == Expectation::Caught {
        failures.truncate(1);
    }
    ScenarioResult {
        scenario: scenario.clone(),
        seeds,
        failures,
        resume,
    }
}

fn progress_bar(scenario_id: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {msg}: {pos} seeds in {elapsed}")
        .expect("a valid template");
    bar.set_style(style);
    bar.set_message(scenario_id.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Describes the seeds tried, compactly, with the range that resumes the sweep.
fn describe_seeds(result: &ScenarioResult, arguments: &FuzzArgs) -> String {
    let (Some(first), Some(last)) = (result.seeds.first(), result.seeds.last()) else {
        return "no seed".to_string();
    };
    let resume = match resume_range(result, arguments) {
        Some(range) => format!("; resume with --seeds {range}"),
        None => "; the range is done".to_string(),
    };
    let count = result.seeds.len();
    format!("{count} seed(s) from {} to {}{resume}", first.0, last.0)
}

/// The `--seeds` range that resumes the sweep (with the same `--shard`), if any is left.
fn resume_range(result: &ScenarioResult, arguments: &FuzzArgs) -> Option<String> {
    let next = result.resume?;
    let end = arguments.seeds.map_or(u64::MAX, |(_, end)| end);
    let shown_end = if end == u64::MAX {
        String::new()
    } else {
        end.to_string()
    };
    Some(format!("{}..{shown_end}", next.0))
}

/// Runs the sweep; exit code 1 when a `holds` scenario failed.
pub fn fuzz(arguments: &FuzzArgs) -> Result<u8, Usage> {
    let all = super::scenarios_from(arguments.dir.as_deref())?
        .into_iter()
        .map(|(scenario, _)| scenario)
        .collect();
    let selected = match &arguments.filter {
        Some(pattern) => scenarios::filter_in(all, pattern).map_err(Usage)?,
        None => all,
    };
    let jobs = arguments
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if jobs == 0 {
        return Err(Usage("--jobs must be at least 1".to_string()));
    }
    if let Some(path) = &arguments.report {
        super::check_writable(path)?;
    }
    let stopwatch = Stopwatch::start();
    // The last tenth of the budget is kept for shrinking and writing what the sweep found.
    let sweep_budget = arguments.budget - arguments.budget / 10;
    let mut results = Vec::new();
    for (index, scenario) in selected.iter().enumerate() {
        let remaining = sweep_budget.saturating_sub(stopwatch.elapsed());
        let share = remaining / (selected.len() - index) as u32;
        let result = sweep(scenario, &SeedSource::new(scenario, arguments), share, jobs);
        if !std::io::stderr().is_terminal() {
            eprintln!(
                "{}: {} run, {} failure(s)",
                scenario.id,
                result.seeds.len(),
                result.failures.len()
            );
        }
        results.push(result);
    }
    report(arguments, &results, &stopwatch)
}

/// Prints the summary, writes the replay files and the `--report`; exit code 1 when a
/// `holds` scenario failed or a file could not be written (the summary is printed first).
fn report(
    arguments: &FuzzArgs,
    results: &[ScenarioResult],
    stopwatch: &Stopwatch,
) -> Result<u8, Usage> {
    say!(
        "{:<32} {:<7} {:>8} {:>8}  first failing seed",
        "scenario",
        "expect",
        "seeds",
        "failures"
    );
    let mut holds_failed_count = 0;
    let mut write_failed = false;
    let mut json_scenarios = Vec::new();
    let recorded = record_all(arguments, results, stopwatch);
    for (result, recorded) in results.iter().zip(&recorded) {
        let (json, written) = report_scenario(arguments, result, recorded);
        json_scenarios.push(json);
        write_failed |= !written;
        let expectation = result.scenario.expectation;
        if expectation == Expectation::Holds && !result.failures.is_empty() {
            holds_failed_count += 1;
        }
    }
    if let Some(path) = &arguments.report {
        let shard = arguments
            .shard
            .map(|(index, count)| format!("{index}/{count}"));
        let document = json!({"shard": shard, "scenarios": json_scenarios});
        let text = serde_json::to_string_pretty(&document).expect("JSON values serialize");
        if let Err(Usage(error)) = write_file(path, &text) {
            eprintln!("error: {error}");
            write_failed = true;
        }
    }
    say!(
        "fuzz: {} passed, {holds_failed_count} failed",
        results.len() - holds_failed_count
    );
    if write_failed {
        eprintln!("error: some of what the sweep found could not be written (see above)");
    }
    Ok(u8::from(holds_failed_count > 0 || write_failed))
}

/// One scenario's lines and replay files; its JSON and whether every file was written.
/// Shrinks and writes every failure, a `holds` scenario's first (a new bug matters more
/// than a known one), shrinking only while the budget lasts; in `results` order.
fn record_all(
    arguments: &FuzzArgs,
    results: &[ScenarioResult],
    stopwatch: &Stopwatch,
) -> Vec<Vec<Recorded>> {
    let within_budget = || stopwatch.elapsed() < arguments.budget;
    let mut recorded: Vec<Vec<Recorded>> = results.iter().map(|_| Vec::new()).collect();
    for expectation in [Expectation::Holds, Expectation::Caught] {
        for (index, result) in results.iter().enumerate() {
            if result.scenario.expectation != expectation {
                continue;
            }
            for outcome in &result.failures {
                // A failure found with no budget left is written whole.
                let shrink = !arguments.no_shrink && within_budget();
                let keep_going: &dyn Fn() -> bool = &within_budget;
                let shrink = shrink.then_some(keep_going);
                recorded[index].push(record_failure(&result.scenario, outcome, shrink));
            }
        }
    }
    recorded
}

fn report_scenario(
    arguments: &FuzzArgs,
    result: &ScenarioResult,
    recorded: &[Recorded],
) -> (serde_json::Value, bool) {
    let first = result
        .failures
        .first()
        .map_or("-".to_string(), |outcome| outcome.seed.to_string());
    let expectation = result.scenario.expectation;
    say!(
        "{:<32} {expectation:<7} {:>8} {:>8}  {first}",
        result.scenario.id,
        result.seeds.len(),
        result.failures.len()
    );
    say!("    seeds tried: {}", describe_seeds(result, arguments));
    let mut json_failures = Vec::new();
    let mut written_all = true;
    for (outcome, recorded) in result.failures.iter().zip(recorded) {
        let property = (outcome.failure.as_ref()).map(|failure| failure.property.clone());
        let note = match &recorded.shrunk {
            Some(shrunk) if shrunk.stopped => " (shrinking stopped at the budget)",
            None if !arguments.no_shrink => " (not shrunk: the budget was spent)",
            _ => "",
        };
        match &recorded.written {
            Ok(path) => say!(
                "    failure at seed {}: {}{note}",
                outcome.seed,
                path.display()
            ),
            Err(error) => {
                say!(
                    "    failure at seed {}: no replay file ({error})",
                    outcome.seed
                );
                written_all = false;
            }
        }
        let file = recorded.written.as_ref().ok();
        let error = recorded.written.as_ref().err();
        json_failures.push(
            json!({"seed": outcome.seed, "property": property, "file": file, "error": error}),
        );
    }
    let json = json!({"id": result.scenario.id, "expectation": expectation.to_string(),
        "seeds": result.seeds, "resume": resume_range(result, arguments),
        "failures": json_failures});
    (json, written_all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `count` seeds of `source`, in its order.
    fn first(source: &SeedSource, count: usize) -> Vec<u64> {
        (0..count)
            .map_while(|index| source.nth(index))
            .map(|seed| seed.0)
            .collect()
    }

    /// A sweep stopped after any number of seeds and resumed from its resume seed (same
    /// regressions, same shard) covers exactly the seeds of one sweep over the range, even
    /// with regression seeds ahead of where it stopped: the old resume line (the largest
    /// seed run plus one) skipped the range seeds below a far regression seed.
    #[test]
    fn resuming_covers_exactly_the_seeds_of_one_sweep() {
        let cases = [
            (vec![5, 300], (1, 1), (0, 100)),
            (vec![4, 7, 30, 31], (2, 3), (0, 60)),
            (vec![0, 59], (1, 2), (10, 60)),
        ];
        for (regressions, shard, range) in cases {
            let regressions: Vec<Seed> = regressions.into_iter().map(Seed).collect();
            let whole = SeedSource::of(regressions.clone(), shard, range);
            let mut expected = first(&whole, 1_000);
            expected.sort_unstable();
            for stopped_after in 0..=expected.len() {
                let mut covered = first(&whole, stopped_after);
                if let Some(resume) = whole.resume_after(stopped_after) {
                    let rest = SeedSource::of(regressions.clone(), shard, (resume.0, range.1));
                    covered.extend(first(&rest, 1_000));
                }
                covered.sort_unstable();
                covered.dedup();
                assert_eq!(
                    covered, expected,
                    "{shard:?} {range:?} after {stopped_after}"
                );
            }
        }
    }
}
