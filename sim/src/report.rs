//! Failures and the report a user reads: class, property, reason, time, the fault episodes,
//! trace tail. The command that replays it is the CLI's to print (`syncsim::cli::printed`):
//! the kernel knows no command line.
//!
//! Classes follow TigerBeetle's VOPR: `Crash` (a panic in model or harness code),
//! `Correctness` (an `always` property violated), `Liveness` (an `eventually` property
//! violated, or a bound hit: events, virtual time, wall time). Not included: the full trace;
//! a replay prints it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::seed::Seed;
use crate::time::VirtualTime;

/// What kind of failure a run ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FailureClass {
    /// A panic in model or harness code.
    Crash,
    /// A safety (`always`) property was violated.
    Correctness,
    /// Progress was not made: an `eventually` property failed or a bound was hit.
    Liveness,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, formatter)
    }
}

/// Names of the harness's own checks, reported like properties.
pub mod bound {
    /// Too many trace events.
    pub const EVENTS: &str = "syncsim: the run stays within its event bound";
    /// The workload did not finish by the virtual-time bound.
    pub const VIRTUAL_TIME: &str = "syncsim: the workload completes within the virtual-time bound";
    /// The run took too long in real time.
    pub const WALL_TIME: &str = "syncsim: the run stays within its wall-clock bound";
    /// Model or harness code panicked.
    pub const PANIC: &str = "syncsim: no process panics";
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The class of failure.
    pub class: FailureClass,
    /// The property (or harness check, see `bound`) that failed.
    pub property: String,
    /// What exactly went wrong, with the offending keys and values.
    pub reason: String,
    /// Virtual time of the failure.
    pub time: VirtualTime,
    /// The entities the failure is about, as trace lines spell them (`Verdict::about`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<String>,
    /// The other properties that failed in the same check: `always` ones first, then
    /// `eventually` ones, each in the model's order (the run stops at its first failing
    /// check, so properties that would fail later are not here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Violation>,
}

/// One property's failure within a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    /// The class of failure.
    pub class: FailureClass,
    /// The property that failed.
    pub property: String,
    /// What exactly went wrong.
    pub reason: String,
    /// The entities it is about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<String>,
}

/// A failed run, as printed for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The scenario id.
    pub scenario: String,
    /// The master seed.
    pub seed: Seed,
    /// Why it failed.
    pub failure: Failure,
    /// The trace digest of the run.
    pub digest: String,
    /// How many events the trace holds.
    pub event_count: usize,
    /// The run's faults: each episode with its start and length, then the request faults.
    pub faults: Vec<String>,
    /// The trace lines shown: the last ones, or the last ones that mention the failure's
    /// entities when it names some.
    pub trace_tail: Vec<String>,
    /// How many trace lines mention the failure's entities (`None`: it names none, and
    /// `trace_tail` is the run's last lines).
    pub entity_line_count: Option<usize>,
}

impl fmt::Display for Report {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(formatter, "FAILED {} seed {}", self.scenario, self.seed)?;
        writeln!(formatter, "  class:    {}", self.failure.class)?;
        writeln!(formatter, "  property: {}", self.failure.property)?;
        writeln!(formatter, "  reason:   {}", self.failure.reason)?;
        for other in &self.failure.also {
            writeln!(
                formatter,
                "  also:     {}: {}",
                other.property, other.reason
            )?;
        }
        writeln!(formatter, "  at:       {} (virtual)", self.failure.time)?;
        writeln!(
            formatter,
            "  trace:    {} events, digest {}",
            self.event_count, self.digest
        )?;
        write_faults(formatter, &self.faults)?;
        // The last line ends without a newline: the CLI follows it with the replay command.
        match self.entity_line_count {
            None => write!(formatter, "  last {} trace lines:", self.trace_tail.len())?,
            Some(count) => write!(
                formatter,
                "  last {} of {count} trace lines mentioning {}:",
                self.trace_tail.len(),
                named(&self.failure.entities)
            )?,
        }
        for line in &self.trace_tail {
            write!(formatter, "\n    {line}")?;
        }
        Ok(())
    }
}

/// Fault lines shown before a report says how many more there are: a swarm's unshrunk plan
/// can hold hundreds, and the trace tail below must stay in sight.
const FAULTS_SHOWN_MAX: usize = 12;

fn write_faults(formatter: &mut fmt::Formatter<'_>, faults: &[String]) -> fmt::Result {
    if faults.is_empty() {
        return writeln!(formatter, "  faults:   none");
    }
    writeln!(formatter, "  faults:")?;
    for fault in faults.iter().take(FAULTS_SHOWN_MAX) {
        writeln!(formatter, "    {fault}")?;
    }
    if faults.len() > FAULTS_SHOWN_MAX {
        let hidden = faults.len() - FAULTS_SHOWN_MAX;
        writeln!(
            formatter,
            "    ... and {hidden} more (the replay file lists them all)"
        )?;
    }
    Ok(())
}

/// Entities a report header names before it says how many more there are.
const ENTITIES_NAMED_MAX: usize = 3;

/// `org_0, f6e2…` : the first few entities, backquoted, and how many more.
fn named(entities: &[String]) -> String {
    let shown: Vec<String> = entities
        .iter()
        .take(ENTITIES_NAMED_MAX)
        .map(|entity| format!("`{entity}`"))
        .collect();
    match entities.len().saturating_sub(ENTITIES_NAMED_MAX) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
