//! The async face of the simulated Postgres: the `pg` engine served on its own node, and the
//! connections model processes use as production code uses `tokio-postgres`.
//!
//! ```text
//!  process ── PgConnection::query(sql, params) ──latency──▶ PgServer (node "db")
//!     ▲                                                        │ engine.submit
//!     │                      Done ◀────────────────────────────┤
//!     └──latency── reply     Blocked: the caller's task parks until another statement
//!                            ends the blocking transaction, or deadlock_timeout / lock_timeout
//!                            / statement_timeout runs out on the virtual clock
//! ```
//!
//! Every statement is one round trip on the simulated network (seeded latency each way), so
//! it is a scheduling point. The server node can crash: open transactions roll back, waiting
//! statements and replies still on their way are lost, and the client sees
//! [`DbError::ConnectionLost`], or [`DbError::OutcomeUnknown`] when the lost statement was a
//! `COMMIT` or ran outside a transaction block (it may have committed: that depends on whether
//! the crash came before the statement reached the server or after). A client that closes
//! its connection (or whose process dies) while the link works closes its session at once;
//! one that vanished behind a network loss leaves its session, transaction and locks on the
//! server until the server's TCP keepalive finds it gone (`PgConfig::tcp_keepalives_*`,
//! 2 h 11 min 15 s by default; see `keepalive.rs`). Not modelled: the wire protocol,
//! pipelining, TLS, a connection pool.

mod connection;
mod error;
mod history;
mod keepalive;
mod row;
mod server;
mod wait;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

pub use connection::PgConnection;
pub use error::DbError;
pub use history::{SqlEntry, SqlStatement};
pub use row::{FromValue, PgRow};
pub use server::{PgServer, StatementError};

use super::PgConfig;
use syncsim_sim::ctx::Ctx;
use syncsim_sim::world::WorldBuilder;

/// A handle to a simulated Postgres server registered in a world: processes connect through
/// it; properties read the server's ground truth with `history.service::<PgServer>(name)`.
#[derive(Clone)]
pub struct PgHandle {
    name: Arc<str>,
    state: Arc<Mutex<PgServer>>,
}

impl std::fmt::Debug for PgHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "PgHandle({})", self.name)
    }
}

impl PgHandle {
    /// The name of the server's node.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens a connection from the calling process's node (one round trip).
    pub async fn connect(&self, ctx: &Ctx) -> Result<PgConnection, DbError> {
        PgConnection::open(ctx.clone(), self.clone()).await
    }

    /// Runs `sql` (schema, seed rows; several statements separated by `;`) on the server
    /// directly, outside the network and the clock: for a model's setup while it builds its
    /// world. Panics when the SQL fails, since a broken setup script is a bug in the model.
    pub fn setup(&self, sql: &str) {
        self.lock().setup(sql);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PgServer> {
        // A panic while the lock was held is already a reported failure; keep reading.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Declares Postgres servers in a world.
pub trait PostgresWorld {
    /// Registers a simulated Postgres server on its own node `name`. A crash of that node
    /// rolls back every open transaction and closes every connection; committed data, DDL and
    /// sequence positions survive.
    fn postgres(&mut self, name: &str, config: PgConfig) -> PgHandle;
}

impl PostgresWorld for WorldBuilder {
    fn postgres(&mut self, name: &str, config: PgConfig) -> PgHandle {
        let handle = PgHandle {
            name: Arc::from(name),
            state: Arc::new(Mutex::new(PgServer::new(config))),
        };
        let crashed = handle.clone();
        self.service_node(name, handle.state.clone(), move || crashed.lock().crash());
        handle
    }
}
