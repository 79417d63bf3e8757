//! Properties of the counter model, read from the register's own log.
//!
//! Workers only ever increment, so every write the store applied must move the counter
//! from `n` to `n + 1`; a write that does not overwrote an increment it never read. Not
//! checked: that every increment a worker believes done is counted (a timed-out write may or
//! may not have been applied, and the worker cannot know).

use syncsim_sim::services::register::{Op, Register};
use syncsim_sim::{History, Property, Verdict};

use super::{COUNTER_KEY, STORE};

/// Every property of the model.
pub fn all() -> Vec<Property> {
    vec![
        Property::always("counter: no lost update", no_lost_update),
        Property::sometimes(
            "counter: two workers read the same value",
            overlapping_reads,
        ),
    ]
}

/// Every applied write moved the counter up by exactly one.
fn no_lost_update(history: &History) -> Verdict {
    let store = history.service::<Register>(STORE);
    let lost = store
        .log()
        .iter()
        .filter(|applied| applied.op == Op::Write && applied.key == COUNTER_KEY)
        .find(|applied| applied.after != applied.before + 1);
    match lost {
        None => Verdict::Pass,
        Some(applied) => Verdict::violated(format!(
            "{} wrote {} over {} at {}: the increment that produced {} was lost",
            applied.node, applied.after, applied.before, applied.time, applied.before
        )),
    }
}

/// Two different workers read the same counter value: the race every variant must survive.
fn overlapping_reads(history: &History) -> bool {
    let store = history.service::<Register>(STORE);
    let reads: Vec<_> = store
        .log()
        .iter()
        .filter(|applied| applied.op == Op::Read)
        .collect();
    reads
        .windows(2)
        .any(|pair| pair[0].after == pair[1].after && pair[0].node != pair[1].node)
}
