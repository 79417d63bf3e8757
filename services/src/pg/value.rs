//! SQL values, column types, the casts PostgreSQL applies implicitly, comparison, and the
//! text output format used in DETAIL lines.
//!
//! Not modelled: float types, arrays, collations other than `C` (text
//! compares bytewise, as on the `C.UTF-8` server the semantics note was verified on).
//! Parameters and quoted literals are treated like PostgreSQL's `unknown` type: a `Text` value
//! is parsed into the target type wherever a typed value is expected (a uuid column, a
//! comparison with a bigint column), so `$1` given as text fills a uuid column.
//! Invariant: NULL compares as unknown (`None`), never as equal.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::error::{PgError, SqlState};
use super::interval::{self, Interval};
use super::numeric::{Numeric, Typmod};
use super::timestamp;

/// A SQL value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `integer` (int4).
    Int4(i32),
    /// `bigint` (int8).
    Int8(i64),
    /// `text` / `varchar`, and untyped literals or parameters.
    Text(String),
    /// `character(n)` / `char(n)` (bpchar), blank-padded to its length as stored; compares
    /// and converts to text without its trailing blanks.
    Char(String),
    /// `uuid`, as the big-endian integer of its 16 bytes (so ordering matches PostgreSQL's).
    Uuid(u128),
    /// `jsonb`.
    Jsonb(serde_json::Value),
    /// `timestamptz`, microseconds since the Unix epoch (see `timestamp::SIM_EPOCH_UNIX_MICROS`).
    Timestamptz(i64),
    /// `timestamp` (without time zone), microseconds since 1970-01-01 00:00:00.
    Timestamp(i64),
    /// `date`, days since 1970-01-01.
    Date(i32),
    /// `interval`: months, days and microseconds, kept apart (see `interval.rs`).
    Interval(Interval),
    /// `numeric`: exact digits and a display scale (see `numeric.rs`).
    Numeric(Numeric),
    /// The result of a `void` function (`pg_advisory_lock` and kin): not NULL, prints as an
    /// empty string, compares with nothing.
    Void,
}

/// A column type of the supported subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnType {
    /// `int`, `int4`, `integer`, `serial`.
    Int4,
    /// `bigint`, `int8`, `bigserial`.
    Int8,
    /// `text`.
    Text,
    /// `varchar(n)` / `character varying(n)`; the length limit, if any, in characters.
    Varchar(Option<u32>),
    /// `char(n)` / `character(n)` (`char` is `char(1)`); `None` is `bpchar` with no length
    /// (no padding), the type an untyped literal meeting a char value takes.
    Char(Option<u32>),
    /// `bool`, `boolean`.
    Bool,
    /// `uuid`.
    Uuid,
    /// `jsonb`.
    Jsonb,
    /// `timestamptz`, `timestamp with time zone`.
    Timestamptz,
    /// `timestamp` / `timestamp without time zone`.
    Timestamp,
    /// `date`.
    Date,
    /// `interval` with no field restriction or precision.
    Interval,
    /// `numeric` / `decimal`, with the precision and scale of `numeric(p,s)` if given.
    Numeric(Option<Typmod>),
}

impl ColumnType {
    /// PostgreSQL's name for the type, as used in error messages.
    pub fn name(self) -> String {
        match self {
            ColumnType::Int4 => "integer".into(),
            ColumnType::Int8 => "bigint".into(),
            ColumnType::Text => "text".into(),
            ColumnType::Varchar(None) => "character varying".into(),
            ColumnType::Varchar(Some(length)) => format!("character varying({length})"),
            ColumnType::Char(None) => "character".into(),
            ColumnType::Char(Some(length)) => format!("character({length})"),
            ColumnType::Bool => "boolean".into(),
            ColumnType::Uuid => "uuid".into(),
            ColumnType::Jsonb => "jsonb".into(),
            ColumnType::Timestamptz => "timestamp with time zone".into(),
            ColumnType::Timestamp => "timestamp without time zone".into(),
            ColumnType::Date => "date".into(),
            ColumnType::Interval => "interval".into(),
            // format_type_be prints no typmod in "is of type" messages.
            ColumnType::Numeric(_) => "numeric".into(),
        }
    }

    /// The name without a length (`format_type_be`): `character varying`, `character`.
    pub fn base_name(self) -> String {
        match self {
            ColumnType::Varchar(_) => ColumnType::Varchar(None).name(),
            ColumnType::Char(_) => ColumnType::Char(None).name(),
            other => other.name(),
        }
    }
}

fn invalid_input(type_name: &str, text: &str) -> PgError {
    PgError::new(
        SqlState::InvalidTextRepresentation,
        format!("invalid input syntax for type {type_name}: \"{text}\""),
    )
}

fn out_of_range(type_name: &str) -> PgError {
    PgError::new(
        SqlState::NumericValueOutOfRange,
        format!("{type_name} out of range"),
    )
}

fn parse_integer(text: &str, type_name: &str) -> Result<i64, PgError> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid_input(type_name, text));
    }
    trimmed.parse::<i64>().map_err(|_| {
        PgError::new(
            SqlState::NumericValueOutOfRange,
            format!("value \"{text}\" is out of range for type {type_name}"),
        )
    })
}

fn parse_bool(text: &str) -> Result<bool, PgError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
        _ => Err(invalid_input("boolean", text)),
    }
}

/// Parses PostgreSQL's uuid input: 32 hex digits, optional braces, optional hyphens.
pub fn parse_uuid(text: &str) -> Result<u128, PgError> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or(trimmed);
    let digits: String = inner
        .chars()
        .filter(|character| *character != '-')
        .collect();
    if digits.len() != 32
        || !digits
            .chars()
            .all(|character| character.is_ascii_hexdigit())
    {
        return Err(invalid_input("uuid", text));
    }
    u128::from_str_radix(&digits, 16).map_err(|_| invalid_input("uuid", text))
}

/// The canonical hyphenated lowercase form of a uuid.
pub fn render_uuid(uuid: u128) -> String {
    let hex = format!("{uuid:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// PostgreSQL's jsonb text output: `", "` and `": "` separators, object keys ordered by
/// length and then bytes (jsonb's storage order).
pub fn render_jsonb(json: &serde_json::Value) -> String {
    match json {
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(render_jsonb).collect();
            format!("[{}]", parts.join(", "))
        }
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            entries.sort_by(|left, right| {
                left.0
                    .len()
                    .cmp(&right.0.len())
                    .then_with(|| left.0.cmp(right.0))
            });
            let parts: Vec<String> = entries
                .into_iter()
                .map(|(key, item)| {
                    format!(
                        "{}: {}",
                        serde_json::Value::from(key.as_str()),
                        render_jsonb(item)
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

impl Value {
    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// PostgreSQL's name for the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "unknown",
            Value::Bool(_) => "boolean",
            Value::Int4(_) => "integer",
            Value::Int8(_) => "bigint",
            Value::Text(_) => "text",
            Value::Char(_) => "character",
            Value::Uuid(_) => "uuid",
            Value::Jsonb(_) => "jsonb",
            Value::Timestamptz(_) => "timestamp with time zone",
            Value::Timestamp(_) => "timestamp without time zone",
            Value::Date(_) => "date",
            Value::Interval(_) => "interval",
            Value::Numeric(_) => "numeric",
            Value::Void => "void",
        }
    }

    /// The value in PostgreSQL's text output format (`null` for NULL, as in DETAIL lines).
    pub fn to_pg_text(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(flag) => if *flag { "t" } else { "f" }.into(),
            Value::Int4(number) => number.to_string(),
            Value::Int8(number) => number.to_string(),
            Value::Text(text) | Value::Char(text) => text.clone(),
            Value::Uuid(uuid) => render_uuid(*uuid),
            Value::Jsonb(json) => render_jsonb(json),
            Value::Timestamptz(micros) => timestamp::render(*micros),
            Value::Timestamp(micros) => timestamp::render_timestamp(*micros),
            Value::Date(days) => timestamp::render_date(*days),
            Value::Interval(interval) => interval.render(),
            Value::Numeric(number) => number.render(),
            Value::Void => String::new(),
        }
    }

    /// The value as an i64 if it is an integer (or integer text), for LIMIT and lock keys.
    pub fn as_i64(&self) -> Result<Option<i64>, PgError> {
        match self {
            Value::Null => Ok(None),
            Value::Int4(number) => Ok(Some(i64::from(*number))),
            Value::Int8(number) => Ok(Some(*number)),
            Value::Text(text) => parse_integer(text, "bigint").map(Some),
            other => Err(PgError::new(
                SqlState::DatatypeMismatch,
                format!(
                    "argument must be type bigint, not type {}",
                    other.type_name()
                ),
            )),
        }
    }

    /// Casts to `target` the way an explicit `::type` cast does: a `varchar(n)` or `char(n)`
    /// target truncates an over-length value to n characters without an error.
    pub fn cast_explicit(&self, target: ColumnType) -> Result<Value, PgError> {
        let length_max = match target {
            ColumnType::Varchar(Some(length_max)) | ColumnType::Char(Some(length_max)) => {
                length_max as usize
            }
            // An explicit cast from char(n) to a non-string type is an I/O conversion: the
            // padded text read by the target's input function (`'12'::char(2)::int`).
            ColumnType::Text | ColumnType::Char(None) | ColumnType::Varchar(None) => {
                return self.cast_to(target)
            }
            _ if matches!(self, Value::Char(_)) => {
                return Value::Text(self.to_pg_text()).cast_to(target)
            }
            // No cast between the types is 42846 for an explicit cast (transformTypeCast);
            // an assignment reports the same pair as 42804.
            _ => {
                return self.cast_to(target).map_err(|error| match error.sqlstate {
                    SqlState::DatatypeMismatch if error.message.starts_with("cannot cast type") => {
                        PgError::new(SqlState::CannotCoerce, error.message)
                    }
                    _ => error,
                })
            }
        };
        match self {
            Value::Null => Ok(Value::Null),
            other => {
                let text = other.to_text_cast();
                let truncated: String = text.chars().take(length_max).collect();
                Value::Text(truncated).cast_to(target)
            }
        }
    }

    /// Casts to `target` the way an assignment does (and an implicit cast, as an untyped
    /// literal meeting a typed value): a string longer than a `varchar(n)` or `char(n)` is
    /// 22001 unless the characters past n are all blanks, which are dropped.
    pub fn cast_to(&self, target: ColumnType) -> Result<Value, PgError> {
        match (self, target) {
            (Value::Null, _) => Ok(Value::Null),
            (Value::Text(text), ColumnType::Varchar(Some(length_max))) => {
                Ok(Value::Text(fit_length(text, length_max, &target)?))
            }
            (Value::Text(text), ColumnType::Char(Some(length_max))) => {
                let fitted = fit_length(text, length_max, &target)?;
                let padding = length_max as usize - fitted.chars().count();
                Ok(Value::Char(format!("{fitted}{}", " ".repeat(padding))))
            }
            (Value::Text(text), _) => Value::from_text(text, target),
            // bpchar without a length keeps a char value's padding.
            (Value::Char(text), ColumnType::Char(None)) => Ok(Value::Char(text.clone())),
            (_, ColumnType::Text | ColumnType::Varchar(_) | ColumnType::Char(_)) => {
                Value::Text(self.to_text_cast()).cast_to(target)
            }
            (Value::Int4(number), ColumnType::Int8) => Ok(Value::Int8(i64::from(*number))),
            (Value::Int8(number), ColumnType::Int4) => i32::try_from(*number)
                .map(Value::Int4)
                .map_err(|_| out_of_range("integer")),
            (Value::Int4(number), ColumnType::Bool) => Ok(Value::Bool(*number != 0)),
            (Value::Timestamptz(micros) | Value::Timestamp(micros), ColumnType::Date) => {
                Ok(Value::Date(timestamp::micros_to_date(*micros)?))
            }
            (Value::Timestamptz(micros), ColumnType::Timestamp) => Ok(Value::Timestamp(*micros)),
            (Value::Timestamp(micros), ColumnType::Timestamptz) => Ok(Value::Timestamptz(*micros)),
            (Value::Date(days), ColumnType::Timestamp) => {
                Ok(Value::Timestamp(timestamp::date_to_micros(*days)?))
            }
            (Value::Date(days), ColumnType::Timestamptz) => {
                Ok(Value::Timestamptz(timestamp::date_to_micros(*days)?))
            }
            (Value::Bool(flag), ColumnType::Int4) => Ok(Value::Int4(i32::from(*flag))),
            (Value::Int4(_) | Value::Int8(_), ColumnType::Numeric(typmod)) => {
                let number = self.as_i64_lossless().expect("an integer");
                Ok(Value::Numeric(fit_typmod(
                    Numeric::from_i64(number),
                    typmod,
                )?))
            }
            (Value::Numeric(number), ColumnType::Numeric(typmod)) => {
                Ok(Value::Numeric(fit_typmod(number.clone(), typmod)?))
            }
            // numeric_int4 / numeric_int8 round half away from zero.
            (Value::Numeric(number), ColumnType::Int4) => number
                .to_i64_rounded()
                .and_then(|number| i32::try_from(number).ok())
                .map(Value::Int4)
                .ok_or_else(|| out_of_range("integer")),
            (Value::Numeric(number), ColumnType::Int8) => number
                .to_i64_rounded()
                .map(Value::Int8)
                .ok_or_else(|| out_of_range("bigint")),
            (value, target) if value.type_name() == target.name() => Ok(value.clone()),
            (value, target) => Err(PgError::new(
                SqlState::DatatypeMismatch,
                format!(
                    "cannot cast type {} to {}",
                    value.type_name(),
                    target.name()
                ),
            )),
        }
    }

    /// The text a `::text` cast produces (booleans become `true`/`false`, a char value loses
    /// its trailing blanks).
    pub fn to_text_cast(&self) -> String {
        match self {
            Value::Bool(flag) => flag.to_string(),
            Value::Char(text) => text.trim_end_matches(' ').to_string(),
            other => other.to_pg_text(),
        }
    }

    fn from_text(text: &str, target: ColumnType) -> Result<Value, PgError> {
        Ok(match target {
            ColumnType::Int4 => {
                let number = parse_integer(text, "integer")?;
                Value::Int4(i32::try_from(number).map_err(|_| {
                    PgError::new(
                        SqlState::NumericValueOutOfRange,
                        format!("value \"{text}\" is out of range for type integer"),
                    )
                })?)
            }
            ColumnType::Int8 => Value::Int8(parse_integer(text, "bigint")?),
            ColumnType::Text | ColumnType::Varchar(_) => Value::Text(text.to_string()),
            ColumnType::Char(_) => Value::Char(text.to_string()),
            ColumnType::Bool => Value::Bool(parse_bool(text)?),
            ColumnType::Uuid => Value::Uuid(parse_uuid(text)?),
            ColumnType::Jsonb => {
                Value::Jsonb(serde_json::from_str(text).map_err(|_| invalid_input("json", text))?)
            }
            ColumnType::Timestamptz => Value::Timestamptz(timestamp::parse(text)?),
            ColumnType::Timestamp => Value::Timestamp(timestamp::parse_timestamp(text)?),
            ColumnType::Date => Value::Date(timestamp::parse_date(text)?),
            ColumnType::Interval => Value::Interval(interval::parse(text)?),
            ColumnType::Numeric(typmod) => {
                Value::Numeric(fit_typmod(Numeric::parse(text)?, typmod)?)
            }
        })
    }

    /// The column type a typed value belongs to; `None` for NULL and untyped text.
    pub(super) fn typed(&self) -> Option<ColumnType> {
        match self {
            Value::Null | Value::Text(_) | Value::Void => None,
            Value::Bool(_) => Some(ColumnType::Bool),
            Value::Char(_) => Some(ColumnType::Char(None)),
            Value::Int4(_) => Some(ColumnType::Int4),
            Value::Int8(_) => Some(ColumnType::Int8),
            Value::Uuid(_) => Some(ColumnType::Uuid),
            Value::Jsonb(_) => Some(ColumnType::Jsonb),
            Value::Timestamptz(_) => Some(ColumnType::Timestamptz),
            Value::Timestamp(_) => Some(ColumnType::Timestamp),
            Value::Date(_) => Some(ColumnType::Date),
            Value::Interval(_) => Some(ColumnType::Interval),
            Value::Numeric(_) => Some(ColumnType::Numeric(None)),
        }
    }

    /// Three-valued comparison: `None` when either side is NULL. Text meets a typed value by
    /// being parsed into that type, as PostgreSQL resolves an `unknown` literal.
    pub fn compare(&self, other: &Value) -> Result<Option<Ordering>, PgError> {
        if self.is_null() || other.is_null() {
            return Ok(None);
        }
        let ordering = match (self, other) {
            (Value::Void, _) | (_, Value::Void) => {
                return Err(PgError::new(
                    SqlState::UndefinedFunction,
                    format!(
                        "operator does not exist: {} = {}",
                        self.type_name(),
                        other.type_name()
                    ),
                ))
            }
            (Value::Text(left), Value::Text(right)) => left.as_bytes().cmp(right.as_bytes()),
            // bpchar comparison ignores trailing blanks (bpcharcmp).
            (Value::Char(left), Value::Char(right)) => left
                .trim_end_matches(' ')
                .as_bytes()
                .cmp(right.trim_end_matches(' ').as_bytes()),
            (Value::Text(_), typed) => {
                let target = typed.typed().expect("non-null non-text value is typed");
                return self.cast_to(target)?.compare(other);
            }
            (_, Value::Text(_)) => {
                return other
                    .compare(self)
                    .map(|order| order.map(Ordering::reverse))
            }
            (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
            (Value::Uuid(left), Value::Uuid(right)) => left.cmp(right),
            (Value::Timestamptz(left), Value::Timestamptz(right)) => left.cmp(right),
            (Value::Date(left), Value::Date(right)) => left.cmp(right),
            // An integer meeting a numeric is promoted to numeric (cmp_numerics).
            (Value::Numeric(_), Value::Int4(_) | Value::Int8(_) | Value::Numeric(_))
            | (Value::Int4(_) | Value::Int8(_), Value::Numeric(_)) => {
                as_numeric(self).cmp_value(&as_numeric(other))
            }
            // Across the three date/time types by instant: a date is its midnight, a
            // timestamp without time zone is read in the session's zone, UTC.
            (left, right) if left.instant().is_some() && right.instant().is_some() => {
                left.instant_order()?.cmp(&right.instant_order()?)
            }
            // By span: '1 mon' = '30 days' (interval_cmp_value).
            (Value::Interval(left), Value::Interval(right)) => {
                left.span_micros().cmp(&right.span_micros())
            }
            (Value::Jsonb(left), Value::Jsonb(right)) => {
                if left == right {
                    Ordering::Equal
                } else {
                    render_jsonb(left).cmp(&render_jsonb(right))
                }
            }
            (left, right) => match (left.as_i64_lossless(), right.as_i64_lossless()) {
                (Some(left), Some(right)) => left.cmp(&right),
                _ => {
                    return Err(PgError::new(
                        SqlState::UndefinedFunction,
                        format!(
                            "operator does not exist: {} = {}",
                            left.type_name(),
                            right.type_name()
                        ),
                    ))
                }
            },
        };
        Ok(Some(ordering))
    }

    /// The instant of a date/time value in Unix microseconds; `None` for other types.
    fn instant(&self) -> Option<Result<i64, PgError>> {
        match self {
            Value::Timestamptz(micros) | Value::Timestamp(micros) => Some(Ok(*micros)),
            Value::Date(days) => Some(timestamp::date_to_micros(*days)),
            _ => None,
        }
    }

    /// A date/time value's place on the time line for cross-type comparison: a date past
    /// the timestamp range is later than every timestamp (date_cmp_timestamp_internal's
    /// overflow case), not an error.
    fn instant_order(&self) -> Result<(bool, i64), PgError> {
        match (self, self.instant()) {
            (Value::Date(_), Some(Err(_))) => Ok((true, 0)),
            (_, Some(instant)) => Ok((false, instant?)),
            (other, None) => unreachable!("not a date/time value: {other:?}"),
        }
    }

    fn as_i64_lossless(&self) -> Option<i64> {
        match self {
            Value::Int4(number) => Some(i64::from(*number)),
            Value::Int8(number) => Some(*number),
            _ => None,
        }
    }

    /// Whether two non-NULL values are equal for a unique or foreign key (NULLs are distinct).
    pub fn key_equal(&self, other: &Value) -> Result<bool, PgError> {
        Ok(self.compare(other)? == Some(Ordering::Equal))
    }
}

/// A numeric held to a column's or cast's `numeric(p,s)`, if it has one.
fn fit_typmod(number: Numeric, typmod: Option<Typmod>) -> Result<Numeric, PgError> {
    match typmod {
        None => Ok(number),
        Some(typmod) => number.apply_typmod(typmod),
    }
}

/// An integer or numeric value as a numeric.
pub(super) fn as_numeric(value: &Value) -> Numeric {
    match value {
        Value::Numeric(number) => number.clone(),
        Value::Int4(number) => Numeric::from_i64(i64::from(*number)),
        Value::Int8(number) => Numeric::from_i64(*number),
        other => unreachable!("not an integer or numeric: {other:?}"),
    }
}

/// An integer, a numeric or an untyped literal (read by numeric's input) as a numeric.
pub(super) fn to_numeric(value: &Value) -> Result<Numeric, PgError> {
    match value {
        Value::Text(_) => match value.cast_to(ColumnType::Numeric(None))? {
            Value::Numeric(number) => Ok(number),
            other => unreachable!("a cast to numeric gave {other:?}"),
        },
        other => Ok(as_numeric(other)),
    }
}

/// An interval or an untyped literal (read by interval's input) as an interval.
pub(super) fn to_interval(value: &Value) -> Result<Interval, PgError> {
    match value.cast_to(ColumnType::Interval)? {
        Value::Interval(interval) => Ok(interval),
        other => unreachable!("a cast to interval gave {other:?}"),
    }
}

/// `text` fitted to a length limit as an assignment does: characters past `length_max` may
/// only be blanks, which are dropped; anything else is 22001.
fn fit_length(text: &str, length_max: u32, target: &ColumnType) -> Result<String, PgError> {
    let length_max = length_max as usize;
    if text.chars().count() <= length_max {
        return Ok(text.to_string());
    }
    if text
        .chars()
        .skip(length_max)
        .any(|character| character != ' ')
    {
        return Err(PgError::new(
            SqlState::StringDataRightTruncation,
            format!("value too long for type {}", target.name()),
        ));
    }
    Ok(text.chars().take(length_max).collect())
}

/// Total order for ORDER BY: NULLs sort after everything (PostgreSQL's ASC default).
pub fn order_for_sort(left: &Value, right: &Value) -> Result<Ordering, PgError> {
    Ok(match (left.is_null(), right.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => left.compare(right)?.unwrap_or(Ordering::Equal),
    })
}
