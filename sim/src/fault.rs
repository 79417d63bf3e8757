//! Faults as data: what can go wrong with a node, and a plan of when it does.
//!
//! A `FaultPlan` is a serializable list of timed node faults, applied by the run's supervisor
//! during the chaos phase; at the start of the healing phase every crashed node restarts and
//! every paused node resumes. Verbs come in pairs of equal weight (crash/restart,
//! pause/resume). Not here yet: random fault generators, network partitions and
//! service-level faults; those are drawn by the scenarios layer and offered by the services.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One fault against one named node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "fault",
    content = "node",
    rename_all = "snake_case"
)]
pub enum Fault {
    /// Kills every task of the node. A service keeps only its durable state.
    Crash(String),
    /// Boots a crashed node again: its processes start from the beginning.
    Restart(String),
    /// Freezes every task of the node (a stop-the-world pause); requests to it wait.
    Pause(String),
    /// Unfreezes a paused node.
    Resume(String),
}

impl Fault {
    /// The node the fault applies to.
    pub fn node(&self) -> &str {
        match self {
            Fault::Crash(node)
            | Fault::Restart(node)
            | Fault::Pause(node)
            | Fault::Resume(node) => node,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self {
            Fault::Crash(_) => "crash",
            Fault::Restart(_) => "restart",
            Fault::Pause(_) => "pause",
            Fault::Resume(_) => "resume",
        };
        write!(formatter, "{verb} {}", self.node())
    }
}

/// A fault at a virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedFault {
    /// When the fault happens, from the start of the run.
    pub at: Duration,
    /// What happens.
    pub fault: Fault,
}

/// The timed faults of one run, kept sorted by time (stable for equal times).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The faults, in the order they are applied.
    pub timed: Vec<TimedFault>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// Adds `fault` at `at`; keeps the plan sorted by time.
    pub fn at(mut self, at: Duration, fault: Fault) -> FaultPlan {
        self.timed.push(TimedFault { at, fault });
        self.timed.sort_by_key(|timed| timed.at);
        self
    }

    /// The faults in time order.
    pub fn faults(&self) -> &[TimedFault] {
        &self.timed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_time_order_and_round_trips_through_json() {
        let plan = FaultPlan::new()
            .at(Duration::from_secs(2), Fault::Restart("worker-0".into()))
            .at(Duration::from_secs(1), Fault::Crash("worker-0".into()));
        assert_eq!(plan.faults()[0].fault, Fault::Crash("worker-0".into()));
        let json = serde_json::to_string(&plan).expect("serializable");
        assert!(
            json.contains(r#""fault":"crash","node":"worker-0""#),
            "{json}"
        );
        let back: FaultPlan = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, plan);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let bad = r#"{"timed":[],"random":[]}"#;
        let error = serde_json::from_str::<FaultPlan>(bad).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `random`"),
            "{error}"
        );
    }
}
