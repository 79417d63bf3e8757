//! syncsim's kernel: deterministic runs of a model on a seeded virtual clock, with a trace,
//! named properties and reports. It knows no model.
//!
//! Module map:
//! - `seed`, `prng`: the master seed, derived streams, the integer-only ChaCha8 generator.
//! - `rt`: the only module that touches madsim (runtime, nodes, virtual time, tasks).
//! - `time`: virtual time and its rendering.
//! - `world`: what a model builds (services, nodes, processes) and the run's shared state.
//! - `ctx`: the handle a process acts through (sleep, random, mark, call a service).
//! - `service`: the sans-IO service trait and typed handles.
//! - `fault`: faults as data: timed faults, random generators, swarm, request faults.
//! - `kit`: what a simulated service uses of the kernel beyond a model's `Ctx` (the
//!   `syncsim-services` crate is written against it).
//! - `knob`: the workload integers a model lets shrinking lower.
//! - `limits`: the largest sizes and durations a case may ask for, checked at load.
//! - `trace`: the one-line-per-event trace and its stable digest.
//! - `history`, `property`: ground truth and the `always`/`eventually`/`sometimes` properties.
//! - `quick`: `Case::quick`, a case from a closure with test defaults (no `Model` impl).
//! - `run`, `sweep`, `report`: one case on one seed, many seeds, and what a failure prints.
//! - `render`: the trace as a Mermaid sequence diagram and as a Chrome trace.
//!
//! A run is a pure function of the case and the seed:
//!
//! ```
//! use syncsim_sim::{Seed, Trace};
//! assert_eq!(Seed(42).stream("faults"), Seed(42).stream("faults"));
//! assert_eq!(Trace::default().digest().len(), 16);
//! ```
#![warn(missing_docs)]

pub mod ctx;
pub mod fault;
pub mod history;
pub mod kit;
pub mod knob;
pub mod limits;
pub mod model;
pub mod prng;
pub mod property;
pub mod quick;
pub mod render;
pub mod report;
mod rt;
pub mod run;
pub mod seed;
pub mod service;
pub mod sweep;
pub mod time;
pub mod trace;
pub mod trip;
pub mod world;

pub use ctx::{CallError, Ctx};
pub use fault::{Episode, Episodes, Fault, FaultPlan, RandomFault, RequestFaults, TimedFault};
pub use history::{GroundTruth, History, ServiceKey, ServiceStates};
pub use knob::Knob;
pub use model::{select_properties, Model, ModelConfig, PropertyParameters};
pub use prng::{Prng, Ratio};
pub use property::{Modality, Property, Verdict};
pub use quick::CaseBuilder;
pub use report::{Failure, FailureClass, Report, Violation};
pub use rt::is_simulated;
pub use run::{Bounds, Case, CaseError, Outcome, Phases};
pub use seed::{Seed, SeedRange};
pub use service::{Ack, Caller, Service, ServiceRef};
pub use sweep::{seed_range, Sweep};
pub use time::VirtualTime;
pub use trace::{Divergence, Event, EventKind, Trace};
pub use world::{NetConfig, NodeBuilder, NodeStatus, WorldBuilder};
