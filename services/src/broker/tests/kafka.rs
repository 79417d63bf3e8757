//! Unit tests of the Kafka-faithful defaults (issue 19 items 6-8): session timeouts, the
//! rebalance that waits for every member, redelivery from the committed offset, the start
//! position of a new group and the two assignors. Each test also runs the old path (a
//! mutation, or the per-message config) and shows the check fails there.

use std::time::Duration;

use super::super::mutation::Mutation;
use super::super::*;
use super::at;

/// The default (Kafka) broker with one-partition auto-created topics, new groups reading from
/// the earliest message so a test can publish before it joins.
fn kafka(partitions_default: u32) -> Broker {
    Broker::new(BrokerConfig {
        partitions_default,
        start_from: StartFrom::Earliest,
        ..BrokerConfig::default()
    })
}

fn ids(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(|d| d.message_id.0).collect()
}

/// `a` holds m0 and goes silent; `b` keeps calling. Returns what `b` got after `a`'s
/// session expired and whether `a`'s late ack was refused.
fn silent_member_run(mutation: Mutation) -> (Vec<u64>, bool) {
    let mut b = kafka(1);
    b.set_mutation(mutation);
    b.publish("t", "k", "x", at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    let held = b.poll("g", "a", 1, at(1)).unwrap();
    assert_eq!(ids(&held), vec![0]);
    b.join("g", "b", "t", at(2)).unwrap();
    // `a` is paused: it says nothing for 30 s. `b` polls every second meanwhile.
    let mut got = Vec::new();
    for second in 1..=31 {
        got.extend(ids(&b.poll("g", "b", 10, at(second * 1_000)).unwrap()));
    }
    let late_ack = b.ack("g", "a", held[0].message_id, at(31_500));
    (got, late_ack.is_err())
}

#[test]
fn a_silent_member_is_evicted_after_the_session_timeout_and_its_late_ack_fails() {
    let (got, refused) = silent_member_run(Mutation::None);
    assert_eq!(got, vec![0], "b gets a's message once a's session expired");
    assert!(refused, "the evicted member's commit is refused");
    // The old path: a paused member keeps its deliveries and b never gets m0.
    let (got, refused) = silent_member_run(Mutation::SessionNeverExpires);
    assert!(got.is_empty() && !refused, "caught: {got:?} {refused}");
}

#[test]
fn the_eviction_is_at_the_session_timeout_not_before() {
    let mut b = kafka(1);
    b.join("g", "a", "t", at(0)).unwrap();
    b.join("g", "b", "t", at(0)).unwrap();
    b.poll("g", "b", 1, at(29_999)).unwrap();
    assert_eq!(
        b.members("g"),
        vec!["a", "b"],
        "a is silent 29.999 s: still in"
    );
    b.poll("g", "b", 1, at(30_000)).unwrap();
    assert_eq!(b.members("g"), vec!["b"]);
    let expired = b.log().iter().find_map(|event| match &event.kind {
        BrokerEventKind::SessionExpired {
            member, last_heard, ..
        } => Some((member.clone(), *last_heard, event.at)),
        _ => None,
    });
    assert_eq!(expired, Some(("a".to_string(), at(0), at(30_000))));
}

/// `z` crashed holding nothing; `b` joins (and sorts first, so it would own the partition).
/// Returns what `b` got at 1 s and at 30 s.
fn join_after_crash_run(mutation: Mutation) -> (Vec<u64>, Vec<u64>) {
    let mut b = kafka(1);
    b.set_mutation(mutation);
    b.join("g", "z", "t", at(0)).unwrap();
    b.publish("t", "k", "x", at(10)).unwrap();
    b.join("g", "b", "t", at(500)).unwrap();
    let early = ids(&b.poll("g", "b", 10, at(1_000)).unwrap());
    let late = ids(&b.poll("g", "b", 10, at(30_000)).unwrap());
    (early, late)
}

#[test]
fn a_rebalance_waits_for_a_crashed_member_until_its_session_expires() {
    assert_eq!(join_after_crash_run(Mutation::None), (vec![], vec![0]));
    let (early, _) = join_after_crash_run(Mutation::RebalanceWaitsForNobody);
    assert!(
        !early.is_empty(),
        "caught: without the wait b consumes at once"
    );
}

#[test]
fn a_member_behind_a_dead_one_learns_its_assignment_only_when_the_rebalance_completes() {
    let mut b = kafka(1);
    b.create_topic("t", TopicConfig::default(), at(0)).unwrap();
    b.join("g", "z", "t", at(0)).unwrap();
    assert_eq!(
        b.assignment_of("g", "z", at(1)),
        Ok(Some(vec![("t".to_string(), 0)]))
    );
    // `z` crashed; its restart joins as `b` and waits for z's session.
    b.join("g", "b", "t", at(500)).unwrap();
    assert_eq!(b.assignment_of("g", "b", at(1_000)), Ok(None));
    // z was last heard at 1 ms (every call is a heartbeat).
    assert_eq!(b.assignment_of("g", "b", at(30_000)), Ok(None));
    assert_eq!(
        b.assignment_of("g", "b", at(30_001)),
        Ok(Some(vec![("t".to_string(), 0)]))
    );
    assert!(matches!(
        b.assignment_of("g", "z", at(30_002)),
        Err(BrokerError::UnknownMember { .. })
    ));
    // The old path: without the wait the restarted member is told its partition at once.
    let mut b = kafka(1);
    b.set_mutation(Mutation::RebalanceWaitsForNobody);
    b.join("g", "z", "t", at(0)).unwrap();
    b.join("g", "b", "t", at(500)).unwrap();
    assert!(matches!(b.assignment_of("g", "b", at(1_000)), Ok(Some(_))));
}

#[test]
fn a_live_member_rejoins_with_its_next_call() {
    let mut b = kafka(2);
    b.create_topic("t", TopicConfig::default(), at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    b.join("g", "b", "t", at(1)).unwrap();
    assert_eq!(b.assignment("g")["b"], vec![], "b waits for a's rejoin");
    b.poll("g", "a", 1, at(2)).unwrap();
    assert_eq!(b.assignment("g")["b"], vec![("t".to_string(), 1)]);
}

#[test]
fn an_outage_does_not_expire_sessions() {
    let mut b = kafka(1);
    b.join("g", "a", "t", at(0)).unwrap();
    b.set_outage(true, at(1));
    b.set_outage(false, at(40_000));
    b.poll("g", "a", 1, at(40_001)).unwrap();
    assert_eq!(b.members("g"), vec!["a"]);
}

/// `a` takes m0..m3, acks m0 and nacks m1 with requeue; returns its next poll.
fn nack_run(config: BrokerConfig) -> Vec<u64> {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 1,
        ..config
    });
    for i in 0..4 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 4, at(1)).unwrap();
    b.ack("g", "a", got[0].message_id, at(2)).unwrap();
    b.nack("g", "a", got[1].message_id, true, at(3)).unwrap();
    ids(&b.poll("g", "a", 10, at(4)).unwrap())
}

#[test]
fn a_requeue_seeks_back_and_everything_after_it_comes_again() {
    let kafka = BrokerConfig {
        start_from: StartFrom::Earliest,
        ..BrokerConfig::default()
    };
    assert_eq!(nack_run(kafka), vec![1, 2, 3]);
    // The per-message path only gives back the nacked message.
    assert_eq!(nack_run(BrokerConfig::per_message()), vec![1]);
}

/// `a` takes m0..m3 and acks m2 only, then leaves; returns what `b` gets and the commit.
fn out_of_order_run(config: BrokerConfig) -> (Vec<u64>, u64) {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 1,
        ..config
    });
    for i in 0..4 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 4, at(1)).unwrap();
    b.ack("g", "a", got[2].message_id, at(2)).unwrap();
    b.join("g", "b", "t", at(3)).unwrap();
    b.leave("g", "a", at(4)).unwrap();
    let again = b.poll("g", "b", 10, at(5)).unwrap();
    assert!(again.iter().all(|d| d.attempt == 2), "{again:?}");
    (ids(&again), b.committed_offset("g", "t", 0))
}

#[test]
fn a_commit_is_a_position_and_the_next_owner_resumes_there() {
    let kafka = BrokerConfig {
        start_from: StartFrom::Earliest,
        ..BrokerConfig::default()
    };
    assert_eq!(out_of_order_run(kafka), (vec![3], 3));
    assert_eq!(
        out_of_order_run(BrokerConfig::per_message()),
        (vec![0, 1, 3], 0)
    );
}

#[test]
fn a_processed_but_uncommitted_message_comes_again_after_eviction() {
    let mut b = kafka(1);
    for i in 0..3 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 3, at(1)).unwrap();
    b.ack("g", "a", got[0].message_id, at(2)).unwrap();
    b.join("g", "b", "t", at(3)).unwrap();
    // `a` stalls; `b` takes over from the committed offset 1.
    let again = b.poll("g", "b", 10, at(30_002)).unwrap();
    assert_eq!(ids(&again), vec![1, 2]);
    assert_eq!(b.committed_offset("g", "t", 0), 1);
}

/// m0 is published before the group exists, m1 after; returns what the member gets.
fn start_run(start_from: StartFrom) -> Vec<u64> {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 1,
        start_from,
        ..BrokerConfig::default()
    });
    b.publish("t", "k", "before", at(0)).unwrap();
    b.join("g", "a", "t", at(1)).unwrap();
    b.publish("t", "k", "after", at(2)).unwrap();
    ids(&b.poll("g", "a", 10, at(3)).unwrap())
}

#[test]
fn a_new_group_starts_at_the_latest_offset_by_default() {
    assert_eq!(BrokerConfig::default().start_from, StartFrom::Latest);
    assert_eq!(start_run(StartFrom::Latest), vec![1]);
    assert_eq!(start_run(StartFrom::Earliest), vec![0, 1]);
}

fn assignment_of(assignor: Assignor) -> Vec<Vec<u32>> {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 5,
        assignor,
        session_timeout: None,
        ..BrokerConfig::default()
    });
    b.join("g", "a", "t", at(0)).unwrap();
    b.join("g", "b", "t", at(0)).unwrap();
    b.create_topic("t", TopicConfig::default(), at(1)).unwrap();
    b.assignment("g")
        .into_values()
        .map(|owned| owned.into_iter().map(|(_, p)| p).collect())
        .collect()
}

#[test]
fn round_robin_is_the_default_assignor_and_range_is_a_config() {
    assert_eq!(BrokerConfig::default().assignor, Assignor::RoundRobin);
    assert_eq!(
        assignment_of(Assignor::RoundRobin),
        vec![vec![0, 2, 4], vec![1, 3]]
    );
    assert_eq!(
        assignment_of(Assignor::Range),
        vec![vec![0, 1, 2], vec![3, 4]]
    );
}

#[test]
fn the_default_session_timeout_is_kafkajs_thirty_seconds() {
    let config = BrokerConfig::default();
    assert_eq!(config.session_timeout, Some(Duration::from_secs(30)));
    assert_eq!(config.settlement, Settlement::Offsets);
}
