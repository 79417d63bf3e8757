//! A message broker engine: Kafka-like topics, partitions and consumer groups with
//! RabbitMQ-style per-message acknowledgement, as a plain synchronous state machine. The async
//! face on a simulated node (`node.rs`) drives it; this module knows nothing about time
//! passing, networks or tasks: every call takes `now` and returns at once.
//!
//! ```text
//!  publish(topic, key) ──▶ Topic ── fnv1a(key) % partitions ──▶ PartitionLog (offsets 0..)
//!                                                                  │ retention trims oldest
//!  join/leave/member_crashed ──▶ Group ── range assignment ──▶ member -> [(topic, p)]
//!  poll(group, member) ◀── Cursor per (group, topic, p): redeliveries first, then new ones
//!  ack / nack ──▶ Cursor.settle ──▶ committed offset = contiguous settled prefix
//! ```
//!
//! Every decision is recorded in the ground truth (`log()`). Semantics, knobs and what is not
//! modelled: `docs/broker.md`. Not modelled here: transactions, idempotent producers,
//! replication, quotas, message size limits.

mod consume;
mod group;
mod log;
mod membership;
mod mutation;
mod node;
mod reads;
mod store;
mod topic;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use log::{BrokerEvent, BrokerEventKind, RequeueReason};
pub use node::{
    BrokerCallError, BrokerHandle, BrokerRequest, BrokerResponse, BrokerServer, BrokerWorld,
    Consumer,
};
pub use types::{
    Assignor, BrokerConfig, BrokerError, Created, Delivery, MessageId, NackOutcome, Published,
    Rebalance, Settlement, StartFrom, StoredMessage, TopicConfig,
};

use group::Group;
use log::EventLog;
use mutation::Mutation;
use topic::{Topic, TopicSettings};

use syncsim_sim::time::VirtualTime;

/// Topics by name.
type TopicTable = BTreeMap<String, Topic>;

/// The broker: topics, groups, the outage switch and the ground truth.
#[derive(Clone, Debug)]
pub struct Broker {
    config: BrokerConfig,
    topics: BTreeMap<String, Topic>,
    groups: BTreeMap<String, Group>,
    /// Where each message id lives, kept after retention deletes the message so a late ack
    /// of an in-flight copy still finds its cursor.
    locations: BTreeMap<MessageId, (String, u32, u64)>,
    next_message_id: u64,
    down: bool,
    events: EventLog,
    /// The deliberate bug under test; see `mutation.rs`.
    #[cfg(test)]
    mutation: mutation::Mutation,
}

impl Broker {
    /// An empty broker. A `partitions_default` of 0 is taken as 1 (a topic needs a partition).
    pub fn new(config: BrokerConfig) -> Broker {
        let config = BrokerConfig {
            partitions_default: config.partitions_default.max(1),
            ..config
        };
        Broker {
            config,
            topics: BTreeMap::new(),
            groups: BTreeMap::new(),
            locations: BTreeMap::new(),
            next_message_id: 0,
            down: false,
            events: EventLog::default(),
            #[cfg(test)]
            mutation: mutation::Mutation::None,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Creates `topic` with `config`; an existing topic keeps its settings
    /// (`AlreadyExists`, `override_ignored` when `config` asked for different ones).
    pub fn create_topic(
        &mut self,
        topic: &str,
        config: TopicConfig,
        now: VirtualTime,
    ) -> Result<Created, BrokerError> {
        self.check_up()?;
        non_empty(topic, "topic")?;
        self.expire_sessions(now);
        if config.partitions == Some(0) {
            return Err(BrokerError::InvalidPartitions {
                topic: topic.to_string(),
                partitions: 0,
            });
        }
        if config.dead_letter.as_deref() == Some(topic) {
            return Err(BrokerError::DeadLetterLoop {
                topic: topic.to_string(),
            });
        }
        if config.dead_letter.as_deref() == Some("") {
            return Err(BrokerError::EmptyName {
                what: "dead-letter topic",
            });
        }
        if self.mutated(Mutation::OverrideAlwaysApplies) && self.topics.contains_key(topic) {
            self.topics.remove(topic);
        }
        if let Some(existing) = self.topics.get(topic) {
            return Ok(Created::AlreadyExists {
                partitions: existing.settings.partitions,
                override_ignored: existing.settings.differs_from(&config),
            });
        }
        let partitions = config.partitions.unwrap_or(self.config.partitions_default);
        self.insert_topic(
            topic,
            TopicSettings {
                partitions,
                dead_letter: config.dead_letter,
                retention_messages_max: config.retention_messages_max,
            },
            now,
        );
        Ok(Created::Created { partitions })
    }

    /// Stores a message in `topic` (auto-created with the default partition count).
    pub fn publish(
        &mut self,
        topic: &str,
        key: &str,
        payload: &str,
        now: VirtualTime,
    ) -> Result<Published, BrokerError> {
        self.check_up()?;
        non_empty(topic, "topic")?;
        self.expire_sessions(now);
        let message_id = self.allocate_id();
        self.events.push(
            now,
            BrokerEventKind::Published {
                message_id,
                topic: topic.to_string(),
                key: key.to_string(),
            },
        );
        Ok(self.store(message_id, topic, key, payload, now))
    }

    /// The broker crashed and restarted at once: the log, committed offsets, settled acks and
    /// group membership are durable; every in-flight delivery is lost and owed again.
    pub fn crash(&mut self, now: VirtualTime) {
        self.events.push(now, BrokerEventKind::Crashed);
        self.restart_sessions(now);
        let group_names: Vec<String> = self.groups.keys().cloned().collect();
        for group in group_names {
            self.requeue_where(&group, |_| true, RequeueReason::BrokerCrash, now);
        }
    }

    /// Starts (`down: true`) or ends an outage window; a no-op when already in that state.
    pub fn set_outage(&mut self, down: bool, now: VirtualTime) {
        if down == self.down {
            return;
        }
        self.down = down;
        if !down {
            self.restart_sessions(now);
        }
        let kind = if down {
            BrokerEventKind::OutageStarted
        } else {
            BrokerEventKind::OutageEnded
        };
        self.events.push(now, kind);
    }

    /// True during an outage window.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Records that the face handed `member` an extra copy of `message_id` (a fault).
    pub fn record_duplicate(
        &mut self,
        group: &str,
        member: &str,
        message_id: MessageId,
        now: VirtualTime,
    ) {
        self.events.push(
            now,
            BrokerEventKind::DuplicateDelivered {
                group: group.to_string(),
                member: member.to_string(),
                message_id,
            },
        );
    }

    fn check_up(&self) -> Result<(), BrokerError> {
        if self.down {
            Err(BrokerError::Unavailable)
        } else {
            Ok(())
        }
    }

    fn allocate_id(&mut self) -> MessageId {
        let id = MessageId(self.next_message_id);
        self.next_message_id += 1;
        id
    }

    fn insert_topic(&mut self, topic: &str, settings: TopicSettings, now: VirtualTime) {
        let partitions = settings.partitions;
        self.topics.insert(topic.to_string(), Topic::new(settings));
        self.events.push(
            now,
            BrokerEventKind::TopicCreated {
                topic: topic.to_string(),
                partitions,
            },
        );
        // Groups that joined the topic before it existed get its partitions now.
        let waiting: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.values().any(|topics| topics.contains(topic)))
            .map(|(name, _)| name.clone())
            .collect();
        for group in waiting {
            self.rebalance(&group, now);
        }
    }
}

fn non_empty(name: &str, what: &'static str) -> Result<(), BrokerError> {
    if name.is_empty() {
        Err(BrokerError::EmptyName { what })
    } else {
        Ok(())
    }
}
