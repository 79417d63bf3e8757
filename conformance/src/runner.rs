//! Runs a script's permutations on a backend, the way PostgreSQL 15's isolationtester does:
//! issue each step in permutation order; a step that cannot finish is recorded as `<waiting>`
//! and the permutation goes on; after every step the backend settles (every issued step has
//! finished or waits stably for a lock) and the waiting steps that finished are recorded.
//!
//! The rules that make both backends produce the same log, whatever the real server's timing:
//! - the issued step's own line comes first, then the earlier waiting steps that finished, in
//!   the order they started waiting (isolationtester's order);
//! - settling goes on while the waiting steps form a wait-for cycle (the deadlock detector,
//!   after each session's own `deadlock_timeout`, is part of the outcome) and while a waiting
//!   step has a `lock_timeout` or `statement_timeout` to run out;
//! - markers hold a step's report back: `(*)` reports it waiting when issued, `(other)` keeps
//!   it waiting while `other` runs;
//! - a step whose session still waits is issued once that earlier step is reported finished;
//!   if nothing left can wake the session, the permutation is invalid and stops there
//!   (`<invalid permutation ...>`), as isolationtester gives up on it;
//! - steps still waiting at the end are recorded, canceled, and the teardowns run.
//!
//! Not modelled: `notices` markers (NOTICE messages are not collected: such a permutation is a
//! backend error naming the marker), connections reused across permutations (each permutation
//! opens its sessions anew, so no session state leaks from one to the next).

use std::collections::BTreeSet;

use crate::outcome::{Event, PermutationLog, StepResult};
use crate::spec::{permutation_text, Blocker, Permutation, PermutationStep, Spec};

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
    /// Sessions whose issued step finished, with the result (in any order).
    pub finished: Vec<(usize, StepResult)>,
}

/// One server the runner drives: the simulated engine or a real PostgreSQL.
pub trait Driver {
    /// Starts a permutation from an empty database: runs the shared setup blocks, opens one
    /// connection per session and runs each session's setup. Returns the setup failures.
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError>;
    /// Sends a step's SQL on `session` without waiting for it.
    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError>;
    /// Waits until every issued step has finished or waits stably (no wait-for cycle, no
    /// lock or statement timeout left to run out), then reports the ones that finished since
    /// the last settle.
    fn settle(&mut self) -> Result<Settled, BackendError>;
    /// Cancels the steps still running, runs each session's teardown, closes the sessions and
    /// runs the shared teardown blocks. Returns the teardown failures.
    fn finish(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError>;
}

/// Runs every permutation of `spec` on `driver`.
pub fn run_spec(driver: &mut dyn Driver, spec: &Spec) -> Result<Vec<PermutationLog>, BackendError> {
    spec.permutations()
        .iter()
        .map(|permutation| run_permutation(driver, spec, permutation))
        .collect()
}

/// A step issued and not yet reported finished.
struct Active {
    entry: PermutationStep,
    /// Its result, once the server gave it (the report may be held back by a marker).
    result: Option<StepResult>,
}

/// The state of one permutation's run.
struct Run<'a> {
    driver: &'a mut dyn Driver,
    spec: &'a Spec,
    active: Vec<Option<Active>>,
    /// Sessions whose step was reported `<waiting>`, in the order they started waiting.
    waiting: Vec<usize>,
    events: Vec<Event>,
}

/// Runs one permutation on `driver`.
pub fn run_permutation(
    driver: &mut dyn Driver,
    spec: &Spec,
    permutation: &Permutation,
) -> Result<PermutationLog, BackendError> {
    refuse_notices(permutation)?;
    let events = driver.start(spec)?;
    let mut run = Run {
        driver,
        spec,
        active: spec.sessions.iter().map(|_| None).collect(),
        waiting: Vec::new(),
        events,
    };
    for entry in permutation {
        let session = spec
            .step_session(&entry.step)
            .ok_or_else(|| BackendError(format!("unknown step {}", entry.step)))?;
        if !run.wait_for_session(session, &entry.step)? {
            break;
        }
        run.issue(session, entry)?;
    }
    run.drain()?;
    let mut events = run.events;
    events.extend(driver.finish(spec)?);
    Ok(PermutationLog {
        permutation: permutation_text(permutation),
        events,
    })
}

fn refuse_notices(permutation: &Permutation) -> Result<(), BackendError> {
    let notices = permutation.iter().find(|entry| {
        entry
            .blockers
            .iter()
            .any(|blocker| matches!(blocker, Blocker::Notices { .. }))
    });
    match notices {
        Some(entry) => Err(BackendError(format!(
            "unsupported: the `notices` marker of step {} (NOTICE messages are not collected)",
            entry.step
        ))),
        None => Ok(()),
    }
}

impl Run<'_> {
    /// Lets the server move and records what finished; whether anything did.
    fn absorb(&mut self) -> Result<bool, BackendError> {
        let settled = self.driver.settle()?;
        let any = !settled.finished.is_empty();
        for (session, result) in settled.finished {
            let active = self.active.get_mut(session).and_then(Option::as_mut);
            let active = active.ok_or_else(|| {
                BackendError(format!(
                    "session {session} finished a step it was not running"
                ))
            })?;
            active.result = Some(result);
        }
        Ok(any)
    }

    /// Whether `step` was issued and is not reported finished yet.
    fn is_running(&self, step: &str) -> bool {
        self.spec
            .step_session(step)
            .and_then(|session| self.active[session].as_ref())
            .is_some_and(|active| active.entry.step == step)
    }

    /// Whether a marker holds back the report of `session`'s step.
    fn held(&self, session: usize) -> bool {
        let Some(active) = &self.active[session] else {
            return false;
        };
        active.entry.blockers.iter().any(|blocker| match blocker {
            Blocker::Step(other) => self.is_running(other),
            Blocker::Once | Blocker::Notices { .. } => false,
        })
    }

    /// Reports the waiting steps that finished, in waiting order; repeats while a report may
    /// have released a marker. Whether any was reported.
    fn report_waiters(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut progress = false;
            let mut marked = false;
            for session in self.waiting.clone() {
                let done = self.active[session]
                    .as_ref()
                    .is_some_and(|active| active.result.is_some());
                if done && !self.held(session) {
                    let active = self.active[session].take().expect("checked above");
                    self.waiting.retain(|waiter| *waiter != session);
                    self.events.push(Event::Finished {
                        step: active.entry.step,
                        result: active.result.expect("checked above"),
                    });
                    progress = true;
                } else if self.active[session]
                    .as_ref()
                    .is_some_and(|active| !active.entry.blockers.is_empty())
                {
                    marked = true;
                }
            }
            any |= progress;
            if !(marked && progress) {
                return any;
            }
        }
    }

    /// Before issuing `step` on `session`: waits for the session's earlier step to be reported
    /// finished. `false` (and an `<invalid permutation>` line) when nothing can finish it.
    fn wait_for_session(&mut self, session: usize, step: &str) -> Result<bool, BackendError> {
        while let Some(active) = &self.active[session] {
            let earlier = active.entry.step.clone();
            let finished = self.absorb()?;
            let reported = self.report_waiters();
            if self.active[session].is_some() && !finished && !reported {
                self.events.push(Event::Invalid {
                    step: step.to_string(),
                    waiting: earlier,
                });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Issues `entry` on `session`, settles, and records the step's line and then the earlier
    /// waiters that finished.
    fn issue(&mut self, session: usize, entry: &PermutationStep) -> Result<(), BackendError> {
        let sql = self.spec.step_sql(&entry.step).unwrap_or_default();
        self.driver.issue(session, sql)?;
        self.active[session] = Some(Active {
            entry: entry.clone(),
            result: None,
        });
        self.absorb()?;
        let once = entry.blockers.contains(&Blocker::Once);
        let done = self.active[session]
            .as_ref()
            .is_some_and(|active| active.result.is_some());
        let report_now = done && !once && !self.held(session);
        if report_now {
            let active = self.active[session].take().expect("issued above");
            self.events.push(Event::Ran {
                step: entry.step.clone(),
                result: active.result.expect("checked above"),
            });
        } else {
            self.events.push(Event::Waiting {
                step: entry.step.clone(),
            });
        }
        self.report_waiters();
        if !report_now {
            self.waiting.push(session);
        }
        Ok(())
    }

    /// At the end: lets the waiting steps finish while anything moves; the rest still wait.
    fn drain(&mut self) -> Result<(), BackendError> {
        while !self.waiting.is_empty() {
            let finished = self.absorb()?;
            let reported = self.report_waiters();
            if !finished && !reported {
                break;
            }
        }
        for session in std::mem::take(&mut self.waiting) {
            if let Some(active) = self.active[session].take() {
                self.events.push(Event::StillWaiting {
                    step: active.entry.step,
                });
            }
        }
        Ok(())
    }
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
    use super::{has_cycle, run_spec};
    use crate::outcome::render;
    use crate::sim_backend::SimDriver;
    use crate::spec::parse;

    const ROWS: &str = "setup { CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); }\n\
        session s1\nsetup { BEGIN; }\nstep lock1 { SELECT id FROM t FOR UPDATE; }\n\
        step c1 { COMMIT; }\n\
        session s2\nstep share2 { SELECT id FROM t FOR SHARE; }\nstep again2 { SELECT 2 AS x; }\n\
        session s3\nstep share3 { SELECT id FROM t FOR SHARE; }\n";

    /// The simulated log of `permutations` (lines) run on [`ROWS`]' sessions.
    fn log(permutations: &str) -> String {
        let spec = parse("t", &format!("{ROWS}{permutations}")).expect("parses");
        render(&run_spec(&mut SimDriver::default(), &spec).expect("runs"))
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().skip(1).collect()
    }

    #[test]
    fn waiters_that_finish_together_are_reported_in_waiting_order() {
        let text = log("permutation lock1 share2 share3 c1");
        let expected = [
            "lock1: rows [id] (1)",
            "share2: <waiting>",
            "share3: <waiting>",
            "c1: ok 0",
            "share2: <done> rows [id] (1)",
            "share3: <done> rows [id] (1)",
        ];
        assert_eq!(lines(&text), expected);
    }

    #[test]
    fn a_step_marker_holds_a_report_until_the_other_step_is_reported() {
        let text = log("permutation lock1 share2(share3) share3 c1");
        let expected = [
            "lock1: rows [id] (1)",
            "share2: <waiting>",
            "share3: <waiting>",
            "c1: ok 0",
            "share3: <done> rows [id] (1)",
            "share2: <done> rows [id] (1)",
        ];
        assert_eq!(lines(&text), expected);
    }

    #[test]
    fn a_star_marker_reports_waiting_and_the_session_waits_for_it() {
        let text = log("permutation share2(*) again2 lock1 c1");
        let expected = [
            "share2: <waiting>",
            "share2: <done> rows [id] (1)",
            "again2: rows [x] (2)",
            "lock1: rows [id] (1)",
            "c1: ok 0",
        ];
        assert_eq!(lines(&text), expected);
    }

    #[test]
    fn a_session_that_nothing_can_wake_makes_the_permutation_invalid() {
        let text = log("permutation lock1 share2 again2 c1");
        let expected = [
            "lock1: rows [id] (1)",
            "share2: <waiting>",
            "again2: <invalid permutation: its session still waits in share2>",
            "share2: <still waiting at end>",
        ];
        assert_eq!(lines(&text), expected);
    }

    #[test]
    fn finds_cycles_only_where_there_are_some() {
        assert!(has_cycle(&[vec![1], vec![0]]));
        assert!(has_cycle(&[vec![1], vec![2], vec![0]]));
        assert!(!has_cycle(&[vec![1], vec![], vec![1]]));
        assert!(!has_cycle(&[vec![], vec![]]));
    }
}
