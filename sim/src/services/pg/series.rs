//! `generate_series` over integers as a FROM item, as PostgreSQL 15 runs it
//! (<https://www.postgresql.org/docs/15/functions-srf.html>): `generate_series(start, stop
//! [, step])` yields start, start + step, ... while not past stop (none when start is already
//! past it); the step defaults to 1; a zero step is 22023 `step size cannot equal zero`; a
//! NULL argument yields no rows (the function is strict). With int4 arguments the values are
//! int4, with an int8 among them int8. As a FROM item it is a one-column relation: `FROM
//! generate_series(1, 3)` names table and column `generate_series`, `FROM generate_series(1,
//! 3) g` names both `g`, `FROM generate_series(1, 3) AS g(x)` names the column `x`.
//!
//! Not modelled: the numeric and timestamp forms, `WITH ORDINALITY`, other set-returning
//! functions, and set-returning functions in the select list (each 0A000 naming it); a series
//! of more than `SERIES_ROWS_MAX` rows is refused (0A000) rather than materialized.
//! Invariant: the values are computed once per statement run, from constant arguments.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, TableFactor};

use super::catalog::fold_ident;
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
    let function = name.to_string().to_lowercase();
    if function != "generate_series" && function != "pg_catalog.generate_series" {
        return Err(PgError::unsupported(format!("FROM item {factor}")).into());
    }
    if *with_ordinality || !args.settings.as_ref().is_none_or(Vec::is_empty) {
        return Err(PgError::unsupported(format!("FROM item {factor}")).into());
    }
    let mut values = Vec::new();
    for arg in &args.args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
            return Err(PgError::unsupported(format!("generate_series argument {arg}")).into());
        };
        values.push(eval(ctx, &[], expr)?);
    }
    let (table, column) = names(alias.as_ref())?;
    let values = generate(&values)?;
    Ok(Some((table, Series { column, values })))
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
