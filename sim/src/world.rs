//! The world of one run: its nodes, services and processes, and the shared state the
//! harness keeps while it runs (trace, ground truth, node status, the first failure).
//!
//! ```text
//!   supervisor ──faults──▶ nodes (madsim) ──processes──▶ Ctx::call ──▶ services
//!        │                                                    │
//!        └──────────── World: trace, History, status ◀────────┘
//! ```
//!
//! A model fills a `WorldBuilder`; the run turns it into madsim nodes. Not modelled: node
//! placement, CPU cost of work (a process only spends virtual time when it sleeps or calls).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::fault::RequestFaults;
use crate::history::History;
use crate::prng::Prng;
use crate::property::{Property, Verdict};
use crate::report::{bound, Failure, FailureClass, Violation};
use crate::rt::{self, NodeRef};
use crate::seed::Seed;
use crate::service::{Service, ServiceRef};
use crate::time::VirtualTime;
use crate::trace::{Event, EventKind};

/// The boxed future of one process. Not `Send`: a process lives on one node's task set.
pub type ProcessFuture = Pin<Box<dyn Future<Output = ()>>>;
type ProcessFactory = Arc<dyn Fn(Ctx) -> ProcessFuture + Send + Sync>;
type CrashHook = Arc<dyn Fn() + Send + Sync>;
/// Starts (true) or ends (false) an outage of the service on a node.
type OutageHook = Arc<dyn Fn(bool) + Send + Sync>;

/// Latency and timeouts of the request path between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Shortest one-way delay of a message.
    #[serde(with = "humantime_serde")]
    pub latency_min: Duration,
    /// Longest one-way delay of a message.
    #[serde(with = "humantime_serde")]
    pub latency_max: Duration,
    /// How long a client waits for a reply before it gives up with `CallError::Timeout`.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
}

struct ProcessSpec {
    name: String,
    daemon: bool,
    factory: ProcessFactory,
}

struct NodeSpec {
    name: String,
    processes: Vec<ProcessSpec>,
    crash_hook: Option<CrashHook>,
    outage_hook: Option<OutageHook>,
}

/// What a model fills in: services and nodes with their processes.
#[derive(Default)]
pub struct WorldBuilder {
    nodes: Vec<NodeSpec>,
    /// The nodes' names, so adding one is not a scan of all the others (setup stays
    /// near-linear in the node count).
    node_names: BTreeSet<String>,
    services: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
}

/// Adds processes to one node; returned by `WorldBuilder::node`.
pub struct NodeBuilder<'a> {
    spec: &'a mut NodeSpec,
}

impl NodeBuilder<'_> {
    /// A process that does a finite piece of work; the run waits for it to finish.
    pub fn process<F, Fut>(self, name: &str, process: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add(name, false, process)
    }

    /// A process that runs until the run ends (a poller, a daemon); the run does not wait for it.
    pub fn daemon<F, Fut>(self, name: &str, process: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add(name, true, process)
    }

    fn add<F, Fut>(self, name: &str, daemon: bool, process: F) -> Self
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        assert!(
            self.spec
                .processes
                .iter()
                .all(|existing| existing.name != name),
            "node {} already has a process named {name:?}",
            self.spec.name
        );
        self.spec.processes.push(ProcessSpec {
            name: name.to_string(),
            daemon,
            factory: Arc::new(move |ctx| Box::pin(process(ctx))),
        });
        self
    }
}

impl WorldBuilder {
    /// Registers a service on its own node named `name`, returning the handle clients call
    /// and properties read.
    pub fn service<S: Service>(&mut self, name: &str, service: S) -> ServiceRef<S> {
        let state = Arc::new(Mutex::new(service));
        let handle = ServiceRef {
            name: Arc::from(name),
            state: state.clone(),
            kind: PhantomData,
        };
        let crashed = handle.clone();
        self.service_node(name, state, move || crashed.lock().crash());
        handle
    }

    /// Registers `state` as the service on its own node `name`; `crash` runs when that node
    /// crashes. For services with their own adapter (Postgres) rather than `Service`.
    pub fn service_node<T: Send + 'static>(
        &mut self,
        name: &str,
        state: Arc<Mutex<T>>,
        crash: impl Fn() + Send + Sync + 'static,
    ) {
        let spec = self.add_node(name);
        spec.crash_hook = Some(Arc::new(crash));
        self.services.insert(name.to_string(), state);
    }

    /// Registers `state` as ground truth readable by properties as the service `name`, with
    /// no node of its own: the harness records into it from the nodes that act (job workers).
    pub fn ground_truth<T: Send + 'static>(&mut self, name: &str, state: Arc<Mutex<T>>) {
        assert!(
            !self.services.contains_key(name),
            "a service named {name:?} already exists"
        );
        self.services.insert(name.to_string(), state);
    }

    /// Declares node `name` with processes whose ground truth is `state`, readable by
    /// properties as the service `name`. Its crash keeps `state` as it is: the state is the
    /// durable part; what the processes held in memory dies with them.
    pub fn stateful_node<T: Send + 'static>(
        &mut self,
        name: &str,
        state: Arc<Mutex<T>>,
    ) -> NodeBuilder<'_> {
        self.services.insert(name.to_string(), state);
        self.node(name)
    }

    /// Declares a node that runs processes; `name` must be unique in the world.
    pub fn node(&mut self, name: &str) -> NodeBuilder<'_> {
        NodeBuilder {
            spec: self.add_node(name),
        }
    }

    fn add_node(&mut self, name: &str) -> &mut NodeSpec {
        assert!(
            self.node_names.insert(name.to_string()),
            "a node named {name:?} already exists"
        );
        assert!(name != "harness", "the node name \"harness\" is reserved");
        self.nodes.push(NodeSpec {
            name: name.to_string(),
            processes: Vec::new(),
            crash_hook: None,
            outage_hook: None,
        });
        self.nodes.last_mut().expect("just pushed")
    }

    /// Lets faults start and end an outage of the service on node `name` (declared already).
    pub fn set_outage_hook(&mut self, name: &str, hook: impl Fn(bool) + Send + Sync + 'static) {
        let spec = self
            .nodes
            .iter_mut()
            .find(|node| node.name == name)
            .expect("the node is declared before its outage hook");
        spec.outage_hook = Some(Arc::new(hook));
    }

    /// The names of the nodes whose service models outages.
    pub fn outage_node_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.outage_hook.is_some())
            .map(|node| node.name.clone())
            .collect()
    }

    /// The names of the nodes, in declaration order.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.name.clone()).collect()
    }
}

/// Whether a node is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Running.
    Up,
    /// Crashed; requests to it are lost.
    Down,
    /// Frozen; requests to it wait.
    Paused,
}

struct NodeState {
    madsim: Option<NodeRef>,
    status: NodeStatus,
    /// Cut off the network: requests from and to it are lost.
    isolated: bool,
    crash_hook: Option<CrashHook>,
    outage_hook: Option<OutageHook>,
    in_outage: bool,
    /// Workload (non-daemon) processes that have not finished since the node last started.
    pending: BTreeSet<String>,
    workload: BTreeSet<String>,
}

/// The request faults drawn for one call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DrawnRequestFaults {
    /// Refuse the request without applying it.
    pub reject: bool,
    /// Apply it and lose the reply.
    pub reply_lost: bool,
    /// Apply it twice (an at-least-once network delivered it again).
    pub duplicate: bool,
    /// Extra latency on the reply leg, so later replies can overtake it.
    pub extra_delay: Duration,
}

/// Panic payload that aborts a run whose failure is already recorded.
pub(crate) struct RunAborted;

/// Actions (events a process tries to record) after the run failed before the process is
/// taken for a runaway that never yields, and unwound. Far above what processes do between
/// two yields; low enough that the unwinding comes within milliseconds.
const RUNAWAY_ACTIONS_MAX: u64 = 100_000;

/// The shared state of one run.
pub struct World {
    pub(crate) seed: Seed,
    pub(crate) net: NetConfig,
    history: Mutex<History>,
    nodes: Mutex<BTreeMap<String, NodeState>>,
    net_prng: Mutex<Prng>,
    request_faults: Option<RequestFaults>,
    request_prng: Mutex<Prng>,
    chaos: AtomicBool,
    node_prngs: Mutex<BTreeMap<String, Prng>>,
    always: Vec<Property>,
    /// Where each `always` property's last check stopped (`Property::always_since`).
    always_positions: Mutex<Vec<usize>>,
    /// The run's clock, taken at its first event (the world is made before the runtime).
    clock: OnceLock<rt::Clock>,
    failure: Mutex<Option<Failure>>,
    events_max: u64,
    event_count: AtomicU64,
    wall_timeout: AtomicBool,
    /// Events processes tried to record after the run failed (`stop_a_runaway`).
    actions_after_failure: AtomicU64,
    /// Whether the run keeps its services' ground truth for tools after it ends
    /// (`Case::run_keeping_services`): services may then record more than properties read.
    keeps_services: AtomicBool,
    wake: Mutex<Option<UnboundedSender<()>>>,
    /// What services share across one run, one value per type (`World::slot`).
    slots: Mutex<BTreeMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// madsim nodes a service made for its own timers (a server's kernel): no fault reaches
    /// them, but the run's end kills them like the others.
    service_nodes: Mutex<Vec<NodeRef>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock is held is already a reported failure; keep reading the state.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl World {
    /// Marks the run as one whose services' ground truth outlives it (set before it starts).
    pub(crate) fn keep_services(&self) {
        self.keeps_services.store(true, Ordering::SeqCst);
    }

    /// Whether the services' ground truth outlives the run: a service may then record what
    /// only tools read (the Postgres server's SQL history), which a sweep would pay for.
    pub fn keeps_services(&self) -> bool {
        self.keeps_services.load(Ordering::SeqCst)
    }

    pub(crate) fn new(
        seed: Seed,
        net: NetConfig,
        properties: &[Property],
        events_max: u64,
        request_faults: Option<RequestFaults>,
    ) -> Self {
        let always: Vec<Property> = properties
            .iter()
            .filter(|property| property.modality() == crate::property::Modality::Always)
            .cloned()
            .collect();
        World {
            seed,
            net,
            history: Mutex::new(History::default()),
            nodes: Mutex::new(BTreeMap::new()),
            net_prng: Mutex::new(Prng::new(seed.stream("net"))),
            request_faults,
            request_prng: Mutex::new(Prng::new(seed.stream("requests"))),
            chaos: AtomicBool::new(true),
            node_prngs: Mutex::new(BTreeMap::new()),
            always_positions: Mutex::new(vec![0; always.len()]),
            always,
            clock: OnceLock::new(),
            failure: Mutex::new(None),
            events_max,
            event_count: AtomicU64::new(0),
            wall_timeout: AtomicBool::new(false),
            actions_after_failure: AtomicU64::new(0),
            keeps_services: AtomicBool::new(false),
            wake: Mutex::new(None),
            slots: Mutex::new(BTreeMap::new()),
            service_nodes: Mutex::new(Vec::new()),
        }
    }

    /// The run's master seed: a service derives its own streams from it.
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// The network's latency and call timeout.
    pub fn net(&self) -> &NetConfig {
        &self.net
    }

    /// The run's one value of type `T`, made by `T::default()` on first use: where a service
    /// keeps what all its nodes share for the run (the HTTP endpoints' request channels), so
    /// the kernel holds no field named after a service. Looked up by type, never iterated.
    pub fn slot<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut slots = lock(&self.slots);
        let slot = slots
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        Arc::clone(slot)
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("a slot is keyed by its value's type"))
    }

    pub(crate) fn set_waker(&self, sender: UnboundedSender<()>) {
        *lock(&self.wake) = Some(sender);
    }

    fn wake_supervisor(&self) {
        if let Some(sender) = lock(&self.wake).as_ref() {
            // The supervisor may have finished; a lost wake-up is then harmless.
            let _ = sender.unbounded_send(());
        }
    }

    pub(crate) fn history(&self) -> MutexGuard<'_, History> {
        lock(&self.history)
    }

    /// Records an event. After a failure nothing more is recorded, so the trace ends at it.
    pub(crate) fn record(&self, node: &str, kind: EventKind, detail: String) {
        self.record_message(node, kind, None, detail);
    }

    /// The current virtual time, read through the run's clock.
    pub(crate) fn now(&self) -> VirtualTime {
        self.clock.get_or_init(rt::Clock::current).now()
    }

    /// Records an event about a message between `node` and `peer`.
    pub fn record_message(&self, node: &str, kind: EventKind, peer: Option<&str>, detail: String) {
        if self.wall_timeout.load(Ordering::Relaxed) && !self.failed() {
            let reason = "the wall-clock bound ran out".to_string();
            self.fail(FailureClass::Liveness, bound::WALL_TIME, reason);
        }
        if self.failed() {
            self.stop_a_runaway();
            return;
        }
        let count = self.event_count.fetch_add(1, Ordering::Relaxed) + 1;
        if count > self.events_max {
            let reason = format!("more than {} trace events", self.events_max);
            self.fail(FailureClass::Liveness, bound::EVENTS, reason);
            return;
        }
        let event = Event {
            time: self.now(),
            node: node.to_string(),
            kind,
            peer: peer.map(str::to_string),
            detail,
        };
        lock(&self.history).trace.push(event);
    }

    pub(crate) fn event_count(&self) -> u64 {
        self.event_count.load(Ordering::Relaxed)
    }

    pub(crate) fn mark(&self, node: &str, name: &str) {
        *lock(&self.history)
            .marks
            .entry(name.to_string())
            .or_default() += 1;
        self.record(node, EventKind::Mark, name.to_string());
    }

    pub(crate) fn failed(&self) -> bool {
        lock(&self.failure).is_some()
    }

    pub(crate) fn failure(&self) -> Option<Failure> {
        lock(&self.failure).clone()
    }

    /// Records the run's failure now (the first one wins) and wakes the supervisor.
    pub(crate) fn fail(&self, class: FailureClass, property: &str, reason: String) {
        self.fail_at(rt::now(), class, property, reason);
    }

    /// Records the run's failure at `time`; used directly once the runtime is gone.
    pub(crate) fn fail_at(
        &self,
        time: VirtualTime,
        class: FailureClass,
        property: &str,
        reason: String,
    ) {
        let violation = Violation {
            class,
            property: property.to_string(),
            reason,
            entities: Vec::new(),
        };
        self.fail_all_at(time, vec![violation]);
    }

    /// Records every property that failed in one check: the first is the run's failure, the
    /// rest its `also` (the first failure wins over any later one).
    pub(crate) fn fail_all(&self, violations: Vec<Violation>) {
        self.fail_all_at(rt::now(), violations);
    }

    fn fail_all_at(&self, time: VirtualTime, violations: Vec<Violation>) {
        let mut violations = violations.into_iter();
        let Some(first) = violations.next() else {
            return;
        };
        let also: Vec<Violation> = violations.collect();
        let lines: Vec<String> = std::iter::once(&first)
            .chain(&also)
            .map(|violation| {
                let (class, property) = (violation.class, &violation.property);
                format!("{class}: {property}: {}", violation.reason)
            })
            .collect();
        {
            let mut failure = lock(&self.failure);
            if failure.is_some() {
                return;
            }
            *failure = Some(Failure {
                class: first.class,
                property: first.property,
                reason: first.reason,
                entities: first.entities,
                time,
                also,
            });
        }
        let mut history = lock(&self.history);
        for detail in lines {
            history.trace.push(Event {
                time,
                node: "harness".to_string(),
                kind: EventKind::Check,
                peer: None,
                detail,
            });
        }
        drop(history);
        self.wake_supervisor();
    }

    /// After a failure (a bound hit), the supervisor ends the run at its next turn, quietly:
    /// processes keep going until they yield, their events no longer recorded. A process that
    /// acts on and on without ever yielding would never give it that turn, so once the
    /// processes together acted `RUNAWAY_ACTIONS_MAX` times after the failure, the one acting
    /// is unwound (madsim then prints the task's context on stderr: the one bound exit that
    /// does). Counted over all processes, not per task: the supervisor is woken at the
    /// failure, so healthy processes act only a few times before its turn.
    fn stop_a_runaway(&self) {
        let actions = self.actions_after_failure.fetch_add(1, Ordering::Relaxed) + 1;
        if actions > RUNAWAY_ACTIONS_MAX {
            std::panic::panic_any(RunAborted);
        }
    }

    pub(crate) fn abort_for_wall_time(&self) {
        self.wall_timeout.store(true, Ordering::Relaxed);
    }

    /// Checks every `always` property against the current ground truth.
    pub fn check_always(&self) {
        if self.always.is_empty() || self.failed() {
            return;
        }
        let violations = {
            let history = lock(&self.history);
            let mut positions = lock(&self.always_positions);
            let verdicts = self.always.iter().zip(positions.iter_mut());
            verdicts
                .filter_map(|(property, position)| {
                    let verdict = property.verdict_since(&history, position);
                    violation(property, verdict, FailureClass::Correctness)
                })
                .collect()
        };
        self.fail_all(violations);
    }

    /// Draws the two one-way delays of a request and its reply.
    pub(crate) fn draw_latencies(&self) -> (Duration, Duration) {
        let min = self.net.latency_min.as_micros() as u64;
        let max = self.net.latency_max.as_micros() as u64;
        let mut prng = lock(&self.net_prng);
        let there = prng.range_inclusive(min, max);
        let back = prng.range_inclusive(min, max);
        (Duration::from_micros(there), Duration::from_micros(back))
    }

    /// Ends the chaos phase: no more request faults.
    pub(crate) fn end_chaos(&self) {
        self.chaos.store(false, Ordering::Relaxed);
    }

    /// Draws the request faults of one call to `target` (all off outside the chaos phase,
    /// and for a target the plan's request faults do not name).
    pub(crate) fn draw_request_faults(&self, target: &str) -> DrawnRequestFaults {
        let Some(faults) = self.request_faults.as_ref() else {
            return DrawnRequestFaults::default();
        };
        if !faults.applies_to(target) {
            return DrawnRequestFaults::default();
        }
        if !self.chaos.load(Ordering::Relaxed) {
            return DrawnRequestFaults::default();
        }
        let mut prng = lock(&self.request_prng);
        let delayed = prng.chance(faults.delay_probability);
        let delay_max_micros = faults.delay_max.as_micros() as u64;
        DrawnRequestFaults {
            reject: prng.chance(faults.reject_probability),
            reply_lost: prng.chance(faults.reply_lost_probability),
            duplicate: prng.chance(faults.duplicate_probability),
            extra_delay: if delayed {
                Duration::from_micros(prng.range_inclusive(0, delay_max_micros))
            } else {
                Duration::ZERO
            },
        }
    }

    pub(crate) fn with_node_prng<R>(&self, node: &str, draw: impl FnOnce(&mut Prng) -> R) -> R {
        let mut prngs = lock(&self.node_prngs);
        let prng = prngs
            .entry(node.to_string())
            .or_insert_with(|| Prng::new(self.seed.stream(&format!("node/{node}"))));
        draw(prng)
    }

    /// Whether `node` is up, down or paused.
    pub fn status(&self, node: &str) -> NodeStatus {
        lock(&self.nodes)
            .get(node)
            .unwrap_or_else(|| panic!("no node named {node:?}"))
            .status
    }

    pub(crate) fn node_names(&self) -> Vec<String> {
        lock(&self.nodes).keys().cloned().collect()
    }

    /// `node/process` for every workload process that has not finished.
    pub(crate) fn pending_processes(&self) -> Vec<String> {
        let nodes = lock(&self.nodes);
        let mut pending = Vec::new();
        for (name, node) in nodes.iter() {
            pending.extend(
                node.pending
                    .iter()
                    .map(|process| format!("{name}/{process}")),
            );
        }
        pending
    }

    fn node_started(&self, node: &str) {
        let mut nodes = lock(&self.nodes);
        let state = nodes.get_mut(node).expect("a started node is registered");
        state.pending = state.workload.clone();
    }

    fn process_finished(&self, node: &str, process: &str) {
        let all_done = {
            let mut nodes = lock(&self.nodes);
            let state = nodes.get_mut(node).expect("a process's node is registered");
            state.pending.remove(process);
            nodes.values().all(|node| node.pending.is_empty())
        };
        self.record(node, EventKind::Done, process.to_string());
        if all_done {
            self.wake_supervisor();
        }
    }

    /// `node`'s status, and whether the link between it and `from` is cut (either is
    /// isolated), read under one lock: the check every request makes on arrival.
    pub fn link(&self, from: &str, node: &str) -> (NodeStatus, bool) {
        let nodes = lock(&self.nodes);
        let isolated = |name: &str| nodes.get(name).is_some_and(|state| state.isolated);
        let status = nodes
            .get(node)
            .unwrap_or_else(|| panic!("no node named {node:?}"))
            .status;
        (status, isolated(node) || isolated(from))
    }

    /// Whether `node` is cut off the network.
    pub fn is_isolated(&self, node: &str) -> bool {
        lock(&self.nodes)
            .get(node)
            .is_some_and(|state| state.isolated)
    }

    pub(crate) fn set_isolated(&self, node: &str, isolated: bool) {
        lock(&self.nodes)
            .get_mut(node)
            .expect("registered node")
            .isolated = isolated;
    }

    pub(crate) fn set_status(&self, node: &str, status: NodeStatus) {
        let mut nodes = lock(&self.nodes);
        nodes.get_mut(node).expect("registered node").status = status;
    }

    fn madsim_node(&self, node: &str) -> Option<NodeRef> {
        lock(&self.nodes).get(node).and_then(|state| state.madsim)
    }

    fn crash_hook(&self, node: &str) -> Option<CrashHook> {
        lock(&self.nodes)
            .get(node)
            .and_then(|state| state.crash_hook.clone())
    }

    pub(crate) fn in_outage(&self, node: &str) -> bool {
        lock(&self.nodes)
            .get(node)
            .is_some_and(|state| state.in_outage)
    }

    /// Starts or ends the outage of the service on `node` (validated to model outages).
    pub(crate) fn set_outage(&self, node: &str, outage: bool) {
        let hook = {
            let mut nodes = lock(&self.nodes);
            let state = nodes.get_mut(node).expect("registered node");
            state.in_outage = outage;
            state.outage_hook.clone()
        };
        if let Some(hook) = hook {
            hook(outage);
        }
    }

    pub(crate) fn crash_node(&self, node: &str) {
        if let Some(madsim) = self.madsim_node(node) {
            rt::kill(madsim);
        }
        self.set_status(node, NodeStatus::Down);
        if let Some(hook) = self.crash_hook(node) {
            hook();
        }
    }

    pub(crate) fn restart_node(&self, node: &str) {
        self.set_status(node, NodeStatus::Up);
        match self.madsim_node(node) {
            Some(madsim) => rt::restart(madsim),
            None => self.node_started(node),
        }
    }

    pub(crate) fn pause_node(&self, node: &str) {
        if let Some(madsim) = self.madsim_node(node) {
            rt::pause(madsim);
        }
        self.set_status(node, NodeStatus::Paused);
    }

    pub(crate) fn resume_node(&self, node: &str) {
        if let Some(madsim) = self.madsim_node(node) {
            rt::resume(madsim);
        }
        self.set_status(node, NodeStatus::Up);
    }

    /// Makes a madsim node for a service's own timers; `kill_all` kills it with the rest.
    pub fn create_service_node(&self, name: &str) -> NodeRef {
        let node = rt::create_service_node(name);
        lock(&self.service_nodes).push(node);
        node
    }

    /// Kills every node: nothing of this run may outlive it. A task left parked on a madsim
    /// timer is not freed by dropping the runtime (its sleep holds the timer that holds its
    /// waker), so one left alive would leak the run's whole world.
    pub(crate) fn kill_all(&self) {
        let mut madsim_nodes: Vec<NodeRef> = lock(&self.nodes)
            .values()
            .filter_map(|node| node.madsim)
            .collect();
        madsim_nodes.extend(lock(&self.service_nodes).iter().copied());
        for node in madsim_nodes {
            rt::kill(node);
        }
    }
}

/// Turns the builder into running madsim nodes; must run inside the runtime.
pub(crate) fn install(world: &Arc<World>, builder: WorldBuilder) {
    lock(&world.history).services = builder.services;
    for spec in builder.nodes {
        let workload: BTreeSet<String> = spec
            .processes
            .iter()
            .filter(|process| !process.daemon)
            .map(|process| process.name.clone())
            .collect();
        lock(&world.nodes).insert(
            spec.name.clone(),
            NodeState {
                madsim: None,
                status: NodeStatus::Up,
                isolated: false,
                crash_hook: spec.crash_hook.clone(),
                outage_hook: spec.outage_hook.clone(),
                in_outage: false,
                // Pending from the start: the node's init task has not been polled yet.
                pending: workload.clone(),
                workload,
            },
        );
        if spec.processes.is_empty() {
            continue;
        }
        let madsim = start_node(world, spec);
        lock(&world.nodes)
            .get_mut(&madsim.0)
            .expect("just inserted")
            .madsim = Some(madsim.1);
    }
}

fn start_node(world: &Arc<World>, spec: NodeSpec) -> (String, NodeRef) {
    let node_name: Arc<str> = Arc::from(spec.name.as_str());
    let processes: Arc<Vec<ProcessSpec>> = Arc::new(spec.processes);
    let world_for_init = world.clone();
    let init_name = node_name.clone();
    let init = move || {
        let world = world_for_init.clone();
        let node_name = init_name.clone();
        let processes = processes.clone();
        async move {
            world.node_started(&node_name);
            world.record(
                &node_name,
                EventKind::Start,
                format!("{} process(es)", processes.len()),
            );
            for process in processes.iter() {
                let ctx = Ctx::new(world.clone(), node_name.clone());
                let future = (process.factory)(ctx);
                let world = world.clone();
                let node = node_name.clone();
                let name = process.name.clone();
                let daemon = process.daemon;
                rt::spawn_local(async move {
                    future.await;
                    if !daemon {
                        world.process_finished(&node, &name);
                    }
                });
            }
            // madsim treats the end of a node's init task as the node exiting, which would
            // kill its processes: the init task lives as long as the node.
            futures::future::pending::<()>().await;
        }
    };
    let madsim = rt::create_node(&node_name, init);
    (spec.name, madsim)
}

/// Every property of `properties` that `history` violates, in order, as failures of `class`.
pub(crate) fn violations<'a>(
    properties: impl IntoIterator<Item = &'a Property>,
    history: &History,
    class: FailureClass,
) -> Vec<Violation> {
    properties
        .into_iter()
        .filter_map(|property| violation(property, property.verdict(history), class))
        .collect()
}

/// The violation `verdict` is, if it is one.
fn violation(property: &Property, verdict: Verdict, class: FailureClass) -> Option<Violation> {
    match verdict {
        Verdict::Pass => None,
        Verdict::Violated { reason, entities } => Some(Violation {
            class,
            property: property.name().to_string(),
            reason,
            entities,
        }),
    }
}
