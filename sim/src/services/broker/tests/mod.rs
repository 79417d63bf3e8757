//! Tests of the broker engine: `unit` pins single behaviours; `props` runs random operation
//! sequences (`harness`) checked reply by reply and by a ground-truth `auditor`, each property
//! shown able to fail by a deliberate bug (`../mutation.rs`) it catches.

mod auditor;
mod harness;
mod props;
mod unit;
