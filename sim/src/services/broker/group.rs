//! A consumer group: its members, which topics each member joined, the range assignment of
//! partitions to members, and one cursor per (topic, partition) that tracks what the group has
//! settled, what is in flight to whom, and what waits for redelivery.
//!
//! Not modelled: session timeouts and heartbeats (a dead member is reported by the face with
//! `member_crashed`), cooperative/incremental rebalancing, static membership, generation ids.

use std::collections::{BTreeMap, BTreeSet};

use super::types::MessageId;

/// A delivery a member holds and has not settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct InFlight {
    pub member: String,
    pub message_id: MessageId,
}

/// The group's position in one partition.
///
/// Offsets below `committed` are settled; between `committed` and `next_fetch` each offset is
/// settled (`settled_ahead`), in flight, or waiting in `redeliver`; from `next_fetch` on,
/// nothing was delivered yet.
#[derive(Clone, Debug, Default)]
pub(super) struct Cursor {
    pub committed: u64,
    pub next_fetch: u64,
    settled_ahead: BTreeSet<u64>,
    /// Offsets owed again, with their message ids (the message may be gone from the log).
    redeliver: BTreeMap<u64, MessageId>,
    pub in_flight: BTreeMap<u64, InFlight>,
    /// Deliveries so far of each unsettled offset; survives broker crashes so `attempt`
    /// in the ground truth counts every delivery honestly.
    attempts: BTreeMap<u64, u32>,
}

impl Cursor {
    /// A cursor for a group that starts reading at `start_offset` (the oldest retained
    /// message: "earliest", as a new Kafka group with `auto.offset.reset=earliest`).
    pub fn starting_at(start_offset: u64) -> Cursor {
        Cursor {
            committed: start_offset,
            next_fetch: start_offset,
            ..Cursor::default()
        }
    }

    /// The next offset to hand out: redeliveries first (oldest first), then new messages.
    pub fn next_candidate(&self, end_offset: u64) -> Option<u64> {
        let fresh = (self.next_fetch < end_offset).then_some(self.next_fetch);
        match (self.redeliver.keys().next().copied(), fresh) {
            (Some(again), Some(new)) => Some(again.min(new)),
            (again, new) => again.or(new),
        }
    }

    /// The mutated order of `Mutation::RedeliverAfterNew`: new messages before requeued ones.
    pub fn next_candidate_fresh_first(&self, end_offset: u64) -> Option<u64> {
        let fresh = (self.next_fetch < end_offset).then_some(self.next_fetch);
        fresh.or_else(|| self.redeliver.keys().next().copied())
    }

    /// Marks `offset` in flight to `member` and returns its attempt number.
    pub fn take(&mut self, offset: u64, member: &str, message_id: MessageId) -> u32 {
        if self.redeliver.remove(&offset).is_none() && offset == self.next_fetch {
            self.next_fetch += 1;
        }
        let attempt = self.attempts.entry(offset).or_insert(0);
        *attempt += 1;
        self.in_flight.insert(
            offset,
            InFlight {
                member: member.to_string(),
                message_id,
            },
        );
        *attempt
    }

    /// Puts an in-flight offset back for redelivery; returns who held it.
    pub fn requeue(&mut self, offset: u64) -> Option<InFlight> {
        let held = self.in_flight.remove(&offset)?;
        self.redeliver.insert(offset, held.message_id);
        Some(held)
    }

    /// Settles `offset` (acked, dropped, dead-lettered or expired) and advances `committed`
    /// over the contiguous settled prefix.
    pub fn settle(&mut self, offset: u64) {
        self.in_flight.remove(&offset);
        self.redeliver.remove(&offset);
        if offset == self.next_fetch {
            self.next_fetch += 1;
        }
        if offset >= self.committed {
            self.settled_ahead.insert(offset);
        }
        while self.settled_ahead.remove(&self.committed) {
            self.attempts.remove(&self.committed);
            self.committed += 1;
        }
    }

    /// True when `offset` is owed to the group: not settled and not in anyone's hands.
    pub fn is_owed(&self, offset: u64) -> bool {
        offset >= self.committed
            && !self.settled_ahead.contains(&offset)
            && !self.in_flight.contains_key(&offset)
    }

    /// The message id of an offset waiting for redelivery.
    pub fn redeliver_id(&self, offset: u64) -> Option<MessageId> {
        self.redeliver.get(&offset).copied()
    }
}

/// A consumer group.
#[derive(Clone, Debug, Default)]
pub(super) struct Group {
    /// Member -> the topics it joined.
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Member -> its (topic, partition) list, as of the last rebalance.
    pub assignment: BTreeMap<String, Vec<(String, u32)>>,
    /// One cursor per (topic, partition) the group ever owned; kept when nobody owns it.
    pub cursors: BTreeMap<(String, u32), Cursor>,
}

impl Group {
    /// Unsettled deliveries `member` holds, across partitions.
    pub fn held_count(&self, member: &str) -> usize {
        self.cursors
            .values()
            .map(|cursor| {
                cursor
                    .in_flight
                    .values()
                    .filter(|h| h.member == member)
                    .count()
            })
            .sum()
    }

    /// Range assignment: for each topic, its members sorted by id take contiguous ranges of
    /// partitions, the first `count % members` one extra. `partitions_of` gives the count of
    /// existing topics; a topic that does not exist yet assigns nothing.
    pub fn range_assignment(
        &self,
        partitions_of: impl Fn(&str) -> Option<u32>,
    ) -> BTreeMap<String, Vec<(String, u32)>> {
        let mut assignment: BTreeMap<String, Vec<(String, u32)>> = self
            .members
            .keys()
            .map(|member| (member.clone(), Vec::new()))
            .collect();
        for (topic, subscribers) in self.subscribers() {
            let Some(count) = partitions_of(&topic) else {
                continue;
            };
            let member_count = u32::try_from(subscribers.len()).unwrap_or(u32::MAX);
            let (base, extra) = (count / member_count, count % member_count);
            let mut next_partition = 0;
            for (index, member) in (0u32..).zip(subscribers.iter()) {
                let share = base + u32::from(index < extra);
                let owned = assignment.entry(member.clone()).or_default();
                owned.extend((next_partition..next_partition + share).map(|p| (topic.clone(), p)));
                next_partition += share;
            }
        }
        for owned in assignment.values_mut() {
            owned.sort();
        }
        assignment
    }

    /// Topic -> its members, sorted.
    fn subscribers(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut by_topic: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (member, topics) in &self.members {
            for topic in topics {
                by_topic
                    .entry(topic.clone())
                    .or_default()
                    .insert(member.clone());
            }
        }
        by_topic
    }
}
