//! Scenarios of `journey_sessions`: every variant under worker and app crashes, upstream
//! contact lag and contacts deleted mid-journey, with legacy contacts that hold real data.
//!
//! A few journeys of a few nodes keep a sweep fast. The heal phase outlasts a node's
//! retries (1 + 2 + 4 + 8 s) and a crashed worker's lease. Not here: request faults on the
//! database or the CRM (the workflow and CRM tests cover them).

use std::time::Duration;

use syncsim_models::journey_sessions::{JourneySessionsConfig, Variant};
use syncsim_sim::{Bounds, FaultPlan, NetConfig, Phases, RandomFault, Ratio};

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    vec![
        scenario(Variant::Original, Expectation::Caught, 10),
        scenario(Variant::StartBestEffort, Expectation::Caught, 10),
        scenario(Variant::LazyUpsert, Expectation::Holds, 30),
        scenario(Variant::LazyUpsertOnCrmSchema, Expectation::Caught, 10),
    ]
}

fn config(variant: Variant) -> JourneySessionsConfig {
    JourneySessionsConfig {
        variant,
        journey_count: 5,
        nodes_per_journey: 3,
        local_contact_count: 2,
        deleted_contact_count: 2,
        contact_lag_max_ms: 5_000,
        start_gap_max_ms: 1_000,
        node_wait_max_ms: 2_000,
        delete_after_max_ms: 6_000,
        worker_count: 2,
        node_attempts_max: 5,
        attempts_bound: 2,
        mutation: None,
    }
}

/// Up to twenty seconds of crashes, then a heal past a lost lease and a node's retries.
fn scenario(variant: Variant, expectation: Expectation, seed_count: u64) -> ScenarioSpec {
    ScenarioSpec {
        id: format!("journey_sessions/{}", variant.name()),
        expectation,
        properties: Vec::new(),
        seed_count,
        model: ModelSpec::JourneySessions(config(variant)),
        faults: FaultPlan::new().random(RandomFault::CrashRestart(episodes(
            &["worker-1", "worker-2", "app"],
            Ratio::new(1, 10),
            Duration::from_secs(5),
        ))),
        phases: Phases {
            chaos: Duration::from_secs(20),
            heal: Duration::from_secs(30),
        },
        bounds: Bounds {
            events_max: 500_000,
            time_max: Duration::from_secs(120),
            wall_max: Duration::from_secs(60),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            call_timeout: Duration::from_millis(500),
        },
    }
}
