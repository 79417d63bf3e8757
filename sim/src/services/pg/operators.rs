//! Operators on values: integer arithmetic with PostgreSQL's overflow and division errors,
//! and jsonb field access (`->`, `->>`).
//!
//! Not modelled: numeric/float arithmetic, jsonb path operators (`#>`, `@>`, `?`).
//! Invariant: integer results keep PostgreSQL's type (int4 op int4 is int4 and overflows as
//! `integer out of range`; anything with an int8 is int8).

use sqlparser::ast::BinaryOperator;

use super::error::{PgError, SqlState};
use super::value::{render_jsonb, Value};

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

/// `+ - * / %` over integers (and untyped text read as one). A timestamptz operand is 0A000
/// (its arithmetic yields or takes an `interval`, which is not simulated), so is jsonb's `-`;
/// any other type is PostgreSQL's 42883 "operator does not exist".
pub fn arithmetic(op: &BinaryOperator, left: &Value, right: &Value) -> Result<Value, PgError> {
    let numeric = |value: &Value| {
        matches!(
            value,
            Value::Null | Value::Int4(_) | Value::Int8(_) | Value::Text(_)
        )
    };
    // timestamptz ± interval (an untyped literal may be one) and timestamptz - timestamptz
    // need the interval type; any other timestamptz arithmetic does not exist.
    let interval_like = |value: &Value| matches!(value, Value::Text(_) | Value::Null);
    let timestamp_interval = match (left, right) {
        (Value::Timestamptz(_), Value::Timestamptz(_)) => *op == BinaryOperator::Minus,
        (Value::Timestamptz(_), other) => {
            matches!(op, BinaryOperator::Plus | BinaryOperator::Minus) && interval_like(other)
        }
        (other, Value::Timestamptz(_)) => *op == BinaryOperator::Plus && interval_like(other),
        _ => false,
    };
    if timestamp_interval {
        return Err(PgError::unsupported(format!(
            "timestamp with time zone arithmetic ({} {op} {}; the interval type is not \
             simulated)",
            left.type_name(),
            right.type_name()
        )));
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
