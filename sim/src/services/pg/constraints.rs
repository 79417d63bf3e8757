//! Constraint enforcement: NOT NULL, unique indexes (checked through a "dirty" view that sees
//! uncommitted inserts and deletes and waits for them), foreign keys on the child side (the
//! parent must be visible; it gets a FOR KEY SHARE lock) and on the parent side (RESTRICT /
//! NO ACTION, CASCADE, SET NULL).
//!
//! A DEFERRABLE unique key is only checked for a possible duplicate here (PostgreSQL's
//! UNIQUE_CHECK_PARTIAL, which waits for nobody); `recheck_unique` decides, at the end of the
//! statement or at COMMIT (`deferred.rs`). A deferred foreign key's checks are queued the same
//! way and run by `recheck_child` / `recheck_parent`.
//! Not modelled: immediate FK checks run per row instead of at end of statement (non-deferrable
//! unique checks are per row in PostgreSQL too), MATCH FULL, the REPEATABLE READ cross-check
//! of parent-side FK queries.
//! Invariant: a unique check never reports a conflict with a version its own transaction
//! deleted, and never ignores one that is still in progress elsewhere — it waits instead.

use super::catalog::{ForeignKey, ForeignKeyAction, Table, TableId, UniqueIndex};
use super::deferred::{queue_row_checks, Check};
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, StmtCtx, Wait};
use super::locks::RowLockMode;
use super::rowops::{
    lock_row, update_lock_mode, write_delete, write_update, LockPurpose, Locked, WaitPolicy,
};
use super::storage::RowId;
use super::table_locks::TableLockMode;
use super::trigger::{fire_after, fire_before, TriggerOp};
use super::value::Value;

fn key_text(table: &Table, columns: &[usize], values: &[Value]) -> (String, String) {
    let names: Vec<&str> = columns
        .iter()
        .map(|index| table.columns[*index].name.as_str())
        .collect();
    let shown: Vec<String> = columns
        .iter()
        .map(|index| values[*index].to_pg_text())
        .collect();
    (names.join(", "), shown.join(", "))
}

/// Chains of `table_id` that may hold `key` in `columns`, through the key index.
fn indexed_candidates(
    ctx: &mut StmtCtx,
    table_id: TableId,
    columns: &[usize],
    key: &[Value],
) -> Vec<RowId> {
    let heap = ctx.db.heap_mut(table_id);
    heap.indexes.ensure(columns, &heap.chains);
    heap.indexes
        .candidates(columns, key)
        .into_iter()
        .filter(|row_id| heap.chains.contains_key(row_id))
        .collect()
}

/// 23502 for the first NULL in a NOT NULL column; DETAIL lists the whole row.
pub fn check_not_null(table: &Table, values: &[Value]) -> Result<(), PgError> {
    for (column, value) in table.columns.iter().zip(values) {
        if column.not_null && value.is_null() {
            let row: Vec<String> = values.iter().map(Value::to_pg_text).collect();
            return Err(PgError::new(
                SqlState::NotNullViolation,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    column.name, table.name
                ),
            )
            .with_detail(format!("Failing row contains ({}).", row.join(", "))));
        }
    }
    Ok(())
}

/// 23505 for `unique` and the proposed `values`.
pub fn unique_violation(table: &Table, unique: &UniqueIndex, values: &[Value]) -> PgError {
    let (names, shown) = key_text(table, &unique.columns, values);
    PgError::new(
        SqlState::UniqueViolation,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            unique.name
        ),
    )
    .with_detail(format!("Key ({names})=({shown}) already exists."))
    .with_constraint(&table.name, &unique.name)
}

fn keys_equal(
    columns: &[usize],
    left: &[Value],
    other_columns: &[usize],
    right: &[Value],
) -> Result<bool, PgError> {
    for (left_index, right_index) in columns.iter().zip(other_columns) {
        if !left[*left_index].key_equal(&right[*right_index])? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Looks for a live row holding the same key in unique index `unique_index` of the table.
/// Waits (returns `Block`) on a transaction that is inserting or deleting such a row.
pub fn find_unique_conflict(
    ctx: &mut StmtCtx,
    table_id: TableId,
    unique_index: usize,
    values: &[Value],
) -> Exec<Option<RowId>> {
    find_unique_conflict_except(ctx, table_id, unique_index, values, None)
}

/// `find_unique_conflict`, ignoring the chain `except` (a recheck of a written row must not
/// find the row itself).
fn find_unique_conflict_except(
    ctx: &mut StmtCtx,
    table_id: TableId,
    unique_index: usize,
    values: &[Value],
    except: Option<RowId>,
) -> Exec<Option<RowId>> {
    let unique = ctx.db.catalog.table(table_id).uniques[unique_index].clone();
    if unique.columns.iter().any(|index| values[*index].is_null()) {
        return Ok(None);
    }
    let xid = ctx.xid();
    let heap = ctx.db.heap_mut(table_id);
    heap.indexes.ensure(&unique.columns, &heap.chains);
    let key: Vec<Value> = unique
        .columns
        .iter()
        .map(|index| values[*index].clone())
        .collect();
    let heap = ctx.db.heap(table_id);
    for row_id in heap.indexes.candidates(&unique.columns, &key) {
        let Some(chain) = heap.chains.get(&row_id).filter(|_| except != Some(row_id)) else {
            continue;
        };
        for version in &chain.versions {
            if !keys_equal(&unique.columns, &version.values, &unique.columns, values)? {
                continue;
            }
            if version.xmin != xid && ctx.db.txns.in_progress(version.xmin) {
                return Err(Interrupt::Block(Wait::Xids(vec![version.xmin])));
            }
            match version.xmax {
                None => return Ok(Some(row_id)),
                Some((xmax, _)) if xmax == xid => {}
                Some((xmax, _)) if ctx.db.txns.in_progress(xmax) => {
                    return Err(Interrupt::Block(Wait::Xids(vec![xmax])));
                }
                Some(_) => {}
            }
        }
    }
    Ok(None)
}

/// Whether a version the dirty view sees (committed, or in progress anywhere, not deleted by
/// us or by a committed transaction) holds the key: PostgreSQL's UNIQUE_CHECK_PARTIAL for a
/// deferrable unique index, which notes a possible duplicate and waits for nobody.
fn possible_duplicate(
    ctx: &mut StmtCtx,
    table_id: TableId,
    unique: &UniqueIndex,
    values: &[Value],
) -> Result<bool, PgError> {
    if unique.columns.iter().any(|index| values[*index].is_null()) {
        return Ok(false);
    }
    let key: Vec<Value> = unique
        .columns
        .iter()
        .map(|index| values[*index].clone())
        .collect();
    for row_id in indexed_candidates(ctx, table_id, &unique.columns, &key) {
        let chain = &ctx.db.heap(table_id).chains[&row_id];
        for version in &chain.versions {
            if !keys_equal(&unique.columns, &version.values, &unique.columns, values)? {
                continue;
            }
            let dead = version
                .xmax
                .is_some_and(|(xmax, _)| xmax == ctx.xid() || !ctx.db.txns.in_progress(xmax));
            if !dead {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Checks every unique index of the table whose key differs from `old` (all of them for an
/// insert, where `old` is `None`); 23505 on a conflict. Returns the deferrable ones that may
/// hold a duplicate: the caller queues their recheck once the row is written.
pub fn check_uniques(
    ctx: &mut StmtCtx,
    table_id: TableId,
    old: Option<&[Value]>,
    values: &[Value],
    skip: &[usize],
) -> Exec<Vec<usize>> {
    let table = ctx.db.catalog.table(table_id).clone();
    let mut recheck = Vec::new();
    for (unique_index, unique) in table.uniques.iter().enumerate() {
        if skip.contains(&unique_index) {
            continue;
        }
        if let Some(old) = old {
            if keys_equal(&unique.columns, old, &unique.columns, values)? {
                continue;
            }
        }
        if unique.deferral.is_deferrable() {
            if possible_duplicate(ctx, table_id, unique, values)? {
                recheck.push(unique_index);
            }
        } else if find_unique_conflict(ctx, table_id, unique_index, values)?.is_some() {
            return Err(unique_violation(&table, unique, values).into());
        }
    }
    Ok(recheck)
}

/// The newest version of a row this transaction wrote, if it is still live and still holds
/// the same values in `columns` as `queued` (else its check is moot: a newer version queued
/// its own).
fn live_with_same_key(
    ctx: &StmtCtx,
    table_id: TableId,
    row_id: RowId,
    columns: &[usize],
    queued: &[Value],
) -> Result<Option<Vec<Value>>, PgError> {
    let Some(chain) = ctx.db.heap(table_id).chains.get(&row_id) else {
        return Ok(None);
    };
    let newest = chain.newest();
    if newest.xmax.is_some() || !keys_equal(columns, &newest.values, columns, queued)? {
        return Ok(None);
    }
    Ok(Some(newest.values.clone()))
}

/// The deferred recheck of a unique key (PostgreSQL's `unique_key_recheck`): another live row
/// with the key is 23505; one being inserted or deleted is waited for.
pub fn recheck_unique(
    ctx: &mut StmtCtx,
    table_id: TableId,
    unique_index: usize,
    row_id: RowId,
    queued: &[Value],
) -> Exec<()> {
    let table = ctx.db.catalog.table(table_id).clone();
    let unique = &table.uniques[unique_index];
    let Some(values) = live_with_same_key(ctx, table_id, row_id, &unique.columns, queued)? else {
        return Ok(());
    };
    if find_unique_conflict_except(ctx, table_id, unique_index, &values, Some(row_id))?.is_some() {
        return Err(unique_violation(&table, unique, &values).into());
    }
    Ok(())
}

/// Child side: each foreign key whose columns are non-NULL (and changed, for an update) must
/// find its parent row, which is then locked FOR KEY SHARE until the transaction ends.
/// Returns the foreign keys deferred now: the caller queues their check once the row is
/// written.
pub fn check_parents(
    ctx: &mut StmtCtx,
    table_id: TableId,
    old: Option<&[Value]>,
    values: &[Value],
) -> Exec<Vec<usize>> {
    let table = ctx.db.catalog.table(table_id).clone();
    let mut deferred = Vec::new();
    for (fk_index, fk) in table.foreign_keys.iter().enumerate() {
        let null = fk.columns.iter().any(|index| values[*index].is_null());
        let unchanged = match old {
            Some(old) => keys_equal(&fk.columns, old, &fk.columns, values)?,
            None => false,
        };
        if ctx.constraint_deferred(table_id, &fk.name, fk.deferral) {
            // PostgreSQL queues the check of every inserted row, NULL key or not (it skips
            // NULLs when it fires): only DROP TABLE and TRUNCATE can tell (55006).
            if old.is_none() || !(null || unchanged) {
                deferred.push(fk_index);
            }
            continue;
        }
        if !(null || unchanged) {
            check_parent_exists(ctx, &table, fk, values)?;
        }
    }
    Ok(deferred)
}

/// The deferred check of a child row's foreign key (PostgreSQL's `RI_FKey_check`).
pub fn recheck_child(
    ctx: &mut StmtCtx,
    table_id: TableId,
    fk_index: usize,
    row_id: RowId,
    queued: &[Value],
) -> Exec<()> {
    let table = ctx.db.catalog.table(table_id).clone();
    let fk = &table.foreign_keys[fk_index];
    let Some(values) = live_with_same_key(ctx, table_id, row_id, &fk.columns, queued)? else {
        return Ok(());
    };
    if fk.columns.iter().any(|index| values[*index].is_null()) {
        return Ok(());
    }
    check_parent_exists(ctx, &table, fk, &values)
}

/// Finds a row of `table_id` holding `key` in `columns` that the FK view sees and locks it
/// FOR KEY SHARE (PostgreSQL's `SELECT 1 FROM ONLY pk x WHERE ... FOR KEY SHARE OF x`).
/// Returns whether one was found and locked.
fn lock_key_holder(
    ctx: &mut StmtCtx,
    table_id: TableId,
    columns: &[usize],
    key: &[Value],
) -> Exec<bool> {
    // A `SELECT ... FOR KEY SHARE` takes ROW SHARE on the table.
    ctx.lock_table(table_id, TableLockMode::RowShare)?;
    let view = ctx.fk_view();
    let mut found = None;
    for row_id in indexed_candidates(ctx, table_id, columns, key) {
        let chain = &ctx.db.heap(table_id).chains[&row_id];
        if let Some((_, version)) = ctx.db.txns.visible_version(chain, &view) {
            let positions: Vec<usize> = (0..key.len()).collect();
            if keys_equal(columns, &version.values, &positions, key)? {
                found = Some(row_id);
                break;
            }
        }
    }
    let Some(row_id) = found else {
        return Ok(false);
    };
    let saved_view = ctx.view;
    ctx.view = view;
    let locked = lock_row(
        ctx,
        table_id,
        row_id,
        RowLockMode::KeyShare,
        WaitPolicy::Wait,
        LockPurpose::Select,
        &mut |_, _| Ok(true),
    );
    ctx.view = saved_view;
    Ok(!matches!(locked?, Locked::Skip))
}

/// The child row `values` must find its parent through `fk`; 23503 otherwise.
fn check_parent_exists(
    ctx: &mut StmtCtx,
    table: &Table,
    fk: &ForeignKey,
    values: &[Value],
) -> Exec<()> {
    let key: Vec<Value> = fk
        .columns
        .iter()
        .map(|index| values[*index].clone())
        .collect();
    if lock_key_holder(ctx, fk.parent, &fk.parent_columns, &key)? {
        return Ok(());
    }
    let parent_name = ctx.db.catalog.table(fk.parent).name.clone();
    let (names, shown) = key_text(table, &fk.columns, values);
    Err(PgError::new(
        SqlState::ForeignKeyViolation,
        format!(
            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
            table.name, fk.name
        ),
    )
    .with_detail(format!(
        "Key ({names})=({shown}) is not present in table \"{parent_name}\"."
    ))
    .with_constraint(&table.name, &fk.name)
    .into())
}

/// 23503 for a parent row whose key `old` is still referenced through `fk` from `child`.
fn still_referenced(parent: &Table, child: &Table, fk: &ForeignKey, old: &[Value]) -> PgError {
    let (names, shown) = key_text(parent, &fk.parent_columns, old);
    PgError::new(
        SqlState::ForeignKeyViolation,
        format!(
            "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \
             \"{}\"",
            parent.name, fk.name, child.name
        ),
    )
    .with_detail(format!(
        "Key ({names})=({shown}) is still referenced from table \"{}\".",
        child.name
    ))
    .with_constraint(&child.name, &fk.name)
}

/// The deferred NO ACTION check of a deleted or re-keyed parent row (PostgreSQL's
/// `ri_restrict` with `ri_Check_Pk_Match`): fine when a row with the key exists again (it is
/// locked FOR KEY SHARE), else 23503 when a child still references the key.
pub fn recheck_parent(
    ctx: &mut StmtCtx,
    child_id: TableId,
    fk: &ForeignKey,
    old: &[Value],
) -> Exec<()> {
    let key: Vec<Value> = fk
        .parent_columns
        .iter()
        .map(|index| old[*index].clone())
        .collect();
    if lock_key_holder(ctx, fk.parent, &fk.parent_columns, &key)? {
        return Ok(());
    }
    ctx.lock_table(child_id, TableLockMode::RowShare)?;
    let view = ctx.latest_view();
    for row_id in indexed_candidates(ctx, child_id, &fk.columns, &key) {
        let chain = &ctx.db.heap(child_id).chains[&row_id];
        let Some((_, version)) = ctx.db.txns.visible_version(chain, &view) else {
            continue;
        };
        if keys_equal(&fk.columns, &version.values, &fk.parent_columns, old)? {
            let parent = ctx.db.catalog.table(fk.parent);
            let child = ctx.db.catalog.table(child_id);
            return Err(still_referenced(parent, child, fk, old).into());
        }
    }
    Ok(())
}

/// Parent side: a row of `parent_id` with `old` values is being deleted (or its key changed,
/// when `deleting` is false). Applies each referencing foreign key's action.
pub fn on_parent_removed(
    ctx: &mut StmtCtx,
    parent_id: TableId,
    old: &[Value],
    new: Option<&[Value]>,
) -> Exec<()> {
    for (child_id, fk_index) in ctx.db.catalog.referencing(parent_id) {
        let child = ctx.db.catalog.table(child_id).clone();
        let fk = child.foreign_keys[fk_index].clone();
        if fk.parent_columns.iter().any(|index| old[*index].is_null()) {
            continue;
        }
        if let Some(new) = new {
            if keys_equal(&fk.parent_columns, old, &fk.parent_columns, new)? {
                continue;
            }
        }
        // ON UPDATE is always NO ACTION (other actions are refused at CREATE TABLE).
        let action = if new.is_some() {
            ForeignKeyAction::NoAction
        } else {
            fk.on_delete
        };
        if action == ForeignKeyAction::NoAction
            && ctx.constraint_deferred(child_id, &fk.name, fk.deferral)
        {
            let old = old.to_vec();
            let check = Check::Parent { parent_id, old };
            ctx.queue_check(child_id, &fk.name, check);
            continue;
        }
        // PostgreSQL's action writes the child (`DELETE` / `UPDATE ... SET NULL`: ROW
        // EXCLUSIVE); its NO ACTION / RESTRICT check reads it FOR KEY SHARE (ROW SHARE).
        let writes_child = matches!(
            action,
            ForeignKeyAction::Cascade | ForeignKeyAction::SetNull
        );
        let mode = if writes_child {
            TableLockMode::RowExclusive
        } else {
            TableLockMode::RowShare
        };
        ctx.lock_table(child_id, mode)?;
        let view = ctx.latest_view();
        let mut referencing = Vec::new();
        let key: Vec<Value> = fk
            .parent_columns
            .iter()
            .map(|index| old[*index].clone())
            .collect();
        for row_id in indexed_candidates(ctx, child_id, &fk.columns, &key) {
            if ctx.touched_by_this_command(child_id, row_id) {
                continue;
            }
            let chain = &ctx.db.heap(child_id).chains[&row_id];
            let Some((_, version)) = ctx.db.txns.visible_version(chain, &view) else {
                continue;
            };
            if keys_equal(&fk.columns, &version.values, &fk.parent_columns, old)? {
                referencing.push(row_id);
            }
        }
        for row_id in referencing {
            if ctx.touched_by_this_command(child_id, row_id) {
                // Already cascaded to from another path in this command.
                continue;
            }
            if matches!(
                action,
                ForeignKeyAction::Restrict | ForeignKeyAction::NoAction
            ) {
                let parent = ctx.db.catalog.table(parent_id);
                return Err(still_referenced(parent, &child, &fk, old).into());
            }
            apply_child_action(ctx, child_id, row_id, &fk, old, action)?;
        }
    }
    Ok(())
}

fn apply_child_action(
    ctx: &mut StmtCtx,
    child_id: TableId,
    row_id: RowId,
    fk: &ForeignKey,
    parent_key: &[Value],
    action: ForeignKeyAction,
) -> Exec<()> {
    let (columns, parent_columns) = (fk.columns.clone(), fk.parent_columns.clone());
    let key = parent_key.to_vec();
    let mut still_references = move |_: &mut StmtCtx, values: &[Value]| -> Exec<bool> {
        Ok(keys_equal(&columns, values, &parent_columns, &key)?)
    };
    let mode = if action == ForeignKeyAction::Cascade {
        RowLockMode::Update
    } else {
        RowLockMode::NoKeyUpdate
    };
    let saved_view = ctx.view;
    ctx.view = ctx.latest_view();
    let locked = lock_row(
        ctx,
        child_id,
        row_id,
        mode,
        WaitPolicy::Wait,
        LockPurpose::Write,
        &mut still_references,
    );
    ctx.view = saved_view;
    let Locked::Row(values) = locked? else {
        return Ok(());
    };
    if action == ForeignKeyAction::Cascade {
        delete_locked_row(ctx, child_id, row_id, &values)
    } else {
        let mut new_values = values.clone();
        for column_index in &fk.columns {
            new_values[*column_index] = Value::Null;
        }
        update_locked_row(ctx, child_id, row_id, &values, new_values).map(drop)
    }
}

/// Deletes a row this transaction has locked, running parent-side FK actions first.
pub fn delete_locked_row(
    ctx: &mut StmtCtx,
    table_id: TableId,
    row_id: RowId,
    values: &[Value],
) -> Exec<()> {
    on_parent_removed(ctx, table_id, values, None)?;
    write_delete(ctx, table_id, row_id);
    Ok(())
}

/// Updates a row this transaction has locked, checking NOT NULL, unique keys, child-side and
/// parent-side foreign keys.
pub fn update_locked_row(
    ctx: &mut StmtCtx,
    table_id: TableId,
    row_id: RowId,
    old: &[Value],
    new: Vec<Value>,
) -> Exec<Vec<Value>> {
    let new = fire_before(ctx, table_id, TriggerOp::Update, Some(old), new);
    check_not_null(ctx.db.catalog.table(table_id), &new)?;
    let mut rechecks = Vec::new();
    if update_lock_mode(ctx, table_id, old, &new) == RowLockMode::Update {
        rechecks = check_uniques(ctx, table_id, Some(old), &new, &[])?;
        on_parent_removed(ctx, table_id, old, Some(&new))?;
    }
    let deferred = check_parents(ctx, table_id, Some(old), &new)?;
    write_update(ctx, table_id, row_id, new.clone());
    queue_row_checks(ctx, table_id, row_id, &new, (&rechecks, &deferred));
    fire_after(ctx, table_id, TriggerOp::Update, Some(old), &new)?;
    Ok(new)
}
