//! Unit tests of the simulated PostgreSQL engine, with a tiny two-session script harness.
//!
//! Goal: pin the engine to the PostgreSQL 15 behaviour recorded in `postgres-semantics.md`
//! (statement results, SQLSTATEs, and the Appendix A interleavings). Method: scripts of
//! statements per session; a blocked statement is resumed when its blocker ends, exactly as
//! the async adapter will drive it.

mod concurrency;
mod concurrency_locks;
mod conformance_fixes;
mod cte;
mod ddl;
mod deferred;
mod determinism;
mod dml;
mod drop_truncate;
mod errors;
mod example;
mod hash;
mod invariants;
mod mutants_constraints_locks;
mod notify;
mod prop;
mod resume;
mod serializable;
mod top_n;
mod trigger;
mod txn;
mod unique_index;
mod values;

pub use super::{
    hashtext, ChangeKind, Entropy, Notification, PgConfig, PgError, Postgres, QueryResult,
    SessionId, SqlState, StepOutcome, Value, SIM_EPOCH_UNIX_MICROS,
};

use syncsim_sim::prng::Prng;
use syncsim_sim::seed::Seed;

/// A server, an entropy stream and a virtual clock.
pub struct Harness {
    pub pg: Postgres,
    pub entropy: Prng,
    pub now_micros: u64,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            pg: Postgres::new(PgConfig::default()),
            entropy: Prng::new(Seed(7)),
            now_micros: 0,
        }
    }

    /// A harness with one session that has run `setup`.
    pub fn with_setup(setup: &str) -> (Self, SessionId) {
        let mut harness = Harness::new();
        let session = harness.pg.open_session();
        harness.ok(session, setup);
        (harness, session)
    }

    pub fn session(&mut self) -> SessionId {
        self.pg.open_session()
    }

    /// Submits and returns the raw outcome (may be Blocked).
    pub fn start(&mut self, session: SessionId, sql: &str) -> StepOutcome {
        self.now_micros += 1_000;
        self.pg
            .submit(session, sql, &[], self.now_micros, &mut self.entropy)
    }

    /// Submits with parameters; panics if the statement blocks.
    pub fn run_params(
        &mut self,
        session: SessionId,
        sql: &str,
        params: &[Value],
    ) -> Result<QueryResult, PgError> {
        self.now_micros += 1_000;
        match self
            .pg
            .submit(session, sql, params, self.now_micros, &mut self.entropy)
        {
            StepOutcome::Done(result) => result,
            StepOutcome::Blocked { waiting_for } => panic!("{sql} blocked on {waiting_for:?}"),
        }
    }

    pub fn run(&mut self, session: SessionId, sql: &str) -> Result<QueryResult, PgError> {
        self.run_params(session, sql, &[])
    }

    pub fn ok(&mut self, session: SessionId, sql: &str) -> QueryResult {
        self.run(session, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// Runs a statement that must fail; returns its SQLSTATE.
    pub fn code(&mut self, session: SessionId, sql: &str) -> &'static str {
        match self.run(session, sql) {
            Ok(result) => panic!("{sql} unexpectedly succeeded: {result:?}"),
            Err(error) => error.code(),
        }
    }

    pub fn rows(&mut self, session: SessionId, sql: &str) -> Vec<Vec<Value>> {
        self.ok(session, sql).rows
    }

    /// Submits a statement that must block; returns whom it waits for.
    pub fn blocks(&mut self, session: SessionId, sql: &str) -> Vec<SessionId> {
        match self.start(session, sql) {
            StepOutcome::Blocked { waiting_for } => waiting_for,
            StepOutcome::Done(result) => panic!("{sql} did not block: {result:?}"),
        }
    }

    /// Resumes every runnable waiter once; returns their outcomes in session order.
    pub fn wake(&mut self) -> Vec<(SessionId, StepOutcome)> {
        let mut outcomes = Vec::new();
        for session in self.pg.runnable_waiters() {
            self.now_micros += 1_000;
            outcomes.push((
                session,
                self.pg.resume(session, self.now_micros, &mut self.entropy),
            ));
        }
        outcomes
    }

    /// Resumes `session`, which must be runnable, and returns its result.
    pub fn wake_one(&mut self, session: SessionId) -> Result<QueryResult, PgError> {
        assert!(
            self.pg.runnable_waiters().contains(&session),
            "{session:?} is not runnable"
        );
        self.now_micros += 1_000;
        match self.pg.resume(session, self.now_micros, &mut self.entropy) {
            StepOutcome::Done(result) => result,
            StepOutcome::Blocked { waiting_for } => panic!("still blocked on {waiting_for:?}"),
        }
    }
}

pub fn int(number: i32) -> Value {
    Value::Int4(number)
}

pub fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}
