//! The catalog of named scenarios, and everything that explores them: shrinking, replay
//! files, seed budgets from the environment, committed regression seeds.
//!
//! A scenario is data (`ScenarioSpec`, serde, unknown fields refused): a model variant with
//! its workload, a fault plan, phase lengths, bounds, an expectation and a committed seed
//! budget. Ids read `<model>/<variant>[/<shape>]`. A `caught` scenario must fail within its
//! budget; a `holds` scenario must pass every seed and hit every `sometimes` property.
//!
//! Module map:
//! - `spec`: `ScenarioSpec`, `ModelSpec`, `Expectation`.
//! - `counter`: the toy model's scenarios.
//! - `campaign_control`: pause and stop through a broker fast path, every variant.
//! - `contract_outbox`: a contract signature and its outbox event, every variant.
//! - `faults`: fault-plan building blocks the scenarios share.
//! - `journey_sessions`: sessions referencing contacts the service never stores, every
//!   variant.
//! - `org_sync`: webhook events against a unique slug, both variants.
//! - `role_sync`: a child row pushed to the CRM before its parent, both variants.
//! - `shrink`: a failure made small with proptest's value trees.
//! - `replay`: replay files (write, read, check the version).
//! - `budget`: `SYNCSIM_SEED`, `SYNCSIM_SEEDS`, `SYNCSIM_SCENARIO`.
//! - `regressions`: committed failing seeds, replayed first.

pub mod budget;
mod campaign_control;
mod contract_outbox;
mod counter;
mod faults;
mod journey_sessions;
mod org_sync;
pub mod regressions;
pub mod replay;
mod role_sync;
pub mod shrink;
pub mod spec;

pub use spec::{Expectation, ModelSpec, ScenarioSpec};

/// Every scenario, in a stable order.
pub fn catalog() -> Vec<ScenarioSpec> {
    let mut all = counter::scenarios();
    all.extend(org_sync::scenarios());
    all.extend(role_sync::scenarios());
    all.extend(campaign_control::scenarios());
    all.extend(contract_outbox::scenarios());
    all.extend(journey_sessions::scenarios());
    all
}

/// The scenario named `id`, or an error listing the known ids.
pub fn find(id: &str) -> Result<ScenarioSpec, String> {
    let all = catalog();
    let known: Vec<String> = all.iter().map(|scenario| scenario.id.clone()).collect();
    all.into_iter()
        .find(|scenario| scenario.id == id)
        .ok_or_else(|| {
            format!(
                "unknown scenario {id:?}; known scenarios: {}",
                known.join(", ")
            )
        })
}

/// The scenarios whose id matches the glob `pattern` (`counter/*`, `*/unguarded`).
pub fn filter(pattern: &str) -> Result<Vec<ScenarioSpec>, String> {
    let glob = glob::Pattern::new(pattern)
        .map_err(|error| format!("invalid scenario filter {pattern:?}: {error}"))?;
    let matching: Vec<ScenarioSpec> = catalog()
        .into_iter()
        .filter(|scenario| glob.matches(&scenario.id))
        .collect();
    if matching.is_empty() {
        return Err(format!("no scenario matches {pattern:?}"));
    }
    Ok(matching)
}
