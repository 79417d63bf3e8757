//! `PgServer`: the engine as it lives on its node, plus what the adapter needs around it (the
//! seeded entropy, the waiting callers, the crash epoch) and the ground truth properties read.
//!
//! The server runs no task of its own: each statement executes in the caller's task when it
//! arrives, and every step that may end a transaction re-runs the waiters it unblocked
//! (PostgreSQL wakes lock waiters the same way, oldest first). Not modelled: server-side CPU
//! time, connection limits, a crash in the middle of one statement's execution.

use std::collections::BTreeMap;

use futures::channel::oneshot;

use std::sync::Arc;

use super::super::{
    CancelReason, CommittedTxn, PgConfig, PgError, Postgres, QueryResult, Row, RowTrigger,
    SessionId, StepOutcome, Value,
};
use super::history::{SqlEntry, SqlHistory, SqlStatement};
use syncsim_sim::kit::NodeRef;
use syncsim_sim::prng::Prng;
use syncsim_sim::seed::Seed;
use syncsim_sim::world::World;

/// The answer a waiting statement eventually gets.
pub(crate) type Reply = Result<QueryResult, PgError>;

/// Bounds the re-run loop after a step; the engine never needs more than one pass per waiter,
/// so hitting it means an engine bug, reported as a failure instead of a hang.
const RESUME_PASSES_MAX: usize = 10_000;

/// What a submitted statement did on arrival.
pub(crate) enum Arrival {
    /// The statement finished; `in_block` tells whether the session is now inside a
    /// transaction block.
    Done { reply: Reply, in_block: bool },
    /// It waits for these sessions; the reply comes through `receiver`.
    Blocked {
        waiting_for: Vec<SessionId>,
        receiver: oneshot::Receiver<Reply>,
    },
    /// The server restarted since the connection opened: it does not know the session.
    Stale,
    /// The server closed the session (its keepalive declared the client dead): its kernel
    /// answers the client with a reset.
    Reset,
}

/// What the server's kernel knows of one session's TCP connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// The client's node.
    pub(crate) client_node: String,
    /// When a packet of this connection last arrived or left, in virtual microseconds: the
    /// keepalive's idle time counts from it.
    pub(crate) last_heard_micros: u64,
    /// The client closed its socket while the network lost its FIN: the session is orphaned
    /// and only the keepalive (or a FIN retransmitted after the network came back) ends it.
    pub(crate) client_closed: bool,
}

/// A statement the server answered with an error: ground truth next to the commit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementError {
    /// Virtual time of the answer, in microseconds since the run started.
    pub at_micros: u64,
    /// The session (connection) that ran it.
    pub session: SessionId,
    /// The statement text as sent.
    pub sql: String,
    /// The error, with its SQLSTATE.
    pub error: PgError,
}

/// A simulated Postgres server on its node: the engine and its ground truth.
pub struct PgServer {
    engine: Postgres,
    errors: Vec<StatementError>,
    /// The text of each waiting statement, for the error log.
    waiting_sql: BTreeMap<SessionId, String>,
    /// Seeded lazily from the run's seed at the first connection (the builder has no seed).
    entropy: Option<Prng>,
    /// Crashes so far; a connection opened in an older epoch is gone.
    epoch: u64,
    waiters: BTreeMap<SessionId, oneshot::Sender<Reply>>,
    /// The TCP connection of every open session of this epoch.
    links: BTreeMap<SessionId, Link>,
    /// The node the kernel's timers run on, made at the first connection (inside the run).
    kernel_node: Option<NodeRef>,
    /// Every setup script, statement, close and crash, for `replay --format spec`.
    history: SqlHistory,
}

impl PgServer {
    pub(crate) fn new(config: PgConfig) -> Self {
        PgServer {
            engine: Postgres::new(config),
            errors: Vec::new(),
            waiting_sql: BTreeMap::new(),
            entropy: None,
            epoch: 0,
            waiters: BTreeMap::new(),
            links: BTreeMap::new(),
            kernel_node: None,
            history: SqlHistory::default(),
        }
    }

    /// The engine, for reads of its state (`table_snapshot`, `commit_log`, `in_transaction`).
    pub fn engine(&self) -> &Postgres {
        &self.engine
    }

    /// The engine, for setup-time changes (installing row triggers).
    pub(crate) fn engine_mut(&mut self) -> &mut Postgres {
        &mut self.engine
    }

    /// The latest committed rows of `table` (`name` or `schema.name`), in insertion order.
    pub fn table_snapshot(&self, table: &str) -> Vec<Row> {
        self.engine.table_snapshot(table)
    }

    /// The latest committed rows of `table`, borrowed (see [`Postgres::table_rows`]).
    pub fn table_rows(&self, table: &str) -> Vec<&[Value]> {
        self.engine.table_rows(table)
    }

    /// Every committed transaction, in commit order.
    pub fn commit_log(&self) -> &[CommittedTxn] {
        self.engine.commit_log()
    }

    /// Every statement answered with an error (constraint violations, deadlocks, timeouts,
    /// 25P02...), in answer order.
    pub fn statement_errors(&self) -> &[StatementError] {
        &self.errors
    }

    /// What the server received and answered, in order: setup scripts, row triggers,
    /// statements with their parameters, waits and replies, closes and crashes.
    pub fn sql_history(&self) -> &[SqlEntry] {
        self.history.entries()
    }

    /// How many times the server crashed.
    pub fn crashes(&self) -> u64 {
        self.epoch
    }

    /// Runs `sql` directly on a fresh session, outside the network and the clock: for a model's
    /// schema and seed data before the run starts. Panics on an error (a broken setup script
    /// is a bug in the model).
    pub fn setup(&mut self, sql: &str) {
        self.history.push(SqlEntry::Setup {
            sql: sql.to_string(),
        });
        let session = self.engine.open_session();
        let mut entropy = Prng::new(Seed(0).stream("pg/setup"));
        let outcome = self.engine.submit(session, sql, &[], 0, &mut entropy);
        self.engine.close_session(session);
        match outcome {
            StepOutcome::Done(Ok(_)) => {}
            StepOutcome::Done(Err(error)) => panic!("setup SQL failed: {error}\n{sql}"),
            StepOutcome::Blocked { .. } => panic!("setup SQL blocked on an idle server\n{sql}"),
        }
    }

    /// Installs a native row trigger on `table` (see [`RowTrigger`]), recording it.
    pub(crate) fn install_trigger(&mut self, table: &str, trigger: Arc<dyn RowTrigger>) {
        self.history.push(SqlEntry::Trigger {
            table: table.to_string(),
            trigger: trigger.clone(),
        });
        self.engine.install_trigger(table, trigger);
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Opens a session for a client on `client_node`; returns it and the node the kernel's
    /// timers run on.
    pub(crate) fn open(
        &mut self,
        world: &World,
        server_name: &str,
        client_node: &str,
        now_micros: u64,
    ) -> (SessionId, NodeRef) {
        self.entropy
            .get_or_insert_with(|| Prng::new(world.seed().stream(&format!("pg/{server_name}"))));
        self.history.statements = world.keeps_services();
        let kernel_node = *self
            .kernel_node
            .get_or_insert_with(|| world.create_service_node(&format!("{server_name} kernel")));
        let session = self.engine.open_session();
        self.engine.set_client(session, client_node);
        let link = Link {
            client_node: client_node.to_string(),
            last_heard_micros: now_micros,
            client_closed: false,
        };
        assert!(
            self.links.insert(session, link).is_none(),
            "session ids are fresh"
        );
        (session, kernel_node)
    }

    /// The keepalive knobs: (idle, interval) in microseconds, and the probe count.
    pub(crate) fn keepalive(&self) -> (u64, u64, u32) {
        let config = self.engine.config();
        (
            config.tcp_keepalives_idle_micros,
            config.tcp_keepalives_interval_micros,
            config.tcp_keepalives_count,
        )
    }

    /// The connection of `session` (of `epoch`), while the session is open.
    pub(crate) fn link(&self, session: SessionId, epoch: u64) -> Option<&Link> {
        if epoch != self.epoch {
            return None;
        }
        self.links.get(&session)
    }

    /// A packet of `session` arrived or left now (a statement, a reply, a keepalive ACK).
    pub(crate) fn heard(&mut self, session: SessionId, now_micros: u64) {
        if let Some(link) = self.links.get_mut(&session) {
            assert!(
                link.last_heard_micros <= now_micros,
                "virtual time only grows"
            );
            link.last_heard_micros = now_micros;
        }
    }

    /// The client closed `session`'s socket but its FIN was lost: the session lives on.
    pub(crate) fn orphan(&mut self, session: SessionId, epoch: u64) {
        if epoch != self.epoch {
            return;
        }
        if let Some(link) = self.links.get_mut(&session) {
            link.client_closed = true;
        }
    }

    pub(crate) fn submit(
        &mut self,
        session: SessionId,
        epoch: u64,
        sql: &str,
        params: &[Value],
        now_micros: u64,
    ) -> Arrival {
        if epoch != self.epoch {
            return Arrival::Stale;
        }
        if !self.links.contains_key(&session) {
            return Arrival::Reset;
        }
        self.heard(session, now_micros);
        self.record_arrival(session, sql, params, now_micros);
        let mut entropy = self.entropy.take().expect("seeded when the session opened");
        let outcome = self
            .engine
            .submit(session, sql, params, now_micros, &mut entropy);
        self.entropy = Some(entropy);
        let arrival = match outcome {
            StepOutcome::Done(reply) => Arrival::Done {
                reply: self.logged(session, sql, now_micros, reply),
                in_block: self.engine.in_transaction(session),
            },
            StepOutcome::Blocked { waiting_for } => {
                self.history.blocked(session, &waiting_for);
                let (sender, receiver) = oneshot::channel();
                self.waiters.insert(session, sender);
                self.waiting_sql.insert(session, sql.to_string());
                Arrival::Blocked {
                    waiting_for,
                    receiver,
                }
            }
        };
        self.resume_waiters(now_micros);
        arrival
    }

    fn record_arrival(&mut self, session: SessionId, sql: &str, params: &[Value], now_micros: u64) {
        if !self.history.statements {
            return;
        }
        let client_node = self
            .links
            .get(&session)
            .map(|link| link.client_node.clone());
        self.history.arrived(SqlStatement {
            session,
            client_node: client_node.unwrap_or_default(),
            sql: sql.to_string(),
            params: params.to_vec(),
            sent_micros: now_micros,
            starts_transaction: !self.engine.in_transaction(session),
            waited_for: Vec::new(),
            finished_micros: None,
            reply: None,
            answered_after_entries: None,
        });
    }

    /// Whether `session` (of `epoch`) is inside a transaction block now.
    pub(crate) fn in_block(&self, session: SessionId, epoch: u64) -> bool {
        epoch == self.epoch && self.engine.in_transaction(session)
    }

    /// Re-runs every waiter whose blockers ended, until none is runnable, and hands each
    /// finished statement its reply.
    fn resume_waiters(&mut self, now_micros: u64) {
        for _ in 0..RESUME_PASSES_MAX {
            let runnable = self.engine.runnable_waiters();
            if runnable.is_empty() {
                return;
            }
            let mut entropy = self.entropy.take().expect("seeded before any wait");
            for session in runnable {
                match self.engine.resume(session, now_micros, &mut entropy) {
                    StepOutcome::Done(reply) => self.deliver(session, now_micros, reply),
                    StepOutcome::Blocked { waiting_for } => {
                        self.history.blocked(session, &waiting_for);
                    }
                }
            }
            self.entropy = Some(entropy);
        }
        panic!("pg: waiters still runnable after {RESUME_PASSES_MAX} passes (engine bug)");
    }

    /// Records `reply` in the error log when it is an error, and hands it back.
    fn logged(&mut self, session: SessionId, sql: &str, now_micros: u64, reply: Reply) -> Reply {
        self.history.answered(session, now_micros, &reply);
        if let Err(error) = &reply {
            self.errors.push(StatementError {
                at_micros: now_micros,
                session,
                sql: sql.to_string(),
                error: error.clone(),
            });
        }
        reply
    }

    /// Ends `session`'s wait, forgetting its statement text.
    fn end_wait(&mut self, session: SessionId) -> (Option<oneshot::Sender<Reply>>, String) {
        let sql = self.waiting_sql.remove(&session).unwrap_or_default();
        (self.waiters.remove(&session), sql)
    }

    fn deliver(&mut self, session: SessionId, now_micros: u64, reply: Reply) {
        self.heard(session, now_micros);
        let (sender, sql) = self.end_wait(session);
        let reply = self.logged(session, &sql, now_micros, reply);
        if let Some(sender) = sender {
            // The waiting caller may be gone (its node crashed); the reply is then lost.
            let _ = sender.send(reply);
        }
    }

    /// The waiter of `session` waited `deadlock_timeout`: look for a deadlock once, as
    /// PostgreSQL does. Some(40P01) when this waiter is the victim.
    pub(crate) fn check_deadlock(&mut self, session: SessionId, now_micros: u64) -> Option<Reply> {
        let Some(error) = self.engine.check_deadlock(session) else {
            // A check that reorders a table-lock queue can let waiters through.
            self.resume_waiters(now_micros);
            return None;
        };
        let (_, sql) = self.end_wait(session);
        let reply = self.logged(session, &sql, now_micros, Err(error));
        self.resume_waiters(now_micros);
        Some(reply)
    }

    /// A timeout of `session`'s wait ran out: cancel the statement.
    pub(crate) fn cancel(
        &mut self,
        session: SessionId,
        reason: CancelReason,
        now_micros: u64,
    ) -> Option<Reply> {
        let error = self.engine.cancel_wait(session, reason)?;
        let (_, sql) = self.end_wait(session);
        let reply = self.logged(session, &sql, now_micros, Err(error));
        self.resume_waiters(now_micros);
        Some(reply)
    }

    /// Whether `session` still waits (false once its reply was handed over or it was lost).
    pub(crate) fn waiting(&self, session: SessionId) -> bool {
        self.waiters.contains_key(&session)
    }

    /// The connection of `session` closed: roll back its transaction, release its locks
    /// (advisory ones included) and run the waiters that frees.
    /// Returns whether the session was still open (a second close does nothing).
    pub(crate) fn close(&mut self, session: SessionId, epoch: u64, now_micros: u64) -> bool {
        if epoch != self.epoch || self.links.remove(&session).is_none() {
            return false;
        }
        self.end_wait(session);
        let in_transaction = self.engine.in_transaction(session);
        self.history.closed(session, now_micros, in_transaction);
        self.engine.close_session(session);
        if self.entropy.is_some() {
            self.resume_waiters(now_micros);
        }
        assert!(
            !self.engine.in_transaction(session),
            "a closed session holds nothing"
        );
        true
    }

    /// The node crashed: every session ends, open transactions roll back, and every waiting
    /// caller's reply is lost (its channel closes).
    pub(crate) fn crash(&mut self) {
        let open = self.links.keys();
        let sessions = open.map(|s| (*s, self.engine.in_transaction(*s))).collect();
        let at_micros = syncsim_sim::kit::try_now().map_or(0, |now| now.as_micros());
        self.history.crashed(at_micros, sessions);
        self.engine.crash();
        self.links.clear();
        self.waiters.clear();
        self.waiting_sql.clear();
        self.epoch += 1;
    }

    /// The lock, statement and deadlock timeouts in force for `session`, in microseconds.
    pub(crate) fn timeouts(&self, session: SessionId) -> super::super::Timeouts {
        self.engine.timeouts(session)
    }

    /// Whether `session` waits for a lock (not for a safe snapshot).
    pub(crate) fn waits_for_lock(&self, session: SessionId) -> bool {
        self.engine.waits_for_lock(session)
    }
}
