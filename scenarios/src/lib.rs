//! The catalog of named scenarios: a model variant with its workload, fault plan, phases,
//! bounds, expectation and committed seed budget.
//!
//! Scenario ids read `<model>/<variant>[/<shape>]`. A `caught` scenario must fail within its
//! seed budget (its variant has the bug); a `holds` scenario must pass every seed of its budget
//! and hit every `sometimes` property. Not here yet: scenarios as serde files, random fault
//! generators and shrinking; the exploration layer adds them.

mod counter;

use std::fmt;

use serde::{Deserialize, Serialize};
use syncsim_sim::{Case, Seed};

/// What a scenario's seed budget must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// The variant is buggy: some seed in the budget must fail.
    Caught,
    /// The variant is fixed: every seed must pass and every `sometimes` must be hit.
    Holds,
}

impl fmt::Display for Expectation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Expectation::Caught => "caught",
            Expectation::Holds => "holds",
        })
    }
}

/// A named scenario of the catalog.
#[derive(Clone)]
pub struct Scenario {
    /// The runnable case; `case.scenario` is the id.
    pub case: Case,
    /// What its seed budget must show.
    pub expectation: Expectation,
    /// The committed seed budget: seeds `0..seed_count`.
    pub seed_count: u64,
}

impl Scenario {
    /// The scenario id.
    pub fn id(&self) -> &str {
        &self.case.scenario
    }

    /// The committed seeds.
    pub fn seeds(&self) -> impl Iterator<Item = Seed> {
        syncsim_sim::seed_range(0, self.seed_count)
    }
}

/// Every scenario, in a stable order.
pub fn catalog() -> Vec<Scenario> {
    counter::scenarios()
}

/// The scenario named `id`, or an error listing the known ids.
pub fn find(id: &str) -> Result<Scenario, String> {
    let all = catalog();
    let known: Vec<String> = all
        .iter()
        .map(|scenario| scenario.id().to_string())
        .collect();
    all.into_iter()
        .find(|scenario| scenario.id() == id)
        .ok_or_else(|| {
            format!(
                "unknown scenario {id:?}; known scenarios: {}",
                known.join(", ")
            )
        })
}
