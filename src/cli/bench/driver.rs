//! The bench driver: runs seeds of one case on several OS threads for a real-time window and
//! counts seeds, trace events and virtual time. It sits outside every simulation (each run
//! still gets its own runtime and thread from `sim::rt`), so OS threads and the wall clock
//! are allowed here, as in `fuzz`. Not here: what the numbers mean (the sections say).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::sim::{Case, Outcome, Seed};

use crate::cli::Stopwatch;

/// What one window of runs did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Batch {
    /// Seeds run to their end.
    pub seed_count: u64,
    /// Trace events those runs recorded.
    pub event_count: u64,
    /// Virtual time those runs simulated, in seconds.
    pub virtual_s: f64,
    /// Real time the window took (the last run started inside it finishes), in seconds.
    pub wall_s: f64,
}

impl Batch {
    fn add(&mut self, outcome: &Outcome) {
        self.seed_count += 1;
        self.event_count += outcome.trace.len() as u64;
        self.virtual_s += virtual_s(outcome);
    }
}

/// The virtual time a run reached: the time of its last trace event, in seconds.
pub fn virtual_s(outcome: &Outcome) -> f64 {
    outcome
        .trace
        .events()
        .last()
        .map_or(0.0, |event| event.time.0.as_secs_f64())
}

/// Runs seeds `first_seed`, `first_seed + 1`, ... on `thread_count` threads until `window`
/// of real time has passed (every thread runs at least one seed).
pub fn run_window(case: &Case, first_seed: u64, thread_count: u32, window: Duration) -> Batch {
    let next_seed = AtomicU64::new(first_seed);
    let total = Mutex::new(Batch::default());
    let stopwatch = Stopwatch::start();
    std::thread::scope(|scope| {
        for _ in 0..thread_count {
            scope.spawn(|| {
                let mut batch = Batch::default();
                loop {
                    let seed = Seed(next_seed.fetch_add(1, Ordering::Relaxed));
                    batch.add(&case.run(seed));
                    if stopwatch.elapsed() >= window {
                        break;
                    }
                }
                let mut total = total.lock().expect("no panics while held");
                total.seed_count += batch.seed_count;
                total.event_count += batch.event_count;
                total.virtual_s += batch.virtual_s;
            });
        }
    });
    let mut batch = total.into_inner().expect("threads joined");
    batch.wall_s = stopwatch.elapsed().as_secs_f64();
    batch
}
