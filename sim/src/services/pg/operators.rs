//! Operators on values: integer arithmetic with PostgreSQL's overflow and division errors,
//! timestamptz and interval arithmetic, and jsonb field access (`->`, `->>`).
//!
//! An untyped literal meets a typed operand the way PostgreSQL resolves `unknown`: it takes
//! the type of the only operator that fits (`now() + '1 hour'` reads an interval,
//! `now() - '1 hour'` a timestamptz, which fails as on the server).
//! Not modelled: numeric/float arithmetic (an interval factor is a float8 only when given as
//! text), jsonb path operators (`#>`, `@>`, `?`).
//! Invariant: integer results keep PostgreSQL's type (int4 op int4 is int4 and overflows as
//! `integer out of range`; anything with an int8 is int8).

use sqlparser::ast::BinaryOperator;

use super::error::{PgError, SqlState};
use super::interval::Interval;
use super::timestamp;
use super::value::{render_jsonb, ColumnType, Value};

pub fn json_field(left: &Value, right: &Value, as_text: bool) -> Result<Value, PgError> {
    let json = match left {
        Value::Null => return Ok(Value::Null),
        Value::Jsonb(json) => json.clone(),
        Value::Text(text) => serde_json::from_str(text).map_err(|_| {
            PgError::new(
                SqlState::InvalidTextRepresentation,
                "invalid input syntax for type json",
            )
        })?,
        other => {
            return Err(PgError::new(
                SqlState::UndefinedFunction,
                format!(
                    "operator does not exist: {} -> {}",
                    other.type_name(),
                    right.type_name()
                ),
            ))
        }
    };
    let field = match right {
        Value::Null => return Ok(Value::Null),
        Value::Int4(index) => usize::try_from(*index)
            .ok()
            .and_then(|index| json.get(index))
            .cloned(),
        Value::Text(key) => json.get(key.as_str()).cloned(),
        other => {
            return Err(PgError::new(
                SqlState::UndefinedFunction,
                format!("operator does not exist: jsonb -> {}", other.type_name()),
            ))
        }
    };
    Ok(match (field, as_text) {
        (None | Some(serde_json::Value::Null), true) | (None, false) => Value::Null,
        (Some(serde_json::Value::String(text)), true) => Value::Text(text),
        (Some(other), true) => Value::Text(render_jsonb(&other)),
        (Some(other), false) => Value::Jsonb(other),
    })
}

/// `+ - * / %` over integers (and untyped text read as one), and the date/time arithmetic
/// of [`datetime_arithmetic`]; jsonb's `-` is 0A000; any other pairing is PostgreSQL's 42883
/// "operator does not exist".
pub fn arithmetic(op: &BinaryOperator, left: &Value, right: &Value) -> Result<Value, PgError> {
    let numeric = |value: &Value| {
        matches!(
            value,
            Value::Null | Value::Int4(_) | Value::Int8(_) | Value::Text(_)
        )
    };
    if let Some(result) = datetime_arithmetic(op, left, right)? {
        return Ok(result);
    }
    // jsonb - text / jsonb - integer delete a key or element; `1 - jsonb` does not exist.
    if matches!(left, Value::Jsonb(_)) && *op == BinaryOperator::Minus {
        return Err(PgError::unsupported(
            "jsonb - (deleting a key or an element)",
        ));
    }
    if !numeric(left) || !numeric(right) {
        return Err(PgError::new(
            SqlState::UndefinedFunction,
            format!(
                "operator does not exist: {} {op} {}",
                left.type_name(),
                right.type_name()
            ),
        ));
    }
    if left.is_null() || right.is_null() {
        return Ok(Value::Null);
    }
    let wide = matches!(left, Value::Int8(_)) || matches!(right, Value::Int8(_));
    let (Some(a), Some(b)) = (left.as_i64()?, right.as_i64()?) else {
        return Ok(Value::Null);
    };
    let result = match op {
        BinaryOperator::Plus => a.checked_add(b),
        BinaryOperator::Minus => a.checked_sub(b),
        BinaryOperator::Multiply => a.checked_mul(b),
        BinaryOperator::Divide | BinaryOperator::Modulo if b == 0 => {
            return Err(PgError::new(SqlState::DivisionByZero, "division by zero"))
        }
        BinaryOperator::Divide => a.checked_div(b),
        _ => a.checked_rem(b),
    };
    let result = result.ok_or_else(bigint_out_of_range)?;
    if wide {
        Ok(Value::Int8(result))
    } else {
        i32::try_from(result)
            .map(Value::Int4)
            .map_err(|_| integer_out_of_range())
    }
}

pub fn integer_out_of_range() -> PgError {
    PgError::new(SqlState::NumericValueOutOfRange, "integer out of range")
}

pub fn bigint_out_of_range() -> PgError {
    PgError::new(SqlState::NumericValueOutOfRange, "bigint out of range")
}

fn as_interval(value: &Value) -> Result<Interval, PgError> {
    match value.cast_to(ColumnType::Interval)? {
        Value::Interval(interval) => Ok(interval),
        other => unreachable!("a cast to interval gave {other:?}"),
    }
}

fn as_timestamp(value: &Value) -> Result<i64, PgError> {
    match value.cast_to(ColumnType::Timestamptz)? {
        Value::Timestamptz(micros) => Ok(micros),
        other => unreachable!("a cast to timestamptz gave {other:?}"),
    }
}

/// An interval factor: `interval * float8`, so an integer or a text number (float8 input).
fn as_factor(value: &Value) -> Result<f64, PgError> {
    match value {
        Value::Int4(number) => Ok(f64::from(*number)),
        Value::Int8(number) => Ok(*number as f64),
        Value::Text(text) => text.trim().parse().map_err(|_| {
            PgError::new(
                SqlState::InvalidTextRepresentation,
                format!("invalid input syntax for type double precision: \"{text}\""),
            )
        }),
        other => unreachable!("not a factor: {other:?}"),
    }
}

/// timestamptz ± interval, timestamptz - timestamptz, interval ± interval, interval × or ÷ a
/// number; `None` when neither operand is a date/time value (or the pairing has no operator).
fn datetime_arithmetic(
    op: &BinaryOperator,
    left: &Value,
    right: &Value,
) -> Result<Option<Value>, PgError> {
    use BinaryOperator::{Divide, Minus, Multiply, Plus};
    use Value::{Int4, Int8, Null, Text, Timestamptz};
    let additive = matches!(op, Plus | Minus);
    let number = |value: &Value| matches!(value, Int4(_) | Int8(_) | Text(_));
    let interval = |value: &Value| matches!(value, Value::Interval(_) | Text(_));
    let result = match (left, right) {
        (Timestamptz(_), Null) | (Null, Timestamptz(_)) if additive => Null,
        (Value::Interval(_), Null) | (Null, Value::Interval(_))
            if additive || matches!(op, Multiply | Divide) =>
        {
            Null
        }
        // `-` with a timestamptz on either side reads an untyped operand as a timestamptz.
        (Timestamptz(_), Timestamptz(_) | Text(_)) | (Text(_), Timestamptz(_)) if *op == Minus => {
            Value::Interval(timestamp::difference(
                as_timestamp(left)?,
                as_timestamp(right)?,
            )?)
        }
        (Timestamptz(micros), other) if additive && interval(other) => {
            let mut span = as_interval(other)?;
            if *op == Minus {
                span = span.checked_neg()?;
            }
            Timestamptz(timestamp::plus_interval(*micros, span)?)
        }
        (other, Timestamptz(micros)) if *op == Plus && interval(other) => {
            Timestamptz(timestamp::plus_interval(*micros, as_interval(other)?)?)
        }
        (Value::Interval(_), other) | (other, Value::Interval(_))
            if additive && interval(other) =>
        {
            let (left, right) = (as_interval(left)?, as_interval(right)?);
            Value::Interval(if *op == Plus {
                left.checked_add(right)?
            } else {
                left.checked_sub(right)?
            })
        }
        (Value::Interval(span), factor) if *op == Multiply && number(factor) => {
            Value::Interval(span.mul(as_factor(factor)?)?)
        }
        (factor, Value::Interval(span)) if *op == Multiply && number(factor) => {
            Value::Interval(span.mul(as_factor(factor)?)?)
        }
        (Value::Interval(span), divisor) if *op == Divide && number(divisor) => {
            Value::Interval(span.div(as_factor(divisor)?)?)
        }
        _ => return Ok(None),
    };
    Ok(Some(result))
}
