//! Scenarios of `org_sync`: both variants under the faults the fix claims to handle —
//! webhook duplicates, out-of-order delivery and reconcile replays, concurrent creates of one
//! base slug, worker crashes and pauses (lease loss, re-runs), and request faults on every
//! call, provider `external_id` writes included. The provider is WorkOS-faithful: a retry
//! window of about 3 days, ids that may invert within a millisecond.
//!
//! `fetch_then_write` also meets what a real deployment adds: the receiving app crashed or cut
//! off from the network for one to three minutes (a bad deploy, a network incident), which
//! the retry window rides out. Its chaos phase may then last minutes (it ends when the
//! provider's source owes nothing). The caught scenarios keep the five-second plan: they fail
//! in its first seconds, and a plan of minutes holds hundreds of faults, more than shrinking
//! drops one at a time within its budget.
//!
//! `fetch_then_write/same_millisecond` adds two renames of one org committed together, whose
//! events leave in one millisecond: the fix's guard compares event ids, and there the later
//! event's id sorts first about half the time.
//!
//! Not here: database crashes (the Postgres model's own scenarios cover them).

use std::time::Duration;

use syncsim_models::org_sync::{OrgSyncConfig, Variant};
use syncsim_sim::services::webhook::IdOrder;
use syncsim_sim::{
    Bounds, Episodes, FaultPlan, NetConfig, Phases, RandomFault, Ratio, RequestFaults,
};

use syncsim_models::org_sync::APP;

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    let mut same_millisecond = scenario(Variant::FetchThenWrite, Expectation::Caught, 30);
    same_millisecond.id.push_str("/same_millisecond");
    if let ModelSpec::OrgSync(config) = &mut same_millisecond.model {
        config.same_millisecond_probability = Ratio::new(1, 2);
    }
    vec![
        scenario(Variant::BlindUpsert, Expectation::Caught, 20),
        with_app_outages(scenario(Variant::FetchThenWrite, Expectation::Holds, 30)),
        same_millisecond,
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
        id_order: IdOrder::UnorderedWithinMillisecond,
        same_millisecond_probability: Ratio::new(0, 1),
    }
}

/// The receiving app's long outage: crashed or isolated for one to three minutes (longer
/// than a minute, far shorter than WorkOS's 3-day retry window). At most one per kind and run:
/// the ten minutes of stability after it outlast the chaos phase, as a real deployment sees
/// such incidents rarely. With one chance in five per second it starts within the first
/// seconds, so it often overlaps the provider's workload.
fn app_outage() -> Episodes {
    Episodes {
        nodes: vec![APP.to_string()],
        probability_per_sec: Ratio::new(1, 5),
        duration_min: Duration::from_secs(61),
        duration_max: Duration::from_secs(180),
        stability: Duration::from_secs(600),
    }
}

/// Five seconds of provider activity under random faults, then a heal in which the provider's
/// retries and reconciles deliver everything (the provider's workload lasts until they did).
fn scenario(variant: Variant, expectation: Expectation, seed_count: u64) -> ScenarioSpec {
    let workers = ["worker-1", "worker-2"];
    ScenarioSpec {
        id: format!("org_sync/{}", variant.name()),
        expectation,
        properties: Vec::new(),
        seed_count,
        model: ModelSpec::OrgSync(config(variant)),
        faults: FaultPlan::new()
            .random(RandomFault::CrashRestart(episodes(
                &["worker-1", "worker-2", APP],
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
            time_max: Duration::from_secs(600),
            wall_max: Duration::from_secs(60),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            call_timeout: Duration::from_millis(500),
        },
    }
}

/// `scenario` with the app's long outages added: one crash and one isolation of one to three
/// minutes at most per run. The chaos phase may last up to ten minutes, so an outage is not
/// cut short by the heal; every planned fault runs, and chaos then ends as soon as the
/// provider's workload is done (every event acknowledged, plus its settle time). The bounds
/// leave room for a retry that an outage pushed to the 12-minute backoff after the chaos ran
/// out.
fn with_app_outages(mut scenario: ScenarioSpec) -> ScenarioSpec {
    scenario.faults = scenario
        .faults
        .random(RandomFault::CrashRestart(app_outage()))
        .random(RandomFault::IsolateRejoin(app_outage()));
    scenario.phases.chaos = Duration::from_secs(600);
    scenario.bounds.time_max = Duration::from_secs(3_600);
    scenario.bounds.events_max = 400_000;
    scenario
}
