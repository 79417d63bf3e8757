//! A consumer group: its members, which topics each member joined, when each was last heard
//! from, the members a rebalance still waits for, the assignment of partitions to members
//! (round robin or range), and one cursor per (topic, partition) that tracks what the group
//! has committed, what is in flight to whom, and what waits for redelivery, under either
//! settlement (Kafka offsets or per-message).
//!
//! Not modelled: cooperative/incremental rebalancing, static membership, generation ids,
//! sticky assignment.

use std::collections::{BTreeMap, BTreeSet};

use super::types::{Assignor, MessageId, Settlement};
use syncsim_sim::time::VirtualTime;

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
    settlement: Settlement,
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
    /// message for `earliest`, the log end for `latest`).
    pub fn starting_at(start_offset: u64, settlement: Settlement) -> Cursor {
        Cursor {
            settlement,
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
        assert!(
            offset >= self.committed,
            "offset {offset} is fetched below the committed {}",
            self.committed
        );
        assert!(
            !self.in_flight.contains_key(&offset),
            "offset {offset} is fetched while in flight"
        );
        // Per-message, a redelivery lies below `next_fetch`; with offsets, a rewind puts
        // `next_fetch` back on it, so taking it moves the position on.
        self.redeliver.remove(&offset);
        if offset == self.next_fetch {
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

    /// Puts an in-flight offset back for redelivery; returns who held it. With offsets, the
    /// position seeks back to it: every later delivery of the partition is taken back too
    /// and comes again (KafkaJS re-fetches from the offset whose `eachMessage` threw).
    pub fn requeue(&mut self, offset: u64) -> Vec<InFlight> {
        if self.settlement == Settlement::Offsets {
            if offset < self.committed {
                // Committed past by a later ack: nothing comes again.
                self.in_flight.remove(&offset);
                return Vec::new();
            }
            return self.rewind_to(offset);
        }
        let Some(held) = self.in_flight.remove(&offset) else {
            return Vec::new();
        };
        self.redeliver.insert(offset, held.message_id);
        vec![held]
    }

    /// The partition changes hands (or its holder is gone): per-message, each in-flight
    /// delivery goes back alone; with offsets, the next owner resumes at the committed offset
    /// and everything after it comes again, processed or not.
    pub fn revoke(&mut self, holder_matches: impl Fn(&str) -> bool) -> Vec<InFlight> {
        if self.settlement == Settlement::Offsets {
            if self
                .in_flight
                .values()
                .any(|held| holder_matches(&held.member))
            {
                return self.rewind_to(self.committed);
            }
            return Vec::new();
        }
        let offsets: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, held)| holder_matches(&held.member))
            .map(|(offset, _)| *offset)
            .collect();
        offsets
            .into_iter()
            .flat_map(|offset| self.requeue(offset))
            .collect()
    }

    /// Offsets mode: the position goes back to `offset`; every delivery in flight from there
    /// on is taken back (returned) and owed again. Deliveries below the committed offset were
    /// committed past by a later ack and are simply dropped.
    fn rewind_to(&mut self, offset: u64) -> Vec<InFlight> {
        assert!(
            offset >= self.committed,
            "a rewind never goes below the commit"
        );
        let taken: Vec<u64> = self.in_flight.range(offset..).map(|(o, _)| *o).collect();
        let mut given_back = Vec::new();
        for taken_offset in taken {
            if let Some(held) = self.in_flight.remove(&taken_offset) {
                self.redeliver.insert(taken_offset, held.message_id);
                given_back.push(held);
            }
        }
        let committed = self.committed;
        self.in_flight
            .retain(|held_offset, _| *held_offset >= committed);
        self.next_fetch = self.next_fetch.min(offset);
        given_back
    }

    /// Settles `offset` (acked, dropped, dead-lettered or expired). Per-message, `committed`
    /// advances over the contiguous settled prefix; with offsets it moves to `offset + 1`,
    /// past anything still unsettled before it (a Kafka commit is a position).
    pub fn settle(&mut self, offset: u64) {
        self.in_flight.remove(&offset);
        self.redeliver.remove(&offset);
        if offset == self.next_fetch {
            self.next_fetch += 1;
        }
        if self.settlement == Settlement::Offsets {
            let committed_before = self.committed;
            self.committed = self.committed.max(offset + 1);
            assert!(self.committed >= committed_before, "commits are monotonic");
            self.next_fetch = self.next_fetch.max(self.committed);
            let committed = self.committed;
            self.redeliver.retain(|o, _| *o >= committed);
            self.attempts.retain(|o, _| *o >= committed);
            return;
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
    /// Member -> when the coordinator last heard from it (its session's heartbeat).
    pub heard_at: BTreeMap<String, VirtualTime>,
    /// Members a rebalance in progress waits for: each must call again (rejoin) or be
    /// evicted by its session timeout before the new assignment is handed out.
    pub awaiting: BTreeSet<String>,
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

    /// The assignment `assignor` computes: per topic, over its members sorted by id, range
    /// takes contiguous ranges (the first `count % members` one extra), round robin gives
    /// partition `p` to member `p % members`. `partitions_of` gives the count of existing
    /// topics; a topic that does not exist yet assigns nothing.
    pub fn assign(
        &self,
        assignor: Assignor,
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
                let owned = assignment.entry(member.clone()).or_default();
                if assignor == Assignor::RoundRobin {
                    let mine = (0..count).filter(|p| p % member_count == index);
                    owned.extend(mine.map(|p| (topic.clone(), p)));
                    continue;
                }
                let share = base + u32::from(index < extra);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "offset 3 is fetched below the committed 5")]
    fn a_fetch_never_goes_below_the_committed_offset() {
        let mut cursor = Cursor::starting_at(5, Settlement::Offsets);
        cursor.take(3, "m", MessageId(3));
    }

    #[test]
    #[should_panic(expected = "offset 5 is fetched while in flight")]
    fn an_offset_is_in_flight_to_one_member_at_a_time() {
        let mut cursor = Cursor::starting_at(5, Settlement::PerMessage);
        cursor.take(5, "m", MessageId(5));
        cursor.take(5, "n", MessageId(5));
    }
}
