//! Scalar expression evaluation over sqlparser's AST: column references, literals, `$n`
//! parameters, comparison and boolean operators with SQL three-valued logic, arithmetic,
//! casts, IN, BETWEEN, IS [NOT] NULL / DISTINCT FROM, and jsonb `->` / `->>`.
//!
//! Uncorrelated subqueries are delegated to `subquery.rs`.
//! Not modelled: correlated subqueries, CASE, LIKE, arrays, float arithmetic, operator
//! precedence quirks beyond what sqlparser resolves. Each unsupported node is a 0A000 naming
//! it. Functions are in `functions.rs`.
//! Invariant: evaluation never reads rows other than the bindings in scope; volatile work goes
//! through `StmtCtx::volatile` so a re-run after a block returns the same values.

use std::cmp::Ordering;

use sqlparser::ast::{self, BinaryOperator, Expr, UnaryOperator};

use super::catalog::fold_ident;
use super::error::{PgError, SqlState};
use super::exec::{Exec, StmtCtx};
use super::functions::eval_function;
use super::numeric::Numeric;
use super::operators::{arithmetic, bigint_out_of_range, integer_out_of_range, json_field};
use super::subquery::{in_subquery, scalar_subquery, subquery_rows};
use super::types::cast_type;
use super::value::Value;

/// A named row in scope: a table (by alias or name) or `excluded`.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Name used to qualify columns (alias if given, else table name).
    pub name: String,
    /// Column names.
    pub columns: std::sync::Arc<[String]>,
    /// Values, parallel to `columns`.
    pub values: Vec<Value>,
}

impl Binding {
    /// The position of `column`; 42702 when two columns carry the name (a WITH query or a
    /// subquery can have them, as `SELECT 1 AS a, 2 AS a`: PostgreSQL's scanRTEForColumn).
    pub fn column_position(&self, column: &str) -> Result<Option<usize>, PgError> {
        let mut positions = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, name)| *name == column)
            .map(|(position, _)| position);
        match (positions.next(), positions.next()) {
            (Some(_), Some(_)) => Err(ambiguous_column(column)),
            (found, _) => Ok(found),
        }
    }
}

/// 42702 for a column name that resolves two ways.
pub fn ambiguous_column(column: &str) -> PgError {
    PgError::new(
        SqlState::AmbiguousColumn,
        format!("column reference \"{column}\" is ambiguous"),
    )
}

fn resolve_column(scope: &[Binding], column: &str) -> Result<Value, PgError> {
    let mut found = None;
    for binding in scope.iter().filter(|binding| binding.name != "excluded") {
        if let Some(column_index) = binding.column_position(column)? {
            if found.is_some() {
                return Err(ambiguous_column(column));
            }
            found = Some(binding.values[column_index].clone());
        }
    }
    found.ok_or_else(|| missing_column(column, PgError::undefined_column(column)))
}

/// A column no binding has: a system column PostgreSQL would read is refused as unsupported,
/// anything else is `error`.
pub(super) fn missing_column(column: &str, error: PgError) -> PgError {
    if super::ddl::SYSTEM_COLUMNS.contains(&column) {
        return PgError::unsupported(format!("system column {column}"));
    }
    error
}

fn resolve_qualified(scope: &[Binding], parts: &[ast::Ident]) -> Result<Value, PgError> {
    let [qualifier, column] = parts else {
        return Err(PgError::unsupported(format!(
            "qualified name {}",
            ast::ObjectName::from(parts.to_vec())
        )));
    };
    let (qualifier, column) = (fold_ident(qualifier), fold_ident(column));
    let binding = scope
        .iter()
        .find(|binding| binding.name == qualifier)
        .ok_or_else(|| {
            PgError::new(
                SqlState::UndefinedTable,
                format!("missing FROM-clause entry for table \"{qualifier}\""),
            )
        })?;
    let column_index = binding.column_position(&column)?.ok_or_else(|| {
        let error = PgError::new(
            SqlState::UndefinedColumn,
            format!("column {qualifier}.{column} does not exist"),
        );
        missing_column(&column, error)
    })?;
    Ok(binding.values[column_index].clone())
}

fn literal(value: &ast::Value, ctx: &StmtCtx) -> Result<Value, PgError> {
    match value {
        // An integer that fits int4 is an integer, one that fits int8 a bigint; anything
        // else (a point, an exponent, more digits) is a numeric constant (make_const).
        ast::Value::Number(text, _) => match text.parse::<i64>() {
            Ok(number) => Ok(i32::try_from(number)
                .map(Value::Int4)
                .unwrap_or(Value::Int8(number))),
            Err(_) => Ok(Value::Numeric(Numeric::parse(text)?)),
        },
        ast::Value::SingleQuotedString(text) | ast::Value::EscapedStringLiteral(text) => {
            Ok(Value::Text(text.clone()))
        }
        ast::Value::Boolean(flag) => Ok(Value::Bool(*flag)),
        ast::Value::Null => Ok(Value::Null),
        ast::Value::Placeholder(name) => {
            let position: usize = name
                .strip_prefix('$')
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(|| PgError::unsupported(format!("placeholder {name}")))?;
            ctx.params
                .get(position.wrapping_sub(1))
                .cloned()
                .ok_or_else(|| {
                    PgError::new(
                        SqlState::ProtocolViolation,
                        format!(
                            "bind message supplies {} parameters, but prepared statement \"\" \
                             requires {position}",
                            ctx.params.len()
                        ),
                    )
                })
        }
        other => Err(PgError::unsupported(format!("literal {other}"))),
    }
}

/// Evaluates an expression against the bindings in scope.
/// `type 'text'` (`DATE '2025-07-16'`); the ODBC form `{d '...'}` is PostgreSQL's syntax
/// error.
fn typed_string(typed: &ast::TypedString) -> Result<Value, PgError> {
    if typed.uses_odbc_syntax {
        return Err(PgError::syntax("syntax error at or near \"{\""));
    }
    let text = match &typed.value.value {
        ast::Value::SingleQuotedString(text) => text.clone(),
        other => return Err(PgError::unsupported(format!("typed literal {other}"))),
    };
    Value::Text(text).cast_explicit(cast_type(&typed.data_type)?)
}

/// `INTERVAL '1 day'`; a field qualifier (`INTERVAL '1' DAY`) is refused, it changes how
/// PostgreSQL reads the text.
fn interval_literal(interval: &ast::Interval) -> Exec<Value> {
    let qualified = interval.leading_field.is_some()
        || interval.last_field.is_some()
        || interval.leading_precision.is_some()
        || interval.fractional_seconds_precision.is_some();
    if qualified {
        return Err(PgError::unsupported(format!("interval field qualifier ({interval})")).into());
    }
    // PostgreSQL's grammar has `INTERVAL Sconst` only: `INTERVAL 1` is its syntax error.
    let text = match interval.value.as_ref() {
        Expr::Value(value) => match &value.value {
            ast::Value::SingleQuotedString(text) | ast::Value::EscapedStringLiteral(text) => text,
            other => {
                return Err(PgError::syntax(format!("syntax error at or near \"{other}\"")).into())
            }
        },
        other => {
            return Err(PgError::syntax(format!("syntax error at or near \"{other}\"")).into())
        }
    };
    Ok(Value::Text(text.clone()).cast_to(super::value::ColumnType::Interval)?)
}

/// `CAST(x AS t)` and `x::t` only: TRY_CAST, SAFE_CAST and CAST ... FORMAT are other
/// dialects', and PostgreSQL 15.18's syntax errors.
fn check_cast_form(kind: &ast::CastKind, format: Option<&ast::CastFormat>) -> Result<(), PgError> {
    match (kind, format) {
        (ast::CastKind::Cast | ast::CastKind::DoubleColon, None) => Ok(()),
        (ast::CastKind::Cast | ast::CastKind::DoubleColon, Some(_)) => {
            Err(PgError::syntax("syntax error at or near \"FORMAT\""))
        }
        (ast::CastKind::TryCast | ast::CastKind::SafeCast, _) => {
            Err(PgError::syntax("syntax error at or near \"AS\""))
        }
    }
}

pub fn eval(ctx: &mut StmtCtx, scope: &[Binding], expr: &Expr) -> Exec<Value> {
    Ok(match expr {
        Expr::Identifier(ident) => resolve_column(scope, &fold_ident(ident))?,
        Expr::CompoundIdentifier(parts) => resolve_qualified(scope, parts)?,
        Expr::Value(value) => literal(&value.value, ctx)?,
        Expr::Nested(inner) => eval(ctx, scope, inner)?,
        Expr::BinaryOp { left, op, right } => eval_binary(ctx, scope, left, op, right)?,
        Expr::UnaryOp { op, expr } => match negative_number(op, expr) {
            Some(number) => literal(&number, ctx)?,
            None => eval_unary(op, eval(ctx, scope, expr)?)?,
        },
        Expr::IsNull(inner) => Value::Bool(eval(ctx, scope, inner)?.is_null()),
        Expr::IsNotNull(inner) => Value::Bool(!eval(ctx, scope, inner)?.is_null()),
        Expr::IsTrue(inner) => Value::Bool(eval(ctx, scope, inner)? == Value::Bool(true)),
        Expr::IsFalse(inner) => Value::Bool(eval(ctx, scope, inner)? == Value::Bool(false)),
        Expr::IsDistinctFrom(left, right) => Value::Bool(!not_distinct(ctx, scope, left, right)?),
        Expr::IsNotDistinctFrom(left, right) => Value::Bool(not_distinct(ctx, scope, left, right)?),
        Expr::InList {
            expr,
            list,
            negated,
        } => eval_in_list(ctx, scope, expr, list, *negated)?,
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let value = eval(ctx, scope, expr)?;
            let above = compare_op(&value, &eval(ctx, scope, low)?, |order| {
                order != Ordering::Less
            })?;
            let below = compare_op(&value, &eval(ctx, scope, high)?, |order| {
                order != Ordering::Greater
            })?;
            let inside = and(above, below);
            if *negated {
                eval_unary(&UnaryOperator::Not, inside)?
            } else {
                inside
            }
        }
        // Every field named: a cast form PostgreSQL lacks is its syntax error, never a plain cast.
        Expr::Cast {
            kind,
            expr,
            data_type,
            format,
        } => {
            check_cast_form(kind, format.as_ref())?;
            eval(ctx, scope, expr)?.cast_explicit(cast_type(data_type)?)?
        }
        Expr::TypedString(typed) => typed_string(typed)?,
        Expr::Interval(interval) => interval_literal(interval)?,
        Expr::Function(function) => eval_function(ctx, scope, function)?,
        Expr::Subquery(query) => scalar_subquery(ctx, query)?,
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => {
            let value = eval(ctx, scope, expr)?;
            in_subquery(ctx, &value, subquery, *negated)?
        }
        Expr::Exists { subquery, negated } => {
            Value::Bool(subquery_rows(ctx, subquery)?.is_empty() == *negated)
        }
        Expr::Case { .. } => return Err(PgError::unsupported("CASE expression").into()),
        other => return Err(PgError::unsupported(format!("expression {other}")).into()),
    })
}

/// Evaluates a WHERE/ON condition: only TRUE passes.
pub fn eval_condition(
    ctx: &mut StmtCtx,
    scope: &[Binding],
    expr: &Expr,
    clause: &str,
) -> Exec<bool> {
    match eval(ctx, scope, expr)? {
        Value::Bool(flag) => Ok(flag),
        Value::Null => Ok(false),
        Value::Text(text) => {
            Ok(Value::Text(text).cast_to(super::value::ColumnType::Bool)? == Value::Bool(true))
        }
        other => Err(PgError::new(
            SqlState::DatatypeMismatch,
            format!(
                "argument of {clause} must be type boolean, not type {}",
                other.type_name()
            ),
        )
        .into()),
    }
}

fn not_distinct(ctx: &mut StmtCtx, scope: &[Binding], left: &Expr, right: &Expr) -> Exec<bool> {
    let (left, right) = (eval(ctx, scope, left)?, eval(ctx, scope, right)?);
    Ok(match (left.is_null(), right.is_null()) {
        (true, true) => true,
        (false, false) => left.compare(&right)? == Some(Ordering::Equal),
        _ => false,
    })
}

fn eval_in_list(
    ctx: &mut StmtCtx,
    scope: &[Binding],
    expr: &Expr,
    list: &[Expr],
    negated: bool,
) -> Exec<Value> {
    let value = eval(ctx, scope, expr)?;
    let mut result = Value::Bool(false);
    for item in list {
        let equal = compare_op(&value, &eval(ctx, scope, item)?, |order| {
            order == Ordering::Equal
        })?;
        result = or(result, equal);
    }
    if negated {
        Ok(eval_unary(&UnaryOperator::Not, result)?)
    } else {
        Ok(result)
    }
}

fn and(left: Value, right: Value) -> Value {
    match (left, right) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
        _ => Value::Null,
    }
}

fn or(left: Value, right: Value) -> Value {
    match (left, right) {
        (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
        (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
        _ => Value::Null,
    }
}

fn compare_op(
    left: &Value,
    right: &Value,
    accept: impl Fn(Ordering) -> bool,
) -> Result<Value, PgError> {
    Ok(match left.compare(right)? {
        None => Value::Null,
        Some(order) => Value::Bool(accept(order)),
    })
}

/// A minus sign on a number literal is part of the constant (gram.y's doNegate), so
/// `-2147483648` is an integer and `-9223372036854775808` a bigint.
fn negative_number(op: &UnaryOperator, operand: &Expr) -> Option<ast::Value> {
    match (op, operand) {
        (
            UnaryOperator::Minus,
            Expr::Value(ast::ValueWithSpan {
                value: ast::Value::Number(text, long),
                ..
            }),
        ) => Some(ast::Value::Number(format!("-{text}"), *long)),
        _ => None,
    }
}

fn eval_unary(op: &UnaryOperator, value: Value) -> Result<Value, PgError> {
    match (op, value) {
        (_, Value::Null) => Ok(Value::Null),
        (UnaryOperator::Not, Value::Bool(flag)) => Ok(Value::Bool(!flag)),
        (UnaryOperator::Minus, Value::Int4(number)) => Ok(Value::Int4(
            number.checked_neg().ok_or_else(integer_out_of_range)?,
        )),
        (UnaryOperator::Minus, Value::Int8(number)) => Ok(Value::Int8(
            number.checked_neg().ok_or_else(bigint_out_of_range)?,
        )),
        (UnaryOperator::Minus, Value::Interval(interval)) => {
            Ok(Value::Interval(interval.checked_neg()?))
        }
        (UnaryOperator::Minus, Value::Numeric(number)) => Ok(Value::Numeric(number.neg())),
        (UnaryOperator::Plus, value @ (Value::Int4(_) | Value::Int8(_) | Value::Numeric(_))) => {
            Ok(value)
        }
        (op, value) => Err(PgError::new(
            SqlState::UndefinedFunction,
            format!("operator does not exist: {op} {}", value.type_name()),
        )),
    }
}

fn eval_binary(
    ctx: &mut StmtCtx,
    scope: &[Binding],
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
) -> Exec<Value> {
    let left = eval(ctx, scope, left)?;
    let right = eval(ctx, scope, right)?;
    Ok(match op {
        BinaryOperator::And => and(as_bool(left)?, as_bool(right)?),
        BinaryOperator::Or => or(as_bool(left)?, as_bool(right)?),
        BinaryOperator::Eq => compare_op(&left, &right, |order| order == Ordering::Equal)?,
        BinaryOperator::NotEq => compare_op(&left, &right, |order| order != Ordering::Equal)?,
        BinaryOperator::Lt => compare_op(&left, &right, |order| order == Ordering::Less)?,
        BinaryOperator::LtEq => compare_op(&left, &right, |order| order != Ordering::Greater)?,
        BinaryOperator::Gt => compare_op(&left, &right, |order| order == Ordering::Greater)?,
        BinaryOperator::GtEq => compare_op(&left, &right, |order| order != Ordering::Less)?,
        BinaryOperator::StringConcat => match (&left, &right) {
            // jsonb || jsonb merges documents; never a text concatenation.
            (Value::Jsonb(_), _) | (_, Value::Jsonb(_)) => {
                return Err(PgError::unsupported("jsonb || (concatenation)").into())
            }
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            _ => Value::Text(format!("{}{}", text_of(&left), text_of(&right))),
        },
        BinaryOperator::Arrow | BinaryOperator::LongArrow => {
            json_field(&left, &right, *op == BinaryOperator::LongArrow)?
        }
        BinaryOperator::Plus
        | BinaryOperator::Minus
        | BinaryOperator::Multiply
        | BinaryOperator::Divide
        | BinaryOperator::Modulo => arithmetic(op, &left, &right)?,
        other => return Err(PgError::unsupported(format!("operator {other}")).into()),
    })
}

/// An operand of `||` as text: `true`/`false` for booleans, a char value without its
/// trailing blanks (bpchar || text is text || text).
fn text_of(value: &Value) -> String {
    value.to_text_cast()
}

fn as_bool(value: Value) -> Result<Value, PgError> {
    match value {
        Value::Null | Value::Bool(_) => Ok(value),
        Value::Text(_) => value.cast_to(super::value::ColumnType::Bool),
        other => Err(PgError::new(
            SqlState::DatatypeMismatch,
            format!(
                "argument of AND/OR must be type boolean, not type {}",
                other.type_name()
            ),
        )),
    }
}
