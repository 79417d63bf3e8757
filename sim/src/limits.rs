//! The largest sizes and durations a case may ask for, checked when it is loaded so that a
//! run, its setup and the drawing of its fault plan are bounded before anything starts
//! (`events_max` and `wall_max` only bound a run once it runs).
//!
//! Each limit is far above any scenario of the catalog and low enough that a mistyped value
//! fails at once with the field's name instead of hanging or exhausting memory. A model's
//! own config is bounded by the scenario loader (`syncsim_scenarios`). Not here: limits on
//! a model's setup beyond its config (a model that builds a billion rows from small knobs).

use std::time::Duration;

use crate::fault::RandomFault;
use crate::run::Case;
use crate::time::describe;

/// The longest virtual time a run may last (`bounds.time_max`): 30 days.
pub const TIME_MAX_LIMIT: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest real time one run may take (`bounds.wall_max`): 24 hours.
pub const WALL_MAX_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// The most trace events one run may record (`bounds.events_max`): ten million, about a
/// gigabyte of trace.
pub const EVENTS_MAX_LIMIT: u64 = 10_000_000;
/// The most node-seconds random episode generators may draw over (each generator's nodes
/// times the chaos phase's seconds, summed): drawing a plan costs one draw per node-second.
pub const EPISODE_DRAWS_LIMIT: u64 = 1_000_000;

/// The most entities (rows, users, workflow nodes) a model's setup may create: products of
/// config fields a model checks in `ModelConfig::check_limits` with [`setup_at_most`].
pub const SETUP_ENTITIES_LIMIT: u64 = 10_000;

/// Refuses a setup of `factors` multiplied (each named by its config field) past
/// [`SETUP_ENTITIES_LIMIT`].
pub fn setup_at_most(factors: &[(&str, u64)]) -> Result<(), String> {
    let product = factors
        .iter()
        .fold(1u64, |product, (_, factor)| product.saturating_mul(*factor));
    if product <= SETUP_ENTITIES_LIMIT {
        return Ok(());
    }
    let names: Vec<&str> = factors.iter().map(|(name, _)| *name).collect();
    Err(format!(
        "{} = {product}, above the limit {SETUP_ENTITIES_LIMIT} of entities a setup creates",
        names.join(" x ")
    ))
}

/// Checks `case` against the limits; the error names the field.
pub fn check(case: &Case) -> Result<(), String> {
    let bounds = &case.bounds;
    let over = |field: &str, value: Duration, limit: Duration| {
        let (value, limit) = (describe(value), describe(limit));
        Err(format!("{field} is {value}, above its limit {limit}"))
    };
    if bounds.time_max > TIME_MAX_LIMIT {
        return over("bounds.time_max", bounds.time_max, TIME_MAX_LIMIT);
    }
    if bounds.wall_max > WALL_MAX_LIMIT {
        return over("bounds.wall_max", bounds.wall_max, WALL_MAX_LIMIT);
    }
    if bounds.events_max > EVENTS_MAX_LIMIT {
        let events = bounds.events_max;
        return Err(format!(
            "bounds.events_max is {events}, above its limit {EVENTS_MAX_LIMIT}"
        ));
    }
    // Every other duration is at most the run's own virtual-time bound.
    let time_max = bounds.time_max;
    let mut durations = vec![
        ("phases.chaos".to_string(), case.phases.chaos),
        ("phases.heal".to_string(), case.phases.heal),
        ("net.latency_max".to_string(), case.net.latency_max),
        ("net.call_timeout".to_string(), case.net.call_timeout),
    ];
    durations.extend(fault_durations(case));
    for (field, value) in durations {
        if value > time_max {
            return over(&field, value, time_max);
        }
    }
    let draws = episode_draws(case);
    if draws > EPISODE_DRAWS_LIMIT {
        return Err(format!(
            "faults.random: {draws} node-seconds of random episodes (nodes times the chaos \
             phase's seconds), above the limit {EPISODE_DRAWS_LIMIT}"
        ));
    }
    Ok(())
}

/// The durations of the random generators, each named by its field.
fn fault_durations(case: &Case) -> Vec<(String, Duration)> {
    let mut durations = Vec::new();
    for (index, generator) in case.faults.random.iter().enumerate() {
        let field = |name: &str| format!("faults.random[{index}].{name}");
        match generator {
            RandomFault::Requests(requests) => {
                durations.push((field("delay_max"), requests.delay_max));
            }
            RandomFault::CrashRestart(episodes)
            | RandomFault::PauseResume(episodes)
            | RandomFault::IsolateRejoin(episodes)
            | RandomFault::OutageRecover(episodes) => {
                durations.push((field("duration_max"), episodes.duration_max));
                durations.push((field("stability"), episodes.stability));
            }
        }
    }
    durations
}

fn episode_draws(case: &Case) -> u64 {
    let seconds = case.phases.chaos.as_secs();
    let nodes: u64 = case
        .faults
        .random
        .iter()
        .map(|generator| match generator {
            RandomFault::Requests(_) => 0,
            RandomFault::CrashRestart(episodes)
            | RandomFault::PauseResume(episodes)
            | RandomFault::IsolateRejoin(episodes)
            | RandomFault::OutageRecover(episodes) => episodes.nodes.len() as u64,
        })
        .sum();
    nodes.saturating_mul(seconds)
}
