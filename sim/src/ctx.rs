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
use crate::world::{DrawnRequestFaults, NodeStatus, World};

/// Why a call to a service got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No reply within the call timeout: the service's node was down, unreachable or paused
    /// too long, or the reply was lost. The request may or may not have been applied; the
    /// caller cannot know.
    Timeout,
    /// The service refused the request (an overload or 5xx answer); nothing was applied.
    Rejected,
}

impl fmt::Display for CallError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => formatter.write_str("no reply within the call timeout"),
            CallError::Rejected => formatter.write_str("the service rejected the request"),
        }
    }
}

impl std::error::Error for CallError {}

/// How often a request held by a paused service looks again whether the node resumed.
const PAUSE_POLL: Duration = Duration::from_millis(1);

/// Where a request's outbound leg left it ([`Ctx::send_request`]): the kernel's one rule for
/// the way there, shared by `Ctx::call`, HTTP and the Postgres connection.
#[derive(Clone, Copy, Debug)]
pub struct Outbound {
    /// The outbound latency the request took.
    pub there: Duration,
    /// The reply leg's latency, drawn with it.
    pub back: Duration,
    /// The caller's call timeout.
    pub timeout: Duration,
    /// The request faults drawn for it (none unless asked for, or outside the chaos phase).
    pub drawn: DrawnRequestFaults,
    /// `Ok(waited)`: the target was up and reachable on arrival, after waiting this long for
    /// a pause to end; `Err(waited)`: it was down, cut off, or paused past the timeout.
    pub reached: Result<Duration, Duration>,
}

impl Outbound {
    /// What is left of the call timeout after the outbound leg and any wait on arrival.
    pub fn remaining(&self) -> Duration {
        let waited = match self.reached {
            Ok(waited) | Err(waited) => waited,
        };
        self.timeout.saturating_sub(self.there + waited)
    }
}

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
    /// right after. During the chaos phase the plan's request faults may reject the request,
    /// deliver it twice, lose the reply after the side effect, or delay the reply.
    pub async fn call<S: Service>(
        &self,
        service: &ServiceRef<S>,
        request: S::Request,
    ) -> Result<S::Response, CallError> {
        let target = service.name();
        let outbound = self
            .send_request(target, format!("{request:?}"), true)
            .await;
        let Outbound {
            there,
            back,
            timeout,
            drawn,
            ..
        } = outbound;
        let Ok(waited) = outbound.reached else {
            let detail = format!("request lost: {request:?}");
            self.lose(target, detail, outbound.remaining()).await;
            return Err(CallError::Timeout);
        };
        if drawn.reject {
            self.message(
                target,
                EventKind::Apply,
                &self.node,
                format!("{request:?} -> rejected"),
            );
            rt::sleep(back).await;
            self.message(&self.node, EventKind::Recv, target, "rejected".to_string());
            return Err(CallError::Rejected);
        }
        let response = self.apply(service, request, drawn.duplicate);
        if drawn.reply_lost {
            let detail = format!("reply lost: {response:?}");
            self.lose(target, detail, outbound.remaining()).await;
            return Err(CallError::Timeout);
        }
        let back = back + drawn.extra_delay;
        if there + waited + back > timeout {
            rt::sleep(timeout.saturating_sub(there + waited)).await;
            self.message(&self.node, EventKind::Recv, target, "timeout".to_string());
            return Err(CallError::Timeout);
        }
        rt::sleep(back).await;
        self.message(&self.node, EventKind::Recv, target, format!("{response:?}"));
        Ok(response)
    }

    /// Applies `request` (twice when `duplicate`: an at-least-once network delivered it again)
    /// and checks the `always` properties.
    fn apply<S: Service>(
        &self,
        service: &ServiceRef<S>,
        request: S::Request,
        duplicate: bool,
    ) -> S::Response
    where
        S::Request: Clone,
    {
        let detail = format!("{request:?}");
        let caller = || Caller {
            node: &self.node,
            now: rt::now(),
        };
        let copy = duplicate.then(|| request.clone());
        let response = service.lock().apply(caller(), request);
        self.message(
            service.name(),
            EventKind::Apply,
            &self.node,
            format!("{detail} -> {response:?}"),
        );
        self.world.check_always();
        if let Some(copy) = copy {
            let again = service.lock().apply_duplicate(caller(), copy);
            let note = format!("{detail} -> {again:?} (duplicate delivery)");
            self.message(service.name(), EventKind::Apply, &self.node, note);
            self.world.check_always();
        }
        response
    }

    /// The run's shared state, for services (the service kit, [`crate::kit`]).
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// Records a message event of `kind` on `node` with `peer` (a service's send, apply,
    /// receive or drop line).
    pub fn message(&self, node: &str, kind: EventKind, peer: &str, detail: String) {
        self.world.record_message(node, kind, Some(peer), detail);
    }

    /// The outbound leg of a request to `target` (the service kit's one way there): draws
    /// both latencies (and the request faults when `with_faults`), records the send line
    /// `request`, travels, then waits while the target is paused, within the call timeout.
    pub async fn send_request(&self, target: &str, request: String, with_faults: bool) -> Outbound {
        let (there, back) = self.world.draw_latencies();
        let drawn = if with_faults {
            self.world.draw_request_faults(target)
        } else {
            DrawnRequestFaults::default()
        };
        let timeout = self.world.net.call_timeout;
        self.message(&self.node, EventKind::Send, target, request);
        rt::sleep(there).await;
        let reached = self
            .wait_until_reachable(target, timeout.saturating_sub(there))
            .await;
        Outbound {
            there,
            back,
            timeout,
            drawn,
            reached,
        }
    }

    /// The kernel's one rule for a request or reply lost in the network: `target` records
    /// the loss (`detail`), and the caller learns it only when its timeout runs out, after
    /// `remaining`, as a `timeout` reply.
    pub async fn lose(&self, target: &str, detail: String, remaining: Duration) {
        self.message(target, EventKind::Drop, &self.node, detail);
        rt::sleep(remaining).await;
        self.message(&self.node, EventKind::Recv, target, "timeout".to_string());
    }

    /// Waits while `node` is paused. Returns how long it waited: `Ok` when the node is up
    /// and reachable, `Err` when it is down, either side is isolated, or it stayed paused past
    /// `budget`.
    pub async fn wait_until_reachable(
        &self,
        node: &str,
        budget: Duration,
    ) -> Result<Duration, Duration> {
        let mut waited = Duration::ZERO;
        loop {
            if self.world.is_isolated(node) || self.world.is_isolated(&self.node) {
                return Err(waited);
            }
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
}
