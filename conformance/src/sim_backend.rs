//! The simulated backend: drives `syncsim_services::pg::Postgres` directly (it is
//! sans-IO and synchronous, so no simulation runtime is needed), one engine per permutation.
//!
//! Time: each step advances virtual time by [`STEP_MICROS`]. Every waiting statement has the
//! timers PostgreSQL arms for a lock wait, read from its session's settings (`SET
//! deadlock_timeout`, `lock_timeout`, `statement_timeout`): one deadlock check after
//! `deadlock_timeout` (the waiter that finds a cycle fails with 40P01), 55P03 after
//! `lock_timeout`, 57014 after `statement_timeout`. They fire in virtual-time order (a tie:
//! the deadlock check first, then the lower session) whenever time passes; a settle lets time
//! jump to the next timer while the waiters form a cycle or one of them has a lock or
//! statement timeout to run out (the runner's rule for when the real server is settled).
//! A spec written from a run (`history_spec`) pins the clock instead: a step carrying a clock
//! marker runs at the marker's virtual time and no step advances time by itself, so `now()`
//! is what the run's server answered; the run's native row triggers are installed after the
//! setup blocks ([`SimDriver::with_triggers`]).
//! Not modelled: `statement_timeout` of a statement that runs without waiting (the engine
//! answers at once), timers counted from the statement's start rather than its wait's start
//! (the same for a statement that waits at its first lock), NOTIFY delivery.

use std::collections::BTreeMap;
use std::sync::Arc;

use syncsim_services::pg::{
    CancelReason, PgConfig, PgError, Postgres, QueryResult, RowTrigger, SessionId, StepOutcome,
    Value,
};

use syncsim_sim::{Prng, Seed};

use crate::history_spec::time_of;
use crate::outcome::{Event, Failure, Phase, StepResult};
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
    /// Waiting sessions whose one deadlock check ran, with the start of the wait it was for.
    deadlock_checked: BTreeMap<SessionId, u64>,
    /// Native row triggers installed after the setup blocks, by table.
    triggers: Vec<(String, Arc<dyn RowTrigger>)>,
    /// Whether the spec's steps carry clock markers: then only they move time.
    pinned_clock: bool,
}

/// A timer of a waiting statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Listed first: at a tie the deadlock check runs before a timeout cancels the wait.
    Deadlock,
    Lock,
    Statement,
}

impl Default for SimDriver {
    fn default() -> Self {
        SimDriver {
            pg: Postgres::new(PgConfig::default()),
            sessions: Vec::new(),
            finished: Vec::new(),
            now_micros: 0,
            entropy: Prng::new(Seed(0)),
            deadlock_checked: BTreeMap::new(),
            triggers: Vec::new(),
            pinned_clock: false,
        }
    }
}

/// A finished statement in the shared shape.
pub fn convert(result: Result<QueryResult, PgError>) -> StepResult {
    match result {
        Err(error) => StepResult::Error(failure(&error)),
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

fn failure(error: &PgError) -> Failure {
    Failure::new(error.code(), error.message.clone())
}

fn text_of(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_pg_text())
}

impl SimDriver {
    /// A driver that installs these native row triggers after each permutation's setup.
    pub fn with_triggers(triggers: Vec<(String, Arc<dyn RowTrigger>)>) -> SimDriver {
        SimDriver {
            triggers,
            ..SimDriver::default()
        }
    }

    /// Virtual time between two steps: none when the clock is pinned by markers.
    fn step_micros(&self) -> u64 {
        if self.pinned_clock {
            0
        } else {
            STEP_MICROS
        }
    }

    fn run_block(
        &mut self,
        session: SessionId,
        block: &str,
        label: &str,
        phase: Phase,
    ) -> Option<Event> {
        let outcome = self
            .pg
            .submit(session, block, &[], self.now_micros, &mut self.entropy);
        self.now_micros += self.step_micros();
        match outcome {
            StepOutcome::Done(Ok(_)) => None,
            StepOutcome::Done(Err(error)) => Some(phase.failed(label, failure(&error))),
            StepOutcome::Blocked { .. } => {
                // A block runs to completion or fails: it may not wait for a session's lock.
                self.pg.cancel_wait(session, CancelReason::UserRequest);
                let blocked = Failure::new("<blocked>", "the block waits for a lock");
                Some(phase.failed(label, blocked))
            }
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
            // A row waiter whose turn in the row's queue came starts a new wait now.
            self.pg.restart_queue_heads(self.now_micros);
            let runnable = self.pg.runnable_waiters();
            if runnable.is_empty() {
                return;
            }
            for session in runnable {
                self.now_micros += self.step_micros();
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

    /// The earliest timer of any waiting statement, if one is armed: (virtual micros, which,
    /// session, start of its wait). A deadlock check that already ran for this wait is not
    /// armed. Ties: the earlier listed timer, then the lower session.
    fn next_timer(&self) -> Option<(u64, Timer, SessionId, u64)> {
        let mut earliest = None;
        for (session, started_micros) in self.pg.waiting_sessions() {
            let timeouts = self.pg.timeouts(session);
            // A wait for a safe snapshot is no lock wait: no deadlock check, no lock_timeout.
            let lock_wait = self.pg.waits_for_lock(session);
            let deadlock = (lock_wait
                && self.deadlock_checked.get(&session) != Some(&started_micros))
            .then_some((timeouts.deadlock_timeout_micros, Timer::Deadlock));
            let cancels = [
                (
                    timeouts.lock_timeout_micros.filter(|_| lock_wait),
                    Timer::Lock,
                ),
                (timeouts.statement_timeout_micros, Timer::Statement),
            ]
            .into_iter()
            .filter_map(|(micros, timer)| micros.filter(|micros| *micros > 0).zip(Some(timer)));
            for (micros, timer) in deadlock.into_iter().chain(cancels) {
                let candidate = (
                    started_micros.saturating_add(micros),
                    timer,
                    session,
                    started_micros,
                );
                earliest = Some(earliest.map_or(candidate, |known| candidate.min(known)));
            }
        }
        earliest
    }

    /// Fires one timer: a deadlock check (40P01 if `session` waits in a cycle) or a cancel.
    fn fire(&mut self, timer: Timer, session: SessionId, started_micros: u64) {
        let error = match timer {
            Timer::Deadlock => {
                self.deadlock_checked.insert(session, started_micros);
                self.pg.check_deadlock(session)
            }
            Timer::Lock => self.pg.cancel_wait(session, CancelReason::LockTimeout),
            Timer::Statement => self.pg.cancel_wait(session, CancelReason::StatementTimeout),
        };
        if let Some(error) = error {
            let index = self.index_of(session);
            self.finished.push((index, convert(Err(error))));
        }
    }

    /// Lets virtual time reach `until_micros`, firing the timers due by then in order (each
    /// may end a wait and wake others, whose new waits arm new timers).
    fn advance_to(&mut self, until_micros: u64) {
        while let Some((at_micros, timer, session, started)) = self.next_timer() {
            if at_micros > until_micros {
                break;
            }
            self.now_micros = self.now_micros.max(at_micros);
            self.fire(timer, session, started);
            self.resume_runnable();
        }
        self.now_micros = self.now_micros.max(until_micros);
    }

    /// Whether a real server would still be moving: the waiters form a cycle (a deadlock
    /// check will break one of lock waits; one through a wait for a safe snapshot stays,
    /// and settling ends when no timer is left) or one has a lock or statement timeout to
    /// run out.
    fn timeouts_armed(&self) -> bool {
        self.pg.waiting_sessions().into_iter().any(|(session, _)| {
            let timeouts = self.pg.timeouts(session);
            let armed = |micros: Option<u64>| micros.is_some_and(|micros| micros > 0);
            let lock_wait = self.pg.waits_for_lock(session);
            (lock_wait && armed(timeouts.lock_timeout_micros))
                || armed(timeouts.statement_timeout_micros)
        }) || self.waits_in_cycle()
    }
}

impl Driver for SimDriver {
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        *self = SimDriver::with_triggers(std::mem::take(&mut self.triggers));
        self.pinned_clock = spec.sessions.iter().any(|session| {
            let mut steps = session.steps.iter();
            steps.any(|step| time_of(&step.sql).is_some())
        });
        let mut failures = Vec::new();
        let admin = self.pg.open_session();
        for block in &spec.setup {
            failures.extend(self.run_block(admin, block, "setup", Phase::Setup));
        }
        self.pg.close_session(admin);
        if failures.is_empty() {
            for (table, trigger) in &self.triggers {
                self.pg.install_trigger(table, trigger.clone());
            }
        }
        for session in &spec.sessions {
            let id = self.pg.open_session();
            self.sessions.push(id);
            if let Some(block) = &session.setup {
                failures.extend(self.run_block(id, block, &session.name, Phase::Setup));
            }
        }
        Ok(failures)
    }

    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError> {
        let id = *self
            .sessions
            .get(session)
            .ok_or_else(|| BackendError(format!("no session {session}")))?;
        let at_micros = time_of(sql).unwrap_or(self.now_micros + self.step_micros());
        self.advance_to(at_micros);
        if let StepOutcome::Done(result) =
            self.pg
                .submit(id, sql, &[], self.now_micros, &mut self.entropy)
        {
            self.finished.push((session, convert(result)));
        }
        Ok(())
    }

    fn settle(&mut self) -> Result<Settled, BackendError> {
        self.resume_runnable();
        while self.timeouts_armed() {
            let Some((at_micros, ..)) = self.next_timer() else {
                break;
            };
            self.advance_to(at_micros);
        }
        Ok(Settled {
            finished: std::mem::take(&mut self.finished),
        })
    }

    fn finish(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        let mut failures = Vec::new();
        // The sessions stay known while waits are canceled: a cancel that aborts a
        // transaction wakes the waiters behind it, whose outcomes are then dropped.
        let sessions = self.sessions.clone();
        for id in &sessions {
            // A step still waiting is canceled, as the real driver's cancel request does.
            if self
                .pg
                .cancel_wait(*id, CancelReason::UserRequest)
                .is_some()
            {
                self.resume_runnable();
            }
        }
        self.finished.clear();
        self.sessions.clear();
        for (id, session) in sessions.iter().zip(&spec.sessions) {
            if let Some(block) = &session.teardown {
                failures.extend(self.run_block(*id, block, &session.name, Phase::Teardown));
            }
        }
        for id in sessions {
            self.pg.close_session(id);
        }
        let admin = self.pg.open_session();
        for block in &spec.teardown {
            failures.extend(self.run_block(admin, block, "teardown", Phase::Teardown));
        }
        self.pg.close_session(admin);
        Ok(failures)
    }
}
