//! `Ctx`: everything a model process may touch, and nothing else.
//!
//! A process gets a `Ctx` for its node: virtual time, its own random stream, coverage marks,
//! notes in the trace, and calls to services over the simulated request path (seeded latency
//! each way, requests lost while the service's node is down, held while it is paused). Not
//! offered: madsim, tokio, real time, real I/O, or any other global.
//!
//! Modelling choice: a request travels inside the caller's task. A caller crashed during the
//! outbound leg loses its request (it never left the process); a caller paused during that
//! leg delivers it when it resumes. The reply leg behaves the same way for the caller.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::prng::Prng;
use crate::rt;
use crate::service::{Caller, Service, ServiceRef};
use crate::time::VirtualTime;
use crate::trace::EventKind;
use crate::world::{NodeStatus, World};

/// Why a call to a service got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No reply within the call timeout: the service's node was down or paused too long. The
    /// request may or may not have been applied; the caller cannot know.
    Timeout,
}

impl fmt::Display for CallError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => formatter.write_str("no reply within the call timeout"),
        }
    }
}

impl std::error::Error for CallError {}

/// How often a request held by a paused service looks again whether the node resumed.
const PAUSE_POLL: Duration = Duration::from_millis(1);

/// The handle a process uses to act in the simulation.
#[derive(Clone)]
pub struct Ctx {
    world: Arc<World>,
    node: Arc<str>,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Ctx({})", self.node)
    }
}

impl Ctx {
    pub(crate) fn new(world: Arc<World>, node: Arc<str>) -> Ctx {
        Ctx { world, node }
    }

    /// The name of this process's node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The current virtual time.
    pub fn now(&self) -> VirtualTime {
        rt::now()
    }

    /// Sleeps for `duration` of virtual time.
    pub async fn sleep(&self, duration: Duration) {
        rt::sleep(duration).await;
    }

    /// Draws from this node's own random stream (derived from the master seed and the node
    /// name, so other nodes' draws do not shift it).
    pub fn random<R>(&self, draw: impl FnOnce(&mut Prng) -> R) -> R {
        self.world.with_node_prng(&self.node, draw)
    }

    /// Hits the coverage mark `name` (`"<model>: <situation>"`); `sometimes` properties read it.
    pub fn mark(&self, name: &str) {
        self.world.mark(&self.node, name);
    }

    /// Writes a model-level note into the trace.
    pub fn note(&self, detail: impl Into<String>) {
        self.world
            .record(&self.node, EventKind::Note, detail.into());
    }

    /// Sends `request` to `service` and waits for its reply. Each leg takes a seeded latency.
    /// The service applies the request atomically on arrival; `always` properties are checked
    /// right after.
    pub async fn call<S: Service>(
        &self,
        service: &ServiceRef<S>,
        request: S::Request,
    ) -> Result<S::Response, CallError> {
        let (there, back) = self.world.draw_latencies();
        let timeout = self.world.net.call_timeout;
        self.world.record(
            &self.node,
            EventKind::Send,
            format!("{}: {request:?}", service.name()),
        );
        rt::sleep(there).await;
        let budget = timeout.saturating_sub(there);
        let waited = match self.wait_until_up(service.name(), budget).await {
            Ok(waited) => waited,
            Err(waited) => {
                let remaining = budget.saturating_sub(waited);
                return Err(self.time_out(service.name(), &request, remaining).await);
            }
        };
        let detail = format!("{request:?}");
        let response = service.lock().apply(
            Caller {
                node: &self.node,
                now: rt::now(),
            },
            request,
        );
        self.world.record(
            service.name(),
            EventKind::Apply,
            format!("{detail} -> {response:?}"),
        );
        self.world.check_always();
        if there + waited + back > timeout {
            rt::sleep(timeout.saturating_sub(there + waited)).await;
            self.world.record(
                &self.node,
                EventKind::Recv,
                format!("{}: timeout", service.name()),
            );
            return Err(CallError::Timeout);
        }
        rt::sleep(back).await;
        self.world.record(
            &self.node,
            EventKind::Recv,
            format!("{}: {response:?}", service.name()),
        );
        Ok(response)
    }

    /// Waits while `node` is paused. Returns how long it waited: `Ok` when the node is up,
    /// `Err` when it is down or stayed paused past `budget`.
    async fn wait_until_up(&self, node: &str, budget: Duration) -> Result<Duration, Duration> {
        let mut waited = Duration::ZERO;
        loop {
            match self.world.status(node) {
                NodeStatus::Up => return Ok(waited),
                NodeStatus::Down => return Err(waited),
                NodeStatus::Paused if waited >= budget => return Err(waited),
                NodeStatus::Paused => {
                    rt::sleep(PAUSE_POLL).await;
                    waited += PAUSE_POLL;
                }
            }
        }
    }

    /// The request is lost; the caller learns it only when its timeout runs out.
    async fn time_out<R: fmt::Debug>(
        &self,
        node: &str,
        request: &R,
        remaining: Duration,
    ) -> CallError {
        self.world.record(
            node,
            EventKind::Drop,
            format!("from {}: {request:?}", self.node),
        );
        rt::sleep(remaining).await;
        self.world
            .record(&self.node, EventKind::Recv, format!("{node}: timeout"));
        CallError::Timeout
    }
}
