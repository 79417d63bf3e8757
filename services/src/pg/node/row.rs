//! Rows as a model reads them (`row.get::<i64>("id")`), and plain Rust values as parameters
//! (`&[id.into(), "a@x".into()]`).
//!
//! `get` panics on a missing column or a type mismatch, as `tokio_postgres::Row::get` does: in
//! a model that is a bug, and the harness reports the panic with its seed. Not modelled: column
//! lookup by index of a duplicated name beyond the first, binary formats.

use std::sync::Arc;

use super::super::{Row, Value};

/// One result row with its column names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgRow {
    columns: Arc<[String]>,
    values: Row,
}

impl PgRow {
    pub(crate) fn new(columns: Arc<[String]>, values: Row) -> Self {
        PgRow { columns, values }
    }

    /// The value of `column` as `T`. Panics when the column is missing or the type differs.
    pub fn get<T: FromValue>(&self, column: &str) -> T {
        self.try_get(column)
            .unwrap_or_else(|problem| panic!("PgRow::get({column:?}): {problem}"))
    }

    /// The value of `column` as `T`, or why it cannot be read so.
    pub fn try_get<T: FromValue>(&self, column: &str) -> Result<T, String> {
        let value = self
            .value(column)
            .ok_or_else(|| format!("no column {column:?} among {:?}", self.columns))?;
        T::from_value(value)
    }

    /// The raw value of `column` (the first column of that name).
    pub fn value(&self, column: &str) -> Option<&Value> {
        let index = self.columns.iter().position(|name| name == column)?;
        self.values.get(index)
    }

    /// The column names, in output order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in output order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }
}

/// A Rust type a SQL value converts to.
pub trait FromValue: Sized {
    /// Converts `value`, or says why it cannot.
    fn from_value(value: &Value) -> Result<Self, String>;
}

fn mismatch<T>(value: &Value, wanted: &str) -> Result<T, String> {
    match value {
        Value::Null => Err(format!("NULL is not a {wanted}; read it as an Option")),
        other => Err(format!("a {} value is not a {wanted}", other.type_name())),
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int8(number) => Ok(*number),
            Value::Int4(number) => Ok(i64::from(*number)),
            other => mismatch(other, "bigint"),
        }
    }
}

impl FromValue for i32 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int4(number) => Ok(*number),
            other => mismatch(other, "integer"),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(flag) => Ok(*flag),
            other => mismatch(other, "boolean"),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.clone()),
            other => mismatch(other, "text"),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Jsonb(json) => Ok(json.clone()),
            other => mismatch(other, "jsonb"),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int8(number)
    }
}

impl From<i32> for Value {
    fn from(number: i32) -> Self {
        Value::Int4(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        Value::Jsonb(json)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}
