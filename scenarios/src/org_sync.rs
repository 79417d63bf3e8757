//! Scenarios of `org_sync`: both variants under the faults the fix claims to handle —
//! webhook duplicates, out-of-order delivery and reconcile replays, concurrent creates of one
//! base slug, worker crashes and pauses (lease loss, re-runs), and request faults on every
//! call, provider `external_id` writes included.
//!
//! Not here: database crashes (the Postgres model's own scenarios cover them).

use std::time::Duration;

use syncsim_models::org_sync::{OrgSyncConfig, Variant};
use syncsim_sim::{Bounds, FaultPlan, NetConfig, Phases, RandomFault, Ratio, RequestFaults};

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    vec![
        scenario(Variant::BlindUpsert, Expectation::Caught, 20),
        scenario(Variant::FetchThenWrite, Expectation::Holds, 30),
    ]
}

fn config(variant: Variant) -> OrgSyncConfig {
    OrgSyncConfig {
        variant,
        org_count: 4,
        rename_count: 5,
        delete_count: 1,
        action_gap_max_ms: 300,
        worker_count: 2,
        attempts_bound: 8,
        duplicate_probability: Ratio::new(1, 3),
        reconcile_interval_ms: Some(3_000),
        reconcile_window_ms: 10_000,
    }
}

/// Five seconds of provider activity under random faults, then a long heal in which the
/// provider's retries and reconciles deliver everything.
fn scenario(variant: Variant, expectation: Expectation, seed_count: u64) -> ScenarioSpec {
    let workers = ["worker-1", "worker-2"];
    ScenarioSpec {
        id: format!("org_sync/{}", variant.name()),
        expectation,
        seed_count,
        model: ModelSpec::OrgSync(config(variant)),
        faults: FaultPlan::new()
            .random(RandomFault::CrashRestart(episodes(
                &["worker-1", "worker-2", "app"],
                Ratio::new(1, 5),
                Duration::from_secs(1),
            )))
            .random(RandomFault::PauseResume(episodes(
                &workers,
                Ratio::new(1, 5),
                Duration::from_secs(3),
            )))
            .random(RandomFault::Requests(RequestFaults {
                reject_probability: Ratio::new(1, 20),
                reply_lost_probability: Ratio::new(1, 30),
                duplicate_probability: Ratio::new(1, 30),
                delay_probability: Ratio::new(1, 10),
                delay_max: Duration::from_millis(100),
                targets: Vec::new(),
            })),
        phases: Phases {
            chaos: Duration::from_secs(5),
            heal: Duration::from_secs(60),
        },
        bounds: Bounds {
            events_max: 200_000,
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
