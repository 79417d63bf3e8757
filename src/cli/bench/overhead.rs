//! Section "overhead": the harness's cost per event. The same two workloads run on bare
//! madsim and through syncsim, interleaved in one process: a ping-pong (a client sends a
//! request to a server node and awaits the reply; each leg sleeps a fixed latency) and a
//! timer loop (a node sleeps 1 ms, over and over). Through syncsim the ping-pong is a
//! `Ctx::call` to a register service (trace lines, latency draws, status checks, the
//! service's log) and every run gets its own thread and runtime, as every syncsim run does;
//! the bare runs reuse the bench thread. Not measured: faults, properties (the model has
//! none), shrinking.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;

use crate::services::register::{Register, RegisterRequest};
use crate::sim::{Bounds, Case, FaultPlan, Model, NetConfig, Phases, Property, Seed};
use crate::sim::{Ctx, WorldBuilder};

use super::markdown::Table;
use super::stats::{number, Spread};
use super::Settings;

use crate::cli::Stopwatch;

/// One-way latency of a ping or a pong, on both sides.
const LATENCY: Duration = Duration::from_millis(5);
/// The timer loop's sleep.
const TICK: Duration = Duration::from_millis(1);
/// Operations (round trips or sleeps) per run.
const OPERATION_COUNT: u32 = 10_000;

/// One workload: round trips and timer sleeps per run.
#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    round_trips: u32,
    ticks: u32,
}

/// Runs the workload on a fresh bare madsim runtime on this thread.
fn bare_run(seed: u64, workload: Workload) {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.block_on(async move {
        let handle = madsim::runtime::Handle::current();
        let server = handle.create_node().name("server").build();
        let client = handle.create_node().name("client").build();
        let ticker = handle.create_node().name("ticker").build();
        let (request_sender, mut requests) = mpsc::unbounded::<u32>();
        let (reply_sender, mut replies) = mpsc::unbounded::<u32>();
        // Detached: it ends with the runtime, like a syncsim service node.
        drop(server.spawn(async move {
            while let Some(request) = requests.next().await {
                madsim::time::sleep(LATENCY).await;
                let _ = reply_sender.unbounded_send(request);
            }
        }));
        let pings = client.spawn(async move {
            for request in 0..workload.round_trips {
                madsim::time::sleep(LATENCY).await;
                let _ = request_sender.unbounded_send(request);
                let _ = replies.next().await;
            }
        });
        let ticks = ticker.spawn(async move {
            for _ in 0..workload.ticks {
                madsim::time::sleep(TICK).await;
            }
        });
        let _ = pings.await;
        let _ = ticks.await;
    });
}

/// The same workload as a syncsim model: a register service, a client, a ticker.
struct PingPong(Workload);

impl Model for PingPong {
    fn name(&self) -> &str {
        "bench_overhead"
    }

    fn install(&self, world: &mut WorldBuilder) {
        let server = world.service("server", Register::default());
        let round_trips = self.0.round_trips;
        world.node("client").process("ping", move |ctx: Ctx| {
            let server = server.clone();
            async move {
                for _ in 0..round_trips {
                    let get = RegisterRequest::Get { key: "k".into() };
                    let _ = ctx.call(&server, get).await;
                }
            }
        });
        let ticks = self.0.ticks;
        world
            .node("ticker")
            .process("tick", move |ctx: Ctx| async move {
                for _ in 0..ticks {
                    ctx.sleep(TICK).await;
                }
            });
    }

    fn properties(&self) -> Vec<Property> {
        Vec::new()
    }
}

fn syncsim_case(workload: Workload) -> Case {
    Case {
        scenario: format!("bench/overhead/{}", workload.name),
        model: Arc::new(PingPong(workload)),
        faults: FaultPlan::new(),
        phases: Phases {
            chaos: Duration::ZERO,
            heal: Duration::ZERO,
        },
        bounds: Bounds {
            events_max: 1_000_000,
            time_max: Duration::from_secs(3_600),
            wall_max: Duration::from_secs(120),
        },
        net: NetConfig {
            latency_min: LATENCY,
            latency_max: LATENCY,
            call_timeout: Duration::from_secs(1),
        },
    }
}

/// Wall times of the repeats: bare, syncsim, and syncsim's trace events per run.
struct Timings {
    bare_s: Vec<f64>,
    syncsim_s: Vec<f64>,
    event_counts: Vec<f64>,
}

fn measure(workload: Workload, repeats: u32) -> Timings {
    let case = syncsim_case(workload);
    let mut timings = Timings {
        bare_s: Vec::new(),
        syncsim_s: Vec::new(),
        event_counts: Vec::new(),
    };
    for repeat in 0..u64::from(repeats) {
        let stopwatch = Stopwatch::start();
        bare_run(repeat, workload);
        timings.bare_s.push(stopwatch.elapsed().as_secs_f64());
        let stopwatch = Stopwatch::start();
        let outcome = case.run(Seed(repeat));
        timings.syncsim_s.push(stopwatch.elapsed().as_secs_f64());
        assert!(
            outcome.failure.is_none(),
            "the overhead workload never fails"
        );
        timings.event_counts.push(outcome.trace.len() as f64);
    }
    timings
}

/// The section's Markdown body.
pub fn section(settings: &Settings) -> String {
    let workloads = [
        Workload {
            name: "ping-pong",
            round_trips: OPERATION_COUNT,
            ticks: 0,
        },
        Workload {
            name: "timer",
            round_trips: 0,
            ticks: OPERATION_COUNT,
        },
        Workload {
            name: "both",
            round_trips: OPERATION_COUNT,
            ticks: OPERATION_COUNT,
        },
    ];
    let mut table = Table::new(&[
        "workload",
        "bare madsim us/op",
        "syncsim us/op",
        "ratio (syncsim / bare)",
        "ratio of the fastest runs",
        "syncsim trace events/run",
        "harness us per trace event",
    ]);
    for workload in workloads {
        let timings = measure(workload, settings.repeats);
        let operations = f64::from(workload.round_trips + workload.ticks);
        let per_op = |seconds: &[f64]| {
            let micros: Vec<f64> = seconds.iter().map(|s| s * 1e6 / operations).collect();
            Spread::of(&micros)
        };
        let ratios: Vec<f64> = timings
            .syncsim_s
            .iter()
            .zip(&timings.bare_s)
            .map(|(syncsim, bare)| syncsim / bare)
            .collect();
        let events = Spread::of(&timings.event_counts).median;
        let harness_us = timings
            .syncsim_s
            .iter()
            .zip(&timings.bare_s)
            .map(|(syncsim, bare)| (syncsim - bare) * 1e6 / events.max(1.0))
            .collect::<Vec<f64>>();
        table.row(vec![
            format!(
                "{} ({} round trips, {} sleeps)",
                workload.name, workload.round_trips, workload.ticks
            ),
            per_op(&timings.bare_s).show(),
            per_op(&timings.syncsim_s).show(),
            Spread::of(&ratios).show(),
            number(Spread::of(&timings.syncsim_s).min / Spread::of(&timings.bare_s).min),
            number(events),
            Spread::of(&harness_us).show(),
        ]);
        eprintln!("bench overhead: {} done", workload.name);
    }
    format!(
        "Per run: {OPERATION_COUNT} operations, bare and syncsim alternating, {} runs each; \
         median (min..max). One ping-pong round trip is three syncsim trace events (send, \
         apply, recv); a timer sleep records none. \"harness us per trace event\" is \
         (syncsim - bare) wall time over syncsim's trace events. On a loaded machine a fresh \
         thread may wait for a core; the ratio of the fastest runs is the least disturbed.\n\n{}",
        settings.repeats,
        table.render()
    )
}
