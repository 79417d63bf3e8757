//! Unit tests of topics, publishing, outages and retention: one behaviour each.

use super::super::*;
use super::{at, broker};

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
        ..BrokerConfig::per_message()
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
fn key_hash_is_pinned_so_partitions_stay_the_same_across_commits() {
    // FNV-1a 64 reference vectors: a change of hash would move keys between partitions and
    // change every recorded run.
    assert_eq!(super::super::topic::fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(super::super::topic::fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    let mut b = broker(7);
    let published = b.publish("t", "a", "{}", at(0)).unwrap();
    assert_eq!(published.partition, (0xaf63_dc4c_8601_ec8c_u64 % 7) as u32);
}

#[test]
fn empty_keys_go_round_robin() {
    let mut b = broker(3);
    let partitions: Vec<u32> = (0..4)
        .map(|_| b.publish("t", "", "{}", at(0)).unwrap().partition)
        .collect();
    assert_eq!(partitions, [0, 1, 2, 0]);
}
