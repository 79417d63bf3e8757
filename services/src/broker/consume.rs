//! Consuming: poll hands a member messages of its partitions (redeliveries first, then new
//! ones, round robin across partitions, bounded by `in_flight_max`); ack settles; nack
//! requeues, drops, or dead-letters.
//!
//! Not modelled: long polling (an empty poll returns at once; the face waits), fetch size in
//! bytes, per-partition pause/resume, delayed requeue (a requeued message is owed at once).

use std::collections::BTreeSet;

use super::{Broker, BrokerError, BrokerEventKind, Delivery, MessageId, NackOutcome};
use super::{Mutation, RequeueReason};
use syncsim_sim::time::VirtualTime;

/// Where a held delivery lives.
struct Held {
    topic: String,
    partition: u32,
    offset: u64,
}

impl Broker {
    /// Up to `batch_size_max` deliveries for `member`, fewer when it already holds close to
    /// `in_flight_max` unsettled ones or its partitions have nothing owed.
    pub fn poll(
        &mut self,
        group: &str,
        member: &str,
        batch_size_max: usize,
        now: VirtualTime,
    ) -> Result<Vec<Delivery>, BrokerError> {
        if !self.mutated(Mutation::PollIgnoresOutage) {
            self.check_up()?;
        }
        self.expire_sessions(now);
        self.member_of(group, member)?;
        self.heartbeat(group, member, now);
        let state = self.member_of(group, member)?;
        let room = self
            .config
            .in_flight_max
            .saturating_sub(state.held_count(member));
        let mut budget = batch_size_max.min(room);
        if self.mutated(Mutation::InFlightUnbounded) {
            budget = batch_size_max;
        }
        let mut owned = state.assignment.get(member).cloned().unwrap_or_default();
        if self.mutated(Mutation::PollAnyPartition) {
            owned = state.cursors.keys().cloned().collect();
        }
        let mut exhausted = BTreeSet::new();
        let mut deliveries = Vec::new();
        while budget > 0 && exhausted.len() < owned.len() {
            for (topic, partition) in &owned {
                if budget == 0 || exhausted.contains(&(topic, partition)) {
                    continue;
                }
                match self.next_delivery(group, member, topic, *partition, now) {
                    Some(delivery) => {
                        deliveries.push(delivery);
                        budget -= 1;
                    }
                    None => {
                        exhausted.insert((topic, partition));
                    }
                }
            }
        }
        Ok(deliveries)
    }

    /// The next owed message of one partition, marked in flight; a redelivery whose message
    /// retention deleted meanwhile is settled as `Expired` and skipped.
    fn next_delivery(
        &mut self,
        group: &str,
        member: &str,
        topic: &str,
        partition: u32,
        now: VirtualTime,
    ) -> Option<Delivery> {
        let fresh_first = self.mutated(Mutation::RedeliverAfterNew);
        let count_attempts = !self.mutated(Mutation::AttemptNotCounted);
        let log = self.topics.get(topic)?.partition(partition)?;
        let cursor = self
            .groups
            .get_mut(group)?
            .cursors
            .get_mut(&(topic.to_string(), partition))?;
        loop {
            let offset = if fresh_first {
                cursor.next_candidate_fresh_first(log.end_offset())?
            } else {
                cursor.next_candidate(log.end_offset())?
            };
            let Some(message) = log.get(offset) else {
                let message_id = cursor.redeliver_id(offset)?;
                cursor.settle(offset);
                self.events.push(
                    now,
                    BrokerEventKind::Expired {
                        group: group.to_string(),
                        message_id,
                        topic: topic.to_string(),
                        partition,
                        offset,
                    },
                );
                continue;
            };
            let mut attempt = cursor.take(offset, member, message.message_id);
            if !count_attempts {
                attempt = 1;
            }
            self.events.push(
                now,
                BrokerEventKind::Delivered {
                    group: group.to_string(),
                    member: member.to_string(),
                    message_id: message.message_id,
                    topic: topic.to_string(),
                    partition,
                    offset,
                    attempt,
                },
            );
            return Some(Delivery {
                message_id: message.message_id,
                topic: topic.to_string(),
                partition,
                offset,
                key: message.key.clone(),
                payload: message.payload.clone(),
                attempt,
            });
        }
    }

    /// Settles a delivery `member` holds.
    pub fn ack(
        &mut self,
        group: &str,
        member: &str,
        message_id: MessageId,
        now: VirtualTime,
    ) -> Result<(), BrokerError> {
        self.check_up()?;
        self.expire_sessions(now);
        self.member_of(group, member)?;
        self.heartbeat(group, member, now);
        let held = self.held(group, member, message_id)?;
        self.settle(group, &held);
        self.events.push(
            now,
            BrokerEventKind::Acked {
                group: group.to_string(),
                member: member.to_string(),
                message_id,
            },
        );
        Ok(())
    }

    /// Rejects a delivery `member` holds: `requeue` puts it back ahead of later messages of
    /// its partition; otherwise it is settled and published to the topic's dead-letter topic
    /// when one is configured (and the message is still retained), else dropped.
    pub fn nack(
        &mut self,
        group: &str,
        member: &str,
        message_id: MessageId,
        requeue: bool,
        now: VirtualTime,
    ) -> Result<NackOutcome, BrokerError> {
        self.check_up()?;
        self.expire_sessions(now);
        self.member_of(group, member)?;
        self.heartbeat(group, member, now);
        let held = self.held(group, member, message_id)?;
        if requeue {
            let given_back = self
                .cursor_mut(group, &held)
                .map(|cursor| cursor.requeue(held.offset))
                .unwrap_or_default();
            for back in given_back {
                self.events.push(
                    now,
                    BrokerEventKind::Requeued {
                        group: group.to_string(),
                        member: back.member,
                        message_id: back.message_id,
                        reason: RequeueReason::Nack,
                    },
                );
            }
            return Ok(NackOutcome::Requeued);
        }
        self.settle(group, &held);
        let dead_letter = self.dead_letter_copy(&held);
        let Some((dead_letter_topic, key, payload)) = dead_letter else {
            self.events.push(
                now,
                BrokerEventKind::Dropped {
                    group: group.to_string(),
                    member: member.to_string(),
                    message_id,
                },
            );
            return Ok(NackOutcome::Dropped);
        };
        let dead_letter_message_id = self.allocate_id();
        self.store(
            dead_letter_message_id,
            &dead_letter_topic,
            &key,
            &payload,
            now,
        );
        self.events.push(
            now,
            BrokerEventKind::DeadLettered {
                group: group.to_string(),
                member: member.to_string(),
                message_id,
                dead_letter_topic: dead_letter_topic.clone(),
                dead_letter_message_id,
            },
        );
        Ok(NackOutcome::DeadLettered {
            topic: dead_letter_topic,
        })
    }

    /// The dead-letter topic and the message's key and payload, when both exist.
    fn dead_letter_copy(&self, held: &Held) -> Option<(String, String, String)> {
        let topic = self.topics.get(&held.topic)?;
        let dead_letter = topic.settings.dead_letter.clone()?;
        if self.mutated(Mutation::DeadLetterIgnored) {
            return None;
        }
        let message = topic.partition(held.partition)?.get(held.offset)?;
        Some((dead_letter, message.key.clone(), message.payload.clone()))
    }

    /// Finds the delivery of `message_id` that `member` holds, or says why not.
    fn held(&self, group: &str, member: &str, message_id: MessageId) -> Result<Held, BrokerError> {
        let state = self.member_of(group, member)?;
        let unknown = || BrokerError::UnknownDelivery {
            group: group.to_string(),
            member: member.to_string(),
            message_id,
        };
        let (topic, partition, offset) = self.locations.get(&message_id).ok_or_else(unknown)?;
        let cursor = state
            .cursors
            .get(&(topic.clone(), *partition))
            .ok_or_else(unknown)?;
        cursor
            .in_flight
            .get(offset)
            .filter(|held| held.member == member || self.mutated(Mutation::AckByAnyMember))
            .filter(|held| held.message_id == message_id)
            .ok_or_else(unknown)?;
        Ok(Held {
            topic: topic.clone(),
            partition: *partition,
            offset: *offset,
        })
    }

    fn cursor_mut(&mut self, group: &str, held: &Held) -> Option<&mut super::group::Cursor> {
        self.groups
            .get_mut(group)?
            .cursors
            .get_mut(&(held.topic.clone(), held.partition))
    }

    fn settle(&mut self, group: &str, held: &Held) {
        if let Some(cursor) = self.cursor_mut(group, held) {
            cursor.settle(held.offset);
        }
    }
}
