//! The catalog of named scenarios, and everything that explores them: shrinking, replay
//! files, seed budgets from the environment, committed regression seeds.
//!
//! A scenario is data (`ScenarioSpec`, serde, unknown fields refused): a model variant with
//! its workload, a fault plan, phase lengths, bounds, an expectation, a committed seed
//! budget and the properties it checks. Ids read `<model>/<variant>[/<shape>]`. A `caught`
//! scenario must fail within its budget; a `holds` scenario must pass every seed and hit
//! every `sometimes` property. The catalog is the committed files under `catalog/` (one
//! TOML file per scenario, with why it is shaped so), embedded at build time; a user's own
//! files load at run time (`file`).
//!
//! Module map:
//! - `spec`: `ScenarioSpec`, `ModelSpec`, `Expectation`.
//! - `expect`: whether seeds meet a scenario's expectation (`check`, a user's tests).
//! - `registry`: models by name with their serde configs (`ModelConfig`).
//! - `limits`: the largest count and duration a model's config may ask for.
//! - `file`: scenario files (TOML or JSON): parse, load, load a directory; the catalog.
//! - `shrink`: a failure made small with proptest's value trees.
//! - `replay`: replay files (write, read, check the version).
//! - `budget`: `SYNCSIM_SEED`, `SYNCSIM_SEEDS`, `SYNCSIM_SCENARIO`.
//! - `regressions`: committed failing seeds, replayed first.

pub mod budget;
pub mod expect;
pub mod file;
pub mod limits;
pub mod registry;
pub mod regressions;
pub mod replay;
pub mod shrink;
pub mod spec;

pub use spec::{Expectation, ModelSpec, ScenarioSpec};

/// The committed scenario files, in path order (parsed once per process).
pub fn catalog() -> Vec<ScenarioSpec> {
    static CATALOG: std::sync::OnceLock<Vec<ScenarioSpec>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(file::embedded).clone()
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

/// The catalog's scenarios whose id matches the glob `pattern` (`counter/*`, `*/unguarded`).
pub fn filter(pattern: &str) -> Result<Vec<ScenarioSpec>, String> {
    filter_in(catalog(), pattern)
}

/// The scenarios of `all` whose id matches the glob `pattern`.
pub fn filter_in(all: Vec<ScenarioSpec>, pattern: &str) -> Result<Vec<ScenarioSpec>, String> {
    let glob = glob::Pattern::new(pattern)
        .map_err(|error| format!("invalid scenario filter {pattern:?}: {error}"))?;
    let matching: Vec<ScenarioSpec> = all
        .into_iter()
        .filter(|scenario| glob.matches(&scenario.id))
        .collect();
    if matching.is_empty() {
        return Err(format!("no scenario matches {pattern:?}"));
    }
    Ok(matching)
}
