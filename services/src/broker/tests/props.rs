//! Property tests: random operation sequences (`harness.rs`) checked by the contract of each
//! reply and by the ground-truth auditor (`auditor.rs`).
//!
//! How each property is shown able to fail: `Mutation` (see `../mutation.rs`) switches one
//! deliberate bug into the engine; for each, a test runs the same property with a fixed-seed
//! runner and asserts that the named check fires:
//!
//! | check          | caught mutation               |
//! |----------------|-------------------------------|
//! | order          | RedeliverAfterNew             |
//! | exclusive      | AckByAnyMember                |
//! | settled        | ForgetInFlightOnMemberCrash   |
//! | attempts       | AttemptNotCounted             |
//! | outage         | PollIgnoresOutage             |
//! | retention      | RetentionKeepsOneMore         |
//! | in_flight_max  | InFlightUnbounded             |
//! | nack           | DeadLetterIgnored             |
//! | override       | OverrideAlwaysApplies         |
//! | keyed          | KeyIgnored                    |
//! | ownership      | PollAnyPartition              |

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::super::mutation::Mutation;
use super::super::*;
use super::harness::{ops, Harness};
use syncsim_sim::time::VirtualTime;

/// Runs the operation property; fails with the violations found.
fn broker_property(ops: &[super::harness::Op], mutation: Mutation) -> Result<(), TestCaseError> {
    let (violations, _) = Harness::new(mutation).run(ops);
    if violations.is_empty() {
        Ok(())
    } else {
        let checks: Vec<&str> = violations.iter().map(|v| v.check).collect();
        Err(TestCaseError::fail(format!("{checks:?}: {violations:#?}")))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Order per partition, one holder at a time, honest attempts, outage refusals,
    /// retention and in-flight bounds, nack outcomes, and every message settled after healing.
    #[test]
    fn random_operations_keep_every_broker_property(ops in ops()) {
        broker_property(&ops, Mutation::None)?;
    }

    /// A topic's partition count is the one it was created with, whatever later calls ask.
    #[test]
    fn partition_count_is_fixed_at_creation(calls in override_calls()) {
        override_property(&calls, Mutation::None)?;
    }
}

/// (create with this partition override, or publish when `None`).
fn override_calls() -> impl Strategy<Value = Vec<Option<u32>>> {
    proptest::collection::vec(proptest::option::of(1..6u32), 1..8)
}

fn override_property(calls: &[Option<u32>], mutation: Mutation) -> Result<(), TestCaseError> {
    let mut broker = Broker::new(BrokerConfig::default());
    broker.set_mutation(mutation);
    let mut first: Option<u32> = None;
    for (step, call) in (0u64..).zip(calls) {
        let now = VirtualTime(std::time::Duration::from_millis(step));
        match call {
            Some(partitions) => {
                let config = TopicConfig {
                    partitions: Some(*partitions),
                    ..TopicConfig::default()
                };
                broker.create_topic("t", config, now).map_err(fail)?;
                first.get_or_insert(*partitions);
            }
            None => {
                broker.publish("t", "k", "{}", now).map_err(fail)?;
                first.get_or_insert(BrokerConfig::default().partitions_default);
            }
        }
        prop_assert_eq!(
            broker.topic_partitions("t"),
            first,
            "override: after {:?}",
            call
        );
    }
    Ok(())
}

fn fail(error: BrokerError) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Runs `property` under `mutation` with a fixed-seed runner and returns the failure text.
fn failure_under<S: Strategy>(
    strategy: S,
    property: impl Fn(&S::Value, Mutation) -> Result<(), TestCaseError>,
    mutation: Mutation,
) -> String {
    let config = Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    match runner.run(&strategy, |value| property(&value, mutation)) {
        Ok(()) => panic!("{mutation:?} was not caught"),
        Err(failure) => failure.to_string(),
    }
}

fn assert_caught(mutation: Mutation, check: &str) {
    let failure = failure_under(ops(), |ops, m| broker_property(ops, m), mutation);
    assert!(
        failure.contains(&format!("\"{check}\"")),
        "{mutation:?} caught, but not by {check}: {failure}"
    );
}

#[test]
fn order_catches_requeued_after_new() {
    assert_caught(Mutation::RedeliverAfterNew, "order");
}

#[test]
fn exclusive_catches_ack_by_any_member() {
    assert_caught(Mutation::AckByAnyMember, "exclusive");
}

#[test]
fn settled_catches_in_flight_forgotten_on_member_crash() {
    assert_caught(Mutation::ForgetInFlightOnMemberCrash, "settled");
}

#[test]
fn attempts_catches_uncounted_attempts() {
    assert_caught(Mutation::AttemptNotCounted, "attempts");
}

#[test]
fn outage_catches_poll_during_outage() {
    assert_caught(Mutation::PollIgnoresOutage, "outage");
}

#[test]
fn retention_catches_one_message_too_many() {
    assert_caught(Mutation::RetentionKeepsOneMore, "retention");
}

#[test]
fn in_flight_max_catches_unbounded_polls() {
    assert_caught(Mutation::InFlightUnbounded, "in_flight_max");
}

#[test]
fn nack_catches_ignored_dead_letter() {
    assert_caught(Mutation::DeadLetterIgnored, "nack");
}

#[test]
fn keyed_catches_key_ignored() {
    assert_caught(Mutation::KeyIgnored, "keyed");
}

#[test]
fn ownership_catches_poll_of_unowned_partitions() {
    assert_caught(Mutation::PollAnyPartition, "ownership");
}

#[test]
fn override_catches_late_override() {
    let failure = failure_under(
        override_calls(),
        |calls, m| override_property(calls, m),
        Mutation::OverrideAlwaysApplies,
    );
    assert!(failure.contains("override"), "{failure}");
}

/// The random runs reach every path the properties speak about (a "sometimes" check): without
/// this, a generator that never crashes or never expires would make the properties vacuous.
#[test]
fn random_operations_reach_every_path() {
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for _case in 0..128 {
        let ops = ops().new_tree(&mut runner).expect("a value").current();
        let (_, broker) = Harness::new(Mutation::None).run(&ops);
        for event in broker.log() {
            let name = match &event.kind {
                BrokerEventKind::Delivered { attempt, .. } if *attempt > 1 => "redelivered".into(),
                BrokerEventKind::Requeued { reason, .. } => format!("requeued {reason:?}"),
                other => format!("{other:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            *seen.entry(name).or_default() += 1;
        }
    }
    let paths = [
        "redelivered",
        "requeued Nack",
        "requeued MemberGone",
        "requeued Revoked",
        "requeued BrokerCrash",
        "Expired",
        "DeadLettered",
        "Dropped",
        "Crashed",
        "OutageStarted",
    ];
    for path in paths {
        assert!(seen.contains_key(path), "never reached {path}: {seen:?}");
    }
}
