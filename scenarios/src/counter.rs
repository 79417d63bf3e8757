//! Scenarios of the toy `counter` model: both variants under worker crashes and pauses.
//!
//! Workers pause and crash mid-increment, so the run exercises restart (the worker redoes
//! its increments from scratch) and held requests, not only the plain race.

use std::sync::Arc;
use std::time::Duration;

use syncsim_models::counter::{Counter, CounterConfig, Variant};
use syncsim_sim::{Bounds, Case, Fault, FaultPlan, NetConfig, Phases};

use crate::{Expectation, Scenario};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        scenario(Variant::Unguarded, Expectation::Caught, 50),
        scenario(Variant::CompareAndSet, Expectation::Holds, 50),
    ]
}

fn scenario(variant: Variant, expectation: Expectation, seed_count: u64) -> Scenario {
    Scenario {
        case: case(variant),
        expectation,
        seed_count,
    }
}

/// The counter case for `variant`: two workers, three increments each, a pause and a crash.
pub fn case(variant: Variant) -> Case {
    let config = CounterConfig {
        variant,
        worker_count: 2,
        increments_per_worker: 2,
        think_time_max_ms: 2,
        start_delay_max_ms: 400,
    };
    Case {
        scenario: format!("counter/{}", variant.name()),
        model: Arc::new(Counter { config }),
        faults: FaultPlan::new()
            .at(Duration::from_millis(30), Fault::pause("worker-1"))
            .at(Duration::from_millis(60), Fault::resume("worker-1"))
            .at(Duration::from_millis(90), Fault::crash("worker-0"))
            .at(Duration::from_millis(150), Fault::restart("worker-0")),
        phases: Phases {
            chaos: Duration::from_secs(1),
            heal: Duration::from_secs(1),
        },
        bounds: Bounds {
            events_max: 10_000,
            time_max: Duration::from_secs(60),
            wall_max: Duration::from_secs(30),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            call_timeout: Duration::from_millis(200),
        },
    }
}
