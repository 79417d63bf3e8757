//! Scenarios of `campaign_control`: `ttl_only` caught by the 1 s pause bound;
//! `request_correlation` caught by each of its two defects in its own scenario (foreign
//! correlation ids dropped by validation; an awaited publish failing a committed transition
//! during a broker outage); `fixed` holding with one sender under broker outages and crashes
//! of the sender and the packer.
//!
//! Not here: more than one sender for `fixed` (the model's header says why it is not
//! claimed).

use std::time::Duration;

use syncsim_models::campaign_control::{CampaignControlConfig, Variant};
use syncsim_sim::{Bounds, FaultPlan, NetConfig, Phases, RandomFault, Ratio};

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    let outages = || {
        FaultPlan::new().random(RandomFault::OutageRecover(episodes(
            &["broker"],
            Ratio::new(1, 2),
            Duration::from_secs(2),
        )))
    };
    let crashes = |plan: FaultPlan| {
        plan.random(RandomFault::CrashRestart(episodes(
            &["sender-1", "packer"],
            Ratio::new(1, 10),
            Duration::from_secs(1),
        )))
    };
    vec![
        scenario(
            Variant::TtlOnly,
            "",
            Ratio::new(0, 1),
            FaultPlan::new(),
            Expectation::Caught,
        ),
        scenario(
            Variant::RequestCorrelation,
            "/foreign_ids",
            Ratio::new(1, 2),
            FaultPlan::new(),
            Expectation::Caught,
        ),
        scenario(
            Variant::RequestCorrelation,
            "/outage",
            Ratio::new(0, 1),
            outages(),
            Expectation::Caught,
        ),
        scenario(
            Variant::Fixed,
            "",
            Ratio::new(1, 2),
            crashes(outages()),
            Expectation::Holds,
        ),
    ]
}

fn config(variant: Variant, foreign_id_ratio: Ratio) -> CampaignControlConfig {
    CampaignControlConfig {
        variant,
        campaign_count: 2,
        messages_per_campaign: 30,
        sender_count: 1,
        page_size: 4,
        pack_interval_ms: 200,
        dispatch_ms: 50,
        cache_ttl_ms: 5_000,
        pause_at_max_ms: 1_500,
        pause_length_max_ms: 4_000,
        stop_count: 1,
        foreign_id_ratio,
        mutation: None,
    }
}

fn scenario(
    variant: Variant,
    shape: &str,
    foreign_id_ratio: Ratio,
    faults: FaultPlan,
    expectation: Expectation,
) -> ScenarioSpec {
    ScenarioSpec {
        id: format!("campaign_control/{}{shape}", variant.name()),
        expectation,
        seed_count: 20,
        model: ModelSpec::CampaignControl(config(variant, foreign_id_ratio)),
        faults,
        phases: Phases {
            chaos: Duration::from_secs(10),
            heal: Duration::from_secs(30),
        },
        bounds: Bounds {
            events_max: 500_000,
            time_max: Duration::from_secs(60),
            wall_max: Duration::from_secs(60),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            call_timeout: Duration::from_millis(500),
        },
    }
}
