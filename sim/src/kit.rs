//! The service kit: what a simulated service may use of the kernel beyond what a model uses.
//! `syncsim-services` is written against it alone, and so is a user's own service.
//!
//! A model acts through [`Ctx`](crate::Ctx) and declares its world with
//! [`WorldBuilder`](crate::WorldBuilder). A service also needs:
//! - virtual time and tasks: [`now`], [`try_now`], [`sleep`], [`timeout`], [`spawn_local`],
//!   and nodes of its own for timers that outlive a caller ([`World::create_service_node`],
//!   [`spawn_on`], [`NodeRef`]);
//! - the way to another node: [`Ctx::round_trip`](crate::Ctx::round_trip) with a [`Trip`]
//!   saying what differs for this caller and a `serve` future run on arrival; the kernel
//!   owns latencies, reachability, request faults, the timeout and the send, drop and recv
//!   lines, and the one rule for what a caller learns and when ([`crate::trip`]);
//! - the run's shared state, through [`Ctx::world`](crate::Ctx::world): the seed and network
//!   ([`World::seed`], [`World::net`]), a node's status and isolation, trace messages
//!   ([`Ctx::message`](crate::Ctx::message), [`World::record_message`]), the `always` check
//!   after a state change ([`World::check_always`]) and one value per type for the whole run
//!   ([`World::slot`]);
//! - ways to register state and nodes: `WorldBuilder::service_node`, `ground_truth`,
//!   `stateful_node` and `set_outage_hook`, and `ServiceRef::lock` for a service's own state.
//!
//! Not here: the supervisor's controls (crash, restart, pause, isolate, fail the run), which
//! only faults and properties drive, and madsim itself.

pub use crate::rt::{now, sleep, spawn_local, spawn_on, timeout, try_now, NodeRef};
pub use crate::trip::{Arrival, Deadline, Served, Trip, TripError, TripFaults, WhenDown};
pub use crate::world::World;
