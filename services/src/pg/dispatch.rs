//! Running a parsed batch: implicit transactions, transaction control (BEGIN, COMMIT,
//! ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO), the aborted-transaction rule (25P02), and
//! routing each other statement to its executor.
//!
//! A SERIALIZABLE transaction joins SSI when it takes its snapshot and passes its commit
//! check at COMMIT (`ssi.rs`); transaction modes are `txn_modes.rs`'s.
//! Not modelled: warnings (COMMIT outside a transaction and BEGIN inside one succeed
//! silently, as their WARNING is not an error), SET (see `settings.rs`).
//! Invariant: after an error inside BEGIN the transaction holds no locks of the failed
//! (sub)transaction and refuses every statement but ROLLBACK / ROLLBACK TO / COMMIT.

use std::sync::Arc;

use sqlparser::ast::{self, Statement};

use super::deferrable_syntax::{self, ModeCommand};
use super::deferred::{self, Deferred};
use super::engine::Postgres;
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, Progress, StmtCtx, Wait};
use super::route::route;
use super::session::{Pending, Txn};
use super::set_constraints;
use super::storage::ReadView;
use super::timestamp::SIM_EPOCH_UNIX_MICROS;
use super::txn_modes::{read_only_error, refused_utility, refused_with, TxnModes};
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

/// A blocked statement to park: where it is in its batch and what it carries.
struct Parked {
    batch: Arc<Vec<Statement>>,
    statement_index: usize,
    params: Vec<Value>,
    progress: Progress,
    view: Option<ReadView>,
    wait: super::exec::Wait,
}

enum StatementOutcome {
    Done(QueryResult),
    Failed(PgError),
    Blocked(Box<Progress>, Option<ReadView>, super::exec::Wait),
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
        // Never backwards, so commit times follow commit order even for a driver that
        // passes an older time (the engine answers misuse, it does not panic on it).
        self.db.clock_micros = self.db.clock_micros.max(now_micros);
        let BatchRun {
            batch,
            start_index,
            params,
            mut resume,
        } = run;
        let mut last = QueryResult::tag("EMPTY");
        // A re-run of an implicit transaction's COMMIT answers with its string's last result.
        if let Some((progress, _, _)) = resume.as_mut().filter(|_| start_index == batch.len()) {
            last = progress.finished.take().unwrap_or(last);
        }
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
                    let keep = resumed_sequence.filter(|_| statement_index == start_index);
                    let parked = Parked {
                        batch: batch.clone(),
                        statement_index,
                        params,
                        progress: *progress,
                        view,
                        wait,
                    };
                    return self.park(session, parked, now_micros, keep);
                }
            }
        }
        let implicit = self.sessions[&session]
            .txn
            .as_ref()
            .is_some_and(|txn| !txn.explicit);
        if !implicit {
            return StepOutcome::Done(Ok(last));
        }
        // The end of an implicit transaction is a COMMIT, deferred checks included; one that
        // waits parks the session past the last statement.
        match self.commit_checked(session, resume, entropy) {
            StatementOutcome::Done(_) => StepOutcome::Done(Ok(last)),
            StatementOutcome::Failed(error) => {
                self.fail_statement(session);
                StepOutcome::Done(Err(error))
            }
            StatementOutcome::Blocked(mut progress, view, wait) => {
                progress.finished = Some(last);
                let statement_index = batch.len();
                let keep = resumed_sequence.filter(|_| statement_index == start_index);
                let parked = Parked {
                    batch,
                    statement_index,
                    params,
                    progress: *progress,
                    view,
                    wait,
                };
                self.park(session, parked, now_micros, keep)
            }
        }
    }

    /// Parks a blocked statement (or an implicit transaction's COMMIT, at index `batch.len()`)
    /// until its wait is over. `keep` is the queue position of a re-run that blocks again.
    fn park(
        &mut self,
        session: SessionId,
        parked: Parked,
        now_micros: u64,
        keep: Option<u64>,
    ) -> StepOutcome {
        let wait_sequence = keep.unwrap_or_else(|| {
            self.next_wait_sequence += 1;
            self.next_wait_sequence
        });
        let pending = Pending {
            batch: parked.batch,
            statement_index: parked.statement_index,
            params: parked.params,
            progress: parked.progress,
            view: parked.view,
            wait: parked.wait,
            wait_started_micros: now_micros,
            wait_epoch: self.db.rollback_epoch,
            wait_sequence,
            queued: false,
        };
        let state = self.sessions.get_mut(&session).expect("session exists");
        state.pending = Some(pending);
        let queued = self.row_wait_queued(session);
        if let Some(pending) = self
            .sessions
            .get_mut(&session)
            .and_then(|s| s.pending.as_mut())
        {
            pending.queued = queued;
        }
        StepOutcome::Blocked {
            waiting_for: self.blockers(session),
        }
    }

    /// A parked statement is cancelled (deadlock victim, timeout, cancel request). A waiting
    /// COMMIT (its deferred checks waited) ends the transaction, as any error inside
    /// PostgreSQL's commit aborts it: the session is idle after, not in a failed block.
    pub(super) fn fail_parked(&mut self, session: SessionId, pending: &Pending) {
        let commit = pending
            .batch
            .get(pending.statement_index)
            .is_none_or(|statement| matches!(statement, Statement::Commit { .. }));
        let state = self.sessions.get_mut(&session).expect("session exists");
        match state.txn.take() {
            Some(txn) if commit => self.abort_session_txn(session, &txn),
            other => state.txn = other,
        }
        self.fail_statement(session);
    }

    /// A statement failed: an implicit transaction rolls back; an explicit one rolls back its
    /// innermost savepoint's work (or everything) and becomes aborted.
    pub(super) fn fail_statement(&mut self, session: SessionId) {
        self.db.table_locks.forget_waiter(session);
        let Some(state) = self.sessions.get_mut(&session) else {
            return;
        };
        let Some(txn) = state.txn.as_mut() else {
            // A failed string outside a block takes back its earlier SETs.
            if let Some((timeouts, xmlbinary)) = state.batch_settings {
                state.timeouts = timeouts;
                state.xmlbinary = xmlbinary;
            }
            return;
        };
        if !txn.explicit {
            let txn = state.txn.take().expect("checked open");
            self.abort_session_txn(session, &txn);
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
            Statement::StartTransaction { modes, .. } => TxnModes::check(modes)
                .and_then(|()| self.begin(session, TxnModes::parse(modes), now_micros)),
            Statement::Set(set) if deferrable_syntax::decode(set).is_some() => {
                match deferrable_syntax::decode(set).expect("just decoded") {
                    (ModeCommand::Begin, modes) => self.begin(session, modes, now_micros),
                    (ModeCommand::SetTransaction, modes) => {
                        self.set_transaction(session, modes, (multi_statement, now_micros))
                    }
                }
            }
            Statement::Set(ast::Set::SetTransaction {
                modes,
                snapshot: None,
                session: false,
            }) => TxnModes::check(modes).and_then(|()| {
                let modes = TxnModes::parse(modes);
                self.set_transaction(session, modes, (multi_statement, now_micros))
            }),
            Statement::Commit { chain: false, .. } => {
                return self.commit_checked(session, resume, entropy)
            }
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
            Statement::Set(set) if set_constraints::decode(set).is_none() => self.set(session, set),
            _ if super::route::is_ddl(statement) && self.in_block(session) => {
                // A read-only transaction refuses DDL first, as PostgreSQL does (25006).
                let read_only = self.txn_mut(session).is_some_and(|txn| txn.read_only);
                match read_only.then(|| refused_utility(statement)).flatten() {
                    Some(command) => Err(read_only_error(command)),
                    None => Err(ddl_in_block(statement)),
                }
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
        requested: TxnModes,
        now_micros: u64,
    ) -> Result<QueryResult, PgError> {
        if let Some(txn) = self.txn_mut(session) {
            if txn.aborted {
                return Err(in_failed_transaction());
            }
            // PostgreSQL warns "there is already a transaction in progress" and applies the
            // modes as SET TRANSACTION does (a refused change is 25001 and aborts the block).
            // An implicit transaction of a multi-statement string becomes a block.
            requested.change(txn)?;
            txn.explicit = true;
            return Ok(QueryResult::tag("BEGIN"));
        }
        let mut txn = self.db.begin_txn(
            session,
            IsolationLevel::ReadCommitted,
            true,
            unix_micros(now_micros),
        );
        requested.start(&mut txn);
        let state = self.sessions.get_mut(&session).expect("session exists");
        // A SET earlier in the same string belongs to this block (PostgreSQL turns the
        // string's implicit block into the explicit one).
        txn.settings_before = state.batch_settings;
        state.txn = Some(txn);
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
        self.abort_session_txn(session, &txn);
        QueryResult::tag("ROLLBACK")
    }

    /// Aborts a session's transaction, taken off the session: its work is undone and the
    /// session's settings go back to before its first SET.
    fn abort_session_txn(&mut self, session: SessionId, txn: &Txn) {
        if let (Some((timeouts, xmlbinary)), Some(state)) =
            (txn.settings_before, self.sessions.get_mut(&session))
        {
            state.timeouts = timeouts;
            state.xmlbinary = xmlbinary;
        }
        self.db.abort_xid(txn.xid);
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
        self.ensure_implicit_txn(session, now_micros);
        let latest_csn = self.db.txns.latest_csn();
        let txn = self.txn_mut(session).expect("transaction just ensured");
        if txn.aborted {
            return Err(in_failed_transaction().into());
        }
        // PostgreSQL takes a REPEATABLE READ transaction's snapshot before the first
        // statement's table locks (a utility statement such as LOCK TABLE takes none).
        let mut registers = false;
        if txn.isolation.uses_xact_snapshot() && takes_snapshot(statement) {
            registers = txn.isolation == IsolationLevel::Serializable
                && (txn.snapshot_csn.is_none() || txn.awaiting_safe_snapshot);
            txn.snapshot_csn.get_or_insert(latest_csn);
            txn.snapshot_taken = true;
        }
        let read_only = txn.read_only;
        let locker = (
            session,
            txn.xid,
            txn.next_cid,
            txn.explicit || multi_statement,
        );
        if registers {
            self.serializable_snapshot(session, latest_csn)?;
        }
        if first_run {
            self.take_statement_locks(locker, statement)?;
        }
        if let Some(command) = read_only.then(|| refused_with(statement)).flatten() {
            return Err(read_only_error(command).into());
        }
        Ok(())
    }

    /// Opens the implicit transaction a statement outside BEGIN runs in, unless one is open.
    pub(super) fn ensure_implicit_txn(&mut self, session: SessionId, now_micros: u64) {
        if self.sessions[&session].txn.is_some() {
            return;
        }
        let mut txn = self.db.begin_txn(
            session,
            IsolationLevel::ReadCommitted,
            false,
            unix_micros(now_micros),
        );
        let state = self.sessions.get_mut(&session).expect("session exists");
        txn.settings_before = state.batch_settings;
        state.txn = Some(txn);
    }

    /// A SERIALIZABLE transaction's snapshot joins SSI. A READ ONLY DEFERRABLE one waits until
    /// its snapshot is known safe, then runs on it outside SSI; an unsafe one takes a new
    /// snapshot and waits again (PostgreSQL's `GetSafeSnapshot`).
    fn serializable_snapshot(&mut self, session: SessionId, latest_csn: u64) -> Exec<()> {
        let txn = self.txn_mut(session).expect("transaction open");
        let (xid, read_only, deferrable) = (txn.xid, txn.read_only, txn.deferrable);
        if txn.awaiting_safe_snapshot {
            match self.db.ssi.safe_snapshot(xid) {
                None => return Err(Interrupt::Block(Wait::SafeSnapshot(xid))),
                Some(safe) => {
                    let txn = self.txn_mut(session).expect("transaction open");
                    txn.awaiting_safe_snapshot = false;
                    if safe {
                        return Ok(());
                    }
                    txn.snapshot_csn = Some(latest_csn);
                }
            }
        }
        let snapshot_csn = self.txn_mut(session).and_then(|txn| txn.snapshot_csn);
        let snapshot_csn = snapshot_csn.expect("the snapshot was just taken");
        let tracked = self.db.ssi.register(xid, snapshot_csn, read_only);
        if tracked && read_only && deferrable {
            self.txn_mut(session).expect("open").awaiting_safe_snapshot = true;
            return Err(Interrupt::Block(Wait::SafeSnapshot(xid)));
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
                return StatementOutcome::Blocked(Box::default(), None, wait)
            }
        }
        let (mut progress, view) = self.statement_view(session, resume, takes_snapshot(statement));
        let finished = progress.finished.take();
        let mut ctx = self.stmt_ctx(session, view, params, entropy, &mut progress);
        let routed = match finished {
            Some(result) => Ok(result),
            None => route(&mut ctx, statement),
        }
        .and_then(|result| end_of_statement(&mut ctx, result));
        match routed {
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
            Err(Interrupt::Block(wait)) => {
                StatementOutcome::Blocked(Box::new(progress), Some(view), wait)
            }
        }
    }

    /// The progress and read view of a statement: a re-run's own, else a new command id
    /// with the snapshot its isolation level gives. One that takes no snapshot in PostgreSQL
    /// (`takes_snapshot`) reads the latest state and leaves a REPEATABLE READ transaction's
    /// snapshot to the next statement.
    fn statement_view(
        &mut self,
        session: SessionId,
        resume: Resume,
        takes_snapshot: bool,
    ) -> (Progress, ReadView) {
        if let Some((progress, Some(view), _)) = resume {
            return (progress, view);
        }
        let latest_csn = self.db.txns.latest_csn();
        let txn = self.txn_mut(session).expect("transaction open");
        let cid = txn.next_cid;
        txn.next_cid += 1;
        txn.snapshot_taken |= takes_snapshot;
        let snapshot_csn = match txn.isolation {
            level if level.uses_xact_snapshot() && takes_snapshot => {
                *txn.snapshot_csn.get_or_insert(latest_csn)
            }
            level if level.uses_xact_snapshot() => txn.snapshot_csn.unwrap_or(latest_csn),
            _ => latest_csn,
        };
        let view = ReadView {
            snapshot_csn,
            xid: txn.xid,
            cid,
        };
        (Progress::default(), view)
    }

    /// The execution context of a statement of the session's open transaction.
    fn stmt_ctx<'a>(
        &'a mut self,
        session: SessionId,
        view: ReadView,
        params: &'a [Value],
        entropy: &'a mut dyn Entropy,
        progress: &'a mut Progress,
    ) -> StmtCtx<'a> {
        let xmlbinary = self.xmlbinary(session);
        let txn = self.sessions[&session]
            .txn
            .as_ref()
            .expect("transaction open");
        let (isolation, txn_start_unix_micros) = (txn.isolation, txn.start_unix_micros);
        StmtCtx {
            db: &mut self.db,
            session,
            view,
            command: view.cid,
            isolation,
            read_only: txn.read_only,
            in_subtransaction: !txn.savepoints.is_empty(),
            txn_start_unix_micros,
            params,
            entropy,
            progress,
            replay_index: 0,
            subqueries: std::collections::BTreeMap::new(),
            xmlbinary,
            with: super::cte::WithQueries::default(),
            ssi_reads: 0,
        }
    }

    /// COMMIT of the session's transaction (explicit, or the end of an implicit one). The
    /// deferred checks still pending run first, as at PostgreSQL's commit: one may wait (the
    /// COMMIT blocks), and a failure rolls the whole transaction back and is COMMIT's error.
    fn commit_checked(
        &mut self,
        session: SessionId,
        resume: Resume,
        entropy: &mut dyn Entropy,
    ) -> StatementOutcome {
        let pending = self.sessions[&session]
            .txn
            .as_ref()
            .filter(|txn| !txn.aborted)
            .and_then(|txn| self.db.deferred.get(&txn.xid))
            .is_some_and(Deferred::has_pending);
        if !pending {
            return self.commit_serializable(session);
        }
        let (mut progress, view) = self.statement_view(session, resume, true);
        let mut ctx = self.stmt_ctx(session, view, &[], entropy, &mut progress);
        match deferred::fire(&mut ctx, true) {
            Ok(()) => self.commit_serializable(session),
            Err(Interrupt::Block(wait)) => {
                StatementOutcome::Blocked(Box::new(progress), Some(view), wait)
            }
            Err(Interrupt::Error(error)) => {
                let txn = self
                    .sessions
                    .get_mut(&session)
                    .and_then(|state| state.txn.take());
                let txn = txn.expect("checked open");
                self.abort_session_txn(session, &txn);
                StatementOutcome::Failed(error)
            }
        }
    }
}

impl Postgres {
    /// COMMIT after the deferred checks: a SERIALIZABLE transaction's SSI check at commit
    /// (`ssi.rs`) may fail it with 40001, which rolls it back.
    fn commit_serializable(&mut self, session: SessionId) -> StatementOutcome {
        let xid = self.sessions[&session]
            .txn
            .as_ref()
            .filter(|txn| !txn.aborted)
            .map(|txn| txn.xid);
        if let Some(Err(error)) = xid.map(|xid| self.db.ssi.pre_commit(xid)) {
            let state = self.sessions.get_mut(&session).expect("session exists");
            let txn = state.txn.take().expect("checked open");
            self.abort_session_txn(session, &txn);
            return StatementOutcome::Failed(error);
        }
        StatementOutcome::Done(self.end_transaction(session, true))
    }
}

/// The end of a statement: checks it queued for constraints that are immediate now run
/// (PostgreSQL's `AfterTriggerEndQuery`). If one waits, the result is kept, so the re-run
/// only repeats the checks.
fn end_of_statement(ctx: &mut StmtCtx, result: QueryResult) -> Exec<QueryResult> {
    match deferred::fire(ctx, false) {
        Ok(()) => Ok(result),
        Err(Interrupt::Block(wait)) => {
            ctx.progress.finished = Some(result);
            Err(Interrupt::Block(wait))
        }
        Err(error) => Err(error),
    }
}

/// Whether PostgreSQL takes a snapshot for `statement` (`PlannedStmtRequiresSnapshot` in
/// pquery.c, PostgreSQL 15): LOCK TABLE, SET CONSTRAINTS, LISTEN, UNLISTEN and NOTIFY do not,
/// so after them a transaction may still choose its isolation level (no 25001) and a
/// REPEATABLE READ transaction's snapshot is taken by the next statement, after the lock.
fn takes_snapshot(statement: &Statement) -> bool {
    !matches!(
        statement,
        Statement::Lock(_)
            | Statement::Set(_)
            | Statement::LISTEN { .. }
            | Statement::UNLISTEN { .. }
            | Statement::NOTIFY { .. }
    )
}
