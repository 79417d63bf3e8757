//! The simulated backend: drives `syncsim_sim::services::pg::Postgres` directly (it is
//! sans-IO and synchronous, so no simulation runtime is needed), one engine per permutation.
//!
//! Time: each step advances virtual time by [`STEP_MICROS`]; when the waiting steps form a
//! wait-for cycle, time jumps by the engine's `deadlock_timeout` and the waiters run their
//! deadlock check oldest wait first, as PostgreSQL's timers would fire.
//! Not modelled: timeouts (see the runner), NOTIFY delivery.

use syncsim_sim::services::pg::{
    PgConfig, PgError, Postgres, QueryResult, SessionId, StepOutcome, Value,
};

use syncsim_sim::{Prng, Seed};

use crate::outcome::{Event, StepResult};
use crate::runner::{has_cycle, BackendError, Driver, Settled};
use crate::spec::Spec;

/// Virtual time between two steps, in microseconds.
pub const STEP_MICROS: u64 = 1_000;

/// The simulated Postgres as a [`Driver`].
pub struct SimDriver {
    pg: Postgres,
    sessions: Vec<SessionId>,
    finished: Vec<(usize, StepResult)>,
    now_micros: u64,
    entropy: Prng,
}

impl Default for SimDriver {
    fn default() -> Self {
        SimDriver {
            pg: Postgres::new(PgConfig::default()),
            sessions: Vec::new(),
            finished: Vec::new(),
            now_micros: 0,
            entropy: Prng::new(Seed(0)),
        }
    }
}

/// A finished statement in the shared shape.
pub fn convert(result: Result<QueryResult, PgError>) -> StepResult {
    match result {
        Err(error) => StepResult::Error(error.code().to_string()),
        Ok(result) if result.columns.is_empty() => StepResult::Affected(result.rows_affected),
        Ok(result) => StepResult::Rows {
            columns: result.columns,
            rows: result
                .rows
                .iter()
                .map(|row| row.iter().map(text_of).collect())
                .collect(),
        },
    }
}

fn text_of(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_pg_text())
}

impl SimDriver {
    fn run_setup(&mut self, session: SessionId, block: &str, label: &str) -> Option<Event> {
        let outcome = self
            .pg
            .submit(session, block, &[], self.now_micros, &mut self.entropy);
        self.now_micros += STEP_MICROS;
        match outcome {
            StepOutcome::Done(Ok(_)) => None,
            StepOutcome::Done(Err(error)) => Some(Event::SetupFailed {
                block: label.to_string(),
                code: error.code().to_string(),
            }),
            StepOutcome::Blocked { .. } => Some(Event::SetupFailed {
                block: label.to_string(),
                code: "<setup blocked>".to_string(),
            }),
        }
    }

    fn index_of(&self, session: SessionId) -> usize {
        self.sessions
            .iter()
            .position(|candidate| *candidate == session)
            .expect("the runner only sees its own sessions")
    }

    /// Resumes every runnable waiter until none is left.
    fn resume_runnable(&mut self) {
        loop {
            let runnable = self.pg.runnable_waiters();
            if runnable.is_empty() {
                return;
            }
            for session in runnable {
                self.now_micros += STEP_MICROS;
                if let StepOutcome::Done(result) =
                    self.pg.resume(session, self.now_micros, &mut self.entropy)
                {
                    let index = self.index_of(session);
                    self.finished.push((index, convert(result)));
                }
            }
        }
    }

    fn waits_in_cycle(&self) -> bool {
        let edges: Vec<Vec<usize>> = self
            .sessions
            .iter()
            .map(|session| {
                let blockers = self.pg.blockers(*session);
                blockers
                    .iter()
                    .filter_map(|blocker| self.sessions.iter().position(|own| own == blocker))
                    .collect()
            })
            .collect();
        has_cycle(&edges)
    }

    /// Lets `deadlock_timeout` pass: waiters check for a cycle, oldest wait first; the first
    /// that finds one fails with 40P01. Returns whether one did. A waiter whose single check
    /// already ran before the cycle closed (it has waited longer than the timeout) does not
    /// check again, as in PostgreSQL.
    fn run_deadlock_checks(&mut self) -> bool {
        let timeout_micros = self.pg.config().deadlock_timeout_micros;
        let closed_micros = self.now_micros;
        self.now_micros += timeout_micros;
        let mut waiting: Vec<(SessionId, u64)> = self
            .pg
            .waiting_sessions()
            .into_iter()
            .filter(|(_, started)| started + timeout_micros > closed_micros)
            .collect();
        waiting.sort_by_key(|(session, started)| (*started, *session));
        for (session, _) in waiting {
            if let Some(error) = self.pg.check_deadlock(session) {
                let index = self.index_of(session);
                self.finished.push((index, convert(Err(error))));
                return true;
            }
        }
        false
    }
}

impl Driver for SimDriver {
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        *self = SimDriver::default();
        let mut failures = Vec::new();
        let admin = self.pg.open_session();
        for block in &spec.setup {
            failures.extend(self.run_setup(admin, block, "setup"));
        }
        self.pg.close_session(admin);
        for session in &spec.sessions {
            let id = self.pg.open_session();
            self.sessions.push(id);
            if let Some(block) = &session.setup {
                failures.extend(self.run_setup(id, block, &session.name));
            }
        }
        Ok(failures)
    }

    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError> {
        let id = *self
            .sessions
            .get(session)
            .ok_or_else(|| BackendError(format!("no session {session}")))?;
        self.now_micros += STEP_MICROS;
        if let StepOutcome::Done(result) =
            self.pg
                .submit(id, sql, &[], self.now_micros, &mut self.entropy)
        {
            self.finished.push((session, convert(result)));
        }
        Ok(())
    }

    fn settle(&mut self) -> Result<Settled, BackendError> {
        loop {
            self.resume_runnable();
            if !self.waits_in_cycle() || !self.run_deadlock_checks() {
                break;
            }
        }
        Ok(Settled {
            finished: std::mem::take(&mut self.finished),
        })
    }

    fn finish(&mut self) -> Result<(), BackendError> {
        for session in std::mem::take(&mut self.sessions) {
            self.pg.close_session(session);
        }
        Ok(())
    }
}
