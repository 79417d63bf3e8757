//! The execution context shared by every statement kind: the database state, the statement's
//! read view, and the `Interrupt` that lets a statement stop to wait for a lock.
//!
//! A statement that must wait returns `Interrupt::Block`. The engine parks the session and
//! later re-runs the statement from the top with the same snapshot and command id; rows the
//! statement already wrote carry that command id, so the re-run recognises and skips them
//! (PostgreSQL's "updated by the current command" rule), and volatile calls (nextval,
//! gen_random_uuid, advisory locks) are answered from `Progress::replay` so nothing is drawn
//! twice. This gives PostgreSQL's observable behaviour without suspending a stack frame.
//! Not modelled: anything that would observe the re-run itself (there is nothing in the
//! subset: row triggers never re-fire for a row already written, and no function has side
//! effects other than the replayed ones).
//! Invariant: a blocked statement has not released any lock it took before blocking.

use std::collections::BTreeMap;

use super::catalog::{Catalog, TableId};
use super::error::PgError;
use super::locks::{AdvisoryKey, AdvisoryLocks, RowLockMode, RowLocks};
use super::storage::{
    CommandId, Heap, ReadView, RowId, TxnTable, WriteKind, WriteRecord, Xid, EMPTY_HEAP,
};
use super::table_locks::{Acquired, Request, TableLockMode, TableLocks};
use super::value::Value;
use super::{CommittedTxn, Entropy, IsolationLevel, SessionId};

/// Why a statement stopped without finishing.
#[derive(Clone, Debug)]
pub enum Interrupt {
    /// It failed.
    Error(PgError),
    /// It must wait.
    Block(Wait),
}

impl From<PgError> for Interrupt {
    fn from(error: PgError) -> Self {
        Interrupt::Error(error)
    }
}

/// What a blocked statement waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The end (commit or rollback) of all these transactions.
    Xids(Vec<Xid>),
    /// The end of all these transactions, to lock `key` in `mode`. Who blocks the waiter is
    /// the row's tuple-lock queue: an earlier waiter for the row in a conflicting mode holds
    /// the tuple lock while it waits (PostgreSQL's `heap_lock_tuple`), so a later waiter
    /// waits for it, not for the locker (`Postgres::blockers`).
    Row {
        /// The row.
        key: (TableId, RowId),
        /// The requested lock mode.
        mode: RowLockMode,
        /// The transactions holding conflicting locks when the wait started.
        xids: Vec<Xid>,
    },
    /// An advisory lock to become free for this session.
    Advisory(AdvisoryKey),
    /// A table lock (the session is in the table's queue, see `table_locks`).
    Table(TableId, TableLockMode),
    /// A safe snapshot for this SERIALIZABLE READ ONLY DEFERRABLE transaction: the end of the
    /// writable transactions that might make its snapshot unsafe, or the first of them to
    /// commit with a conflict out (`ssi.rs`). Not a lock wait: no deadlock check sees it and
    /// `lock_timeout` does not apply, as in PostgreSQL (wait event `SafeSnapshot`).
    SafeSnapshot(Xid),
}

impl Wait {
    /// Whether it waits for a lock (deadlock detection and `lock_timeout` apply).
    pub fn is_lock(&self) -> bool {
        !matches!(self, Wait::SafeSnapshot(_))
    }
}

/// Result of an executor step.
pub type Exec<T> = Result<T, Interrupt>;

/// Work a statement has done that must survive a block and re-run.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Results of volatile calls, in call order.
    pub replay: Vec<Value>,
    /// The writing part running now (the statement, or one part of a statement with
    /// data-modifying WITH queries): what it has done.
    pub part: PartProgress,
    /// Which part `part` belongs to (0 for a statement without WITH; see `cte.rs`).
    pub current_part: usize,
    /// The other parts' progress, by part.
    pub other_parts: BTreeMap<usize, PartProgress>,
    /// The rows of each WITH query that ran to the end, by position (`cte.rs`).
    pub with_rows: BTreeMap<usize, std::sync::Arc<super::select::Derived>>,
    /// NOTIFY / pg_notify calls of the statement: (channel, payload).
    pub notifies: Vec<(String, String)>,
    /// LISTEN (true) / UNLISTEN (false) of the statement.
    pub listens: Vec<(String, bool)>,
    /// The statement's result, once its work is done and only its end-of-statement
    /// constraint checks (which waited) remain to re-run.
    pub finished: Option<super::QueryResult>,
    /// SERIALIZABLE reads whose rw-conflicts were checked, by the runs before a wait.
    pub ssi_reads_checked: usize,
}

/// What one INSERT, UPDATE or DELETE has done so far.
#[derive(Clone, Debug, Default)]
pub struct PartProgress {
    /// INSERT: VALUES rows fully processed.
    pub rows_done: usize,
    /// INSERT: RETURNING rows of the processed rows.
    pub returned: Vec<Vec<Value>>,
    /// INSERT: rows inserted or updated so far.
    pub affected: u64,
    /// UPDATE/DELETE: chains of the target table the part's own scan wrote.
    pub own_rows: std::collections::BTreeSet<RowId>,
}

impl Progress {
    /// Makes `part` the running part, keeping the one that ran before under its number.
    pub fn enter_part(&mut self, part: usize) {
        if part == self.current_part {
            return;
        }
        let entered = self.other_parts.remove(&part).unwrap_or_default();
        let left = std::mem::replace(&mut self.part, entered);
        self.other_parts.insert(self.current_part, left);
        self.current_part = part;
    }
}

/// All shared state of one simulated database server.
#[derive(Clone, Debug, Default)]
pub struct Db {
    /// Tables, indexes, sequences.
    pub catalog: Catalog,
    /// One heap per table, indexed by `TableId`.
    pub heaps: Vec<Heap>,
    /// Transaction status.
    pub txns: TxnTable,
    /// Row locks.
    pub row_locks: RowLocks,
    /// Advisory locks.
    pub advisory: AdvisoryLocks,
    /// Table locks and their wait queues.
    pub table_locks: TableLocks,
    /// Writes of each in-progress transaction, oldest first.
    pub writes: BTreeMap<Xid, Vec<WriteRecord>>,
    /// Session running each in-progress transaction.
    pub xid_owner: BTreeMap<Xid, SessionId>,
    /// Ground truth: committed transactions in commit order.
    pub commit_log: Vec<CommittedTxn>,
    /// Counts partial rollbacks (ROLLBACK TO SAVEPOINT, failed subtransactions).
    pub rollback_epoch: u64,
    /// Epoch of each in-progress transaction's latest partial rollback. A waiter blocked on
    /// such a transaction re-checks, because PostgreSQL waits on the subtransaction's xid.
    pub partial_rollbacks: BTreeMap<Xid, u64>,
    /// Serializable snapshot isolation: SIREAD locks and rw-conflicts.
    pub ssi: super::ssi::Ssi,
    /// Row triggers services installed, by table.
    pub triggers: BTreeMap<TableId, super::trigger::Triggers>,
    /// The catalog before the first DDL of each open transaction, to put back if it aborts.
    pub ddl_undo: BTreeMap<Xid, DdlUndo>,
    /// Counts DDL statements run, to tell whether another transaction's DDL came later.
    pub ddl_count: u64,
    /// Tables each in-progress transaction truncated, with the truncating command.
    pub truncated: BTreeMap<Xid, Vec<(TableId, CommandId)>>,
    /// SELECTs the top-N path answered (tests check it is taken where it should be).
    pub top_n_served: u64,
    /// Deferred constraint checks and SET CONSTRAINTS state of each in-progress transaction.
    pub deferred: BTreeMap<Xid, super::deferred::Deferred>,
    /// The latest virtual time a statement ran at, in microseconds: a commit's time.
    pub clock_micros: u64,
    /// The client (its node) of each session that has one: a commit's client.
    pub clients: BTreeMap<SessionId, String>,
}

/// What a transaction's abort restores of the catalog it changed.
#[derive(Clone, Debug)]
pub struct DdlUndo {
    /// The catalog before the transaction's first DDL.
    pub catalog: Catalog,
    /// `Db::ddl_count` after the transaction's latest DDL.
    pub ddl_count_after: u64,
    /// Positions of the sequences TRUNCATE ... RESTART IDENTITY restarted, from before the
    /// transaction's first restart of each: PostgreSQL rolls a restart back, together with
    /// every nextval drawn after it.
    pub sequence_positions: BTreeMap<String, i64>,
}

impl Db {
    /// The heap of a table, created on first use.
    pub fn heap_mut(&mut self, table_id: TableId) -> &mut Heap {
        while self.heaps.len() <= table_id.0 {
            self.heaps.push(Heap::default());
        }
        &mut self.heaps[table_id.0]
    }

    /// Runs one DDL statement of transaction `xid` on the catalog, first keeping the catalog
    /// as it was before the transaction's first DDL (PostgreSQL's DDL rolls back with its
    /// transaction; DDL runs only in implicit transactions here, see `dispatch`).
    pub fn ddl<T>(
        &mut self,
        xid: Xid,
        change: impl FnOnce(&mut Catalog) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        self.ddl_count += 1;
        let catalog = &self.catalog;
        let undo = self.ddl_undo.entry(xid).or_insert_with(|| DdlUndo {
            catalog: catalog.clone(),
            ddl_count_after: 0,
            sequence_positions: BTreeMap::new(),
        });
        undo.ddl_count_after = self.ddl_count;
        change(&mut self.catalog)
    }

    /// TRUNCATE ... RESTART IDENTITY of transaction `xid`: the sequence starts again at 1, and
    /// its position from before goes into the transaction's DDL undo.
    pub fn restart_sequence(&mut self, xid: Xid, sequence: &str) {
        let before = self.ddl(xid, |catalog| {
            let before = catalog.sequence_position(sequence);
            catalog.set_sequence_position(sequence, 0);
            Ok(before)
        });
        let Ok(Some(before)) = before else {
            return;
        };
        let undo = self.ddl_undo.get_mut(&xid).expect("ddl keeps an undo");
        undo.sequence_positions
            .entry(sequence.to_string())
            .or_insert(before);
    }

    /// An aborted transaction's DDL is undone: the catalog goes back to before its first DDL,
    /// keeping the positions of sequences that existed then (nextval is never rolled back)
    /// except those it restarted (they go back to before the restart), and the heaps of
    /// tables it created go; tables it dropped come back with their rows, which were never
    /// touched. Not when another transaction ran DDL after it
    /// (possible only while this one's statement string was blocked on a lock): putting the
    /// old catalog back would drop that one's work, so this one's DDL stays (a documented
    /// difference).
    pub fn undo_ddl(&mut self, xid: Xid) {
        let Some(undo) = self.ddl_undo.remove(&xid) else {
            return;
        };
        if undo.ddl_count_after != self.ddl_count {
            return;
        }
        let current = std::mem::replace(&mut self.catalog, undo.catalog);
        self.catalog.keep_sequence_positions(&current);
        for (sequence, position) in &undo.sequence_positions {
            self.catalog.set_sequence_position(sequence, *position);
        }
        let table_count = self.catalog.table_slot_count();
        self.heaps.truncate(table_count);
        self.triggers.retain(|table_id, _| table_id.0 < table_count);
    }

    /// A committed DROP TABLE frees the dropped tables' rows and triggers; until then a
    /// rollback could bring them back.
    pub fn release_dropped(&mut self) {
        for table_id in self.catalog.dropped() {
            if let Some(heap) = self.heaps.get_mut(table_id.0) {
                *heap = Heap::default();
            }
            self.triggers.remove(table_id);
        }
    }

    /// A committed TRUNCATE empties its tables for every snapshot, older ones included
    /// (PostgreSQL's TRUNCATE is not MVCC-safe: it gives the table a new, empty file, and a
    /// transaction whose snapshot predates it sees the table empty). Rows the transaction
    /// inserted after its TRUNCATE stay.
    pub fn purge_truncated(&mut self, xid: Xid) {
        for (table_id, cid) in self.truncated.remove(&xid).unwrap_or_default() {
            let heap = self.heap_mut(table_id);
            heap.chains.retain(|_, chain| {
                chain
                    .versions
                    .first()
                    .is_some_and(|first| first.xmin == xid && first.cmin > cid)
            });
            // The indexes are rebuilt over what is left on their next use.
            heap.indexes = super::index::HeapIndexes::default();
        }
    }

    /// The heap of a table (empty if never written).
    pub fn heap(&self, table_id: TableId) -> &Heap {
        self.heaps.get(table_id.0).unwrap_or(&EMPTY_HEAP)
    }

    /// Sessions running the given transactions.
    pub fn owners(&self, xids: &[Xid]) -> Vec<SessionId> {
        let mut sessions: Vec<SessionId> = xids
            .iter()
            .filter_map(|xid| self.xid_owner.get(xid).copied())
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }
}

/// Everything a statement needs while it runs.
pub struct StmtCtx<'a> {
    /// The database.
    pub db: &'a mut Db,
    /// The session running the statement.
    pub session: SessionId,
    /// Snapshot, transaction and command id of the statement (a check may read through
    /// another view for a while: see `after_statement_view`).
    pub view: ReadView,
    /// The statement's command id, which its writes and row locks carry whatever view it
    /// reads through.
    pub command: CommandId,
    /// Isolation level of the transaction.
    pub isolation: IsolationLevel,
    /// The transaction is READ ONLY (nextval() fails with 25006).
    pub read_only: bool,
    /// A savepoint is open (the statement runs in a subtransaction).
    pub in_subtransaction: bool,
    /// Transaction start, Unix microseconds (what now() returns).
    pub txn_start_unix_micros: i64,
    /// `$n` parameters.
    pub params: &'a [Value],
    /// Caller-supplied randomness.
    pub entropy: &'a mut dyn Entropy,
    /// Work surviving a block.
    pub progress: &'a mut Progress,
    /// Next position in `progress.replay` for this run.
    pub replay_index: usize,
    /// Results of uncorrelated subqueries in this run, by AST node address.
    pub subqueries: BTreeMap<usize, Vec<Vec<Value>>>,
    /// The session's `xmlbinary` setting, which row triggers read.
    pub xmlbinary: super::settings::XmlBinary,
    /// The statement's WITH queries, while it runs.
    pub with: super::cte::WithQueries,
    /// SERIALIZABLE reads this run has made (`serializable.rs`).
    pub ssi_reads: usize,
}

impl StmtCtx<'_> {
    /// The transaction id.
    pub fn xid(&self) -> Xid {
        self.view.xid
    }

    /// The command id.
    pub fn cid(&self) -> CommandId {
        self.command
    }

    /// Runs a volatile computation once per statement position, replaying it on re-runs.
    pub fn volatile(&mut self, compute: impl FnOnce(&mut Self) -> Exec<Value>) -> Exec<Value> {
        if let Some(value) = self.progress.replay.get(self.replay_index) {
            self.replay_index += 1;
            return Ok(value.clone());
        }
        let value = compute(self)?;
        self.progress.replay.push(value.clone());
        self.replay_index += 1;
        Ok(value)
    }

    /// A view of everything committed now plus our own earlier commands (TRUNCATE reads
    /// through it; the after-statement checks through `after_statement_view`).
    pub fn latest_view(&self) -> ReadView {
        ReadView {
            snapshot_csn: self.db.txns.latest_csn(),
            ..self.view
        }
    }

    /// What the foreign-key checks and actions queued by this statement read when they run
    /// after it: everything committed now and all of our own commands, this one included
    /// (PostgreSQL's RI triggers run their queries after a `CommandCounterIncrement`).
    pub fn after_statement_view(&self) -> ReadView {
        ReadView {
            cid: self.command + 1,
            ..self.latest_view()
        }
    }

    /// The view the child-side FK check reads the parent through: `after_statement_view` in
    /// READ COMMITTED; in REPEATABLE READ the transaction's snapshot, with this statement's
    /// own writes visible.
    pub fn fk_view(&self) -> ReadView {
        match self.isolation {
            IsolationLevel::ReadCommitted => self.after_statement_view(),
            IsolationLevel::RepeatableRead | IsolationLevel::Serializable => ReadView {
                cid: self.command + 1,
                ..self.view
            },
        }
    }

    /// 25006 for `command` when the transaction is READ ONLY (PostgreSQL's
    /// `ExecCheckXactReadOnly`, at executor start: after the statement's tables and columns
    /// are resolved, so those errors come first).
    pub fn check_writable(&self, command: &str) -> Result<(), PgError> {
        match self.read_only {
            true => Err(super::txn_modes::read_only_error(command)),
            false => Ok(()),
        }
    }

    /// Records a write for undo and for the ground-truth log.
    pub fn record_write(&mut self, table_id: TableId, row_id: RowId, kind: WriteKind) {
        let cid = self.cid();
        self.db
            .writes
            .entry(self.xid())
            .or_default()
            .push(WriteRecord {
                table_id,
                row_id,
                cid,
                kind,
            });
    }

    /// Takes a table lock the statement needs while it runs (foreign-key checks and actions),
    /// or stops to wait for it.
    pub fn lock_table(&mut self, table: TableId, mode: TableLockMode) -> Exec<()> {
        let request = Request {
            table,
            session: self.session,
            xid: self.xid(),
            mode,
            cid: self.cid(),
            nowait: false,
        };
        match self.db.table_locks.acquire(request) {
            Acquired::Granted => Ok(()),
            Acquired::Queued => Err(Interrupt::Block(Wait::Table(table, mode))),
            Acquired::Deadlock(_) => Err(super::statement_locks::early_deadlock().into()),
            Acquired::NotAvailable => unreachable!("lock_table never asks NOWAIT"),
        }
    }

    /// Whether this statement already wrote the chain (so a re-run must not write it again).
    pub fn touched_by_this_command(&self, table_id: TableId, row_id: RowId) -> bool {
        let me = (self.xid(), self.cid());
        self.db
            .heap(table_id)
            .chains
            .get(&row_id)
            .is_some_and(|chain| {
                chain
                    .versions
                    .iter()
                    .any(|version| version.xmax == Some(me) || (version.xmin, version.cmin) == me)
            })
    }
}
