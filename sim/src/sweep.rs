//! A sweep: one case over many seeds, with coverage of its `sometimes` properties.
//!
//! Seeds run one after another on fresh threads; a sweep stops at the first failure when
//! asked to (looking for a bug) or runs them all (proving a fix holds, counting coverage).
//! Not here: parallelism across cores and wall-clock budgets; the CLI's fuzz command adds
//! them on top.

use std::collections::BTreeMap;
use std::fmt;

use crate::run::{Case, Outcome};
use crate::seed::Seed;

/// The seeds of a sweep: `start..end`, end exclusive, each a master seed.
pub fn seed_range(start: u64, end: u64) -> impl Iterator<Item = Seed> {
    (start..end).map(Seed)
}

/// What a sweep found.
#[derive(Clone, Debug, Default)]
pub struct Sweep {
    /// The seeds that ran, in order, with their trace digests.
    pub seeds: Vec<(Seed, String)>,
    /// The first failed run, if any.
    pub failure: Option<Outcome>,
    /// For every `sometimes` property: in how many runs it was hit.
    pub coverage: BTreeMap<String, u64>,
}

impl Sweep {
    /// Names of the `sometimes` properties no run hit.
    pub fn uncovered(&self) -> Vec<String> {
        self.coverage
            .iter()
            .filter(|(_, hits)| **hits == 0)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

impl fmt::Display for Sweep {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(formatter, "{} seed(s) run", self.seeds.len())?;
        for (name, hits) in &self.coverage {
            writeln!(formatter, "  sometimes {hits:>5} run(s)  {name}")?;
        }
        match &self.failure {
            Some(outcome) => write!(formatter, "first failure: seed {}", outcome.seed),
            None => write!(formatter, "no failure"),
        }
    }
}

impl Case {
    /// Runs every seed of `seeds` (stopping at the first failure when `stop_at_failure`).
    pub fn run_seeds(&self, seeds: impl IntoIterator<Item = Seed>, stop_at_failure: bool) -> Sweep {
        let mut sweep = Sweep::default();
        for seed in seeds {
            let outcome = self.run(seed);
            sweep.seeds.push((seed, outcome.digest()));
            for (name, hit) in &outcome.sometimes {
                *sweep.coverage.entry(name.clone()).or_default() += u64::from(*hit);
            }
            if outcome.failure.is_some() && sweep.failure.is_none() {
                sweep.failure = Some(outcome);
                if stop_at_failure {
                    break;
                }
            }
        }
        sweep
    }
}
