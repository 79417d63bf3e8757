//! Fault-plan building blocks the catalog's scenarios share.
//!
//! Not here: whole plans; each scenario states its own, so a reader sees it in one place.

use std::time::Duration;

use syncsim_sim::{Episodes, Ratio};

/// Random episodes on `nodes`: 50 ms to `duration_max` long, at most one starting per node
/// every half second.
pub(crate) fn episodes(
    nodes: &[&str],
    probability_per_sec: Ratio,
    duration_max: Duration,
) -> Episodes {
    Episodes {
        nodes: nodes.iter().map(|node| node.to_string()).collect(),
        probability_per_sec,
        duration_min: Duration::from_millis(50),
        duration_max,
        stability: Duration::from_millis(500),
    }
}
