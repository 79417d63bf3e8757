//! Integration tests of the syncsim facade: one test binary, one module per concern.
//!
//! Each module's header says what it proves and how. Shared test models live in `support`.

mod bounds;
mod broker;
mod broker_faults;
mod build;
mod campaign_control;
mod catalog;
mod cli;
mod confirm;
mod contract_outbox;
mod crm;
mod deployment;
mod determinism;
mod exploration;
mod faults;
mod http;
mod jobs;
mod journey_sessions;
mod leaks;
mod mutants_shrink;
mod org_sync;
mod postgres;
mod properties;
mod registry;
mod robustness;
mod role_sync;
mod scenario_files;
mod serializable;
mod snapshots;
mod support;
mod tidy;
mod webhook;
mod workflow;
