//! Uncorrelated subqueries in expressions: `x = (SELECT …)`, `x IN (SELECT …)`,
//! `EXISTS (SELECT …)`, as in the job-queue pattern
//! `UPDATE jobs … WHERE id = (SELECT id … FOR UPDATE SKIP LOCKED)`.
//!
//! Each subquery runs once per statement run (PostgreSQL's InitPlan), with the statement's
//! snapshot and command id, so it does not see the statement's own writes; its row locks are
//! the statement's. Not modelled: correlated subqueries (referencing the outer row), which
//! are refused with 0A000, and subqueries returning several columns.
//! Invariant: results are cached by the subquery's AST node for one run only, so a re-run
//! after a block re-executes (and re-locks) it like the rest of the statement.

use std::cmp::Ordering;

use sqlparser::ast::Query;

use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, StmtCtx};
use super::select::execute_select;
use super::value::Value;

/// The rows of a subquery, run once per statement run.
pub fn subquery_rows(ctx: &mut StmtCtx, query: &Query) -> Exec<Vec<Vec<Value>>> {
    // The AST is shared and immutable for the whole run, so its address identifies the node.
    let key = std::ptr::from_ref(query) as usize;
    if let Some(rows) = ctx.subqueries.get(&key) {
        return Ok(rows.clone());
    }
    let result = match execute_select(ctx, query) {
        Ok(result) => result,
        Err(Interrupt::Error(error))
            if error.sqlstate == SqlState::UndefinedColumn
                || error.message.starts_with("missing FROM-clause") =>
        {
            return Err(
                PgError::unsupported(format!("correlated subquery (or {})", error.message)).into(),
            )
        }
        Err(other) => return Err(other),
    };
    ctx.subqueries.insert(key, result.rows.clone());
    Ok(result.rows)
}

/// The single column of a subquery's rows; 42601 if it has several columns.
fn single_column(ctx: &mut StmtCtx, query: &Query) -> Exec<Vec<Value>> {
    let rows = subquery_rows(ctx, query)?;
    if rows.first().is_some_and(|row| row.len() != 1) {
        return Err(PgError::syntax("subquery must return only one column").into());
    }
    Ok(rows.into_iter().map(|mut row| row.remove(0)).collect())
}

/// `(SELECT …)` as a value: NULL when empty, 21000 when several rows.
pub fn scalar_subquery(ctx: &mut StmtCtx, query: &Query) -> Exec<Value> {
    let mut values = single_column(ctx, query)?;
    match values.len() {
        0 => Ok(Value::Null),
        1 => Ok(values.remove(0)),
        _ => Err(PgError::new(
            SqlState::CardinalityViolation,
            "more than one row returned by a subquery used as an expression",
        )
        .into()),
    }
}

/// `value [NOT] IN (SELECT …)` with SQL NULL semantics.
pub fn in_subquery(ctx: &mut StmtCtx, value: &Value, query: &Query, negated: bool) -> Exec<Value> {
    let candidates = single_column(ctx, query)?;
    let mut saw_null = value.is_null();
    let mut found = false;
    for candidate in &candidates {
        match value.compare(candidate)? {
            Some(Ordering::Equal) => found = true,
            None => saw_null = true,
            Some(_) => {}
        }
    }
    Ok(match (found, saw_null) {
        (true, _) => Value::Bool(!negated),
        (false, true) if !candidates.is_empty() => Value::Null,
        _ => Value::Bool(negated),
    })
}
