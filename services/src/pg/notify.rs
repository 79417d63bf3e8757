//! LISTEN / UNLISTEN / NOTIFY and `pg_notify(channel, payload)`.
//!
//! Notifications are queued in the sending transaction and delivered only if it commits, in
//! send order, with identical (channel, payload) pairs of one transaction folded into one.
//! LISTEN and UNLISTEN take effect at commit. Every session listening at delivery time gets
//! the notification (the sender too); a session inside a transaction sees it only after that
//! transaction ends ([`Postgres::take_notifications`] returns nothing while it is open).
//! Not modelled: the 8 GB queue limit, channel-name truncation. Nothing is durable: a crash or
//! a disconnect loses undelivered notifications and listens.
//! Invariant: an aborted transaction's notifications and listens are never applied.

use serde::{Deserialize, Serialize};
use sqlparser::ast::Ident;

use super::catalog::fold_ident;
use super::engine::Postgres;
use super::error::{PgError, SqlState};
use super::exec::StmtCtx;
use super::session::Txn;
use super::SessionId;

/// A delivered notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Channel name.
    pub channel: String,
    /// Payload ('' when NOTIFY had none).
    pub payload: String,
    /// The session whose transaction sent it (PostgreSQL reports the sender's PID).
    pub sender: SessionId,
}

/// Queues a notification in the running statement (moved into the transaction on success).
pub fn queue_notify(ctx: &mut StmtCtx, channel: String, payload: String) -> Result<(), PgError> {
    if payload.len() >= 8000 {
        return Err(PgError::new(
            SqlState::InvalidParameterValue,
            "payload string too long",
        ));
    }
    if channel.is_empty() {
        return Err(PgError::new(
            SqlState::InvalidParameterValue,
            "channel name cannot be empty",
        ));
    }
    ctx.progress.notifies.push((channel, payload));
    Ok(())
}

/// Queues LISTEN (`listen` true) or UNLISTEN (`*` for all) in the running statement.
pub fn queue_listen(ctx: &mut StmtCtx, channel: &Ident, listen: bool) {
    let name = if channel.value == "*" {
        "*".to_string()
    } else {
        fold_ident(channel)
    };
    ctx.progress.listens.push((name, listen));
}

impl Postgres {
    /// Commits a session's transaction and then applies its listens and delivers its
    /// notifications.
    pub(super) fn commit_session_txn(&mut self, session: SessionId, txn: Txn) {
        let notifies = txn.pending_notifies.clone();
        let listens = txn.pending_listens.clone();
        self.db.commit_txn(session, txn);
        if let Some(state) = self.sessions.get_mut(&session) {
            // What the rest of the statement string would go back to is now committed.
            if state.batch_settings.is_some() {
                state.batch_settings = Some((state.timeouts, state.xmlbinary));
            }
            for (channel, listen) in listens {
                match (channel.as_str(), listen) {
                    ("*", false) => state.listening.clear(),
                    (_, true) => {
                        state.listening.insert(channel);
                    }
                    (_, false) => {
                        state.listening.remove(&channel);
                    }
                }
            }
        }
        for (channel, payload) in notifies {
            for state in self.sessions.values_mut() {
                if state.listening.contains(&channel) {
                    let notification = Notification {
                        channel: channel.clone(),
                        payload: payload.clone(),
                        sender: session,
                    };
                    state.inbox.push(notification);
                }
            }
        }
    }

    /// Notifications delivered to a session, oldest first, removed from its queue. Empty
    /// while the session is inside a transaction (PostgreSQL delivers between transactions).
    pub fn take_notifications(&mut self, session: SessionId) -> Vec<Notification> {
        match self.sessions.get_mut(&session) {
            Some(state) if state.txn.is_none() => std::mem::take(&mut state.inbox),
            _ => Vec::new(),
        }
    }
}
