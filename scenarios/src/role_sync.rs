//! Scenarios of `role_sync`, on Heroku Connect's cadence (one serial writer, 2 min, notified
//! within 10 s): both variants under worker crashes (process death), worker isolation
//! (connection loss without process death: GoodJob's session lock outlives it until
//! PostgreSQL notices the dead connection), mirror daemon pauses and an upstream contact lag
//! that ends inside the guarded job's retry window, with one user whose contact never arrives;
//! and `guarded/crm_reply_lost`, the guarded fix with the CRM's replies sometimes lost after
//! the write (Heroku Connect then sends the create again and it fails as a duplicate).
//!
//! The heal phase outlasts ten `polynomially_longer` attempts (about 4.3 hours of virtual
//! time with jitter), so a lost contact's job reaches its visible failure. Not here: request
//! faults on the database (the jobs service's own storm test covers them).

use std::time::Duration;

use syncsim_models::role_sync::{RoleSyncConfig, Variant, CRM};
use syncsim_sim::services::crm::MirrorCadence;
use syncsim_sim::{Bounds, FaultPlan, NetConfig, Phases, RandomFault, Ratio, RequestFaults};

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    vec![
        scenario(Variant::Unguarded, "", Expectation::Caught, 20, faults()),
        scenario(Variant::Guarded, "", Expectation::Holds, 12, faults()),
        scenario(
            Variant::Guarded,
            "/crm_reply_lost",
            Expectation::Caught,
            20,
            faults().random(RandomFault::Requests(crm_replies_lost())),
        ),
    ]
}

/// Worker crashes and isolations, and pauses of the mirror's sync node.
fn faults() -> FaultPlan {
    let workers = ["worker-1", "worker-2"];
    FaultPlan::new()
        .random(RandomFault::CrashRestart(episodes(
            &workers,
            Ratio::new(1, 10),
            Duration::from_secs(60),
        )))
        .random(RandomFault::IsolateRejoin(episodes(
            &workers,
            Ratio::new(1, 40),
            Duration::from_secs(60),
        )))
        .random(RandomFault::PauseResume(episodes(
            &["connect"],
            Ratio::new(1, 20),
            Duration::from_secs(60),
        )))
}

/// One CRM reply in ten lost after the CRM applied the write; nothing else.
fn crm_replies_lost() -> RequestFaults {
    RequestFaults {
        reject_probability: Ratio::ZERO,
        reply_lost_probability: Ratio::new(1, 10),
        duplicate_probability: Ratio::ZERO,
        delay_probability: Ratio::ZERO,
        delay_max: Duration::ZERO,
        targets: vec![CRM.to_string()],
    }
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
        mirror_cadence: MirrorCadence::heroku_connect(),
        editor_poll_interval_ms: 60_000,
        contact_poll_interval_ms: 60_000,
        affiliation_poll_interval_ms: 10_000,
        worker_count: 2,
        job_poll_interval_ms: 10_000,
        job_work_max_ms: 3_000,
    }
}

/// Two minutes of chaos, then a heal past the last retry of a lost contact's job.
fn scenario(
    variant: Variant,
    shape: &str,
    expectation: Expectation,
    seed_count: u64,
    faults: FaultPlan,
) -> ScenarioSpec {
    ScenarioSpec {
        id: format!("role_sync/{}{shape}", variant.name()),
        expectation,
        properties: Vec::new(),
        seed_count,
        model: ModelSpec::RoleSync(config(variant)),
        faults,
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
