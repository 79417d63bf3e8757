//! Point lookups: when a WHERE clause requires `column = constant` (at its top level or
//! inside ANDs) on a single column, the scan visits only the chains the column's index lists
//! for that value instead of the whole table. Unique keys have their index for constraint
//! checks; any other column gets one built on its first lookup (the heap keeps it up to date),
//! so polling `WHERE campaign_id = $1` costs the matching rows, not the table.
//!
//! This only narrows which chains are looked at; the full WHERE clause is still evaluated on
//! each visible version, and candidates come in row order, so results are the same as a
//! sequential scan. Not modelled: any other access path (ranges, multi-column keys, joins),
//! and what a real index costs (a real PostgreSQL without one would scan the table).
//! Invariant: when in doubt (a constant that fails to evaluate or cast, NULL, an unknown or
//! ambiguous column) fall back to the full scan, so errors surface exactly as without it.

use sqlparser::ast::{BinaryOperator, Expr};

use super::catalog::{fold_ident, Table};
use super::exec::StmtCtx;
use super::expr::eval;
use super::index::IndexKey;
use super::select::Source;
use super::storage::RowId;
use super::value::{ColumnType, Value};

fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) => true,
        Expr::Cast { expr, .. } | Expr::Nested(expr) | Expr::UnaryOp { expr, .. } => {
            is_constant(expr)
        }
        _ => false,
    }
}

pub fn column_of(table: &Table, binding_name: &str, expr: &Expr) -> Option<usize> {
    let column_index = match expr {
        Expr::Identifier(ident) => table.column_index(&fold_ident(ident))?,
        Expr::CompoundIdentifier(parts) => match &parts[..] {
            [qualifier, column] if fold_ident(qualifier) == binding_name => {
                table.column_index(&fold_ident(column))?
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(column_index)
}

fn equality<'e>(table: &Table, binding_name: &str, expr: &'e Expr) -> Option<(usize, &'e Expr)> {
    match expr {
        Expr::Nested(inner) => equality(table, binding_name, inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            // Both sides may name a column: prefer a unique key's, the narrower lookup.
            let unique = |column_index: usize| {
                table
                    .uniques
                    .iter()
                    .any(|unique| unique.columns == [column_index])
            };
            match (
                equality(table, binding_name, left),
                equality(table, binding_name, right),
            ) {
                (Some(first), Some(second)) if unique(second.0) && !unique(first.0) => Some(second),
                (first, second) => first.or(second),
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            match (
                column_of(table, binding_name, left),
                column_of(table, binding_name, right),
            ) {
                (Some(column_index), None) if is_constant(right) => Some((column_index, right)),
                (None, Some(column_index)) if is_constant(left) => Some((column_index, left)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A conjunct of `filter` (at its top level or inside ANDs) that bounds one column with
/// constants: `column < | <= | > | >= constant` (either side), `column BETWEEN constant AND
/// constant`, or `column IN (constants)`; the first found, with the column's position.
pub fn range_conjunct<'e>(
    table: &Table,
    binding_name: &str,
    filter: &'e Expr,
) -> Option<(usize, &'e Expr)> {
    let mut pending = vec![filter];
    while let Some(expr) = pending.pop() {
        let column = match expr {
            Expr::Nested(inner) => {
                pending.push(inner);
                continue;
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                pending.extend([right.as_ref(), left.as_ref()]);
                continue;
            }
            Expr::BinaryOp { left, op, right } if is_range_operator(op) => {
                match (
                    column_of(table, binding_name, left),
                    column_of(table, binding_name, right),
                ) {
                    (Some(column), None) if is_constant(right) => Some(column),
                    (None, Some(column)) if is_constant(left) => Some(column),
                    _ => None,
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } if is_constant(low) && is_constant(high) => column_of(table, binding_name, expr),
            Expr::InList {
                expr,
                list,
                negated: false,
            } if list.iter().all(is_constant) => column_of(table, binding_name, expr),
            _ => None,
        };
        if let Some(column) = column {
            return Some((column, expr));
        }
    }
    None
}

fn is_range_operator(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq
    )
}

/// The columns `filter` requires to be NULL (`column IS NULL` at its top level or inside
/// ANDs): a version with a value there fails the WHERE clause.
pub fn null_columns(table: &Table, binding_name: &str, filter: Option<&Expr>) -> Vec<usize> {
    let mut columns = Vec::new();
    let mut pending: Vec<&Expr> = filter.into_iter().collect();
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::Nested(inner) => pending.push(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => pending.extend([left.as_ref(), right.as_ref()]),
            Expr::IsNull(operand) => columns.extend(column_of(table, binding_name, operand)),
            _ => {}
        }
    }
    columns
}

/// A `column = constant` conjunct of a WHERE clause and the chains its index lists.
pub struct PointLookup {
    /// The column's position.
    pub column_index: usize,
    /// The constant, cast to the column's type, as an index key (never NULL).
    pub key: IndexKey,
    /// Every chain any of whose versions had that key (a superset of the matches).
    pub row_ids: Vec<RowId>,
}

/// The `column = constant` conjunct `filter` requires, with its candidate chains.
pub fn point_lookup(
    ctx: &mut StmtCtx,
    source: &Source,
    filter: Option<&Expr>,
) -> Option<PointLookup> {
    let table = ctx.db.catalog.table(source.table_id).clone();
    let (column_index, constant) = equality(&table, &source.binding_name, filter?)?;
    let value = eval(ctx, &[], constant).ok()?;
    // A char constant meeting a text column compares as char (trailing blanks ignored), which
    // the column's text keys do not: scan instead.
    let column_type = table.columns[column_index].column_type;
    if matches!(value, Value::Char(_)) && !matches!(column_type, ColumnType::Char(_)) {
        return None;
    }
    let value = value
        .cast_to(table.columns[column_index].column_type)
        .ok()?;
    if value.is_null() {
        return None;
    }
    let heap = ctx.db.heap_mut(source.table_id);
    heap.indexes.ensure(&[column_index], &heap.chains);
    let row_ids = heap
        .indexes
        .candidates(&[column_index], std::slice::from_ref(&value));
    Some(PointLookup {
        column_index,
        key: IndexKey::of(&value),
        row_ids,
    })
}
