//! Models of real systems, each in a module folder with its variants, processes and
//! properties. A model is what a syncsim user writes for their own system.
//!
//! Module map:
//! - `counter`: the toy model, two workers doing read-modify-write on a shared counter;
//!   the README quickstart and the kernel's proof that a sweep finds a lost update.
//!
//! The five production systems of the design (role_sync, journey_sessions,
//! campaign_control, contract_outbox, org_sync) join as their services land.

pub mod counter;
