//! Storing a message: auto-creating its topic, appending to the chosen partition, recording
//! `Stored`, and applying retention, which deletes the oldest messages and expires them for
//! every group that still owed them.
//!
//! Not modelled: fsync and torn writes (a stored message is durable at once), quotas.

use super::topic::TopicSettings;
use super::{Broker, BrokerEventKind, MessageId, Mutation, Published, StoredMessage};
use syncsim_sim::time::VirtualTime;

impl Broker {
    /// Appends a message (auto-creating the topic), records `Stored`, applies retention.
    pub(super) fn store(
        &mut self,
        message_id: MessageId,
        topic: &str,
        key: &str,
        payload: &str,
        now: VirtualTime,
    ) -> Published {
        if !self.topics.contains_key(topic) {
            let settings = TopicSettings {
                partitions: self.config.partitions_default,
                dead_letter: None,
                retention_messages_max: None,
            };
            self.insert_topic(topic, settings, now);
        }
        let keeps_one_more = self.mutated(Mutation::RetentionKeepsOneMore);
        let key_ignored = self.mutated(Mutation::KeyIgnored);
        let topic_state = self
            .topics
            .get_mut(topic)
            .expect("the topic was just ensured");
        let mut retention = topic_state
            .settings
            .retention_messages_max
            .or(self.config.retention_messages_max);
        if keeps_one_more {
            retention = retention.map(|keep_max| keep_max + 1);
        }
        let key = if key_ignored { "" } else { key };
        let outcome = topic_state.store(message_id, topic, key, payload, retention, now);
        self.locations.insert(
            message_id,
            (topic.to_string(), outcome.partition, outcome.offset),
        );
        self.events.push(
            now,
            BrokerEventKind::Stored {
                message_id,
                topic: topic.to_string(),
                partition: outcome.partition,
                offset: outcome.offset,
            },
        );
        for deleted in outcome.deleted {
            self.record_deletion(&deleted, now);
        }
        Published {
            topic: topic.to_string(),
            partition: outcome.partition,
            offset: outcome.offset,
            message_id,
        }
    }

    /// Retention deleted `message`: every group still owed it loses it (`Expired`).
    fn record_deletion(&mut self, message: &StoredMessage, now: VirtualTime) {
        self.events.push(
            now,
            BrokerEventKind::Deleted {
                message_id: message.message_id,
                topic: message.topic.clone(),
                partition: message.partition,
                offset: message.offset,
            },
        );
        let key = (message.topic.clone(), message.partition);
        for (group_name, group) in &mut self.groups {
            let Some(cursor) = group.cursors.get_mut(&key) else {
                continue;
            };
            if !cursor.is_owed(message.offset) {
                continue;
            }
            cursor.settle(message.offset);
            self.events.push(
                now,
                BrokerEventKind::Expired {
                    group: group_name.clone(),
                    message_id: message.message_id,
                    topic: message.topic.clone(),
                    partition: message.partition,
                    offset: message.offset,
                },
            );
        }
    }
}
