//! `SET [SESSION | LOCAL] lock_timeout | statement_timeout | deadlock_timeout = …`,
//! `SET [SESSION | LOCAL] xmlbinary = base64 | hex` (read only by row triggers: Heroku
//! Connect marks its own writes with `hex`), `SET TimeZone = 'UTC'` (the only zone: others are
//! 0A000) and `SET TRANSACTION ISOLATION LEVEL … | READ ONLY | READ WRITE` (`txn_modes.rs`).
//!
//! The engine has no clock of its own, so timeouts are stored here and enforced by the driver
//! on virtual time: it reads [`Postgres::timeouts`] and calls `cancel_wait` or
//! `check_deadlock` when one expires. Not modelled: other parameters (0A000 naming them),
//! RESET, SHOW, `SET TRANSACTION [NOT] DEFERRABLE` and `SET TRANSACTION SNAPSHOT`.
//! Invariant: a SET LOCAL value lives in the transaction and disappears with it.

use sqlparser::ast::{self, ContextModifier, Expr, Set};

use super::catalog::fold_ident;
use super::engine::Postgres;
use super::error::{PgError, SqlState};
use super::txn_modes::TxnModes;
use super::{QueryResult, SessionId};

/// Timeouts in effect for a session, in virtual microseconds; `None` means disabled (0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `lock_timeout`: how long one lock wait may last.
    pub lock_timeout_micros: Option<u64>,
    /// `statement_timeout`: how long one statement may run, waits included.
    pub statement_timeout_micros: Option<u64>,
    /// `deadlock_timeout`: wait before the waiter's one deadlock check.
    pub deadlock_timeout_micros: u64,
}

/// PostgreSQL's `xmlbinary` parameter: how binary values are encoded in XML (`base64`, the
/// default, or `hex`). The engine has no XML; the value matters only to row triggers, which
/// Heroku Connect's read (`get_xmlbinary()`) to tell its own writes from the application's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XmlBinary {
    /// `base64`, the default: an application's session.
    #[default]
    Base64,
    /// `hex`: what Heroku Connect sets on its own sessions.
    Hex,
}

/// The text of a SET value: a literal, a number or a bare word.
fn setting_text(value: &Expr) -> String {
    match value {
        Expr::Value(value) => match &value.value {
            ast::Value::Number(number, _) => number.clone(),
            ast::Value::SingleQuotedString(text) => text.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(ident) => ident.value.clone(),
        other => other.to_string(),
    }
}

/// `SET TimeZone`: the simulated server's zone is UTC, so `UTC` is accepted (and changes
/// nothing); another zone is 0A000, since timestamps would render differently.
fn set_timezone(value: &Expr) -> Result<QueryResult, PgError> {
    let zone = setting_text(value);
    if zone.eq_ignore_ascii_case("utc") {
        Ok(QueryResult::tag("SET"))
    } else {
        Err(PgError::unsupported(format!(
            "SET TimeZone to {zone:?} (the simulated server's zone is UTC)"
        )))
    }
}

/// Parses a PostgreSQL time setting: a bare number is milliseconds; units us, ms, s, min, h, d.
fn parse_duration_micros(name: &str, value: &Expr) -> Result<Option<u64>, PgError> {
    let text = setting_text(value);
    let invalid = || {
        PgError::new(
            SqlState::InvalidParameterValue,
            format!("invalid value for parameter \"{name}\": \"{text}\""),
        )
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let amount: u64 = trimmed[..digits_end].parse().map_err(|_| invalid())?;
    let micros_per_unit = match trimmed[digits_end..].trim() {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return Err(invalid()),
    };
    let micros = amount.checked_mul(micros_per_unit).ok_or_else(invalid)?;
    Ok((micros > 0).then_some(micros))
}

impl Postgres {
    /// The timeouts in effect for a session (SET LOCAL values while its transaction lasts).
    pub fn timeouts(&self, session: SessionId) -> Timeouts {
        let Some(state) = self.sessions.get(&session) else {
            return self.default_timeouts();
        };
        state
            .txn
            .as_ref()
            .and_then(|txn| txn.local_timeouts)
            .unwrap_or(state.timeouts)
    }

    pub(super) fn default_timeouts(&self) -> Timeouts {
        Timeouts {
            lock_timeout_micros: None,
            statement_timeout_micros: None,
            deadlock_timeout_micros: self.config.deadlock_timeout_micros,
        }
    }

    pub(super) fn set(&mut self, session: SessionId, set: &Set) -> Result<QueryResult, PgError> {
        let aborted = self
            .sessions
            .get(&session)
            .and_then(|state| state.txn.as_ref())
            .is_some_and(|txn| txn.aborted);
        if aborted {
            return Err(PgError::new(
                SqlState::InFailedSqlTransaction,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        match set {
            Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let local = matches!(scope, Some(ContextModifier::Local));
                let name = match variable.0.last() {
                    Some(ast::ObjectNamePart::Identifier(ident)) => fold_ident(ident),
                    _ => variable.to_string(),
                };
                let [value] = &values[..] else {
                    return Err(PgError::unsupported(format!("SET {name} to a list")));
                };
                if name == "xmlbinary" {
                    return self.set_xmlbinary(session, value, local);
                }
                if name == "timezone" {
                    return set_timezone(value);
                }
                self.set_timeout(session, &name, value, local)
            }
            other => Err(PgError::unsupported(format!("{other}"))),
        }
    }

    fn set_timeout(
        &mut self,
        session: SessionId,
        name: &str,
        value: &Expr,
        local: bool,
    ) -> Result<QueryResult, PgError> {
        if !matches!(
            name,
            "lock_timeout" | "statement_timeout" | "deadlock_timeout"
        ) {
            return Err(PgError::unsupported(format!("SET {name}")));
        }
        let micros = parse_duration_micros(name, value)?;
        let deadlock_default = self.config.deadlock_timeout_micros;
        // Only the named parameter changes: another one's SET LOCAL value stays local.
        let set_one = |timeouts: &mut Timeouts| match name {
            "lock_timeout" => timeouts.lock_timeout_micros = micros,
            "statement_timeout" => timeouts.statement_timeout_micros = micros,
            _ => timeouts.deadlock_timeout_micros = micros.unwrap_or(deadlock_default),
        };
        let effective = self.timeouts(session);
        let state = self.sessions.get_mut(&session).expect("session exists");
        match (local, state.txn.as_mut()) {
            (true, Some(txn)) => {
                let mut timeouts = effective;
                set_one(&mut timeouts);
                txn.local_timeouts = Some(timeouts);
            }
            // SET LOCAL outside a transaction block only warns and has no effect.
            (true, None) => {}
            (false, txn) => {
                if let Some(txn) = txn {
                    txn.settings_before
                        .get_or_insert((state.timeouts, state.xmlbinary));
                    if let Some(local_timeouts) = txn.local_timeouts.as_mut() {
                        set_one(local_timeouts);
                    }
                }
                set_one(&mut state.timeouts);
            }
        }
        Ok(QueryResult::tag("SET"))
    }

    /// The `xmlbinary` in effect for a session (a SET LOCAL value while its transaction lasts).
    pub(super) fn xmlbinary(&self, session: SessionId) -> XmlBinary {
        let Some(state) = self.sessions.get(&session) else {
            return XmlBinary::default();
        };
        state
            .txn
            .as_ref()
            .and_then(|txn| txn.local_xmlbinary)
            .unwrap_or(state.xmlbinary)
    }

    fn set_xmlbinary(
        &mut self,
        session: SessionId,
        value: &Expr,
        local: bool,
    ) -> Result<QueryResult, PgError> {
        let text = setting_text(value);
        let xmlbinary = match text.to_ascii_lowercase().as_str() {
            "base64" => XmlBinary::Base64,
            "hex" => XmlBinary::Hex,
            _ => {
                return Err(PgError::new(
                    SqlState::InvalidParameterValue,
                    format!("invalid value for parameter \"xmlbinary\": \"{text}\""),
                ))
            }
        };
        let state = self.sessions.get_mut(&session).expect("session exists");
        match (local, state.txn.as_mut()) {
            (true, Some(txn)) => txn.local_xmlbinary = Some(xmlbinary),
            // SET LOCAL outside a transaction block only warns and has no effect.
            (true, None) => {}
            (false, txn) => {
                if let Some(txn) = txn {
                    txn.settings_before
                        .get_or_insert((state.timeouts, state.xmlbinary));
                    txn.local_xmlbinary = None;
                }
                state.xmlbinary = xmlbinary;
            }
        }
        Ok(QueryResult::tag("SET"))
    }

    /// SET TRANSACTION: it applies in a block, explicit or the implicit one of a string of
    /// several statements (PostgreSQL's `IsTransactionBlock`, which a SET TRANSACTION at the
    /// start of the string opens); alone outside a block it is a WARNING and does nothing.
    pub(super) fn set_transaction(
        &mut self,
        session: SessionId,
        requested: TxnModes,
        (multi_statement, now_micros): (bool, u64),
    ) -> Result<QueryResult, PgError> {
        if multi_statement {
            self.ensure_implicit_txn(session, now_micros);
        }
        let state = self.sessions.get_mut(&session).expect("session exists");
        let in_block = |txn: &&mut super::session::Txn| txn.explicit || multi_statement;
        let Some(txn) = state.txn.as_mut().filter(in_block) else {
            // "SET TRANSACTION can only be used in transaction blocks" is a WARNING.
            return Ok(QueryResult::tag("SET"));
        };
        if txn.aborted {
            return Err(PgError::new(
                SqlState::InFailedSqlTransaction,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        requested.change(txn)?;
        Ok(QueryResult::tag("SET"))
    }
}
