//! Group membership: join, leave, crash of a member, session expiry, and the rebalance that
//! follows each change. With a session timeout, every call of a member is its heartbeat; a
//! member silent for the timeout is evicted at the next call the broker serves, and a
//! rebalance completes only once every remaining member called again (rejoined) or was
//! evicted, so a crashed member's partitions wait out its session. A rebalance takes back
//! every in-flight delivery of a partition that changes hands (the old owner's later ack is
//! refused as `UnknownDelivery`, like a Kafka commit after a lost generation) so the new owner
//! gets it again, attempt + 1.
//!
//! Not modelled: eager revocation of partitions that stay with their owner (members keep
//! consuming what they own while a rebalance waits), the rebalance timeout, sticky or
//! cooperative assignors, expiry at the exact deadline when no one calls the broker.

use std::collections::BTreeMap;

use super::group::{Cursor, Group};
use super::{non_empty, Broker, BrokerError, BrokerEventKind, Mutation, Rebalance, RequeueReason};
use super::{StartFrom, TopicTable};
use syncsim_sim::time::VirtualTime;

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
        self.expire_sessions(now);
        let state = self.groups.entry(group.to_string()).or_default();
        let newly = state
            .members
            .entry(member.to_string())
            .or_default()
            .insert(topic.to_string());
        self.heartbeat(group, member, now);
        let state = self.groups.get_mut(group).expect("just inserted");
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
        Ok(self.start_rebalance(group, Some(member), now))
    }

    /// `member` leaves `group` (all its topics); its unsettled deliveries are owed again.
    pub fn leave(
        &mut self,
        group: &str,
        member: &str,
        now: VirtualTime,
    ) -> Result<Rebalance, BrokerError> {
        self.check_up()?;
        self.expire_sessions(now);
        self.member_of(group, member)?;
        self.events.push(
            now,
            BrokerEventKind::Left {
                group: group.to_string(),
                member: member.to_string(),
            },
        );
        Ok(self.remove_member(group, member, RequeueReason::MemberGone, now))
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
        self.remove_member(group, member, RequeueReason::MemberGone, now)
    }

    /// Evicts every member silent for the session timeout (none without one, and none during
    /// an outage: the coordinator is not running its timers then).
    pub(super) fn expire_sessions(&mut self, now: VirtualTime) {
        let Some(timeout) = self.config.session_timeout else {
            return;
        };
        if self.down || self.mutated(Mutation::SessionNeverExpires) {
            return;
        }
        let mut silent = Vec::new();
        for (group, state) in &self.groups {
            for (member, heard) in &state.heard_at {
                if heard.after(timeout) <= now {
                    silent.push((group.clone(), member.clone(), *heard));
                }
            }
        }
        for (group, member, last_heard) in silent {
            self.events.push(
                now,
                BrokerEventKind::SessionExpired {
                    group: group.clone(),
                    member: member.clone(),
                    last_heard,
                },
            );
            self.remove_member(&group, &member, RequeueReason::SessionExpired, now);
        }
    }

    /// `member` called: its session lives on, and a rebalance waiting for it has its rejoin
    /// (the last one completes the rebalance).
    pub(super) fn heartbeat(&mut self, group: &str, member: &str, now: VirtualTime) {
        let Some(state) = self.groups.get_mut(group) else {
            return;
        };
        if !state.members.contains_key(member) {
            return;
        }
        state.heard_at.insert(member.to_string(), now);
        if state.awaiting.remove(member) && state.awaiting.is_empty() {
            self.rebalance(group, now);
        }
    }

    /// `member`'s partitions once its group is stable, `None` while a rebalance still waits
    /// for members to rejoin: a KafkaJS consumer learns its assignment only when its join and
    /// sync complete (the `GROUP_JOIN` instrumentation event carries `memberAssignment`), so
    /// a member that joined behind a dead one has none until that one's session expires. A
    /// call is a heartbeat, as every call.
    pub fn assignment_of(
        &mut self,
        group: &str,
        member: &str,
        now: VirtualTime,
    ) -> Result<Option<Vec<(String, u32)>>, BrokerError> {
        self.check_up()?;
        self.expire_sessions(now);
        self.member_of(group, member)?;
        self.heartbeat(group, member, now);
        let state = self.member_of(group, member)?;
        if !state.awaiting.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            state.assignment.get(member).cloned().unwrap_or_default(),
        ))
    }

    /// The coordinator came back (broker restart, outage over): like Kafka's coordinator
    /// loading a group, it restarts every member's session timer now.
    pub(super) fn restart_sessions(&mut self, now: VirtualTime) {
        for state in self.groups.values_mut() {
            for heard in state.heard_at.values_mut() {
                *heard = now;
            }
        }
    }

    /// A membership change: with session timeouts the rebalance waits for every other member
    /// to rejoin (`awaiting`), else it completes at once.
    fn start_rebalance(
        &mut self,
        group: &str,
        joiner: Option<&str>,
        now: VirtualTime,
    ) -> Rebalance {
        let waits = self.config.session_timeout.is_some()
            && !self.mutated(Mutation::RebalanceWaitsForNobody);
        let Some(state) = self.groups.get_mut(group) else {
            return Rebalance::default();
        };
        let others: Vec<String> = state
            .members
            .keys()
            .filter(|m| Some(m.as_str()) != joiner)
            .cloned()
            .collect();
        if !waits || others.is_empty() {
            state.awaiting.clear();
            return self.rebalance(group, now);
        }
        state.awaiting.extend(others);
        if let Some(joiner) = joiner {
            state.assignment.entry(joiner.to_string()).or_default();
        }
        let awaiting: Vec<String> = state.awaiting.iter().cloned().collect();
        self.events.push(
            now,
            BrokerEventKind::RebalanceStarted {
                group: group.to_string(),
                awaiting,
            },
        );
        Rebalance {
            assignment: self.assignment(group),
        }
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

    fn remove_member(
        &mut self,
        group: &str,
        member: &str,
        reason: RequeueReason,
        now: VirtualTime,
    ) -> Rebalance {
        if self.mutated(Mutation::ForgetInFlightOnMemberCrash) {
            if let Some(state) = self.groups.get_mut(group) {
                for cursor in state.cursors.values_mut() {
                    cursor.in_flight.retain(|_, held| held.member != member);
                }
            }
        }
        self.requeue_where(group, |held| held == member, reason, now);
        if let Some(state) = self.groups.get_mut(group) {
            state.members.remove(member);
            state.heard_at.remove(member);
            state.awaiting.remove(member);
            state.assignment.remove(member);
        }
        self.start_rebalance(group, None, now)
    }

    /// Recomputes the group's range assignment, takes back in-flight deliveries of partitions
    /// that change hands, opens cursors for partitions the group owns for the first time, and
    /// records `Rebalanced`.
    pub(super) fn rebalance(&mut self, group: &str, now: VirtualTime) -> Rebalance {
        let Some(state) = self.groups.get(group) else {
            return Rebalance::default();
        };
        if !state.awaiting.is_empty() {
            // A rebalance in progress hands out the assignment when its last member rejoins.
            return Rebalance {
                assignment: state.assignment.clone(),
            };
        }
        let topics = &self.topics;
        let (assignor, settlement) = (self.config.assignor, self.config.settlement);
        let earliest = self.config.start_from == StartFrom::Earliest;
        let assignment = state.assign(assignor, |t| topics.get(t).map(|t| t.settings.partitions));
        let state = self.groups.get_mut(group).expect("checked above");
        state.assignment = assignment.clone();
        let mut owners: BTreeMap<(String, u32), String> = BTreeMap::new();
        for (member, owned) in &assignment {
            for (topic, partition) in owned {
                let start = start_offset(topics, topic, *partition, earliest);
                state
                    .cursors
                    .entry((topic.clone(), *partition))
                    .or_insert_with(|| Cursor::starting_at(start, settlement));
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
            for held in cursor.revoke(|holder| matches(topic, *partition, holder)) {
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

/// Where a group starts in a partition it owns for the first time: its oldest retained
/// message (`earliest`) or its log end (`latest`); 0 for a topic that does not exist.
fn start_offset(topics: &TopicTable, topic: &str, partition: u32, earliest: bool) -> u64 {
    let Some(log) = topics.get(topic).and_then(|t| t.partition(partition)) else {
        return 0;
    };
    if earliest {
        log.start_offset()
    } else {
        log.end_offset()
    }
}
