//! Built-in functions of the subset: now()/CURRENT_TIMESTAMP (transaction start),
//! LOCALTIMESTAMP and CURRENT_DATE (the same instant, the session's zone being UTC),
//! gen_random_uuid() (from the caller's entropy), hashtext(), nextval(), coalesce(),
//! lower()/upper(), justify_hours()/justify_days()/justify_interval(), round()/trunc()/abs()
//! over numeric (and abs over integers), and the advisory lock family.
//!
//! Not modelled: statement_timestamp()/clock_timestamp() as distinct clocks (both return the
//! transaction start), shared advisory locks, window functions. Aggregates are computed by
//! `group.rs`; one that reaches evaluation is misplaced (42803).
//! Invariant: every function that changes state or draws randomness runs inside
//! `StmtCtx::volatile`, so a statement re-run after a block does not repeat it.

use sqlparser::ast::{self, Function, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::catalog::{fold_ident, truncate_identifier};
use super::error::{PgError, SqlState};
use super::exec::{Exec, Interrupt, StmtCtx, Wait};
use super::expr::{eval, Binding};
use super::hash::hashtext;
use super::locks::AdvisoryKey;
use super::value::{as_numeric, to_interval, to_numeric, ColumnType, Value};

/// The lowercase unqualified name of a function call (`pg_catalog.now` → `now`).
pub fn function_name(function: &Function) -> String {
    function
        .name
        .0
        .last()
        .map(|part| match part {
            ast::ObjectNamePart::Identifier(ident) => fold_ident(ident),
            ast::ObjectNamePart::Function(_) => part.to_string(),
        })
        .unwrap_or_default()
}

/// The plain argument expressions of a call; `*` is returned as `None`.
/// Every field of sqlparser's `Function` is named (no `..`): a call form of another dialect
/// is PostgreSQL's syntax error, a PostgreSQL form the engine lacks is 0A000.
pub fn function_args(function: &Function) -> Result<Vec<Option<&ast::Expr>>, PgError> {
    let Function {
        name: _,
        uses_odbc_syntax,
        parameters,
        args,
        within_group,
        filter,
        null_treatment,
        over,
    } = function;
    // The tokens PostgreSQL 15.18 reports these forms at.
    if *uses_odbc_syntax {
        return Err(PgError::syntax("syntax error at or near \"{\""));
    }
    if null_treatment.is_some() {
        return Err(PgError::syntax("syntax error at or near \"NULLS\""));
    }
    if !matches!(parameters, FunctionArguments::None) {
        return Err(PgError::syntax("syntax error at or near \"(\""));
    }
    if over.is_some() {
        return Err(PgError::unsupported("WINDOW function"));
    }
    if filter.is_some() || !within_group.is_empty() {
        return Err(PgError::unsupported("aggregate FILTER / WITHIN GROUP"));
    }
    match args {
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::Subquery(_) => {
            Err(PgError::unsupported("subquery as function argument"))
        }
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(PgError::unsupported(
                    "DISTINCT / ORDER BY in function arguments",
                ));
            }
            list.args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Ok(Some(expr)),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(None),
                    other => Err(PgError::unsupported(format!("function argument {other}"))),
                })
                .collect()
        }
    }
}

fn arg_values(ctx: &mut StmtCtx, scope: &[Binding], function: &Function) -> Exec<Vec<Value>> {
    let mut values = Vec::new();
    for arg in function_args(function)? {
        let expr =
            arg.ok_or_else(|| PgError::unsupported(format!("* argument to {}", function.name)))?;
        values.push(eval(ctx, scope, expr)?);
    }
    Ok(values)
}

fn arity(name: &str, values: &[Value], expected: usize) -> Result<(), PgError> {
    if values.len() != expected {
        return Err(PgError::new(
            SqlState::UndefinedFunction,
            format!(
                "function {name} with {} arguments does not exist",
                values.len()
            ),
        ));
    }
    Ok(())
}

/// Version-4 uuid from two entropy draws.
fn random_uuid(ctx: &mut StmtCtx) -> Value {
    let high = u128::from(ctx.entropy.next_u64());
    let low = u128::from(ctx.entropy.next_u64());
    let bits = (high << 64) | low;
    let versioned = (bits & !(0xF << 76)) | (0x4 << 76);
    Value::Uuid((versioned & !(0x3 << 62)) | (0x2 << 62))
}

/// Whether PostgreSQL marks the function IMMUTABLE, among those `eval_function` runs (an
/// index expression or predicate may use only these).
pub fn is_immutable(name: &str) -> bool {
    matches!(
        name,
        "lower"
            | "upper"
            | "coalesce"
            | "hashtext"
            | "justify_hours"
            | "justify_days"
            | "justify_interval"
            | "round"
            | "trunc"
            | "abs"
    )
}

/// Whether `eval_function` runs the function and PostgreSQL marks it STABLE or VOLATILE.
pub fn is_stable_or_volatile(name: &str) -> bool {
    matches!(
        name,
        "now"
            | "current_timestamp"
            | "transaction_timestamp"
            | "statement_timestamp"
            | "clock_timestamp"
            | "localtimestamp"
            | "current_date"
            | "gen_random_uuid"
            | "uuid_generate_v4"
            | "nextval"
            | "pg_notify"
    ) || name.starts_with("pg_advisory")
        || name.starts_with("pg_try_advisory")
}

/// Evaluates a function call.
pub fn eval_function(ctx: &mut StmtCtx, scope: &[Binding], function: &Function) -> Exec<Value> {
    let name = function_name(function);
    if function.over.is_some() {
        return Err(PgError::unsupported("WINDOW function").into());
    }
    if name.starts_with("pg_advisory") || name.starts_with("pg_try_advisory") {
        let values = arg_values(ctx, scope, function)?;
        return advisory(ctx, &name, &values);
    }
    match name.as_str() {
        "now"
        | "current_timestamp"
        | "transaction_timestamp"
        | "statement_timestamp"
        | "clock_timestamp" => Ok(Value::Timestamptz(ctx.txn_start_unix_micros)),
        // The session's zone is UTC, so local time is the same instant.
        "localtimestamp" => Ok(Value::Timestamp(ctx.txn_start_unix_micros)),
        "current_date" => Ok(Value::Date(super::timestamp::micros_to_date(
            ctx.txn_start_unix_micros,
        )?)),
        "gen_random_uuid" | "uuid_generate_v4" => ctx.volatile(|ctx| Ok(random_uuid(ctx))),
        // A grouped SELECT replaces its aggregate calls before evaluation (`group.rs`), so a
        // call reaching here sits where PostgreSQL forbids one: RETURNING, UPDATE SET, VALUES.
        // PostgreSQL names the clause; the SQLSTATE is the same.
        "count" | "sum" | "min" | "max" | "avg" => Err(PgError::new(
            SqlState::GroupingError,
            format!("aggregate functions are not allowed here ({name}())"),
        )
        .into()),
        _ => {
            let values = arg_values(ctx, scope, function)?;
            scalar(ctx, &name, values)
        }
    }
}

fn scalar(ctx: &mut StmtCtx, name: &str, values: Vec<Value>) -> Exec<Value> {
    match name {
        "hashtext" => {
            arity(name, &values, 1)?;
            Ok(match &values[0] {
                Value::Null => Value::Null,
                Value::Char(text) => Value::Int4(hashtext(text.trim_end_matches(' '))),
                other => Value::Int4(hashtext(&other.to_pg_text())),
            })
        }
        "nextval" => {
            arity(name, &values, 1)?;
            let written = values[0].to_pg_text();
            let sequence = sequence_name(&written);
            if ctx.db.catalog.sequence_position(&sequence).is_none() {
                return Err(PgError::new(
                    SqlState::UndefinedTable,
                    format!("relation \"{written}\" does not exist"),
                )
                .into());
            }
            if ctx.read_only {
                return Err(super::txn_modes::read_only_error("nextval()").into());
            }
            ctx.volatile(|ctx| Ok(Value::Int8(ctx.db.catalog.nextval(&sequence)?)))
        }
        "pg_notify" => {
            arity(name, &values, 2)?;
            let (channel, payload) = (values[0].to_pg_text(), values[1].to_pg_text());
            ctx.volatile(|ctx| {
                super::notify::queue_notify(ctx, channel, payload)?;
                Ok(Value::Void)
            })
        }
        "coalesce" => Ok(values
            .into_iter()
            .find(|value| !value.is_null())
            .unwrap_or(Value::Null)),
        "lower" | "upper" => {
            arity(name, &values, 1)?;
            Ok(match &values[0] {
                Value::Null => Value::Null,
                Value::Text(text) if name == "lower" => Value::Text(text.to_lowercase()),
                Value::Text(text) => Value::Text(text.to_uppercase()),
                // A char argument is cast to text, losing its trailing blanks.
                Value::Char(text) if name == "lower" => {
                    Value::Text(text.trim_end_matches(' ').to_lowercase())
                }
                Value::Char(text) => Value::Text(text.trim_end_matches(' ').to_uppercase()),
                other => {
                    return Err(PgError::new(
                        SqlState::UndefinedFunction,
                        format!("function {name}({}) does not exist", other.type_name()),
                    )
                    .into())
                }
            })
        }
        "justify_hours" | "justify_days" | "justify_interval" => {
            arity(name, &values, 1)?;
            justify(name, &values[0])
        }
        "round" | "trunc" => Ok(round(name, &values)?),
        "abs" => {
            arity(name, &values, 1)?;
            Ok(abs(&values[0])?)
        }
        other => Err(PgError::unsupported(format!("function {other}()")).into()),
    }
}

/// `numeric_round`/`numeric_trunc` clamp the scale argument to this range: the storage
/// limits (NUMERIC_DSCALE_MAX after the point, one digit past NUMERIC_WEIGHT_MAX before).
const ROUND_SCALE_RANGE: (i64, i64) = (-131_073, 16_383);

/// `round(numeric[, integer])` and `trunc(numeric[, integer])`: half away from zero, or
/// towards zero. An integer first argument with a scale is promoted to numeric (the only
/// two-argument form); alone, an integer or untyped argument resolves to the float8 form.
fn round(name: &str, values: &[Value]) -> Result<Value, PgError> {
    let no_function = || {
        let types: Vec<&str> = values.iter().map(Value::type_name).collect();
        PgError::new(
            SqlState::UndefinedFunction,
            format!("function {name}({}) does not exist", types.join(", ")),
        )
    };
    let scale = match values {
        [_] => Some(0),
        [_, Value::Null] => None,
        [_, scale @ (Value::Int4(_) | Value::Text(_))] => {
            let scale = scale.cast_to(ColumnType::Int4)?.as_i64()?;
            scale.map(|scale| scale.clamp(ROUND_SCALE_RANGE.0, ROUND_SCALE_RANGE.1))
        }
        _ => return Err(no_function()),
    };
    let number = match (&values[0], values.len()) {
        (Value::Null, _) => return Ok(Value::Null),
        (Value::Numeric(number), _) => number.clone(),
        (Value::Int4(_) | Value::Int8(_), 2) => as_numeric(&values[0]),
        (Value::Int4(_) | Value::Int8(_) | Value::Text(_), 1) => {
            return Err(PgError::unsupported(format!(
                "{name}({}) (it resolves to the double precision form, which is not simulated)",
                values[0].type_name()
            )))
        }
        (Value::Text(_), 2) => to_numeric(&values[0])?,
        _ => return Err(no_function()),
    };
    let Some(scale) = scale else {
        return Ok(Value::Null);
    };
    let result = if name == "round" {
        number.round(scale)
    } else {
        number.trunc(scale)
    };
    // Rounding up can add a digit past the storage limit (22003, as PostgreSQL).
    Ok(Value::Numeric(result.within_limits()?))
}

/// `abs` of an integer (keeping its type, 22003 for the most negative) or a numeric.
fn abs(value: &Value) -> Result<Value, PgError> {
    Ok(match value {
        Value::Null => Value::Null,
        Value::Int4(number) => Value::Int4(
            number
                .checked_abs()
                .ok_or_else(super::operators::integer_out_of_range)?,
        ),
        Value::Int8(number) => Value::Int8(
            number
                .checked_abs()
                .ok_or_else(super::operators::bigint_out_of_range)?,
        ),
        Value::Numeric(number) => Value::Numeric(number.abs()),
        Value::Text(_) => {
            return Err(PgError::unsupported(
                "abs(unknown) (it resolves to the double precision form, which is not simulated)",
            ))
        }
        other => {
            return Err(PgError::new(
                SqlState::UndefinedFunction,
                format!("function abs({}) does not exist", other.type_name()),
            ))
        }
    })
}

/// `justify_hours`/`justify_days`/`justify_interval(interval)`; untyped text is read as one.
fn justify(name: &str, value: &Value) -> Exec<Value> {
    let interval = match value {
        Value::Null => return Ok(Value::Null),
        Value::Interval(_) | Value::Text(_) => to_interval(value)?,
        other => {
            return Err(PgError::new(
                SqlState::UndefinedFunction,
                format!("function {name}({}) does not exist", other.type_name()),
            )
            .into())
        }
    };
    Ok(Value::Interval(match name {
        "justify_hours" => interval.justify_hours()?,
        "justify_days" => interval.justify_days()?,
        _ => interval.justify_interval()?,
    }))
}

fn advisory_key(name: &str, values: &[Value]) -> Result<AdvisoryKey, PgError> {
    match values {
        [single] => Ok(AdvisoryKey::Single(
            single.as_i64()?.ok_or_else(|| null_key(name))?,
        )),
        [first, second] => {
            let narrow = |value: &Value| -> Result<i32, PgError> {
                let wide = value.as_i64()?.ok_or_else(|| null_key(name))?;
                i32::try_from(wide).map_err(|_| {
                    PgError::new(SqlState::NumericValueOutOfRange, "integer out of range")
                })
            };
            Ok(AdvisoryKey::Pair(narrow(first)?, narrow(second)?))
        }
        _ => Err(PgError::new(
            SqlState::UndefinedFunction,
            format!(
                "function {name} with {} arguments does not exist",
                values.len()
            ),
        )),
    }
}

fn null_key(name: &str) -> PgError {
    PgError::unsupported(format!("NULL key to {name}"))
}

fn advisory(ctx: &mut StmtCtx, name: &str, values: &[Value]) -> Exec<Value> {
    if name == "pg_advisory_unlock_all" {
        let owner = ctx.session.0;
        return ctx.volatile(|ctx| {
            ctx.db.advisory.release_owner(owner, true);
            Ok(Value::Void)
        });
    }
    if name.ends_with("_shared") {
        return Err(PgError::unsupported(format!("shared advisory lock {name}()")).into());
    }
    let key = advisory_key(name, values)?;
    let owner = ctx.session.0;
    let xid = if name.contains("xact") {
        Some(ctx.xid())
    } else {
        None
    };
    match name {
        "pg_advisory_lock" | "pg_advisory_xact_lock" => ctx.volatile(|ctx| {
            if !ctx.db.advisory.blockers(key, owner).is_empty() {
                return Err(Interrupt::Block(Wait::Advisory(key)));
            }
            ctx.db.advisory.acquire(key, owner, xid, ctx.cid());
            Ok(Value::Void)
        }),
        "pg_try_advisory_lock" | "pg_try_advisory_xact_lock" => ctx.volatile(|ctx| {
            if !ctx.db.advisory.blockers(key, owner).is_empty() {
                return Ok(Value::Bool(false));
            }
            ctx.db.advisory.acquire(key, owner, xid, ctx.cid());
            Ok(Value::Bool(true))
        }),
        "pg_advisory_unlock" => {
            ctx.volatile(|ctx| Ok(Value::Bool(ctx.db.advisory.unlock_session(key, owner))))
        }
        other => Err(PgError::unsupported(format!("function {other}()")).into()),
    }
}

/// The qualified sequence a regclass text names, as regclassin reads it: `[schema.]name`,
/// each part folded to lower case unless double-quoted (a dot inside quotes is part of the
/// name) and cut to 63 bytes, the schema `public` (the search path) when none is given.
fn sequence_name(text: &str) -> String {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut().expect("one part").push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            other if quoted => parts.last_mut().expect("one part").push(other),
            other => parts
                .last_mut()
                .expect("one part")
                .extend(other.to_lowercase()),
        }
    }
    let parts: Vec<&str> = parts.iter().map(|part| truncate_identifier(part)).collect();
    match &parts[..] {
        [name] => format!("public.{name}"),
        [schema, name] => format!("{schema}.{name}"),
        _ => parts.join("."),
    }
}
