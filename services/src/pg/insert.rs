//! INSERT … VALUES and INSERT … SELECT with column lists, DEFAULT, serial/identity, ON
//! CONFLICT DO NOTHING / DO UPDATE (with EXCLUDED and WHERE), and RETURNING.
//!
//! INSERT … SELECT runs its query (any SELECT the engine runs) to completion with the
//! statement's snapshot before the first row is inserted, as PostgreSQL does: rows the
//! statement inserts are never read back by its own query. Untyped literals in the query's
//! target list take the column's type (`INSERT INTO t (id) SELECT '5'`); a text value from
//! anything else into a non-text column is 42804.
//!
//! ON CONFLICT follows PostgreSQL's speculative insertion: the arbiter indexes are checked
//! first through the dirty view (waiting for in-progress inserters); a conflict takes the
//! conflict action, in REPEATABLE READ a conflicting row invisible to the snapshot is 40001;
//! other unique indexes still raise 23505.
//! The arbiters of a conflict target are inferred in `arbiter.rs`.
//! Not modelled: OVERRIDING SYSTEM VALUE, ON CONFLICT ON CONSTRAINT for non-unique
//! constraints, INSERT … SELECT with a locking
//! clause (0A000), and the 42804 of INSERT … SELECT when the query returns no row (PostgreSQL
//! raises it while planning, from the types; the engine sees types only on values).
//! Invariant: a row skipped by DO NOTHING has still consumed its sequence values.

use sqlparser::ast::{self, Expr, OnConflict, OnConflictAction, OnInsert, SetExpr};

use super::catalog::{fold_ident, fold_name, split_name, ColumnDefault, Table, TableId};
use super::constraints::{
    check_not_null, check_uniques, find_unique_conflict, parents_to_check, update_locked_row,
};
use super::deferred::queue_row_checks;
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval, eval_condition, Binding};
use super::locks::RowLockMode;
use super::modify::assign;
use super::project::{output_names, project, SYSTEM_BINDING};
use super::rowops::{lock_row, write_insert, LockPurpose, Locked, WaitPolicy};
use super::select::execute_select;
use super::serializable;
use super::storage::RowId;
use super::trigger::{fire_after, fire_before, TriggerOp};
use super::value::{ColumnType, Value};
use super::QueryResult;

struct Target {
    table_id: TableId,
    table: Table,
    binding_name: String,
    /// Column positions the VALUES rows fill, in order.
    positions: Vec<usize>,
}

fn target(ctx: &StmtCtx, insert: &ast::Insert) -> Result<Target, PgError> {
    let ast::TableObject::TableName(name) = &insert.table else {
        return Err(PgError::unsupported("INSERT INTO TABLE FUNCTION"));
    };
    let table_id = ctx.db.catalog.resolve(name)?;
    let table = ctx.db.catalog.table(table_id).clone();
    let binding_name = insert.table_alias.as_ref().map_or_else(
        || split_name(name).map(|(_, table)| table),
        |alias| Ok(fold_ident(&alias.alias)),
    )?;
    let positions = if insert.columns.is_empty() {
        (0..table.columns.len()).collect()
    } else {
        column_positions(&table, &insert.columns)?
    };
    Ok(Target {
        table_id,
        table,
        binding_name,
        positions,
    })
}

/// Where an INSERT's rows come from.
enum RowSource<'a> {
    /// `VALUES (…), (…)`.
    Values(&'a [ast::Parens<Vec<Expr>>]),
    /// `SELECT …`, run by the engine's query executor.
    Query(&'a ast::Query),
}

/// Every field of sqlparser's `Insert` is named (no `..`): a field a new sqlparser adds fails
/// to compile until it is judged. The engine runs `INSERT INTO t [AS a] [(cols)] {VALUES … |
/// SELECT …} [ON CONFLICT …] [RETURNING …]`; other dialects' forms are refused.
fn check_shape(insert: &ast::Insert) -> Result<RowSource<'_>, PgError> {
    let ast::Insert {
        insert_token: _,
        optimizer_hints,
        or,
        ignore,
        into: _,
        table: _,
        table_alias: _,
        columns: _,
        overwrite,
        source,
        assignments,
        partitioned,
        after_columns,
        has_table_keyword,
        on: _,
        returning: _,
        output,
        replace_into,
        priority,
        insert_alias,
        settings,
        format_clause,
        multi_table_insert_type,
        multi_table_into_clauses,
        multi_table_when_clauses,
        multi_table_else_clause,
    } = insert;
    let foreign = or.is_some()
        || *ignore
        || *overwrite
        || *replace_into
        || !assignments.is_empty()
        || partitioned.is_some()
        || !after_columns.is_empty()
        || *has_table_keyword
        || !optimizer_hints.is_empty()
        || output.is_some()
        || priority.is_some()
        || insert_alias.is_some()
        || settings.is_some()
        || format_clause.is_some()
        || multi_table_insert_type.is_some()
        || !multi_table_into_clauses.is_empty()
        || !multi_table_when_clauses.is_empty()
        || multi_table_else_clause.is_some();
    if foreign {
        return Err(PgError::unsupported("non-PostgreSQL INSERT form"));
    }
    let Some(source) = source else {
        return Err(PgError::unsupported("INSERT … DEFAULT VALUES"));
    };
    row_source(source)
}

/// VALUES rows (plain only) or a query; a query with a locking clause is refused.
fn row_source(source: &ast::Query) -> Result<RowSource<'_>, PgError> {
    match source.body.as_ref() {
        SetExpr::Values(values) => {
            let plain = source.with.is_none()
                && source.order_by.is_none()
                && source.limit_clause.is_none()
                && source.fetch.is_none()
                && source.locks.is_empty();
            if !plain {
                return Err(PgError::unsupported(
                    "INSERT … VALUES with ORDER BY, LIMIT or WITH",
                ));
            }
            Ok(RowSource::Values(&values.rows))
        }
        _ if !source.locks.is_empty() => Err(PgError::unsupported(
            "INSERT … SELECT with a locking clause (FOR UPDATE/SHARE)",
        )),
        _ => Ok(RowSource::Query(source)),
    }
}

/// The positions of an INSERT's column list (PostgreSQL's checkInsertTargets): an unknown
/// column is 42703, one named twice 42701.
fn column_positions(table: &Table, columns: &[ast::ObjectName]) -> Result<Vec<usize>, PgError> {
    let mut positions = Vec::with_capacity(columns.len());
    for column in columns {
        let column_name = fold_name(column);
        let position = table.target_column(&column_name)?;
        if positions.contains(&position) {
            return Err(PgError::new(
                SqlState::DuplicateColumn,
                format!("column \"{column_name}\" specified more than once"),
            ));
        }
        positions.push(position);
    }
    Ok(positions)
}

fn is_default_keyword(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Identifier(ident)
            if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default")
    )
}

fn default_value(ctx: &mut StmtCtx, table: &Table, column_index: usize) -> Exec<Value> {
    let column = &table.columns[column_index];
    let value = match &column.default {
        None => Value::Null,
        Some(ColumnDefault::Expr(expr)) => eval(ctx, &[], expr)?,
        Some(ColumnDefault::Sequence(sequence)) => {
            let sequence = sequence.clone();
            ctx.volatile(|ctx| Ok(Value::Int8(ctx.db.catalog.nextval(&sequence)?)))?
        }
    };
    Ok(value.cast_to(column.column_type)?)
}

/// Whether `expr` is a literal PostgreSQL folds while planning (not a `$n` parameter).
fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(value) => !matches!(value.value, ast::Value::Placeholder(_)),
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => is_constant(expr),
        _ => false,
    }
}

/// PostgreSQL coerces VALUES literals to their column types while planning, so a bad literal
/// (`'toolong'` for a `varchar(5)`, `'x'` for an int) fails the statement before any row's
/// defaults run and burn sequence values.
fn check_constants(
    ctx: &mut StmtCtx,
    target: &Target,
    rows: &[ast::Parens<Vec<Expr>>],
) -> Exec<()> {
    for row in rows {
        for (expr, position) in row.content.iter().zip(&target.positions) {
            if is_constant(expr) {
                let column_type = target.table.columns[*position].column_type;
                eval(ctx, &[], expr)?.cast_to(column_type)?;
            }
        }
    }
    Ok(())
}

/// A typed expression (not an untyped literal or parameter, which PostgreSQL parses into the
/// column's type) must have an implicit or assignment cast to the column: 42804 otherwise.
fn check_assignable(
    expr: &Expr,
    value: &Value,
    column: &super::catalog::Column,
) -> Result<(), PgError> {
    if is_untyped(expr) {
        return Ok(());
    }
    check_assignment(value, column)
}

/// Whether `expr` may take its type from where it goes: a quoted literal, NULL or a `$n`,
/// possibly in parentheses, in an operator (`n + $1`, judged by the other operand there) or
/// in COALESCE/GREATEST/LEAST/NULLIF (`COALESCE($1, n)` is an integer). PostgreSQL types
/// these from their context; the engine's values carry no such mark, so the assignment
/// check is skipped for them rather than risk a 42804 PostgreSQL would not raise. A cast or
/// any other function call has its own type (`'x'::text`, `lower('6')`).
pub fn is_untyped(expr: &Expr) -> bool {
    match expr {
        Expr::Value(value) => matches!(
            value.value,
            ast::Value::SingleQuotedString(_)
                | ast::Value::EscapedStringLiteral(_)
                | ast::Value::Null
                | ast::Value::Placeholder(_)
        ),
        Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } => is_untyped(inner),
        Expr::BinaryOp { left, right, .. } => is_untyped(left) || is_untyped(right),
        Expr::Function(function) => {
            let name = super::functions::function_name(function);
            let passes_type = matches!(name.as_str(), "coalesce" | "greatest" | "least" | "nullif");
            let ast::FunctionArguments::List(list) = &function.args else {
                return false;
            };
            passes_type
                && list.args.iter().any(|arg| {
                    matches!(
                        arg,
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(inner))
                            if is_untyped(inner)
                    )
                })
        }
        _ => false,
    }
}

/// 42804 when a typed value has no implicit or assignment cast to `column`'s type, as
/// PostgreSQL 15's pg_cast has them for the simulated types: every type goes into a string
/// column (I/O conversion to a string type is an assignment cast); integers and numeric into
/// each other; date, timestamp and timestamptz into each other; any other type only into
/// its own. So integer and boolean do not mix (`INSERT ... VALUES (1)` into a boolean column
/// is 42804 there; the cast exists only in explicit form) and text goes into no other type.
pub fn check_assignment(value: &Value, column: &super::catalog::Column) -> Result<(), PgError> {
    use ColumnType as T;
    let assignable = match (value, column.column_type) {
        (Value::Null, _) | (_, T::Text | T::Varchar(_) | T::Char(_)) => true,
        (Value::Int4(_) | Value::Int8(_) | Value::Numeric(_), target) => {
            matches!(target, T::Int4 | T::Int8 | T::Numeric(_))
        }
        (Value::Date(_) | Value::Timestamp(_) | Value::Timestamptz(_), target) => {
            matches!(target, T::Date | T::Timestamp | T::Timestamptz)
        }
        (Value::Bool(_), target) => target == T::Bool,
        (Value::Uuid(_), target) => target == T::Uuid,
        (Value::Jsonb(_), target) => target == T::Jsonb,
        (Value::Interval(_), target) => target == T::Interval,
        (Value::Text(_) | Value::Char(_) | Value::Void, _) => false,
    };
    if assignable {
        return Ok(());
    }
    Err(PgError::new(
        SqlState::DatatypeMismatch,
        format!(
            "column \"{}\" is of type {} but expression is of type {}",
            column.name,
            column.column_type.name(),
            value.type_name()
        ),
    ))
}

/// What one row to insert supplies for its target columns.
enum Supplied<'a> {
    /// The expressions of a VALUES row.
    Exprs(&'a [Expr]),
    /// A row of an INSERT … SELECT's query, with whether each output column is an untyped
    /// literal (which takes the target column's type).
    Values(Vec<Value>, &'a [bool]),
}

/// Builds the full row: explicit values cast to column types, defaults for the rest.
fn build_row(ctx: &mut StmtCtx, target: &Target, supplied: Supplied) -> Exec<Vec<Value>> {
    let count = match &supplied {
        Supplied::Exprs(exprs) => exprs.len(),
        Supplied::Values(values, _) => values.len(),
    };
    if count > target.positions.len() {
        return Err(PgError::syntax("INSERT has more expressions than target columns").into());
    }
    let table = &target.table;
    let mut explicit: Vec<Option<usize>> = vec![None; table.columns.len()];
    for (index, position) in (0..count).zip(&target.positions) {
        explicit[*position] = Some(index);
    }
    let mut values = Vec::with_capacity(table.columns.len());
    for (column_index, column) in table.columns.iter().enumerate() {
        let given = explicit[column_index];
        let value = match (&supplied, given) {
            (Supplied::Exprs(exprs), Some(index)) if !is_default_keyword(&exprs[index]) => {
                check_identity(column)?;
                let value = eval(ctx, &[], &exprs[index])?;
                check_assignable(&exprs[index], &value, column)?;
                value.cast_to(column.column_type)?
            }
            (Supplied::Values(row, literal), Some(index)) => {
                check_identity(column)?;
                let value = row[index].clone();
                // `SELECT *` has fewer items than output columns: those are never literals.
                if !literal.get(index).copied().unwrap_or(false) {
                    check_assignment(&value, column)?;
                }
                value.cast_to(column.column_type)?
            }
            _ => default_value(ctx, table, column_index)?,
        };
        values.push(value);
    }
    Ok(values)
}

/// 428C9 for an explicit value into a GENERATED ALWAYS identity column.
fn check_identity(column: &super::catalog::Column) -> Result<(), PgError> {
    if !column.identity_always {
        return Ok(());
    }
    Err(PgError::new(
        SqlState::GeneratedAlways,
        format!(
            "cannot insert a non-DEFAULT value into column \"{}\"",
            column.name
        ),
    )
    .with_detail(format!(
        "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
        column.name
    )))
}

/// Whether each output column of an INSERT's query is an untyped literal (a quoted string or
/// NULL), which PostgreSQL types from the target column.
fn literal_columns(query: &ast::Query) -> Vec<bool> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Vec::new();
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => {
                is_untyped(expr)
            }
            _ => false,
        })
        .collect()
}

enum RowResult {
    /// The row's values and whether ON CONFLICT updated it (rather than inserting).
    Written(Vec<Value>, bool),
    Skipped,
}

/// PostgreSQL's ExecUpdateLockMode: FOR UPDATE only if SET names a unique-key column.
fn conflict_lock_mode(table: &Table, update: &ast::DoUpdate) -> RowLockMode {
    let sets_key = update
        .assignments
        .iter()
        .any(|assignment| match &assignment.target {
            ast::AssignmentTarget::ColumnName(name) => table
                .column_index(&fold_name(name))
                .is_some_and(|column_index| table.is_key_column(column_index)),
            ast::AssignmentTarget::Tuple(_) => true,
        });
    if sets_key {
        RowLockMode::Update
    } else {
        RowLockMode::NoKeyUpdate
    }
}

fn handle_conflict(
    ctx: &mut StmtCtx,
    target: &Target,
    row_id: RowId,
    proposed: &[Value],
    on_conflict: &OnConflict,
) -> Exec<Option<RowResult>> {
    let table_id = target.table_id;
    if ctx.isolation.uses_xact_snapshot() {
        let view = ctx.view;
        let chain = ctx
            .db
            .heap(table_id)
            .chains
            .get(&row_id)
            .cloned()
            .expect("conflicting row exists");
        let newest = chain.newest();
        if newest.xmin != ctx.xid() && !ctx.db.txns.visible(newest, &view) {
            return Err(PgError::concurrent_update().into());
        }
    }
    let OnConflictAction::DoUpdate(update) = &on_conflict.action else {
        return Ok(Some(RowResult::Skipped));
    };
    if ctx.touched_by_this_command(table_id, row_id) {
        return Err(PgError::new(
            SqlState::CardinalityViolation,
            "ON CONFLICT DO UPDATE command cannot affect row a second time",
        )
        .with_detail(
            "Ensure that no rows proposed for insertion within the same command have duplicate \
             constrained values.",
        )
        .into());
    }
    let mode = conflict_lock_mode(&target.table, update);
    let locked = lock_row(
        ctx,
        table_id,
        row_id,
        mode,
        WaitPolicy::Wait,
        LockPurpose::Write,
        &mut |_, _| Ok(true),
    )?;
    let Locked::Row(existing) = locked else {
        // Deleted after it conflicted: go round and look for conflicts again.
        return Ok(None);
    };
    let columns: std::sync::Arc<[String]> = target.table.column_names().into();
    let scope = [
        Binding {
            name: target.binding_name.clone(),
            columns: columns.clone(),
            values: existing.clone(),
        },
        Binding {
            name: "excluded".into(),
            columns,
            values: proposed.to_vec(),
        },
    ];
    if let Some(selection) = &update.selection {
        // A false WHERE leaves the row locked but unchanged (PostgreSQL documents the lock).
        if !eval_condition(ctx, &scope, selection, "WHERE")? {
            return Ok(Some(RowResult::Skipped));
        }
    }
    let new_values = assign(ctx, &target.table, &scope, &existing, &update.assignments)?;
    let written = update_locked_row(ctx, table_id, row_id, &existing, new_values)?;
    Ok(Some(RowResult::Written(written, true)))
}

/// PostgreSQL checks, row by row in index order, that an arbiter is not deferrable (its
/// `ExecCheckIndexConstraints`): a deferrable unique index cannot decide a conflict at once.
fn check_arbiter(table: &Table, arbiter: usize) -> Result<(), PgError> {
    let unique = &table.uniques[arbiter];
    if !unique.deferral.is_deferrable() {
        return Ok(());
    }
    Err(PgError::new(
        SqlState::ObjectNotInPrerequisiteState,
        "ON CONFLICT does not support deferrable unique constraints/exclusion constraints as \
         arbiters",
    )
    .with_constraint(&table.name, &unique.name))
}

fn process_row(
    ctx: &mut StmtCtx,
    target: &Target,
    values: Vec<Value>,
    on_conflict: Option<&OnConflict>,
    arbiters: &[usize],
) -> Exec<RowResult> {
    let table_id = target.table_id;
    let values = fire_before(ctx, table_id, TriggerOp::Insert, None, values);
    check_not_null(&target.table, &values)?;
    if let Some(on_conflict) = on_conflict {
        loop {
            let mut conflict = None;
            for arbiter in arbiters {
                check_arbiter(&target.table, *arbiter)?;
                if let Some(row_id) = find_unique_conflict(ctx, table_id, *arbiter, &values)? {
                    conflict = Some(row_id);
                    break;
                }
            }
            let Some(row_id) = conflict else {
                break;
            };
            if let Some(result) = handle_conflict(ctx, target, row_id, &values, on_conflict)? {
                return Ok(result);
            }
        }
    }
    // heap_insert's SSI check, then each index's: unique check first, as _bt_doinsert.
    serializable::insert_heap(ctx, table_id)?;
    let rechecks = check_uniques(ctx, table_id, (None, &values), arbiters, true)?;
    let deferred = parents_to_check(&target.table, None, &values)?;
    let row_id = write_insert(ctx, table_id, values.clone());
    queue_row_checks(ctx, table_id, row_id, &values, (&rechecks, &deferred));
    fire_after(ctx, table_id, TriggerOp::Insert, None, &values)?;
    Ok(RowResult::Written(values, false))
}

/// The rows an INSERT supplies, in order: its VALUES rows, or its query's rows (the whole
/// query first, with the statement's snapshot: the rows inserted after are never read back
/// by it). `literal` receives the query's untyped-literal columns.
fn supplied_rows<'a>(
    ctx: &mut StmtCtx,
    insert: &ast::Insert,
    target: &Target,
    source: RowSource<'a>,
    literal: &'a mut Vec<bool>,
) -> Exec<Vec<Supplied<'a>>> {
    match source {
        RowSource::Values(rows) => {
            check_constants(ctx, target, rows)?;
            for row in rows {
                check_arity(insert, target, row.content.len())?;
            }
            Ok(rows
                .iter()
                .map(|row| Supplied::Exprs(&row.content))
                .collect())
        }
        RowSource::Query(query) => {
            let result = execute_select(ctx, query)?;
            check_arity(insert, target, result.columns.len())?;
            *literal = literal_columns(query);
            let literal: &'a [bool] = literal;
            Ok(result
                .rows
                .into_iter()
                .map(|row| Supplied::Values(row, literal))
                .collect())
        }
    }
}

/// With a column list, a row that supplies fewer values is 42601, as PostgreSQL.
fn check_arity(insert: &ast::Insert, target: &Target, supplied: usize) -> Result<(), PgError> {
    if !insert.columns.is_empty() && supplied < target.positions.len() {
        return Err(PgError::syntax(
            "INSERT has more target columns than expressions",
        ));
    }
    Ok(())
}

/// Executes an INSERT.
pub fn execute_insert(ctx: &mut StmtCtx, insert: &ast::Insert) -> Exec<QueryResult> {
    let source = check_shape(insert)?;
    let target = target(ctx, insert)?;
    let on_conflict = match &insert.on {
        None => None,
        Some(OnInsert::OnConflict(on_conflict)) => Some(on_conflict),
        Some(other) => return Err(PgError::unsupported(format!("INSERT {other}")).into()),
    };
    let arbiters = match on_conflict {
        Some(on_conflict) => super::arbiter::arbiters(&target.table, on_conflict)?,
        None => Vec::new(),
    };
    if let Some(OnConflictAction::DoUpdate(update)) = on_conflict.map(|on| &on.action) {
        super::modify::assignment_targets(&target.table, &update.assignments)?;
    }
    let template = [Binding {
        name: target.binding_name.clone(),
        columns: target.table.column_names().into(),
        values: Vec::new(),
    }];
    let returning = insert.returning.as_deref();
    let columns = match returning {
        Some(items) => output_names(items, &template)?,
        None => Vec::new(),
    };
    ctx.check_writable("INSERT")?;
    let mut literal = Vec::new();
    let inputs = supplied_rows(ctx, insert, &target, source, &mut literal)?;
    for (row_index, supplied) in inputs.into_iter().enumerate() {
        // Rows done before a block are rebuilt (their volatile values replay) but not redone.
        let values = build_row(ctx, &target, supplied)?;
        if row_index < ctx.progress.part.rows_done {
            continue;
        }
        if let RowResult::Written(written, updated) =
            process_row(ctx, &target, values, on_conflict, &arbiters)?
        {
            ctx.progress.part.affected += 1;
            if let Some(items) = returning {
                // `xmax` is 0 for a fresh insert and the locker's xid for an ON CONFLICT update,
                // which applications use as `RETURNING (xmax = 0) AS inserted`.
                let xmax = if updated {
                    i64::try_from(ctx.xid()).unwrap_or(i64::MAX)
                } else {
                    0
                };
                let scope = [
                    Binding {
                        values: written,
                        ..template[0].clone()
                    },
                    Binding {
                        name: SYSTEM_BINDING.into(),
                        columns: std::sync::Arc::from(["xmax".to_string()]),
                        values: vec![Value::Int8(xmax)],
                    },
                ];
                let output = project(ctx, &scope, items)?;
                ctx.progress.part.returned.push(output);
            }
        }
        ctx.progress.part.rows_done = row_index + 1;
    }
    let affected = ctx.progress.part.affected;
    Ok(QueryResult {
        command_tag: format!("INSERT 0 {affected}"),
        columns,
        rows: ctx.progress.part.returned.clone(),
        rows_affected: affected,
    })
}
