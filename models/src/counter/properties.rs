//! Properties of the counter model, read from the register's own log.
//!
//! Workers only ever increment, so every write the store applied must move the counter
//! from `n` to `n + 1`; a write that does not overwrote an increment it never read. Not
//! checked: that every increment a worker believes done is counted (a timed-out write may or
//! may not have been applied, and the worker cannot know).

use syncsim_services::register::{Applied, Op, Register};
use syncsim_sim::{History, Property, Verdict};

use super::{COUNTER_KEY, STORE};

/// Every property of the model.
pub fn all() -> Vec<Property> {
    vec![
        // Checked after every write, over the writes since the last check: the log is
        // append-only (a full rescan at each check made a 300-worker run spend 92% of its
        // time here).
        Property::always_each("counter: no lost update", STORE, Register::log, lost_update),
        Property::sometimes(
            "counter: two workers read the same value",
            overlapping_reads,
        ),
    ]
}

/// An applied write that did not move the counter up by exactly one.
fn lost_update(applied: &Applied) -> Verdict {
    let write = applied.op == Op::Write && applied.key == COUNTER_KEY;
    Verdict::check(!write || applied.after == applied.before + 1, || {
        format!(
            "{} wrote {} over {} at {}: the increment that produced {} was lost",
            applied.node, applied.after, applied.before, applied.time, applied.before
        )
    })
}

/// Two different workers read the same counter value: the race every variant must survive.
fn overlapping_reads(history: &History) -> bool {
    let store = history.read(&STORE);
    let reads: Vec<_> = store
        .log()
        .iter()
        .filter(|applied| applied.op == Op::Read)
        .collect();
    reads
        .windows(2)
        .any(|pair| pair[0].after == pair[1].after && pair[0].node != pair[1].node)
}
