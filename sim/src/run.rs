//! A run: one case (model, faults, phases, bounds) on one seed, from boot to verdict.
//!
//! ```text
//!   boot ──▶ chaos (timed faults) ──▶ heal (restart, resume) ──▶ settle ──▶ checks ──▶ teardown
//! ```
//!
//! Each run gets a fresh madsim runtime on a fresh OS thread. Every planned fault runs at its
//! time, even after the workload is done (never silently dropped); chaos then ends at its
//! planned length or as soon as the workload is done; healing restarts every crashed node and
//! resumes every paused one; the run then waits for the heal length and for the workload to
//! finish, up to the virtual-time bound; `eventually` and `sometimes` properties are checked
//! last. Teardown kills every node so nothing outlives the run. Not modelled: runs that span
//! processes or machines; a sweep shards seeds instead.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::channel::mpsc::{self, UnboundedReceiver};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::fault::{Fault, FaultPlan, RandomFault};
use crate::history::ServiceStates;
use crate::model::Model;
use crate::property::{Modality, Property};
use crate::report::{bound, Failure, FailureClass, Report};
use crate::rt;
use crate::seed::Seed;
use crate::time::{describe, VirtualTime};
use crate::trace::{Divergence, EventKind, Trace};
use crate::world::{self, NetConfig, NodeStatus, RunAborted, World, WorldBuilder};

/// How long each phase lasts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    /// Length of the chaos phase, in which planned faults happen.
    #[serde(with = "humantime_serde")]
    pub chaos: Duration,
    /// Time granted after healing for the system to converge before `eventually` checks.
    #[serde(with = "humantime_serde")]
    pub heal: Duration,
}

/// Limits that turn a runaway run into a reported failure instead of a hang.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Most trace events one run may record.
    pub events_max: u64,
    /// Virtual time by which the workload must be done.
    #[serde(with = "humantime_serde")]
    pub time_max: Duration,
    /// Real time one run may take.
    #[serde(with = "humantime_serde")]
    pub wall_max: Duration,
}

/// One scenario, ready to run on any seed.
#[derive(Clone)]
pub struct Case {
    /// The scenario id, `<model>/<variant>[/<shape>]`.
    pub scenario: String,
    /// The model in its variant.
    pub model: Arc<dyn Model>,
    /// Planned faults.
    pub faults: FaultPlan,
    /// Phase lengths.
    pub phases: Phases,
    /// Run bounds.
    pub bounds: Bounds,
    /// Request latencies and timeouts.
    pub net: NetConfig,
}

/// Everything one run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The scenario id.
    pub scenario: String,
    /// The master seed.
    pub seed: Seed,
    /// The full trace.
    pub trace: Trace,
    /// The failure, if the run failed.
    pub failure: Option<Failure>,
    /// Every `sometimes` property of the model, and whether this run hit it.
    pub sometimes: BTreeMap<String, bool>,
    /// The concrete fault plan the run executed (random generators drawn for this seed).
    pub plan: FaultPlan,
    /// The services' ground truth at the end of the run, kept only by
    /// [`Case::run_keeping_services`] (empty otherwise).
    pub services: ServiceStates,
}

impl Outcome {
    /// The trace digest.
    pub fn digest(&self) -> String {
        self.trace.digest()
    }

    /// The report of a failed run.
    pub fn report(&self) -> Option<Report> {
        let failure = self.failure.clone()?;
        let lines = if failure.entities.is_empty() {
            Vec::new()
        } else {
            self.trace.mentioning(&failure.entities)
        };
        // No entity, or none in any line: the run's last lines.
        let (trace_tail, entity_line_count) = if lines.is_empty() {
            (self.trace.tail(TRACE_LINES_SHOWN), None)
        } else {
            let start = lines.len().saturating_sub(TRACE_LINES_SHOWN);
            (lines[start..].to_vec(), Some(lines.len()))
        };
        Some(Report {
            scenario: self.scenario.clone(),
            seed: self.seed,
            failure,
            digest: self.digest(),
            event_count: self.trace.len(),
            faults: self.fault_lines(),
            trace_tail,
            entity_line_count,
        })
    }
}

impl Outcome {
    /// The plan's episodes, each with its start and length, then its request faults.
    fn fault_lines(&self) -> Vec<String> {
        let episodes = self
            .plan
            .episodes()
            .into_iter()
            .map(|episode| episode.to_string());
        let requests = self.plan.request_faults().map(ToString::to_string);
        episodes.chain(requests).collect()
    }
}

/// Trace lines a report shows.
const TRACE_LINES_SHOWN: usize = 12;

/// Why a case cannot run as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseError(pub String);

impl std::fmt::Display for CaseError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for CaseError {}

/// The nodes of a model, for validating fault plans.
struct NodeNames {
    all: Vec<String>,
    with_outage: Vec<String>,
}

impl NodeNames {
    fn check(&self, node: &str, outage: bool) -> Result<(), String> {
        if !self.all.iter().any(|known| known == node) {
            return Err(format!("no such node (nodes: {})", self.all.join(", ")));
        }
        if outage && !self.with_outage.iter().any(|known| known == node) {
            let with_outage = self.with_outage.join(", ");
            return Err(format!(
                "that node models no outage (nodes that do: {with_outage})"
            ));
        }
        Ok(())
    }
}

impl Case {
    /// Checks the configuration: phases fit the bounds, latencies are ordered, every faulted
    /// node exists, every fault happens during chaos.
    pub fn validate(&self) -> Result<(), CaseError> {
        crate::limits::check(self)
            .and_then(|()| self.validate_shape())
            .and_then(|()| self.validate_faults())
            .map_err(|message| CaseError(format!("{}: {message}", self.scenario)))
    }

    fn validate_shape(&self) -> Result<(), String> {
        if self.phases.chaos + self.phases.heal > self.bounds.time_max {
            return Err(format!(
                "chaos {} + heal {} exceed the virtual-time bound {}",
                describe(self.phases.chaos),
                describe(self.phases.heal),
                describe(self.bounds.time_max)
            ));
        }
        if self.net.latency_min > self.net.latency_max {
            return Err("latency_min is above latency_max".to_string());
        }
        Ok(())
    }

    /// Every faulted node exists (and models outages, for outage faults); timed faults fall
    /// in the chaos phase; episode durations are ordered.
    fn validate_faults(&self) -> Result<(), String> {
        let mut builder = WorldBuilder::default();
        self.model.install(&mut builder);
        let nodes = NodeNames {
            all: builder.node_names(),
            with_outage: builder.outage_node_names(),
        };
        for timed in self.faults.faults() {
            let outage = matches!(timed.fault, Fault::Outage { .. } | Fault::Recover { .. });
            nodes
                .check(timed.fault.node(), outage)
                .map_err(|problem| format!("fault `{}`: {problem}", timed.fault))?;
            if timed.at > self.phases.chaos {
                let at = describe(timed.at);
                return Err(format!(
                    "fault `{}` at {at} is after the chaos phase",
                    timed.fault
                ));
            }
        }
        for generator in &self.faults.random {
            let (episodes, outage) = match generator {
                RandomFault::CrashRestart(episodes)
                | RandomFault::PauseResume(episodes)
                | RandomFault::IsolateRejoin(episodes) => (episodes, false),
                RandomFault::OutageRecover(episodes) => (episodes, true),
                RandomFault::Requests(_) => continue,
            };
            for node in &episodes.nodes {
                nodes
                    .check(node, outage)
                    .map_err(|problem| format!("random faults name {node:?}: {problem}"))?;
            }
            if episodes.duration_min > episodes.duration_max {
                return Err("an episode's duration_min is above its duration_max".to_string());
            }
        }
        Ok(())
    }

    /// Runs the case on `seed`. Never panics for model misbehaviour: a panic, a violated
    /// property or a hit bound comes back as the outcome's failure.
    pub fn run(&self, seed: Seed) -> Outcome {
        self.run_with(seed, false)
    }

    /// Runs the case on `seed` like [`Case::run`] and keeps the services' ground truth on the
    /// outcome (a sweep does not: it would hold every seed's services while it runs).
    pub fn run_keeping_services(&self, seed: Seed) -> Outcome {
        self.run_with(seed, true)
    }

    fn run_with(&self, seed: Seed, keep_services: bool) -> Outcome {
        install_quiet_abort_hook();
        let properties = self.model.properties();
        let plan = self.faults.materialize(seed, self.phases.chaos);
        let world = Arc::new(World::new(
            seed,
            self.net.clone(),
            &properties,
            self.bounds.events_max,
            plan.request_faults().cloned(),
        ));
        if keep_services {
            world.keep_services();
        }
        let sometimes_names: Vec<String> = properties
            .iter()
            .filter(|property| property.modality() == Modality::Sometimes)
            .map(|property| property.name().to_string())
            .collect();
        let inside = world.clone();
        let case = Case {
            faults: plan.clone(),
            ..self.clone()
        };
        let watchdog = world.clone();
        let result = rt::run_isolated(
            seed,
            self.bounds.wall_max,
            move || watchdog.abort_for_wall_time(),
            move || supervise(inside, case, properties),
        );
        let sometimes_hits = match result {
            Ok(Some(hits)) => hits,
            Ok(None) => {
                let reason = format!(
                    "the run took more than {} of real time",
                    describe(self.bounds.wall_max)
                );
                fail_outside(&world, FailureClass::Liveness, bound::WALL_TIME, reason);
                BTreeMap::new()
            }
            Err(payload) => {
                if payload.downcast_ref::<RunAborted>().is_none() {
                    let reason = format!("a process panicked: {}", panic_message(payload.as_ref()));
                    fail_outside(&world, FailureClass::Crash, bound::PANIC, reason);
                }
                BTreeMap::new()
            }
        };
        // Taken, not cloned: the run is over and nothing reads the world's trace again, and a
        // copy of every event's strings was the largest cost of short runs.
        let trace = std::mem::take(&mut world.history().trace);
        let services = if keep_services {
            ServiceStates::of(&world.history())
        } else {
            ServiceStates::default()
        };
        Outcome {
            scenario: self.scenario.clone(),
            seed,
            trace,
            failure: world.failure(),
            sometimes: sometimes_names
                .into_iter()
                .map(|name| {
                    let hit = sometimes_hits.get(&name).copied().unwrap_or(false);
                    (name, hit)
                })
                .collect(),
            plan,
            services,
        }
    }

    /// Runs `seed` twice, each on a fresh thread and runtime, and compares the traces.
    pub fn check_determinism(&self, seed: Seed) -> Result<String, Divergence> {
        let first = self.run(seed);
        let second = self.run(seed);
        match first.trace.first_divergence(&second.trace) {
            None => Ok(first.digest()),
            Some(divergence) => Err(divergence),
        }
    }
}

/// Records a failure found after the runtime is gone (panic, wall-clock timeout).
fn fail_outside(world: &World, class: FailureClass, property: &str, reason: String) {
    if world.failed() {
        return;
    }
    let last_time = world
        .history()
        .trace
        .events()
        .last()
        .map_or(VirtualTime::ZERO, |event| event.time);
    world.fail_at(last_time, class, property, reason);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

/// Bound hits unwind with a `RunAborted` payload: expected, already reported, so silent.
fn install_quiet_abort_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<RunAborted>().is_none() {
                previous(info);
            }
        }));
    });
}

/// The supervisor: boots the world, applies the plan, heals, checks, tears down.
async fn supervise(
    world: Arc<World>,
    case: Case,
    properties: Vec<Property>,
) -> BTreeMap<String, bool> {
    let (sender, mut wake) = mpsc::unbounded();
    world.set_waker(sender);
    let mut builder = WorldBuilder::default();
    case.model.install(&mut builder);
    world::install(&world, builder);
    world.record(
        "harness",
        EventKind::Phase,
        format!(
            "chaos for {} with {} planned fault(s); seed {}",
            describe(case.phases.chaos),
            case.faults.faults().len(),
            world.seed
        ),
    );
    run_chaos(&world, &case, &mut wake).await;
    if !world.failed() {
        heal(&world);
        let heal_end = rt::now().after(case.phases.heal);
        wait_until(&world, &mut wake, heal_end, |_| false).await;
        let time_max = VirtualTime(case.bounds.time_max);
        wait_until(&world, &mut wake, time_max, workload_done).await;
        check_end(&world, &case, &properties);
    }
    let hits = sometimes_hits(&world, &properties);
    world.kill_all();
    hits
}

/// Applies every planned fault at its time, even after the workload is done (an outage
/// planned to last 5 s lasts 5 s, rather than ending at heal); then chaos ends at its planned
/// length or, once every fault has run, as soon as the workload is done.
async fn run_chaos(world: &Arc<World>, case: &Case, wake: &mut UnboundedReceiver<()>) {
    for timed in case.faults.faults() {
        wait_until(world, wake, VirtualTime(timed.at), |_| false).await;
        if world.failed() {
            return;
        }
        apply_fault(world, &timed.fault);
    }
    wait_until(world, wake, VirtualTime(case.phases.chaos), workload_done).await;
}

fn workload_done(world: &World) -> bool {
    world.pending_processes().is_empty()
}

/// Sleeps until `deadline`, waking early when the run failed or `done` holds.
async fn wait_until(
    world: &World,
    wake: &mut UnboundedReceiver<()>,
    deadline: VirtualTime,
    done: impl Fn(&World) -> bool,
) {
    loop {
        if world.failed() || done(world) {
            return;
        }
        let now = rt::now();
        if now >= deadline {
            return;
        }
        let _ = rt::timeout(deadline.0 - now.0, wake.next()).await;
    }
}

fn apply_fault(world: &World, fault: &Fault) {
    let node = fault.node();
    let status = world.status(node);
    let isolated = world.is_isolated(node);
    let applies = match fault {
        Fault::Crash { .. } => status != NodeStatus::Down,
        Fault::Restart { .. } => status == NodeStatus::Down,
        Fault::Pause { .. } => status == NodeStatus::Up,
        Fault::Resume { .. } => status == NodeStatus::Paused,
        Fault::Isolate { .. } => !isolated,
        Fault::Rejoin { .. } => isolated,
        Fault::Outage { .. } => !world.in_outage(node),
        Fault::Recover { .. } => world.in_outage(node),
    };
    if !applies {
        let state = if isolated { "isolated" } else { "connected" };
        let detail = format!("{fault}: skipped, node is {status:?} and {state}");
        world.record("harness", EventKind::Fault, detail);
        return;
    }
    world.record("harness", EventKind::Fault, fault.to_string());
    world.history().faults.push((rt::now(), fault.clone()));
    match fault {
        Fault::Crash { .. } => world.crash_node(node),
        Fault::Restart { .. } => world.restart_node(node),
        Fault::Pause { .. } => world.pause_node(node),
        Fault::Resume { .. } => world.resume_node(node),
        Fault::Isolate { .. } => world.set_isolated(node, true),
        Fault::Rejoin { .. } => world.set_isolated(node, false),
        Fault::Outage { .. } => world.set_outage(node, true),
        Fault::Recover { .. } => world.set_outage(node, false),
    }
}

/// Ends the chaos phase: request faults stop, every crashed node restarts, every paused node
/// resumes, every isolated node rejoins.
fn heal(world: &World) {
    world.end_chaos();
    world.record("harness", EventKind::Phase, "heal: faults stop".to_string());
    for node in world.node_names() {
        if world.is_isolated(&node) {
            apply_fault(world, &Fault::rejoin(&node));
        }
        if world.in_outage(&node) {
            apply_fault(world, &Fault::recover(&node));
        }
        match world.status(&node) {
            NodeStatus::Up => {}
            NodeStatus::Down => apply_fault(world, &Fault::restart(&node)),
            NodeStatus::Paused => apply_fault(world, &Fault::resume(&node)),
        }
    }
}

/// After healing: the workload must be done, `always` must still hold, `eventually` must hold.
fn check_end(world: &World, case: &Case, properties: &[Property]) {
    let pending = world.pending_processes();
    if !pending.is_empty() {
        let reason = format!(
            "virtual-time bound {} reached with processes still running: {}",
            describe(case.bounds.time_max),
            pending.join(", ")
        );
        world.fail(FailureClass::Liveness, bound::VIRTUAL_TIME, reason);
        return;
    }
    // Every property is checked, so a report names all that fail, not only the first.
    let violations = {
        let history = world.history();
        let of = |modality| {
            properties
                .iter()
                .filter(move |property| property.modality() == modality)
        };
        let mut found =
            world::violations(of(Modality::Always), &history, FailureClass::Correctness);
        found.extend(world::violations(
            of(Modality::Eventually),
            &history,
            FailureClass::Liveness,
        ));
        found
    };
    world.fail_all(violations);
    if !world.failed() {
        let detail = format!("all checks pass; {} events", world.event_count());
        world.record("harness", EventKind::Phase, detail);
    }
}

fn sometimes_hits(world: &World, properties: &[Property]) -> BTreeMap<String, bool> {
    let history = world.history();
    properties
        .iter()
        .filter(|property| property.modality() == Modality::Sometimes)
        .map(|property| (property.name().to_string(), property.hit(&history)))
        .collect()
}
