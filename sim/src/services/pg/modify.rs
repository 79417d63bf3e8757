//! UPDATE and DELETE on one table with WHERE and RETURNING: each matching row is locked
//! (FOR NO KEY UPDATE, or FOR UPDATE for deletes and key changes), waited for, re-checked
//! (EvalPlanQual) in READ COMMITTED or refused with 40001 in REPEATABLE READ, then written.
//!
//! Not modelled: UPDATE … FROM, DELETE … USING, WHERE CURRENT OF, SET (a, b) = (…),
//! SET col = DEFAULT. Each is a 0A000 naming the construct.
//! Invariant: a statement re-run after a block recognises rows it already wrote (they carry
//! its command id) and reports them again without writing them twice.

use sqlparser::ast::{self, AssignmentTarget, Expr, FromTable, SelectItem};

use super::catalog::{fold_ident, Table, TableId};
use super::constraints::{delete_locked_row, update_locked_row};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval, eval_condition, Binding};
use super::locks::RowLockMode;
use super::project::{output_names, project};
use super::rowops::{lock_row, update_lock_mode, LockPurpose, Locked, WaitPolicy};
use super::select::{scan, table_source, Source};
use super::storage::RowId;
use super::value::Value;
use super::QueryResult;

/// Applies SET assignments to `existing`, evaluating against `scope`.
pub fn assign(
    ctx: &mut StmtCtx,
    table: &Table,
    scope: &[Binding],
    existing: &[Value],
    assignments: &[ast::Assignment],
) -> Exec<Vec<Value>> {
    let mut values = existing.to_vec();
    for assignment in assignments {
        let AssignmentTarget::ColumnName(name) = &assignment.target else {
            return Err(PgError::unsupported("SET (a, b) = (…)").into());
        };
        let column_name = name
            .0
            .last()
            .map(|part| part.to_string())
            .unwrap_or_default();
        let column_name = match name.0.last() {
            Some(ast::ObjectNamePart::Identifier(ident)) => fold_ident(ident),
            _ => column_name,
        };
        let column_index = table.column_index(&column_name).ok_or_else(|| {
            PgError::new(
                SqlState::UndefinedColumn,
                format!(
                    "column \"{column_name}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
        if is_default_keyword(&assignment.value) {
            return Err(PgError::unsupported("SET col = DEFAULT").into());
        }
        let value = eval(ctx, scope, &assignment.value)?;
        values[column_index] = value.cast_to(table.columns[column_index].column_type)?;
    }
    Ok(values)
}

/// The values a row had after this command wrote it (new values of an update, old values of
/// a delete), for re-reporting on a re-run.
fn values_written_by_this_command(
    ctx: &mut StmtCtx,
    table_id: TableId,
    row_id: RowId,
) -> Vec<Value> {
    let me = (ctx.xid(), ctx.cid());
    let chain = ctx
        .db
        .heap(table_id)
        .chains
        .get(&row_id)
        .cloned()
        .expect("touched row exists");
    let created = chain
        .versions
        .iter()
        .find(|version| (version.xmin, version.cmin) == me);
    let deleted = chain
        .versions
        .iter()
        .find(|version| version.xmax == Some(me));
    created
        .or(deleted)
        .map(|version| version.values.clone())
        .unwrap_or_default()
}

struct Plan<'q> {
    source: Source,
    table: Table,
    filter: Option<&'q Expr>,
    returning: Option<&'q [SelectItem]>,
    columns: Vec<String>,
}

fn plan<'q>(
    ctx: &StmtCtx,
    relation: &ast::TableFactor,
    filter: Option<&'q Expr>,
    returning: Option<&'q [SelectItem]>,
) -> Result<Plan<'q>, PgError> {
    let source = table_source(ctx, relation)?;
    let table = ctx.db.catalog.table(source.table_id).clone();
    let template = [Binding {
        name: source.binding_name.clone(),
        columns: table.column_names().into(),
        values: Vec::new(),
    }];
    let columns = match returning {
        Some(items) => output_names(items, &template)?,
        None => Vec::new(),
    };
    Ok(Plan {
        source,
        table,
        filter,
        returning,
        columns,
    })
}

/// The WHERE re-check EvalPlanQual runs against a newer version.
fn recheck_for<'p>(
    plan: &'p Plan,
    binding: &'p Binding,
) -> impl FnMut(&mut StmtCtx, &[Value]) -> Exec<bool> + 'p {
    move |ctx: &mut StmtCtx, values: &[Value]| {
        let scope = [Binding {
            values: values.to_vec(),
            ..binding.clone()
        }];
        match plan.filter {
            Some(filter) => eval_condition(ctx, &scope, filter, "WHERE"),
            None => Ok(true),
        }
    }
}

fn finish(
    ctx: &mut StmtCtx,
    plan: &Plan,
    verb: &str,
    written: Vec<Vec<Value>>,
) -> Exec<QueryResult> {
    let count = written.len() as u64;
    let mut rows = Vec::new();
    if let Some(items) = plan.returning {
        for values in written {
            let scope = [Binding {
                name: plan.source.binding_name.clone(),
                columns: plan.table.column_names().into(),
                values,
            }];
            rows.push(project(ctx, &scope, items)?);
        }
    }
    Ok(QueryResult {
        command_tag: format!("{verb} {count}"),
        columns: plan.columns.clone(),
        rows,
        rows_affected: count,
    })
}

/// Executes an UPDATE.
pub fn execute_update(ctx: &mut StmtCtx, update: &ast::Update) -> Exec<QueryResult> {
    check_update(update)?;
    let plan = plan(
        ctx,
        &update.table.relation,
        update.selection.as_ref(),
        update.returning.as_deref(),
    )?;
    let table_id = plan.source.table_id;
    let mut written = Vec::new();
    for (row_id, binding) in scan(ctx, &plan.source, plan.filter) {
        if ctx.touched_by_this_command(table_id, row_id) {
            // Rows this scan wrote before a block are reported again; rows a cascade wrote
            // (self-referencing FK) are not the statement's own and are not counted.
            if ctx.progress.own_rows.contains(&row_id) {
                written.push(values_written_by_this_command(ctx, table_id, row_id));
            }
            continue;
        }
        if !recheck_for(&plan, &binding)(ctx, &binding.values)? {
            continue;
        }
        if let Some(new_values) = update_one(ctx, &plan, row_id, &binding, &update.assignments)? {
            ctx.progress.own_rows.insert(row_id);
            written.push(new_values);
        }
    }
    finish(ctx, &plan, "UPDATE", written)
}

/// UPDATE t [AS a] SET … [WHERE …] [RETURNING …]; every field of sqlparser's `Update` is
/// named (no `..`), so a new one fails to compile until it is judged.
fn check_update(update: &ast::Update) -> Result<(), PgError> {
    let ast::Update {
        update_token: _,
        optimizer_hints,
        table,
        assignments: _,
        from,
        selection: _,
        returning: _,
        output,
        or,
        order_by,
        limit,
    } = update;
    if from.is_some() || !table.joins.is_empty() {
        return Err(PgError::unsupported("UPDATE … FROM"));
    }
    if or.is_some()
        || limit.is_some()
        || !order_by.is_empty()
        || output.is_some()
        || !optimizer_hints.is_empty()
    {
        return Err(PgError::unsupported("non-PostgreSQL UPDATE form"));
    }
    Ok(())
}

/// DELETE FROM t [AS a] [WHERE …] [RETURNING …]; every field of sqlparser's `Delete` is named
/// (no `..`), so a new one fails to compile until it is judged.
fn check_delete(delete: &ast::Delete) -> Result<&ast::TableWithJoins, PgError> {
    let ast::Delete {
        delete_token: _,
        optimizer_hints,
        tables,
        from,
        using,
        selection: _,
        returning: _,
        output,
        order_by,
        limit,
    } = delete;
    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = from;
    let [from] = &from[..] else {
        return Err(PgError::unsupported("DELETE from several tables"));
    };
    if !tables.is_empty() || using.is_some() || !from.joins.is_empty() {
        return Err(PgError::unsupported("DELETE … USING"));
    }
    if limit.is_some() || !order_by.is_empty() || output.is_some() || !optimizer_hints.is_empty() {
        return Err(PgError::unsupported("non-PostgreSQL DELETE form"));
    }
    Ok(from)
}

/// Executes a DELETE.
pub fn execute_delete(ctx: &mut StmtCtx, delete: &ast::Delete) -> Exec<QueryResult> {
    let from = check_delete(delete)?;
    let plan = plan(
        ctx,
        &from.relation,
        delete.selection.as_ref(),
        delete.returning.as_deref(),
    )?;
    let table_id = plan.source.table_id;
    let mut written = Vec::new();
    for (row_id, binding) in scan(ctx, &plan.source, plan.filter) {
        if ctx.touched_by_this_command(table_id, row_id) {
            // Rows this scan wrote before a block are reported again; rows a cascade wrote
            // (self-referencing FK) are not the statement's own and are not counted.
            if ctx.progress.own_rows.contains(&row_id) {
                written.push(values_written_by_this_command(ctx, table_id, row_id));
            }
            continue;
        }
        if !recheck_for(&plan, &binding)(ctx, &binding.values)? {
            continue;
        }
        let mut recheck = recheck_for(&plan, &binding);
        let Locked::Row(current) = lock_row(
            ctx,
            table_id,
            row_id,
            RowLockMode::Update,
            WaitPolicy::Wait,
            LockPurpose::Write,
            &mut recheck,
        )?
        else {
            continue;
        };
        delete_locked_row(ctx, table_id, row_id, &current)?;
        ctx.progress.own_rows.insert(row_id);
        written.push(current);
    }
    finish(ctx, &plan, "DELETE", written)
}

/// Locks and updates one matching row; `None` when EvalPlanQual drops it.
fn update_one(
    ctx: &mut StmtCtx,
    plan: &Plan,
    row_id: RowId,
    binding: &Binding,
    assignments: &[ast::Assignment],
) -> Exec<Option<Vec<Value>>> {
    let table_id = plan.source.table_id;
    let planned = assign(
        ctx,
        &plan.table,
        std::slice::from_ref(binding),
        &binding.values,
        assignments,
    )?;
    let mode = update_lock_mode(ctx, table_id, &binding.values, &planned);
    let mut recheck = recheck_for(plan, binding);
    let Locked::Row(current) = lock_row(
        ctx,
        table_id,
        row_id,
        mode,
        WaitPolicy::Wait,
        LockPurpose::Write,
        &mut recheck,
    )?
    else {
        return Ok(None);
    };
    let scope = [Binding {
        values: current.clone(),
        ..binding.clone()
    }];
    let new_values = assign(ctx, &plan.table, &scope, &current, assignments)?;
    if update_lock_mode(ctx, table_id, &current, &new_values) == RowLockMode::Update
        && mode != RowLockMode::Update
    {
        // EvalPlanQual turned this into a key update: take the stronger lock too.
        let upgraded = lock_row(
            ctx,
            table_id,
            row_id,
            RowLockMode::Update,
            WaitPolicy::Wait,
            LockPurpose::Write,
            &mut |_, _| Ok(true),
        )?;
        if let Locked::Skip = upgraded {
            return Ok(None);
        }
    }
    let written = update_locked_row(ctx, table_id, row_id, &current, new_values)?;
    Ok(Some(written))
}

/// sqlparser reads a bare `DEFAULT` in an expression position as an unquoted identifier.
fn is_default_keyword(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(ident)
        if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default"))
}
