//! A simulated PostgreSQL 15 server: a deterministic, sans-IO state machine that executes the
//! SQL subset syncsim models send, with PostgreSQL's MVCC visibility, row locks and waits,
//! unique and foreign-key enforcement, ON CONFLICT, advisory locks and SQLSTATE errors.
//!
//! ```text
//!  driver (async adapter / conformance runner)
//!    │ submit(session, sql, params, now_micros, entropy)
//!    ▼
//!  engine ── parse cache (sqlparser, PostgreSqlDialect)
//!    │   └─ session: idle / in transaction / aborted, savepoints, pending statement
//!    ▼
//!  select / insert / modify ── expr, functions, project
//!    │            └─ constraints (unique: dirty view + wait; FK: visible parent + KEY SHARE)
//!    ▼            statement_locks → table_locks (eight modes, wait queue), taken first
//!  rowops (row locks, EvalPlanQual) ── locks (row + advisory) ── storage (MVCC heaps)
//! ```
//!
//! A statement either finishes (`StepOutcome::Done`) or must wait for another transaction
//! (`StepOutcome::Blocked`). The driver re-runs blocked sessions listed by
//! [`Postgres::runnable_waiters`] with [`Postgres::resume`], and after `deadlock_timeout` of
//! virtual time calls [`Postgres::check_deadlock`] for a waiter; the waiter that finds a cycle
//! aborts itself with 40P01, as in PostgreSQL.
//!
//! Not modelled: SERIALIZABLE (SSI), deferrable constraints, DDL and TRUNCATE inside a
//! transaction block (refused; in a statement string they roll back with it), VACUUM, the wire
//! protocol. Timeouts are stored (SET) but enforced by the driver on virtual
//! time. `docs/postgres.md` lists the supported subset.
//!
//! Invariant: the engine is deterministic — the same calls with the same entropy give the same
//! results; it uses no clock, no OS randomness, no hash-ordered collection.
//!
//! ```
//! use syncsim_services::pg::{Entropy, PgConfig, Postgres, StepOutcome, Value};
//! struct Counter(u64);
//! impl Entropy for Counter {
//!     fn next_u64(&mut self) -> u64 { self.0 += 1; self.0 }
//! }
//! let mut pg = Postgres::new(PgConfig::default());
//! let session = pg.open_session();
//! let mut entropy = Counter(0);
//! let mut run = |sql: &str| match pg.submit(session, sql, &[], 0, &mut entropy) {
//!     StepOutcome::Done(result) => result,
//!     StepOutcome::Blocked { .. } => unreachable!("one session never blocks"),
//! };
//! run("CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE)").unwrap();
//! let inserted = run("INSERT INTO users (email) VALUES ('a@x') RETURNING id").unwrap();
//! assert_eq!(inserted.command_tag, "INSERT 0 1");
//! assert_eq!(inserted.rows, vec![vec![Value::Int8(1)]]);
//! let duplicate = run("INSERT INTO users (email) VALUES ('a@x')").unwrap_err();
//! assert_eq!(duplicate.code(), "23505");
//! ```
#![warn(missing_docs)]

mod aggregate;
mod arbiter;
mod catalog;
mod constraints;
mod cte;
mod ddl;
mod deadlock;
mod deferrable_syntax;
mod deferred;
mod dispatch;
mod drop;
mod engine;
mod error;
mod exec;
mod expr;
mod functions;
mod group;
mod hash;
mod index;
mod index_build;
mod index_expr;
mod insert;
mod interval;
mod lock_syntax;
mod locks;
mod modify;
mod node;
mod notify;
mod numeric;
mod operators;
mod pg_sort;
mod point;
mod project;
mod route;
mod rowops;
mod select;
mod select_rows;
mod serializable;
mod series;
mod session;
mod set_constraints;
mod settings;
mod ssi;
mod statement_locks;
mod storage;
mod subquery;
mod table_locks;
mod timestamp;
mod top_n;
mod trigger;
mod txn_modes;
mod types;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use engine::Postgres;
pub use error::{PgError, SqlState};
pub use hash::hashtext;
pub use node::{
    DbError, FromValue, PgConnection, PgHandle, PgRow, PgServer, PostgresWorld, SqlEntry,
    SqlStatement, StatementError,
};
pub use notify::Notification;
pub use settings::{Timeouts, XmlBinary};
pub use timestamp::SIM_EPOCH_UNIX_MICROS;
pub use trigger::{RowTrigger, TriggerEvent, TriggerInsert, TriggerOp};
pub use value::{ColumnType, Value};

/// A client connection to the simulated server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionId(pub u32);

/// Transaction isolation levels of the subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolationLevel {
    /// READ COMMITTED (the default): a fresh snapshot per statement, EvalPlanQual re-checks.
    ReadCommitted,
    /// REPEATABLE READ: one snapshot per transaction, 40001 on write conflicts.
    RepeatableRead,
    /// SERIALIZABLE: REPEATABLE READ plus serializable snapshot isolation (`ssi.rs`): reads
    /// take SIREAD locks and a dangerous structure of read/write dependencies fails with 40001.
    Serializable,
}

impl IsolationLevel {
    /// Whether the transaction keeps one snapshot for all its statements (PostgreSQL's
    /// `IsolationUsesXactSnapshot`): REPEATABLE READ and SERIALIZABLE.
    pub fn uses_xact_snapshot(self) -> bool {
        self != IsolationLevel::ReadCommitted
    }
}

/// The caller's source of randomness (gen_random_uuid). The harness passes a seeded stream.
pub trait Entropy {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// The harness's own seeded stream is the entropy every caller in the repository passes.
impl Entropy for syncsim_sim::prng::Prng {
    fn next_u64(&mut self) -> u64 {
        syncsim_sim::prng::Prng::next_u64(self)
    }
}

/// Server configuration. As data (a scenario's `[model.config.postgres]`), a partial table
/// changes only the settings it names; the others keep PostgreSQL 15's defaults on Linux.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PgConfig {
    /// How long a lock waiter waits before checking for a deadlock, in virtual microseconds
    /// (PostgreSQL's `deadlock_timeout`, default 1 s). The engine only reports it; the driver
    /// calls [`Postgres::check_deadlock`] when it expires.
    pub deadlock_timeout_micros: u64,
    /// Parsed statements kept in the parse cache; the cache is cleared when it is full.
    pub parse_cache_entries_max: usize,
    /// How long a connection must be silent before the server's kernel sends its first TCP
    /// keepalive probe to the client, in virtual microseconds. PostgreSQL's
    /// `tcp_keepalives_idle`, whose default 0 means the system's, Linux's `tcp_keepalive_time`:
    /// 7200 s. Together with the two knobs below it bounds how long the session of a client
    /// that vanished behind a network loss keeps its transaction and locks (2 h 11 min 15 s
    /// by default). See docs/postgres.md, "Dead connections".
    pub tcp_keepalives_idle_micros: u64,
    /// Time between two unanswered keepalive probes, in virtual microseconds
    /// (`tcp_keepalives_interval`; Linux's `tcp_keepalive_intvl` default: 75 s).
    pub tcp_keepalives_interval_micros: u64,
    /// Unanswered probes after which the server's kernel declares the client dead and the
    /// server closes its session (`tcp_keepalives_count`; Linux's `tcp_keepalive_probes`: 9).
    pub tcp_keepalives_count: u32,
}

impl PgConfig {
    /// Whether every setting is the default (a config leaves it out when serialized).
    pub fn is_default(&self) -> bool {
        *self == PgConfig::default()
    }
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            deadlock_timeout_micros: 1_000_000,
            parse_cache_entries_max: 4096,
            tcp_keepalives_idle_micros: 7_200_000_000,
            tcp_keepalives_interval_micros: 75_000_000,
            tcp_keepalives_count: 9,
        }
    }
}

/// A row of values in table (or output) column order.
pub type Row = Vec<Value>;

/// The result of a successful statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResult {
    /// PostgreSQL's command tag, e.g. `INSERT 0 1`, `UPDATE 2`, `SELECT 1`, `COMMIT`.
    pub command_tag: String,
    /// Output column names (empty for statements without rows).
    pub columns: Vec<String>,
    /// Output rows (SELECT, RETURNING).
    pub rows: Vec<Row>,
    /// Rows inserted, updated, deleted or returned by SELECT.
    pub rows_affected: u64,
}

impl QueryResult {
    /// A result with only a command tag.
    pub fn tag(command_tag: impl Into<String>) -> Self {
        QueryResult {
            command_tag: command_tag.into(),
            columns: Vec::new(),
            rows: Vec::new(),
            rows_affected: 0,
        }
    }
}

/// What one step of a session produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// The statement (or batch) finished.
    Done(Result<QueryResult, PgError>),
    /// The statement waits for locks held by these sessions; resume it when
    /// [`Postgres::runnable_waiters`] lists the session.
    Blocked {
        /// Sessions holding what the statement waits for.
        waiting_for: Vec<SessionId>,
    },
}

/// Why the driver cancels a blocked statement (see [`Postgres::cancel_wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// `lock_timeout` expired: 55P03 `canceling statement due to lock timeout`.
    LockTimeout,
    /// `statement_timeout` expired: 57014.
    StatementTimeout,
    /// A client cancel request: 57014.
    UserRequest,
}

/// Kind of a committed row change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// A row was inserted.
    Insert,
    /// A row was updated (the new values are recorded).
    Update,
    /// A row was deleted (the old values are recorded).
    Delete,
}

/// One row written by a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowChange {
    /// Insert, update or delete.
    pub kind: ChangeKind,
    /// New values (insert, update) or old values (delete).
    pub values: Row,
}

/// Ground truth for one committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedTxn {
    /// Transaction id (increasing in start order, not commit order).
    pub xid: u64,
    /// Position in commit order, from 1.
    pub commit_sequence: u64,
    /// The session that ran it (the connection, `conn#N` in traces).
    pub session: SessionId,
    /// Virtual time of its commit, in microseconds since the start of the run: two
    /// writers' commits ordered by time without an audit table.
    pub committed_at_micros: u64,
    /// The node of the client whose session committed it (empty for a setup script).
    pub client: String,
    /// Statements it ran successfully, in order (rendered by sqlparser).
    pub statements: Vec<String>,
    /// Rows written, by `schema.table`.
    pub changes: BTreeMap<String, Vec<RowChange>>,
}
