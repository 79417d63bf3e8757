//! Group membership: join, leave, crash of a member, and the rebalance that follows each
//! change. A rebalance takes back every in-flight delivery of a partition that changes hands
//! (the old owner's later ack is refused as `UnknownDelivery`, like a Kafka commit after a
//! lost generation) so the new owner gets it again, attempt + 1.
//!
//! Not modelled: rebalance delays, the stop-the-world pause of eager rebalancing, sticky or
//! cooperative assignors.

use std::collections::BTreeMap;

use super::group::{Cursor, Group};
use super::{non_empty, Broker, BrokerError, BrokerEventKind, Mutation, Rebalance, RequeueReason};
use crate::time::VirtualTime;

impl Broker {
    /// Adds `member` to `group` as a reader of `topic` (a member may join several topics of
    /// its group, one call each) and rebalances. Joining a topic that does not exist yet is
    /// allowed: its partitions are assigned when it is created. Joining twice is a no-op that
    /// returns the current assignment.
    pub fn join(
        &mut self,
        group: &str,
        member: &str,
        topic: &str,
        now: VirtualTime,
    ) -> Result<Rebalance, BrokerError> {
        self.check_up()?;
        non_empty(group, "group")?;
        non_empty(member, "member")?;
        non_empty(topic, "topic")?;
        let state = self.groups.entry(group.to_string()).or_default();
        let newly = state
            .members
            .entry(member.to_string())
            .or_default()
            .insert(topic.to_string());
        if !newly {
            return Ok(Rebalance {
                assignment: state.assignment.clone(),
            });
        }
        self.events.push(
            now,
            BrokerEventKind::Joined {
                group: group.to_string(),
                member: member.to_string(),
                topic: topic.to_string(),
            },
        );
        Ok(self.rebalance(group, now))
    }

    /// `member` leaves `group` (all its topics); its unsettled deliveries are owed again.
    pub fn leave(
        &mut self,
        group: &str,
        member: &str,
        now: VirtualTime,
    ) -> Result<Rebalance, BrokerError> {
        self.check_up()?;
        self.member_of(group, member)?;
        self.events.push(
            now,
            BrokerEventKind::Left {
                group: group.to_string(),
                member: member.to_string(),
            },
        );
        Ok(self.remove_member(group, member, now))
    }

    /// `member` of `group` died (reported by the face, also during an outage): like `leave`,
    /// its unsettled deliveries are owed again. An unknown member changes nothing.
    pub fn member_crashed(&mut self, group: &str, member: &str, now: VirtualTime) -> Rebalance {
        if self.member_of(group, member).is_err() {
            return Rebalance {
                assignment: self.assignment(group),
            };
        }
        self.events.push(
            now,
            BrokerEventKind::MemberCrashed {
                group: group.to_string(),
                member: member.to_string(),
            },
        );
        self.remove_member(group, member, now)
    }

    /// The group if `member` belongs to it.
    pub(super) fn member_of(&self, group: &str, member: &str) -> Result<&Group, BrokerError> {
        self.groups
            .get(group)
            .filter(|g| g.members.contains_key(member))
            .ok_or_else(|| BrokerError::UnknownMember {
                group: group.to_string(),
                member: member.to_string(),
            })
    }

    fn remove_member(&mut self, group: &str, member: &str, now: VirtualTime) -> Rebalance {
        if self.mutated(Mutation::ForgetInFlightOnMemberCrash) {
            if let Some(state) = self.groups.get_mut(group) {
                for cursor in state.cursors.values_mut() {
                    cursor.in_flight.retain(|_, held| held.member != member);
                }
            }
        }
        self.requeue_where(group, |held| held == member, RequeueReason::MemberGone, now);
        if let Some(state) = self.groups.get_mut(group) {
            state.members.remove(member);
        }
        self.rebalance(group, now)
    }

    /// Recomputes the group's range assignment, takes back in-flight deliveries of partitions
    /// that change hands, opens cursors for partitions the group owns for the first time, and
    /// records `Rebalanced`.
    pub(super) fn rebalance(&mut self, group: &str, now: VirtualTime) -> Rebalance {
        let Some(state) = self.groups.get(group) else {
            return Rebalance::default();
        };
        let topics = &self.topics;
        let assignment = state.range_assignment(|t| topics.get(t).map(|t| t.settings.partitions));
        let state = self.groups.get_mut(group).expect("checked above");
        state.assignment = assignment.clone();
        let mut owners: BTreeMap<(String, u32), String> = BTreeMap::new();
        for (member, owned) in &assignment {
            for (topic, partition) in owned {
                let start = topics
                    .get(topic)
                    .and_then(|t| t.partition(*partition))
                    .map_or(0, super::topic::PartitionLog::start_offset);
                state
                    .cursors
                    .entry((topic.clone(), *partition))
                    .or_insert_with(|| Cursor::starting_at(start));
                owners.insert((topic.clone(), *partition), member.clone());
            }
        }
        self.requeue_where_partition(
            group,
            |topic, partition, held| {
                owners
                    .get(&(topic.to_string(), partition))
                    .map(String::as_str)
                    != Some(held)
            },
            RequeueReason::Revoked,
            now,
        );
        self.events.push(
            now,
            BrokerEventKind::Rebalanced {
                group: group.to_string(),
                assignment: assignment.clone(),
            },
        );
        Rebalance { assignment }
    }

    /// Requeues every in-flight delivery of `group` whose holder matches.
    pub(super) fn requeue_where(
        &mut self,
        group: &str,
        holder_matches: impl Fn(&str) -> bool,
        reason: RequeueReason,
        now: VirtualTime,
    ) {
        self.requeue_where_partition(group, |_, _, held| holder_matches(held), reason, now);
    }

    fn requeue_where_partition(
        &mut self,
        group: &str,
        matches: impl Fn(&str, u32, &str) -> bool,
        reason: RequeueReason,
        now: VirtualTime,
    ) {
        let Some(state) = self.groups.get_mut(group) else {
            return;
        };
        for ((topic, partition), cursor) in &mut state.cursors {
            let offsets: Vec<u64> = cursor
                .in_flight
                .iter()
                .filter(|(_, held)| matches(topic, *partition, &held.member))
                .map(|(offset, _)| *offset)
                .collect();
            for offset in offsets {
                let Some(held) = cursor.requeue(offset) else {
                    continue;
                };
                self.events.push(
                    now,
                    BrokerEventKind::Requeued {
                        group: group.to_string(),
                        member: held.member,
                        message_id: held.message_id,
                        reason,
                    },
                );
            }
        }
    }
}
