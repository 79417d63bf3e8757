//! Runs a script's permutations on a backend, the way PostgreSQL's isolationtester does: issue
//! each step in permutation order; a step that cannot finish is recorded as `<waiting>` and the
//! permutation goes on; after every step the backend settles (every issued step has finished
//! or waits stably for a lock) and the steps that finished are recorded.
//!
//! The rules that make both backends produce the same log, whatever the real server's timing:
//! - the issued step's own outcome comes first; other steps that finished while settling follow
//!   in session order (the real server's wake-up order within one settle is not observable);
//! - while the waiting steps form a wait-for cycle, settling goes on: the deadlock detector
//!   (after `deadlock_timeout`) is part of the outcome;
//! - a step whose session still waits is not issued (`<not issued: session waiting>`);
//! - steps still waiting at the end are recorded and their sessions closed.
//!
//! Not modelled: statement and lock timeouts (a settle would have to wait them out on the
//! real server), NOTIFY delivery, step markers of newer isolationtesters.

use std::collections::BTreeSet;

use crate::outcome::{Event, PermutationLog, StepResult};
use crate::spec::Spec;

/// A failure of the backend itself (not of a step): the script or the server is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(pub String);

impl std::fmt::Display for BackendError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// What a settle found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Sessions whose issued step finished, with the result.
    pub finished: Vec<(usize, StepResult)>,
}

/// One server the runner drives: the simulated engine or a real PostgreSQL.
pub trait Driver {
    /// Starts a permutation from an empty database: runs the shared setup blocks, opens one
    /// connection per session and runs each session's setup. Returns the setup failures.
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError>;
    /// Sends a step's SQL on `session` without waiting for it.
    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError>;
    /// Waits until every issued step has finished or waits stably, then reports the ones that
    /// finished since the last settle.
    fn settle(&mut self) -> Result<Settled, BackendError>;
    /// Closes every session (rolling back what is open).
    fn finish(&mut self) -> Result<(), BackendError>;
}

/// Runs every permutation of `spec` on `driver`.
pub fn run_spec(driver: &mut dyn Driver, spec: &Spec) -> Result<Vec<PermutationLog>, BackendError> {
    spec.permutations
        .iter()
        .map(|permutation| run_permutation(driver, spec, permutation))
        .collect()
}

fn run_permutation(
    driver: &mut dyn Driver,
    spec: &Spec,
    permutation: &[String],
) -> Result<PermutationLog, BackendError> {
    let mut events = driver.start(spec)?;
    let mut waiting: Vec<Option<String>> = vec![None; spec.sessions.len()];
    for step in permutation {
        let session = spec
            .step_session(step)
            .ok_or_else(|| BackendError(format!("unknown step {step}")))?;
        if waiting[session].is_some() {
            events.push(Event::Busy { step: step.clone() });
            continue;
        }
        let sql = spec.step_sql(step).unwrap_or_default();
        driver.issue(session, sql)?;
        waiting[session] = Some(step.clone());
        let mut settled = driver.settle()?;
        settled.finished.sort_by_key(|(finished, _)| *finished);
        match settled
            .finished
            .iter()
            .position(|(finished, _)| *finished == session)
        {
            Some(index) => {
                let (_, result) = settled.finished.remove(index);
                waiting[session] = None;
                events.push(Event::Ran {
                    step: step.clone(),
                    result,
                });
            }
            None => events.push(Event::Waiting { step: step.clone() }),
        }
        for (finished, result) in settled.finished {
            let step = waiting[finished].take().unwrap_or_default();
            events.push(Event::Finished { step, result });
        }
    }
    events.extend(
        waiting
            .into_iter()
            .flatten()
            .map(|step| Event::StillWaiting { step }),
    );
    driver.finish()?;
    Ok(PermutationLog {
        permutation: permutation.to_vec(),
        events,
    })
}

/// Whether the wait-for graph (`edges[i]` = sessions that `i` waits for) has a cycle through
/// any waiting session.
pub fn has_cycle(edges: &[Vec<usize>]) -> bool {
    (0..edges.len()).any(|start| {
        let mut seen = BTreeSet::new();
        let mut frontier = edges[start].clone();
        while let Some(next) = frontier.pop() {
            if next == start {
                return true;
            }
            if seen.insert(next) {
                frontier.extend(edges.get(next).into_iter().flatten().copied());
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::has_cycle;

    #[test]
    fn finds_cycles_only_where_there_are_some() {
        assert!(has_cycle(&[vec![1], vec![0]]));
        assert!(has_cycle(&[vec![1], vec![2], vec![0]]));
        assert!(!has_cycle(&[vec![1], vec![], vec![1]]));
        assert!(!has_cycle(&[vec![], vec![]]));
    }
}
