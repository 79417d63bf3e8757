//! The healing phase of the property harness: end the outage, replace every consumer by one
//! drainer per group, ack until nothing more comes, then check that every group's committed
//! offset reached the end of every partition (every message settled: the "eventually" half of
//! at-least-once).

use super::harness::{Harness, MEMBERS, TOPICS};

impl Harness {
    /// Ends any outage, replaces every member by one drainer per group that joins every
    /// topic, and acks until nothing more comes.
    pub(super) fn heal_and_drain(&mut self) {
        let now = self.now();
        self.broker.set_outage(false, now);
        for (member, (group, name)) in MEMBERS.iter().enumerate() {
            self.broker.member_crashed(group, name, now);
            self.held.remove(&member);
        }
        for group in ["g", "h"] {
            for topic in TOPICS {
                self.broker
                    .join(group, "drainer", topic, now)
                    .expect("healed");
            }
            for _round in 0..10_000 {
                let now = self.now();
                let got = self
                    .broker
                    .poll(group, "drainer", 100, now)
                    .expect("healed");
                if got.is_empty() {
                    break;
                }
                for delivery in got {
                    self.broker
                        .ack(group, "drainer", delivery.message_id, now)
                        .expect("the drainer holds it");
                }
            }
        }
    }

    /// After the drain every group's committed offset is the end of every partition.
    pub(super) fn check_committed(&mut self) {
        for group in ["g", "h"] {
            for topic in TOPICS {
                let partitions = self.broker.topic_partitions(topic).unwrap_or(0);
                for partition in 0..partitions {
                    let committed = self.broker.committed_offset(group, topic, partition);
                    let end = self.broker.log_end_offset(topic, partition);
                    if committed != end {
                        let detail = format!("{group} {topic}/{partition}: {committed} of {end}");
                        self.flag("settled", detail);
                    }
                }
            }
        }
    }
}
