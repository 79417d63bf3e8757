//! A topic: a fixed number of partitions, each an append-only log with a retention limit
//! counted in messages. Keyed partitioning by a stable FNV-1a hash of the key, so the same key
//! lands in the same partition on every run and every platform.
//!
//! Not modelled: retention by age or bytes, log compaction, replication and leader election,
//! adding partitions to an existing topic.

use std::collections::VecDeque;

use super::types::{MessageId, StoredMessage, TopicConfig};
use syncsim_sim::time::VirtualTime;

/// The settings a topic was created with, resolved against the broker's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TopicSettings {
    pub partitions: u32,
    pub dead_letter: Option<String>,
    /// Per-topic limit; `None` means the broker-wide one applies (read at publish time).
    pub retention_messages_max: Option<u64>,
}

impl TopicSettings {
    /// True when `config` asks for something other than these settings.
    pub fn differs_from(&self, config: &TopicConfig) -> bool {
        config.partitions.is_some_and(|p| p != self.partitions)
            || (config.dead_letter.is_some() && config.dead_letter != self.dead_letter)
            || (config.retention_messages_max.is_some()
                && config.retention_messages_max != self.retention_messages_max)
    }
}

/// One partition's log: retained messages and the next offset to assign.
#[derive(Clone, Debug, Default)]
pub(super) struct PartitionLog {
    messages: VecDeque<StoredMessage>,
    end_offset: u64,
}

impl PartitionLog {
    /// Offset of the oldest retained message (equals `end_offset` when empty).
    pub fn start_offset(&self) -> u64 {
        self.messages.front().map_or(self.end_offset, |m| m.offset)
    }

    /// The offset the next stored message gets.
    pub fn end_offset(&self) -> u64 {
        self.end_offset
    }

    pub fn get(&self, offset: u64) -> Option<&StoredMessage> {
        let index = offset.checked_sub(self.start_offset())?;
        self.messages.get(usize::try_from(index).ok()?)
    }

    pub fn iter(&self) -> impl Iterator<Item = &StoredMessage> {
        self.messages.iter()
    }

    fn append(&mut self, message: StoredMessage) {
        // Offsets are dense and only grow: a consumer's committed position means the same
        // messages on every fetch.
        assert_eq!(
            message.offset, self.end_offset,
            "a partition appends at its end offset"
        );
        self.end_offset = message.offset + 1;
        self.messages.push_back(message);
    }

    /// Removes the oldest messages beyond `keep_max` and returns them, oldest first.
    fn trim(&mut self, keep_max: u64) -> Vec<StoredMessage> {
        let mut deleted = Vec::new();
        while u64::try_from(self.messages.len()).unwrap_or(u64::MAX) > keep_max {
            if let Some(message) = self.messages.pop_front() {
                deleted.push(message);
            }
        }
        deleted
    }
}

/// A topic and its partitions.
#[derive(Clone, Debug)]
pub(super) struct Topic {
    pub settings: TopicSettings,
    pub partitions: Vec<PartitionLog>,
    /// Next partition for an empty key (round robin, like a producer without a key).
    round_robin_next: u32,
}

/// What a store did: where the message went and what retention deleted to make room.
pub(super) struct StoreOutcome {
    pub partition: u32,
    pub offset: u64,
    pub deleted: Vec<StoredMessage>,
}

impl Topic {
    pub fn new(settings: TopicSettings) -> Topic {
        let partitions = (0..settings.partitions)
            .map(|_| PartitionLog::default())
            .collect();
        Topic {
            settings,
            partitions,
            round_robin_next: 0,
        }
    }

    pub fn partition(&self, partition: u32) -> Option<&PartitionLog> {
        self.partitions.get(usize::try_from(partition).ok()?)
    }

    /// The partition for `key`: FNV-1a of its bytes modulo the count; an empty key goes round
    /// robin so keyless traffic spreads.
    fn choose_partition(&mut self, key: &str) -> u32 {
        let count = self.settings.partitions;
        if key.is_empty() {
            let chosen = self.round_robin_next % count;
            self.round_robin_next = (chosen + 1) % count;
            return chosen;
        }
        let hash = fnv1a_64(key.as_bytes());
        u32::try_from(hash % u64::from(count)).unwrap_or(0)
    }

    /// Appends a message and deletes the oldest beyond `retention_messages_max`.
    pub fn store(
        &mut self,
        message_id: MessageId,
        topic_name: &str,
        key: &str,
        payload: &str,
        retention_messages_max: Option<u64>,
        now: VirtualTime,
    ) -> StoreOutcome {
        let partition = self.choose_partition(key);
        let log = &mut self.partitions[partition as usize];
        let offset = log.end_offset();
        log.append(StoredMessage {
            message_id,
            topic: topic_name.to_string(),
            partition,
            offset,
            key: key.to_string(),
            payload: payload.to_string(),
            stored_at: now,
        });
        let deleted = retention_messages_max.map_or_else(Vec::new, |keep_max| log.trim(keep_max));
        StoreOutcome {
            partition,
            offset,
            deleted,
        }
    }
}

/// 64-bit FNV-1a: tiny, stable across runs and platforms, good enough to spread keys.
pub(super) fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(offset: u64) -> StoredMessage {
        StoredMessage {
            message_id: MessageId(offset),
            topic: "t".to_string(),
            partition: 0,
            offset,
            key: String::new(),
            payload: "{}".to_string(),
            stored_at: VirtualTime::default(),
        }
    }

    #[test]
    #[should_panic(expected = "a partition appends at its end offset")]
    fn an_offset_is_never_skipped() {
        let mut log = PartitionLog::default();
        log.append(message(0));
        log.append(message(2));
    }
}
