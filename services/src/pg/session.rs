//! Sessions and transactions: the idle / in-transaction / aborted state machine, savepoints,
//! and what commit and rollback do to storage, locks and the ground-truth log.
//!
//! Not modelled: two-phase commit, prepared statements (every submit names its SQL text;
//! parsing is cached instead).
//! Invariant: when a transaction ends, every row lock and transaction-level advisory lock it
//! holds is released in the same call, so waiters can be re-run right after.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlparser::ast::Statement;

use super::exec::{Db, Progress, Wait};
use super::storage::{undo, CommandId, ReadView, WriteKind, Xid};
use super::value::Value;
use super::{ChangeKind, CommittedTxn, IsolationLevel, RowChange, SessionId};

/// A transaction in progress (or aborted and waiting for ROLLBACK).
#[derive(Clone, Debug)]
pub struct Txn {
    /// Transaction id.
    pub xid: Xid,
    /// Isolation level.
    pub isolation: IsolationLevel,
    /// READ ONLY: writes fail with 25006 (`txn_modes.rs`).
    pub read_only: bool,
    /// DEFERRABLE: a SERIALIZABLE READ ONLY transaction waits for a safe snapshot.
    pub deferrable: bool,
    /// Its first statement waits for its snapshot to be known safe (`Wait::SafeSnapshot`).
    pub awaiting_safe_snapshot: bool,
    /// Started by BEGIN (true) or implicitly for one submit (false).
    pub explicit: bool,
    /// Start time in Unix microseconds: what now() returns.
    pub start_unix_micros: i64,
    /// REPEATABLE READ snapshot, taken at the first statement that takes one (not
    /// transaction control, LOCK TABLE, SET, SET CONSTRAINTS, LISTEN/UNLISTEN/NOTIFY).
    pub snapshot_csn: Option<u64>,
    /// A statement took a snapshot (any but LOCK TABLE, SET, LISTEN/UNLISTEN/NOTIFY): the
    /// isolation level can no longer change (25001).
    pub snapshot_taken: bool,
    /// Command id for the next statement.
    pub next_cid: CommandId,
    /// Open savepoints: name and the first command id after it.
    pub savepoints: Vec<(String, CommandId)>,
    /// An error happened; statements fail with 25P02 until ROLLBACK [TO SAVEPOINT].
    pub aborted: bool,
    /// Statements that succeeded, for the ground-truth log.
    pub statements: Vec<String>,
    /// SET LOCAL timeouts, which end with the transaction.
    pub local_timeouts: Option<super::Timeouts>,
    /// SET LOCAL xmlbinary, which ends with the transaction.
    pub local_xmlbinary: Option<super::settings::XmlBinary>,
    /// The session's settings before its first SET in this transaction: an abort puts them
    /// back, as PostgreSQL's GUC stack does (a SET is transactional).
    pub settings_before: Option<(super::Timeouts, super::settings::XmlBinary)>,
    /// Notifications to deliver at commit, duplicates folded.
    pub pending_notifies: Vec<(String, String)>,
    /// LISTEN / UNLISTEN to apply at commit.
    pub pending_listens: Vec<(String, bool)>,
}

/// A statement parked on a lock.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The parsed batch the statement belongs to.
    pub batch: Arc<Vec<Statement>>,
    /// Position of the blocked statement in the batch.
    pub statement_index: usize,
    /// Parameters of the submit.
    pub params: Vec<Value>,
    /// Work that survives re-runs.
    pub progress: Progress,
    /// The statement's snapshot and command id (`None`: it waits for a table lock before
    /// it started, and takes both when it runs).
    pub view: Option<ReadView>,
    /// What it waits for.
    pub wait: Wait,
    /// Virtual time the wait started, in microseconds.
    pub wait_started_micros: u64,
    /// `Db::rollback_epoch` when the wait started.
    pub wait_epoch: u64,
    /// Queue position: waiters are offered the chance to run in this order.
    pub wait_sequence: u64,
    /// A row waiter queued behind an earlier waiter for the row (which holds the tuple
    /// lock): when that one leaves, this one starts a new wait (`restart_queue_heads`).
    pub queued: bool,
}

/// A client connection.
#[derive(Clone, Debug)]
pub struct Session {
    /// Session-level timeouts (SET / SET SESSION).
    pub timeouts: super::Timeouts,
    /// Session-level xmlbinary (SET / SET SESSION).
    pub xmlbinary: super::settings::XmlBinary,
    /// The settings when the current statement string began outside a transaction block:
    /// a SET early in the string belongs to the implicit transaction a later statement
    /// opens, and goes back with it if the string fails.
    pub batch_settings: Option<(super::Timeouts, super::settings::XmlBinary)>,
    /// Channels this session listens on.
    pub listening: std::collections::BTreeSet<String>,
    /// Delivered notifications not yet taken by the client.
    pub inbox: Vec<super::Notification>,
    /// The open transaction, if any.
    pub txn: Option<Txn>,
    /// The blocked statement, if any.
    pub pending: Option<Pending>,
}

impl Db {
    /// Starts a transaction for a session.
    pub fn begin_txn(
        &mut self,
        session: SessionId,
        isolation: IsolationLevel,
        explicit: bool,
        start_unix_micros: i64,
    ) -> Txn {
        let xid = self.txns.begin();
        self.xid_owner.insert(xid, session);
        Txn {
            xid,
            isolation,
            read_only: false,
            deferrable: false,
            awaiting_safe_snapshot: false,
            explicit,
            start_unix_micros,
            snapshot_csn: None,
            snapshot_taken: false,
            next_cid: 0,
            savepoints: Vec::new(),
            aborted: false,
            statements: Vec::new(),
            local_timeouts: None,
            local_xmlbinary: None,
            settings_before: None,
            pending_notifies: Vec::new(),
            pending_listens: Vec::new(),
        }
    }

    fn release_xid(&mut self, xid: Xid) {
        self.ddl_undo.remove(&xid);
        self.row_locks.release_xid(xid);
        self.table_locks.release_xid(xid);
        self.advisory.release_xid(xid, 0);
        self.xid_owner.remove(&xid);
        self.writes.remove(&xid);
        self.partial_rollbacks.remove(&xid);
        self.truncated.remove(&xid);
        self.deferred.remove(&xid);
    }

    /// Commits: makes the writes visible, logs them, releases locks.
    pub fn commit_txn(&mut self, session: SessionId, txn: Txn) {
        let commit_sequence = self.txns.commit(txn.xid);
        self.ssi.release(txn.xid, Some(commit_sequence));
        let mut changes: BTreeMap<String, Vec<RowChange>> = BTreeMap::new();
        for record in self.writes.get(&txn.xid).into_iter().flatten() {
            let table = self.catalog.table(record.table_id).qualified_name();
            let Some(chain) = self.heaps[record.table_id.0].chains.get(&record.row_id) else {
                continue;
            };
            let stamp = (txn.xid, record.cid);
            let version = match record.kind {
                WriteKind::Delete => chain
                    .versions
                    .iter()
                    .find(|version| version.xmax == Some(stamp)),
                _ => chain
                    .versions
                    .iter()
                    .find(|version| (version.xmin, version.cmin) == stamp),
            };
            let kind = match record.kind {
                WriteKind::Insert => ChangeKind::Insert,
                WriteKind::Update => ChangeKind::Update,
                WriteKind::Delete => ChangeKind::Delete,
            };
            if let Some(version) = version {
                changes.entry(table).or_default().push(RowChange {
                    kind,
                    values: version.values.clone(),
                });
            }
        }
        self.commit_log.push(CommittedTxn {
            xid: txn.xid,
            commit_sequence,
            session,
            committed_at_micros: self.clock_micros,
            client: self.clients.get(&session).cloned().unwrap_or_default(),
            statements: txn.statements,
            changes,
        });
        if self.ddl_undo.contains_key(&txn.xid) {
            self.release_dropped();
        }
        self.purge_truncated(txn.xid);
        self.release_xid(txn.xid);
    }

    /// Rolls a whole transaction back: undoes its writes and releases its locks.
    pub fn abort_xid(&mut self, xid: Xid) {
        if !self.txns.in_progress(xid) {
            return;
        }
        let records = self.writes.get(&xid).cloned().unwrap_or_default();
        for record in records.iter().rev() {
            undo(&mut self.heaps, record);
        }
        self.txns.abort(xid);
        self.ssi.release(xid, None);
        self.undo_ddl(xid);
        self.release_xid(xid);
    }

    /// Rolls back the work of commands `cid` and later (ROLLBACK TO SAVEPOINT, or the failed
    /// subtransaction of a statement error).
    pub fn rollback_to(&mut self, xid: Xid, cid: CommandId) {
        let records = self.writes.get(&xid).cloned().unwrap_or_default();
        let (keep, discard): (Vec<_>, Vec<_>) =
            records.into_iter().partition(|record| record.cid < cid);
        for record in discard.iter().rev() {
            undo(&mut self.heaps, record);
        }
        self.writes.insert(xid, keep);
        self.row_locks.release_since(xid, cid);
        self.table_locks.release_since(xid, cid);
        if let Some(truncated) = self.truncated.get_mut(&xid) {
            truncated.retain(|(_, truncating)| *truncating < cid);
        }
        self.advisory.release_xid(xid, cid);
        if let Some(deferred) = self.deferred.get_mut(&xid) {
            deferred.rollback_to(cid);
        }
        self.rollback_epoch += 1;
        self.partial_rollbacks.insert(xid, self.rollback_epoch);
    }
}
