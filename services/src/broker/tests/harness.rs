//! A random-operation harness for the property tests: a client's-eye driver that publishes,
//! joins, leaves, crashes members, polls, acks and nacks (also with stale deliveries, as a real
//! consumer would after a rebalance), crashes the broker and toggles outages; it checks each
//! reply against the contract, then heals and drains, and hands the log to the auditor.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::super::mutation::Mutation;
use super::super::*;
use super::auditor::{Auditor, Violation};
use syncsim_sim::time::VirtualTime;

/// Consumers: (group, member). Two groups, so every message is owed to each group.
pub const MEMBERS: [(&str, &str); 5] = [("g", "a"), ("g", "b"), ("g", "c"), ("h", "x"), ("h", "y")];
/// `orders` has 3 partitions, a dead-letter topic and keeps 6 messages per partition;
/// `audit` is auto-created with the default 2 partitions and keeps everything.
pub const TOPICS: [&str; 2] = ["orders", "audit"];
pub const ORDERS_RETENTION: u64 = 6;
pub const IN_FLIGHT_MAX: usize = 4;

/// One client or fault action.
#[derive(Clone, Debug)]
pub enum Op {
    Publish {
        topic: usize,
        key: u8,
    },
    Join {
        member: usize,
        topic: usize,
    },
    Leave {
        member: usize,
    },
    MemberCrash {
        member: usize,
    },
    Poll {
        member: usize,
        batch_size_max: usize,
    },
    Ack {
        member: usize,
        pick: usize,
    },
    Nack {
        member: usize,
        pick: usize,
        requeue: bool,
    },
    Crash,
    Outage {
        down: bool,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    let member = 0..MEMBERS.len();
    let topic = 0..TOPICS.len();
    prop_oneof![
        6 => (topic.clone(), 0..6u8).prop_map(|(topic, key)| Op::Publish { topic, key }),
        3 => (member.clone(), topic).prop_map(|(member, topic)| Op::Join { member, topic }),
        1 => member.clone().prop_map(|member| Op::Leave { member }),
        1 => member.clone().prop_map(|member| Op::MemberCrash { member }),
        5 => (member.clone(), 1..6usize)
            .prop_map(|(member, batch_size_max)| Op::Poll { member, batch_size_max }),
        5 => (member.clone(), 0..8usize).prop_map(|(member, pick)| Op::Ack { member, pick }),
        2 => (member, 0..8usize, any::<bool>())
            .prop_map(|(member, pick, requeue)| Op::Nack { member, pick, requeue }),
        1 => Just(Op::Crash),
        1 => any::<bool>().prop_map(|down| Op::Outage { down }),
    ]
}

pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..80)
}

/// The driver: the broker, the clock, and what each client believes it holds.
pub struct Harness {
    pub broker: Broker,
    clock_ms: u64,
    pub(super) held: BTreeMap<usize, Vec<Delivery>>,
    /// The partition each (topic, key) went to first.
    key_partitions: BTreeMap<(usize, u8), u32>,
    pub violations: Vec<Violation>,
}

impl Harness {
    pub fn new(mutation: Mutation) -> Harness {
        let mut broker = Broker::new(BrokerConfig {
            partitions_default: 2,
            retention_messages_max: None,
            in_flight_max: IN_FLIGHT_MAX,
            ..BrokerConfig::per_message()
        });
        broker.set_mutation(mutation);
        let orders = TopicConfig {
            partitions: Some(3),
            dead_letter: Some("orders.dlq".into()),
            retention_messages_max: Some(ORDERS_RETENTION),
        };
        broker
            .create_topic("orders", orders, VirtualTime::ZERO)
            .expect("a valid topic");
        Harness {
            broker,
            clock_ms: 0,
            held: BTreeMap::new(),
            key_partitions: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    pub fn now(&mut self) -> VirtualTime {
        self.clock_ms += 1;
        VirtualTime(Duration::from_millis(self.clock_ms))
    }

    pub fn flag(&mut self, check: &'static str, detail: String) {
        self.violations.push(Violation { check, detail });
    }

    /// Runs `ops`, then heals and drains; returns every violation found and the broker.
    pub fn run(mut self, ops: &[Op]) -> (Vec<Violation>, Broker) {
        for op in ops {
            self.step(op);
        }
        self.heal_and_drain();
        let auditor = Auditor::replay(self.broker.log());
        self.violations.extend(auditor.violations.iter().cloned());
        for group in ["g", "h"] {
            let unsettled = auditor.unsettled(group, &TOPICS);
            if !unsettled.is_empty() {
                self.flag("settled", format!("{group} never settled {unsettled:?}"));
            }
        }
        self.check_committed();
        (self.violations, self.broker)
    }

    fn step(&mut self, op: &Op) {
        let now = self.now();
        let down = self.broker.is_down();
        let refused = match *op {
            Op::Publish { topic, key } => self.publish(topic, key, now),
            Op::Join { member, topic } => {
                let (group, name) = MEMBERS[member];
                self.broker.join(group, name, TOPICS[topic], now).err()
            }
            Op::Leave { member } => self.leave(member, now),
            Op::MemberCrash { member } => {
                let (group, name) = MEMBERS[member];
                self.broker.member_crashed(group, name, now);
                self.held.remove(&member);
                None
            }
            Op::Poll {
                member,
                batch_size_max,
            } => self.poll(member, batch_size_max, now),
            Op::Ack { member, pick } => self.settle(member, pick, None, now),
            Op::Nack {
                member,
                pick,
                requeue,
            } => self.settle(member, pick, Some(requeue), now),
            Op::Crash => {
                self.broker.crash(now);
                None
            }
            Op::Outage { down } => {
                self.broker.set_outage(down, now);
                None
            }
        };
        let unavailable = refused == Some(BrokerError::Unavailable);
        let counts = !matches!(op, Op::MemberCrash { .. } | Op::Crash | Op::Outage { .. });
        if counts && down != unavailable {
            self.flag(
                "outage",
                format!("{op:?} while down={down} gave {refused:?}"),
            );
        }
    }

    fn publish(
        &mut self,
        topic_index: usize,
        key_index: u8,
        now: VirtualTime,
    ) -> Option<BrokerError> {
        let topic = TOPICS[topic_index];
        let key = format!("k{key_index}");
        let published = match self.broker.publish(topic, &key, "{}", now) {
            Ok(published) => published,
            Err(error) => return Some(error),
        };
        let first = *self
            .key_partitions
            .entry((topic_index, key_index))
            .or_insert(published.partition);
        if first != published.partition {
            let detail = format!(
                "{topic}/{key} went to {} then {}",
                first, published.partition
            );
            self.flag("keyed", detail);
        }
        let retained = self.broker.messages(topic, published.partition).count() as u64;
        let limit = if topic == "orders" {
            ORDERS_RETENTION
        } else {
            u64::MAX
        };
        if retained > limit {
            self.flag("retention", format!("{topic} keeps {retained} > {limit}"));
        }
        None
    }

    fn leave(&mut self, member: usize, now: VirtualTime) -> Option<BrokerError> {
        let (group, name) = MEMBERS[member];
        let result = self.broker.leave(group, name, now).err();
        if result.is_none() {
            self.held.remove(&member);
        }
        result
    }

    fn poll(
        &mut self,
        member: usize,
        batch_size_max: usize,
        now: VirtualTime,
    ) -> Option<BrokerError> {
        let (group, name) = MEMBERS[member];
        let got = match self.broker.poll(group, name, batch_size_max, now) {
            Ok(got) => got,
            Err(error) => return Some(error),
        };
        let holding = self.broker.in_flight_count(group, name);
        if got.len() > batch_size_max || holding > IN_FLIGHT_MAX {
            self.flag(
                "in_flight_max",
                format!("{name} got {}, holds {holding}", got.len()),
            );
        }
        self.held.entry(member).or_default().extend(got);
        None
    }

    /// Acks (`nack: None`) or nacks one delivery the client believes it holds.
    fn settle(
        &mut self,
        member: usize,
        pick: usize,
        nack: Option<bool>,
        now: VirtualTime,
    ) -> Option<BrokerError> {
        let (group, name) = MEMBERS[member];
        let held = self.held.entry(member).or_default();
        if held.is_empty() {
            // Nothing to settle: ask about a message nobody holds, which must be refused.
            return self.broker.ack(group, name, MessageId(u64::MAX), now).err();
        }
        let delivery = held.remove(pick % held.len());
        // A message retention already deleted has no body left to dead-letter: dropped.
        let retained = self
            .broker
            .messages(&delivery.topic, delivery.partition)
            .any(|m| m.message_id == delivery.message_id);
        let Some(requeue) = nack else {
            return self.broker.ack(group, name, delivery.message_id, now).err();
        };
        let outcome = match self
            .broker
            .nack(group, name, delivery.message_id, requeue, now)
        {
            Ok(outcome) => outcome,
            Err(error) => return Some(error),
        };
        let expected = match (requeue, delivery.topic.as_str()) {
            (true, _) => NackOutcome::Requeued,
            (false, "orders") if retained => NackOutcome::DeadLettered {
                topic: "orders.dlq".into(),
            },
            (false, _) => NackOutcome::Dropped,
        };
        if outcome != expected {
            self.flag(
                "nack",
                format!("{delivery:?} nacked: {outcome:?}, want {expected:?}"),
            );
        }
        None
    }
}
