//! Test support for the models' schema tests: a bare simulated Postgres engine with one
//! session, driven statement by statement outside any simulation run.
//!
//! Not for concurrency: one session never waits, so a lock wait here is a bug in the test.

use syncsim_services::pg::{PgConfig, PgError, Postgres, QueryResult, SessionId, StepOutcome};
use syncsim_sim::{Prng, Seed};

/// One engine, one session.
pub(crate) struct Engine {
    pg: Postgres,
    session: SessionId,
    entropy: Prng,
}

impl Engine {
    /// A fresh server that has run `schema` (panics if it fails).
    pub(crate) fn with_schema(schema: &str) -> Engine {
        let mut pg = Postgres::new(PgConfig::default());
        let session = pg.open_session();
        let mut engine = Engine {
            pg,
            session,
            entropy: Prng::new(Seed(0)),
        };
        engine
            .run(schema.trim().trim_end_matches(';'))
            .expect("valid schema");
        engine
    }

    /// Runs `sql` on the session.
    pub(crate) fn run(&mut self, sql: &str) -> Result<QueryResult, PgError> {
        match self.pg.submit(self.session, sql, &[], 0, &mut self.entropy) {
            StepOutcome::Done(result) => result,
            StepOutcome::Blocked { .. } => unreachable!("one session never blocks"),
        }
    }
}
