//! syncsim's simulated services, each a state machine with its own ground-truth log, and its
//! async face. Written against the kernel's model API and its service kit
//! (`syncsim_sim::kit`) only: the kernel knows none of them.
//!
//! A model brings them onto the kernel's types with the [`prelude`]:
//! `world.postgres(..)`, `world.broker(..)`, `ctx.http(..)`, `node.http(..)`.
//!
//! - `register`: a durable key-value register with compare-and-set, the smallest service
//!   that can lose an update; it backs the toy model and the harness's integration tests.
//! - `pg`: a PostgreSQL 15 engine (parser, MVCC heaps, row and advisory locks, constraints,
//!   read committed and repeatable read) driven one statement at a time, served on a node.
//! - `http`: request/response between nodes; a node serves an async handler.
//! - `webhook`: an external webhook source delivering events at least once over `http`.
//! - `crm`: the CRM (an object store by external id) and its Heroku Connect-like mirror:
//!   tables in `pg` pushed by a sync daemon, each on its own cadence.
//! - `workflow`: a Temporal-like executor: signals run serially per key, activities retry by
//!   policy (forever included), execution at least once across worker crashes.
//! - `broker`: a Kafka-like broker (topics, partitions, consumer groups) with RabbitMQ-style
//!   acks: at-least-once redelivery, nack to requeue, drop or dead-letter, retention.
//! - `jobs`: an ActiveJob-on-GoodJob queue: job rows in `pg` enqueued inside the caller's
//!   transaction, workers claiming with a lease, `retry_on` / `discard_on` policies, cron.

#![warn(missing_docs)]

pub mod broker;
pub mod crm;
pub mod http;
pub mod jobs;
pub mod pg;
pub mod register;
mod text;
pub mod webhook;
pub mod workflow;

/// The extension traits that put the services on the kernel's `WorldBuilder`, `NodeBuilder`
/// and `Ctx`: `use syncsim_services::prelude::*;`.
pub mod prelude {
    pub use crate::broker::BrokerWorld;
    pub use crate::crm::CrmWorld;
    pub use crate::http::{HttpCall, HttpServe};
    pub use crate::jobs::JobsWorld;
    pub use crate::pg::PostgresWorld;
    pub use crate::webhook::WebhookWorld;
    pub use crate::workflow::WorkflowWorld;
}
