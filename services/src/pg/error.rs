//! PostgreSQL errors as the simulated engine reports them: a SQLSTATE, a message shaped like
//! the real server's, and optional DETAIL and HINT lines (HINT only where an error of the
//! subset tells the user what to do instead, as DROP TABLE's 2BP01 and TRUNCATE's 0A000 do).
//!
//! Not modelled: CONTEXT, the schema and column error fields, severities other than
//! ERROR (warnings such as `COMMIT` outside a transaction are silent successes). The table
//! and constraint fields are set for constraint violations, which applications match on.
//! Invariant: every error the engine returns carries one of the [`SqlState`] codes below, and
//! its message matches the PostgreSQL 15 template byte for byte where the semantics note
//! (`postgres-semantics.md` §2.11) records one.

use std::fmt;

/// The SQLSTATE codes the simulated engine can raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SqlState {
    /// 23505 unique_violation.
    UniqueViolation,
    /// 23503 foreign_key_violation.
    ForeignKeyViolation,
    /// 23502 not_null_violation.
    NotNullViolation,
    /// 25P02 in_failed_sql_transaction.
    InFailedSqlTransaction,
    /// 25P01 no_active_sql_transaction.
    NoActiveSqlTransaction,
    /// 25001 active_sql_transaction.
    ActiveSqlTransaction,
    /// 25006 read_only_sql_transaction.
    ReadOnlySqlTransaction,
    /// 3B001 invalid_savepoint_specification.
    InvalidSavepointSpecification,
    /// 40001 serialization_failure.
    SerializationFailure,
    /// 40P01 deadlock_detected.
    DeadlockDetected,
    /// 55P03 lock_not_available.
    LockNotAvailable,
    /// 42P01 undefined_table.
    UndefinedTable,
    /// 42703 undefined_column.
    UndefinedColumn,
    /// 42883 undefined_function (also used for operators on mismatched types).
    UndefinedFunction,
    /// 42601 syntax_error.
    SyntaxError,
    /// 42P07 duplicate_table (also used for duplicate indexes).
    DuplicateTable,
    /// 42P17 invalid_object_definition.
    InvalidObjectDefinition,
    /// 42712 duplicate_alias.
    DuplicateAlias,
    /// 42P06 duplicate_schema.
    DuplicateSchema,
    /// 42701 duplicate_column.
    DuplicateColumn,
    /// 3F000 invalid_schema_name.
    InvalidSchemaName,
    /// 42P10 invalid_column_reference (no unique index matches ON CONFLICT).
    InvalidColumnReference,
    /// 42803 grouping_error (ungrouped column, aggregate where none is allowed).
    GroupingError,
    /// 42830 invalid_foreign_key (no unique constraint matches the referenced columns).
    InvalidForeignKey,
    /// 42804 datatype_mismatch.
    DatatypeMismatch,
    /// 42846 cannot_coerce: an explicit cast between types with no cast.
    CannotCoerce,
    /// 22009 invalid_time_zone_displacement_value.
    InvalidTimeZoneDisplacementValue,
    /// 2201W invalid_row_count_in_limit_clause.
    InvalidRowCountInLimitClause,
    /// 2201X invalid_row_count_in_result_offset_clause.
    InvalidRowCountInResultOffsetClause,
    /// 42702 ambiguous_column.
    AmbiguousColumn,
    /// 42P16 invalid_table_definition: two primary keys.
    InvalidTableDefinition,
    /// 42P02 undefined_parameter: `$1` where no parameter can be (an index expression).
    UndefinedParameter,
    /// 22P02 invalid_text_representation.
    InvalidTextRepresentation,
    /// 22007 invalid_datetime_format.
    InvalidDatetimeFormat,
    /// 22003 numeric_value_out_of_range.
    NumericValueOutOfRange,
    /// 22001 string_data_right_truncation.
    StringDataRightTruncation,
    /// 22023 invalid_parameter_value.
    InvalidParameterValue,
    /// 22012 division_by_zero.
    DivisionByZero,
    /// 42725 ambiguous_function (also an operator no single candidate fits).
    AmbiguousFunction,
    /// 22008 datetime_field_overflow (PostgreSQL's "interval out of range",
    /// "timestamp out of range").
    DatetimeFieldOverflow,
    /// 22015 interval_field_overflow.
    IntervalFieldOverflow,
    /// 21000 cardinality_violation.
    CardinalityViolation,
    /// 428C9 generated_always.
    GeneratedAlways,
    /// 57014 query_canceled (statement_timeout, cancel request).
    QueryCanceled,
    /// 2BP01 dependent_objects_still_exist (DROP TABLE of a table a foreign key references).
    DependentObjectsStillExist,
    /// 0A000 feature_not_supported (also: outside the simulated subset).
    FeatureNotSupported,
    /// 55000 object_not_in_prerequisite_state (a deferrable unique constraint as an ON
    /// CONFLICT arbiter).
    ObjectNotInPrerequisiteState,
    /// 42809 wrong_object_type (SET CONSTRAINTS naming a constraint that is not deferrable).
    WrongObjectType,
    /// 42704 undefined_object (SET CONSTRAINTS naming an unknown constraint).
    UndefinedObject,
    /// 55006 object_in_use (DROP TABLE / TRUNCATE of a table with deferred checks pending).
    ObjectInUse,
    /// 08P01 protocol_violation (wrong parameter count, submit while blocked).
    ProtocolViolation,
    /// 08003 connection_does_not_exist (unknown or closed session).
    ConnectionDoesNotExist,
}

impl SqlState {
    /// The five-character SQLSTATE code, as PostgreSQL sends it.
    pub fn code(self) -> &'static str {
        match self {
            SqlState::UniqueViolation => "23505",
            SqlState::ForeignKeyViolation => "23503",
            SqlState::NotNullViolation => "23502",
            SqlState::InFailedSqlTransaction => "25P02",
            SqlState::NoActiveSqlTransaction => "25P01",
            SqlState::ActiveSqlTransaction => "25001",
            SqlState::ReadOnlySqlTransaction => "25006",
            SqlState::InvalidSavepointSpecification => "3B001",
            SqlState::SerializationFailure => "40001",
            SqlState::DeadlockDetected => "40P01",
            SqlState::LockNotAvailable => "55P03",
            SqlState::UndefinedTable => "42P01",
            SqlState::UndefinedColumn => "42703",
            SqlState::UndefinedFunction => "42883",
            SqlState::SyntaxError => "42601",
            SqlState::DuplicateTable => "42P07",
            SqlState::DuplicateAlias => "42712",
            SqlState::InvalidObjectDefinition => "42P17",
            SqlState::DuplicateColumn => "42701",
            SqlState::DuplicateSchema => "42P06",
            SqlState::InvalidSchemaName => "3F000",
            SqlState::InvalidColumnReference => "42P10",
            SqlState::UndefinedParameter => "42P02",
            SqlState::InvalidTableDefinition => "42P16",
            SqlState::GroupingError => "42803",
            SqlState::InvalidForeignKey => "42830",
            SqlState::DatatypeMismatch => "42804",
            SqlState::CannotCoerce => "42846",
            SqlState::InvalidTimeZoneDisplacementValue => "22009",
            SqlState::InvalidRowCountInLimitClause => "2201W",
            SqlState::InvalidRowCountInResultOffsetClause => "2201X",
            SqlState::AmbiguousColumn => "42702",
            SqlState::InvalidTextRepresentation => "22P02",
            SqlState::InvalidDatetimeFormat => "22007",
            SqlState::NumericValueOutOfRange => "22003",
            SqlState::StringDataRightTruncation => "22001",
            SqlState::InvalidParameterValue => "22023",
            SqlState::DivisionByZero => "22012",
            SqlState::DatetimeFieldOverflow => "22008",
            SqlState::AmbiguousFunction => "42725",
            SqlState::IntervalFieldOverflow => "22015",
            SqlState::CardinalityViolation => "21000",
            SqlState::GeneratedAlways => "428C9",
            SqlState::QueryCanceled => "57014",
            SqlState::DependentObjectsStillExist => "2BP01",
            SqlState::FeatureNotSupported => "0A000",
            SqlState::ObjectNotInPrerequisiteState => "55000",
            SqlState::WrongObjectType => "42809",
            SqlState::UndefinedObject => "42704",
            SqlState::ObjectInUse => "55006",
            SqlState::ProtocolViolation => "08P01",
            SqlState::ConnectionDoesNotExist => "08003",
        }
    }
}

/// An error as a PostgreSQL client would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgError {
    /// The SQLSTATE class of the error.
    pub sqlstate: SqlState,
    /// The primary message, shaped like PostgreSQL's.
    pub message: String,
    /// The DETAIL line, when PostgreSQL sends one.
    pub detail: Option<String>,
    /// The HINT line, for the errors of the subset PostgreSQL sends one with (boxed to keep
    /// `PgError` small: every `Result` of the engine carries it).
    pub hint: Option<Box<str>>,
    /// The TABLE NAME error field (constraint violations; for FK errors the referencing table).
    pub table: Option<String>,
    /// The CONSTRAINT NAME error field, which applications match on (e.g. `users_email_key`).
    pub constraint: Option<String>,
}

impl PgError {
    /// An error without DETAIL.
    pub fn new(sqlstate: SqlState, message: impl Into<String>) -> Self {
        PgError {
            sqlstate,
            message: message.into(),
            detail: None,
            hint: None,
            table: None,
            constraint: None,
        }
    }

    /// The same error with a DETAIL line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The same error with a HINT line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into().into_boxed_str());
        self
    }

    /// The same error with the TABLE NAME and CONSTRAINT NAME fields.
    pub fn with_constraint(mut self, table: &str, constraint: &str) -> Self {
        self.table = Some(table.to_string());
        self.constraint = Some(constraint.to_string());
        self
    }

    /// The five-character SQLSTATE code.
    pub fn code(&self) -> &'static str {
        self.sqlstate.code()
    }

    /// The dedicated error for SQL outside the simulated subset; `construct` names it.
    pub fn unsupported(construct: impl fmt::Display) -> Self {
        PgError::new(
            SqlState::FeatureNotSupported,
            format!("syncsim: unsupported SQL construct: {construct}"),
        )
    }

    /// 42601 with a message in PostgreSQL's shape.
    pub fn syntax(message: impl Into<String>) -> Self {
        PgError::new(SqlState::SyntaxError, message)
    }

    /// 40001 `could not serialize access due to concurrent update`.
    pub fn concurrent_update() -> Self {
        PgError::new(
            SqlState::SerializationFailure,
            "could not serialize access due to concurrent update",
        )
    }

    /// 40001 `could not serialize access due to concurrent delete`.
    pub fn concurrent_delete() -> Self {
        PgError::new(
            SqlState::SerializationFailure,
            "could not serialize access due to concurrent delete",
        )
    }

    /// 0A000 naming the first construct present (after `prefix`); Ok when none is.
    pub fn refuse_first(prefix: &str, constructs: &[(bool, &str)]) -> Result<(), PgError> {
        match constructs.iter().find(|(present, _)| *present) {
            Some((_, construct)) => Err(PgError::unsupported(format!("{prefix}{construct}"))),
            None => Ok(()),
        }
    }

    /// 42703 for a column reference that resolves to nothing.
    pub fn undefined_column(name: &str) -> Self {
        PgError::new(
            SqlState::UndefinedColumn,
            format!("column \"{name}\" does not exist"),
        )
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (DETAIL: {detail})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (HINT: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PgError {}
