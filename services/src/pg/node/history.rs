//! The SQL history of a run: what the simulated server received and answered, recorded as
//! structured data by the server itself (never parsed back from trace text), so that
//! `syncsim replay --format spec` can write the run as an isolationtester spec and `syncsim
//! confirm` can run it on a real PostgreSQL.
//!
//! One entry per setup script, installed row trigger, statement, session close and server
//! crash, in the order the server saw them. A statement entry is written when the statement
//! arrives and completed when it is answered; one that never is (its session closed or the
//! server crashed while it waited) keeps no reply. Not recorded: statements that never reached
//! the server (lost on the network or sent to a restarted server), the bytes of the wire
//! protocol, NOTIFY deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::{PgError, QueryResult, RowTrigger, SessionId, Value};

/// One thing the server did, in the order it did it.
#[derive(Clone, Debug)]
pub enum SqlEntry {
    /// A setup script the model ran before the run (schema, seed rows).
    Setup {
        /// The script as given.
        sql: String,
    },
    /// A native row trigger installed on a table at setup (the CRM mirror's).
    Trigger {
        /// The table it fires on.
        table: String,
        /// The trigger itself.
        trigger: Arc<dyn RowTrigger>,
    },
    /// A statement of a client's connection.
    Statement(Box<SqlStatement>),
    /// A session ended: the client closed it, the network dropped it, or its keepalive
    /// declared the client dead. Its open transaction rolled back, its locks were released.
    Closed {
        /// The session.
        session: SessionId,
        /// When, in virtual microseconds.
        at_micros: u64,
        /// Whether it was inside a transaction block (rolled back by the close).
        in_transaction: bool,
    },
    /// The server crashed: every open transaction rolled back, every session ended.
    Crashed {
        /// When, in virtual microseconds.
        at_micros: u64,
        /// Sessions open at the crash, with whether each was inside a transaction block.
        sessions: Vec<(SessionId, bool)>,
    },
}

/// A statement as the server received and answered it.
#[derive(Clone, Debug)]
pub struct SqlStatement {
    /// The session (connection) that sent it.
    pub session: SessionId,
    /// The node of the client that opened the session.
    pub client_node: String,
    /// The statement text as sent.
    pub sql: String,
    /// Its bound parameters (`$1` is the first).
    pub params: Vec<Value>,
    /// When it reached the server, in virtual microseconds.
    pub sent_micros: u64,
    /// Whether its session was outside a transaction block when it arrived (so it starts a
    /// transaction: `BEGIN`, or a statement in an implicit one).
    pub starts_transaction: bool,
    /// The sessions it waited for (empty when it never waited).
    pub waited_for: Vec<SessionId>,
    /// When it was answered, in virtual microseconds; `None` when it never was.
    pub finished_micros: Option<u64>,
    /// The answer; `None` when it never got one.
    pub reply: Option<Result<QueryResult, PgError>>,
    /// How many history entries existed when it was answered: an entry at a lower index
    /// happened before the answer (a statement that arrived while this one still waited).
    pub answered_after_entries: Option<usize>,
}

/// The history as the server builds it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SqlHistory {
    /// Whether statements, closes and crashes are recorded (setup scripts and triggers
    /// always are): only in runs that keep their services for tools, since every statement's
    /// copy costs a sweep about 5 to 10 percent of its time on SQL-heavy models.
    pub(crate) statements: bool,
    entries: Vec<SqlEntry>,
    /// The entry of each session's statement that is not answered yet.
    open: BTreeMap<SessionId, usize>,
}

impl SqlHistory {
    pub(crate) fn entries(&self) -> &[SqlEntry] {
        &self.entries
    }

    pub(crate) fn push(&mut self, entry: SqlEntry) {
        self.entries.push(entry);
    }

    /// A statement of `session` arrived.
    pub(crate) fn arrived(&mut self, statement: SqlStatement) {
        if !self.statements {
            return;
        }
        let session = statement.session;
        let previous = self.open.insert(session, self.entries.len());
        assert!(
            previous.is_none(),
            "a session sends its next statement only after the answer"
        );
        self.entries.push(SqlEntry::Statement(Box::new(statement)));
    }

    /// The arrived statement of `session` waits for `holders`.
    pub(crate) fn blocked(&mut self, session: SessionId, holders: &[SessionId]) {
        if let Some(statement) = self.open_statement(session) {
            for holder in holders {
                if !statement.waited_for.contains(holder) {
                    statement.waited_for.push(*holder);
                }
            }
        }
    }

    /// The statement of `session` was answered at `at_micros`.
    pub(crate) fn answered(
        &mut self,
        session: SessionId,
        at_micros: u64,
        reply: &Result<QueryResult, PgError>,
    ) {
        let entries = self.entries.len();
        if let Some(index) = self.open.remove(&session) {
            if let Some(SqlEntry::Statement(statement)) = self.entries.get_mut(index) {
                statement.finished_micros = Some(at_micros);
                statement.reply = Some(reply.clone());
                statement.answered_after_entries = Some(entries);
            }
        }
    }

    /// `session` ended; a statement it still waited in is never answered.
    pub(crate) fn closed(&mut self, session: SessionId, at_micros: u64, in_transaction: bool) {
        if !self.statements {
            return;
        }
        self.open.remove(&session);
        self.entries.push(SqlEntry::Closed {
            session,
            at_micros,
            in_transaction,
        });
    }

    /// The server crashed with these sessions open.
    pub(crate) fn crashed(&mut self, at_micros: u64, sessions: Vec<(SessionId, bool)>) {
        if !self.statements {
            return;
        }
        self.open.clear();
        self.entries.push(SqlEntry::Crashed {
            at_micros,
            sessions,
        });
    }

    fn open_statement(&mut self, session: SessionId) -> Option<&mut SqlStatement> {
        let index = *self.open.get(&session)?;
        match self.entries.get_mut(index) {
            Some(SqlEntry::Statement(statement)) => Some(statement),
            _ => None,
        }
    }
}
