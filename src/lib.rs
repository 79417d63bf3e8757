//! syncsim: a deterministic simulation test harness for sync pipelines across Postgres, a
//! message broker, a CRM mirror, job workers and webhook sources.
//!
//! This facade re-exports the four layers, which depend on each other in one direction:
//! - [`sim`]: the kernel (seeds, runs, trace, properties, the service kit); knows no service.
//! - [`services`]: the simulated services (Postgres, broker, CRM mirror, jobs, workflows,
//!   HTTP, webhooks), written against the kernel's service kit.
//! - [`models`]: models of real systems, each with variants and properties.
//! - [`scenarios`]: the named catalog of scenarios with expectations and seed budgets.
//! - [`cli`]: the `syncsim` command, for this crate's binary and a user crate's own.
//!
//! ```
//! let scenario = syncsim::scenarios::find("counter/unguarded").expect("in the catalog");
//! let outcome = scenario.case().run(syncsim::sim::Seed(1));
//! assert_eq!(outcome.digest(), scenario.case().run(syncsim::sim::Seed(1)).digest());
//! ```

pub mod cli;

pub use syncsim_models as models;
pub use syncsim_scenarios as scenarios;
pub use syncsim_services as services;
pub use syncsim_sim as sim;
