//! Scenarios of the toy `counter` model: both variants, with a fixed fault plan and with a
//! swarm of random faults (crashes, pauses, isolation, request faults).
//!
//! Workers pause and crash mid-increment, so the runs exercise restart (a worker redoes its
//! increments from scratch), held requests and lost replies, not only the plain race.

use std::time::Duration;

use syncsim_models::counter::{CounterConfig, Variant};
use syncsim_sim::{Bounds, Fault, FaultPlan, NetConfig, Phases, RandomFault, Ratio, RequestFaults};

use crate::faults::episodes;
use crate::spec::{Expectation, ModelSpec, ScenarioSpec};

pub(crate) fn scenarios() -> Vec<ScenarioSpec> {
    vec![
        fixed(Variant::Unguarded, Expectation::Caught),
        fixed(Variant::CompareAndSet, Expectation::Holds),
        swarm(Variant::Unguarded, Expectation::Caught),
        swarm(Variant::CompareAndSet, Expectation::Holds),
    ]
}

fn config(variant: Variant, worker_count: u32, increments_per_worker: u32) -> CounterConfig {
    CounterConfig {
        variant,
        worker_count,
        increments_per_worker,
        think_time_max_ms: 2,
        start_delay_max_ms: 400,
    }
}

fn net() -> NetConfig {
    NetConfig {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(10),
        call_timeout: Duration::from_millis(200),
    }
}

fn bounds() -> Bounds {
    Bounds {
        events_max: 20_000,
        time_max: Duration::from_secs(60),
        wall_max: Duration::from_secs(30),
    }
}

/// Two workers, two increments each, one pause and one crash at fixed times.
fn fixed(variant: Variant, expectation: Expectation) -> ScenarioSpec {
    ScenarioSpec {
        id: format!("counter/{}", variant.name()),
        expectation,
        properties: Vec::new(),
        seed_count: 50,
        model: ModelSpec::Counter(config(variant, 2, 2)),
        faults: FaultPlan::new()
            .at(Duration::from_millis(30), Fault::pause("worker-1"))
            .at(Duration::from_millis(60), Fault::resume("worker-1"))
            .at(Duration::from_millis(90), Fault::crash("worker-0"))
            .at(Duration::from_millis(150), Fault::restart("worker-0")),
        phases: Phases {
            chaos: Duration::from_secs(1),
            heal: Duration::from_secs(1),
        },
        bounds: bounds(),
        net: net(),
    }
}

/// Three slow workers, six increments each, under a swarm of random faults for 10 seconds.
fn swarm(variant: Variant, expectation: Expectation) -> ScenarioSpec {
    let workers = ["worker-0", "worker-1", "worker-2"];
    // Slow workers (long think time) so fault episodes overlap the work they disturb.
    let mut model = config(variant, 3, 6);
    model.think_time_max_ms = 300;
    model.start_delay_max_ms = 2_000;
    ScenarioSpec {
        id: format!("counter/{}/swarm", variant.name()),
        expectation,
        properties: Vec::new(),
        seed_count: 40,
        model: ModelSpec::Counter(model),
        faults: FaultPlan::new()
            .random(RandomFault::CrashRestart(episodes(
                &workers,
                Ratio::new(1, 4),
                Duration::from_secs(2),
            )))
            .random(RandomFault::PauseResume(episodes(
                &["worker-0", "worker-1", "worker-2", "store"],
                Ratio::new(1, 4),
                Duration::from_millis(400),
            )))
            .random(RandomFault::IsolateRejoin(episodes(
                &workers,
                Ratio::new(1, 8),
                Duration::from_secs(1),
            )))
            .random(RandomFault::Requests(RequestFaults {
                reject_probability: Ratio::new(1, 20),
                reply_lost_probability: Ratio::new(1, 20),
                duplicate_probability: Ratio::new(1, 20),
                delay_probability: Ratio::new(1, 10),
                delay_max: Duration::from_millis(150),
                targets: Vec::new(),
            }))
            .swarm(),
        phases: Phases {
            chaos: Duration::from_secs(10),
            heal: Duration::from_secs(2),
        },
        bounds: bounds(),
        net: net(),
    }
}
