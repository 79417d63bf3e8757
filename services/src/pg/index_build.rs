//! CREATE UNIQUE INDEX over a table that already has rows: the build fails with 23505 when
//! two live rows share a key, as PostgreSQL's btree build does (`comparetup_index_btree`).
//!
//! PostgreSQL 15 reads the heap in physical order, keeps the live tuples (committed and not
//! deleted, or written by the building transaction itself; rows deleted by a committed
//! transaction, or by the building one, are never checked), sorts their entries with its
//! quicksort (`pg_sort`), and raises "could not create unique index" at the first pair the
//! sort finds equal with no NULL part, naming that pair's key in the DETAIL. Entries with a
//! NULL part compare equal and are ordered by position, never raised (NULLS DISTINCT). A
//! partial index leaves out rows whose predicate is not true; an expression that fails on a
//! row fails the build at that row, before any comparison.
//! The ShareLock the statement takes first (`statement_locks`) keeps out every writer that
//! takes a table lock; a row a service's trigger writes takes none, so the build may find a
//! row still being written and wait for its transaction, as a unique check does. The index
//! is added to the catalog only after this check, so the re-run starts from a clean state.
//! Not modelled: NULLS NOT DISTINCT (refused at parse), CONCURRENTLY's separate phases.

use std::cmp::Ordering;

use super::catalog::{TableId, UniqueIndex};
use super::constraints::{index_entry, key_description, version_conflicts};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::pg_sort::pg_qsort;
use super::value::{order_for_sort, Value};

/// One live row's entry: its key parts and its physical position.
struct Entry {
    key: Vec<Value>,
    slot: u64,
}

/// Fails with 23505 if the existing live rows of `table_id` hold a duplicate key of the
/// planned unique index `unique` (not yet in the catalog, so a check that waits re-runs the
/// whole statement cleanly).
pub fn check_existing_rows(ctx: &mut StmtCtx, table_id: TableId, unique: &UniqueIndex) -> Exec<()> {
    let table = ctx.db.catalog.table(table_id).clone();
    let mut entries = Vec::new();
    for (slot, values) in live_rows(ctx, table_id)? {
        if let Some(key) = index_entry(ctx, &table, unique, &values)? {
            entries.push(Entry { key, slot });
        }
    }
    let mut compare = |left: &Entry, right: &Entry| compare_entries(left, right);
    match pg_qsort(&mut entries, &mut compare) {
        Ok(()) => Ok(()),
        Err(Stop::Error(error)) => Err(error.into()),
        Err(Stop::Duplicate(key)) => Err(PgError::new(
            SqlState::UniqueViolation,
            format!("could not create unique index \"{}\"", unique.name),
        )
        .with_detail(format!(
            "Key {} is duplicated.",
            key_description(&table, unique, &key)
        ))
        .with_constraint(&table.name, &unique.name)
        .into()),
    }
}

/// Why the build's sort stopped.
enum Stop {
    /// Two entries with this key and no NULL part.
    Duplicate(Vec<Value>),
    /// Two values that do not compare.
    Error(PgError),
}

/// The values of the live row versions, in physical (heap) order.
fn live_rows(ctx: &StmtCtx, table_id: TableId) -> Exec<Vec<(u64, Vec<Value>)>> {
    let mut rows = Vec::new();
    for chain in ctx.db.heap(table_id).chains.values() {
        for version in &chain.versions {
            if version_conflicts(ctx, version)? {
                rows.push((version.slot, version.values.clone()));
            }
        }
    }
    rows.sort_by_key(|(slot, _)| *slot);
    Ok(rows)
}

/// The btree build's comparison: part by part, NULLs last; two entries equal in every part
/// are a duplicate unless a part is NULL, then the heap position decides.
fn compare_entries(left: &Entry, right: &Entry) -> Result<Ordering, Stop> {
    assert_eq!(left.key.len(), right.key.len(), "one index, one key width");
    for (left_part, right_part) in left.key.iter().zip(&right.key) {
        let order = order_for_sort(left_part, right_part).map_err(Stop::Error)?;
        if order != Ordering::Equal {
            return Ok(order);
        }
    }
    if left.key.iter().any(Value::is_null) {
        return Ok(left.slot.cmp(&right.slot));
    }
    Err(Stop::Duplicate(left.key.clone()))
}
