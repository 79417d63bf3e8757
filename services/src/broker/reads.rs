//! Read-only views of the broker for faces and properties: the ground truth, offsets,
//! assignments, retained messages. Nothing here changes state or records events.

use std::collections::BTreeMap;

use super::topic::PartitionLog;
use super::{Broker, BrokerEvent, StoredMessage};

impl Broker {
    /// The ground truth, in order.
    pub fn log(&self) -> &[BrokerEvent] {
        self.events.events()
    }

    /// The group's committed offset in (topic, partition): every offset below it is settled.
    /// 0 when the group never owned the partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: u32) -> u64 {
        self.groups
            .get(group)
            .and_then(|g| g.cursors.get(&(topic.to_string(), partition)))
            .map_or(0, |cursor| cursor.committed)
    }

    /// The offset the next message stored in (topic, partition) gets; 0 when unknown.
    pub fn log_end_offset(&self, topic: &str, partition: u32) -> u64 {
        self.partition_log(topic, partition)
            .map_or(0, PartitionLog::end_offset)
    }

    /// The group's current assignment (empty when the group is unknown).
    pub fn assignment(&self, group: &str) -> BTreeMap<String, Vec<(String, u32)>> {
        self.groups
            .get(group)
            .map(|g| g.assignment.clone())
            .unwrap_or_default()
    }

    /// The members of `group`, sorted (empty when the group is unknown).
    pub fn members(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The topics `member` of `group` joined, sorted (empty when not a member).
    pub fn member_topics(&self, group: &str, member: &str) -> Vec<String> {
        self.groups
            .get(group)
            .and_then(|g| g.members.get(member))
            .map(|topics| topics.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The partition count of `topic`, if it exists.
    pub fn topic_partitions(&self, topic: &str) -> Option<u32> {
        self.topics.get(topic).map(|t| t.settings.partitions)
    }

    /// The retained messages of (topic, partition), oldest first.
    pub fn messages(&self, topic: &str, partition: u32) -> impl Iterator<Item = &StoredMessage> {
        self.partition_log(topic, partition)
            .into_iter()
            .flat_map(PartitionLog::iter)
    }

    /// The deliveries `member` of `group` holds unsettled.
    pub fn in_flight_count(&self, group: &str, member: &str) -> usize {
        self.groups.get(group).map_or(0, |g| g.held_count(member))
    }

    /// The topic's dead-letter topic, if configured.
    pub fn dead_letter_topic(&self, topic: &str) -> Option<&str> {
        self.topics.get(topic)?.settings.dead_letter.as_deref()
    }

    fn partition_log(&self, topic: &str, partition: u32) -> Option<&PartitionLog> {
        self.topics.get(topic)?.partition(partition)
    }
}
