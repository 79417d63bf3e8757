//! The after-statement queue: the checks a transaction owes for its foreign keys and
//! DEFERRABLE unique constraints, and the SET CONSTRAINTS state that decides when each runs
//! (<https://www.postgresql.org/docs/15/sql-set-constraints.html>).
//!
//! PostgreSQL queues an AFTER ROW trigger event per written row and fires it at the end of
//! the statement (immediate constraint) or at COMMIT (deferred one). Here:
//! - unique, any DEFERRABLE: the row is written when the key may already be taken (its
//!   UNIQUE_CHECK_PARTIAL, which waits for nobody); the recheck waits for an inserter or
//!   deleter in progress and raises 23505 (non-deferrable keys are checked per row);
//! - foreign key, child side: the parent must exist when the check runs;
//! - foreign key, parent side: NO ACTION (the key must be back or no longer referenced),
//!   RESTRICT (no longer referenced), CASCADE and SET NULL (the action); only NO ACTION is
//!   ever deferred.
//!
//! A check queued while another runs (a cascaded delete's own actions) goes right after it,
//! so cascades run depth first.
//!
//! A check skips a row that is gone or whose key changed since (the newer version queued its
//! own check if it needed one), like `RI_FKey_check` and `unique_key_recheck`.
//! Not modelled: constraint triggers, exclusion constraints.
//! Invariant: a check queued by command `c` and fired by command `f` is undone by a rollback
//! to a savepoint taken before `c` (dropped) or before `f` (pending again), as PostgreSQL's
//! `afterTriggerEndSubXact` does; SET CONSTRAINTS issued after the savepoint is undone too.

use std::collections::BTreeMap;

use super::catalog::{Deferral, ForeignKeyAction, TableId};
use super::constraints;
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::storage::{CommandId, RowId};
use super::value::Value;

/// What a queued check verifies.
#[derive(Clone, Debug)]
pub enum Check {
    /// The row's key in the named unique constraint is held by no other live row.
    Unique {
        /// The row that may hold a duplicate key.
        row_id: RowId,
        /// Its values when queued.
        values: Vec<Value>,
    },
    /// The row's foreign key finds its parent.
    Child {
        /// The referencing row.
        row_id: RowId,
        /// Its values when queued.
        values: Vec<Value>,
    },
    /// A deleted (or re-keyed) parent row's key is back or no longer referenced (NO ACTION),
    /// is no longer referenced (RESTRICT), or its referencing rows are deleted (CASCADE) or
    /// cleared (SET NULL).
    Parent {
        /// The parent table (the event's table in PostgreSQL).
        parent_id: TableId,
        /// The parent row's values before the delete or update.
        old: Vec<Value>,
        /// What the foreign key does: NO ACTION for an update of the key.
        action: ForeignKeyAction,
    },
}

/// One check a transaction owes.
#[derive(Clone, Debug)]
pub struct Queued {
    /// The table the constraint belongs to (the child table for a foreign key).
    pub table_id: TableId,
    /// The constraint's name.
    pub constraint: String,
    /// The check.
    pub check: Check,
    /// The command that queued it.
    pub queued: CommandId,
    /// The command that ran it, once it passed.
    pub fired: Option<CommandId>,
}

/// SET CONSTRAINTS state: `true` means deferred.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modes {
    /// SET CONSTRAINTS ALL, which forgets earlier named settings.
    pub all: Option<bool>,
    /// SET CONSTRAINTS name, by (table, constraint name).
    pub named: BTreeMap<(TableId, String), bool>,
}

/// The deferred-constraint state of one transaction.
#[derive(Clone, Debug, Default)]
pub struct Deferred {
    /// Checks in the order they were queued (the order PostgreSQL fires them in).
    pub queue: Vec<Queued>,
    /// SET CONSTRAINTS history: the command that set each state, oldest first.
    pub modes: Vec<(CommandId, Modes)>,
    /// While a check runs: where the checks it queues go (right after it, so a cascade's own
    /// checks and actions run before the next row's, as PostgreSQL fires the triggers of a
    /// cascaded `DELETE` at the end of that query).
    pub insert_at: Option<usize>,
}

impl Deferred {
    /// The SET CONSTRAINTS state now in force.
    pub fn modes(&self) -> Modes {
        self.modes
            .last()
            .map(|(_, modes)| modes.clone())
            .unwrap_or_default()
    }

    /// Whether the constraint's checks wait for COMMIT now.
    pub fn is_deferred(&self, table_id: TableId, constraint: &str, deferral: Deferral) -> bool {
        if !deferral.is_deferrable() {
            return false;
        }
        let Some((_, modes)) = self.modes.last() else {
            return deferral == Deferral::Deferred;
        };
        let key = (table_id, constraint.to_string());
        match (modes.named.get(&key).copied(), modes.all) {
            (Some(deferred), _) | (None, Some(deferred)) => deferred,
            (None, None) => deferral == Deferral::Deferred,
        }
    }

    /// Whether some check has not run yet.
    pub fn has_pending(&self) -> bool {
        self.queue.iter().any(|queued| queued.fired.is_none())
    }

    /// ROLLBACK TO SAVEPOINT (or a failed statement) back to command `cid`.
    pub fn rollback_to(&mut self, cid: CommandId) {
        self.queue.retain(|queued| queued.queued < cid);
        for queued in &mut self.queue {
            if queued.fired.is_some_and(|fired| fired >= cid) {
                queued.fired = None;
            }
        }
        self.modes.retain(|(set_by, _)| *set_by < cid);
    }
}

impl StmtCtx<'_> {
    /// Queues a check for the end of the statement or COMMIT.
    pub fn queue_check(&mut self, table_id: TableId, constraint: &str, check: Check) {
        let queued = Queued {
            table_id,
            constraint: constraint.to_string(),
            check,
            queued: self.cid(),
            fired: None,
        };
        let state = self.db.deferred.entry(self.xid()).or_default();
        match state.insert_at.as_mut() {
            Some(position) => {
                state.queue.insert(*position, queued);
                *position += 1;
            }
            None => state.queue.push(queued),
        }
    }
}

/// After a row is written: queues the rechecks its unique keys need (`uniques`, from
/// `check_uniques`) and the checks of its foreign keys (`foreign_keys`, from
/// `parents_to_check`; every one is queued, deferred or not).
pub fn queue_row_checks(
    ctx: &mut StmtCtx,
    table_id: TableId,
    row_id: RowId,
    values: &[Value],
    (uniques, foreign_keys): (&[usize], &[usize]),
) {
    let table = ctx.db.catalog.table(table_id);
    let mut names: Vec<(String, bool)> = Vec::new();
    names.extend(
        uniques
            .iter()
            .map(|index| (table.uniques[*index].name.clone(), true)),
    );
    names.extend(
        foreign_keys
            .iter()
            .map(|index| (table.foreign_keys[*index].name.clone(), false)),
    );
    for (constraint, unique) in names {
        let values = values.to_vec();
        let check = if unique {
            Check::Unique { row_id, values }
        } else {
            Check::Child { row_id, values }
        };
        ctx.queue_check(table_id, &constraint, check);
    }
}

/// DROP TABLE and TRUNCATE refuse a table with checks still pending on it (PostgreSQL's
/// `CheckTableNotInUse`): 55006. A check is on the table whose row it reads first: the
/// written row's table, or the parent table for a parent-side check.
pub fn check_not_pending(ctx: &StmtCtx, table_id: TableId, command: &str) -> Result<(), PgError> {
    let Some(state) = ctx.db.deferred.get(&ctx.xid()) else {
        return Ok(());
    };
    let pending = state.queue.iter().filter(|queued| queued.fired.is_none());
    let on_table = |queued: &Queued| match &queued.check {
        Check::Parent { parent_id, .. } => *parent_id,
        Check::Unique { .. } | Check::Child { .. } => queued.table_id,
    };
    if !pending.map(on_table).any(|on| on == table_id) {
        return Ok(());
    }
    let name = &ctx.db.catalog.table(table_id).name;
    Err(PgError::new(
        SqlState::ObjectInUse,
        format!("cannot {command} \"{name}\" because it has pending trigger events"),
    ))
}

/// The oldest pending check to run now: any when `all` (COMMIT), else only those of
/// constraints that are immediate now (end of statement, SET CONSTRAINTS ... IMMEDIATE).
fn next_due(ctx: &StmtCtx, all: bool) -> Option<usize> {
    let state = ctx.db.deferred.get(&ctx.xid())?;
    state.queue.iter().position(|queued| {
        // RESTRICT and the actions are never deferred, whatever SET CONSTRAINTS says.
        let deferrable = !matches!(
            queued.check,
            Check::Parent { action, .. } if action != ForeignKeyAction::NoAction
        );
        queued.fired.is_none()
            && (all || !deferrable || {
                let deferral = constraint_deferral(ctx, queued).unwrap_or(Deferral::NotDeferrable);
                !state.is_deferred(queued.table_id, &queued.constraint, deferral)
            })
    })
}

/// The constraint's declared deferral; `None` when it no longer exists (its table was
/// dropped later in the same statement string).
fn constraint_deferral(ctx: &StmtCtx, queued: &Queued) -> Option<Deferral> {
    if ctx.db.catalog.dropped().contains(&queued.table_id) {
        return None;
    }
    let table = ctx.db.catalog.table(queued.table_id);
    match queued.check {
        Check::Unique { .. } => table
            .uniques
            .iter()
            .find(|unique| unique.name == queued.constraint)
            .map(|unique| unique.deferral),
        Check::Child { .. } | Check::Parent { .. } => table
            .foreign_keys
            .iter()
            .find(|fk| fk.name == queued.constraint)
            .map(|fk| fk.deferral),
    }
}

/// Runs the pending checks that are due (all of them when `all`), oldest first; the first
/// failure is the statement's (or COMMIT's) error. A check that must wait stops the run; the
/// checks that passed stay marked, so the re-run goes on from the waiting one.
pub fn fire(ctx: &mut StmtCtx, all: bool) -> Exec<()> {
    while let Some(position) = next_due(ctx, all) {
        let queued = ctx.db.deferred[&ctx.xid()].queue[position].clone();
        if constraint_deferral(ctx, &queued).is_some() {
            set_insert_at(ctx, Some(position + 1));
            let ran = run_check(ctx, &queued);
            set_insert_at(ctx, None);
            ran?;
        }
        let cid = ctx.cid();
        let state = ctx.db.deferred.get_mut(&ctx.xid()).expect("queue exists");
        assert!(state.queue[position].fired.is_none(), "a check fires once");
        if state.queue[position].queued == cid {
            // Fired by the command that queued it: a rollback to a savepoint drops it or
            // leaves it fired, so it is inert, and the queue stays short (every foreign-key
            // check passes through it).
            state.queue.remove(position);
        } else {
            state.queue[position].fired = Some(cid);
        }
    }
    Ok(())
}

fn set_insert_at(ctx: &mut StmtCtx, position: Option<usize>) {
    let state = ctx.db.deferred.get_mut(&ctx.xid()).expect("queue exists");
    state.insert_at = position;
}

fn run_check(ctx: &mut StmtCtx, queued: &Queued) -> Exec<()> {
    let table = ctx.db.catalog.table(queued.table_id).clone();
    match &queued.check {
        Check::Unique { row_id, values } => {
            let index = table
                .uniques
                .iter()
                .position(|unique| unique.name == queued.constraint)
                .expect("checked to exist");
            constraints::recheck_unique(ctx, queued.table_id, index, *row_id, values)
        }
        Check::Child { row_id, values } => {
            let index = table
                .foreign_keys
                .iter()
                .position(|fk| fk.name == queued.constraint)
                .expect("checked to exist");
            constraints::recheck_child(ctx, queued.table_id, index, *row_id, values)
        }
        Check::Parent { old, action, .. } => {
            let fk = table
                .foreign_keys
                .iter()
                .find(|fk| fk.name == queued.constraint)
                .expect("checked to exist")
                .clone();
            constraints::recheck_parent(ctx, queued.table_id, &fk, old, *action)
        }
    }
}
