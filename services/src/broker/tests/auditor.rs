//! An auditor that replays the broker's ground truth (`Broker::log`) and checks, event by
//! event, what a correct broker must have done. It knows nothing of the engine's internals:
//! it rebuilds offsets, holders and assignments from the events alone, so a bug in the
//! engine's bookkeeping cannot hide itself in the auditor.
//!
//! Checks, each named so a mutation test can ask for the one it expects to fire:
//! - `order`: each delivery is the lowest offset its group still owes in that partition
//!   (requeued ones come back before later messages; order per partition).
//! - `exclusive`: a message is in the hands of at most one member of a group; only its holder
//!   settles or gives it back; a settled message is never delivered again to that group.
//! - `ownership`: a member only gets messages of partitions assigned to it.
//! - `attempts`: `attempt` counts the deliveries of the message to the group.

use std::collections::{BTreeMap, BTreeSet};

use super::super::{BrokerEvent, BrokerEventKind, MessageId};

/// A broken rule: which check, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
}

type Partition = (String, u32);

#[derive(Default)]
struct PartitionState {
    retained: BTreeSet<u64>,
    end_offset: u64,
}

#[derive(Default)]
struct GroupState {
    assignment: BTreeMap<String, BTreeSet<Partition>>,
    /// Offset the group started at, per partition (the log start when first assigned).
    start: BTreeMap<Partition, u64>,
    holder: BTreeMap<MessageId, String>,
    settled: BTreeSet<MessageId>,
    deliveries: BTreeMap<MessageId, u32>,
}

/// The replayed state.
#[derive(Default)]
pub struct Auditor {
    partitions: BTreeMap<Partition, PartitionState>,
    location: BTreeMap<MessageId, (Partition, u64)>,
    by_offset: BTreeMap<(Partition, u64), MessageId>,
    groups: BTreeMap<String, GroupState>,
    pub violations: Vec<Violation>,
}

impl Auditor {
    /// Replays `events` and returns the auditor with its findings.
    pub fn replay(events: &[BrokerEvent]) -> Auditor {
        let mut auditor = Auditor::default();
        for event in events {
            auditor.apply(&event.kind);
        }
        auditor
    }

    fn flag(&mut self, check: &'static str, detail: String) {
        self.violations.push(Violation { check, detail });
    }

    fn apply(&mut self, kind: &BrokerEventKind) {
        match kind {
            BrokerEventKind::Stored {
                message_id,
                topic,
                partition,
                offset,
            } => self.stored(*message_id, (topic.clone(), *partition), *offset),
            BrokerEventKind::Deleted {
                topic,
                partition,
                offset,
                ..
            } => {
                let state = self
                    .partitions
                    .entry((topic.clone(), *partition))
                    .or_default();
                state.retained.remove(offset);
            }
            BrokerEventKind::Rebalanced { group, assignment } => {
                self.rebalanced(group, assignment);
            }
            BrokerEventKind::Delivered {
                group,
                member,
                message_id,
                attempt,
                ..
            } => self.delivered(group, member, *message_id, *attempt),
            BrokerEventKind::Acked {
                group,
                member,
                message_id,
            }
            | BrokerEventKind::Dropped {
                group,
                member,
                message_id,
            }
            | BrokerEventKind::DeadLettered {
                group,
                member,
                message_id,
                ..
            } => self.released(group, member, *message_id, true),
            BrokerEventKind::Requeued {
                group,
                member,
                message_id,
                ..
            } => self.released(group, member, *message_id, false),
            BrokerEventKind::Expired {
                group, message_id, ..
            } => self.expired(group, *message_id),
            _ => {}
        }
    }

    fn stored(&mut self, message_id: MessageId, partition: Partition, offset: u64) {
        let state = self.partitions.entry(partition.clone()).or_default();
        state.retained.insert(offset);
        state.end_offset = offset + 1;
        self.location
            .insert(message_id, (partition.clone(), offset));
        self.by_offset.insert((partition, offset), message_id);
    }

    fn rebalanced(&mut self, group: &str, assignment: &BTreeMap<String, Vec<(String, u32)>>) {
        let partitions = &self.partitions;
        let state = self.groups.entry(group.to_string()).or_default();
        state.assignment = assignment
            .iter()
            .map(|(member, owned)| (member.clone(), owned.iter().cloned().collect()))
            .collect();
        for owned in assignment.values() {
            for partition in owned {
                let log_start = partitions
                    .get(partition)
                    .map_or(0, |p| p.retained.first().copied().unwrap_or(p.end_offset));
                state.start.entry(partition.clone()).or_insert(log_start);
            }
        }
    }

    fn delivered(&mut self, group: &str, member: &str, message_id: MessageId, attempt: u32) {
        let Some((partition, offset)) = self.location.get(&message_id).cloned() else {
            return self.flag("exclusive", format!("{message_id} delivered, never stored"));
        };
        let lowest_owed = self.lowest_owed(group, &partition);
        let state = self.groups.entry(group.to_string()).or_default();
        let mut found = Vec::new();
        if !state
            .assignment
            .get(member)
            .is_some_and(|o| o.contains(&partition))
        {
            found.push((
                "ownership",
                format!("{member} got {message_id} of {partition:?}"),
            ));
        }
        if let Some(holder) = state.holder.get(&message_id) {
            found.push((
                "exclusive",
                format!("{message_id} to {member}, {holder} holds it"),
            ));
        }
        if state.settled.contains(&message_id) {
            found.push((
                "exclusive",
                format!("{message_id} delivered after it settled"),
            ));
        }
        let count = state.deliveries.entry(message_id).or_insert(0);
        *count += 1;
        if *count != attempt {
            found.push((
                "attempts",
                format!("{message_id} attempt {attempt}, delivery {count}"),
            ));
        }
        if lowest_owed != Some(offset) {
            found.push((
                "order",
                format!("{group} got offset {offset} of {partition:?}, owed {lowest_owed:?}"),
            ));
        }
        state.holder.insert(message_id, member.to_string());
        for (check, detail) in found {
            self.flag(check, detail);
        }
    }

    /// The lowest offset of `partition` the group has neither settled nor handed out.
    fn lowest_owed(&self, group: &str, partition: &Partition) -> Option<u64> {
        let state = self.groups.get(group)?;
        let start = *state.start.get(partition)?;
        let end = self.partitions.get(partition)?.end_offset;
        (start..end).find(|offset| {
            let id = self.by_offset[&(partition.clone(), *offset)];
            !state.settled.contains(&id) && !state.holder.contains_key(&id)
        })
    }

    fn released(&mut self, group: &str, member: &str, message_id: MessageId, settles: bool) {
        let state = self.groups.entry(group.to_string()).or_default();
        let holder = state.holder.remove(&message_id);
        if settles {
            state.settled.insert(message_id);
        }
        if holder.as_deref() != Some(member) {
            self.flag(
                "exclusive",
                format!("{member} released {message_id}, held by {holder:?}"),
            );
        }
    }

    fn expired(&mut self, group: &str, message_id: MessageId) {
        let state = self.groups.entry(group.to_string()).or_default();
        let held = state.holder.contains_key(&message_id);
        state.settled.insert(message_id);
        if held {
            self.flag("exclusive", format!("{message_id} expired while held"));
        }
    }

    /// Messages of `topics` the group started on but never settled.
    pub fn unsettled(&self, group: &str, topics: &[&str]) -> Vec<MessageId> {
        let Some(state) = self.groups.get(group) else {
            return Vec::new();
        };
        self.location
            .iter()
            .filter(|(id, ((topic, _), _))| {
                topics.contains(&topic.as_str()) && !state.settled.contains(id)
            })
            .filter(|(_, (partition, offset))| {
                state
                    .start
                    .get(partition)
                    .is_some_and(|start| offset >= start)
            })
            .map(|(id, _)| *id)
            .collect()
    }
}
