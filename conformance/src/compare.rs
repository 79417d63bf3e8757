//! Comparing the simulated log of a case with the real server's (live, or as recorded in
//! `expected/<case>.out`), permutation by permutation, for the tests and the `syncsim
//! conformance` table.
//!
//! A permutation agrees when both logs are the same line for line (SQLSTATEs compared, error
//! messages not). One that differs is "unsupported" when the simulation answered `0A000`
//! (SQL outside its subset) at or before the first difference: the difference is explained by
//! a construct the simulation refuses, not by a wrong answer. Any other difference is a bug of
//! the simulation (or of the runner) until shown otherwise.

use crate::corpus::Case;
use crate::outcome::{join, split, summary, PermutationLog};
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

/// How one permutation compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Both logs are the same.
    Agrees,
    /// They differ, after the simulation refused SQL as unsupported (0A000).
    Unsupported,
    /// They differ otherwise.
    Differs,
}

/// One side's outcome: each permutation's log text (codes only), the same with error
/// messages for people, and a summary; or why the backend failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// Per permutation, the rendered log (as in `expected/*.out`), or the backend error.
    pub logs: Result<Vec<String>, String>,
    /// Per permutation, the log with error messages after the SQLSTATEs (empty for a
    /// recording, which has codes only).
    pub detailed: Vec<String>,
    /// A one-line summary for the table.
    pub summary: String,
}

impl Side {
    /// Permutation `index` for people: with error messages when this side has them.
    pub fn shown(&self, index: usize) -> String {
        match (&self.logs, self.detailed.get(index)) {
            (_, Some(detailed)) => detailed.clone(),
            (Ok(logs), None) => logs.get(index).cloned().unwrap_or_default(),
            (Err(error), None) => format!("backend error: {error}\n"),
        }
    }

    /// The first SQL the simulation refused (its `ERROR 0A000` line, with the message).
    pub fn first_refusal(&self) -> Option<String> {
        self.detailed
            .iter()
            .flat_map(|text| text.lines())
            .find(|line| line.contains("ERROR 0A000"))
            .map(str::to_string)
    }

    /// The whole log as in `expected/<case>.out`, or the backend error.
    pub fn text(&self) -> Result<String, String> {
        self.logs.clone().map(|logs| join(logs.into_iter()))
    }

    fn from_logs(logs: &[PermutationLog]) -> Side {
        Side {
            logs: Ok(logs.iter().map(|log| log.text(false)).collect()),
            detailed: logs.iter().map(|log| log.text(true)).collect(),
            summary: summary(logs),
        }
    }
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
    /// Per permutation, how it compares (empty when a side failed as a whole).
    pub verdicts: Vec<Verdict>,
    /// The permutations the case has.
    pub permutations: usize,
}

impl CaseReport {
    /// Whether both sides produced the same log (false when a side failed or is missing).
    pub fn agrees(&self) -> bool {
        self.verdicts.len() == self.permutations
            && self
                .verdicts
                .iter()
                .all(|verdict| *verdict == Verdict::Agrees)
    }

    /// How permutation `index` compares; when a side failed as a whole, every permutation is
    /// unsupported if the failure names unsupported input, else differing.
    pub fn verdict_at(&self, index: usize) -> Verdict {
        if let Some(verdict) = self.verdicts.get(index) {
            return *verdict;
        }
        match &self.sim.logs {
            Err(error) if error.starts_with("unsupported") => Verdict::Unsupported,
            _ => Verdict::Differs,
        }
    }

    /// How many permutations got `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        (0..self.permutations)
            .filter(|index| self.verdict_at(*index) == verdict)
            .count()
    }

    /// The first differing line of the two logs, for messages.
    pub fn first_difference(&self) -> Option<String> {
        let text = |side: Option<&Side>| match side.map(Side::text) {
            Some(Ok(text)) => text,
            Some(Err(error)) => format!("backend error: {error}"),
            None => String::new(),
        };
        first_difference(&text(Some(&self.sim)), &text(self.real.as_ref()))
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

/// How the simulated text of one permutation compares with the real one.
pub fn verdict(sim: &str, real: &str) -> Verdict {
    if sim == real {
        return Verdict::Agrees;
    }
    let same_prefix = sim
        .lines()
        .zip(real.lines())
        .take_while(|(left, right)| left == right)
        .count();
    let refused = sim
        .lines()
        .take(same_prefix + 1)
        .any(|line| line.contains("ERROR 0A000"));
    if refused {
        Verdict::Unsupported
    } else {
        Verdict::Differs
    }
}

fn side(driver: &mut dyn Driver, case: &Case) -> Side {
    match run_spec(driver, &case.spec) {
        Ok(logs) => Side::from_logs(&logs),
        Err(error) => Side {
            logs: Err(error.to_string()),
            detailed: Vec::new(),
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
                logs: Ok(split(expected)),
                detailed: Vec::new(),
                summary: "recorded".to_string(),
            }),
            RealSource::Recorded,
        ),
        (None, None) => (None, RealSource::Missing),
    };
    let verdicts = match (&sim.logs, real.as_ref().map(|side| &side.logs)) {
        (Ok(sim), Some(Ok(real))) if sim.len() == real.len() => sim
            .iter()
            .zip(real)
            .map(|(sim, real)| verdict(sim, real))
            .collect(),
        _ => Vec::new(),
    };
    CaseReport {
        case: case.spec.name.clone(),
        sim,
        real,
        source,
        verdicts,
        permutations: case.spec.permutations().len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_after_an_unsupported_answer_is_unsupported() {
        let real = "permutation a\na: ok 1\nb: rows [x] (1)\n";
        assert_eq!(verdict(real, real), Verdict::Agrees);
        let refused = "permutation a\na: ERROR 0A000\nb: ERROR 42P01\n";
        assert_eq!(verdict(refused, real), Verdict::Unsupported);
        let wrong = "permutation a\na: ok 1\nb: rows [x] (2)\n";
        assert_eq!(verdict(wrong, real), Verdict::Differs);
        // A refusal after the first difference does not explain it.
        let late = "permutation a\na: ok 2\nb: ERROR 0A000\n";
        assert_eq!(verdict(late, real), Verdict::Differs);
    }
}
