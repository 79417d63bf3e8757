//! Models of real systems, each in a module folder with its variants, processes and
//! properties. A model is what a syncsim user writes for their own system.
//!
//! Module map:
//! - `counter`: the toy model, two workers doing read-modify-write on a shared counter;
//!   the README quickstart and the kernel's proof that a sweep finds a lost update.
//! - `org_sync`: identity-provider webhooks applied to a table with a unique slug, per-org
//!   workflows retried forever; `blind_upsert` (caught) and `fetch_then_write` (holds).
//! - `campaign_control`: pause/resume/stop through a broker fast path and sender caches;
//!   `ttl_only` and `request_correlation` (caught), `fixed` (holds).
//! - `role_sync`: a school app's roles mirrored to a CRM through jobs and Heroku
//!   Connect-like tables; `unguarded` (caught) and `guarded` (holds).
//! - `contract_outbox`: a contract signature and its outbox event, drained by a cron worker
//!   that emails the parent; `no_outbox` and `no_txn` (caught), `fixed` (holds).
//! - `journey_sessions`: journeys whose sessions reference a local `contacts` table the
//!   service never fills; `original`, `start_best_effort` and `lazy_upsert_on_crm_schema`
//!   (caught), `lazy_upsert` (holds).
//!
//! - `upstream`: objects reaching the CRM from elsewhere, shared by the CRM models.
//! - `deployed`: a scenario's partial table of settings read over a deployed value.

pub mod campaign_control;
pub mod contract_outbox;
pub mod counter;
mod deployed;
pub mod journey_sessions;
pub mod org_sync;
#[cfg(test)]
mod pg_test;
pub mod role_sync;
mod upstream;
