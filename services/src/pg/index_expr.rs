//! The checks CREATE INDEX makes of an index expression or predicate before it is built,
//! as PostgreSQL 15's `DefineIndex`/`CheckMutability` make them: each column exists (42703),
//! no aggregate (42803), no parameter (42P02 "there is no parameter $1"), and nothing that
//! is not IMMUTABLE (42P17 "functions in index expression must be marked IMMUTABLE", or
//! "... index predicate ...").
//!
//! Mutability is judged node by node from the types the engine can see without evaluating:
//! columns, casts, typed literals and date/time arithmetic. STABLE in PostgreSQL 15 (so
//! refused) are the conversions that read the session's TimeZone, DateStyle or
//! IntervalStyle: `timestamptz` to or from `date`/`timestamp`, a date/time or interval
//! value to text, text (not a constant) to a date/time or interval, `timestamptz ±
//! interval`, and any comparison or difference of `timestamptz` with `date` or `timestamp`
//! (BETWEEN, IN and IS [NOT] DISTINCT FROM included)
//! (the implicit cast is STABLE); also the functions `functions.rs` lists as STABLE or
//! VOLATILE. A cast of a quoted constant is folded when the statement is parsed, so
//! `ts > '2026-01-01'` is accepted, as there. Each rule was checked on PostgreSQL 15.18.
//! Not modelled: an expression whose operand types the engine cannot see (a function's
//! result, a subexpression it does not type) is judged by its functions alone; a function
//! the engine does not know is 0A000, and subqueries are 0A000 too.

use std::ops::ControlFlow;

use sqlparser::ast::{self, BinaryOperator, Expr};

use super::catalog::{fold_ident, Table};
use super::error::{PgError, SqlState};
use super::types::cast_type;
use super::value::ColumnType;

/// Runs the checks over every node of `expr`; `what` is "expression" or "predicate".
pub fn check_index_expression(table: &Table, expr: &Expr, what: &str) -> Result<(), PgError> {
    let mut found = Ok(());
    let _ = ast::visit_expressions(expr, |inner| {
        found = check_node(table, inner, what);
        if found.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

fn not_immutable(what: &str) -> PgError {
    PgError::new(
        SqlState::InvalidObjectDefinition,
        format!("functions in index {what} must be marked IMMUTABLE"),
    )
}

fn check_node(table: &Table, expr: &Expr, what: &str) -> Result<(), PgError> {
    match expr {
        Expr::Identifier(ident) => {
            let name = fold_ident(ident);
            match table.column_index(&name) {
                Some(_) => Ok(()),
                None => Err(PgError::undefined_column(&name)),
            }
        }
        Expr::CompoundIdentifier(_) => Err(PgError::unsupported(format!(
            "qualified column {expr} in an index {what}"
        ))),
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => Err(
            PgError::unsupported(format!("a subquery in an index {what}")),
        ),
        Expr::Value(value) => match &value.value {
            ast::Value::Placeholder(name) => Err(PgError::new(
                SqlState::UndefinedParameter,
                format!("there is no parameter {name}"),
            )),
            _ => Ok(()),
        },
        Expr::Function(function) => check_function(function, what),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => {
            let target = cast_type(data_type)?;
            if stable_cast(typed(table, inner), target) {
                return Err(not_immutable(what));
            }
            Ok(())
        }
        Expr::BinaryOp { left, op, right } => {
            if stable_operator(typed(table, left), op, typed(table, right)) {
                return Err(not_immutable(what));
            }
            Ok(())
        }
        // Comparisons in other clothes: BETWEEN is two of them, IN one per item.
        Expr::Between {
            expr: inner,
            low,
            high,
            ..
        } => check_comparisons(table, inner, &[low, high], what),
        Expr::InList {
            expr: inner, list, ..
        } => {
            let items: Vec<&Expr> = list.iter().collect();
            check_comparisons(table, inner, &items, what)
        }
        Expr::IsDistinctFrom(left, right) | Expr::IsNotDistinctFrom(left, right) => {
            check_comparisons(table, left, &[right], what)
        }
        _ => Ok(()),
    }
}

/// `value` compared with each of `others` (`=`), judged as a comparison operator.
fn check_comparisons(
    table: &Table,
    value: &Expr,
    others: &[&Expr],
    what: &str,
) -> Result<(), PgError> {
    let value = typed(table, value);
    for other in others {
        if stable_operator(value, &BinaryOperator::Eq, typed(table, other)) {
            return Err(not_immutable(what));
        }
    }
    Ok(())
}

fn check_function(function: &ast::Function, what: &str) -> Result<(), PgError> {
    let name = super::functions::function_name(function);
    if super::aggregate::is_aggregate_call(function) {
        return Err(PgError::new(
            SqlState::GroupingError,
            format!("aggregate functions are not allowed in index {what}s"),
        ));
    }
    if super::functions::is_immutable(&name) {
        return Ok(());
    }
    if super::functions::is_stable_or_volatile(&name) {
        return Err(not_immutable(what));
    }
    Err(PgError::unsupported(format!(
        "function {name} in an index {what}"
    )))
}

/// What the check can tell of an expression's type without evaluating it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Typed {
    /// A value of this type.
    Of(ColumnType),
    /// A quoted constant whose type comes from its context.
    Literal,
    /// Not typed here.
    Opaque,
}

fn typed(table: &Table, expr: &Expr) -> Typed {
    match expr {
        Expr::Identifier(ident) => table
            .column_index(&fold_ident(ident))
            .map_or(Typed::Opaque, |index| {
                Typed::Of(table.columns[index].column_type)
            }),
        Expr::Nested(inner) => typed(table, inner),
        Expr::Cast { data_type, .. } => cast_type(data_type).map_or(Typed::Opaque, Typed::Of),
        Expr::TypedString(typed_string) => {
            cast_type(&typed_string.data_type).map_or(Typed::Opaque, Typed::Of)
        }
        Expr::Interval(_) => Typed::Of(ColumnType::Interval),
        Expr::Value(value) => match &value.value {
            ast::Value::SingleQuotedString(_) => Typed::Literal,
            ast::Value::Number(..) => Typed::Of(ColumnType::Int4),
            _ => Typed::Opaque,
        },
        Expr::BinaryOp { left, op, right } => {
            arithmetic_type(typed(table, left), op, typed(table, right))
        }
        _ => Typed::Opaque,
    }
}

/// The result type of the date/time arithmetic the engine supports.
fn arithmetic_type(left: Typed, op: &BinaryOperator, right: Typed) -> Typed {
    use ColumnType as T;
    let (Typed::Of(left), Typed::Of(right)) = (left, right) else {
        return Typed::Opaque;
    };
    let plus_or_minus = matches!(op, BinaryOperator::Plus | BinaryOperator::Minus);
    let result = match (left, right) {
        (T::Timestamptz, T::Interval) | (T::Interval, T::Timestamptz) => T::Timestamptz,
        (T::Timestamp | T::Date, T::Interval) | (T::Interval, T::Timestamp | T::Date) => {
            T::Timestamp
        }
        (T::Date, T::Int4 | T::Int8) => T::Date,
        (T::Timestamptz, T::Timestamptz) | (T::Timestamp, T::Timestamp) => T::Interval,
        (T::Interval, T::Interval) => T::Interval,
        (T::Date, T::Date) => T::Int4,
        _ => return Typed::Opaque,
    };
    if plus_or_minus {
        Typed::Of(result)
    } else {
        Typed::Opaque
    }
}

fn is_datetime(column_type: ColumnType) -> bool {
    matches!(
        column_type,
        ColumnType::Timestamptz | ColumnType::Timestamp | ColumnType::Date
    )
}

fn is_string(column_type: ColumnType) -> bool {
    matches!(
        column_type,
        ColumnType::Text | ColumnType::Varchar(_) | ColumnType::Char(_)
    )
}

/// Whether a cast of a `from` value to `target` reads a session setting (STABLE).
fn stable_cast(from: Typed, target: ColumnType) -> bool {
    use ColumnType as T;
    let Typed::Of(from) = from else {
        // A constant is converted once, at parse time; an untyped expression is not judged.
        return false;
    };
    let zone_shift = matches!(
        (from, target),
        (T::Timestamptz, T::Date | T::Timestamp) | (T::Date | T::Timestamp, T::Timestamptz)
    );
    let output = (is_datetime(from) || from == T::Interval) && is_string(target);
    let input = is_string(from) && (is_datetime(target) || target == T::Interval);
    zone_shift || output || input
}

/// Whether an operator over these operand types reads the session's TimeZone (STABLE).
fn stable_operator(left: Typed, op: &BinaryOperator, right: Typed) -> bool {
    use ColumnType as T;
    let with_zone_and_other = |one: Typed, other: Typed| {
        one == Typed::Of(T::Timestamptz) && matches!(other, Typed::Of(T::Date | T::Timestamp))
    };
    if with_zone_and_other(left, right) || with_zone_and_other(right, left) {
        return true;
    }
    // timestamptz ± interval: a day or month step is taken in the session's zone. An
    // untyped literal added to a timestamptz is an interval.
    let shifts = |one: Typed, other: Typed, op: &BinaryOperator| {
        one == Typed::Of(T::Timestamptz)
            && (other == Typed::Of(T::Interval)
                || (other == Typed::Literal && *op == BinaryOperator::Plus))
    };
    match op {
        BinaryOperator::Plus => shifts(left, right, op) || shifts(right, left, op),
        BinaryOperator::Minus => shifts(left, right, op),
        _ => false,
    }
}
