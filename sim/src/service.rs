//! Services: sans-IO state machines that the harness serves on nodes.
//!
//! A service is a plain struct with `apply(request) -> response`, testable alone. The harness
//! owns it (behind a lock, shared with properties that read its ground truth), delivers
//! requests to it with seeded latency, and tells it when its node crashes so it can drop what
//! is not durable. Not modelled here: requests that wait inside the service (row locks); a
//! service that needs them gets its own adapter.

use std::fmt::{Debug, Display};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::time::VirtualTime;

/// Who is calling and when, handed to `Service::apply`.
#[derive(Clone, Debug)]
pub struct Caller<'a> {
    /// The name of the calling node.
    pub node: &'a str,
    /// The virtual time at which the request is applied.
    pub now: VirtualTime,
}

/// A sans-IO service: a state machine that applies requests.
pub trait Service: Send + 'static {
    /// What clients send. Its `Display` is the text of the trace's send and apply lines:
    /// written for people, and free of Rust field names, so renaming a field changes no
    /// trace and no digest.
    type Request: Display + Clone + Send + 'static;
    /// What the service answers (a service with nothing to say answers [`Ack`]).
    type Response: Display + Clone + Send + 'static;

    /// Applies one request atomically and records it in the service's ground truth.
    fn apply(&mut self, caller: Caller<'_>, request: Self::Request) -> Self::Response;

    /// The network delivered `request` a second time (a request fault). By default it is
    /// applied again, as a server without deduplication would; a service whose protocol makes
    /// the copy mean something else (a broker's fetch) says so here.
    fn apply_duplicate(&mut self, caller: Caller<'_>, request: Self::Request) -> Self::Response {
        self.apply(caller, request)
    }

    /// The node crashed: keep durable state, drop the rest.
    fn crash(&mut self);
}

/// The answer of a service that has nothing to say but that it applied the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack;

impl Display for Ack {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ok")
    }
}

/// A typed handle to a service registered in a world: clients call it, properties read it.
pub struct ServiceRef<S> {
    pub(crate) name: Arc<str>,
    pub(crate) state: Arc<Mutex<S>>,
    pub(crate) kind: PhantomData<fn() -> S>,
}

impl<S> Clone for ServiceRef<S> {
    fn clone(&self) -> Self {
        ServiceRef {
            name: self.name.clone(),
            state: self.state.clone(),
            kind: PhantomData,
        }
    }
}

impl<S> Debug for ServiceRef<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "ServiceRef({})", self.name)
    }
}

impl<S> ServiceRef<S> {
    /// The name of the service's node.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service's state, for the service's own async face (the service kit); a model
    /// goes through `Ctx::call`.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<S: Service> crate::history::GroundTruth for ServiceRef<S> {
    type State = S;

    fn service_name(&self) -> &str {
        &self.name
    }
}
