//! Conformance of the simulated Postgres (`syncsim_services::pg`) with a real
//! PostgreSQL: the same interleaved-session scripts run on both and must give the same log.
//!
//! ```text
//!  specs/<case>.spec ──spec::parse──▶ Spec ──runner::run_spec──▶ Vec<PermutationLog>
//!                                        │        ├─ sim_backend: the engine, synchronous
//!                                        │        └─ real_backend: tokio-postgres, real tokio
//!  expected/<case>.out ◀── outcome::render (recorded from the real server)
//!  compare: sim log vs real log (or vs the recording when no server is reachable)
//!  generate: proptest scripts (small schemas, 2-3 sessions) for differential testing
//!  server: SYNCSIM_PG_URL, or a throwaway local server from the installed binaries
//! ```
//!
//! Everything here runs outside any simulation: the real backend uses real sockets, timers
//! and processes, each use marked where clippy's determinism bans are lifted.
//! Not covered: NOTIFY delivery, statement and lock timeouts, error message texts.

pub mod compare;
pub mod confirm;
pub mod corpus;
pub mod generate;
pub mod history_spec;
pub mod outcome;
pub mod real_backend;
pub mod runner;
pub mod server;
pub mod sim_backend;
pub mod spec;
