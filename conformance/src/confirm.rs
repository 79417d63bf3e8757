//! The comparison behind `syncsim confirm`: a spec written from a run (`history_spec`) runs
//! on the simulated engine and, when given one, on a real server; each step is compared three
//! ways: what the run's server answered, what the simulation answers to the spec, what the
//! real server answers. A step agrees when its result (rows, or affected count, or SQLSTATE;
//! rows as a set for the final table reads) and whether it waited are the same everywhere.
//!
//! Not compared: error message texts (the simulated ones differ, docs/postgres.md), NOTICEs,
//! timing beyond the order of the steps, steps the spec adds for a closed connection (the run
//! has no answer of its own for them; simulation and real server are still compared).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::history_spec::{EmittedSpec, ExpectedStep};
use crate::outcome::{Event, PermutationLog, StepResult};
use crate::real_backend::RealDriver;
use crate::runner::{run_permutation, BackendError, Driver};
use crate::spec::Spec;

/// What one step did on one side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Whether it waited for a lock.
    pub waited: bool,
    /// The result as the log shows it (SQLSTATEs without messages); `None`: still waiting
    /// at the end, or never issued.
    pub result: Option<String>,
}

impl fmt::Display for Seen {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waited = if self.waited { "waited, then " } else { "" };
        match &self.result {
            Some(result) => write!(formatter, "{waited}{result}"),
            None => write!(
                formatter,
                "{waited}no result (still waiting, or not issued)"
            ),
        }
    }
}

/// One step, on every side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepReport {
    /// Its 1-based position in the permutation.
    pub position: usize,
    /// Its name.
    pub step: String,
    /// What the run's server answered (`None` for steps the spec adds, or never answered).
    pub run: Option<Seen>,
    /// What the simulation answered to the spec.
    pub sim: Seen,
    /// What the real server answered (`None` without one).
    pub real: Option<Seen>,
}

impl StepReport {
    /// Whether the sides disagree.
    pub fn differs(&self) -> bool {
        let run_differs = self.run.as_ref().is_some_and(|run| *run != self.sim);
        let real_differs = self.real.as_ref().is_some_and(|real| *real != self.sim);
        run_differs || real_differs
    }
}

/// The comparison of every step.
#[derive(Clone, Debug)]
pub struct Confirmation {
    /// Setup failures of the simulation and of the real server (the spec's setup must run).
    pub setup: (Vec<String>, Vec<String>),
    /// Every step, in permutation order.
    pub steps: Vec<StepReport>,
    /// Where a side stopped the permutation early (a step issued on a session that still
    /// waits: the runner's `<invalid permutation>`), as log lines.
    pub stopped: (Vec<String>, Vec<String>),
}

impl Confirmation {
    /// Whether everything agrees and every setup ran.
    pub fn confirmed(&self) -> bool {
        self.setup.0.is_empty()
            && self.setup.1.is_empty()
            && self.stopped.0.is_empty()
            && self.stopped.1.is_empty()
            && self.differing().next().is_none()
    }

    /// The steps that disagree.
    pub fn differing(&self) -> impl Iterator<Item = &StepReport> {
        self.steps.iter().filter(|step| step.differs())
    }
}

/// `real` made ready for a spec written from a run: `now()` pinned to its clock markers and
/// the run's row triggers installed in their SQL form. Returns the tables whose trigger has
/// no SQL form (the real server runs without it).
pub fn prepare_real(real: &mut RealDriver, emitted: &EmittedSpec) -> Vec<String> {
    real.pin_clock();
    let mut trigger_sql = Vec::new();
    let mut missing = Vec::new();
    for (table, trigger) in &emitted.triggers {
        match trigger.postgres_sql(table) {
            Some(sql) => trigger_sql.push(sql),
            None => missing.push(table.clone()),
        }
    }
    real.after_setup(trigger_sql);
    missing
}

/// Runs `spec` (parsed from `emitted.text`) on `sim` and on `real` when given, and compares.
pub fn confirm(
    emitted: &EmittedSpec,
    spec: &Spec,
    sim: &mut dyn Driver,
    real: Option<&mut dyn Driver>,
) -> Result<Confirmation, BackendError> {
    let permutation = spec
        .listed
        .first()
        .ok_or_else(|| BackendError("the spec lists no permutation".into()))?;
    let unordered: BTreeSet<&str> = emitted
        .expected
        .iter()
        .filter(|expected| expected.unordered)
        .map(|expected| expected.step.as_str())
        .collect();
    let sim_log = run_permutation(sim, spec, permutation)?;
    let (sim_seen, sim_setup) = seen_by_step(&sim_log, &unordered);
    let real_log = match real {
        Some(real) => Some(run_permutation(real, spec, permutation)?),
        None => None,
    };
    let real = real_log.as_ref().map(|log| seen_by_step(log, &unordered));
    let steps = emitted
        .expected
        .iter()
        .enumerate()
        .map(|(index, expected)| StepReport {
            position: index + 1,
            step: expected.step.clone(),
            run: expected_seen(expected),
            sim: sim_seen.get(&expected.step).cloned().unwrap_or_default(),
            real: real
                .as_ref()
                .map(|(seen, _)| seen.get(&expected.step).cloned().unwrap_or_default()),
        })
        .collect();
    let real_setup = real.map(|(_, setup)| setup).unwrap_or_default();
    Ok(Confirmation {
        setup: (sim_setup, real_setup),
        steps,
        stopped: (
            stopped(&sim_log),
            real_log.as_ref().map(stopped).unwrap_or_default(),
        ),
    })
}

/// The log's `<invalid permutation>` lines.
fn stopped(log: &PermutationLog) -> Vec<String> {
    let invalid = log
        .events
        .iter()
        .filter(|e| matches!(e, Event::Invalid { .. }));
    invalid.map(|event| event.line(false)).collect()
}

/// A result as compared: its log text, with rows sorted when they form a set.
fn compared(result: &StepResult, unordered: bool) -> String {
    match result {
        StepResult::Rows { columns, rows } if unordered => {
            let mut rows = rows.clone();
            rows.sort();
            let columns = columns.clone();
            StepResult::Rows { columns, rows }.to_string()
        }
        other => other.to_string(),
    }
}

/// Every step's result and wait in a permutation log, and the setup failures.
fn seen_by_step(
    log: &PermutationLog,
    unordered: &BTreeSet<&str>,
) -> (BTreeMap<String, Seen>, Vec<String>) {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut setup = Vec::new();
    for event in &log.events {
        match event {
            Event::Ran { step, result } | Event::Finished { step, result } => {
                let text = compared(result, unordered.contains(step.as_str()));
                seen.entry(step.clone()).or_default().result = Some(text);
            }
            Event::Waiting { step } => seen.entry(step.clone()).or_default().waited = true,
            Event::SetupFailed { .. } | Event::TeardownFailed { .. } => {
                setup.push(event.line(true));
            }
            Event::StillWaiting { .. } | Event::Invalid { .. } => {}
        }
    }
    (seen, setup)
}

fn expected_seen(expected: &ExpectedStep) -> Option<Seen> {
    let result = expected.result.as_ref()?;
    Some(Seen {
        waited: expected.waited,
        result: Some(compared(result, expected.unordered)),
    })
}
