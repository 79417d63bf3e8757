//! `DbError`: what a statement sent over a connection can end in, besides success.
//!
//! The split follows what a client can know: the server answered with an error (a SQLSTATE);
//! the connection broke and the statement surely did not commit anything; or the connection
//! broke while the statement could have committed. Not modelled: protocol errors, TLS, auth.

use std::fmt;

use super::super::PgError;

/// Why a statement over a [`super::PgConnection`] did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbError {
    /// The server ran the statement and answered with an error.
    Server(PgError),
    /// The connection is broken (the server crashed or restarted, the network lost a message,
    /// or an earlier statement broke it). An open transaction is gone; nothing of this
    /// statement committed. Open a new connection.
    ConnectionLost,
    /// The connection broke while a `COMMIT`, or a statement outside a transaction block, was
    /// in flight: it may or may not have committed. Only the database can tell.
    OutcomeUnknown,
    /// `query_one` got a number of rows other than one.
    RowCount {
        /// The rows the query returned.
        rows: usize,
    },
}

impl DbError {
    /// The SQLSTATE of a server error (`"23505"`), None for the other kinds.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            DbError::Server(error) => Some(error.code()),
            _ => None,
        }
    }

    /// The server error, if the server answered with one.
    pub fn as_server(&self) -> Option<&PgError> {
        match self {
            DbError::Server(error) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Server(error) => write!(formatter, "{error}"),
            DbError::ConnectionLost => formatter.write_str("connection lost"),
            DbError::OutcomeUnknown => {
                formatter.write_str("connection lost while the statement could commit")
            }
            DbError::RowCount { rows } => {
                write!(
                    formatter,
                    "query returned {rows} rows where one was expected"
                )
            }
        }
    }
}

impl std::error::Error for DbError {}

impl From<PgError> for DbError {
    fn from(error: PgError) -> Self {
        DbError::Server(error)
    }
}
