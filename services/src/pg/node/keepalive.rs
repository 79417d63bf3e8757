//! The server kernel's TCP timers for one connection: how PostgreSQL learns that a client is
//! gone when no FIN reached it.
//!
//! ```text
//!  client closes (crash, drop)  ── link works ──▶ FIN: the session closes at once
//!        │ link down (isolate)
//!        ▼
//!  FIN retransmitted at 0.2 s, 0.6 s, 1.4 s ... 51 s after the close (Linux RTO from 200 ms,
//!  doubling, tcp_orphan_retries 0 = 8 retries): the first one that finds the link working
//!  closes the session; after the last the client's kernel forgets the socket
//!        ▼
//!  keepalive: after `tcp_keepalives_idle` of silence a probe, then one per
//!  `tcp_keepalives_interval`: an ACK (client alive) starts the idle time again; a RST (the
//!  socket is gone, the link works) or `tcp_keepalives_count` unanswered probes close it
//! ```
//!
//! PostgreSQL leaves `tcp_keepalives_*` at 0, which means the system defaults (Linux:
//! 7200 s, 75 s, 9 probes), so a client that vanished behind a network loss keeps its
//! session, open transaction, row and advisory locks for 2 h 11 min 15 s. The tasks run on the
//! server's kernel node, which no fault reaches; a crash of the server ends the session by
//! itself (the tasks see the epoch change and stop). Modelled simplifications: probes and
//! FINs take no latency; a probe checks only whether the two nodes are isolated (a paused
//! node's kernel still answers); a session waiting for a lock is closed by the keepalive at
//! once (PostgreSQL notices when its statement ends, or by `client_connection_check_interval`).
//! Not modelled: `tcp_user_timeout`, retransmission of a lost request (syncsim loses it), a
//! FIN that waits for a paused server to resume (it is taken at once).

use std::sync::Arc;
use std::time::Duration;

use super::super::SessionId;
use super::PgHandle;
use syncsim_sim::kit::{self, NodeRef};
use syncsim_sim::trace::EventKind;
use syncsim_sim::world::World;

/// Linux's minimum retransmission timeout (`TCP_RTO_MIN`, 200 ms): the first FIN
/// retransmission on a LAN comes this long after the first send; each later one doubles it.
const FIN_RTO_MIN: Duration = Duration::from_millis(200);

/// FIN retransmissions of an orphaned socket: `tcp_orphan_retries` defaults to 0, which the
/// kernel reads as 8 (net/ipv4/tcp_timer.c, `tcp_orphan_retries`).
const FIN_RETRIES: u32 = 8;

/// One connection as its timers see it.
#[derive(Clone)]
pub(crate) struct Watched {
    pub(crate) server: PgHandle,
    pub(crate) world: Arc<World>,
    pub(crate) kernel_node: NodeRef,
    pub(crate) session: SessionId,
    pub(crate) epoch: u64,
    pub(crate) label: String,
}

impl Watched {
    /// Starts the keepalive of this connection; it lives as long as the session.
    pub(crate) fn keepalive(&self) {
        let watched = self.clone();
        kit::spawn_on(
            self.kernel_node,
            async move { watched.keepalive_loop().await },
        );
    }

    /// The client closed its socket while the link was down: retransmit its FIN.
    pub(crate) fn retransmit_fin(&self) {
        let watched = self.clone();
        kit::spawn_on(self.kernel_node, async move { watched.fin_loop().await });
    }

    async fn fin_loop(self) {
        let mut backoff = FIN_RTO_MIN;
        for _ in 0..FIN_RETRIES {
            kit::sleep(backoff).await;
            backoff *= 2;
            let Some(client_node) = self.client_node() else {
                return;
            };
            if self.link_works(&client_node) {
                self.close(
                    &client_node,
                    "closed: the client's retransmitted FIN arrived",
                );
                return;
            }
        }
    }

    async fn keepalive_loop(self) {
        let (idle_micros, interval_micros, count) = self.server.lock().keepalive();
        assert!(count > 0, "tcp_keepalives_count counts at least one probe");
        loop {
            let Some(last_heard_micros) = self.last_heard_micros() else {
                return;
            };
            let due_micros = last_heard_micros.saturating_add(idle_micros);
            let now_micros = kit::now().as_micros();
            if now_micros < due_micros {
                kit::sleep(Duration::from_micros(due_micros - now_micros)).await;
                continue;
            }
            if !self.probe(last_heard_micros, interval_micros, count).await {
                return;
            }
        }
    }

    /// Probes until the client answers (true) or the session closes (false).
    async fn probe(&self, last_heard_micros: u64, interval_micros: u64, count: u32) -> bool {
        for _ in 0..count {
            let Some(client_node) = self.client_node() else {
                return false;
            };
            if self.last_heard_micros() != Some(last_heard_micros) {
                // The connection carried a packet meanwhile: the idle time starts again.
                return true;
            }
            if self.link_works(&client_node) {
                if self.client_closed() {
                    self.close(&client_node, "closed: keepalive probe answered by a reset");
                    return false;
                }
                self.server
                    .lock()
                    .heard(self.session, kit::now().as_micros());
                return true;
            }
            kit::sleep(Duration::from_micros(interval_micros)).await;
        }
        if let Some(client_node) = self.client_node() {
            let reason = format!("closed: {count} keepalive probes unanswered (dead peer)");
            self.close(&client_node, &reason);
        }
        false
    }

    fn client_node(&self) -> Option<String> {
        let state = self.server.lock();
        state
            .link(self.session, self.epoch)
            .map(|link| link.client_node.clone())
    }

    fn last_heard_micros(&self) -> Option<u64> {
        let state = self.server.lock();
        state
            .link(self.session, self.epoch)
            .map(|link| link.last_heard_micros)
    }

    fn client_closed(&self) -> bool {
        let state = self.server.lock();
        state
            .link(self.session, self.epoch)
            .is_some_and(|link| link.client_closed)
    }

    /// Whether a packet between the client's node and the server's gets through now.
    fn link_works(&self, client_node: &str) -> bool {
        !self.world.is_isolated(client_node) && !self.world.is_isolated(self.server.name())
    }

    /// Closes the session (rolling back its transaction, releasing its locks) and traces why.
    fn close(&self, client_node: &str, reason: &str) {
        let now_micros = kit::now().as_micros();
        let closed = self
            .server
            .lock()
            .close(self.session, self.epoch, now_micros);
        assert!(closed, "the timers close only an open session");
        let detail = format!("{} {reason}", self.label);
        self.world.record_message(
            self.server.name(),
            EventKind::Drop,
            Some(client_node),
            detail,
        );
        self.world.check_always();
    }
}
