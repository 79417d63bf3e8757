//! Comparing the simulated log of a case with the real server's (live, or as recorded in
//! `expected/<case>.out`), for the tests and the `syncsim conformance` table.

use crate::corpus::Case;
use crate::outcome::{render, summary};
use crate::real_backend::RealDriver;
use crate::runner::{run_spec, Driver};
use crate::sim_backend::SimDriver;

/// Where the real side of a comparison came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealSource {
    /// Run just now on a server.
    Live,
    /// Read from `expected/<case>.out`.
    Recorded,
    /// Neither: no server and no recording.
    Missing,
}

/// One side's outcome: the rendered log and its summary, or why the backend failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// The rendered log (as in `expected/*.out`), or the backend error.
    pub log: Result<String, String>,
    /// A one-line summary for the table.
    pub summary: String,
}

/// The comparison of one case.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case name.
    pub case: String,
    /// The simulated side.
    pub sim: Side,
    /// The real side, if any.
    pub real: Option<Side>,
    /// Where the real side came from.
    pub source: RealSource,
}

impl CaseReport {
    /// Whether both sides produced the same log (false when a side failed or is missing).
    pub fn agrees(&self) -> bool {
        matches!((&self.sim.log, self.real.as_ref().map(|r| &r.log)),
            (Ok(sim), Some(Ok(real))) if sim == real)
    }

    /// The first differing line of the two logs, for messages.
    pub fn first_difference(&self) -> Option<String> {
        let sim = self
            .sim
            .log
            .as_ref()
            .map_or_else(Clone::clone, Clone::clone);
        let real = self.real.as_ref().map_or_else(String::new, |r| {
            r.log.as_ref().map_or_else(Clone::clone, Clone::clone)
        });
        first_difference(&sim, &real)
    }
}

/// The first line where `sim` and `real` differ, as `line N: sim `…` / real `…``.
pub fn first_difference(sim: &str, real: &str) -> Option<String> {
    let mut sim_lines = sim.lines();
    let mut real_lines = real.lines();
    for number in 1.. {
        match (sim_lines.next(), real_lines.next()) {
            (None, None) => return None,
            (left, right) if left == right => {}
            (left, right) => {
                return Some(format!(
                    "line {number}: sim `{}` / real `{}`",
                    left.unwrap_or("<end>"),
                    right.unwrap_or("<end>")
                ))
            }
        }
    }
    None
}

fn side(driver: &mut dyn Driver, case: &Case) -> Side {
    match run_spec(driver, &case.spec) {
        Ok(logs) => Side {
            log: Ok(render(&logs)),
            summary: summary(&logs),
        },
        Err(error) => Side {
            log: Err(error.to_string()),
            summary: format!("backend error: {error}"),
        },
    }
}

/// Runs `case` on the simulation and, with `real`, on the server; without one the real side
/// is the recording.
pub fn compare_case(case: &Case, real: Option<&mut RealDriver>) -> CaseReport {
    let sim = side(&mut SimDriver::default(), case);
    let (real, source) = match (real, &case.expected) {
        (Some(driver), _) => (Some(side(driver, case)), RealSource::Live),
        (None, Some(expected)) => (
            Some(Side {
                log: Ok(expected.clone()),
                summary: "recorded".to_string(),
            }),
            RealSource::Recorded,
        ),
        (None, None) => (None, RealSource::Missing),
    };
    CaseReport {
        case: case.spec.name.clone(),
        sim,
        real,
        source,
    }
}
