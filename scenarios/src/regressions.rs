//! Committed regression seeds: failing seeds found by sweeps, replayed before new ones.
//!
//! One file per scenario, `scenarios/regressions/<model>_<variant>[_<shape>].seeds`, one
//! seed per line, then anything after `#` (property, commit, date) as a comment. The files are
//! compiled in, so a binary replays them from any directory. Not kept: the shrunk plans (a
//! replay file does that).

use syncsim_sim::Seed;

/// The committed files, by scenario id.
const FILES: &[(&str, &str)] = &[
    (
        "counter/unguarded",
        include_str!("../regressions/counter_unguarded.seeds"),
    ),
    (
        "counter/unguarded/swarm",
        include_str!("../regressions/counter_unguarded_swarm.seeds"),
    ),
    (
        "org_sync/fetch_then_write",
        include_str!("../regressions/org_sync_fetch_then_write.seeds"),
    ),
    (
        "campaign_control/gated",
        include_str!("../regressions/campaign_control_gated.seeds"),
    ),
    (
        "role_sync/guarded",
        include_str!("../regressions/role_sync_guarded.seeds"),
    ),
];

/// The committed regression seeds of `scenario_id` (none when it has no file).
pub fn seeds(scenario_id: &str) -> Vec<Seed> {
    FILES
        .iter()
        .filter(|(id, _)| *id == scenario_id)
        .flat_map(|(id, text)| parse(id, text))
        .collect()
}

fn parse(id: &str, text: &str) -> Vec<Seed> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.parse()
                .unwrap_or_else(|error| panic!("regressions of {id}: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_committed_file_parses_and_names_a_catalog_scenario() {
        for (id, text) in FILES {
            crate::find(id).expect("a regression file names a catalog scenario");
            assert!(!parse(id, text).is_empty(), "{id}: empty regression file");
        }
        assert_eq!(seeds("no/such"), vec![]);
    }
}
