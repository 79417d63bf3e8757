//! `generate_series` over integers as a FROM item, as PostgreSQL 15 runs it
//! (<https://www.postgresql.org/docs/15/functions-srf.html>): `generate_series(start, stop
//! [, step])` yields start, start + step, ... while not past stop (none when start is already
//! past it); the step defaults to 1; a zero step is 22023 `step size cannot equal zero`; a
//! NULL argument yields no rows (the function is strict). With int4 arguments the values are
//! int4, with an int8 among them int8. As a FROM item it is a one-column relation: `FROM
//! generate_series(1, 3)` names table and column `generate_series`, `FROM generate_series(1,
//! 3) g` names both `g`, `FROM generate_series(1, 3) AS g(x)` names the column `x`.
//!
//! In the select list of a SELECT without FROM (`SELECT generate_series(1, 3) % 2`, the
//! seeding form `INSERT INTO t SELECT generate_series(1, 100)`), one call yields one output
//! row per value, the call's value substituted in its expression.
//!
//! Not modelled: the numeric and timestamp forms, `WITH ORDINALITY`, other set-returning
//! functions, and in a select list: several calls, a call next to FROM, GROUP BY, ORDER BY,
//! LIMIT or an aggregate (each 0A000 naming it); a series of more than `SERIES_ROWS_MAX` rows
//! is refused (0A000) rather than materialized.
//! Invariant: the values are computed once per statement run, from constant arguments.

use std::ops::ControlFlow;

use sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr, Query, Select, TableFactor};

use super::catalog::{fold_ident, fold_name};
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::expr::eval;
use super::value::Value;

/// The largest series the engine materializes.
pub const SERIES_ROWS_MAX: i64 = 100_000;

/// The rows of a set-returning FROM item.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its one column's name.
    pub column: String,
    /// The values, in order.
    pub values: Vec<Value>,
}

/// The binding name and series of `generate_series(...)` written as a FROM item, or `None`
/// when `factor` is not a function call.
pub fn series_source(ctx: &mut StmtCtx, factor: &TableFactor) -> Exec<Option<(String, Series)>> {
    let TableFactor::Table {
        name,
        alias,
        args: Some(args),
        with_ordinality,
        ..
    } = factor
    else {
        return Ok(None);
    };
    let function = fold_name(name);
    if function != "generate_series" && function != "pg_catalog.generate_series" {
        return Err(PgError::unsupported(format!("FROM item {factor}")).into());
    }
    if *with_ordinality || !args.settings.as_ref().is_none_or(Vec::is_empty) {
        return Err(PgError::unsupported(format!("FROM item {factor}")).into());
    }
    let values = series_values(ctx, &args.args)?;
    let (table, column) = names(alias.as_ref())?;
    Ok(Some((table, Series { column, values })))
}

/// The values of a call's constant arguments.
fn series_values(ctx: &mut StmtCtx, args: &[FunctionArg]) -> Exec<Vec<Value>> {
    let mut values = Vec::new();
    for arg in args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
            return Err(PgError::unsupported(format!("generate_series argument {arg}")).into());
        };
        values.push(eval(ctx, &[], expr)?);
    }
    Ok(generate(&values)?)
}

/// Output column names and rows.
type NamedRows = (Vec<String>, Vec<Vec<Value>>);

/// The name the substituted call is read back by (not a name SQL text can reach unquoted).
const CALL_COLUMN: &str = "syncsim generate_series";

/// A SELECT without FROM whose select list calls `generate_series`: its rows, one per value
/// (after WHERE, evaluated once), or `None` when the list has no such call.
pub fn select_list_series(
    ctx: &mut StmtCtx,
    query: &Query,
    select: &Select,
) -> Exec<Option<NamedRows>> {
    let mut calls = Vec::new();
    let _ = ast::visit_expressions(&select.projection, |expr| {
        if let Expr::Function(function) = expr {
            if super::functions::function_name(function) == "generate_series" {
                calls.push(function.clone());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let [call] = &calls[..] else {
        return match calls.len() {
            0 => Ok(None),
            _ => Err(PgError::unsupported("several set-returning calls in a select list").into()),
        };
    };
    let plain = query.order_by.is_none() && query.limit_clause.is_none() && query.locks.is_empty();
    let ungrouped = select.distinct.is_none()
        && select.having.is_none()
        && !super::aggregate::has_aggregate(&select.projection)
        && matches!(&select.group_by, ast::GroupByExpr::Expressions(exprs, _) if exprs.is_empty());
    if !select.from.is_empty() || !plain || !ungrouped {
        return Err(PgError::unsupported(
            "generate_series in a select list with FROM, DISTINCT, GROUP BY, HAVING, an \
             aggregate, ORDER BY, LIMIT or a locking clause",
        )
        .into());
    }
    let ast::FunctionArguments::List(list) = &call.args else {
        return Err(PgError::unsupported(format!("generate_series call {call}")).into());
    };
    let values = series_values(ctx, &list.args)?;
    let names = super::project::output_names(&select.projection, &[])?;
    let keep = match &select.selection {
        Some(filter) => super::expr::eval_condition(ctx, &[], filter, "WHERE")?,
        None => true,
    };
    let mut projection = select.projection.clone();
    let _ = ast::visit_expressions_mut(&mut projection, |expr| {
        if matches!(expr, Expr::Function(function) if function == call) {
            *expr = Expr::Identifier(ast::Ident::with_quote('"', CALL_COLUMN));
        }
        ControlFlow::<()>::Continue(())
    });
    let columns: std::sync::Arc<[String]> = vec![CALL_COLUMN.to_string()].into();
    let mut rows = Vec::new();
    for value in values.into_iter().filter(|_| keep) {
        let scope = [super::expr::Binding {
            name: String::new(),
            columns: columns.clone(),
            values: vec![value],
        }];
        rows.push(super::project::project(ctx, &scope, &projection)?);
    }
    Ok(Some((names, rows)))
}

fn names(alias: Option<&ast::TableAlias>) -> Result<(String, String), PgError> {
    let Some(alias) = alias else {
        return Ok(("generate_series".into(), "generate_series".into()));
    };
    let table = fold_ident(&alias.name);
    match &alias.columns[..] {
        [] => Ok((table.clone(), table)),
        [column] => Ok((table, fold_ident(&column.name))),
        _ => Err(PgError::new(
            SqlState::SyntaxError,
            format!(
                "table \"{table}\" has 1 columns available but {} columns specified",
                alias.columns.len()
            ),
        )),
    }
}

/// The series of integer arguments `start, stop [, step]`.
fn generate(args: &[Value]) -> Result<Vec<Value>, PgError> {
    if !(2..=3).contains(&args.len()) {
        return Err(PgError::unsupported(format!(
            "generate_series with {} arguments",
            args.len()
        )));
    }
    if args.iter().any(Value::is_null) {
        return Ok(Vec::new());
    }
    let mut wide = false;
    let mut numbers = Vec::new();
    for arg in args {
        match arg {
            Value::Int4(n) => numbers.push(i64::from(*n)),
            Value::Int8(n) => {
                wide = true;
                numbers.push(*n);
            }
            other => {
                return Err(PgError::unsupported(format!(
                    "generate_series over {}",
                    other.type_name()
                )))
            }
        }
    }
    let (start, stop) = (numbers[0], numbers[1]);
    let step = numbers.get(2).copied().unwrap_or(1);
    if step == 0 {
        return Err(PgError::new(
            SqlState::InvalidParameterValue,
            "step size cannot equal zero",
        ));
    }
    let count = if (step > 0 && start > stop) || (step < 0 && start < stop) {
        0
    } else {
        (i128::from(stop) - i128::from(start)) / i128::from(step) + 1
    };
    if count > i128::from(SERIES_ROWS_MAX) {
        return Err(PgError::unsupported(format!(
            "generate_series of more than {SERIES_ROWS_MAX} rows ({count})"
        )));
    }
    let count = i64::try_from(count).expect("bounded above");
    Ok((0..count)
        .map(|index| {
            let value = start + index * step;
            if wide {
                Value::Int8(value)
            } else {
                Value::Int4(i32::try_from(value).expect("between two int4 arguments"))
            }
        })
        .collect())
}
