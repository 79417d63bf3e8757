//! UPDATE and DELETE on one table with WHERE and RETURNING: each matching row is locked
//! (FOR NO KEY UPDATE, or FOR UPDATE for deletes and key changes), waited for, re-checked
//! (EvalPlanQual) in READ COMMITTED or refused with 40001 in REPEATABLE READ, then written.
//!
//! `UPDATE … FROM item` and `DELETE … USING item` with one item (a table or
//! `generate_series`), as PostgreSQL 15 runs them
//! (<https://www.postgresql.org/docs/15/sql-update.html>, sql-delete.html): the target joined
//! with the item under WHERE; a target row that several item rows match is written once,
//! with the first match in scan order (PostgreSQL: "only one of the join rows will be used
//! to update the target row, but which one will be used is not readily predictable"); the
//! item's columns are visible to SET, WHERE and RETURNING; EvalPlanQual re-checks a newer
//! target version against the same item row, as PostgreSQL does for an unlocked relation.
//!
//! Not modelled: several FROM/USING items or joins among them, WHERE CURRENT OF,
//! SET (a, b) = (…), SET col = DEFAULT. Each is a 0A000 naming the construct.
//! Invariant: a statement re-run after a block recognises rows it already wrote (they carry
//! its command id) and reports them again without writing them twice.

use sqlparser::ast::{self, AssignmentTarget, Expr, FromTable, SelectItem};

use super::catalog::{fold_ident, Table, TableId};
use super::constraints::{delete_locked_row, update_locked_row};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval, eval_condition, Binding};
use super::insert::{check_assignment, is_untyped};
use super::locks::RowLockMode;
use super::project::{output_names, project};
use super::rowops::{lock_row, update_lock_mode, LockPurpose, Locked, WaitPolicy};
use super::select::{from_item, item_template, scan, table_source, Source};
use super::storage::RowId;
use super::value::Value;
use super::QueryResult;

/// The column each SET assignment writes, judged as PostgreSQL's transformUpdateTargetList
/// does before any row is read: an unknown column is 42703, a column set twice 42601, and a
/// dotted target (`SET t.v`) names the column `t` and a field of it (PostgreSQL's composite
/// field assignment), so it is 42703 for `t`, or 0A000 when `t` is a column.
pub fn assignment_targets(
    table: &Table,
    assignments: &[ast::Assignment],
) -> Result<Vec<usize>, PgError> {
    let mut targets: Vec<usize> = Vec::with_capacity(assignments.len());
    for assignment in assignments {
        let AssignmentTarget::ColumnName(name) = &assignment.target else {
            return Err(PgError::unsupported("SET (a, b) = (…)"));
        };
        let column_name = match name.0.first() {
            Some(ast::ObjectNamePart::Identifier(ident)) => fold_ident(ident),
            _ => name.to_string(),
        };
        let column_index = table.target_column(&column_name)?;
        if name.0.len() > 1 {
            return Err(PgError::unsupported(format!(
                "assignment to a field of column {column_name} (composite types)"
            )));
        }
        if targets.contains(&column_index) {
            return Err(PgError::syntax(format!(
                "multiple assignments to same column \"{column_name}\""
            )));
        }
        // The rewriter's rule for GENERATED ALWAYS (SET col = DEFAULT is refused below).
        if table.columns[column_index].identity_always && !is_default_keyword(&assignment.value) {
            return Err(PgError::new(
                SqlState::GeneratedAlways,
                format!("column \"{column_name}\" can only be updated to DEFAULT"),
            )
            .with_detail(format!(
                "Column \"{column_name}\" is an identity column defined as GENERATED ALWAYS."
            )));
        }
        targets.push(column_index);
    }
    Ok(targets)
}

/// Applies SET assignments to `existing`, evaluating against `scope`. A typed value needs an
/// assignment cast to its column (`insert::check_assignment`).
pub fn assign(
    ctx: &mut StmtCtx,
    table: &Table,
    scope: &[Binding],
    existing: &[Value],
    assignments: &[ast::Assignment],
) -> Exec<Vec<Value>> {
    let mut values = existing.to_vec();
    let targets = assignment_targets(table, assignments)?;
    for (assignment, column_index) in assignments.iter().zip(targets) {
        if is_default_keyword(&assignment.value) {
            return Err(PgError::unsupported("SET col = DEFAULT").into());
        }
        let value = eval(ctx, scope, &assignment.value)?;
        let column = &table.columns[column_index];
        if !is_untyped(&assignment.value) {
            check_assignment(&value, column)?;
        }
        values[column_index] = value.cast_to(column.column_type)?;
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
    /// The rows of the FROM / USING item, scanned once with the statement's snapshot.
    joined: Option<Vec<Binding>>,
}

/// A target row with the scope its SET, WHERE and RETURNING see (the target's binding, then
/// the matched FROM / USING row's).
type Matched = (RowId, Vec<Binding>);

fn plan<'q>(
    ctx: &mut StmtCtx,
    relation: &ast::TableFactor,
    joined: Option<&ast::TableFactor>,
    filter: Option<&'q Expr>,
    returning: Option<&'q [SelectItem]>,
) -> Exec<Plan<'q>> {
    let source = table_source(ctx, relation)?;
    let table = ctx.db.catalog.table(source.table_id).clone();
    let mut template = vec![Binding {
        name: source.binding_name.clone(),
        columns: table.column_names().into(),
        values: Vec::new(),
    }];
    let joined = match joined {
        Some(factor) => {
            let item = from_item(ctx, factor)?;
            let rows: Vec<Binding> = scan(ctx, &item, None)?
                .into_iter()
                .map(|(_, binding)| binding)
                .collect();
            template.push(Binding {
                values: Vec::new(),
                ..item_template(ctx, &item)
            });
            Some(rows)
        }
        None => None,
    };
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
        joined,
    })
}

/// The target rows the statement visits, each with its scope: alone, or with the first row
/// of the FROM / USING item that satisfies WHERE (a row no item row matches is skipped).
fn matched_rows(ctx: &mut StmtCtx, plan: &Plan) -> Exec<Vec<Matched>> {
    let Some(joined) = &plan.joined else {
        return Ok(scan(ctx, &plan.source, plan.filter)?
            .into_iter()
            .map(|(row_id, binding)| (row_id, vec![binding]))
            .collect());
    };
    // No point lookup: WHERE may compare the target with the item.
    let mut matched = Vec::new();
    for (row_id, binding) in scan(ctx, &plan.source, None)? {
        for other in joined {
            let scope = vec![binding.clone(), other.clone()];
            let keep = match plan.filter {
                Some(filter) => eval_condition(ctx, &scope, filter, "WHERE")?,
                None => true,
            };
            if keep {
                matched.push((row_id, scope));
                break;
            }
        }
    }
    Ok(matched)
}

/// The WHERE re-check EvalPlanQual runs against a newer version of the target row (the
/// FROM / USING row stays the one matched).
fn recheck_for<'p>(
    plan: &'p Plan,
    scope: &'p [Binding],
) -> impl FnMut(&mut StmtCtx, &[Value]) -> Exec<bool> + 'p {
    move |ctx: &mut StmtCtx, values: &[Value]| {
        let scope = with_target_values(scope, values);
        match plan.filter {
            Some(filter) => eval_condition(ctx, &scope, filter, "WHERE"),
            None => Ok(true),
        }
    }
}

/// `scope` with the target's binding holding `values`.
fn with_target_values(scope: &[Binding], values: &[Value]) -> Vec<Binding> {
    let mut scope = scope.to_vec();
    scope[0].values = values.to_vec();
    scope
}

fn finish(
    ctx: &mut StmtCtx,
    plan: &Plan,
    verb: &str,
    written: Vec<(Vec<Value>, Vec<Binding>)>,
) -> Exec<QueryResult> {
    let count = written.len() as u64;
    let mut rows = Vec::new();
    if let Some(items) = plan.returning {
        for (values, scope) in written {
            let scope = with_target_values(&scope, &values);
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
    let from = check_update(update)?;
    let plan = plan(
        ctx,
        &update.table.relation,
        from,
        update.selection.as_ref(),
        update.returning.as_deref(),
    )?;
    let table_id = plan.source.table_id;
    assignment_targets(&plan.table, &update.assignments)?;
    ctx.check_writable("UPDATE")?;
    let mut written = Vec::new();
    for (row_id, scope) in matched_rows(ctx, &plan)? {
        if ctx.touched_by_this_command(table_id, row_id) {
            // Rows this scan wrote before a block are reported again; rows a cascade wrote
            // (self-referencing FK) are not the statement's own and are not counted.
            if ctx.progress.part.own_rows.contains(&row_id) {
                let values = values_written_by_this_command(ctx, table_id, row_id);
                written.push((values, scope));
            }
            continue;
        }
        if plan.joined.is_none() && !recheck_for(&plan, &scope)(ctx, &scope[0].values)? {
            continue;
        }
        if let Some(new_values) = update_one(ctx, &plan, row_id, &scope, &update.assignments)? {
            ctx.progress.part.own_rows.insert(row_id);
            written.push((new_values, scope));
        }
    }
    finish(ctx, &plan, "UPDATE", written)
}

/// UPDATE t [AS a] SET … [FROM item] [WHERE …] [RETURNING …]; every field of sqlparser's
/// `Update` is named (no `..`), so a new one fails to compile until it is judged. Returns
/// the FROM item.
fn check_update(update: &ast::Update) -> Result<Option<&ast::TableFactor>, PgError> {
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
    if !table.joins.is_empty() {
        return Err(PgError::unsupported("a JOIN in UPDATE's target"));
    }
    let from = match from {
        None => None,
        Some(ast::UpdateTableFromKind::AfterSet(items)) => match &items[..] {
            [item] if item.joins.is_empty() => Some(&item.relation),
            _ => {
                return Err(PgError::unsupported(
                    "UPDATE … FROM with several items or a JOIN",
                ))
            }
        },
        Some(ast::UpdateTableFromKind::BeforeSet(_)) => {
            return Err(PgError::unsupported("non-PostgreSQL UPDATE form"))
        }
    };
    if or.is_some()
        || limit.is_some()
        || !order_by.is_empty()
        || output.is_some()
        || !optimizer_hints.is_empty()
    {
        return Err(PgError::unsupported("non-PostgreSQL UPDATE form"));
    }
    Ok(from)
}

/// DELETE FROM t [AS a] [USING item] [WHERE …] [RETURNING …]; every field of sqlparser's
/// `Delete` is named (no `..`), so a new one fails to compile until it is judged. Returns the
/// target and the USING item.
fn check_delete(
    delete: &ast::Delete,
) -> Result<(&ast::TableWithJoins, Option<&ast::TableFactor>), PgError> {
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
    if !tables.is_empty() || !from.joins.is_empty() {
        return Err(PgError::unsupported("DELETE from a JOIN"));
    }
    let using = match using.as_deref() {
        None => None,
        Some([item]) if item.joins.is_empty() => Some(&item.relation),
        Some(_) => {
            return Err(PgError::unsupported(
                "DELETE … USING with several items or a JOIN",
            ))
        }
    };
    if limit.is_some() || !order_by.is_empty() || output.is_some() || !optimizer_hints.is_empty() {
        return Err(PgError::unsupported("non-PostgreSQL DELETE form"));
    }
    Ok((from, using))
}

/// Executes a DELETE.
pub fn execute_delete(ctx: &mut StmtCtx, delete: &ast::Delete) -> Exec<QueryResult> {
    let (from, using) = check_delete(delete)?;
    let plan = plan(
        ctx,
        &from.relation,
        using,
        delete.selection.as_ref(),
        delete.returning.as_deref(),
    )?;
    let table_id = plan.source.table_id;
    ctx.check_writable("DELETE")?;
    let mut written = Vec::new();
    for (row_id, scope) in matched_rows(ctx, &plan)? {
        if ctx.touched_by_this_command(table_id, row_id) {
            // Rows this scan wrote before a block are reported again; rows a cascade wrote
            // (self-referencing FK) are not the statement's own and are not counted.
            if ctx.progress.part.own_rows.contains(&row_id) {
                let values = values_written_by_this_command(ctx, table_id, row_id);
                written.push((values, scope));
            }
            continue;
        }
        if plan.joined.is_none() && !recheck_for(&plan, &scope)(ctx, &scope[0].values)? {
            continue;
        }
        let mut recheck = recheck_for(&plan, &scope);
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
        drop(recheck);
        delete_locked_row(ctx, table_id, row_id, &current)?;
        ctx.progress.part.own_rows.insert(row_id);
        written.push((current, scope));
    }
    finish(ctx, &plan, "DELETE", written)
}

/// Locks and updates one matching row; `None` when EvalPlanQual drops it.
fn update_one(
    ctx: &mut StmtCtx,
    plan: &Plan,
    row_id: RowId,
    scope: &[Binding],
    assignments: &[ast::Assignment],
) -> Exec<Option<Vec<Value>>> {
    let table_id = plan.source.table_id;
    let target = &scope[0].values;
    let planned = assign(ctx, &plan.table, scope, target, assignments)?;
    let mode = update_lock_mode(ctx, table_id, target, &planned);
    let mut recheck = recheck_for(plan, scope);
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
    let scope = with_target_values(scope, &current);
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
