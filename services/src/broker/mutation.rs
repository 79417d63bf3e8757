//! Deliberate bugs, switchable only in tests, so each property can be shown to fail: a test
//! sets one `Mutation` on a broker and asserts that the property catches it (see
//! `tests/props.rs`). In a non-test build `Broker::mutated` is a constant `false` and there is
//! no switch, so no bug can be turned on outside tests.

use super::Broker;

/// One deliberate bug.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Mutation {
    /// The correct broker.
    #[default]
    None,
    /// Poll hands out new messages before requeued ones (breaks per-partition order).
    RedeliverAfterNew,
    /// Ack and nack accept a delivery held by another member of the group.
    AckByAnyMember,
    /// A crashed member's unacked deliveries are forgotten instead of requeued (lost).
    ForgetInFlightOnMemberCrash,
    /// Every delivery says attempt 1.
    AttemptNotCounted,
    /// Poll works during an outage.
    PollIgnoresOutage,
    /// Retention keeps one message more than the limit.
    RetentionKeepsOneMore,
    /// `in_flight_max` is not enforced.
    InFlightUnbounded,
    /// `create_topic` on an existing topic applies the new partition count.
    OverrideAlwaysApplies,
    /// Nack without requeue drops even when a dead-letter topic is configured.
    DeadLetterIgnored,
    /// Partitions are chosen round robin, ignoring the key.
    KeyIgnored,
    /// Poll serves every partition the group has a cursor for, owned by the member or not.
    PollAnyPartition,
    /// A silent member is never evicted (the old "paused member keeps its deliveries").
    SessionNeverExpires,
    /// A rebalance hands out the assignment at once instead of waiting for rejoins.
    RebalanceWaitsForNobody,
}

impl Broker {
    /// True when `mutation` is switched on (tests only).
    #[cfg(test)]
    pub(super) fn mutated(&self, mutation: Mutation) -> bool {
        self.mutation == mutation
    }

    /// Always false outside tests.
    #[cfg(not(test))]
    #[inline(always)]
    pub(super) fn mutated(&self, _mutation: Mutation) -> bool {
        false
    }

    /// Switches a deliberate bug on.
    #[cfg(test)]
    pub(super) fn set_mutation(&mut self, mutation: Mutation) {
        self.mutation = mutation;
    }
}
