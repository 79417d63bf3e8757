//! `syncsim fuzz`: random seeds of the catalog for a wall-clock budget, on several cores.
//!
//! Per scenario, committed regression seeds run first, then seeds from the range upward; a
//! shard `I/N` takes only seeds with `seed % N == I - 1`, so shards are disjoint and together
//! cover what one unsharded run covers. A `caught` scenario stops at its first failure (its
//! bug is known); every failure of a `holds` scenario is shrunk and written as a replay file.
//! Exit code 1 when a `holds` scenario failed. Seeds tried are listed so a sweep can be
//! resumed (`--seeds A..B`) or split across machines (`--shard`). SIGINT or SIGTERM stops the
//! sweep (runs in flight finish), writes what it found unshrunk, the report and the resume
//! lines, and exits 130; a second signal ends the process at once.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
        if ran_count < self.regressions.len() {
            // A regression seed not run yet may lie at the range's start: resume from there.
            return (self.first < self.end).then_some(Seed(self.first));
        }
        let range_count = ran_count - self.regressions.len();
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
    /// For each `sometimes` property, the runs that hit it.
    coverage: BTreeMap<String, u64>,
    /// The committed regression seeds among `seeds`: every sweep (a resumed one too) runs
    /// them again, so `fuzz merge` does not count them as overlaps.
    regressions: Vec<Seed>,
}

/// Runs `source`'s seeds of `scenario` on `jobs` threads until its share of the budget is
/// spent or the command is interrupted (runs in flight finish).
fn sweep(
    scenario: &ScenarioSpec,
    source: &SeedSource,
    (budget, interrupted): (Duration, &AtomicBool),
    jobs: usize,
) -> ScenarioResult {
    let stopwatch = Stopwatch::start();
    let next_index = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let ran: Mutex<Vec<Seed>> = Mutex::new(Vec::new());
    let coverage: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let failures: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let progress = progress_bar(&scenario.id);
    let case = scenario.case();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let go_on = || {
                    let stopped =
                        stop.load(Ordering::Relaxed) || interrupted.load(Ordering::Relaxed);
                    !stopped && stopwatch.elapsed() < budget
                };
                while go_on() {
                    let Some(seed) = source.nth(next_index.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let outcome = case.run(seed);
                    ran.lock().expect("no panics while held").push(seed);
                    let mut hits = coverage.lock().expect("no panics while held");
                    for (name, hit) in &outcome.sometimes {
                        *hits.entry(name.clone()).or_default() += u64::from(*hit);
                    }
                    drop(hits);
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
    let regressions = (source.regressions.iter())
        .filter(|seed| seeds.binary_search(seed).is_ok())
        .copied()
        .collect();
    ScenarioResult {
        scenario: scenario.clone(),
        seeds,
        failures,
        resume,
        coverage: coverage.into_inner().expect("threads joined"),
        regressions,
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
    let resume = match resume_range(result, arguments) {
        Some(range) => format!("; resume with --seeds {range}"),
        None => "; the range is done".to_string(),
    };
    let (Some(first), Some(last)) = (result.seeds.first(), result.seeds.last()) else {
        return format!("no seed{resume}");
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
    if let Some(super::args::FuzzAction::Merge(merge)) = &arguments.action {
        return super::merge::merge(merge);
    }
    let budget = arguments
        .budget
        .ok_or_else(|| Usage("fuzz needs --budget".to_string()))?;
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
    let stop = Stop::new(budget)?;
    // The last tenth of the budget is kept for shrinking and writing what the sweep found.
    let sweep_budget = budget - budget / 10;
    let mut results = Vec::new();
    for (index, scenario) in selected.iter().enumerate() {
        let remaining = sweep_budget.saturating_sub(stop.elapsed());
        let share = remaining / (selected.len() - index) as u32;
        let source = SeedSource::new(scenario, arguments);
        let result = sweep(scenario, &source, (share, &stop.interrupted), jobs);
        if !std::io::stderr().is_terminal() {
            // A closed stderr must not end the sweep before it writes what it found.
            let _ = writeln!(
                std::io::stderr(),
                "{}: {} run, {} failure(s)",
                scenario.id,
                result.seeds.len(),
                result.failures.len()
            );
        }
        results.push(result);
    }
    report(arguments, &results, &stop)
}

/// Writes the replay files and the `--report`, then prints the summary (so a closed stdout
/// loses nothing written); exit code 1 when a `holds` scenario failed or a file could not be
/// written, else 130 when the sweep was interrupted.
fn report(arguments: &FuzzArgs, results: &[ScenarioResult], stop: &Stop) -> Result<u8, Usage> {
    let recorded = record_all(arguments, results, stop);
    let mut write_failed = recorded
        .iter()
        .flatten()
        .any(|recorded| recorded.written.is_err());
    if let Some(path) = &arguments.report {
        let shard = arguments
            .shard
            .map(|(index, count)| format!("{index}/{count}"));
        let scenarios: Vec<serde_json::Value> = results
            .iter()
            .zip(&recorded)
            .map(|(result, recorded)| scenario_json(arguments, result, recorded))
            .collect();
        let interrupted = stop.interrupted();
        let document = json!({"shard": shard, "interrupted": interrupted, "scenarios": scenarios});
        let text = serde_json::to_string_pretty(&document).expect("JSON values serialize");
        if let Err(Usage(error)) = write_file(path, &text) {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            write_failed = true;
        }
    }
    say!(
        "{:<32} {:<7} {:>8} {:>8}  first failing seed",
        "scenario",
        "expect",
        "seeds",
        "failures"
    );
    for (result, recorded) in results.iter().zip(&recorded) {
        print_scenario(arguments, result, recorded, stop);
    }
    let holds_failed_count = results
        .iter()
        .filter(|result| result.scenario.expectation == Expectation::Holds)
        .filter(|result| !result.failures.is_empty())
        .count();
    say!(
        "fuzz: {} passed, {holds_failed_count} failed",
        results.len() - holds_failed_count
    );
    if write_failed {
        let what = "some of what the sweep found could not be written (see above)";
        let _ = writeln!(std::io::stderr(), "error: {what}");
    }
    if stop.interrupted() {
        say!("fuzz: interrupted; what it found is written; the resume lines say where to go on");
    }
    Ok(
        match (holds_failed_count > 0 || write_failed, stop.interrupted()) {
            (true, _) => 1,
            (false, true) => 130,
            (false, false) => 0,
        },
    )
}

/// Shrinks and writes every failure, a `holds` scenario's first (a new bug matters more
/// than a known one), shrinking only while the budget lasts and not at all once
/// interrupted; in `results` order.
fn record_all(arguments: &FuzzArgs, results: &[ScenarioResult], stop: &Stop) -> Vec<Vec<Recorded>> {
    let keep_going = || stop.may_shrink();
    let mut recorded: Vec<Vec<Recorded>> = results.iter().map(|_| Vec::new()).collect();
    for expectation in [Expectation::Holds, Expectation::Caught] {
        for (index, result) in results.iter().enumerate() {
            if result.scenario.expectation != expectation {
                continue;
            }
            for outcome in &result.failures {
                // A failure found with no budget left, or after an interrupt, is written whole.
                let shrink = !arguments.no_shrink && keep_going();
                let keep_going: &dyn Fn() -> bool = &keep_going;
                let shrink = shrink.then_some(keep_going);
                recorded[index].push(record_failure(&result.scenario, outcome, shrink));
            }
        }
    }
    recorded
}

/// One scenario's entry of the `--report`.
fn scenario_json(
    arguments: &FuzzArgs,
    result: &ScenarioResult,
    recorded: &[Recorded],
) -> serde_json::Value {
    let failures: Vec<serde_json::Value> = result
        .failures
        .iter()
        .zip(recorded)
        .map(|(outcome, recorded)| {
            let property = (outcome.failure.as_ref()).map(|failure| failure.property.clone());
            let file = recorded.written.as_ref().ok();
            let error = recorded.written.as_ref().err();
            let shrunk = recorded.shrunk.as_ref().map(|shrunk| !shrunk.stopped);
            json!({"seed": outcome.seed, "property": property, "file": file, "error": error,
                "shrunk": shrunk})
        })
        .collect();
    json!({"id": result.scenario.id, "expectation": result.scenario.expectation.to_string(),
        "seeds": result.seeds, "resume": resume_range(result, arguments),
        "sometimes": result.coverage, "regressions": result.regressions,
        "failures": failures})
}

/// One scenario's lines of the summary.
fn print_scenario(
    arguments: &FuzzArgs,
    result: &ScenarioResult,
    recorded: &[Recorded],
    stop: &Stop,
) {
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
    for (outcome, recorded) in result.failures.iter().zip(recorded) {
        let note = match &recorded.shrunk {
            Some(shrunk) if shrunk.stopped => " (shrinking stopped at the budget)",
            None if arguments.no_shrink => "",
            None if stop.interrupted() => " (not shrunk: interrupted)",
            None => " (not shrunk: the budget was spent)",
            Some(_) => "",
        };
        match &recorded.written {
            Ok(path) => say!(
                "    failure at seed {}: {}{note}",
                outcome.seed,
                path.display()
            ),
            Err(error) => say!(
                "    failure at seed {}: no replay file ({error})",
                outcome.seed
            ),
        }
    }
}

/// When the command stops: its budget, and SIGINT or SIGTERM (a second one ends the process
/// at once, as if no handler were installed).
struct Stop {
    stopwatch: Stopwatch,
    budget: Duration,
    interrupted: Arc<AtomicBool>,
}

impl Stop {
    fn new(budget: Duration) -> Result<Stop, Usage> {
        let interrupted = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let cannot = |error: std::io::Error| Usage(format!("cannot handle signals: {error}"));
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&interrupted))
                .map_err(cannot)?;
            signal_hook::flag::register(signal, Arc::clone(&interrupted)).map_err(cannot)?;
        }
        Ok(Stop {
            stopwatch: Stopwatch::start(),
            budget,
            interrupted,
        })
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    fn elapsed(&self) -> Duration {
        self.stopwatch.elapsed()
    }

    /// Whether shrinking may try another candidate: within the budget, not interrupted.
    fn may_shrink(&self) -> bool {
        !self.interrupted() && self.elapsed() < self.budget
    }
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
            (vec![0], (1, 1), (0, 10)),
            (vec![4, 9], (1, 5), (0, 30)),
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
