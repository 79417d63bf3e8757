//! The broker's public value types: configuration, message ids, deliveries, outcomes and
//! errors. Plain data; the behaviour lives in `mod.rs`, `topic.rs` and `group.rs`.
//!
//! Not modelled: message headers, timestamps set by the producer, compression, batches on the
//! wire (a publish is one message; a poll returns a `Vec`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::text::write_joined;
use syncsim_sim::time::VirtualTime;

/// Knobs of the whole broker. The defaults are KafkaJS's consumer defaults (`docs/broker.md`
/// cites each); `BrokerConfig::per_message()` is the RabbitMQ-style mode the engine had first.
/// A model's deployment section holds one as data (a field left out keeps its default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Partition count of a topic created without an override (auto-created on first
    /// publish, first join, or `create_topic` with `partitions: None`).
    pub partitions_default: u32,
    /// Messages kept per partition when the topic sets no limit; `None` keeps everything.
    pub retention_messages_max: Option<u64>,
    /// Unacknowledged deliveries one member may hold, across all its partitions; `poll`
    /// returns fewer messages once a member holds this many.
    pub in_flight_max: usize,
    /// A member silent (no join, poll, ack or nack) this long is evicted, and a rebalance
    /// waits for every member to call again or be evicted. `None`: a dead member is whatever
    /// the face reports, at once, and rebalances complete at once.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Option<Duration>,
    /// How settling moves the group's position.
    pub settlement: Settlement,
    /// Where a group starts in a partition it has no committed offset for.
    pub start_from: StartFrom,
    /// How partitions are spread over a group's members.
    pub assignor: Assignor,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            partitions_default: 3,
            retention_messages_max: None,
            in_flight_max: 100,
            session_timeout: Some(Duration::from_secs(30)),
            settlement: Settlement::Offsets,
            start_from: StartFrom::Latest,
            assignor: Assignor::RoundRobin,
        }
    }
}

impl BrokerConfig {
    /// The engine's first semantics: per-message settlement (RabbitMQ's ack/nack), a dead
    /// member noticed at once, new groups from the earliest message, range assignment.
    pub fn per_message() -> BrokerConfig {
        BrokerConfig {
            session_timeout: None,
            settlement: Settlement::PerMessage,
            start_from: StartFrom::Earliest,
            assignor: Assignor::Range,
            ..BrokerConfig::default()
        }
    }
}

/// How an ack moves a group's committed offset, and what comes again after a rebalance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Kafka: settling offset `o` commits `o + 1` (everything before it too); a partition that
    /// changes hands, or a nack with requeue, resumes at the committed (or nacked) offset, so
    /// every later message comes again, processed or not.
    #[default]
    Offsets,
    /// RabbitMQ-style: each message is settled alone; only unsettled ones come again, and
    /// acks beyond a gap are kept.
    PerMessage,
}

/// Where a group starts in a partition it never committed in (Kafka's `auto.offset.reset`,
/// KafkaJS's `fromBeginning`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The log end when the group first owns the partition (`fromBeginning: false`).
    #[default]
    Latest,
    /// The oldest retained message (`fromBeginning: true`).
    Earliest,
}

/// How a rebalance spreads partitions over members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignor {
    /// KafkaJS's built-in: for each topic, partition `p` goes to the `p % n`-th of its `n`
    /// members sorted by id.
    #[default]
    RoundRobin,
    /// Kafka's `RangeAssignor`: for each topic, its members sorted by id take contiguous
    /// ranges, the first `partitions % members` one extra.
    Range,
}

/// Per-topic settings, read only when the topic is created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TopicConfig {
    /// Partition count; `None` takes `BrokerConfig::partitions_default`.
    pub partitions: Option<u32>,
    /// Topic that receives messages nacked without requeue; `None` drops them.
    pub dead_letter: Option<String>,
    /// Messages kept per partition; `None` falls back to `BrokerConfig::retention_messages_max`.
    pub retention_messages_max: Option<u64>,
}

/// What `create_topic` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Created {
    /// A new topic with this many partitions.
    Created {
        /// Its partition count.
        partitions: u32,
    },
    /// The topic existed; its settings stay. `override_ignored` says the call asked for
    /// settings (partitions, dead letter, retention) other than the existing ones.
    AlreadyExists {
        /// Its partition count.
        partitions: u32,
        /// The call asked for settings other than the existing ones.
        override_ignored: bool,
    },
}

/// Where a publish was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset in the partition.
    pub offset: u64,
    /// The message.
    pub message_id: MessageId,
}

/// A broker-wide message id, unique across topics, in publish order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "m{}", self.0)
    }
}

/// A message as kept in a partition's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredMessage {
    /// The message.
    pub message_id: MessageId,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset in the partition.
    pub offset: u64,
    /// The partitioning key as published.
    pub key: String,
    /// JSON text, as published (not parsed by the broker).
    pub payload: String,
    /// Virtual time the message was stored.
    pub stored_at: VirtualTime,
}

/// One message handed to one member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The message.
    pub message_id: MessageId,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset in the partition.
    pub offset: u64,
    /// The partitioning key as published.
    pub key: String,
    /// JSON text, as published (not parsed by the broker).
    pub payload: String,
    /// 1 for the first delivery of this message to this group, +1 for each redelivery.
    pub attempt: u32,
}

/// What a nack did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum NackOutcome {
    /// The message goes back to the partition, ahead of later messages.
    Requeued,
    /// The message is settled without processing (no dead-letter topic configured).
    Dropped,
    /// The message was published to the topic's dead-letter topic and settled here.
    DeadLettered {
        /// The dead-letter topic.
        topic: String,
    },
}

/// A group's assignment after a membership change: member -> its (topic, partition) list,
/// sorted. Members with no partition are listed with an empty list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rebalance {
    /// Member -> its sorted (topic, partition) list; members with none listed empty.
    pub assignment: BTreeMap<String, Vec<(String, u32)>>,
}

impl fmt::Display for TopicConfig {
    /// The settings asked for, as `partitions=3 dead-letter=orders.dlq retain=100`; `default
    /// settings` when none is.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(partitions) = self.partitions {
            parts.push(format!("partitions={partitions}"));
        }
        if let Some(topic) = &self.dead_letter {
            parts.push(format!("dead-letter={topic}"));
        }
        if let Some(messages) = self.retention_messages_max {
            parts.push(format!("retain={messages}"));
        }
        if parts.is_empty() {
            formatter.write_str("default settings")
        } else {
            formatter.write_str(&parts.join(" "))
        }
    }
}

impl fmt::Display for Created {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Created::Created { partitions } => {
                write!(formatter, "created with {partitions} partitions")
            }
            Created::AlreadyExists {
                partitions,
                override_ignored,
            } => {
                write!(formatter, "exists with {partitions} partitions")?;
                if *override_ignored {
                    formatter.write_str(", settings ignored")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Published {
    /// `m5 at orders:0@12`: the message id, then topic, partition and offset.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} at {}:{}@{}",
            self.message_id, self.topic, self.partition, self.offset
        )
    }
}

impl fmt::Display for Delivery {
    /// `m5 orders:0@12 key=7 "payload" attempt 1`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {}:{}@{} key={} {:?} attempt {}",
            self.message_id,
            self.topic,
            self.partition,
            self.offset,
            self.key,
            self.payload,
            self.attempt
        )
    }
}

impl fmt::Display for NackOutcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NackOutcome::Requeued => formatter.write_str("requeued"),
            NackOutcome::Dropped => formatter.write_str("dropped"),
            NackOutcome::DeadLettered { topic } => write!(formatter, "dead-lettered to {topic}"),
        }
    }
}

/// A list of (topic, partition) as `[orders:0, orders:2]`.
pub(crate) struct Partitions<'a>(pub(crate) &'a [(String, u32)]);

impl fmt::Display for Partitions<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(
            formatter,
            ["[", "]"],
            self.0,
            |formatter, (topic, partition)| write!(formatter, "{topic}:{partition}"),
        )
    }
}

impl fmt::Display for Rebalance {
    /// Each member and its partitions, in member order: `{a: [orders:0], b: []}`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let assignment = &self.assignment;
        write_joined(
            formatter,
            ["{", "}"],
            assignment,
            |formatter, (member, partitions)| {
                write!(formatter, "{member}: {}", Partitions(partitions))
            },
        )
    }
}

/// Why a broker call was refused. Never a panic: every bad input lands here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BrokerError {
    /// The broker is in an outage window.
    Unavailable,
    /// The member is not in the group (never joined, left, or crashed).
    UnknownMember {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// The member holds no such delivery: never delivered to it, already settled, or taken
    /// back by a rebalance or a broker crash.
    UnknownDelivery {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
    },
    /// A topic, group or member name is empty.
    EmptyName {
        /// Which name: topic, group, member, dead-letter topic.
        what: &'static str,
    },
    /// A partition count of zero was asked for.
    InvalidPartitions {
        /// The topic.
        topic: String,
        /// The count asked for.
        partitions: u32,
    },
    /// A topic cannot be its own dead-letter topic.
    DeadLetterLoop {
        /// The topic.
        topic: String,
    },
}

impl fmt::Display for BrokerError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::Unavailable => write!(formatter, "broker unavailable (outage)"),
            BrokerError::UnknownMember { group, member } => {
                write!(formatter, "member {member:?} is not in group {group:?}")
            }
            BrokerError::UnknownDelivery {
                group,
                member,
                message_id,
            } => write!(
                formatter,
                "member {member:?} of group {group:?} holds no delivery of {message_id}"
            ),
            BrokerError::EmptyName { what } => write!(formatter, "empty {what} name"),
            BrokerError::InvalidPartitions { topic, partitions } => write!(
                formatter,
                "topic {topic:?}: {partitions} partitions (at least 1 needed)"
            ),
            BrokerError::DeadLetterLoop { topic } => {
                write!(
                    formatter,
                    "topic {topic:?} cannot be its own dead-letter topic"
                )
            }
        }
    }
}

impl std::error::Error for BrokerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_for_people() {
        let delivery = Delivery {
            message_id: MessageId(5),
            topic: "orders".to_string(),
            partition: 0,
            offset: 12,
            key: "7".to_string(),
            payload: "{\"id\":7}".to_string(),
            attempt: 2,
        };
        assert_eq!(
            delivery.to_string(),
            r#"m5 orders:0@12 key=7 "{\"id\":7}" attempt 2"#
        );
        let config = TopicConfig {
            partitions: Some(3),
            dead_letter: Some("orders.dlq".to_string()),
            retention_messages_max: None,
        };
        assert_eq!(config.to_string(), "partitions=3 dead-letter=orders.dlq");
        assert_eq!(TopicConfig::default().to_string(), "default settings");
        let rebalance = Rebalance {
            assignment: BTreeMap::from([
                (
                    "a".to_string(),
                    vec![("orders".to_string(), 0), ("orders".to_string(), 2)],
                ),
                ("b".to_string(), Vec::new()),
            ]),
        };
        assert_eq!(rebalance.to_string(), "{a: [orders:0, orders:2], b: []}");
        let exists = Created::AlreadyExists {
            partitions: 3,
            override_ignored: true,
        };
        assert_eq!(
            exists.to_string(),
            "exists with 3 partitions, settings ignored"
        );
    }
}
