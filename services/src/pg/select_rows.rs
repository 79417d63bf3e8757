//! The row pipeline after FROM/WHERE: ORDER BY (NULLs last ascending, first descending),
//! LIMIT/OFFSET, and the locking clause (FOR UPDATE/SHARE, NOWAIT, SKIP LOCKED).
//!
//! Not modelled: re-sorting after an EvalPlanQual re-check (PostgreSQL does not re-sort in
//! READ COMMITTED either), `FOR UPDATE OF` naming a table other than the one in FROM.
//! Invariant: without a lock clause this pipeline never blocks and never writes.

use sqlparser::ast::{self, Expr, LimitClause, NonBlock, OrderByKind, Query, Select};

use super::catalog::{fold_ident, fold_name};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::{eval, eval_condition, Binding};
use super::lock_syntax;
use super::locks::RowLockMode;
use super::project::project;
use super::rowops::{lock_row, LockPurpose, Locked, WaitPolicy};
use super::select::{Candidate, Source};
use super::value::{order_for_sort, ColumnType, Value};

/// A row on its way to ORDER BY: its sort keys, its bindings and its output values.
pub type SortedRow = (Vec<Value>, Candidate, Vec<Value>);

pub fn limit_values(ctx: &mut StmtCtx, query: &Query) -> Exec<(usize, Option<usize>)> {
    // LIMIT and OFFSET take a bigint by assignment: a numeric is rounded (`LIMIT 1.5` is 2);
    // a negative count is an error (ExecLimit's recompute_limits).
    let to_count = |value: Value, clause: &str| -> Result<Option<usize>, PgError> {
        let value = match value {
            Value::Numeric(_) => value.cast_to(ColumnType::Int8)?,
            other => other,
        };
        match value.as_i64()? {
            Some(number) if number < 0 => Err(PgError::new(
                if clause == "LIMIT" {
                    SqlState::InvalidRowCountInLimitClause
                } else {
                    SqlState::InvalidRowCountInResultOffsetClause
                },
                format!("{clause} must not be negative"),
            )),
            count => Ok(count.map(|number| usize::try_from(number).unwrap_or(usize::MAX))),
        }
    };
    match &query.limit_clause {
        None => Ok((0, None)),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) if limit_by.is_empty() => {
            // OFFSET first, as recompute_limits does (both negative is 2201X).
            let offset = match offset {
                Some(offset) => to_count(eval(ctx, &[], &offset.value)?, "OFFSET")?.unwrap_or(0),
                None => 0,
            };
            let limit = match limit {
                Some(expr) => to_count(eval(ctx, &[], expr)?, "LIMIT")?,
                None => None,
            };
            Ok((offset, limit))
        }
        Some(other) => Err(PgError::unsupported(format!("limit clause {other}")).into()),
    }
}

/// How PostgreSQL reads a constant written as an ORDER BY or GROUP BY item
/// (`findTargetlistEntrySQL92`, PostgreSQL 15): an int4 constant, a minus sign folded in
/// (`-1`, `-(1)`), is an output position; any other constant (`1.5`, `99999999999`, `'a'`,
/// `NULL`, `true`) is 42601 "non-integer constant in ORDER BY"; `None` for an expression.
pub fn written_position(expr: &Expr, clause: &str) -> Result<Option<i64>, PgError> {
    let (negative, constant) = match without_parentheses(expr) {
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => (true, without_parentheses(expr)),
        other => (false, other),
    };
    let Expr::Value(value) = constant else {
        return Ok(None);
    };
    let non_integer = || PgError::syntax(format!("non-integer constant in {clause}"));
    match &value.value {
        ast::Value::Number(text, _) => {
            let position = text.parse::<i32>().map_err(|_| non_integer())?;
            Ok(Some(if negative {
                -i64::from(position)
            } else {
                i64::from(position)
            }))
        }
        // `$1` is a parameter, not a constant; `-'a'` is an operator call.
        ast::Value::Placeholder(_) => Ok(None),
        _ if negative => Ok(None),
        _ => Err(non_integer()),
    }
}

/// `expr` without enclosing parentheses (PostgreSQL's grammar keeps no node for them).
pub fn without_parentheses(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

pub fn sort_key_values(
    ctx: &mut StmtCtx,
    query: &Query,
    names: &[String],
    candidate: &Candidate,
    output: &[Value],
) -> Exec<Vec<Value>> {
    let mut keys = Vec::new();
    let Some(order_by) = &query.order_by else {
        return Ok(keys);
    };
    let OrderByKind::Expressions(exprs) = &order_by.kind else {
        return Err(PgError::unsupported("ORDER BY ALL").into());
    };
    for order in exprs {
        // `group::check_order_by` has checked positions and names.
        let by_output = match without_parentheses(&order.expr) {
            Expr::Identifier(ident) => names.iter().position(|name| *name == fold_ident(ident)),
            other => written_position(other, "ORDER BY")?
                .and_then(|position| usize::try_from(position).ok())
                .and_then(|position| position.checked_sub(1)),
        };
        let key = match by_output.and_then(|index| output.get(index)) {
            Some(value) => value.clone(),
            None => eval(ctx, &candidate.scope, &order.expr)?,
        };
        keys.push(key);
    }
    Ok(keys)
}

pub fn sort_rows(query: &Query, rows: &mut [SortedRow]) -> Result<(), PgError> {
    let Some(OrderByKind::Expressions(exprs)) =
        query.order_by.as_ref().map(|order_by| &order_by.kind)
    else {
        return Ok(());
    };
    let mut failure = None;
    rows.sort_by(|left, right| {
        for (key_index, order) in exprs.iter().enumerate() {
            let descending = matches!(order.options.sort, Some(ast::OrderBySort::Desc));
            let nulls_first = order.options.nulls_first.unwrap_or(descending);
            let (a, b) = (&left.0[key_index], &right.0[key_index]);
            let ordering = match (a.is_null(), b.is_null()) {
                (true, false) => {
                    if nulls_first {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    }
                }
                (false, true) => {
                    if nulls_first {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    }
                }
                _ => {
                    let natural = order_for_sort(a, b).unwrap_or_else(|error| {
                        failure = Some(error);
                        std::cmp::Ordering::Equal
                    });
                    if descending {
                        natural.reverse()
                    } else {
                        natural
                    }
                }
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
    failure.map_or(Ok(()), Err)
}

pub fn lock_clause(
    query: &Query,
    sources: &[Source],
) -> Result<Option<(RowLockMode, WaitPolicy)>, PgError> {
    let [lock] = &query.locks[..] else {
        return match query.locks.len() {
            0 => Ok(None),
            _ => Err(PgError::unsupported("several locking clauses")),
        };
    };
    if sources.len() != 1 {
        return Err(PgError::unsupported(
            "FOR UPDATE/SHARE with a JOIN or without FROM",
        ));
    }
    if let Some(derived) = &sources[0].derived {
        // PostgreSQL locks no function or WITH query rows: without OF the clause has
        // nothing to lock; naming the item in OF is an error.
        if lock_syntax::strength(lock).1.is_none() {
            return Ok(None);
        }
        return Err(PgError::new(
            super::error::SqlState::FeatureNotSupported,
            format!(
                "{} cannot be applied to {}",
                clause_name(lock),
                derived.kind.article_name()
            ),
        ));
    }
    let (mode, of) = lock_syntax::strength(lock);
    if let Some(of) = of {
        if fold_name(&of) != sources[0].binding_name {
            return Err(PgError::unsupported(format!("a locking clause OF {of}")));
        }
    }
    let policy = match lock.nonblock {
        None => WaitPolicy::Wait,
        Some(NonBlock::Nowait) => WaitPolicy::NoWait,
        Some(NonBlock::SkipLocked) => WaitPolicy::SkipLocked,
    };
    Ok(Some((mode, policy)))
}

/// A locking clause as PostgreSQL's messages name it.
fn clause_name(lock: &sqlparser::ast::LockClause) -> &'static str {
    match lock_syntax::strength(lock).0 {
        RowLockMode::KeyShare => "FOR KEY SHARE",
        RowLockMode::Share => "FOR SHARE",
        RowLockMode::NoKeyUpdate => "FOR NO KEY UPDATE",
        RowLockMode::Update => "FOR UPDATE",
    }
}

pub type Keyed = (Vec<Value>, Candidate, Vec<Value>);

/// Walks sorted rows, locking each when a lock clause is present, until `wanted` rows exist.
pub fn lock_and_collect(
    ctx: &mut StmtCtx,
    select: &Select,
    sources: &[Source],
    locking: Option<(RowLockMode, WaitPolicy)>,
    keyed: Vec<Keyed>,
    wanted: Option<usize>,
) -> Exec<Vec<Vec<Value>>> {
    let mut output_rows = Vec::new();
    for (_, candidate, output) in keyed {
        if wanted.is_some_and(|wanted| output_rows.len() >= wanted) {
            break;
        }
        let Some((mode, policy)) = locking else {
            output_rows.push(output);
            continue;
        };
        let filter = select.selection.clone();
        let binding = candidate.scope[0].clone();
        let mut recheck = |ctx: &mut StmtCtx, values: &[Value]| -> Exec<bool> {
            let scope = [Binding {
                values: values.to_vec(),
                ..binding.clone()
            }];
            match &filter {
                Some(filter) => eval_condition(ctx, &scope, filter, "WHERE"),
                None => Ok(true),
            }
        };
        let locked = lock_row(
            ctx,
            sources[0].table_id,
            candidate.row_ids[0],
            mode,
            policy,
            LockPurpose::Select,
            &mut recheck,
        )?;
        if let Locked::Row(values) = locked {
            let scope = [Binding {
                values,
                ..candidate.scope[0].clone()
            }];
            output_rows.push(project(ctx, &scope, &select.projection)?);
        }
    }
    Ok(output_rows)
}
