//! Constraint enforcement: NOT NULL, unique indexes (checked through a "dirty" view that sees
//! uncommitted inserts and deletes and waits for them), foreign keys on the child side (the
//! parent must be visible; it gets a FOR KEY SHARE lock) and on the parent side (RESTRICT /
//! NO ACTION, CASCADE, SET NULL).
//!
//! A non-deferrable unique key is checked per row, as PostgreSQL's btree does. A DEFERRABLE
//! one is only checked for a possible duplicate here (PostgreSQL's UNIQUE_CHECK_PARTIAL,
//! which waits for nobody); `recheck_unique` decides, at the end of the statement or at
//! COMMIT (`deferred.rs`). Every foreign-key check and action is queued the same way (as
//! PostgreSQL's RI triggers are AFTER ROW triggers) and run by `recheck_child` /
//! `recheck_parent` through `after_statement_view`, which sees the statement's own writes.
//! Not modelled: MATCH FULL, the REPEATABLE READ cross-check of parent-side FK queries.
//! Invariant: a unique check never reports a conflict with a version its own transaction
//! deleted, and never ignores one that is still in progress elsewhere — it waits instead.

use super::catalog::{ForeignKey, ForeignKeyAction, Table, TableId, UniqueIndex};
use super::deferred::{queue_row_checks, Check};
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, StmtCtx, Wait};
use super::expr::{eval, eval_condition, Binding};
use super::locks::RowLockMode;
use super::rowops::{
    lock_row, update_lock_mode, write_delete, write_update, LockPurpose, Locked, WaitPolicy,
};
use super::serializable;
use super::storage::{RowId, Version};
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

/// 23505 for `unique` and the proposed row's `key` in it (`unique_key`).
pub fn unique_violation(table: &Table, unique: &UniqueIndex, key: &[Value]) -> PgError {
    PgError::new(
        SqlState::UniqueViolation,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            unique.name
        ),
    )
    .with_detail(format!(
        "Key {} already exists.",
        key_description(table, unique, key)
    ))
    .with_constraint(&table.name, &unique.name)
}

/// `(a, b)=(1, x)`: an index key as PostgreSQL's BuildIndexValueDescription writes it, the
/// parts named by column or expression.
pub fn key_description(table: &Table, unique: &UniqueIndex, key: &[Value]) -> String {
    let names: Vec<&str> = match &unique.computed {
        Some(computed) => computed.shown.iter().map(String::as_str).collect(),
        None => unique
            .columns
            .iter()
            .map(|index| table.columns[*index].name.as_str())
            .collect(),
    };
    let shown: Vec<String> = key.iter().map(Value::to_pg_text).collect();
    format!("({})=({})", names.join(", "), shown.join(", "))
}

/// The key the row `values` has in `unique`: its columns' values, or for an expression or
/// partial index its parts computed from the row; `None` when the row is not in the index
/// (a partial index's predicate is not true) or a part is NULL (NULLs are distinct).
pub fn unique_key(
    ctx: &mut StmtCtx,
    table: &Table,
    unique: &UniqueIndex,
    values: &[Value],
) -> Exec<Option<Vec<Value>>> {
    let entry = index_entry(ctx, table, unique, values)?;
    Ok(entry.filter(|key| !key.iter().any(Value::is_null)))
}

/// The index entry of the row `values` in `unique` (NULL parts included); `None` when a
/// partial index's predicate is not true for the row.
pub fn index_entry(
    ctx: &mut StmtCtx,
    table: &Table,
    unique: &UniqueIndex,
    values: &[Value],
) -> Exec<Option<Vec<Value>>> {
    let Some(computed) = &unique.computed else {
        let key = unique
            .columns
            .iter()
            .map(|index| values[*index].clone())
            .collect();
        return Ok(Some(key));
    };
    let scope = [Binding {
        name: table.name.clone(),
        columns: table.column_names().into(),
        values: values.to_vec(),
    }];
    if let Some(predicate) = &computed.predicate {
        if !eval_condition(ctx, &scope, predicate, "index predicate")? {
            return Ok(None);
        }
    }
    let mut key = Vec::with_capacity(computed.parts.len());
    for part in &computed.parts {
        key.push(eval(ctx, &scope, part)?);
    }
    Ok(Some(key))
}

/// Whether a version holding the key conflicts: live (committed, or written by us) is a
/// conflict; deleted by us or by a committed transaction is not; one another transaction is
/// inserting or deleting is waited for (`Block`).
pub fn version_conflicts(ctx: &StmtCtx, version: &Version) -> Exec<bool> {
    let xid = ctx.xid();
    if version.xmin != xid && ctx.db.txns.in_progress(version.xmin) {
        return Err(Interrupt::Block(Wait::Xids(vec![version.xmin])));
    }
    match version.xmax {
        None => Ok(true),
        Some((xmax, _)) if xmax == xid => Ok(false),
        Some((xmax, _)) if ctx.db.txns.in_progress(xmax) => {
            Err(Interrupt::Block(Wait::Xids(vec![xmax])))
        }
        Some(_) => Ok(false),
    }
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
    if unique.computed.is_some() {
        return find_computed_conflict(ctx, table_id, &unique, values, except);
    }
    if unique.columns.iter().any(|index| values[*index].is_null()) {
        return Ok(None);
    }
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
            if version_conflicts(ctx, version)? {
                return Ok(Some(row_id));
            }
        }
    }
    Ok(None)
}

/// The conflict check of an expression or partial index: every version of every chain is
/// keyed through `unique_key` (no key index; simulated tables are small).
fn find_computed_conflict(
    ctx: &mut StmtCtx,
    table_id: TableId,
    unique: &UniqueIndex,
    values: &[Value],
    except: Option<RowId>,
) -> Exec<Option<RowId>> {
    let table = ctx.db.catalog.table(table_id).clone();
    let Some(key) = unique_key(ctx, &table, unique, values)? else {
        return Ok(None);
    };
    let row_ids: Vec<RowId> = ctx.db.heap(table_id).chains.keys().copied().collect();
    for row_id in row_ids.into_iter().filter(|row_id| except != Some(*row_id)) {
        let versions = ctx.db.heap(table_id).chains[&row_id].versions.clone();
        for version in &versions {
            let Some(other) = unique_key(ctx, &table, unique, &version.values)? else {
                continue;
            };
            if !values_equal(&key, &other)? {
                continue;
            }
            if version_conflicts(ctx, version)? {
                return Ok(Some(row_id));
            }
        }
    }
    Ok(None)
}

/// Two keys equal part by part (as a unique index compares them).
fn values_equal(left: &[Value], right: &[Value]) -> Result<bool, PgError> {
    for (left, right) in left.iter().zip(right) {
        if !left.key_equal(right)? {
            return Ok(false);
        }
    }
    Ok(true)
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
/// hold a duplicate: the caller queues their recheck once the row is written. With
/// `enters_indexes` (an insert, or an update that is not HOT) the version enters every
/// index, and a SERIALIZABLE writer checks each for rw-conflicts right after its unique
/// check, index by index as `_bt_doinsert` does.
pub fn check_uniques(
    ctx: &mut StmtCtx,
    table_id: TableId,
    (old, values): (Option<&[Value]>, &[Value]),
    skip: &[usize],
    enters_indexes: bool,
) -> Exec<Vec<usize>> {
    let table = ctx.db.catalog.table(table_id).clone();
    let mut recheck = Vec::new();
    for (unique_index, unique) in table.uniques.iter().enumerate() {
        let unique_check = (unique_index, unique);
        if check_unique(ctx, (table_id, &table), unique_check, (old, values), skip)? {
            recheck.push(unique_index);
        }
        if enters_indexes {
            serializable::insert_index(ctx, table_id, &unique.name)?;
        }
    }
    if enters_indexes {
        for index in &table.plain_indexes {
            serializable::insert_index(ctx, table_id, &index.name)?;
        }
    }
    Ok(recheck)
}

/// One unique index's check for `check_uniques`: 23505 on a conflict (after the SSI check
/// `_bt_check_unique` makes first); true when a deferrable one may hold a duplicate.
fn check_unique(
    ctx: &mut StmtCtx,
    (table_id, table): (TableId, &Table),
    (unique_index, unique): (usize, &UniqueIndex),
    (old, values): (Option<&[Value]>, &[Value]),
    skip: &[usize],
) -> Exec<bool> {
    if skip.contains(&unique_index) {
        return Ok(false);
    }
    let Some(key) = unique_key(ctx, table, unique, values)? else {
        return Ok(false);
    };
    if let Some(old) = old {
        // An unchanged key would find the row's own current version.
        if let Some(old_key) = unique_key(ctx, table, unique, old)? {
            if values_equal(&old_key, &key)? {
                return Ok(false);
            }
        }
    }
    if unique.deferral.is_deferrable() {
        return Ok(possible_duplicate(ctx, table_id, unique, values)?);
    }
    if find_unique_conflict(ctx, table_id, unique_index, values)?.is_some() {
        serializable::unique_violation(ctx, table_id, &unique.name)?;
        return Err(unique_violation(table, unique, &key).into());
    }
    Ok(false)
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
        let key: Vec<Value> = unique.columns.iter().map(|i| values[*i].clone()).collect();
        serializable::unique_violation(ctx, table_id, &unique.name)?;
        return Err(unique_violation(&table, unique, &key).into());
    }
    Ok(())
}

/// Child side: the foreign keys whose check the written row owes, queued by the caller once
/// the row is written and run at the end of the statement (or at COMMIT while deferred), as
/// PostgreSQL's `RI_FKey_check_ins` / `RI_FKey_check_upd` AFTER ROW triggers: every foreign
/// key of an inserted row (a NULL key is skipped when the check runs; only DROP TABLE and
/// TRUNCATE can tell, 55006), and of an updated row those whose key changed to a non-NULL
/// value.
pub fn parents_to_check(
    table: &Table,
    old: Option<&[Value]>,
    values: &[Value],
) -> Result<Vec<usize>, PgError> {
    let mut owed = Vec::new();
    for (fk_index, fk) in table.foreign_keys.iter().enumerate() {
        let null = fk.columns.iter().any(|index| values[*index].is_null());
        let unchanged = match old {
            Some(old) => keys_equal(&fk.columns, old, &fk.columns, values)?,
            None => false,
        };
        if old.is_none() || !(null || unchanged) {
            owed.push(fk_index);
        }
    }
    Ok(owed)
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
    let candidates = indexed_candidates(ctx, table_id, columns, key);
    serializable::read_key(ctx, table_id, (columns, key), &candidates, view)?;
    for row_id in candidates {
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

/// The check or action a deleted or re-keyed parent row owes through `fk`, run at the end of
/// the statement (a deferred NO ACTION check at COMMIT), as PostgreSQL's RI triggers run it
/// (`ri_restrict`, `RI_FKey_cascade_del`, `ri_set`): NO ACTION is satisfied when a row holds
/// the key again (`ri_Check_Pk_Match`, which locks it FOR KEY SHARE); NO ACTION and RESTRICT
/// then read the referencing rows FOR KEY SHARE (`SELECT 1 FROM child WHERE fk = $1 FOR KEY
/// SHARE`), so a referencing row another transaction is deleting or re-keying is waited
/// for, and the first that still references the key is 23503; CASCADE deletes and SET NULL
/// clears every referencing row, each locked (and waited for) first.
pub fn recheck_parent(
    ctx: &mut StmtCtx,
    child_id: TableId,
    fk: &ForeignKey,
    old: &[Value],
    action: ForeignKeyAction,
) -> Exec<()> {
    let key: Vec<Value> = fk
        .parent_columns
        .iter()
        .map(|index| old[*index].clone())
        .collect();
    if action == ForeignKeyAction::NoAction
        && lock_key_holder(ctx, fk.parent, &fk.parent_columns, &key)?
    {
        return Ok(());
    }
    // The action's `DELETE` / `UPDATE ... SET NULL` takes ROW EXCLUSIVE on the child; the
    // check's `SELECT ... FOR KEY SHARE` takes ROW SHARE.
    let (mode, table_mode) = match action {
        ForeignKeyAction::Cascade => (RowLockMode::Update, TableLockMode::RowExclusive),
        ForeignKeyAction::SetNull => (RowLockMode::NoKeyUpdate, TableLockMode::RowExclusive),
        ForeignKeyAction::Restrict | ForeignKeyAction::NoAction => {
            (RowLockMode::KeyShare, TableLockMode::RowShare)
        }
    };
    ctx.lock_table(child_id, table_mode)?;
    let view = ctx.after_statement_view();
    let mut referencing = Vec::new();
    let candidates = indexed_candidates(ctx, child_id, &fk.columns, &key);
    serializable::read_key(ctx, child_id, (&fk.columns, &key), &candidates, view)?;
    for row_id in candidates {
        let chain = &ctx.db.heap(child_id).chains[&row_id];
        let Some((_, version)) = ctx.db.txns.visible_version(chain, &view) else {
            continue;
        };
        if keys_equal(&fk.columns, &version.values, &fk.parent_columns, old)? {
            referencing.push(row_id);
        }
    }
    for row_id in referencing {
        let Some(values) = lock_referencing(ctx, child_id, row_id, fk, old, mode)? else {
            continue;
        };
        match action {
            ForeignKeyAction::Restrict | ForeignKeyAction::NoAction => {
                let parent = ctx.db.catalog.table(fk.parent);
                let child = ctx.db.catalog.table(child_id);
                return Err(still_referenced(parent, child, fk, old).into());
            }
            ForeignKeyAction::Cascade => delete_locked_row(ctx, child_id, row_id, &values)?,
            ForeignKeyAction::SetNull => {
                let mut new_values = values.clone();
                for column_index in &fk.columns {
                    new_values[*column_index] = Value::Null;
                }
                update_locked_row(ctx, child_id, row_id, &values, new_values)?;
            }
        }
    }
    Ok(())
}

/// Parent side: a row of `parent_id` with `old` values is being deleted (`new` is `None`) or
/// updated to `new`. Queues the check or action of each foreign key that references the
/// non-NULL key the write removes, for `recheck_parent` at the end of the statement; an
/// update's is NO ACTION (other ON UPDATE actions are refused at CREATE TABLE).
pub fn on_parent_removed(
    ctx: &mut StmtCtx,
    parent_id: TableId,
    old: &[Value],
    new: Option<&[Value]>,
) -> Result<(), PgError> {
    for (child_id, fk_index) in ctx.db.catalog.referencing(parent_id) {
        let fk = &ctx.db.catalog.table(child_id).foreign_keys[fk_index];
        if fk.parent_columns.iter().any(|index| old[*index].is_null()) {
            continue;
        }
        if let Some(new) = new {
            if keys_equal(&fk.parent_columns, old, &fk.parent_columns, new)? {
                continue;
            }
        }
        let action = match new {
            Some(_) => ForeignKeyAction::NoAction,
            None => fk.on_delete,
        };
        let (name, old) = (fk.name.clone(), old.to_vec());
        let check = Check::Parent {
            parent_id,
            old,
            action,
        };
        ctx.queue_check(child_id, &name, check);
    }
    Ok(())
}

/// Locks a row of the child table that referenced the parent key `old` in `mode`, with the
/// statement's writes visible; `None` when it no longer references the key once locked (it
/// was deleted or re-keyed meanwhile).
fn lock_referencing(
    ctx: &mut StmtCtx,
    child_id: TableId,
    row_id: RowId,
    fk: &ForeignKey,
    old: &[Value],
    mode: RowLockMode,
) -> Exec<Option<Vec<Value>>> {
    let (columns, parent_columns) = (fk.columns.clone(), fk.parent_columns.clone());
    let key = old.to_vec();
    let mut still_references = move |_: &mut StmtCtx, values: &[Value]| -> Exec<bool> {
        Ok(keys_equal(&columns, values, &parent_columns, &key)?)
    };
    let purpose = match mode {
        RowLockMode::KeyShare => LockPurpose::Select,
        _ => LockPurpose::Write,
    };
    let saved_view = ctx.view;
    ctx.view = ctx.after_statement_view();
    let locked = lock_row(
        ctx,
        child_id,
        row_id,
        mode,
        WaitPolicy::Wait,
        purpose,
        &mut still_references,
    );
    ctx.view = saved_view;
    Ok(match locked? {
        Locked::Row(values) => Some(values),
        Locked::Skip => None,
    })
}

/// Deletes a row this transaction has locked, running parent-side FK actions first.
pub fn delete_locked_row(
    ctx: &mut StmtCtx,
    table_id: TableId,
    row_id: RowId,
    values: &[Value],
) -> Exec<()> {
    // heap_delete's SSI check comes before the RI triggers run.
    serializable::write_row(ctx, table_id, row_id)?;
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
    // heap_update's SSI check comes before the index entries (and their unique checks).
    serializable::write_row(ctx, table_id, row_id)?;
    let mut rechecks = Vec::new();
    let key_changed = update_lock_mode(ctx, table_id, old, &new) == RowLockMode::Update;
    // An expression or partial index's key may change with no key column changing.
    let computed = ctx
        .db
        .catalog
        .table(table_id)
        .uniques
        .iter()
        .any(|unique| unique.computed.is_some());
    // Not HOT: the new version enters every index.
    let enters_indexes =
        serializable::changes_indexed_column(ctx.db.catalog.table(table_id), old, &new);
    if key_changed || computed || enters_indexes {
        rechecks = check_uniques(ctx, table_id, (Some(old), &new), &[], enters_indexes)?;
    }
    if key_changed {
        on_parent_removed(ctx, table_id, old, Some(&new))?;
    }
    let deferred = parents_to_check(ctx.db.catalog.table(table_id), Some(old), &new)?;
    write_update(ctx, table_id, row_id, new.clone());
    queue_row_checks(ctx, table_id, row_id, &new, (&rechecks, &deferred));
    fire_after(ctx, table_id, TriggerOp::Update, Some(old), &new)?;
    Ok(new)
}
