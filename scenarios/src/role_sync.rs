//! Scenarios of `role_sync`: both variants under worker crashes, mirror daemon pauses and an
//! upstream contact lag that ends inside the guarded job's retry window, with one user whose
//! contact never arrives.
//!
//! The heal phase outlasts ten `polynomially_longer` attempts (about 4.3 hours of virtual
//! time with jitter), so a lost contact's job reaches its visible failure. Not here: request
//! faults on the database (the jobs service's own storm test covers them).

use std::time::Duration;

use syncsim_models::role_sync::{RoleSyncConfig, Variant};
use syncsim_sim::{Bounds, FaultPlan, NetConfig, Phases, RandomFault, Ratio};

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    vec![
        scenario(Variant::Unguarded, Expectation::Caught, 20),
        scenario(Variant::Guarded, Expectation::Holds, 12),
    ]
}

fn config(variant: Variant) -> RoleSyncConfig {
    RoleSyncConfig {
        variant,
        school_count: 3,
        teachers_per_school: 1,
        students_per_school: 1,
        action_gap_max_ms: 2_000,
        contact_lag_max_s: 300,
        lost_contact_count: 1,
        editor_poll_interval_ms: 60_000,
        contact_poll_interval_ms: 60_000,
        affiliation_poll_interval_ms: 10_000,
        worker_count: 2,
        job_poll_interval_ms: 10_000,
        job_work_max_ms: 3_000,
    }
}

/// Two minutes of chaos, then a heal past the last retry of a lost contact's job.
fn scenario(variant: Variant, expectation: Expectation, seed_count: u64) -> ScenarioSpec {
    ScenarioSpec {
        id: format!("role_sync/{}", variant.name()),
        expectation,
        seed_count,
        model: ModelSpec::RoleSync(config(variant)),
        faults: FaultPlan::new()
            .random(RandomFault::CrashRestart(episodes(
                &["worker-1", "worker-2"],
                Ratio::new(1, 10),
                Duration::from_secs(60),
            )))
            .random(RandomFault::PauseResume(episodes(
                &["connect"],
                Ratio::new(1, 20),
                Duration::from_secs(60),
            ))),
        phases: Phases {
            chaos: Duration::from_secs(120),
            heal: Duration::from_secs(18_500),
        },
        bounds: Bounds {
            events_max: 2_000_000,
            time_max: Duration::from_secs(20_000),
            wall_max: Duration::from_secs(120),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            call_timeout: Duration::from_millis(500),
        },
    }
}
