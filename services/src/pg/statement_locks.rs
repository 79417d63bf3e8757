//! The table locks each statement takes before it runs, as PostgreSQL 15 takes them while it
//! parses and plans (<https://www.postgresql.org/docs/15/explicit-locking.html>, "Table-Level
//! Lock Modes"), and `LOCK TABLE` (<https://www.postgresql.org/docs/15/sql-lock.html>).
//!
//! - SELECT: ACCESS SHARE on every table it reads; ROW SHARE on the tables of a query with
//!   `FOR UPDATE` / `FOR NO KEY UPDATE` / `FOR SHARE` / `FOR KEY SHARE` (those named in `OF`).
//! - INSERT, UPDATE, DELETE: ROW EXCLUSIVE on the target, taken first (PostgreSQL locks the
//!   target before it reads the rest); ACCESS SHARE on the tables they read. With WITH
//!   queries, each WITH query's in written order, then the main statement's (PostgreSQL
//!   analyses the WITH clause first).
//! - CREATE INDEX: SHARE on the table. CREATE TABLE ... REFERENCES: SHARE ROW EXCLUSIVE on
//!   each referenced table (adding a foreign key).
//! - DROP TABLE: ACCESS EXCLUSIVE on each table, on the tables its foreign keys reference
//!   (dropping a foreign key takes ACCESS EXCLUSIVE on both sides, `RemoveConstraintById`),
//!   and with CASCADE on the tables whose foreign keys go. TRUNCATE: ACCESS EXCLUSIVE on each
//!   table (and with CASCADE on the referencing ones).
//! - LOCK TABLE: the mode written (ACCESS EXCLUSIVE by default), only in a transaction block
//!   (25P01), NOWAIT fails with 55P03 instead of waiting.
//!
//! Foreign-key checks and actions take theirs while the statement runs (`StmtCtx::lock_table`):
//! ROW SHARE on the table they check (PostgreSQL's `SELECT ... FOR KEY SHARE`), ROW EXCLUSIVE
//! on the table a cascade writes.
//!
//! Locks are taken in statement order; a name that does not resolve ends the list there (the
//! executor then reports the error PostgreSQL reports at that point, without waiting for
//! later tables). A READ COMMITTED statement that waited for a table lock takes its snapshot
//! after the wait, as PostgreSQL does (`engine`).
//! Not modelled: locks on indexes and sequences, a CTE that shadows a table of the same name
//! (its references are skipped as the CTE's), locks of statements the engine refuses.
//! Invariant: the list names each table once, with the strongest of the modes above.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    self, FromTable, Query, SetExpr, Statement, TableFactor, TableObject, Visit, Visitor,
};

use super::catalog::{fold_ident, fold_name, split_name, Catalog, TableId};
use super::engine::Postgres;
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, Wait};
use super::storage::{CommandId, Xid};
use super::table_locks::{Acquired, Request, TableLockMode};
use super::SessionId;

/// Who asks for a statement's locks: session, transaction, the statement's command id, and
/// whether it runs in a transaction block (explicit, or a multi-statement string).
pub type Locker = (SessionId, Xid, CommandId, bool);

impl Postgres {
    /// Takes the table locks `statement` needs before it runs; a lock that is not free
    /// blocks the statement before it started, or fails it (NOWAIT, early deadlock).
    pub(super) fn take_statement_locks(
        &mut self,
        (session, xid, cid, in_block): Locker,
        statement: &Statement,
    ) -> Exec<()> {
        let request = |table, mode, nowait| Request {
            table,
            session,
            xid,
            mode,
            cid,
            nowait,
        };
        let Statement::Lock(lock) = statement else {
            for (table, mode) in statement_locks(&self.db.catalog, statement) {
                self.take_lock(request(table, mode, false))?;
            }
            return Ok(());
        };
        if !in_block {
            return Err(lock_outside_block().into());
        }
        let mode = lock_statement_mode(lock.lock_mode.as_ref());
        // LOCK TABLE looks each name up after locking the ones before it.
        for target in &lock.tables {
            let table = self.db.catalog.resolve(&target.name)?;
            self.take_lock(request(table, mode, lock.nowait))?;
        }
        Ok(())
    }

    fn take_lock(&mut self, request: Request) -> Exec<()> {
        match self.db.table_locks.acquire(request) {
            Acquired::Granted => Ok(()),
            Acquired::Queued => Err(Interrupt::Block(Wait::Table(request.table, request.mode))),
            Acquired::NotAvailable => Err(not_available(&self.db.catalog, request.table).into()),
            Acquired::Deadlock(_) => Err(early_deadlock().into()),
        }
    }
}

/// The table locks `statement` takes before it runs, in the order PostgreSQL takes them.
pub fn statement_locks(catalog: &Catalog, statement: &Statement) -> Vec<(TableId, TableLockMode)> {
    use TableLockMode::{AccessExclusive, Share, ShareRowExclusive};
    let mut relations = Relations {
        catalog,
        locks: Vec::new(),
        ctes: BTreeSet::new(),
        row_locked: BTreeSet::new(),
        stopped: false,
    };
    match statement {
        // Their targets: `Relations::pre_visit_statement`.
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_) => {}
        Statement::CreateIndex(create) => {
            relations.named(&create.table_name, Share);
            return relations.locks;
        }
        Statement::CreateTable(create) => {
            let own = create.name.to_string();
            let mut parents = Vec::new();
            let _ = ast::visit_relations(statement, |name| {
                if name.to_string() != own {
                    parents.push(name.clone());
                }
                ControlFlow::<()>::Continue(())
            });
            for parent in &parents {
                relations.named(parent, ShareRowExclusive);
            }
            return relations.locks;
        }
        Statement::Drop { .. } | Statement::Truncate(_) => {
            return super::drop::lock_targets(catalog, statement)
                .into_iter()
                .map(|table| (table, AccessExclusive))
                .collect();
        }
        _ => return Vec::new(),
    }
    let _ = statement.visit(&mut relations);
    relations.locks
}

/// Walks a statement's queries and table references in text order.
struct Relations<'a> {
    catalog: &'a Catalog,
    locks: Vec<(TableId, TableLockMode)>,
    /// Names of the statement's CTEs (their references are not tables).
    ctes: BTreeSet<String>,
    /// Tables a query's locking clause applies to.
    row_locked: BTreeSet<TableId>,
    /// A name did not resolve: PostgreSQL stops there with an error.
    stopped: bool,
}

impl Relations<'_> {
    fn target(&mut self, name: &ast::ObjectName) {
        self.named(name, TableLockMode::RowExclusive);
    }

    fn named(&mut self, name: &ast::ObjectName, mode: TableLockMode) {
        if self.stopped {
            return;
        }
        match self.catalog.resolve(name) {
            Ok(table) => self.add(table, mode),
            Err(_) => self.stopped = true,
        }
    }

    fn add(&mut self, table: TableId, mode: TableLockMode) {
        match self.locks.iter_mut().find(|(held, _)| *held == table) {
            Some((_, held_mode)) => *held_mode = (*held_mode).max(mode),
            None => self.locks.push((table, mode)),
        }
    }

    /// The tables a query's FOR UPDATE / FOR SHARE applies to: its FROM items, or those
    /// named (by alias or table name) in `OF`.
    fn note_locking_clause(&mut self, query: &Query) {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return;
        };
        for lock in &query.locks {
            let (_, of) = super::lock_syntax::strength(lock);
            let of = of.map(|of| fold_name(&of));
            let factors = select.from.iter().flat_map(|from| {
                std::iter::once(&from.relation).chain(from.joins.iter().map(|join| &join.relation))
            });
            for factor in factors {
                let TableFactor::Table {
                    name, alias, args, ..
                } = factor
                else {
                    continue;
                };
                let written = alias.as_ref().map_or_else(
                    || split_name(name).map(|(_, table)| table).unwrap_or_default(),
                    |alias| fold_ident(&alias.name),
                );
                let applies = of.as_ref().is_none_or(|of| *of == written);
                if args.is_none() && applies {
                    if let Ok(table) = self.catalog.resolve(name) {
                        self.row_locked.insert(table);
                    }
                }
            }
        }
    }
}

/// The table an INSERT, UPDATE or DELETE writes.
pub fn dml_target(statement: &Statement) -> Option<&ast::ObjectName> {
    match statement {
        Statement::Insert(insert) => match &insert.table {
            TableObject::TableName(name) => Some(name),
            _ => None,
        },
        Statement::Update(update) => match &update.table.relation {
            TableFactor::Table { name, .. } => Some(name),
            _ => None,
        },
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            match from.first().map(|item| &item.relation) {
                Some(TableFactor::Table { name, .. }) => Some(name),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Visitor for Relations<'_> {
    type Break = ();

    /// The target of an INSERT, UPDATE or DELETE (the statement's own, or one in WITH) is
    /// locked before the tables it reads.
    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if let Some(name) = dml_target(statement) {
            self.target(name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes
                    .insert(super::catalog::fold_ident(&cte.alias.name));
            }
        }
        self.note_locking_clause(query);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name, args: None, ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let cte = name.0.len() == 1
            && name.0[0]
                .as_ident()
                .is_some_and(|ident| self.ctes.contains(&super::catalog::fold_ident(ident)));
        if cte || self.stopped {
            return ControlFlow::Continue(());
        }
        match self.catalog.resolve(name) {
            Ok(table) if self.row_locked.contains(&table) => {
                self.add(table, TableLockMode::RowShare)
            }
            Ok(table) => self.add(table, TableLockMode::AccessShare),
            Err(_) => self.stopped = true,
        }
        ControlFlow::Continue(())
    }
}

/// PostgreSQL's early deadlock: the request conflicts with a lock held by a transaction that
/// waits for one we hold.
pub fn early_deadlock() -> PgError {
    PgError::new(SqlState::DeadlockDetected, "deadlock detected")
}

/// LOCK TABLE ... NOWAIT on a lock that is not free.
pub fn not_available(catalog: &Catalog, table: TableId) -> PgError {
    PgError::new(
        SqlState::LockNotAvailable,
        format!(
            "could not obtain lock on relation \"{}\"",
            catalog.table(table).name
        ),
    )
}

/// LOCK TABLE outside BEGIN ... COMMIT.
pub fn lock_outside_block() -> PgError {
    PgError::new(
        SqlState::NoActiveSqlTransaction,
        "LOCK TABLE can only be used in transaction blocks",
    )
}

/// The mode LOCK TABLE asks for.
pub fn lock_statement_mode(mode: Option<&ast::LockTableMode>) -> TableLockMode {
    use ast::LockTableMode as Written;
    match mode {
        Some(Written::AccessShare) => TableLockMode::AccessShare,
        Some(Written::RowShare) => TableLockMode::RowShare,
        Some(Written::RowExclusive) => TableLockMode::RowExclusive,
        Some(Written::ShareUpdateExclusive) => TableLockMode::ShareUpdateExclusive,
        Some(Written::Share) => TableLockMode::Share,
        Some(Written::ShareRowExclusive) => TableLockMode::ShareRowExclusive,
        Some(Written::Exclusive) => TableLockMode::Exclusive,
        Some(Written::AccessExclusive) | None => TableLockMode::AccessExclusive,
    }
}
