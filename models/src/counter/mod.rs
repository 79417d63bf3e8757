//! `counter`: workers increment a shared counter with a read-modify-write over the network.
//!
//! ```text
//!   worker-0 ──Get──▶ store ◀──Get── worker-1      both read 4
//!   worker-0 ──Put 5─▶ store ◀─Put 5─ worker-1      one increment is lost
//! ```
//!
//! The real system is any service that reads a value, computes, and writes it back without
//! a guard (a balance, a stock level, a sequence number). Variants: `unguarded` writes with a
//! plain put and loses updates when two workers overlap; `compare_and_set` writes only if the
//! value is still the one it read, and retries otherwise. Modelled: network latency, think
//! time between read and write, worker crashes and pauses. Not modelled: contention backoff,
//! many keys.

mod process;
mod properties;

use serde::{Deserialize, Serialize};
use syncsim_services::register::Register;
use syncsim_sim::{Model, ModelConfig, Property, ServiceKey, WorldBuilder};

/// The key every worker increments.
pub const COUNTER_KEY: &str = "counter";
/// The register: its node's name and the type properties read.
pub const STORE: ServiceKey<Register> = ServiceKey::new("store");

/// How a worker writes its increment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Read, then put `value + 1`: loses updates under overlap.
    Unguarded,
    /// Read, then compare-and-set from the value read; retry on mismatch.
    CompareAndSet,
}

impl Variant {
    /// The variant's name in scenario ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Unguarded => "unguarded",
            Variant::CompareAndSet => "compare_and_set",
        }
    }
}

/// Tunables of the counter model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterConfig {
    /// How writes are guarded.
    pub variant: Variant,
    /// Number of worker nodes.
    pub worker_count: u32,
    /// Increments each worker performs before it is done.
    pub increments_per_worker: u32,
    /// Longest pause between reading and writing, in milliseconds (drawn uniformly from 0).
    pub think_time_max_ms: u64,
    /// Longest delay before a worker starts, in milliseconds (drawn uniformly from 0), so
    /// workers overlap in some seeds and not in others.
    pub start_delay_max_ms: u64,
}

/// The counter model in one variant.
#[derive(Clone, Debug)]
pub struct Counter {
    /// Its configuration.
    pub config: CounterConfig,
}

impl Model for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let store = world.service(STORE.name(), Register::default());
        for worker_index in 0..self.config.worker_count {
            let config = self.config.clone();
            let store = store.clone();
            world
                .node(&format!("worker-{worker_index}"))
                .process("increment", move |ctx| {
                    process::worker(ctx, store.clone(), config.clone())
                });
        }
    }

    fn properties(&self) -> Vec<Property> {
        properties::all()
    }
}

impl ModelConfig for CounterConfig {
    const NAME: &'static str = "counter";
    const ENTITY_KNOB: &'static str = "worker_count";

    fn variant(&self) -> &str {
        self.variant.name()
    }

    fn model(&self) -> std::sync::Arc<dyn Model> {
        std::sync::Arc::new(Counter {
            config: self.clone(),
        })
    }

    /// The workload knobs shrinking may lower, with their floors: fewer workers, fewer
    /// increments, less think time, a tighter start.
    fn knobs(&self) -> Vec<syncsim_sim::Knob> {
        use syncsim_sim::Knob;
        vec![
            Knob::new("worker_count", 1, u64::from(self.worker_count)),
            Knob::new(
                "increments_per_worker",
                1,
                u64::from(self.increments_per_worker),
            ),
            Knob::new("think_time_max_ms", 0, self.think_time_max_ms),
            Knob::new("start_delay_max_ms", 0, self.start_delay_max_ms),
        ]
    }
}
