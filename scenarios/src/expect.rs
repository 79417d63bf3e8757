//! Whether a scenario's seeds meet its expectation: a `caught` scenario must fail within
//! them, a `holds` scenario must pass every seed and hit every `sometimes` property. The
//! CLI's `check` and a user's `cargo test` share this judgement.
//!
//! Not here: printing (the caller words the result) and choosing seeds (`budget` reads them
//! from the environment).

use syncsim_sim::{Outcome, Seed};

use crate::budget;
use crate::spec::{Expectation, ScenarioSpec};

/// What the seeds showed.
#[derive(Debug)]
pub enum Judged {
    /// `caught`, and this run failed (the first failing seed).
    Caught(Box<Outcome>, usize),
    /// `caught`, yet every one of this many seeds passed.
    NotCaught(usize),
    /// `holds`, and every one of this many seeds passed with every `sometimes` hit.
    Held(usize),
    /// `holds`, yet this run failed.
    Failed(Box<Outcome>),
    /// `holds` on every one of this many seeds, but these `sometimes` were never hit.
    Uncovered(usize, Vec<String>),
}

impl Judged {
    /// Whether the expectation was met.
    pub fn met(&self) -> bool {
        matches!(self, Judged::Caught(..) | Judged::Held(_))
    }
}

/// Runs `seeds` of `scenario` (a `caught` one stops at its first failure) and judges them.
pub fn judge(scenario: &ScenarioSpec, seeds: impl IntoIterator<Item = Seed>) -> Judged {
    let stop_at_failure = scenario.expectation == Expectation::Caught;
    let sweep = scenario.case().run_seeds(seeds, stop_at_failure);
    let ran = sweep.seeds.len();
    let uncovered = sweep.uncovered();
    match (scenario.expectation, sweep.failure) {
        (Expectation::Caught, Some(outcome)) => Judged::Caught(Box::new(outcome), ran),
        (Expectation::Caught, None) => Judged::NotCaught(ran),
        (Expectation::Holds, Some(outcome)) => Judged::Failed(Box::new(outcome)),
        (Expectation::Holds, None) if uncovered.is_empty() => Judged::Held(ran),
        (Expectation::Holds, None) => Judged::Uncovered(ran, uncovered),
    }
}

/// For `cargo test`: judges `scenario` on the seeds the environment asks for
/// (`SYNCSIM_SEED`, `SYNCSIM_SEEDS`, `SYNCSIM_SCENARIO`; default its committed budget).
/// `Ok` with a one-line summary when the expectation is met or the scenario is not
/// selected; `Err` with the failure report otherwise.
pub fn meets_expectation(scenario: &ScenarioSpec) -> Result<String, String> {
    let budget = budget::from_lookup(scenario, |name| std::env::var(name).ok())?;
    if !budget.selected {
        return Ok(format!("{}: not selected by SYNCSIM_SCENARIO", scenario.id));
    }
    let id = &scenario.id;
    match judge(scenario, budget.seeds) {
        Judged::Caught(outcome, ran) => Ok(format!(
            "{id}: caught at seed {} after {ran} seed(s)",
            outcome.seed
        )),
        Judged::Held(ran) => Ok(format!("{id}: held {ran} seed(s)")),
        Judged::NotCaught(ran) => Err(format!("{id}: expected caught, passed {ran} seed(s)")),
        Judged::Failed(outcome) => {
            let report = outcome.report().expect("a failed run");
            let seed = outcome.seed;
            let replay = format!("SYNCSIM_SCENARIO={id} SYNCSIM_SEED={seed} cargo test");
            Err(format!("{report}\n  replay:   {replay}"))
        }
        // One seed asked for (`SYNCSIM_SEED`, reproducing a run) says nothing of coverage.
        Judged::Uncovered(1, _) if std::env::var_os("SYNCSIM_SEED").is_some() => {
            Ok(format!("{id}: held its one seed"))
        }
        Judged::Uncovered(ran, names) => Err(format!(
            "{id}: held {ran} seed(s) but never hit: {}",
            names.join("; ")
        )),
    }
}
