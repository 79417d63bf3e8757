//! Tests of the broker engine: `unit` pins single behaviours; `props` runs random operation
//! sequences (`harness`) checked reply by reply and by a ground-truth `auditor`, each property
//! shown able to fail by a deliberate bug (`../mutation.rs`) it catches.

mod auditor;
mod consuming;
mod drain;
mod harness;
mod kafka;
mod mutants_settlement;
mod props;
mod unit;

use std::time::Duration;

use super::{Broker, BrokerConfig};
use syncsim_sim::time::VirtualTime;

/// `ms` milliseconds into the run.
fn at(ms: u64) -> VirtualTime {
    VirtualTime(Duration::from_millis(ms))
}

/// A broker whose auto-created topics get `partitions_default` partitions.
fn broker(partitions_default: u32) -> Broker {
    Broker::new(BrokerConfig {
        partitions_default,
        ..BrokerConfig::per_message()
    })
}
