//! SQL type names to the engine's column types, and ON DELETE actions to FK actions.
//!
//! Not modelled: float, time, timetz, arrays, enums, domains; each is a
//! 0A000 naming the type.
//! Invariant: `serial`/`bigserial` are only valid as column types, never as cast targets.

use sqlparser::ast::{self, DataType};

use super::catalog::ForeignKeyAction;
use super::error::{PgError, SqlState};
use super::numeric::Typmod;
use super::value::ColumnType;

/// A column type plus the serial-ness that `serial`/`bigserial` imply.
pub fn map_type(data_type: &DataType) -> Result<(ColumnType, bool), PgError> {
    let plain = |column_type| Ok((column_type, false));
    match data_type {
        // `int(11)` is MySQL's display width; PostgreSQL's grammar has no modifier there.
        DataType::Int(Some(_))
        | DataType::Int4(Some(_))
        | DataType::Integer(Some(_))
        | DataType::BigInt(Some(_))
        | DataType::Int8(Some(_)) => Err(PgError::syntax("syntax error at or near \"(\"")),
        DataType::Int(_) | DataType::Int4(_) | DataType::Integer(_) => plain(ColumnType::Int4),
        DataType::BigInt(_) | DataType::Int8(_) => plain(ColumnType::Int8),
        DataType::Text => plain(ColumnType::Text),
        DataType::Varchar(length) | DataType::CharacterVarying(length) => {
            let length_max = match length {
                None => None,
                Some(length) => Some(type_length("varchar", length)?),
            };
            plain(ColumnType::Varchar(length_max))
        }
        DataType::Char(length) | DataType::Character(length) => {
            let length = match length {
                None => 1,
                Some(length) => type_length("char", length)?,
            };
            plain(ColumnType::Char(Some(length)))
        }
        DataType::Bool | DataType::Boolean => plain(ColumnType::Bool),
        DataType::Uuid => plain(ColumnType::Uuid),
        DataType::JSONB => plain(ColumnType::Jsonb),
        DataType::Timestamp(None, ast::TimezoneInfo::Tz | ast::TimezoneInfo::WithTimeZone) => {
            plain(ColumnType::Timestamptz)
        }
        DataType::Timestamp(None, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone) => {
            plain(ColumnType::Timestamp)
        }
        DataType::Date => plain(ColumnType::Date),
        DataType::Timestamp(Some(_), _) => Err(PgError::unsupported(format!(
            "column type {data_type} (a fractional-seconds precision rounds values)"
        ))),
        DataType::Interval {
            fields: None,
            precision: None,
        } => plain(ColumnType::Interval),
        DataType::Interval { .. } => Err(PgError::unsupported(format!(
            "column type {data_type} (an interval field restriction or precision)"
        ))),
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => {
            plain(ColumnType::Numeric(numeric_typmod(info)?))
        }
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            match name.to_string().to_lowercase().as_str() {
                "serial" | "serial4" => Ok((ColumnType::Int4, true)),
                "bigserial" | "serial8" => Ok((ColumnType::Int8, true)),
                "timestamptz" => plain(ColumnType::Timestamptz),
                "int4" => plain(ColumnType::Int4),
                "int8" => plain(ColumnType::Int8),
                "bpchar" => plain(ColumnType::Char(None)),
                other => Err(PgError::unsupported(format!("column type {other}"))),
            }
        }
        other => Err(PgError::unsupported(format!("column type {other}"))),
    }
}

/// PostgreSQL's internal name of a type (`int4` for `integer`), as a cast names its output
/// column; a type outside the subset keeps its spelling (evaluating the cast refuses it).
pub fn internal_type_name(data_type: &DataType) -> String {
    match map_type(data_type) {
        Ok((column_type, _)) => match column_type {
            ColumnType::Int4 => "int4",
            ColumnType::Int8 => "int8",
            ColumnType::Text => "text",
            ColumnType::Varchar(_) => "varchar",
            ColumnType::Char(_) => "bpchar",
            ColumnType::Bool => "bool",
            ColumnType::Uuid => "uuid",
            ColumnType::Jsonb => "jsonb",
            ColumnType::Timestamptz => "timestamptz",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
            ColumnType::Interval => "interval",
            ColumnType::Numeric(_) => "numeric",
        }
        .to_string(),
        Err(_) => data_type.to_string().to_lowercase(),
    }
}

/// PostgreSQL's largest `char(n)` / `varchar(n)` length (`MaxAttrSize`, 10 MB).
const LENGTH_MAX: u64 = 10_485_760;

/// The n of `char(n)` or `varchar(n)`: 22023 when 0 or above 10485760, as PostgreSQL.
fn type_length(type_name: &str, length: &ast::CharacterLength) -> Result<u32, PgError> {
    let invalid = |message: String| PgError::new(SqlState::InvalidParameterValue, message);
    match length {
        ast::CharacterLength::IntegerLength { length: 0, .. } => Err(invalid(format!(
            "length for type {type_name} must be at least 1"
        ))),
        ast::CharacterLength::IntegerLength { length, unit: None } if *length > LENGTH_MAX => {
            Err(invalid(format!(
                "length for type {type_name} cannot exceed {LENGTH_MAX}"
            )))
        }
        ast::CharacterLength::IntegerLength { length, unit: None } => {
            Ok(u32::try_from(*length).expect("at most LENGTH_MAX"))
        }
        other => Err(PgError::unsupported(format!("{type_name} length {other}"))),
    }
}

/// The `(p,s)` of `numeric(p,s)`; `numeric(p)` is scale 0, plain `numeric` unlimited.
fn numeric_typmod(info: &ast::ExactNumberInfo) -> Result<Option<Typmod>, PgError> {
    match info {
        ast::ExactNumberInfo::None => Ok(None),
        ast::ExactNumberInfo::Precision(precision) => Typmod::new(*precision, 0).map(Some),
        ast::ExactNumberInfo::PrecisionAndScale(precision, scale) => {
            Typmod::new(*precision, *scale).map(Some)
        }
    }
}

/// Maps a cast target type; serial types are not valid there.
pub fn cast_type(data_type: &DataType) -> Result<ColumnType, PgError> {
    match map_type(data_type)? {
        (column_type, false) => Ok(column_type),
        (_, true) => Err(PgError::unsupported(format!("cast to {data_type}"))),
    }
}

pub fn map_action(action: Option<ast::ReferentialAction>) -> Result<ForeignKeyAction, PgError> {
    match action {
        None | Some(ast::ReferentialAction::NoAction) => Ok(ForeignKeyAction::NoAction),
        Some(ast::ReferentialAction::Restrict) => Ok(ForeignKeyAction::Restrict),
        Some(ast::ReferentialAction::Cascade) => Ok(ForeignKeyAction::Cascade),
        Some(ast::ReferentialAction::SetNull) => Ok(ForeignKeyAction::SetNull),
        Some(other) => Err(PgError::unsupported(format!("ON DELETE {other}"))),
    }
}
