//! Transaction modes: the isolation level, READ ONLY / READ WRITE and [NOT] DEFERRABLE, as
//! BEGIN and SET TRANSACTION write them, with PostgreSQL 15's checks on changing them
//! (`check_XactIsoLevel`, `check_transaction_read_only` and `check_transaction_deferrable` in
//! variable.c), and the 25006 a read-only transaction answers a write with
//! (`PreventCommandIfReadOnly`, utility.c). Each message below was read off a PostgreSQL
//! 15.18 server (the project spec `read-only-transactions` pins them). DEFERRABLE reaches
//! here through `deferrable_syntax.rs`; it matters only to SERIALIZABLE READ ONLY, which
//! waits for a safe snapshot (`dispatch.rs`, `ssi.rs`).
//!
//! Not modelled: `SET TRANSACTION SNAPSHOT`, the `default_transaction_*` parameters, and
//! temporary tables (which a read-only transaction may write in PostgreSQL; the engine has
//! none).

use sqlparser::ast::{self, TransactionAccessMode, TransactionIsolationLevel, TransactionMode};

use super::error::{PgError, SqlState};
use super::locks::RowLockMode;
use super::session::Txn;
use super::IsolationLevel;

/// The modes one BEGIN or SET TRANSACTION names (`None`: not named).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxnModes {
    /// The isolation level (READ UNCOMMITTED runs as READ COMMITTED, as in PostgreSQL).
    pub isolation: Option<IsolationLevel>,
    /// READ ONLY (true) or READ WRITE (false).
    pub read_only: Option<bool>,
    /// DEFERRABLE (true) or NOT DEFERRABLE (false).
    pub deferrable: Option<bool>,
}

impl TxnModes {
    /// Reads a mode list; a later mode of one kind overrides an earlier one, as in
    /// PostgreSQL.
    pub fn parse(modes: &[TransactionMode]) -> TxnModes {
        let mut parsed = TxnModes::default();
        for mode in modes {
            match mode {
                TransactionMode::IsolationLevel(level) => {
                    parsed.isolation = Some(match level {
                        TransactionIsolationLevel::ReadUncommitted
                        | TransactionIsolationLevel::ReadCommitted => IsolationLevel::ReadCommitted,
                        TransactionIsolationLevel::RepeatableRead => IsolationLevel::RepeatableRead,
                        TransactionIsolationLevel::Serializable
                        | TransactionIsolationLevel::Snapshot => IsolationLevel::Serializable,
                    })
                }
                TransactionMode::AccessMode(access) => {
                    parsed.read_only = Some(*access == TransactionAccessMode::ReadOnly)
                }
            }
        }
        parsed
    }

    /// Rejects what sqlparser accepts and PostgreSQL's grammar does not (SNAPSHOT).
    pub fn check(modes: &[TransactionMode]) -> Result<(), PgError> {
        for mode in modes {
            if let TransactionMode::IsolationLevel(TransactionIsolationLevel::Snapshot) = mode {
                return Err(PgError::unsupported(
                    "transaction mode ISOLATION LEVEL SNAPSHOT",
                ));
            }
        }
        Ok(())
    }

    /// Applies the modes to a new transaction.
    pub fn start(self, txn: &mut Txn) {
        if let Some(isolation) = self.isolation {
            txn.isolation = isolation;
        }
        txn.read_only = self.read_only.unwrap_or(false);
        txn.deferrable = self.deferrable.unwrap_or(false);
    }

    /// Applies the modes to a running transaction, as SET TRANSACTION does (and BEGIN inside
    /// a block): each change is checked as PostgreSQL checks it, and the first refused one
    /// fails with 25001.
    pub fn change(self, txn: &mut Txn) -> Result<(), PgError> {
        let refuse = |message: &str| Err(PgError::new(SqlState::ActiveSqlTransaction, message));
        let in_subtransaction = !txn.savepoints.is_empty();
        if let Some(isolation) = self.isolation.filter(|level| *level != txn.isolation) {
            if txn.snapshot_taken {
                return refuse("SET TRANSACTION ISOLATION LEVEL must be called before any query");
            }
            if in_subtransaction {
                return refuse(
                    "SET TRANSACTION ISOLATION LEVEL must not be called in a subtransaction",
                );
            }
            txn.isolation = isolation;
        }
        // Each check: (applies, in a subtransaction's message, after a query's message).
        let checks = [
            (
                // Only going from read-only to read-write is checked.
                self.read_only == Some(false) && txn.read_only,
                "cannot set transaction read-write mode inside a read-only transaction",
                "transaction read-write mode must be set before any query",
            ),
            (
                // Checked on every SET, a change or not.
                self.deferrable.is_some(),
                "SET TRANSACTION [NOT] DEFERRABLE cannot be called within a subtransaction",
                "SET TRANSACTION [NOT] DEFERRABLE must be called before any query",
            ),
        ];
        for (applies, in_savepoint, after_query) in checks {
            if applies && in_subtransaction {
                return refuse(in_savepoint);
            }
            if applies && txn.snapshot_taken {
                return refuse(after_query);
            }
        }
        if let Some(read_only) = self.read_only {
            txn.read_only = read_only;
        }
        if let Some(deferrable) = self.deferrable {
            txn.deferrable = deferrable;
        }
        Ok(())
    }
}

/// The utility command a read-only transaction refuses before anything else (PostgreSQL's
/// `PreventCommandIfReadOnly` at the start of `standard_ProcessUtility`), by its tag. Only
/// a transaction block can be read-only, and the engine runs no DDL there: this decides
/// whether a refused DDL statement answers 25006, as in PostgreSQL, or 0A000.
pub fn refused_utility(statement: &ast::Statement) -> Option<&'static str> {
    use ast::Statement as S;
    Some(match statement {
        S::Truncate { .. } => "TRUNCATE TABLE",
        S::CreateTable(_) => "CREATE TABLE",
        S::CreateIndex(_) => "CREATE INDEX",
        S::CreateSchema { .. } => "CREATE SCHEMA",
        S::Drop { object_type, .. } => match object_type {
            ast::ObjectType::Table => "DROP TABLE",
            ast::ObjectType::Index => "DROP INDEX",
            ast::ObjectType::Schema => "DROP SCHEMA",
            ast::ObjectType::Sequence => "DROP SEQUENCE",
            _ => "DROP",
        },
        _ => return None,
    })
}

/// A query with a data-modifying WITH query, which a read-only transaction refuses as
/// SELECT (the statement's tag) before its parts run; INSERT, UPDATE, DELETE and a locking
/// SELECT are refused by the executor once their tables and columns are resolved
/// (`StmtCtx::check_writable`), as `ExecCheckXactReadOnly` runs after parse analysis.
pub fn refused_with(statement: &ast::Statement) -> Option<&'static str> {
    let ast::Statement::Query(query) = statement else {
        return None;
    };
    let modifying = query.with.as_ref().is_some_and(|with| {
        with.cte_tables.iter().any(|cte| {
            matches!(
                cte.query.body.as_ref(),
                ast::SetExpr::Insert(_) | ast::SetExpr::Update(_) | ast::SetExpr::Delete(_)
            )
        })
    });
    modifying.then_some("SELECT")
}

/// The command tag of a SELECT locking rows in `mode`, as PostgreSQL's CreateCommandTag
/// names it.
pub fn locking_select(mode: RowLockMode) -> &'static str {
    match mode {
        RowLockMode::Update => "SELECT FOR UPDATE",
        RowLockMode::NoKeyUpdate => "SELECT FOR NO KEY UPDATE",
        RowLockMode::Share => "SELECT FOR SHARE",
        RowLockMode::KeyShare => "SELECT FOR KEY SHARE",
    }
}

/// PostgreSQL's 25006 for `command` in a read-only transaction.
pub fn read_only_error(command: &str) -> PgError {
    PgError::new(
        SqlState::ReadOnlySqlTransaction,
        format!("cannot execute {command} in a read-only transaction"),
    )
}
