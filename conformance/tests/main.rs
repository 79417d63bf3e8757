//! The conformance tests: the corpus against the recorded real-server logs (always), against
//! a live server (when one is reachable), and random scripts differentially.

mod differential;
mod live;
mod offline;
mod support;
