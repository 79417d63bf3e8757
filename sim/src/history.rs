//! Ground truth of a run, as recorded by the harness and the services (never by the model).
//!
//! Properties read a `History`: the state and logs of every service (each service records
//! what it really applied), coverage marks, the faults that were applied, and the trace.
//! Not recorded: what a model process believes happened; that is exactly what properties must
//! not trust.

use std::any::Any;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fault::Fault;
use crate::time::VirtualTime;
use crate::trace::Trace;

/// The ground truth a property reads.
#[derive(Default)]
pub struct History {
    pub(crate) trace: Trace,
    pub(crate) marks: BTreeMap<String, u64>,
    pub(crate) faults: Vec<(VirtualTime, Fault)>,
    pub(crate) services: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
}

impl History {
    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// How many times the coverage mark `name` was hit.
    pub fn mark_count(&self, name: &str) -> u64 {
        self.marks.get(name).copied().unwrap_or(0)
    }

    /// The faults applied so far, with their virtual times.
    pub fn faults(&self) -> &[(VirtualTime, Fault)] {
        &self.faults
    }

    /// Locks and returns the state `source` names, typed by it: a [`ServiceKey`] a model
    /// declares once, or a service's handle. Panics like [`History::service`].
    pub fn read<G: GroundTruth>(&self, source: &G) -> MutexGuard<'_, G::State> {
        self.service::<G::State>(source.service_name())
    }

    /// Locks and returns the state of service `name`. Panics when no service of that name and
    /// type exists: a property naming the wrong service is a bug in the model.
    pub fn service<S: Send + 'static>(&self, name: &str) -> MutexGuard<'_, S> {
        let any = self
            .services
            .get(name)
            .unwrap_or_else(|| panic!("no service named {name:?} in this run"));
        let state = any
            .downcast_ref::<Mutex<S>>()
            .unwrap_or_else(|| panic!("service {name:?} is not a {}", std::any::type_name::<S>()));
        state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What names a service's ground truth and its type, so a property reads it with
/// `history.read(&source)` and no string or type is spelled at the reading site.
pub trait GroundTruth {
    /// The type of the state the service records.
    type State: Send + 'static;

    /// The name the service is registered under.
    fn service_name(&self) -> &str;
}

/// A service's name and the type of its state, declared once by a model
/// (`const STORE: ServiceKey<Register> = ServiceKey::new("store");`) and used both to
/// register the service (`STORE.name()`) and to read it (`history.read(&STORE)`).
pub struct ServiceKey<S> {
    name: &'static str,
    state: PhantomData<fn() -> S>,
}

impl<S> ServiceKey<S> {
    /// The key of the service registered as `name`.
    pub const fn new(name: &'static str) -> Self {
        ServiceKey {
            name,
            state: PhantomData,
        }
    }

    /// The service's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<S> Clone for ServiceKey<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for ServiceKey<S> {}

impl<S: Send + 'static> GroundTruth for ServiceKey<S> {
    type State = S;

    fn service_name(&self) -> &str {
        self.name
    }
}

/// The services' ground truth as a run left it, kept on the run's outcome for tools that read
/// what a service recorded after the run (the SQL history of a Postgres server, say).
#[derive(Clone, Default)]
pub struct ServiceStates(BTreeMap<String, Arc<dyn Any + Send + Sync>>);

impl std::fmt::Debug for ServiceStates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_list().entries(self.0.keys()).finish()
    }
}

impl ServiceStates {
    pub(crate) fn of(history: &History) -> ServiceStates {
        ServiceStates(history.services.clone())
    }

    /// Every service whose state is an `S`, by name, locked.
    pub fn of_type<S: Send + 'static>(&self) -> Vec<(&str, MutexGuard<'_, S>)> {
        self.0
            .iter()
            .filter_map(|(name, any)| {
                let state = any.downcast_ref::<Mutex<S>>()?;
                let guard = state
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                Some((name.as_str(), guard))
            })
            .collect()
    }
}
