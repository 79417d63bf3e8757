//! Operators on values: integer arithmetic with PostgreSQL's overflow and division errors,
//! timestamptz and interval arithmetic, and jsonb field access (`->`, `->>`).
//!
//! An untyped literal meets a typed operand the way PostgreSQL resolves `unknown`: it takes
//! the type of the only operator that fits (`now() + '1 hour'` reads an interval,
//! `now() - '1 hour'` a timestamptz, which fails as on the server).
//! Numeric arithmetic is `numeric.rs`'s, an integer operand promoted to numeric.
//! Not modelled: float8 arithmetic (an interval factor is the one float8 operand, given as an
//! integer, a numeric or text), jsonb path operators (`#>`, `@>`, `?`).
//! Invariant: integer results keep PostgreSQL's type (int4 op int4 is int4 and overflows as
//! `integer out of range`; anything with an int8 is int8).

use sqlparser::ast::BinaryOperator;

use super::error::{PgError, SqlState};
use super::interval::Interval;
use super::numeric::Numeric;
use super::timestamp;
use super::value::{render_jsonb, to_interval, to_numeric, ColumnType, Value};

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
        // A negative index counts from the end of an array (jsonb_array_element: -1 is the
        // last element); past either end, or on a non-array, there is no element.
        Value::Int4(index) => {
            let length = json.as_array().map_or(0, Vec::len);
            let position = match usize::try_from(*index) {
                Ok(position) => Some(position),
                Err(_) => usize::try_from(index.unsigned_abs())
                    .ok()
                    .and_then(|back| length.checked_sub(back)),
            };
            position.and_then(|position| json.get(position)).cloned()
        }
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
    if matches!(left, Value::Numeric(_)) || matches!(right, Value::Numeric(_)) {
        return numeric_arithmetic(op, left, right);
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

/// `+ - * / %` with a numeric operand: an integer is promoted to numeric, an untyped
/// literal read as one (so `1.5 + '2'` is 3.5 and `1.5 + 'x'` 22P02).
fn numeric_arithmetic(op: &BinaryOperator, left: &Value, right: &Value) -> Result<Value, PgError> {
    let operand = |value: &Value| -> Result<Option<Numeric>, PgError> {
        Ok(match value {
            Value::Null => None,
            Value::Text(_) | Value::Int4(_) | Value::Int8(_) | Value::Numeric(_) => {
                Some(to_numeric(value)?)
            }
            _ => {
                return Err(PgError::new(
                    SqlState::UndefinedFunction,
                    format!(
                        "operator does not exist: {} {op} {}",
                        unknown_name(left),
                        unknown_name(right)
                    ),
                ))
            }
        })
    };
    let (Some(a), Some(b)) = (operand(left)?, operand(right)?) else {
        return Ok(Value::Null);
    };
    let result = match op {
        BinaryOperator::Plus => a.checked_add(&b)?,
        BinaryOperator::Minus => a.checked_sub(&b)?,
        BinaryOperator::Multiply => a.checked_mul(&b)?,
        BinaryOperator::Divide => a.checked_div(&b)?,
        BinaryOperator::Modulo => a.checked_rem(&b)?,
        other => {
            return Err(PgError::new(
                SqlState::UndefinedFunction,
                format!("operator does not exist: numeric {other} numeric"),
            ))
        }
    };
    Ok(Value::Numeric(result))
}

pub fn integer_out_of_range() -> PgError {
    PgError::new(SqlState::NumericValueOutOfRange, "integer out of range")
}

pub fn bigint_out_of_range() -> PgError {
    PgError::new(SqlState::NumericValueOutOfRange, "bigint out of range")
}

/// The instant of a date/time operand in Unix microseconds; an untyped literal is read as
/// the type of the other operand (`ts - '2026-01-01'`).
fn as_instant(value: &Value, other: &Value) -> Result<i64, PgError> {
    let value = match (value, other.typed()) {
        (Value::Text(_), Some(column_type)) => value.cast_to(column_type)?,
        _ => value.clone(),
    };
    match value {
        Value::Timestamptz(micros) | Value::Timestamp(micros) => Ok(micros),
        Value::Date(days) => timestamp::date_to_micros(days),
        other => unreachable!("not a date/time value: {other:?}"),
    }
}

/// `date|timestamp|timestamptz ± interval`: a date is shifted from its midnight and becomes
/// a timestamp, as `date + interval` is in PostgreSQL.
fn shifted(value: &Value, span: Interval) -> Result<Value, PgError> {
    Ok(match value {
        Value::Timestamptz(micros) => Value::Timestamptz(timestamp::plus_interval(*micros, span)?),
        Value::Timestamp(micros) => Value::Timestamp(timestamp::plus_interval(*micros, span)?),
        Value::Date(days) => Value::Timestamp(timestamp::plus_interval(
            timestamp::date_to_micros(*days)?,
            span,
        )?),
        other => unreachable!("not a date/time value: {other:?}"),
    })
}

/// An interval factor: `interval * float8`, so an integer, a numeric or a text number
/// (float8 input).
fn as_factor(value: &Value) -> Result<f64, PgError> {
    match value {
        Value::Int4(number) => Ok(f64::from(*number)),
        Value::Int8(number) => Ok(*number as f64),
        // numeric meets interval * float8 through the implicit cast numeric -> float8.
        Value::Numeric(number) => number.to_f64(),
        Value::Text(text) => text.trim().parse().map_err(|_| {
            PgError::new(
                SqlState::InvalidTextRepresentation,
                format!("invalid input syntax for type double precision: \"{text}\""),
            )
        }),
        other => unreachable!("not a factor: {other:?}"),
    }
}

/// The date/time operators: those of [`date_arithmetic`] and [`interval_arithmetic`],
/// `date|timestamp|timestamptz ± interval`, and the difference of two instants (an
/// interval). `None` when no operand is a date/time value or the pairing has no such
/// operator.
fn datetime_arithmetic(
    op: &BinaryOperator,
    left: &Value,
    right: &Value,
) -> Result<Option<Value>, PgError> {
    use BinaryOperator::{Divide, Minus, Multiply, Plus};
    use Value::{Date, Null, Text};
    let additive = matches!(op, Plus | Minus);
    let datetime =
        |value: &Value| matches!(value, Value::Timestamptz(_) | Value::Timestamp(_) | Date(_));
    let interval = |value: &Value| matches!(value, Value::Interval(_) | Text(_));
    if let Some(result) = date_arithmetic(op, left, right)? {
        return Ok(Some(result));
    }
    if let Some(result) = interval_arithmetic(op, left, right)? {
        return Ok(Some(result));
    }
    let result = match (left, right) {
        (value, Null) | (Null, value) if additive && (datetime(value) || interval(value)) => Null,
        (Value::Interval(_), Null) | (Null, Value::Interval(_))
            if matches!(op, Multiply | Divide) =>
        {
            Null
        }
        (first, second)
            if *op == Minus
                && ((datetime(first) && (datetime(second) || matches!(second, Text(_))))
                    || (matches!(first, Text(_)) && datetime(second))) =>
        {
            Value::Interval(timestamp::difference(
                as_instant(first, second)?,
                as_instant(second, first)?,
            )?)
        }
        (value, other) if additive && datetime(value) && interval(other) => {
            let mut span = to_interval(other)?;
            if *op == Minus {
                span = span.checked_neg()?;
            }
            shifted(value, span)?
        }
        (other, value) if *op == Plus && datetime(value) && interval(other) => {
            shifted(value, to_interval(other)?)?
        }
        _ => return Ok(None),
    };
    Ok(Some(result))
}

/// `date ± integer`, `integer + date`, `date - date` (integer days), and 42725 for
/// `date + unknown` (both `date + integer` and `date + interval` fit).
fn date_arithmetic(
    op: &BinaryOperator,
    left: &Value,
    right: &Value,
) -> Result<Option<Value>, PgError> {
    use BinaryOperator::{Minus, Plus};
    use Value::{Date, Int4, Text};
    let additive = matches!(op, Plus | Minus);
    // date ± integer exists for int4 only (date_pli); date + bigint is 42883.
    let integer = |value: &Value| matches!(value, Int4(_));
    let result = match (left, right) {
        (Date(days), count) if additive && integer(count) => {
            let count = count.as_i64()?.expect("an integer is not NULL");
            let count = if *op == Minus { -count } else { count };
            Date(timestamp::date_plus_days(*days, count)?)
        }
        (count, Date(days)) if *op == Plus && integer(count) => Date(timestamp::date_plus_days(
            *days,
            count.as_i64()?.expect("an integer is not NULL"),
        )?),
        (Date(_), Date(_) | Text(_)) | (Text(_), Date(_)) if *op == Minus => {
            // In days (date_mi), so dates past the timestamp range (year 294276) subtract.
            let days = |value: &Value| -> Result<i64, PgError> {
                match value.cast_to(ColumnType::Date)? {
                    Date(days) => Ok(i64::from(days)),
                    other => unreachable!("a cast to date gave {other:?}"),
                }
            };
            let difference = days(left)? - days(right)?;
            Int4(i32::try_from(difference).map_err(|_| integer_out_of_range())?)
        }
        // date + unknown: date + integer and date + interval both fit.
        (Date(_), Text(_)) | (Text(_), Date(_)) if *op == Plus => {
            return Err(PgError::new(
                SqlState::AmbiguousFunction,
                format!(
                    "operator is not unique: {} + {}",
                    unknown_name(left),
                    unknown_name(right)
                ),
            ))
        }
        _ => return Ok(None),
    };
    Ok(Some(result))
}

/// `interval ± interval` (an untyped operand read as an interval), `interval * number`,
/// `number * interval`, `interval / number`.
fn interval_arithmetic(
    op: &BinaryOperator,
    left: &Value,
    right: &Value,
) -> Result<Option<Value>, PgError> {
    use BinaryOperator::{Divide, Minus, Multiply, Plus};
    use Value::{Int4, Int8, Text};
    let additive = matches!(op, Plus | Minus);
    let number = |value: &Value| matches!(value, Int4(_) | Int8(_) | Value::Numeric(_) | Text(_));
    let interval = |value: &Value| matches!(value, Value::Interval(_) | Text(_));
    let result = match (left, right) {
        (Value::Interval(_), other) | (other, Value::Interval(_))
            if additive && interval(other) =>
        {
            let (left, right) = (to_interval(left)?, to_interval(right)?);
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

/// A value's type name in an operator error, an untyped literal being `unknown`.
fn unknown_name(value: &Value) -> &'static str {
    match value {
        Value::Text(_) => "unknown",
        other => other.type_name(),
    }
}
