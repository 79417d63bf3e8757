//! Running a parsed batch: implicit transactions, transaction control (BEGIN, COMMIT,
//! ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO), the aborted-transaction rule (25P02), and
//! routing each other statement to its executor.
//!
//! Not modelled: warnings (COMMIT outside a transaction and BEGIN inside one succeed
//! silently, as their WARNING is not an error), SERIALIZABLE, READ ONLY, SET.
//! Invariant: after an error inside BEGIN the transaction holds no locks of the failed
//! (sub)transaction and refuses every statement but ROLLBACK / ROLLBACK TO / COMMIT.

use std::sync::Arc;

use sqlparser::ast::{self, Statement, TransactionMode};

use super::engine::Postgres;
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, Progress, StmtCtx};
use super::route::route;
use super::session::{Pending, Txn};
use super::storage::ReadView;
use super::timestamp::SIM_EPOCH_UNIX_MICROS;
use super::value::Value;
use super::{Entropy, IsolationLevel, QueryResult, SessionId, StepOutcome};

/// A batch to run from `start_index` (0 for a new submit, the blocked statement on resume).
pub struct BatchRun {
    /// The parsed statements.
    pub batch: Arc<Vec<Statement>>,
    /// First statement to run.
    pub start_index: usize,
    /// `$n` parameters.
    pub params: Vec<Value>,
    /// State of the blocked statement being re-run, if any.
    pub resume: Resume,
}

/// How a statement starts: fresh or re-run, alone in its string or not, and when.
struct Start {
    resume: Resume,
    multi_statement: bool,
    now_micros: u64,
}

/// State carried into a re-run: progress, view (`None` when the statement waited for its
/// table locks before it started), and the wait's queue position.
pub type Resume = Option<(Progress, Option<ReadView>, u64)>;

enum StatementOutcome {
    Done(QueryResult),
    Failed(PgError),
    Blocked(Progress, Option<ReadView>, super::exec::Wait),
}

fn unix_micros(now_micros: u64) -> i64 {
    SIM_EPOCH_UNIX_MICROS + i64::try_from(now_micros).expect("virtual time fits in i64")
}

/// PostgreSQL's DDL is transactional (rolled back with its block, invisible to others until
/// commit); the simulated catalog is not, so DDL inside a block is refused rather than kept
/// after a rollback. TRUNCATE too: its RESTART IDENTITY is undone through the catalog's undo,
/// which ROLLBACK TO SAVEPOINT does not reach.
fn ddl_in_block(statement: &Statement) -> PgError {
    PgError::unsupported(format!(
        "{} inside a transaction block (the simulated catalog is not transactional; run DDL \
         and TRUNCATE outside BEGIN ... COMMIT)",
        super::route::leading_keywords(statement)
    ))
}

fn in_failed_transaction() -> PgError {
    PgError::new(
        SqlState::InFailedSqlTransaction,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

impl Postgres {
    pub(super) fn run_batch(
        &mut self,
        session: SessionId,
        run: BatchRun,
        now_micros: u64,
        entropy: &mut dyn Entropy,
    ) -> StepOutcome {
        let BatchRun {
            batch,
            start_index,
            params,
            mut resume,
        } = run;
        let mut last = QueryResult::tag("EMPTY");
        // A re-run that blocks again keeps its place in the wait queue, like a PostgreSQL
        // backend that keeps its tuple lock while it waits for the next transaction.
        let resumed_sequence = resume.as_ref().map(|resumed| resumed.2);
        for statement_index in start_index..batch.len() {
            let outcome = self.run_statement(
                session,
                &batch[statement_index],
                &params,
                (resume.take(), batch.len() > 1),
                now_micros,
                entropy,
            );
            match outcome {
                StatementOutcome::Done(result) => last = result,
                StatementOutcome::Failed(error) => {
                    self.fail_statement(session);
                    return StepOutcome::Done(Err(error));
                }
                StatementOutcome::Blocked(progress, view, wait) => {
                    let pending = Pending {
                        batch: batch.clone(),
                        statement_index,
                        params,
                        progress,
                        view,
                        wait,
                        wait_started_micros: now_micros,
                        wait_epoch: self.db.rollback_epoch,
                        wait_sequence: match resumed_sequence {
                            Some(sequence) if statement_index == start_index => sequence,
                            _ => {
                                self.next_wait_sequence += 1;
                                self.next_wait_sequence
                            }
                        },
                    };
                    let state = self.sessions.get_mut(&session).expect("session exists");
                    state.pending = Some(pending);
                    return StepOutcome::Blocked {
                        waiting_for: self.blockers(session),
                    };
                }
            }
        }
        let state = self.sessions.get_mut(&session).expect("session exists");
        if state.txn.as_ref().is_some_and(|txn| !txn.explicit) {
            let txn = state.txn.take().expect("checked");
            self.commit_session_txn(session, txn);
        }
        StepOutcome::Done(Ok(last))
    }

    /// A statement failed: an implicit transaction rolls back; an explicit one rolls back its
    /// innermost savepoint's work (or everything) and becomes aborted.
    pub(super) fn fail_statement(&mut self, session: SessionId) {
        self.db.table_locks.forget_waiter(session);
        let Some(state) = self.sessions.get_mut(&session) else {
            return;
        };
        let Some(txn) = state.txn.as_mut() else {
            return;
        };
        if !txn.explicit {
            let xid = txn.xid;
            state.txn = None;
            self.db.abort_xid(xid);
            return;
        }
        if txn.aborted {
            return;
        }
        txn.aborted = true;
        match txn.savepoints.last() {
            Some((_, cid)) => self.db.rollback_to(txn.xid, *cid),
            None => self.db.abort_xid(txn.xid),
        }
    }

    fn run_statement(
        &mut self,
        session: SessionId,
        statement: &Statement,
        params: &[Value],
        (resume, multi_statement): (Resume, bool),
        now_micros: u64,
        entropy: &mut dyn Entropy,
    ) -> StatementOutcome {
        let result = match statement {
            Statement::StartTransaction { modes, .. } => self.begin(session, modes, now_micros),
            Statement::Commit { chain: false, .. } => Ok(self.end_transaction(session, true)),
            Statement::Rollback {
                chain: false,
                savepoint: None,
            } => Ok(self.end_transaction(session, false)),
            Statement::Rollback {
                chain: false,
                savepoint: Some(name),
            } => self.rollback_to_savepoint(session, name),
            Statement::Savepoint { name } => self.savepoint(session, name),
            Statement::ReleaseSavepoint { name } => self.release_savepoint(session, name),
            Statement::Set(set) => self.set(session, set),
            _ if super::route::is_ddl(statement) && self.in_block(session) => {
                Err(ddl_in_block(statement))
            }
            _ => {
                let start = Start {
                    resume,
                    multi_statement,
                    now_micros,
                };
                return self.execute(session, statement, params, start, entropy);
            }
        };
        match result {
            Ok(done) => StatementOutcome::Done(done),
            Err(error) => StatementOutcome::Failed(error),
        }
    }

    /// The session is inside BEGIN ... COMMIT (and not already failed: that error comes first).
    fn in_block(&mut self, session: SessionId) -> bool {
        self.txn_mut(session)
            .is_some_and(|txn| txn.explicit && !txn.aborted)
    }

    fn txn_mut(&mut self, session: SessionId) -> Option<&mut Txn> {
        self.sessions
            .get_mut(&session)
            .and_then(|state| state.txn.as_mut())
    }

    fn begin(
        &mut self,
        session: SessionId,
        modes: &[TransactionMode],
        now_micros: u64,
    ) -> Result<QueryResult, PgError> {
        // The level written, if any (READ UNCOMMITTED runs as READ COMMITTED in PostgreSQL).
        let mut requested = None;
        for mode in modes {
            match mode {
                TransactionMode::IsolationLevel(
                    ast::TransactionIsolationLevel::ReadCommitted
                    | ast::TransactionIsolationLevel::ReadUncommitted,
                ) => requested = Some(IsolationLevel::ReadCommitted),
                TransactionMode::IsolationLevel(ast::TransactionIsolationLevel::RepeatableRead) => {
                    requested = Some(IsolationLevel::RepeatableRead)
                }
                TransactionMode::AccessMode(ast::TransactionAccessMode::ReadWrite) => {}
                other => return Err(PgError::unsupported(format!("transaction mode {other}"))),
            }
        }
        if let Some(txn) = self.txn_mut(session) {
            if txn.aborted {
                return Err(in_failed_transaction());
            }
            // PostgreSQL warns "there is already a transaction in progress" and applies the
            // modes as SET TRANSACTION does: another isolation level after the first query is
            // 25001 (and aborts the block). An implicit transaction of a multi-statement string
            // becomes a block.
            if let Some(level) = requested.filter(|level| *level != txn.isolation) {
                if txn.next_cid > 0 {
                    return Err(PgError::new(
                        SqlState::ActiveSqlTransaction,
                        "SET TRANSACTION ISOLATION LEVEL must be called before any query",
                    ));
                }
                txn.isolation = level;
            }
            txn.explicit = true;
            return Ok(QueryResult::tag("BEGIN"));
        }
        let isolation = requested.unwrap_or(IsolationLevel::ReadCommitted);
        let txn = self
            .db
            .begin_txn(session, isolation, true, unix_micros(now_micros));
        self.sessions.get_mut(&session).expect("session exists").txn = Some(txn);
        Ok(QueryResult::tag("BEGIN"))
    }

    fn end_transaction(&mut self, session: SessionId, commit: bool) -> QueryResult {
        let Some(txn) = self
            .sessions
            .get_mut(&session)
            .and_then(|state| state.txn.take())
        else {
            // "there is no transaction in progress" is a WARNING, not an error.
            return QueryResult::tag(if commit { "COMMIT" } else { "ROLLBACK" });
        };
        if commit && !txn.aborted {
            self.commit_session_txn(session, txn);
            return QueryResult::tag("COMMIT");
        }
        // COMMIT of an aborted transaction rolls back and answers ROLLBACK, not an error.
        self.db.abort_xid(txn.xid);
        QueryResult::tag("ROLLBACK")
    }

    fn block_txn(&mut self, session: SessionId, command: &str) -> Result<&mut Txn, PgError> {
        match self.txn_mut(session) {
            Some(txn) if txn.explicit => Ok(txn),
            _ => Err(PgError::new(
                SqlState::NoActiveSqlTransaction,
                format!("{command} can only be used in transaction blocks"),
            )),
        }
    }

    fn savepoint(&mut self, session: SessionId, name: &ast::Ident) -> Result<QueryResult, PgError> {
        let txn = self.block_txn(session, "SAVEPOINT")?;
        if txn.aborted {
            return Err(in_failed_transaction());
        }
        let cid = txn.next_cid;
        txn.savepoints.push((super::catalog::fold_ident(name), cid));
        Ok(QueryResult::tag("SAVEPOINT"))
    }

    fn find_savepoint(txn: &Txn, name: &ast::Ident) -> Result<usize, PgError> {
        let folded = super::catalog::fold_ident(name);
        txn.savepoints
            .iter()
            .rposition(|(saved, _)| *saved == folded)
            .ok_or_else(|| {
                PgError::new(
                    SqlState::InvalidSavepointSpecification,
                    format!("savepoint \"{folded}\" does not exist"),
                )
            })
    }

    fn release_savepoint(
        &mut self,
        session: SessionId,
        name: &ast::Ident,
    ) -> Result<QueryResult, PgError> {
        let txn = self.block_txn(session, "RELEASE SAVEPOINT")?;
        if txn.aborted {
            return Err(in_failed_transaction());
        }
        let position = Self::find_savepoint(txn, name)?;
        txn.savepoints.truncate(position);
        Ok(QueryResult::tag("RELEASE"))
    }

    fn rollback_to_savepoint(
        &mut self,
        session: SessionId,
        name: &ast::Ident,
    ) -> Result<QueryResult, PgError> {
        let txn = self.block_txn(session, "ROLLBACK TO SAVEPOINT")?;
        let position = Self::find_savepoint(txn, name)?;
        let (xid, cid) = (txn.xid, txn.savepoints[position].1);
        txn.savepoints.truncate(position + 1);
        txn.aborted = false;
        self.db.rollback_to(xid, cid);
        Ok(QueryResult::tag("ROLLBACK"))
    }

    /// Before a statement runs: the implicit transaction, the aborted-transaction rule, the
    /// REPEATABLE READ snapshot, and (unless it is a re-run that already started) the table
    /// locks it takes first.
    fn prepare_statement(
        &mut self,
        session: SessionId,
        statement: &Statement,
        (first_run, multi_statement): (bool, bool),
        now_micros: u64,
    ) -> Exec<()> {
        if self.sessions[&session].txn.is_none() {
            let txn = self.db.begin_txn(
                session,
                IsolationLevel::ReadCommitted,
                false,
                unix_micros(now_micros),
            );
            self.sessions.get_mut(&session).expect("session exists").txn = Some(txn);
        }
        let latest_csn = self.db.txns.latest_csn();
        let txn = self.txn_mut(session).expect("transaction just ensured");
        if txn.aborted {
            return Err(in_failed_transaction().into());
        }
        // PostgreSQL takes a REPEATABLE READ transaction's snapshot before the first
        // statement's table locks (a utility statement such as LOCK TABLE takes none).
        if txn.isolation == IsolationLevel::RepeatableRead
            && !matches!(statement, Statement::Lock(_))
        {
            txn.snapshot_csn.get_or_insert(latest_csn);
        }
        let locker = (
            session,
            txn.xid,
            txn.next_cid,
            txn.explicit || multi_statement,
        );
        if first_run {
            self.take_statement_locks(locker, statement)?;
        }
        Ok(())
    }

    fn execute(
        &mut self,
        session: SessionId,
        statement: &Statement,
        params: &[Value],
        start: Start,
        entropy: &mut dyn Entropy,
    ) -> StatementOutcome {
        let Start {
            resume,
            multi_statement,
            now_micros,
        } = start;
        let resumed_view = resume.as_ref().and_then(|resumed| resumed.1);
        let first_run = resumed_view.is_none();
        let run = (first_run, multi_statement);
        match self.prepare_statement(session, statement, run, now_micros) {
            Ok(()) => {}
            Err(Interrupt::Error(error)) => return StatementOutcome::Failed(error),
            // Not started: the re-run takes its command id and snapshot after the wait.
            Err(Interrupt::Block(wait)) => {
                return StatementOutcome::Blocked(Progress::default(), None, wait)
            }
        }
        let latest_csn = self.db.txns.latest_csn();
        let txn = self.txn_mut(session).expect("transaction open");
        let (mut progress, view) = match resume.zip(resumed_view) {
            Some(((progress, _, _), view)) => (progress, view),
            None => {
                let cid = txn.next_cid;
                txn.next_cid += 1;
                let snapshot_csn = match txn.isolation {
                    IsolationLevel::ReadCommitted => latest_csn,
                    IsolationLevel::RepeatableRead => *txn.snapshot_csn.get_or_insert(latest_csn),
                };
                (
                    Progress::default(),
                    ReadView {
                        snapshot_csn,
                        xid: txn.xid,
                        cid,
                    },
                )
            }
        };
        let (isolation, txn_start_unix_micros) = (txn.isolation, txn.start_unix_micros);
        let xmlbinary = self.xmlbinary(session);
        let mut ctx = StmtCtx {
            db: &mut self.db,
            session,
            view,
            isolation,
            txn_start_unix_micros,
            params,
            entropy,
            progress: &mut progress,
            replay_index: 0,
            subqueries: std::collections::BTreeMap::new(),
            xmlbinary,
        };
        match route(&mut ctx, statement) {
            Ok(result) => {
                let txn = self.txn_mut(session).expect("transaction open");
                txn.statements.push(statement.to_string());
                for notify in std::mem::take(&mut progress.notifies) {
                    if !txn.pending_notifies.contains(&notify) {
                        txn.pending_notifies.push(notify);
                    }
                }
                txn.pending_listens.append(&mut progress.listens);
                StatementOutcome::Done(result)
            }
            Err(Interrupt::Error(error)) => StatementOutcome::Failed(error),
            Err(Interrupt::Block(wait)) => StatementOutcome::Blocked(progress, Some(view), wait),
        }
    }
}
