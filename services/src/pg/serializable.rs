//! Where the executor meets SSI (`ssi.rs`): what a scan of a table locks and checks, and
//! which locks a write checks, chosen as PostgreSQL 15's access methods choose them
//! (`heapam.c`, `nbtsearch.c`, `nbtinsert.c`), for the one-page tables `ssi.rs` describes.
//!
//! - A sequential scan locks the relation and checks every version of every row
//!   (`heap_beginscan`, `heapgetpage`).
//! - An index scan locks the index's leaf page, follows each HOT chain the index lists under
//!   its key up to the first visible version, checking each version it passes, and locks
//!   the visible one (`_bt_first`, `heap_hot_search_buffer`); a version the transaction
//!   wrote itself is not locked.
//! - An INSERT checks the relation, then each index it enters (`heap_insert`,
//!   `_bt_doinsert`); a unique violation first checks its index (`_bt_check_unique`), so a
//!   dangerous structure is reported as 40001 instead of 23505.
//! - An UPDATE or DELETE checks the old version, its page and the relation
//!   (`heap_update`, `heap_delete`), and drops the writer's own SIREAD lock on that version
//!   outside a savepoint; an UPDATE that changes an indexed column is not HOT and enters
//!   every index too (each checked right after its unique check).
//! - TRUNCATE (reachable at SERIALIZABLE only in a statement string that set its level)
//!   checks every lock on the table (`CheckTableForSerializableConflictIn`).
//!
//! - A range (`<`, `<=`, `>`, `>=`, BETWEEN) or an `IN` list of constants on an index's
//!   leading column is an index scan too, of the entries whose key satisfies it (PostgreSQL
//!   15 plans a bitmap scan there on a small, never-analysed table; checked with EXPLAIN).
//!
//! Not modelled: bitmap scans as such (an index scan stands for them: the same locks on
//! these tables), index-only scans, index scans PostgreSQL runs for an ORDER BY or a join
//! (the engine scans the whole table there: it locks more, so more rw-conflicts are found,
//! never fewer, though a different transaction may then be the one cancelled),
//! and a re-run after a lock wait seeing versions PostgreSQL's scan had already passed (a
//! statement's reads before its wait are not checked again).

use std::collections::BTreeSet;

use super::catalog::{Table, TableId};
use super::exec::{Exec, StmtCtx};
use super::index::IndexKey;
use super::ssi::Target;
use super::storage::{Chain, ReadView, RowId, Version, EMPTY_HEAP};
use super::value::Value;
use super::IsolationLevel;

/// How a scan reads a table, for SSI.
pub enum Path<'k> {
    /// Every row, in heap order.
    Sequential,
    /// Through an index: its name and the entries the scan visits.
    Index(String, Keys<'k>),
}

/// The index entries an index scan visits.
pub enum Keys<'k> {
    /// `column = key` on the index's leading column.
    Equal(usize, &'k IndexKey),
    /// A range or an `IN` list on the leading column: the root versions (by heap slot)
    /// whose key satisfies it.
    Matching(&'k BTreeSet<u64>),
}

impl Keys<'_> {
    /// Whether the index lists `version` (the root of a HOT chain) among the entries visited.
    fn admit(&self, version: &Version) -> bool {
        match self {
            Keys::Equal(column, key) => IndexKey::of(&version.values[*column]) == **key,
            Keys::Matching(slots) => slots.contains(&version.slot),
        }
    }
}

/// The index a scan for `column = constant` reads through, if one leads with the column
/// (a unique one first), as PostgreSQL's planner picks for a small, never-analysed table.
pub fn index_on(table: &Table, column: usize) -> Option<String> {
    let unique = table
        .uniques
        .iter()
        .find(|unique| unique.computed.is_none() && unique.columns.first() == Some(&column))
        .map(|unique| unique.name.clone());
    unique.or_else(|| {
        table
            .plain_indexes
            .iter()
            .find(|index| index.columns.first() == Some(&column))
            .map(|index| index.name.clone())
    })
}

/// Whether the statement's transaction takes part in SSI now.
fn tracked(ctx: &mut StmtCtx) -> bool {
    ctx.isolation == IsolationLevel::Serializable && ctx.db.ssi.needed_for_read(ctx.xid())
}

/// The SIREAD locks and conflict-out checks of one scan of `table` through `path`, over
/// the chains it visits (`None`: all), seeing what `view` sees.
pub fn read(
    ctx: &mut StmtCtx,
    table: TableId,
    (path, view): (&Path, ReadView),
    row_ids: Option<&[RowId]>,
) -> Exec<()> {
    if !tracked(ctx) {
        return Ok(());
    }
    let xid = ctx.xid();
    let run_index = ctx.ssi_reads;
    ctx.ssi_reads += 1;
    // A re-run after a wait reads what PostgreSQL's scan had already passed: it takes the
    // same locks, and checks only the scans the first runs never reached.
    let check_out = run_index >= ctx.progress.ssi_reads_checked;
    if check_out {
        ctx.progress.ssi_reads_checked = run_index + 1;
    }
    match path {
        Path::Sequential => ctx.db.ssi.lock(xid, Target::Relation(table)),
        Path::Index(name, ..) => ctx.db.ssi.lock(xid, Target::Index(table, name.clone())),
    }
    let db = &mut *ctx.db;
    let heap = db.heaps.get(table.0).unwrap_or(&EMPTY_HEAP);
    let chains: Vec<&Chain> = match row_ids {
        Some(row_ids) => row_ids
            .iter()
            .filter_map(|id| heap.chains.get(id))
            .collect(),
        None => heap.chains.values().collect(),
    };
    let definition = db.catalog.table(table);
    let mut fetched = Vec::new();
    for chain in chains {
        for (version, visible) in examined(chain, path, definition, |version| {
            db.txns.visible(version, &view)
        }) {
            match check_out {
                true => db.ssi.conflict_out(&db.txns, xid, version, visible)?,
                false => db.ssi.check_read(xid)?,
            }
            if visible && version.xmin != xid {
                fetched.push(version.slot);
            }
        }
    }
    if matches!(path, Path::Index(..)) {
        for slot in fetched {
            db.ssi.lock(xid, Target::Tuple(table, slot));
        }
    }
    Ok(())
}

/// The versions of `chain` a scan through `path` examines, with whether each is visible. A
/// sequential scan examines every version. An index scan enters each HOT chain whose root
/// has the key (the index lists the root: a non-HOT update, one that changes an indexed
/// column, starts a new HOT chain with its own entry) and follows it up to the first
/// visible version (`heap_hot_search_buffer`).
fn examined<'c>(
    chain: &'c Chain,
    path: &Path,
    definition: &Table,
    visible: impl Fn(&Version) -> bool,
) -> Vec<(&'c Version, bool)> {
    let Path::Index(_, keys) = path else {
        return chain
            .versions
            .iter()
            .map(|version| (version, visible(version)))
            .collect();
    };
    let mut examined = Vec::new();
    let mut walking = false;
    let mut previous: Option<&Version> = None;
    for version in &chain.versions {
        let root = previous.is_none_or(|previous| {
            changes_indexed_column(definition, &previous.values, &version.values)
        });
        previous = Some(version);
        if root {
            walking = keys.admit(version);
        }
        if !walking {
            continue;
        }
        let seen = visible(version);
        examined.push((version, seen));
        walking = !seen;
    }
    examined
}

/// The SSI side of a foreign-key check's query (`SELECT 1 FROM ONLY t x WHERE columns = key
/// FOR KEY SHARE OF x`) over the chains that may hold the key, read through `view`: an
/// index scan when an index leads with the first key column, else a sequential scan.
pub fn read_key(
    ctx: &mut StmtCtx,
    table: TableId,
    (columns, key): (&[usize], &[Value]),
    candidates: &[RowId],
    view: ReadView,
) -> Exec<()> {
    if ctx.isolation != IsolationLevel::Serializable {
        return Ok(());
    }
    let index = index_on(ctx.db.catalog.table(table), columns[0]);
    let leading = IndexKey::of(&key[0]);
    match index {
        Some(name) => {
            let path = Path::Index(name, Keys::Equal(columns[0], &leading));
            read(ctx, table, (&path, view), Some(candidates))
        }
        None => read(ctx, table, (&Path::Sequential, view), None),
    }
}

/// The conflict-in check of an UPDATE or DELETE of the row's newest version.
pub fn write_row(ctx: &mut StmtCtx, table: TableId, row_id: RowId) -> Exec<()> {
    let xid = ctx.xid();
    if !ctx.db.ssi.tracks(xid) {
        return Ok(());
    }
    let slot = ctx.db.heap(table).chains[&row_id].newest().slot;
    let tuple = Target::Tuple(table, slot);
    let targets = [tuple.clone(), Target::Page(table), Target::Relation(table)];
    ctx.db.ssi.conflict_in(xid, &targets)?;
    // Its write lock on the row covers its own SIREAD lock on that version, which goes
    // (outside a savepoint: a rolled-back subtransaction would leave no lock at all).
    if !ctx.in_subtransaction {
        ctx.db.ssi.unlock_own_tuple(xid, &tuple);
    }
    Ok(())
}

/// The conflict-in check of a new row in the heap (an INSERT, or a row trigger's).
pub fn insert_heap(ctx: &mut StmtCtx, table: TableId) -> Exec<()> {
    let xid = ctx.xid();
    Ok(ctx.db.ssi.conflict_in(xid, &[Target::Relation(table)])?)
}

/// The conflict-in check of entering a new version in one index (`_bt_doinsert`).
pub fn insert_index(ctx: &mut StmtCtx, table: TableId, index: &str) -> Exec<()> {
    let xid = ctx.xid();
    let target = Target::Index(table, index.to_string());
    Ok(ctx.db.ssi.conflict_in(xid, &[target])?)
}

/// The conflict-in check `_bt_check_unique` makes before it reports a duplicate key.
pub fn unique_violation(ctx: &mut StmtCtx, table: TableId, index: &str) -> Exec<()> {
    let xid = ctx.xid();
    let target = Target::Index(table, index.to_string());
    Ok(ctx.db.ssi.conflict_in(xid, &[target])?)
}

/// Whether an UPDATE from `old` to `new` changes a column some index reads (PostgreSQL's
/// HOT test, `HeapDetermineColumnsInfo`: key columns, and the columns an expression or
/// partial index's key and predicate name): then it enters every index.
pub fn changes_indexed_column(table: &Table, old: &[Value], new: &[Value]) -> bool {
    let changed = |column: &usize| old[*column] != new[*column];
    let unique_reads = table
        .uniques
        .iter()
        .flat_map(|unique| match &unique.computed {
            Some(computed) => computed.referenced_columns(table),
            None => unique.columns.clone(),
        });
    let plain_reads = table
        .plain_indexes
        .iter()
        .flat_map(|index| index.reads.clone());
    unique_reads
        .chain(plain_reads)
        .any(|column| changed(&column))
}
