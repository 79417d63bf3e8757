//! Tests written to kill mutants that `cargo mutants` left alive in `consume.rs` and
//! `group.rs` (MUTANTS.md, "Broker settlement"). Each pins one behaviour of the Kafka
//! (`Offsets`) settlement that `docs/broker.md` documents and no other test observed.

use super::super::*;
use super::at;

/// The default (Kafka) broker, one partition per topic, new groups from the earliest message.
fn kafka() -> Broker {
    Broker::new(BrokerConfig {
        partitions_default: 1,
        start_from: StartFrom::Earliest,
        ..BrokerConfig::default()
    })
}

/// `a` holds m0..m3, none settled. Returns the broker and the deliveries.
fn four_held() -> (Broker, Vec<Delivery>) {
    let mut b = kafka();
    for i in 0..4 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    b.join("g", "a", "t", at(0)).unwrap();
    let got = b.poll("g", "a", 4, at(1)).unwrap();
    assert_eq!(
        got.iter().map(|d| d.offset).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    (b, got)
}

/// A requeue seeks the partition back to the nacked offset even when earlier deliveries are
/// still unsettled (the commit is below it): the nacked message and every later one come
/// again, each as attempt 2, while the earlier ones stay with their holder. KafkaJS
/// re-fetches from the offset whose `eachMessage` threw (docs/broker.md, "Committed
/// offsets"; KafkaJS docs/Consuming.md).
/// Kills `group.rs` `Cursor::requeue`: `<` → `>` in `offset < self.committed`, which
/// dropped a nacked delivery above the commit without giving it back.
#[test]
fn a_requeue_above_an_unsettled_delivery_still_seeks_back_to_it() {
    let (mut b, got) = four_held();
    let outcome = b.nack("g", "a", got[2].message_id, true, at(2)).unwrap();
    assert_eq!(outcome, NackOutcome::Requeued);
    assert_eq!(b.committed_offset("g", "t", 0), 0);
    let again = b.poll("g", "a", 10, at(3)).unwrap();
    let offsets_attempts: Vec<(u64, u32)> = again.iter().map(|d| (d.offset, d.attempt)).collect();
    assert_eq!(offsets_attempts, [(2, 2), (3, 2)]);
    // Why: m0 and m1 were never given back, so their holder can still settle them.
    assert_eq!(b.in_flight_count("g", "a"), 4);
    b.ack("g", "a", got[1].message_id, at(4)).unwrap();
    assert_eq!(b.committed_offset("g", "t", 0), 2);
}

/// A requeue of a delivery that a later ack already committed past brings nothing back: the
/// commit is a position (Kafka "Consumer Position"), and the seek never goes below it.
/// Kills the same mutant from the other side: under it this nack seeks below the commit.
#[test]
fn a_requeue_below_the_committed_offset_brings_nothing_back() {
    let (mut b, got) = four_held();
    b.ack("g", "a", got[1].message_id, at(2)).unwrap();
    assert_eq!(b.committed_offset("g", "t", 0), 2);
    let outcome = b.nack("g", "a", got[0].message_id, true, at(3)).unwrap();
    assert_eq!(outcome, NackOutcome::Requeued);
    assert!(b.poll("g", "a", 10, at(4)).unwrap().is_empty());
    assert_eq!(b.committed_offset("g", "t", 0), 2);
    // m2 and m3 are still held; m0 is gone from the member's hands.
    assert_eq!(b.in_flight_count("g", "a"), 2);
}

/// A message that retention deleted while it was in flight stays acknowledgeable; given
/// back, it expires instead of being redelivered, and the partition moves on to the
/// retained messages after it (docs/broker.md, "Retention"). Here an ack of an earlier
/// delivery commits up to the given-back message before the next poll, which must not make
/// the broker forget that the message is owed (and expires).
/// Kills `group.rs` `Cursor::settle`: `>=` → `<` in the offsets path's
/// `redeliver.retain(..)`, which forgot the given-back offset: the next poll found no message
/// there and no redelivery either, and the partition stalled for good.
#[test]
fn a_message_deleted_in_flight_and_given_back_expires_and_the_partition_moves_on() {
    let mut b = Broker::new(BrokerConfig {
        partitions_default: 1,
        retention_messages_max: Some(2),
        start_from: StartFrom::Earliest,
        ..BrokerConfig::default()
    });
    b.join("g", "a", "t", at(0)).unwrap();
    for i in 0..2 {
        b.publish("t", "k", &i.to_string(), at(0)).unwrap();
    }
    let held = b.poll("g", "a", 2, at(1)).unwrap();
    // Two newer messages push m0 and m1 out of the log while `a` holds them.
    for i in 2..4 {
        b.publish("t", "k", &i.to_string(), at(2)).unwrap();
    }
    let retained: Vec<u64> = b.messages("t", 0).map(|m| m.offset).collect();
    assert_eq!(retained, [2, 3]);
    b.nack("g", "a", held[1].message_id, true, at(3)).unwrap();
    b.ack("g", "a", held[0].message_id, at(4)).unwrap();
    assert_eq!(b.committed_offset("g", "t", 0), 1);
    let next = b.poll("g", "a", 10, at(5)).unwrap();
    assert_eq!(next.iter().map(|d| d.offset).collect::<Vec<_>>(), [2, 3]);
    let expired_m1 = b.log().iter().any(|event| {
        matches!(&event.kind, BrokerEventKind::Expired { message_id, offset: 1, .. }
            if *message_id == held[1].message_id)
    });
    assert!(
        expired_m1,
        "m1 was given back after its deletion: it expires"
    );
    assert_eq!(b.committed_offset("g", "t", 0), 2);
}
