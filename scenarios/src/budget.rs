//! Seed budgets from the environment: `SYNCSIM_SEED`, `SYNCSIM_SEEDS`, `SYNCSIM_SCENARIO`.
//!
//! `cargo test` runs each scenario's committed budget; these variables narrow it to one
//! seed, widen or move it to a count or a range, or pick scenarios by glob. A malformed value
//! is an error naming the variable, never a silent default.

use syncsim_sim::{Seed, SeedRange};

use crate::spec::ScenarioSpec;

/// Which seeds a test runs for a scenario, and whether it runs it at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The seeds, in order (a range, iterated lazily).
    pub seeds: SeedRange,
    /// False when `SYNCSIM_SCENARIO` does not match this scenario.
    pub selected: bool,
}

/// Reads a variable through `lookup` (the environment in tests: `std::env::var(..).ok()`).
pub fn from_lookup(
    scenario: &ScenarioSpec,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Budget, String> {
    let selected = match lookup("SYNCSIM_SCENARIO") {
        None => true,
        Some(pattern) => glob::Pattern::new(&pattern)
            .map_err(|error| format!("SYNCSIM_SCENARIO={pattern:?}: {error}"))?
            .matches(&scenario.id),
    };
    let seeds = if let Some(seed) = lookup("SYNCSIM_SEED") {
        let seed: Seed = seed
            .parse()
            .map_err(|error| format!("SYNCSIM_SEED: {error}"))?;
        SeedRange::one(seed)
    } else if let Some(seeds) = lookup("SYNCSIM_SEEDS") {
        parse_seeds(&seeds).map_err(|error| format!("SYNCSIM_SEEDS: {error}"))?
    } else {
        scenario.seed_range()
    };
    Ok(Budget { seeds, selected })
}

/// `N` (seeds `0..N`) or `A..B` (B excluded), each number decimal or 0x-hex: any range of
/// u64 seeds, never built in memory.
pub fn parse_seeds(text: &str) -> Result<SeedRange, String> {
    let (start, end) = match text.split_once("..") {
        Some((start, end)) => (start.parse::<Seed>(), end.parse::<Seed>()),
        None => (Ok(Seed(0)), text.parse::<Seed>()),
    };
    let (start, end) = (
        start.map_err(|e| e.to_string())?,
        end.map_err(|e| e.to_string())?,
    );
    SeedRange::exclusive(start.0, end.0)
        .ok_or_else(|| format!("invalid seed range {text:?}: it is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(variables: &[(&str, &str)]) -> Result<Budget, String> {
        let scenario = crate::find("counter/unguarded").expect("in the catalog");
        from_lookup(&scenario, |name| {
            variables
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn the_environment_narrows_widens_and_filters() {
        assert_eq!(budget(&[]).expect("ok").seeds.count(), 50);
        assert_eq!(
            budget(&[("SYNCSIM_SEED", "0x2a")]).expect("ok").seeds,
            SeedRange::one(Seed(42))
        );
        assert_eq!(
            budget(&[("SYNCSIM_SEEDS", "500")])
                .expect("ok")
                .seeds
                .count(),
            500
        );
        let range = budget(&[("SYNCSIM_SEEDS", "10..13")]).expect("ok").seeds;
        let seeds: Vec<Seed> = range.iter().collect();
        assert_eq!(seeds, [Seed(10), Seed(11), Seed(12)]);
        let all = budget(&[("SYNCSIM_SEEDS", "18446744073709551615")]).expect("ok");
        assert_eq!(
            all.seeds.count(),
            u128::from(u64::MAX),
            "a count of u64::MAX seeds"
        );
        assert!(
            !budget(&[("SYNCSIM_SCENARIO", "other/*")])
                .expect("ok")
                .selected
        );
        assert!(
            budget(&[("SYNCSIM_SCENARIO", "counter/*")])
                .expect("ok")
                .selected
        );
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let error = budget(&[("SYNCSIM_SEEDS", "9..3")]).expect_err("empty");
        assert!(error.starts_with("SYNCSIM_SEEDS"), "{error}");
        let error = budget(&[("SYNCSIM_SEED", "zz")]).expect_err("bad seed");
        assert!(error.starts_with("SYNCSIM_SEED:"), "{error}");
    }
}
