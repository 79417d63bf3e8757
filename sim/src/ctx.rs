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
use crate::trip::{Arrival, Served, Trip, TripError};
use crate::world::World;

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
        self.world.now()
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

    /// Sends `request` to `service` and waits for its reply, over one round trip
    /// ([`crate::trip`]): each leg takes a seeded latency, a request is lost while the service
    /// is down or cut off and held while it is paused. The service applies the request
    /// atomically on arrival; `always` properties are checked right after. During the chaos
    /// phase the plan's request faults may reject the request, deliver it twice, lose the
    /// reply after the side effect, or delay the reply.
    pub async fn call<S: Service>(
        &self,
        service: &ServiceRef<S>,
        request: S::Request,
    ) -> Result<S::Response, CallError> {
        let detail = request.to_string();
        let trip = Trip::new(service.name(), &detail);
        let serve = |arrival: Arrival| {
            let (response, text) = self.apply(service, &detail, request, arrival.duplicate);
            std::future::ready(Served::Reply(response, text))
        };
        self.round_trip(trip, serve)
            .await
            .map_err(|error| match error {
                TripError::Rejected => CallError::Rejected,
                // A stateless call is never refused or reset: its target loses what it cannot
                // serve, and the caller times out.
                TripError::Timeout | TripError::Refused | TripError::Reset => CallError::Timeout,
            })
    }

    /// Applies `request` (its text `detail`; twice when `duplicate`: an at-least-once network
    /// delivered it again) and checks the `always` properties. Returns the response and its
    /// text.
    fn apply<S: Service>(
        &self,
        service: &ServiceRef<S>,
        detail: &str,
        request: S::Request,
        duplicate: bool,
    ) -> (S::Response, String) {
        let caller = || Caller {
            node: &self.node,
            now: self.world.now(),
        };
        let copy = duplicate.then(|| request.clone());
        let response = service.lock().apply(caller(), request);
        let text = response.to_string();
        let applied = format!("{detail} -> {text}");
        self.message(service.name(), EventKind::Apply, &self.node, applied);
        self.world.check_always();
        if let Some(copy) = copy {
            let again = service.lock().apply_duplicate(caller(), copy);
            let note = format!("{detail} -> {again} (duplicate delivery)");
            self.message(service.name(), EventKind::Apply, &self.node, note);
            self.world.check_always();
        }
        (response, text)
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
}
