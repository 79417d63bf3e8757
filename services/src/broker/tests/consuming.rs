//! Unit tests of groups and consuming: assignment, poll, ack, nack, redelivery after member
//! and broker crashes, in-flight bounds. One behaviour each.

use super::super::*;
use super::{at, broker};

#[test]
fn ack_advances_the_committed_offset_over_the_settled_prefix() {
    let mut b = broker(1);
    for i in 0..3 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 3, at(1)).unwrap();
    b.ack("g", "a", got[1].message_id, at(2)).unwrap();
    assert_eq!(b.committed_offset("g", "t", 0), 0, "a gap at offset 0");
    b.ack("g", "a", got[0].message_id, at(3)).unwrap();
    assert_eq!(b.committed_offset("g", "t", 0), 2);
    assert!(matches!(
        b.ack("g", "a", got[0].message_id, at(4)),
        Err(BrokerError::UnknownDelivery { .. })
    ));
}

#[test]
fn crashed_member_messages_go_to_the_new_owner_with_attempt_two() {
    let mut b = broker(1);
    b.publish("t", "k", "x", at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    b.join("g", "b", "t", at(0)).unwrap();
    let owner = b
        .assignment("g")
        .into_iter()
        .find(|(_, p)| !p.is_empty())
        .unwrap()
        .0;
    let other = if owner == "a" { "b" } else { "a" };
    let first = b.poll("g", &owner, 1, at(1)).unwrap();
    assert_eq!(first[0].attempt, 1);
    let rebalance = b.member_crashed("g", &owner, at(2));
    assert_eq!(rebalance.assignment[other], vec![("t".to_string(), 0)]);
    let again = b.poll("g", other, 1, at(3)).unwrap();
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].attempt, 2);
    assert_eq!(b.committed_offset("g", "t", 0), 0);
}

#[test]
fn broker_crash_loses_in_flight_but_keeps_commits() {
    let mut b = broker(1);
    b.publish("t", "k", "0", at(0)).unwrap();
    b.publish("t", "k", "1", at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 2, at(1)).unwrap();
    b.ack("g", "a", got[0].message_id, at(2)).unwrap();
    b.crash(at(3));
    assert_eq!(b.committed_offset("g", "t", 0), 1);
    assert!(b.ack("g", "a", got[1].message_id, at(4)).is_err());
    let again = b.poll("g", "a", 2, at(5)).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].offset, again[0].attempt), (1, 2));
}

#[test]
fn nack_requeues_ahead_of_later_messages() {
    let mut b = broker(1);
    for i in 0..3 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let first = b.poll("g", "a", 1, at(1)).unwrap();
    assert_eq!(
        b.nack("g", "a", first[0].message_id, true, at(2)),
        Ok(NackOutcome::Requeued)
    );
    let next = b.poll("g", "a", 3, at(3)).unwrap();
    let offsets: Vec<(u64, u32)> = next.iter().map(|d| (d.offset, d.attempt)).collect();
    assert_eq!(offsets, [(0, 2), (1, 1), (2, 1)]);
}

#[test]
fn nack_without_requeue_drops_or_dead_letters() {
    let mut b = broker(1);
    let with_dead_letter = TopicConfig {
        dead_letter: Some("t.dlq".into()),
        ..TopicConfig::default()
    };
    b.create_topic("t", with_dead_letter, at(0)).unwrap();
    b.publish("t", "k", "poison", at(0)).unwrap();
    b.publish("plain", "k", "poison", at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    b.join("g", "a", "plain", at(0)).unwrap();
    let got = b.poll("g", "a", 2, at(1)).unwrap();
    let outcomes: Vec<NackOutcome> = got
        .iter()
        .map(|d| b.nack("g", "a", d.message_id, false, at(2)).unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            NackOutcome::Dropped,
            NackOutcome::DeadLettered {
                topic: "t.dlq".into()
            }
        ]
    );
    let dead: Vec<&str> = b.messages("t.dlq", 0).map(|m| m.payload.as_str()).collect();
    assert_eq!(dead, ["poison"]);
    assert_eq!(b.committed_offset("g", "t", 0), 1);
    assert_eq!(b.committed_offset("g", "plain", 0), 1);
}

#[test]
fn in_flight_max_bounds_unacked_deliveries() {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 2,
        in_flight_max: 3,
        ..BrokerConfig::per_message()
    });
    for i in 0..10 {
        b.publish("t", &format!("k{i}"), "{}", at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 10, at(1)).unwrap();
    assert_eq!(got.len(), 3);
    assert!(b.poll("g", "a", 10, at(2)).unwrap().is_empty());
    b.ack("g", "a", got[0].message_id, at(3)).unwrap();
    assert_eq!(b.poll("g", "a", 10, at(4)).unwrap().len(), 1);
}

#[test]
fn joining_before_the_topic_exists_assigns_on_creation() {
    let mut b = broker(2);
    let rebalance = b.join("g", "a", "later", at(0)).unwrap();
    assert!(rebalance.assignment["a"].is_empty());
    b.publish("later", "k", "{}", at(1)).unwrap();
    assert_eq!(b.assignment("g")["a"].len(), 2);
}

#[test]
fn record_duplicate_only_records() {
    let mut b = broker(1);
    b.publish("t", "k", "{}", at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 1, at(1)).unwrap();
    b.record_duplicate("g", "a", got[0].message_id, at(2));
    let last = &b.log().last().unwrap().kind;
    assert_eq!(
        last,
        &BrokerEventKind::DuplicateDelivered {
            group: "g".into(),
            member: "a".into(),
            message_id: got[0].message_id
        }
    );
    b.ack("g", "a", got[0].message_id, at(3)).unwrap();
    assert_eq!(b.committed_offset("g", "t", 0), 1);
}

#[test]
fn member_crash_works_during_an_outage_and_leave_does_not() {
    let mut b = broker(1);
    b.publish("t", "k", "{}", at(0)).unwrap();
    b.join("g", "a", "t", at(0)).unwrap();
    b.join("g", "b", "t", at(0)).unwrap();
    let owner = if b.assignment("g")["a"].is_empty() {
        "b"
    } else {
        "a"
    };
    b.poll("g", owner, 1, at(1)).unwrap();
    b.set_outage(true, at(2));
    assert_eq!(b.leave("g", owner, at(3)), Err(BrokerError::Unavailable));
    let rebalance = b.member_crashed("g", owner, at(3));
    assert_eq!(b.members("g").len(), 1);
    assert!(b.member_topics("g", owner).is_empty());
    assert!(!rebalance.assignment.contains_key(owner));
    assert_eq!(b.in_flight_count("g", owner), 0);
}

#[test]
fn a_revoked_delivery_is_refused_to_its_old_holder_and_redelivered() {
    let mut b = broker(1);
    b.publish("t", "k", "{}", at(0)).unwrap();
    b.join("g", "b", "t", at(0)).unwrap();
    let got = b.poll("g", "b", 1, at(1)).unwrap();
    // "a" sorts before "b", so the range assignor gives it the only partition.
    let rebalance = b.join("g", "a", "t", at(2)).unwrap();
    assert_eq!(rebalance.assignment["a"], vec![("t".to_string(), 0)]);
    assert!(matches!(
        b.ack("g", "b", got[0].message_id, at(3)),
        Err(BrokerError::UnknownDelivery { .. })
    ));
    let again = b.poll("g", "a", 1, at(4)).unwrap();
    assert_eq!(
        (again[0].message_id, again[0].attempt),
        (got[0].message_id, 2)
    );
}

#[test]
fn each_group_gets_every_message() {
    let mut b = broker(2);
    for i in 0..6 {
        b.publish("t", &format!("k{i}"), "{}", at(0)).unwrap();
    }
    for group in ["g", "h"] {
        b.join(group, "m", "t", at(1)).unwrap();
        let got = b.poll(group, "m", 100, at(2)).unwrap();
        assert_eq!(got.len(), 6, "{group}");
    }
}
