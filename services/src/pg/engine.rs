//! The public face of the simulated server: sessions, submit/resume, the wait and deadlock
//! protocol the driver follows, crash, and the ground-truth readers.
//!
//! Driver loop (deterministic, single-threaded):
//!
//! ```text
//!  outcome = pg.submit(s, sql, params, now, entropy)   // Done(result) or Blocked{..}
//!  after every Done:  for w in pg.runnable_waiters() { deliver(pg.resume(w, now, entropy)) }
//!  when a waiter has waited deadlock_timeout_micros:  pg.check_deadlock(w)  // Some(40P01)?
//! ```
//!
//! Not modelled: connection-level faults (the harness adapter drops replies), cancel requests.
//! Invariant: a session has at most one statement in flight; `submit` on a blocked session is
//! a protocol violation.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::catalog::TableId;
use super::dispatch::BatchRun;
use super::error::{PgError, SqlState};
use super::exec::{Db, Wait};
use super::locks::RowLockMode;
use super::session::{Pending, Session};
use super::set_constraints;
use super::storage::{ReadView, RowId};
use super::value::Value;
use super::{arbiter, lock_syntax};
use super::{CancelReason, CommittedTxn, Entropy, PgConfig, Row, SessionId, StepOutcome};

type ParsedBatch = Result<Arc<Vec<Statement>>, PgError>;

/// The commands of PostgreSQL 15 (https://www.postgresql.org/docs/15/sql-commands.html):
/// the words a statement can start with (`(` too, for a parenthesized query).
const COMMANDS: [&str; 52] = [
    "ABORT",
    "ALTER",
    "ANALYZE",
    "ANALYSE",
    "BEGIN",
    "CALL",
    "CHECKPOINT",
    "CLOSE",
    "CLUSTER",
    "COMMENT",
    "COMMIT",
    "COPY",
    "CREATE",
    "DEALLOCATE",
    "DECLARE",
    "DELETE",
    "DISCARD",
    "DO",
    "DROP",
    "END",
    "EXECUTE",
    "EXPLAIN",
    "FETCH",
    "GRANT",
    "IMPORT",
    "INSERT",
    "LISTEN",
    "LOAD",
    "LOCK",
    "MERGE",
    "MOVE",
    "NOTIFY",
    "PREPARE",
    "REASSIGN",
    "REFRESH",
    "REINDEX",
    "RELEASE",
    "RESET",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SECURITY",
    "SELECT",
    "SET",
    "SHOW",
    "START",
    "TABLE",
    "TRUNCATE",
    "UNLISTEN",
    "UPDATE",
    "VACUUM",
    "VALUES",
];

/// What a text sqlparser 0.63 cannot parse gets. PostgreSQL's grammar is larger than
/// sqlparser's, so a failure proves nothing about the SQL: when every statement starts with a
/// PostgreSQL command (or `WITH`), the text is reported unsupported (0A000, naming the
/// construct where it is known, else the command and sqlparser's complaint), never as a
/// syntax error the real server might not raise. A statement led by any other word, or text
/// that does not even tokenize, is a syntax error (42601) on PostgreSQL too.
fn parse_error(sql: &str, message: &str) -> PgError {
    let upper = sql.to_uppercase();
    let known = [
        "ATTACH PARTITION",
        "DETACH PARTITION",
        "PREPARE TRANSACTION",
        "COMMIT PREPARED",
        "ROLLBACK PREPARED",
    ];
    if let Some(construct) = known.iter().find(|construct| upper.contains(*construct)) {
        return PgError::unsupported(construct);
    }
    let Some(leaders) = statement_leaders(sql) else {
        return PgError::syntax(format!("syntax error: {message}"));
    };
    if let Some(word) = leaders
        .iter()
        .find(|word| !COMMANDS.contains(&word.as_str()) && *word != "WITH" && *word != "(")
    {
        return PgError::syntax(format!("syntax error at or near \"{word}\""));
    }
    if upper
        .split(';')
        .any(|statement| statement.trim() == "SELECT")
    {
        return PgError::unsupported("SELECT with an empty target list");
    }
    let commands = leaders.join(", ");
    PgError::unsupported(format!(
        "a form of {commands} that sqlparser 0.63 cannot parse ({message})"
    ))
}

/// The first word (upper case) of each `;`-separated statement of `sql`, by sqlparser's
/// tokenizer (so semicolons in strings and dollar-quoted bodies do not split); `None` when
/// the text does not tokenize.
fn statement_leaders(sql: &str) -> Option<Vec<String>> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut leaders = Vec::new();
    let mut at_start = true;
    for token in tokens {
        match token {
            Token::SemiColon => at_start = true,
            Token::Whitespace(_) => {}
            other if at_start => {
                at_start = false;
                leaders.push(match other {
                    Token::Word(word) => word.value.to_uppercase(),
                    other => other.to_string(),
                });
            }
            _ => {}
        }
    }
    Some(leaders)
}

/// A simulated PostgreSQL 15 server holding one database.
#[derive(Clone, Debug)]
pub struct Postgres {
    pub(super) config: PgConfig,
    pub(super) db: Db,
    pub(super) sessions: BTreeMap<SessionId, Session>,
    next_session_index: u32,
    pub(super) next_wait_sequence: u64,
    parse_cache: BTreeMap<String, ParsedBatch>,
}

impl Postgres {
    /// A fresh server with an empty `public` schema.
    pub fn new(config: PgConfig) -> Self {
        Postgres {
            config,
            db: Db::default(),
            sessions: BTreeMap::new(),
            next_session_index: 1,
            next_wait_sequence: 0,
            parse_cache: BTreeMap::new(),
        }
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &PgConfig {
        &self.config
    }

    /// Names the client of `session` (its node), recorded with each of its commits.
    pub fn set_client(&mut self, session: SessionId, client: &str) {
        self.db.clients.insert(session, client.to_string());
    }

    /// Opens a client connection.
    pub fn open_session(&mut self) -> SessionId {
        let session = SessionId(self.next_session_index);
        self.next_session_index += 1;
        let timeouts = self.default_timeouts();
        self.sessions.insert(
            session,
            Session {
                timeouts,
                listening: std::collections::BTreeSet::new(),
                xmlbinary: super::settings::XmlBinary::default(),
                batch_settings: None,
                inbox: Vec::new(),
                txn: None,
                pending: None,
            },
        );
        session
    }

    /// Closes a connection: its transaction rolls back and all its locks, session-level
    /// advisory locks included, are released. Unknown sessions are ignored.
    pub fn close_session(&mut self, session: SessionId) {
        self.db.table_locks.forget_waiter(session);
        if let Some(state) = self.sessions.remove(&session) {
            if let Some(txn) = state.txn {
                self.db.abort_xid(txn.xid);
            }
            self.db.advisory.release_owner(session.0, false);
        }
    }

    fn parse(&mut self, sql: &str) -> ParsedBatch {
        if let Some(parsed) = self.parse_cache.get(sql) {
            return parsed.clone();
        }
        let locking = lock_syntax::encode(sql);
        let inferring = arbiter::encode(&locking);
        let constraints = set_constraints::encode(&inferring);
        let deferrable = super::deferrable_syntax::encode(&constraints);
        let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &deferrable)
            .map(Arc::new)
            .map_err(|error| parse_error(sql, &error.to_string()));
        if self.parse_cache.len() >= self.config.parse_cache_entries_max {
            self.parse_cache.clear();
        }
        self.parse_cache.insert(sql.to_string(), parsed.clone());
        parsed
    }

    /// Runs one SQL string (one or more `;`-separated statements; outside BEGIN they form one
    /// implicit transaction). `params` fill `$1..$n`; `now_micros` is virtual time since the
    /// simulation epoch.
    pub fn submit(
        &mut self,
        session: SessionId,
        sql: &str,
        params: &[Value],
        now_micros: u64,
        entropy: &mut dyn Entropy,
    ) -> StepOutcome {
        match self.sessions.get(&session) {
            None => {
                return StepOutcome::Done(Err(PgError::new(
                    SqlState::ConnectionDoesNotExist,
                    "connection does not exist",
                )))
            }
            Some(state) if state.pending.is_some() => {
                return StepOutcome::Done(Err(PgError::new(
                    SqlState::ProtocolViolation,
                    "syncsim: session is waiting for a lock; resume it first",
                )))
            }
            Some(_) => {}
        }
        let batch = match self.parse(sql) {
            Ok(batch) => batch,
            Err(error) => {
                self.fail_statement(session);
                return StepOutcome::Done(Err(error));
            }
        };
        let state = self.sessions.get_mut(&session).expect("checked above");
        state.batch_settings = state
            .txn
            .is_none()
            .then_some((state.timeouts, state.xmlbinary));
        let run = BatchRun {
            batch,
            start_index: 0,
            params: params.to_vec(),
            resume: None,
        };
        self.run_batch(session, run, now_micros, entropy)
    }

    /// Re-runs a blocked session's statement. Returns `Blocked` again if it still waits.
    pub fn resume(
        &mut self,
        session: SessionId,
        now_micros: u64,
        entropy: &mut dyn Entropy,
    ) -> StepOutcome {
        let Some(pending) = self
            .sessions
            .get_mut(&session)
            .and_then(|state| state.pending.take())
        else {
            return StepOutcome::Done(Err(PgError::new(
                SqlState::ProtocolViolation,
                "syncsim: session is not waiting",
            )));
        };
        let index = pending.statement_index;
        let resume = Some((pending.progress, pending.view, pending.wait_sequence));
        let run = BatchRun {
            batch: pending.batch,
            start_index: index,
            params: pending.params,
            resume,
        };
        self.run_batch(session, run, now_micros, entropy)
    }

    /// Blocked sessions whose wait is over (the transactions they waited for ended or rolled
    /// back to a savepoint, or the advisory lock is free), oldest wait first (PostgreSQL's
    /// lock queue order). Resume each; a
    /// resumed statement may block again (then it reports `Blocked` anew).
    pub fn runnable_waiters(&self) -> Vec<SessionId> {
        let wait_over = |session: &SessionId, pending: &Pending| match &pending.wait {
            Wait::Xids(xids) | Wait::Row { xids, .. } => xids.iter().all(|xid| {
                !self.db.txns.in_progress(*xid)
                    || self
                        .db
                        .partial_rollbacks
                        .get(xid)
                        .is_some_and(|epoch| *epoch > pending.wait_epoch)
            }),
            Wait::Advisory(key) => self.db.advisory.blockers(*key, session.0).is_empty(),
            Wait::Table(table, _) => self.db.table_locks.waiter_grantable(*table, *session),
            Wait::SafeSnapshot(xid) => self.db.ssi.unsafe_writers(*xid).is_empty(),
        };
        let mut runnable: Vec<(u64, SessionId)> = self
            .sessions
            .iter()
            .filter_map(|(session, state)| {
                let pending = state.pending.as_ref()?;
                wait_over(session, pending).then_some((pending.wait_sequence, *session))
            })
            .collect();
        runnable.sort_unstable();
        runnable.into_iter().map(|(_, session)| session).collect()
    }

    /// Blocked sessions and the virtual time (microseconds) their current wait started.
    pub fn waiting_sessions(&self) -> Vec<(SessionId, u64)> {
        self.sessions
            .iter()
            .filter_map(|(session, state)| {
                state
                    .pending
                    .as_ref()
                    .map(|pending| (*session, pending.wait_started_micros))
            })
            .collect()
    }

    /// Whether `session` waits for a row behind an earlier waiter for it.
    pub(super) fn row_wait_queued(&self, session: SessionId) -> bool {
        let pending = self
            .sessions
            .get(&session)
            .and_then(|state| state.pending.as_ref());
        match pending.map(|pending| &pending.wait) {
            Some(Wait::Row { key, mode, .. }) => self.tuple_lock_queued(session, *key, *mode),
            _ => false,
        }
    }

    /// Row waiters that were queued behind an earlier waiter for their row and no longer
    /// are (it got the row, failed or was cancelled) take the tuple lock and start a new
    /// wait, on the locker, at `now_micros`, as PostgreSQL's `heap_lock_tuple` does: a new
    /// lock wait, with its own `deadlock_timeout` and `lock_timeout`. Drivers call this after
    /// any waiter leaves its wait.
    pub fn restart_queue_heads(&mut self, now_micros: u64) {
        let heads: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, state)| state.pending.as_ref().is_some_and(|pending| pending.queued))
            .map(|(session, _)| *session)
            .filter(|session| !self.row_wait_queued(*session))
            .collect();
        for session in heads {
            let pending = self
                .sessions
                .get_mut(&session)
                .and_then(|s| s.pending.as_mut());
            let pending = pending.expect("listed as waiting");
            pending.queued = false;
            pending.wait_started_micros = now_micros;
        }
    }

    /// Whether `session` waits for a lock (not for a safe snapshot): `lock_timeout` and the
    /// deadlock check apply only then.
    pub fn waits_for_lock(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .and_then(|state| state.pending.as_ref())
            .is_some_and(|pending| pending.wait.is_lock())
    }

    /// Sessions that `session` currently waits for (empty if it is not blocked).
    pub fn blockers(&self, session: SessionId) -> Vec<SessionId> {
        let Some(pending) = self
            .sessions
            .get(&session)
            .and_then(|state| state.pending.as_ref())
        else {
            return Vec::new();
        };
        match &pending.wait {
            Wait::Row { key, mode, .. } if self.tuple_lock_queued(session, *key, *mode) => {
                self.tuple_lock_holders(session, *key, *mode)
            }
            Wait::Xids(xids) | Wait::Row { xids, .. } => {
                let live: Vec<u64> = xids
                    .iter()
                    .copied()
                    .filter(|xid| self.db.txns.in_progress(*xid))
                    .collect();
                self.db.owners(&live)
            }
            Wait::Advisory(key) => self
                .db
                .advisory
                .blockers(*key, session.0)
                .into_iter()
                .map(SessionId)
                .collect(),
            Wait::Table(table, _) => self
                .db
                .owners(&self.db.table_locks.blockers(*table, session)),
            Wait::SafeSnapshot(xid) => self.db.owners(&self.db.ssi.unsafe_writers(*xid)),
        }
    }

    /// The earlier waiters for row `key` whose requested mode conflicts with `mode`, in wait
    /// order, with `session`'s own wait sequence excluded.
    fn earlier_row_waiters(
        &self,
        session: SessionId,
        key: (TableId, RowId),
        mode: RowLockMode,
    ) -> Vec<(u64, SessionId, RowLockMode)> {
        // A waiter that already holds a lock on the row takes no tuple lock (heap_lock_tuple's
        // `skip_tuple_lock`, so that upgrading a lock does not deadlock): it neither queues
        // nor holds (upstream spec tuplelock-upgrade-no-deadlock).
        let sequence_of = |candidate: &SessionId| {
            let state = self.sessions.get(candidate)?;
            let pending = state.pending.as_ref()?;
            let holds_row = |xid| self.db.row_locks.holds(key, xid);
            if state.txn.as_ref().is_some_and(|txn| holds_row(txn.xid)) {
                return None;
            }
            match &pending.wait {
                Wait::Row {
                    key: other, mode, ..
                } if *other == key => Some((pending.wait_sequence, *mode)),
                _ => None,
            }
        };
        let Some((own_sequence, _)) = sequence_of(&session) else {
            return Vec::new();
        };
        let mut earlier: Vec<(u64, SessionId, RowLockMode)> = self
            .sessions
            .keys()
            .filter(|candidate| **candidate != session)
            .filter_map(|candidate| {
                let (sequence, other_mode) = sequence_of(candidate)?;
                let conflicts = mode.conflicts_with(other_mode) || other_mode.conflicts_with(mode);
                (sequence < own_sequence && conflicts).then_some((sequence, *candidate, other_mode))
            })
            .collect();
        earlier.sort_unstable();
        earlier
    }

    /// Whether `session`'s row wait queues behind an earlier waiter for the same row (so
    /// it waits for the tuple lock, not for the locker's transaction).
    fn tuple_lock_queued(
        &self,
        session: SessionId,
        key: (TableId, RowId),
        mode: RowLockMode,
    ) -> bool {
        !self.earlier_row_waiters(session, key, mode).is_empty()
    }

    /// The earlier conflicting waiters for the row that hold its tuple lock (none of them
    /// queues behind another), or the first of them when none does.
    fn tuple_lock_holders(
        &self,
        session: SessionId,
        key: (TableId, RowId),
        mode: RowLockMode,
    ) -> Vec<SessionId> {
        let earlier = self.earlier_row_waiters(session, key, mode);
        let holders: Vec<SessionId> = earlier
            .iter()
            .filter(|(_, waiter, waiter_mode)| !self.tuple_lock_queued(*waiter, key, *waiter_mode))
            .map(|(_, waiter, _)| *waiter)
            .collect();
        if holders.is_empty() {
            earlier
                .first()
                .map(|(_, waiter, _)| *waiter)
                .into_iter()
                .collect()
        } else {
            holders
        }
    }

    /// Cancels a blocked statement the way PostgreSQL's timeouts and cancel requests do: the
    /// statement fails with `reason`'s error (and an explicit transaction becomes aborted).
    /// Returns the error to deliver, or `None` if the session was not waiting.
    pub fn cancel_wait(&mut self, session: SessionId, reason: CancelReason) -> Option<PgError> {
        let pending = self.sessions.get_mut(&session)?.pending.take()?;
        self.fail_parked(session, &pending);
        Some(match reason {
            CancelReason::LockTimeout => PgError::new(
                SqlState::LockNotAvailable,
                "canceling statement due to lock timeout",
            ),
            CancelReason::StatementTimeout => PgError::new(
                SqlState::QueryCanceled,
                "canceling statement due to statement timeout",
            ),
            CancelReason::UserRequest => PgError::new(
                SqlState::QueryCanceled,
                "canceling statement due to user request",
            ),
        })
    }

    /// The server process dies: every open transaction rolls back, every session is gone,
    /// all locks are released. Committed data and sequence positions survive. A COMMIT the
    /// driver considers "in flight" must be decided before: see [`Postgres::crash_during_commit`].
    pub fn crash(&mut self) {
        let sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        for session in sessions {
            self.close_session(session);
        }
    }

    /// A crash while `session`'s COMMIT is in flight: one entropy draw decides whether the
    /// commit record reached the disk (committed) or not (rolled back), then the server
    /// crashes. Returns whether it committed; the client must not be told either way. A
    /// transaction with deferred constraint checks still pending never commits here: its
    /// checks (which may wait or fail) are not run in a crash, and losing it is a real
    /// outcome too.
    pub fn crash_during_commit(&mut self, session: SessionId, entropy: &mut dyn Entropy) -> bool {
        let committed = entropy.next_u64() & 1 == 1;
        let open = self.sessions.get(&session).is_some_and(|state| {
            state.pending.is_none()
                && state.txn.as_ref().is_some_and(|txn| {
                    let pending = self.db.deferred.get(&txn.xid);
                    !txn.aborted && !pending.is_some_and(super::deferred::Deferred::has_pending)
                })
        });
        // A SERIALIZABLE transaction the commit's SSI check fails never commits either.
        let committed = committed
            && open
            && self.sessions[&session]
                .txn
                .as_ref()
                .is_some_and(|txn| self.db.ssi.pre_commit(txn.xid).is_ok());
        if committed {
            let txn = self
                .sessions
                .get_mut(&session)
                .and_then(|state| state.txn.take())
                .expect("checked open");
            self.commit_session_txn(session, txn);
        }
        self.crash();
        committed
    }

    /// Ground truth: every committed transaction, in commit order.
    pub fn commit_log(&self) -> &[CommittedTxn] {
        &self.db.commit_log
    }

    /// Ground truth: the latest committed rows of a table (`name` or `schema.name`), in
    /// insertion order. Unknown tables give an empty list.
    pub fn table_snapshot(&self, table: &str) -> Vec<Row> {
        self.table_rows(table)
            .into_iter()
            .map(<[Value]>::to_vec)
            .collect()
    }

    /// Every table that exists now, as `schema.name` with its column names, in creation
    /// order.
    pub fn tables(&self) -> Vec<(String, Vec<String>)> {
        let tables = self.db.catalog.tables();
        tables
            .map(|(_, table)| (table.qualified_name(), table.column_names()))
            .collect()
    }

    /// The latest committed rows of `table`, borrowed: for properties checked after every
    /// change, which must not copy a whole table each time.
    pub fn table_rows(&self, table: &str) -> Vec<&[Value]> {
        let Some(table_id) = self.db.catalog.find(table) else {
            return Vec::new();
        };
        let view = ReadView {
            snapshot_csn: self.db.txns.latest_csn(),
            xid: 0,
            cid: 0,
        };
        let Some(heap) = self.db.heaps.get(table_id.0) else {
            return Vec::new();
        };
        heap.chains
            .values()
            .filter_map(|chain| {
                self.db
                    .txns
                    .visible_version(chain, &view)
                    .map(|(_, version)| version.values.as_slice())
            })
            .collect()
    }

    /// Whether the session has an open (explicit or implicit) transaction.
    pub fn in_transaction(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|state| state.txn.is_some())
    }

    /// Convenience for drivers: the session's pending statement started waiting at this
    /// virtual time and `deadlock_timeout_micros` has passed by `now_micros`.
    pub fn deadlock_check_due(&self, session: SessionId, now_micros: u64) -> bool {
        self.sessions
            .get(&session)
            .and_then(|state| state.pending.as_ref())
            .is_some_and(|pending| {
                let timeout_micros = self.timeouts(session).deadlock_timeout_micros;
                now_micros >= pending.wait_started_micros + timeout_micros
            })
    }
}
