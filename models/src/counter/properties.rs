//! Properties of the counter model, read from the register's own log.
//!
//! Workers only ever increment, so every write the store applied must move the counter
//! from `n` to `n + 1`; a write that does not overwrote an increment it never read. Not
//! checked: that every increment a worker believes done is counted (a timed-out write may or
//! may not have been applied, and the worker cannot know).

use std::sync::{Mutex, PoisonError};

use syncsim_services::register::{Applied, Op, Register};
use syncsim_sim::{History, Property, Verdict};

use super::{COUNTER_KEY, STORE};

/// Every property of the model.
pub fn all() -> Vec<Property> {
    let checked = Mutex::new(CheckedPrefix::default());
    vec![
        Property::always("counter: no lost update", move |history| {
            no_lost_update(history, &checked)
        }),
        Property::sometimes(
            "counter: two workers read the same value",
            overlapping_reads,
        ),
    ]
}

/// How much of the register's log earlier checks found clean. The log is append-only and the
/// property is checked after every write, so a check reads only what came after (a full
/// rescan each time made a 300-worker run spend 92% of its time here). When the last entry
/// seen is no longer in its place (another history), the whole log is read again.
#[derive(Default)]
struct CheckedPrefix {
    len: usize,
    last: Option<Applied>,
}

/// Every applied write moved the counter up by exactly one.
fn no_lost_update(history: &History, checked: &Mutex<CheckedPrefix>) -> Verdict {
    let store = history.service::<Register>(STORE);
    let log = store.log();
    let mut checked = checked.lock().unwrap_or_else(PoisonError::into_inner);
    let start = match &checked.last {
        Some(last) if checked.len.checked_sub(1).and_then(|index| log.get(index)) == Some(last) => {
            checked.len
        }
        _ => 0,
    };
    let lost = log[start..]
        .iter()
        .filter(|applied| applied.op == Op::Write && applied.key == COUNTER_KEY)
        .find(|applied| applied.after != applied.before + 1);
    match lost {
        None => {
            checked.len = log.len();
            checked.last = log.last().cloned();
            Verdict::Pass
        }
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
