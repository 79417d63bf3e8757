//! Section "scaling": cost per seed and memory per case as a workload grows. For each
//! selected `holds` scenario (its runs go to the end, so they measure the whole workload),
//! the model's entity knob (`ModelSpec::entity_knob`: workers, orgs, schools, campaigns,
//! players, journeys) is multiplied by 1, 10 and 100, and the events bound with it.
//! "vs linear" is (cost at x N / cost at x 1) / N: 1 is linear, above 1 superlinear. A step
//! whose estimated time exceeds [`STEP_S_MAX`] is skipped and says so. Memory per case is
//! measured in a fresh process (`bench --memory-probe <id>@<factor>`): its peak resident
//! memory (VmHWM) over one run of seed 0, minus its resident memory before the run, so no
//! memory an earlier case freed hides it. Not measured: the other knobs.

use crate::scenarios::{Expectation, ScenarioSpec};
use crate::sim::Seed;

use super::machine::{peak_memory_kb, resident_memory_kb};
use super::markdown::Table;
use super::stats::{number, Spread};
use super::Settings;

use crate::cli::{Stopwatch, Usage};

/// Longest estimated time of one scaling step, in seconds.
const STEP_S_MAX: f64 = 300.0;

/// One step's measurements.
struct Step {
    seconds: Vec<f64>,
    event_counts: Vec<f64>,
    failed_count: usize,
}

fn scaled(scenario: &ScenarioSpec, factor: u64) -> ScenarioSpec {
    let entity = scenario.model.entity_knob();
    let values: Vec<u64> = scenario
        .model
        .workload()
        .iter()
        .map(|knob| {
            if knob.name == entity {
                knob.value * factor
            } else {
                knob.value
            }
        })
        .collect();
    let mut spec = scenario.clone();
    spec.model = scenario.model.with_workload(&values);
    spec.bounds.events_max = spec.bounds.events_max.saturating_mul(factor);
    spec
}

fn measure(spec: &ScenarioSpec, repeats: u32) -> Step {
    let case = spec.case();
    let mut step = Step {
        seconds: Vec::new(),
        event_counts: Vec::new(),
        failed_count: 0,
    };
    for seed in 0..u64::from(repeats) {
        let stopwatch = Stopwatch::start();
        let outcome = case.run(Seed(seed));
        step.seconds.push(stopwatch.elapsed().as_secs_f64());
        step.event_counts.push(outcome.trace.len() as f64);
        step.failed_count += usize::from(outcome.failure.is_some());
    }
    step
}

/// The probe's own job: one run of `<scenario>@<factor>` on seed 0, then `memory_kb N`.
pub fn memory_probe(probe: &str) -> Result<u8, Usage> {
    let invalid = || {
        Usage(format!(
            "invalid memory probe {probe:?}: expected <scenario>@<factor>"
        ))
    };
    let (id, factor) = probe.rsplit_once('@').ok_or_else(invalid)?;
    let factor: u64 = factor.parse().map_err(|_| invalid())?;
    let scenario = crate::scenarios::find(id).map_err(Usage)?;
    // A factor past the limits is refused as a scenario file would be, never run.
    let entity = scenario.model.entity_knob();
    let knob = scenario
        .model
        .workload()
        .into_iter()
        .find(|knob| knob.name == entity);
    if knob.is_some_and(|knob| knob.value.checked_mul(factor).is_none()) {
        return Err(Usage(format!(
            "memory probe {probe:?}: the factor overflows"
        )));
    }
    let spec = scaled(&scenario, factor);
    spec.model
        .resolve()
        .map_err(|error| Usage(format!("memory probe {probe:?}: {error}")))?;
    let case = spec.case();
    let before_kb = resident_memory_kb().unwrap_or(0);
    let outcome = case.run(Seed(0));
    let peak_kb = peak_memory_kb().unwrap_or(0);
    say!("memory_kb {}", peak_kb.saturating_sub(before_kb));
    // The outcome lives until the peak is read: its trace is part of the case's memory.
    drop(outcome);
    Ok(0)
}

/// Peak memory of one run of the step, from a fresh process; None when it cannot be read.
fn probe_memory_kb(scenario: &ScenarioSpec, factor: u64) -> Option<u64> {
    let binary = std::env::current_exe().ok()?;
    let output = std::process::Command::new(binary)
        .args([
            "bench",
            "--memory-probe",
            &format!("{}@{factor}", scenario.id),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("memory_kb "))?
        .trim()
        .parse()
        .ok()
}

/// The section's Markdown body.
pub fn section(scenarios: &[ScenarioSpec], settings: &Settings) -> String {
    let mut table = Table::new(&[
        "scenario",
        "knob",
        "factor",
        "ms per seed",
        "events per seed",
        "us per event",
        "vs linear",
        "peak MB per case",
        "failed runs",
    ]);
    let factors: Vec<u64> = [1, 10, 100]
        .into_iter()
        .filter(|factor| *factor <= settings.scale_max)
        .collect();
    let holds = scenarios
        .iter()
        .filter(|scenario| scenario.expectation == Expectation::Holds);
    for scenario in holds {
        let entity = scenario.model.entity_knob();
        let workload = scenario.model.workload();
        let Some(knob) = workload.into_iter().find(|knob| knob.name == entity) else {
            continue;
        };
        let mut base_s: Option<f64> = None;
        let mut last: Option<(u64, f64)> = None;
        for &factor in &factors {
            let label = format!("{} = {}", knob.name, knob.value * factor);
            if let Some((last_factor, last_s)) = last {
                let estimate_s =
                    last_s * (factor / last_factor) as f64 * f64::from(settings.repeats);
                if estimate_s > STEP_S_MAX {
                    let skipped = format!("skipped: about {} s", number(estimate_s));
                    let mut row = vec![scenario.id.clone(), label, format!("x{factor}")];
                    row.extend([skipped, "-".into(), "-".into(), "-".into(), "-".into()]);
                    row.push("-".into());
                    table.row(row);
                    continue;
                }
            }
            let step = measure(&scaled(scenario, factor), settings.repeats);
            let memory_kb = probe_memory_kb(scenario, factor);
            let seconds = Spread::of(&step.seconds);
            let events = Spread::of(&step.event_counts).median;
            let base = *base_s.get_or_insert(seconds.median);
            last = Some((factor, seconds.median));
            let millis: Vec<f64> = step.seconds.iter().map(|s| s * 1e3).collect();
            table.row(vec![
                scenario.id.clone(),
                label,
                format!("x{factor}"),
                Spread::of(&millis).show(),
                number(events),
                number(seconds.median * 1e6 / events.max(1.0)),
                number(seconds.median / base / factor as f64),
                memory_kb.map_or("-".to_string(), |kb| number(kb as f64 / 1024.0)),
                format!("{}/{}", step.failed_count, step.seconds.len()),
            ]);
            eprintln!("bench scaling: {} x{factor} done", scenario.id);
        }
    }
    format!(
        "Per step: seeds 0..{} run one after another on one core; median (min..max). Peak \
         memory per case: one run of seed 0 in a fresh process, its peak resident memory \
         over the run.\n\n{}",
        settings.repeats,
        table.render()
    )
}
