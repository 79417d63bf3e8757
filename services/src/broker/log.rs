//! The broker's ground truth: an append-only list of timed events that properties read.
//! Recorded by the engine itself (never by models), in the order things happened.
//!
//! Not modelled: the wire (a face that drops a reply still leaves `Published`/`Stored` here,
//! which is the point: the producer cannot know, the ground truth does).

use std::collections::BTreeMap;

use serde::Serialize;

use super::types::MessageId;
use syncsim_sim::time::VirtualTime;

/// One ground-truth event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerEvent {
    /// Virtual time of the event.
    pub at: VirtualTime,
    /// What happened.
    pub kind: BrokerEventKind,
}

/// Why a delivery went back to its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RequeueReason {
    /// The member nacked it with `requeue: true`.
    Nack,
    /// The member left or crashed holding it.
    MemberGone,
    /// A rebalance moved its partition to another member.
    Revoked,
    /// The broker crashed while it was in flight.
    BrokerCrash,
    /// Its holder was silent for the session timeout and was evicted.
    SessionExpired,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BrokerEventKind {
    /// A topic was created (explicitly or on first publish or dead-letter).
    TopicCreated {
        /// The topic.
        topic: String,
        /// Its partition count.
        partitions: u32,
    },
    /// A producer's publish was accepted (followed at once by `Stored`).
    Published {
        /// The message.
        message_id: MessageId,
        /// The topic.
        topic: String,
        /// The partitioning key as published.
        key: String,
    },
    /// The message is in the log (a dead-lettered copy is `Stored` without `Published`).
    Stored {
        /// The message.
        message_id: MessageId,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset in the partition.
        offset: u64,
    },
    /// A poll handed the message to a member.
    Delivered {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset in the partition.
        offset: u64,
        /// Deliveries of this message to this group so far, this one included.
        attempt: u32,
    },
    /// The member acknowledged the delivery: settled.
    Acked {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
    },
    /// The delivery went back to its partition, owed to the group again.
    Requeued {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
        /// Why.
        reason: RequeueReason,
    },
    /// Nacked without requeue and no dead-letter topic: settled unprocessed.
    Dropped {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
    },
    /// Nacked without requeue: copied to the dead-letter topic and settled here.
    DeadLettered {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
        /// Where the copy went.
        dead_letter_topic: String,
        /// The id of the copy in the dead-letter topic.
        dead_letter_message_id: MessageId,
    },
    /// Retention deleted the message before this group settled it: the group never will.
    Expired {
        /// The consumer group.
        group: String,
        /// The message.
        message_id: MessageId,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset in the partition.
        offset: u64,
    },
    /// Retention deleted the message from the log (one event per message, group-blind).
    Deleted {
        /// The message.
        message_id: MessageId,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset in the partition.
        offset: u64,
    },
    /// The member joined the group for one topic.
    Joined {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The topic.
        topic: String,
    },
    /// The member left the group (all its topics).
    Left {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
    },
    /// The face reported the member dead; it is out of the group.
    MemberCrashed {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
    },
    /// The member was silent for the session timeout: evicted, its partitions move (it may
    /// still be processing what it holds; its later ack is refused).
    SessionExpired {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// When the coordinator last heard from it.
        last_heard: VirtualTime,
    },
    /// A membership change started a rebalance that waits for these members to call again
    /// (or be evicted); until then a new member owns nothing.
    RebalanceStarted {
        /// The consumer group.
        group: String,
        /// The members it waits for, sorted.
        awaiting: Vec<String>,
    },
    /// The group's new assignment after a membership or topic change.
    Rebalanced {
        /// The consumer group.
        group: String,
        /// Member -> its sorted (topic, partition) list; members with none listed empty.
        assignment: BTreeMap<String, Vec<(String, u32)>>,
    },
    /// The broker crashed: in-flight deliveries are lost (requeued), the log, committed
    /// offsets and membership survive.
    Crashed,
    /// An outage window started: calls are refused.
    OutageStarted,
    /// The outage window ended.
    OutageEnded,
    /// The face handed a member an extra copy of a delivery (a fault, not a broker decision).
    DuplicateDelivered {
        /// The consumer group.
        group: String,
        /// The member of the group.
        member: String,
        /// The message.
        message_id: MessageId,
    },
}

/// The append-only event list.
#[derive(Clone, Debug, Default)]
pub(super) struct EventLog {
    events: Vec<BrokerEvent>,
}

impl EventLog {
    pub(super) fn push(&mut self, at: VirtualTime, kind: BrokerEventKind) {
        self.events.push(BrokerEvent { at, kind });
    }

    pub(super) fn events(&self) -> &[BrokerEvent] {
        &self.events
    }
}
