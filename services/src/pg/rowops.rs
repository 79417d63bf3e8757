//! Row-level write primitives: taking a row lock the way `heap_lock_tuple` does (wait, NOWAIT,
//! SKIP LOCKED, then the READ COMMITTED EvalPlanQual re-check or the REPEATABLE READ 40001),
//! and writing insert/update/delete versions.
//!
//! Not modelled: lock_timeout (enforced by the driver via `cancel_wait`), the CONTEXT line of
//! lock errors.
//! Invariant: a version is only ever written by a transaction holding a row lock on its chain
//! (or by the inserter of a chain nobody else can see yet).

use super::catalog::TableId;
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, StmtCtx, Wait};
use super::locks::RowLockMode;
use super::storage::{RowId, Version, WriteKind};
use super::value::Value;

/// What to do when a row is locked by another transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Block until the holder ends.
    Wait,
    /// Fail with 55P03.
    NoWait,
    /// Leave the row out.
    SkipLocked,
}

/// Why a row is being locked; selects the REPEATABLE READ error wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockPurpose {
    /// SELECT … FOR UPDATE/SHARE.
    Select,
    /// UPDATE, DELETE, ON CONFLICT DO UPDATE, FK actions.
    Write,
}

/// Result of locking a row.
#[derive(Clone, Debug)]
pub enum Locked {
    /// Locked; these are the values of the newest version (after EvalPlanQual).
    Row(Vec<Value>),
    /// Skipped: SKIP LOCKED, deleted concurrently, or the WHERE re-check failed.
    Skip,
}

/// A re-check of the statement's WHERE clause against a newer row version.
pub type Recheck<'r> = &'r mut dyn FnMut(&mut StmtCtx, &[Value]) -> Exec<bool>;

/// Locks `row_id` for this transaction (see the module doc for the rules).
pub fn lock_row(
    ctx: &mut StmtCtx,
    table_id: TableId,
    row_id: RowId,
    mode: RowLockMode,
    policy: WaitPolicy,
    purpose: LockPurpose,
    recheck: Recheck,
) -> Exec<Locked> {
    let blockers = ctx
        .db
        .row_locks
        .conflicting((table_id, row_id), ctx.xid(), mode);
    if !blockers.is_empty() {
        return match policy {
            WaitPolicy::Wait => Err(Interrupt::Block(Wait::Row {
                key: (table_id, row_id),
                mode,
                xids: blockers,
            })),
            WaitPolicy::SkipLocked => Ok(Locked::Skip),
            WaitPolicy::NoWait => {
                let table = ctx.db.catalog.table(table_id).name.clone();
                Err(PgError::new(
                    SqlState::LockNotAvailable,
                    format!("could not obtain lock on row in relation \"{table}\""),
                )
                .into())
            }
        };
    }
    let view = ctx.view;
    let xid = ctx.xid();
    let Some(chain) = ctx.db.heap(table_id).chains.get(&row_id).cloned() else {
        return Ok(Locked::Skip);
    };
    let newest_index = chain.versions.len() - 1;
    let newest = chain.newest().clone();
    let visible_index = ctx
        .db
        .txns
        .visible_version(&chain, &view)
        .map(|(index, _)| index);
    let deleted = newest.xmax.is_some_and(|(xmax, _)| xmax != xid);
    let mut changed_since_snapshot = visible_index != Some(newest_index) || deleted;
    let mut locked_values = newest.values.clone();
    if changed_since_snapshot && mode == RowLockMode::KeyShare && !deleted {
        // FOR KEY SHARE ignores an update that left the key columns alone, committed or not,
        // in every isolation level (PostgreSQL's heap_lock_tuple checks HEAP_KEYS_UPDATED): it
        // locks the version the snapshot sees and returns that one, never the newer values
        // (an RR foreign-key check against a parent with a non-key update succeeds).
        let table = ctx.db.catalog.table(table_id);
        let visible = visible_index.map(|index| &chain.versions[index].values);
        changed_since_snapshot = visible.is_none_or(|visible| {
            (0..table.columns.len()).any(|column| {
                table.is_key_column(column) && visible[column] != newest.values[column]
            })
        });
        if let (false, Some(visible)) = (changed_since_snapshot, visible) {
            locked_values = visible.clone();
        }
    }
    if changed_since_snapshot {
        if ctx.isolation.uses_xact_snapshot() {
            return Err(match (deleted, purpose) {
                (true, LockPurpose::Write) => PgError::concurrent_delete(),
                _ => PgError::concurrent_update(),
            }
            .into());
        }
        // READ COMMITTED: EvalPlanQual. A deleted row is ignored; an updated one is re-checked.
        if deleted || !recheck(ctx, &newest.values)? {
            return Ok(Locked::Skip);
        }
    }
    let cid = ctx.cid();
    ctx.db.row_locks.grant((table_id, row_id), xid, mode, cid);
    Ok(Locked::Row(locked_values))
}

/// Inserts a new row version; returns its chain id.
pub fn write_insert(ctx: &mut StmtCtx, table_id: TableId, values: Vec<Value>) -> RowId {
    let heap = ctx.db.heap_mut(table_id);
    let version = Version {
        xmin: ctx.view.xid,
        cmin: ctx.command,
        xmax: None,
        values,
        slot: 0,
    };
    let row_id = heap.insert(version);
    let values = &heap.chains[&row_id].newest().values;
    heap.indexes.record(row_id, values);
    ctx.record_write(table_id, row_id, WriteKind::Insert);
    row_id
}

/// Marks the newest version of a locked row deleted.
pub fn write_delete(ctx: &mut StmtCtx, table_id: TableId, row_id: RowId) {
    assert_may_write(ctx, table_id, row_id);
    let stamp = (ctx.xid(), ctx.cid());
    let chain = ctx
        .db
        .heap_mut(table_id)
        .chains
        .get_mut(&row_id)
        .expect("locked row exists");
    chain.versions.last_mut().expect("chain has a version").xmax = Some(stamp);
    ctx.record_write(table_id, row_id, WriteKind::Delete);
}

/// Replaces the newest version of a locked row with `values`.
pub fn write_update(ctx: &mut StmtCtx, table_id: TableId, row_id: RowId, values: Vec<Value>) {
    assert_may_write(ctx, table_id, row_id);
    let stamp = (ctx.xid(), ctx.cid());
    let heap = ctx.db.heap_mut(table_id);
    heap.indexes.record(row_id, &values);
    let slot = heap.take_slot();
    let chain = heap.chains.get_mut(&row_id).expect("locked row exists");
    chain.versions.last_mut().expect("chain has a version").xmax = Some(stamp);
    chain.versions.push(Version {
        xmin: stamp.0,
        cmin: stamp.1,
        xmax: None,
        values,
        slot,
    });
    ctx.record_write(table_id, row_id, WriteKind::Update);
}

/// The module's invariant, checked where a version is written: the writer holds a row lock
/// on the chain, or created its newest version itself (a row its own statement inserted or
/// updated, which nobody else can lock yet); and no other transaction has deleted or
/// replaced that version. A violation is an engine bug: it panics, and the run reports a
/// crash with its seed instead of a verdict drawn from corrupt heaps.
fn assert_may_write(ctx: &StmtCtx, table_id: TableId, row_id: RowId) {
    let xid = ctx.xid();
    let newest = ctx
        .db
        .heap(table_id)
        .chains
        .get(&row_id)
        .map(|chain| chain.newest());
    let newest =
        newest.unwrap_or_else(|| panic!("xid {xid} writes row {row_id:?}, not in its heap"));
    assert!(
        ctx.db.row_locks.holds((table_id, row_id), xid) || newest.xmin == xid,
        "xid {xid} writes row {row_id:?} without its row lock"
    );
    assert!(
        newest.xmax.is_none_or(|(xmax, _)| xmax == xid),
        "xid {xid} writes row {row_id:?} over a version xid {:?} deleted",
        newest.xmax
    );
}

/// The lock an UPDATE needs: FOR UPDATE if it changes a unique-key column, else FOR NO KEY
/// UPDATE (which does not block foreign-key checks on the row).
pub fn update_lock_mode(
    ctx: &StmtCtx,
    table_id: TableId,
    old: &[Value],
    new: &[Value],
) -> RowLockMode {
    let table = ctx.db.catalog.table(table_id);
    let key_changed = (0..old.len()).any(|column_index| {
        let (before, after) = (&old[column_index], &new[column_index]);
        // By representation, as HeapDetermineColumnsInfo's datumIsEqual: 1.5 -> 1.50 or
        // '1 mon' -> '30 days' changes the key column even though the values compare equal.
        let unchanged = before == after;
        table.is_key_column(column_index) && !unchanged
    });
    if key_changed {
        RowLockMode::Update
    } else {
        RowLockMode::NoKeyUpdate
    }
}
