//! The webhook source: ids sort in emission order; failed attempts are retried with backoff
//! until acknowledged or given up; duplicates and out-of-order deliveries happen under the
//! seed; the reconcile replays recent events; after a receiver outage or a source crash every
//! emitted event is acknowledged once faults heal.
//!
//! Each world has an `idp` source, a `users` process emitting `EVENT_COUNT` events 10 ms
//! apart (then idling for a second, so the chaos phase lasts past the timed faults), and an
//! `api` receiver whose answer the test picks.

use std::time::Duration;

use serde_json::json;
use syncsim::sim::services::http::HttpResponse;
use syncsim::sim::services::webhook::{
    AttemptOutcome, AttemptReason, WebhookConfig, WebhookSource,
};
use syncsim::sim::{Case, Fault, FaultPlan, History, Outcome, Property, Ratio, Seed, Verdict};

use crate::support::case;

const EVENT_COUNT: usize = 6;

/// The receiver answers `status` to every request.
fn webhook_case(
    config: WebhookConfig,
    status: u16,
    faults: FaultPlan,
    extra: Option<Property>,
) -> Case {
    let install = move |world: &mut syncsim::sim::WorldBuilder| {
        world
            .node("api")
            .http(move |_ctx, _request| async move { HttpResponse::status(status) });
        let (idp, _) = world.webhook_source("idp", config.clone());
        world.node("users").process("sign-ups", move |ctx| {
            let idp = idp.clone();
            async move {
                for user in 0..EVENT_COUNT {
                    idp.emit(&ctx, "user.created", json!({ "user": user }));
                    ctx.sleep(Duration::from_millis(10)).await;
                }
                // Keep the chaos phase going for the timed faults of the tests.
                ctx.sleep(Duration::from_secs(1)).await;
            }
        });
    };
    let every_event_acknowledged =
        Property::eventually("webhook: every emitted event is acknowledged", |history| {
            let source = history.service::<WebhookSource>("idp");
            let owed: Vec<&str> = source
                .events()
                .iter()
                .filter(|event| !source.is_acknowledged(&event.id))
                .map(|event| event.id.as_str())
                .collect();
            Verdict::check(owed.is_empty(), || format!("not acknowledged: {owed:?}"))
        });
    let properties = [Some(every_event_acknowledged), extra]
        .into_iter()
        .flatten()
        .collect();
    let mut case = case(install, properties, faults);
    case.phases.chaos = Duration::from_secs(2);
    case.phases.heal = Duration::from_secs(10);
    case.bounds.time_max = Duration::from_secs(30);
    case
}

fn config() -> WebhookConfig {
    WebhookConfig::new("api", "/webhooks")
}

/// Runs `seed` with an extra check of the source's ground truth at the end.
fn run_reading(
    config: WebhookConfig,
    status: u16,
    faults: FaultPlan,
    seed: Seed,
    read: fn(&WebhookSource) -> bool,
) -> Outcome {
    let check = move |history: &History| {
        let source = history.service::<WebhookSource>("idp");
        Verdict::check(read(&source), || format!("{:#?}", source.attempts()))
    };
    let property = Property::eventually("test: the source's log reads as expected", check);
    webhook_case(config, status, faults, Some(property)).run(seed)
}

#[test]
fn every_event_is_delivered_once_and_ids_sort_in_emission_order() {
    let outcome = run_reading(config(), 200, FaultPlan::new(), Seed(1), |source| {
        let ids: Vec<&String> = source.events().iter().map(|event| &event.id).collect();
        let sorted = ids.windows(2).all(|pair| pair[0] < pair[1]);
        let once = source.attempts().len() == EVENT_COUNT
            && source.attempts().iter().all(|attempt| attempt.number == 1);
        sorted && once && ids.len() == EVENT_COUNT && ids.iter().all(|id| id.len() == 26)
    });
    assert_eq!(outcome.failure, None);
}

#[test]
fn failed_attempts_are_retried_with_backoff_then_given_up() {
    let mut config = config();
    config.attempts_max = 4;
    let outcome = run_reading(config, 500, FaultPlan::new(), Seed(2), |source| {
        let per_event = source.attempts().len() == 4 * EVENT_COUNT;
        let given_up = source.given_up().len() == EVENT_COUNT;
        // Backoffs of 100, 200, 400 ms with jitter down to half: retries spread out.
        let first = &source.events()[0].id;
        let times: Vec<u64> = source
            .attempts()
            .iter()
            .filter(|attempt| &attempt.event_id == first)
            .map(|attempt| attempt.at_micros)
            .collect();
        let gaps_grow = times.windows(2).all(|pair| pair[1] - pair[0] >= 50_000);
        per_event && given_up && gaps_grow
    });
    // The source gave up, so "every event is acknowledged" must fail: the check can fail.
    let failure = outcome.failure.expect("nothing was acknowledged");
    assert_eq!(
        failure.property,
        "webhook: every emitted event is acknowledged"
    );
}

#[test]
fn duplicates_and_out_of_order_deliveries_happen_under_the_seed() {
    let mut config = config();
    config.duplicate_probability = Ratio::new(1, 2);
    let mut duplicated = false;
    let mut reordered = false;
    for seed in 0..10 {
        let case = webhook_case(config.clone(), 200, FaultPlan::new(), None);
        let outcome = case.run(Seed(seed));
        assert_eq!(outcome.failure, None, "seed {seed}");
        let deliveries: Vec<String> = outcome
            .trace
            .events()
            .iter()
            .filter(|event| event.node == "api" && event.detail.starts_with("POST /webhooks"))
            .map(|event| event.detail.clone())
            .collect();
        duplicated |= deliveries.len() > EVENT_COUNT;
        let ids: Vec<&str> = deliveries
            .iter()
            .filter_map(|detail| detail.split("\"id\":\"").nth(1))
            .collect();
        reordered |= ids.windows(2).any(|pair| pair[0] > pair[1]);
    }
    assert!(
        duplicated && reordered,
        "duplicated {duplicated}, reordered {reordered}"
    );
}

#[test]
fn the_reconcile_replays_recent_events() {
    let mut config = config();
    config.reconcile_interval = Some(Duration::from_secs(1));
    config.reconcile_window = Duration::from_secs(5);
    let outcome = run_reading(config, 200, FaultPlan::new(), Seed(3), |source| {
        let replays = source
            .attempts()
            .iter()
            .filter(|attempt| attempt.reason == AttemptReason::Reconcile)
            .count();
        // Ticks at 1..=5 s replay all six events; later ticks find them too old.
        replays == 5 * EVENT_COUNT
    });
    assert_eq!(outcome.failure, None);
}

#[test]
fn after_a_receiver_outage_or_a_source_crash_every_event_is_acknowledged() {
    let receiver_down = FaultPlan::new()
        .at(Duration::from_millis(5), Fault::crash("api"))
        .at(Duration::from_millis(900), Fault::restart("api"));
    let outcome = run_reading(config(), 200, receiver_down, Seed(4), |source| {
        source
            .attempts()
            .iter()
            .any(|attempt| attempt.outcome == AttemptOutcome::Refused)
    });
    assert_eq!(outcome.failure, None);

    let source_crash = FaultPlan::new()
        .at(Duration::from_millis(25), Fault::crash("idp"))
        .at(Duration::from_millis(300), Fault::restart("idp"));
    let outcome = run_reading(config(), 200, source_crash, Seed(5), |source| {
        // Events emitted while the source was down were delivered after its restart.
        let late = source
            .attempts()
            .iter()
            .filter(|attempt| attempt.at_micros > 300_000)
            .count();
        late > 0
    });
    assert_eq!(outcome.failure, None);
}

#[test]
fn a_world_with_a_webhook_source_replays_to_the_same_trace() {
    let mut config = config();
    config.duplicate_probability = Ratio::new(1, 3);
    config.reconcile_interval = Some(Duration::from_millis(300));
    let faults = FaultPlan::new()
        .at(Duration::from_millis(15), Fault::crash("api"))
        .at(Duration::from_millis(200), Fault::restart("api"))
        .at(Duration::from_millis(250), Fault::pause("idp"))
        .at(Duration::from_millis(400), Fault::resume("idp"));
    let case = webhook_case(config, 200, faults, None);
    for seed in [Seed(0), Seed(11)] {
        let digest = case.check_determinism(seed);
        assert!(digest.is_ok(), "seed {seed}: {digest:?}");
    }
}
