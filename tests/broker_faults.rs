//! The broker's request faults seen from both ends: a publish whose reply is lost was stored
//! anyway (the producer cannot know, and its retry stores the message twice); a duplicated
//! fetch hands the consumer the same delivery twice; a batch spanning partitions arrives
//! interleaved by the seed while each partition keeps its order; a consumer stalled longer
//! than the session timeout (a `pause` of its node) is evicted, its partition moves to the
//! other member while it is still processing, and its late ack is refused.
//!
//! One world: a `broker` with one topic of three partitions, a `producer` publishing
//! `MESSAGE_COUNT` keyed messages (retrying each until it gets an answer), and a `worker`
//! that notes every delivery. A `Pace` decides whether one batch holds every message (so it
//! spans partitions) or the messages trickle in one fetch each. The group reads from the
//! earliest offset: it stands for a deployed group whose committed offset predates the
//! producer.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use syncsim::services::broker::{
    BrokerCallError, BrokerConfig, BrokerEventKind, BrokerServer, StartFrom,
};
use syncsim::sim::prng::Ratio;
use syncsim::sim::trace::EventKind;
use syncsim::sim::{
    Fault, FaultPlan, Outcome, Property, RandomFault, RequestFaults, Seed, Verdict,
};

use crate::support::case;
use syncsim::services::broker::BrokerWorld;

const MESSAGE_COUNT: u64 = 9;

/// When the producer and the worker act: a late first poll gathers a batch spanning
/// partitions; messages spread over time make many fetches carry one.
#[derive(Clone, Copy)]
struct Pace {
    publish_gap_ms: u64,
    poll_start_ms: u64,
}

/// Everything published at once, polled late: the first batch holds every message.
const ONE_BATCH: Pace = Pace {
    publish_gap_ms: 0,
    poll_start_ms: 400,
};

/// One message every 60 ms, polled from the start: most fetches carry one message.
const TRICKLE: Pace = Pace {
    publish_gap_ms: 60,
    poll_start_ms: 0,
};

/// `config` with new groups reading from the earliest offset.
fn earliest(config: BrokerConfig) -> BrokerConfig {
    BrokerConfig {
        start_from: StartFrom::Earliest,
        ..config
    }
}

/// The world described in the header, at `pace`, checked by `properties`.
fn observed_case(properties: Vec<Property>, faults: FaultPlan, pace: Pace) -> syncsim::sim::Case {
    let install = move |world: &mut syncsim::sim::WorldBuilder| {
        let broker = world.broker("broker", earliest(BrokerConfig::default()));
        let producer = broker.clone();
        world.node("producer").process("publish", move |ctx| {
            let broker = producer.clone();
            async move {
                for number in 0..MESSAGE_COUNT {
                    let payload = json!({ "n": number });
                    let key = format!("k{number}");
                    loop {
                        match broker.publish(&ctx, "orders", &key, &payload).await {
                            Ok(_) => break,
                            Err(BrokerCallError::Timeout) => ctx.mark("test: publish timed out"),
                            Err(_) => {}
                        }
                        ctx.sleep(Duration::from_millis(20)).await;
                    }
                    ctx.sleep(Duration::from_millis(pace.publish_gap_ms)).await;
                }
            }
        });
        world.node("worker").daemon("consume", move |ctx| {
            let broker = broker.clone();
            async move {
                ctx.sleep(Duration::from_millis(pace.poll_start_ms)).await;
                let Ok(mut consumer) = broker.subscribe(&ctx, "billing", "orders").await else {
                    return;
                };
                loop {
                    for delivery in consumer.poll(20).await.unwrap_or_default() {
                        ctx.note(format!(
                            "got {} p{} o{} a{}",
                            delivery.message_id,
                            delivery.partition,
                            delivery.offset,
                            delivery.attempt
                        ));
                        let _ = consumer.ack(&delivery).await;
                    }
                    ctx.sleep(Duration::from_millis(10)).await;
                }
            }
        });
    };
    let mut case = case(install, properties, faults);
    case.phases.heal = Duration::from_secs(2);
    case
}

fn requests(faults: RequestFaults) -> FaultPlan {
    FaultPlan::new().random(RandomFault::Requests(faults))
}

/// What the worker noted, in order: (message id, partition, offset).
fn received(outcome: &Outcome) -> Vec<(String, String, u64)> {
    let notes = outcome.trace.events().iter();
    let got = notes.filter(|event| event.kind == EventKind::Note && event.node == "worker");
    got.filter_map(|event| {
        let mut words = event.detail.strip_prefix("got ")?.split(' ');
        let id = words.next()?.to_string();
        let partition = words.next()?.to_string();
        let offset = words.next()?.strip_prefix('o')?.parse().ok()?;
        Some((id, partition, offset))
    })
    .collect()
}

/// Every message stored once: fails exactly when a producer retry stored a copy.
fn stored_once() -> Property {
    Property::eventually("test: every message stored once", |history| {
        let broker = history.service::<BrokerServer>("broker");
        let stored = broker
            .log()
            .iter()
            .filter(|event| matches!(event.kind, BrokerEventKind::Stored { .. }))
            .count() as u64;
        Verdict::check(stored == MESSAGE_COUNT, || {
            format!("stored {stored} for {MESSAGE_COUNT} publishes")
        })
    })
}

#[test]
fn a_lost_publish_reply_still_stores_the_message() {
    let lossy = requests(RequestFaults {
        reply_lost_probability: Ratio::new(1, 2),
        ..RequestFaults::default()
    });
    let timed_out = Property::sometimes("test: a publish timed out", |history| {
        history.mark_count("test: publish timed out") > 0
    });
    let outcome = observed_case(vec![stored_once(), timed_out], lossy, ONE_BATCH).run(Seed(5));
    assert_eq!(
        outcome.sometimes.get("test: a publish timed out"),
        Some(&true)
    );
    let failure = outcome
        .failure
        .expect("a timed-out publish was stored, then retried");
    assert_eq!(
        failure.property, "test: every message stored once",
        "{failure:?}"
    );
    // Without reply loss the same check holds: the extra copies came from the lost replies.
    let calm = observed_case(vec![stored_once()], FaultPlan::new(), ONE_BATCH).run(Seed(5));
    assert_eq!(calm.failure, None);
}

#[test]
fn a_duplicated_fetch_hands_the_consumer_a_delivery_twice() {
    let duplicating = requests(RequestFaults {
        duplicate_probability: Ratio::new(1, 2),
        ..RequestFaults::default()
    });
    let duplicated = Property::sometimes("test: a fetch was duplicated", |history| {
        let broker = history.service::<BrokerServer>("broker");
        let log = broker.log();
        log.iter()
            .any(|event| matches!(event.kind, BrokerEventKind::DuplicateDelivered { .. }))
    });
    let outcome = observed_case(vec![duplicated], duplicating, TRICKLE).run(Seed(2));
    assert_eq!(outcome.failure, None);
    assert_eq!(
        outcome.sometimes.get("test: a fetch was duplicated"),
        Some(&true)
    );
    let mut seen: BTreeMap<(String, u64), u32> = BTreeMap::new();
    for (id, _, offset) in received(&outcome) {
        *seen.entry((id, offset)).or_default() += 1;
    }
    assert!(
        seen.values().any(|&count| count >= 2),
        "the consumer saw one delivery twice: {seen:?}"
    );
    let calm = observed_case(Vec::new(), FaultPlan::new(), TRICKLE).run(Seed(2));
    let calm_ids: Vec<_> = received(&calm).into_iter().map(|(id, ..)| id).collect();
    assert_eq!(
        calm_ids.len() as u64,
        MESSAGE_COUNT,
        "the calm run received every message once: {calm_ids:?}"
    );
    let mut unique = calm_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        calm_ids.len(),
        "no duplicates without the fault"
    );
}

#[test]
fn a_batch_spanning_partitions_is_interleaved_but_each_partition_keeps_its_order() {
    let mut orders = Vec::new();
    for seed in 0..6 {
        let outcome = observed_case(Vec::new(), FaultPlan::new(), ONE_BATCH).run(Seed(seed));
        let got = received(&outcome);
        assert_eq!(got.len() as u64, MESSAGE_COUNT, "seed {seed}: {got:?}");
        let mut last_offset: BTreeMap<String, u64> = BTreeMap::new();
        for (_, partition, offset) in &got {
            let previous = last_offset.insert(partition.clone(), *offset);
            assert!(
                previous.is_none_or(|previous| previous < *offset),
                "seed {seed}: partition {partition} out of order: {got:?}"
            );
        }
        let partitions: Vec<String> = got.into_iter().map(|(_, partition, _)| partition).collect();
        orders.push(partitions);
    }
    orders.sort();
    orders.dedup();
    assert!(
        orders.len() > 1,
        "different seeds interleave partitions differently: {orders:?}"
    );
}

/// Coverage mark: an evicted member finished a message whose partition had moved on.
const MARK_EVICTED_STILL_PROCESSING: &str =
    "test: an evicted member was still processing a message that moved to another member";

/// Two workers in one group, each taking 200 ms per message before it acks; a producer
/// publishing one message per key every 100 ms into a two-partition topic.
fn two_workers_case(config: BrokerConfig, faults: FaultPlan) -> syncsim::sim::Case {
    let install = move |world: &mut syncsim::sim::WorldBuilder| {
        let broker = world.broker("broker", earliest(config.clone()));
        let producer = broker.clone();
        world.node("producer").process("publish", move |ctx| {
            let broker = producer.clone();
            async move {
                broker
                    .create_topic(&ctx, "orders", partitions(2))
                    .await
                    .ok();
                for number in 0..MESSAGE_COUNT {
                    let payload = json!({ "n": number });
                    let key = format!("k{number}");
                    while broker
                        .publish(&ctx, "orders", &key, &payload)
                        .await
                        .is_err()
                    {
                        ctx.sleep(Duration::from_millis(20)).await;
                    }
                    ctx.sleep(Duration::from_millis(100)).await;
                }
                // The workload lasts past the stall, so the chaos phase (and the stall in
                // it) is not cut short when the publishing is done.
                ctx.sleep(Duration::from_secs(36)).await;
            }
        });
        for node in ["worker-a", "worker-b"] {
            let broker = broker.clone();
            world.node(node).daemon("consume", move |ctx| {
                let broker = broker.clone();
                async move { slow_worker(ctx, broker).await }
            });
        }
    };
    let every_message_acked =
        Property::eventually("test: every message acked by the group", |history| {
            let broker = history.service::<BrokerServer>("broker");
            let acked: std::collections::BTreeSet<_> = broker
                .log()
                .iter()
                .filter_map(|event| match &event.kind {
                    BrokerEventKind::Acked { message_id, .. } => Some(*message_id),
                    _ => None,
                })
                .collect();
            Verdict::check(acked.len() as u64 == MESSAGE_COUNT, || {
                format!("acked {} of {MESSAGE_COUNT}", acked.len())
            })
        });
    let evicted = Property::marked(MARK_EVICTED_STILL_PROCESSING);
    let mut case = case(install, vec![every_message_acked, evicted], faults);
    case.phases.chaos = Duration::from_secs(40);
    case.phases.heal = Duration::from_secs(5);
    case.bounds.time_max = Duration::from_secs(60);
    case.bounds.events_max = 200_000;
    case
}

fn partitions(count: u32) -> syncsim::services::broker::TopicConfig {
    syncsim::services::broker::TopicConfig {
        partitions: Some(count),
        ..Default::default()
    }
}

/// Polls one message at a time, works on it for 200 ms, acks it; an ack refused because the
/// broker evicted this member meanwhile is the dangerous interleaving, marked.
async fn slow_worker(ctx: syncsim::sim::Ctx, broker: syncsim::services::broker::BrokerHandle) {
    let Ok(mut consumer) = broker.subscribe(&ctx, "billing", "orders").await else {
        return;
    };
    loop {
        for delivery in consumer.poll(1).await.unwrap_or_default() {
            ctx.sleep(Duration::from_millis(200)).await;
            if consumer.ack(&delivery).await.is_err() {
                ctx.mark(MARK_EVICTED_STILL_PROCESSING);
            }
        }
        ctx.sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_consumer_stalled_past_the_session_timeout_is_evicted_and_its_late_ack_fails() {
    // worker-a stalls mid-message for 35 s: longer than KafkaJS's 30 s session.
    let stall = || {
        FaultPlan::new()
            .at(Duration::from_millis(300), Fault::pause("worker-a"))
            .at(Duration::from_millis(35_300), Fault::resume("worker-a"))
    };
    let outcome = two_workers_case(BrokerConfig::default(), stall()).run(Seed(1));
    assert_eq!(outcome.failure, None);
    assert_eq!(
        outcome.sometimes.get(MARK_EVICTED_STILL_PROCESSING),
        Some(&true),
        "worker-a finished its message after it moved on"
    );
    let lines: Vec<String> = outcome.trace.lines().collect();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("was evicted from billing")),
        "worker-a rejoined after its eviction"
    );
    // The old face: a paused member keeps its deliveries, its ack succeeds, the mark is
    // never hit.
    let old = BrokerConfig {
        session_timeout: None,
        ..BrokerConfig::default()
    };
    let outcome = two_workers_case(old, stall()).run(Seed(1));
    assert_eq!(
        outcome.sometimes.get(MARK_EVICTED_STILL_PROCESSING),
        Some(&false),
        "caught: the old face never evicts a stalled member"
    );
}
