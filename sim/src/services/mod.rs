//! Simulated services, each a sans-IO state machine with its own ground-truth log.
//!
//! - `register`: a durable key-value register with compare-and-set, the smallest service
//!   that can lose an update; it backs the toy model and the kernel's own tests.
//!
//! - `http`: request/response between nodes; a node serves an async handler.
//! - `pg`: a PostgreSQL 15 engine (parser, MVCC heaps, row and advisory locks, constraints,
//!   read committed and repeatable read) driven one statement at a time.
//!
//! The broker, the CRM mirror and the job queue join here as they land.

pub mod http;
pub mod pg;
pub mod register;
