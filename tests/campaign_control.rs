//! campaign_control beyond the catalog's budget: each property is shown able to fail. The
//! catalog's buggy variants break the 1 s bound and the committed-transition property; a
//! status cache that outlives the 30 s bound breaks that one; the mutation that lets a
//! resume leave `STOPPED` breaks "stop is terminal"; the one that re-pages `SENT` messages
//! breaks "resume never re-sends", and so do two senders when one stalls past its 30 s
//! session mid-batch (why `gated` claims one). `fixed` breaks the 1 s bound on the fault
//! plans its catalog sweep found (a sender restarted between its two subscribes) and
//! `gated` holds on the same plans, its gate in use. And a run of `gated` repeats under its
//! seed.

use std::time::Duration;

use syncsim::models::campaign_control::{CampaignControlConfig, Mutation, Variant};
use syncsim::scenarios::{self, ScenarioSpec};
use syncsim::sim::{Case, Episodes, FaultPlan, RandomFault, Ratio, Seed};

use crate::support::{each_property_catches, only_property};

/// `gated` with its config changed by `change`.
fn gated_with(change: impl Fn(&mut CampaignControlConfig)) -> ScenarioSpec {
    let mut scenario = scenarios::find("campaign_control/gated").expect("in the catalog");
    scenario
        .model
        .edit(change)
        .expect("a campaign_control scenario");
    scenario
}

fn first_failure(case: &Case, seed_count: u64) -> syncsim::sim::Failure {
    let mut outcomes = (0..seed_count).map(|seed| case.run(Seed(seed)));
    let first = outcomes.next().expect("a seed");
    if let Some(failure) = first.failure {
        return failure;
    }
    outcomes
        .find_map(|outcome| outcome.failure)
        .unwrap_or_else(|| panic!("no seed fails; seed 0 ran {} events", first.trace.len()))
}

#[test]
fn the_buggy_variants_break_the_pause_bound_and_the_committed_transition() {
    each_property_catches(
        "campaign_control/ttl_only",
        &["campaign_control: pause is honoured in time while the broker is healthy"],
    );
    each_property_catches(
        "campaign_control/request_correlation/foreign_ids",
        &["campaign_control: pause is honoured in time while the broker is healthy"],
    );
    each_property_catches(
        "campaign_control/request_correlation/outage",
        &["campaign_control: a broker outage never fails a committed transition"],
    );
}

#[test]
fn a_cache_longer_than_the_bound_breaks_the_30_s_pause() {
    let name = "campaign_control: pause is honoured in time through outages";
    let scenario = gated_with(|config| {
        config.variant = Variant::TtlOnly;
        config.campaign_count = 1;
        // Big pages queue a long backlog before the pause; a stale cache sends all of it.
        config.messages_per_campaign = 1_000;
        config.page_size = 100;
        config.cache_ttl_ms = 60_000;
        config.pause_length_max_ms = 120_000;
        config.stop_count = 0;
    });
    let mut case = only_property(scenario.case(), name);
    case.faults = syncsim::sim::FaultPlan::new();
    // The operator resumes a minute or two later; the run lasts until it has.
    case.bounds.time_max = std::time::Duration::from_secs(300);
    let failure = first_failure(&case, 5);
    assert_eq!(failure.property, name);
}

#[test]
fn mutations_break_stop_is_terminal_and_no_resend() {
    let cases = [
        (
            Mutation::ResumeFromStopped,
            "campaign_control: stop is terminal",
        ),
        (
            Mutation::ResendSent,
            "campaign_control: resume never re-sends a SENT message",
        ),
    ];
    for (mutation, name) in cases {
        let scenario = gated_with(|config| config.mutation = Some(mutation));
        let failure = first_failure(&only_property(scenario.case(), name), 10);
        assert_eq!(failure.property, name, "{mutation:?}");
        // Without the mutation the same seeds hold.
        let clean = only_property(gated_with(|_| {}).case(), name);
        assert!(
            (0..5).all(|seed| clean.run(Seed(seed)).failure.is_none()),
            "{name}"
        );
    }
}

#[test]
fn gated_repeats_under_its_seed() {
    let scenario = scenarios::find("campaign_control/gated").expect("in the catalog");
    assert!(scenario.case().check_determinism(Seed(2)).is_ok());
}

#[test]
fn fixed_breaks_the_bound_where_gated_holds_with_its_gate_in_use() {
    let name = "campaign_control: pause is honoured in time while the broker is healthy";
    let mark = "campaign_control: a sender checked a status while its control group waited \
                for a dead member";
    let seeds = scenarios::regressions::seeds("campaign_control/gated");
    assert!(!seeds.is_empty(), "the committed plans fixed failed on");
    for seed in seeds {
        // Same scenario, same seed, so the same drawn fault plan: only the sender differs.
        let fixed = gated_with(|config| config.variant = Variant::Fixed).case();
        let failure = fixed.run(seed).failure.expect("fixed breaks the bound");
        assert_eq!(failure.property, name, "{seed}");
        let gated = gated_with(|_| {}).case().run(seed);
        assert!(gated.failure.is_none(), "{seed}: {:?}", gated.failure);
        assert_eq!(gated.sometimes.get(mark), Some(&true), "{seed}");
    }
}

#[test]
fn two_senders_can_send_a_message_twice_so_gated_claims_one() {
    let name = "campaign_control: resume never re-sends a SENT message";
    // A KafkaJS group moves a partition only between batches or when a member's 30 s
    // session expires: a sender stalled longer than that mid-batch is evicted, the other
    // sender gets the batch again from the committed offset while the first one, resumed,
    // finishes it. The operator resumes late so the run lasts past the stall.
    let scenario = gated_with(|config| {
        config.sender_count = 2;
        config.pause_length_max_ms = 40_000;
    });
    let mut case = only_property(scenario.case(), name);
    case.faults = FaultPlan::new().random(RandomFault::PauseResume(Episodes {
        nodes: vec!["sender-1".into(), "sender-2".into()],
        probability_per_sec: Ratio::new(1, 2),
        duration_min: Duration::from_secs(31),
        duration_max: Duration::from_secs(35),
        stability: Duration::from_millis(500),
    }));
    case.phases.chaos = Duration::from_secs(40);
    case.bounds.time_max = Duration::from_secs(120);
    case.bounds.events_max = 2_000_000;
    let failing = (0..20)
        .map(|seed| case.run(Seed(seed)))
        .find(|outcome| outcome.failure.is_some())
        .expect("a seed sends a message twice");
    assert_eq!(failing.failure.expect("found").property, name);
    assert!(
        failing
            .trace
            .lines()
            .any(|line| line.contains("was evicted from senders")),
        "the stalled sender was evicted and rejoined"
    );
}
