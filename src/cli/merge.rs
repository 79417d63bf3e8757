//! `syncsim fuzz merge REPORT...`: the `--report` files of a sweep's shards, merged into what
//! one unsharded sweep would report.
//!
//! Per scenario: the seeds covered (a seed in two reports is an overlap: the shards were
//! not disjoint, exit 1; a regression seed is not, as every sweep runs them, a resumed one
//! too; seeds missing between the lowest and highest covered are gaps, listed as ranges),
//! the `sometimes` hit counts summed, the failures grouped by property and shrunk plan (read
//! from each failure's replay file: a plan found on several shards is one group), and each
//! report's resume line. `--out` writes the merge as JSON. Not here: re-running anything; a
//! report is trusted as its sweep wrote it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use crate::scenarios::replay::ReplayFile;
use crate::sim::Seed;

use super::args::MergeArgs;
use super::{write_file, Usage};

/// One `fuzz --report` file, as the sweep wrote it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    shard: Option<String>,
    #[serde(default)]
    interrupted: bool,
    scenarios: Vec<ScenarioReport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioReport {
    id: String,
    expectation: String,
    seeds: Vec<Seed>,
    #[serde(default)]
    resume: Option<String>,
    #[serde(default)]
    sometimes: BTreeMap<String, u64>,
    /// Committed regression seeds among `seeds` (every sweep runs them: no overlap).
    #[serde(default)]
    regressions: Vec<Seed>,
    failures: Vec<FailureReport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureReport {
    seed: Seed,
    property: Option<String>,
    file: Option<PathBuf>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    shrunk: Option<bool>,
}

/// One scenario, merged over the reports.
#[derive(Default)]
struct Merged {
    expectation: String,
    /// Every seed covered, with the report that covered it.
    seeds: BTreeMap<u64, usize>,
    /// Seeds two reports both covered: (seed, first report, second report).
    overlaps: Vec<(u64, usize, usize)>,
    /// Regression seeds: run by every sweep, so in two reports they are no overlap.
    regressions: BTreeSet<u64>,
    sometimes: BTreeMap<String, u64>,
    /// (property, shrunk plan) to the seeds that failed so.
    failures: BTreeMap<(String, String), Vec<Seed>>,
    /// Each report's resume line: (shard, range).
    resumes: Vec<(String, String)>,
}

/// Merges the reports; exit code 1 when shards overlap or a `holds` scenario failed.
pub fn merge(arguments: &MergeArgs) -> Result<u8, Usage> {
    let reports: Vec<Report> = arguments
        .reports
        .iter()
        .map(|path| read(path))
        .collect::<Result<_, _>>()?;
    let mut merged: BTreeMap<String, Merged> = BTreeMap::new();
    for (index, report) in reports.iter().enumerate() {
        add(&mut merged, index, report)?;
    }
    if let Some(path) = &arguments.out {
        let text = serde_json::to_string_pretty(&as_report(&merged, &reports))
            .expect("JSON values serialize");
        write_file(path, &text)?;
    }
    print(&merged, &reports, &arguments.reports);
    let overlapped = merged
        .values()
        .any(|scenario| !scenario.overlaps.is_empty());
    let holds_failed = merged
        .values()
        .any(|scenario| scenario.expectation == "holds" && !scenario.failures.is_empty());
    Ok(u8::from(overlapped || holds_failed))
}

fn read(path: &Path) -> Result<Report, Usage> {
    let text =
        crate::scenarios::file::read_bounded(path, 1 << 30, "a fuzz report").map_err(Usage)?;
    serde_json::from_str(&text)
        .map_err(|error| Usage(format!("{}: not a fuzz report: {error}", path.display())))
}

fn add(merged: &mut BTreeMap<String, Merged>, index: usize, report: &Report) -> Result<(), Usage> {
    for scenario in &report.scenarios {
        let entry = merged.entry(scenario.id.clone()).or_default();
        if entry.expectation.is_empty() {
            entry.expectation.clone_from(&scenario.expectation);
        } else if entry.expectation != scenario.expectation {
            return Err(Usage(format!(
                "{}: expected {} in one report and {} in another",
                scenario.id, entry.expectation, scenario.expectation
            )));
        }
        entry
            .regressions
            .extend(scenario.regressions.iter().map(|seed| seed.0));
        for seed in &scenario.seeds {
            let again = entry.seeds.insert(seed.0, index);
            if let Some(first) = again.filter(|_| !entry.regressions.contains(&seed.0)) {
                entry.overlaps.push((seed.0, first, index));
            }
        }
        for (name, hits) in &scenario.sometimes {
            *entry.sometimes.entry(name.clone()).or_default() += hits;
        }
        for failure in &scenario.failures {
            let property = failure.property.clone().unwrap_or_default();
            let key = (property, plan_of(failure));
            let seeds = entry.failures.entry(key).or_default();
            seeds.push(failure.seed);
        }
        if let Some(range) = &scenario.resume {
            let shard = report.shard.clone().unwrap_or_else(|| "1/1".to_string());
            entry.resumes.push((shard, range.clone()));
        }
    }
    Ok(())
}

/// The shrunk plan of a failure, from its replay file (its episodes and request faults, as
/// the report prints them), or why it is unknown.
fn plan_of(failure: &FailureReport) -> String {
    let Some(file) = &failure.file else {
        let why = failure.error.as_deref().unwrap_or("no replay file");
        return format!("(plan unknown: {why})");
    };
    let Ok(replay) = ReplayFile::load(file) else {
        return format!("(plan unknown: {} unreadable)", file.display());
    };
    let shrunk = match failure.shrunk {
        Some(true) => "shrunk",
        Some(false) => "partly shrunk",
        None => "not shrunk",
    };
    let episodes: Vec<String> = replay
        .scenario
        .faults
        .episodes()
        .iter()
        .map(ToString::to_string)
        .collect();
    if episodes.is_empty() {
        format!("{shrunk}: no fault")
    } else {
        format!("{shrunk}: {}", episodes.join("; "))
    }
}

/// Seeds missing between the lowest and highest covered, as ranges `A..B` (B excluded).
fn gaps(seeds: &BTreeMap<u64, usize>) -> Vec<String> {
    let mut gaps = Vec::new();
    let mut previous: Option<u64> = None;
    for &seed in seeds.keys() {
        if let Some(previous) = previous.filter(|previous| seed > previous + 1) {
            gaps.push(format!("{}..{seed}", previous + 1));
        }
        previous = Some(seed);
    }
    gaps
}

fn print(merged: &BTreeMap<String, Merged>, reports: &[Report], paths: &[PathBuf]) {
    for (id, scenario) in merged {
        let count = scenario.seeds.len();
        let range = match (
            scenario.seeds.keys().next(),
            scenario.seeds.keys().next_back(),
        ) {
            (Some(first), Some(last)) => format!(" from {first} to {last}"),
            _ => String::new(),
        };
        say!("{id} ({}): {count} seed(s){range}", scenario.expectation);
        let gaps = gaps(&scenario.seeds);
        if !gaps.is_empty() {
            say!("  gaps: {} (seeds no report covered)", shown(&gaps));
        }
        for (seed, first, second) in &scenario.overlaps {
            let (first, second) = (paths[*first].display(), paths[*second].display());
            say!("  OVERLAP: seed {seed} is in {first} and in {second}");
        }
        for (name, hits) in &scenario.sometimes {
            say!("  sometimes {hits:>6}/{count} run(s)  {name}");
        }
        for ((property, plan), seeds) in &scenario.failures {
            let mut seeds = seeds.clone();
            seeds.sort();
            let seeds: Vec<String> = seeds.iter().map(ToString::to_string).collect();
            say!("  failure `{property}`, {plan}: seed(s) {}", shown(&seeds));
        }
        for (shard, range) in &scenario.resumes {
            say!("  resume: --shard {shard} --seeds {range}");
        }
    }
    let interrupted = reports.iter().filter(|report| report.interrupted).count();
    let groups: usize = merged
        .values()
        .map(|scenario| scenario.failures.len())
        .sum();
    say!(
        "merge: {} report(s), {} scenario(s), {groups} failure group(s), {interrupted} interrupted",
        reports.len(),
        merged.len()
    );
}

/// At most ten items, then how many more.
fn shown(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > 10 {
        text.push_str(&format!(" and {} more", items.len() - 10));
    }
    text
}

/// The merge as JSON: per scenario the seeds, gaps, overlaps, `sometimes` hits, failure
/// groups and resume lines (its own shape, not a `--report`'s: merge reads reports only).
fn as_report(merged: &BTreeMap<String, Merged>, reports: &[Report]) -> serde_json::Value {
    let scenarios: Vec<serde_json::Value> = merged
        .iter()
        .map(|(id, scenario)| {
            let seeds: Vec<Seed> = scenario.seeds.keys().map(|seed| Seed(*seed)).collect();
            let failures: Vec<serde_json::Value> = scenario
                .failures
                .iter()
                .map(|((property, plan), seeds)| {
                    json!({"property": property, "plan": plan, "seeds": seeds})
                })
                .collect();
            let overlaps: BTreeSet<u64> =
                scenario.overlaps.iter().map(|(seed, ..)| *seed).collect();
            json!({"id": id, "expectation": scenario.expectation, "seeds": seeds,
                "gaps": gaps(&scenario.seeds), "overlaps": overlaps,
                "sometimes": scenario.sometimes, "failure_groups": failures,
                "resume": scenario.resumes})
        })
        .collect();
    let interrupted = reports.iter().any(|report| report.interrupted);
    json!({"merged_reports": reports.len(), "interrupted": interrupted, "scenarios": scenarios})
}
