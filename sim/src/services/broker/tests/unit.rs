//! Unit tests: one behaviour each, on a hand-built scenario.

use std::time::Duration;

use super::super::*;
use crate::time::VirtualTime;

fn at(ms: u64) -> VirtualTime {
    VirtualTime(Duration::from_millis(ms))
}

fn broker(partitions_default: u32) -> Broker {
    Broker::new(BrokerConfig {
        partitions_default,
        ..BrokerConfig::default()
    })
}

#[test]
fn message_id_displays_with_an_m() {
    assert_eq!(MessageId(17).to_string(), "m17");
}

#[test]
fn auto_created_topic_takes_the_default_partition_count() {
    let mut b = broker(4);
    b.publish("orders", "k", "{}", at(0)).unwrap();
    assert_eq!(b.topic_partitions("orders"), Some(4));
}

#[test]
fn partition_override_applies_only_at_creation() {
    let mut b = broker(4);
    let config = TopicConfig {
        partitions: Some(2),
        ..TopicConfig::default()
    };
    assert_eq!(
        b.create_topic("t", config.clone(), at(0)),
        Ok(Created::Created { partitions: 2 })
    );
    let again = TopicConfig {
        partitions: Some(8),
        ..TopicConfig::default()
    };
    assert_eq!(
        b.create_topic("t", again, at(1)),
        Ok(Created::AlreadyExists {
            partitions: 2,
            override_ignored: true
        })
    );
    assert_eq!(
        b.create_topic("t", config, at(2)),
        Ok(Created::AlreadyExists {
            partitions: 2,
            override_ignored: false
        })
    );
    b.publish("auto", "k", "{}", at(3)).unwrap();
    let late = TopicConfig {
        partitions: Some(1),
        ..TopicConfig::default()
    };
    assert_eq!(
        b.create_topic("auto", late, at(4)),
        Ok(Created::AlreadyExists {
            partitions: 4,
            override_ignored: true
        })
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut b = broker(1);
    let zero = TopicConfig {
        partitions: Some(0),
        ..TopicConfig::default()
    };
    assert!(matches!(
        b.create_topic("t", zero, at(0)),
        Err(BrokerError::InvalidPartitions { .. })
    ));
    let looped = TopicConfig {
        dead_letter: Some("t".into()),
        ..TopicConfig::default()
    };
    assert!(matches!(
        b.create_topic("t", looped, at(0)),
        Err(BrokerError::DeadLetterLoop { .. })
    ));
    assert!(matches!(
        b.publish("", "k", "{}", at(0)),
        Err(BrokerError::EmptyName { .. })
    ));
    assert!(matches!(
        b.poll("g", "nobody", 1, at(0)),
        Err(BrokerError::UnknownMember { .. })
    ));
    b.join("g", "a", "t", at(0)).unwrap();
    assert!(matches!(
        b.ack("g", "a", MessageId(99), at(0)),
        Err(BrokerError::UnknownDelivery { .. })
    ));
    assert!(!BrokerError::Unavailable.to_string().is_empty());
}

#[test]
fn same_key_same_partition_and_order_kept() {
    let mut b = broker(8);
    let first = b.publish("t", "user-1", "1", at(0)).unwrap();
    let second = b.publish("t", "user-1", "2", at(1)).unwrap();
    assert_eq!(first.partition, second.partition);
    assert_eq!(second.offset, first.offset + 1);
    b.join("g", "a", "t", at(2)).unwrap();
    let got = b.poll("g", "a", 10, at(3)).unwrap();
    let payloads: Vec<&str> = got.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(payloads, ["1", "2"]);
}

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
fn outage_refuses_then_heals() {
    let mut b = broker(1);
    b.join("g", "a", "t", at(0)).unwrap();
    b.set_outage(true, at(1));
    assert!(b.is_down());
    assert_eq!(
        b.publish("t", "k", "{}", at(2)),
        Err(BrokerError::Unavailable)
    );
    assert_eq!(b.poll("g", "a", 1, at(2)), Err(BrokerError::Unavailable));
    assert_eq!(b.join("g", "b", "t", at(2)), Err(BrokerError::Unavailable));
    b.set_outage(false, at(3));
    assert!(b.publish("t", "k", "{}", at(4)).is_ok());
    assert_eq!(b.poll("g", "a", 1, at(5)).unwrap().len(), 1);
    let kinds: Vec<&BrokerEventKind> = b.log().iter().map(|e| &e.kind).collect();
    assert!(kinds.contains(&&BrokerEventKind::OutageStarted));
    assert!(kinds.contains(&&BrokerEventKind::OutageEnded));
}

#[test]
fn retention_expires_what_a_lagging_group_did_not_read() {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 1,
        retention_messages_max: Some(2),
        ..BrokerConfig::default()
    });
    b.join("g", "a", "t", at(0)).unwrap();
    for i in 0..5 {
        b.publish("t", "k", &i.to_string(), at(1)).unwrap();
    }
    let retained: Vec<u64> = b.messages("t", 0).map(|m| m.offset).collect();
    assert_eq!(retained, [3, 4]);
    let expired = b
        .log()
        .iter()
        .filter(|e| matches!(e.kind, BrokerEventKind::Expired { .. }))
        .count();
    assert_eq!(expired, 3);
    assert_eq!(b.committed_offset("g", "t", 0), 3);
    let got = b.poll("g", "a", 10, at(2)).unwrap();
    assert_eq!(got.iter().map(|d| d.offset).collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn in_flight_max_bounds_unacked_deliveries() {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 2,
        in_flight_max: 3,
        ..BrokerConfig::default()
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
