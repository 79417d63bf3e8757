//! Top-N by integer columns: `SELECT ... FROM t [WHERE ...] ORDER BY a [DESC], b ... LIMIT n`
//! (with OFFSET and FOR UPDATE/SHARE [SKIP LOCKED|NOWAIT] too) orders the visible chains by
//! the columns' values, read in place, and copies, filters, projects and locks rows only until
//! the limit is met, as PostgreSQL walks a B-tree on those columns under a Limit node. An
//! outbox claim (`WHERE status = 'pending' ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED`) then
//! copies the batch, not the backlog. `column = constant` and `column IS NULL` conjuncts of
//! the WHERE clause are checked on the visible version in place before anything is copied.
//!
//! Results equal the full path's: the order is the stable sort of row-ordered candidates on
//! the keys (ties in row order, NULLs placed as `sort_rows` places them). What differs is
//! which rows beyond the limit are evaluated: an error in WHERE or the select list on such a
//! row is not raised, as with PostgreSQL's index-scan plan (its sequential-scan-and-sort plan
//! would raise it). A WHERE or select list that calls a function (side effects such as
//! advisory locks, or entropy) takes the full path, so those run exactly as before. Not here:
//! sort expressions, joins, aggregates, non-integer keys (text collation), a sort key that
//! names a renamed output column; they take the full path too.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use sqlparser::ast::{
    visit_expressions, Expr, OrderByKind, OrderBySort, Query, Select, SelectItem,
};

use super::catalog::{fold_ident, Table};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval_condition, Binding};
use super::index::IndexKey;
use super::locks::RowLockMode;
use super::point::{null_columns, point_lookup};
use super::project::project;
use super::rowops::WaitPolicy;
use super::select::{Candidate, Source};
use super::select_rows::{limit_values, lock_and_collect};
use super::storage::RowId;
use super::value::{ColumnType, Value};

/// One sort column and its direction.
struct SortKey {
    column_index: usize,
    descending: bool,
    nulls_first: bool,
}

/// The output rows of `query` (OFFSET and LIMIT applied) by the top-N path, or `None` when
/// it does not apply.
pub fn select_top_n(
    ctx: &mut StmtCtx,
    query: &Query,
    select: &Select,
    sources: &[Source],
    locking: Option<(RowLockMode, WaitPolicy)>,
) -> Option<Exec<Vec<Vec<Value>>>> {
    // Cheapest refusals first: most SELECTs have no ORDER BY.
    let OrderByKind::Expressions(exprs) = &query.order_by.as_ref()?.kind else {
        return None;
    };
    let [source] = sources else { return None };
    if source.derived.is_some() {
        return None;
    }
    if !plain_projection(select) || calls_a_function(select) {
        return None;
    }
    let table = ctx.db.catalog.table(source.table_id);
    let keys = exprs
        .iter()
        .map(|order| sort_key(order, table, &source.binding_name))
        .collect::<Option<Vec<SortKey>>>()?;
    // An invalid LIMIT takes the full path, which raises it where it always has.
    let (offset, Some(limit)) = limit_values(ctx, query).ok()? else {
        return None;
    };
    let wanted = offset.saturating_add(limit);
    let order = ordered_chains(ctx, source, select.selection.as_ref(), &keys);
    let rows = collect(ctx, select, sources, locking, &order, wanted)
        .map(|rows| rows.into_iter().skip(offset).take(limit).collect());
    Some(rows)
}

fn calls_a_function(select: &Select) -> bool {
    let found = |expr: &Expr| match expr {
        Expr::Function(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    visit_expressions(&select.selection, found).is_break()
        || visit_expressions(&select.projection, found).is_break()
}

/// ORDER BY resolves an output name first: only plain column references keep a name meaning
/// the table's column.
fn plain_projection(select: &Select) -> bool {
    select.projection.iter().all(|item| {
        matches!(
            item,
            SelectItem::UnnamedExpr(Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                | SelectItem::Wildcard(_)
                | SelectItem::QualifiedWildcard(..)
        )
    })
}

fn sort_key(order: &sqlparser::ast::OrderByExpr, table: &Table, binding: &str) -> Option<SortKey> {
    let column_name = match &order.expr {
        Expr::Identifier(ident) => fold_ident(ident),
        Expr::CompoundIdentifier(parts) => match &parts[..] {
            [qualifier, column] if fold_ident(qualifier) == binding => fold_ident(column),
            _ => return None,
        },
        _ => return None,
    };
    let column_index = table.column_index(&column_name)?;
    let integer = matches!(
        table.columns[column_index].column_type,
        ColumnType::Int4 | ColumnType::Int8
    );
    if !integer {
        return None;
    }
    let descending = matches!(order.options.sort, Some(OrderBySort::Desc));
    Some(SortKey {
        column_index,
        descending,
        nulls_first: order.options.nulls_first.unwrap_or(descending),
    })
}

/// The chains with a version visible to the statement, in output order, read in place.
fn ordered_chains(
    ctx: &mut StmtCtx,
    source: &Source,
    filter: Option<&Expr>,
    keys: &[SortKey],
) -> Vec<RowId> {
    let lookup = point_lookup(ctx, source, filter);
    let table = ctx.db.catalog.table(source.table_id);
    let null_columns = null_columns(table, &source.binding_name, filter);
    let view = ctx.view;
    let heap = ctx.db.heap(source.table_id);
    let (row_ids, point) = match lookup {
        Some(lookup) => (lookup.row_ids, Some((lookup.column_index, lookup.key))),
        None => (heap.chains.keys().copied().collect(), None),
    };
    let full_scan = point.is_none();
    let mut keyed: Vec<(Vec<IndexKey>, (u64, RowId))> = row_ids
        .into_iter()
        .filter_map(|row_id| {
            let chain = heap.chains.get(&row_id)?;
            let (_, version) = ctx.db.txns.visible_version(chain, &view)?;
            // The WHERE clause requires `column = key`: a version with another value fails
            // it, so it is dropped here without a copy (the index lists every past key).
            if let Some((column_index, key)) = &point {
                if IndexKey::of(&version.values[*column_index]) != *key {
                    return None;
                }
            }
            // Likewise a `column IS NULL` conjunct (finished jobs skipped by a queue's poll).
            if null_columns
                .iter()
                .any(|column_index| !version.values[*column_index].is_null())
            {
                return None;
            }
            let values = keys
                .iter()
                .map(|key| IndexKey::of(&version.values[key.column_index]))
                .collect();
            // The scan order the full path sorts: physical for a full scan, else row order.
            let scan_position = if full_scan { version.slot } else { 0 };
            Some((values, (scan_position, row_id)))
        })
        .collect();
    keyed.sort_by(|left, right| compare(keys, left, right));
    keyed.into_iter().map(|(_, (_, row_id))| row_id).collect()
}

fn compare(
    keys: &[SortKey],
    left: &(Vec<IndexKey>, (u64, RowId)),
    right: &(Vec<IndexKey>, (u64, RowId)),
) -> Ordering {
    let null = |index_key: &IndexKey| matches!(index_key, IndexKey::Null);
    let by_keys = keys
        .iter()
        .enumerate()
        .fold(Ordering::Equal, |so_far, (at, key)| {
            so_far.then_with(|| {
                let (a, b) = (&left.0[at], &right.0[at]);
                match (null(a), null(b)) {
                    (true, false) if key.nulls_first => Ordering::Less,
                    (true, false) => Ordering::Greater,
                    (false, true) if key.nulls_first => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ if key.descending => b.cmp(a),
                    _ => a.cmp(b),
                }
            })
        });
    // Ties keep scan order, as the full path's stable sort of scanned candidates does.
    by_keys.then(left.1.cmp(&right.1))
}

/// Copies, filters, projects and locks rows in `order` until `wanted` are output.
fn collect(
    ctx: &mut StmtCtx,
    select: &Select,
    sources: &[Source],
    locking: Option<(RowLockMode, WaitPolicy)>,
    order: &[RowId],
    wanted: usize,
) -> Exec<Vec<Vec<Value>>> {
    let source = &sources[0];
    let columns: std::sync::Arc<[String]> =
        ctx.db.catalog.table(source.table_id).column_names().into();
    let mut output_rows = Vec::new();
    let mut next = 0;
    while output_rows.len() < wanted && next < order.len() {
        let batch_size = wanted - output_rows.len();
        let mut batch = Vec::new();
        while batch.len() < batch_size && next < order.len() {
            let row_id = order[next];
            next += 1;
            let Some(values) = visible_values(ctx, source, row_id) else {
                continue;
            };
            let scope = vec![Binding {
                name: source.binding_name.clone(),
                columns: columns.clone(),
                values,
            }];
            if let Some(filter) = &select.selection {
                if !eval_condition(ctx, &scope, filter, "WHERE")? {
                    continue;
                }
            }
            let output = project(ctx, &scope, &select.projection)?;
            let candidate = Candidate {
                row_ids: vec![row_id],
                scope,
            };
            batch.push((Vec::new(), candidate, output));
        }
        let locked = lock_and_collect(ctx, select, sources, locking, batch, Some(batch_size))?;
        output_rows.extend(locked);
    }
    Ok(output_rows)
}

fn visible_values(ctx: &StmtCtx, source: &Source, row_id: RowId) -> Option<Vec<Value>> {
    let chain = ctx.db.heap(source.table_id).chains.get(&row_id)?;
    let (_, version) = ctx.db.txns.visible_version(chain, &ctx.view)?;
    Some(version.values.clone())
}
