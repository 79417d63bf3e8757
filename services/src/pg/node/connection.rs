//! `PgConnection`: one client session, used the way production code uses `tokio-postgres`.
//!
//! Each statement is one kernel round trip (`syncsim_sim::trip`): the request travels with
//! seeded latency (lost when the server is down or either side is isolated, learned at the
//! call timeout; held while the server is paused), executes on arrival, may park while it
//! waits for a lock (no client timeout covers that: tokio-postgres sets none), and its reply
//! travels back (lost when the server restarted meanwhile). A session the server no longer
//! has (restarted, closed, or a crash that ended a lock wait) answers with a reset, learned
//! one latency later. During the chaos phase the plan's request faults apply as a
//! connection drop after the statement ran (`reply_lost`) and a slower reply (`delay`);
//! `reject` and `duplicate` have no meaning inside one TCP session and are ignored here.
//! Once broken, a connection answers every statement with `ConnectionLost`. Dropping it (or
//! its process's node crashing) closes the socket: while the link between the two nodes
//! works the FIN arrives and the server closes the session at once, rolling back its
//! transaction and releasing its locks; while either node is isolated the FIN is lost and the
//! session lives on until the server's kernel finds the client gone (`keepalive.rs`). A
//! session the server closed that way answers the client's next statement with a reset.

use std::sync::Arc;

use super::super::{Notification, QueryResult, SessionId, Value};
use super::error::DbError;
use super::keepalive::Watched;
use super::row::PgRow;
use super::server::{Arrival, Reply};
use super::wait::{self, ReplyLost};
use super::PgHandle;
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit::{self, NodeRef};
use syncsim_sim::kit::{Arrival as TripArrival, Deadline, Served, Trip, TripFaults};
use syncsim_sim::trace::EventKind;

/// A client connection to a simulated Postgres server.
pub struct PgConnection {
    ctx: Ctx,
    server: PgHandle,
    session: SessionId,
    epoch: u64,
    label: String,
    in_block: bool,
    broken: bool,
    /// The node the server's kernel runs this connection's TCP timers on.
    kernel_node: NodeRef,
}

impl std::fmt::Debug for PgConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "PgConnection({} to {})",
            self.label,
            self.server.name()
        )
    }
}

/// The statement's reply never reached the client (the request or the reply was lost).
struct Lost;

impl PgConnection {
    pub(crate) async fn open(ctx: Ctx, server: PgHandle) -> Result<PgConnection, DbError> {
        let target = server.name().to_string();
        let alive = |connection: &PgConnection| server.lock().epoch() == connection.epoch;
        let trip = Trip {
            // A connect is no request of the plan's request faults (its reply is the session).
            faults: TripFaults::None,
            deadline: Deadline::Outbound,
            alive: Some(&alive),
            ..Trip::new(&target, "connect")
        };
        // The connection exists from the accept on: a client that crashes while the reply
        // travels closes its socket as any connection's client does (its Drop).
        let serve = |_: TripArrival| std::future::ready(accept(&ctx, &server));
        ctx.round_trip(trip, serve)
            .await
            .map_err(|_| DbError::ConnectionLost)
    }

    /// This connection as the server kernel's timers see it.
    fn watched(&self) -> Watched {
        Watched {
            server: self.server.clone(),
            world: self.ctx.world().clone(),
            kernel_node: self.kernel_node,
            session: self.session,
            epoch: self.epoch,
            label: self.label.clone(),
        }
    }

    /// Whether a transaction block is open on this connection (as the client last learned).
    pub fn in_transaction(&self) -> bool {
        self.in_block
    }

    /// The context of the process that opened this connection.
    pub(crate) fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// This connection's name in the trace (`conn#3`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The notifications (`LISTEN`ed channels) that arrived on this connection since the last
    /// call, oldest first: read from what the socket holds, without a round trip, as
    /// tokio-postgres hands them over as asynchronous messages. Nothing arrives while the link
    /// is down, the connection is broken, or the session is inside a transaction (PostgreSQL
    /// delivers between transactions). Not modelled: the network delay of the notification.
    pub fn notifications(&mut self) -> Vec<Notification> {
        let world = self.ctx.world().clone();
        let link_down = world.is_isolated(self.ctx.node()) || world.is_isolated(self.server.name());
        if self.broken || link_down {
            return Vec::new();
        }
        let mut server = self.server.lock();
        if server.epoch() != self.epoch {
            return Vec::new();
        }
        let delivered = server.engine_mut().take_notifications(self.session);
        drop(server);
        if !delivered.is_empty() {
            let channels: Vec<&str> = delivered.iter().map(|note| note.channel.as_str()).collect();
            self.receive(format!(
                "{} notification(s): {}",
                delivered.len(),
                channels.join(", ")
            ));
        }
        delivered
    }

    /// Runs a statement; returns the rows it affected (or returned).
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        Ok(self.run(sql, params).await?.rows_affected)
    }

    /// Runs a statement that returns rows (`SELECT`, `... RETURNING`).
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<PgRow>, DbError> {
        let result = self.run(sql, params).await?;
        let columns: Arc<[String]> = result.columns.into();
        Ok(result
            .rows
            .into_iter()
            .map(|values| PgRow::new(columns.clone(), values))
            .collect())
    }

    /// Runs a statement that returns exactly one row; `DbError::RowCount` otherwise.
    pub async fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<PgRow, DbError> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            count => Err(DbError::RowCount { rows: count }),
        }
    }

    /// Runs a statement that returns at most one row; `DbError::RowCount` for more.
    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<PgRow>, DbError> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows.remove(0))),
            count => Err(DbError::RowCount { rows: count }),
        }
    }

    /// `BEGIN`.
    pub async fn begin(&mut self) -> Result<(), DbError> {
        self.run("BEGIN", &[]).await.map(drop)
    }

    /// `COMMIT`. Like PostgreSQL, committing a transaction that already failed rolls it back
    /// and still succeeds (the command tag says `ROLLBACK`; see [`Self::run`]).
    pub async fn commit(&mut self) -> Result<(), DbError> {
        self.run("COMMIT", &[]).await.map(drop)
    }

    /// `ROLLBACK`.
    pub async fn rollback(&mut self) -> Result<(), DbError> {
        self.run("ROLLBACK", &[]).await.map(drop)
    }

    /// `SAVEPOINT name`.
    pub async fn savepoint(&mut self, name: &str) -> Result<(), DbError> {
        self.run(&format!("SAVEPOINT {name}"), &[]).await.map(drop)
    }

    /// `ROLLBACK TO SAVEPOINT name`.
    pub async fn rollback_to(&mut self, name: &str) -> Result<(), DbError> {
        let sql = format!("ROLLBACK TO SAVEPOINT {name}");
        self.run(&sql, &[]).await.map(drop)
    }

    /// `RELEASE SAVEPOINT name`.
    pub async fn release(&mut self, name: &str) -> Result<(), DbError> {
        self.run(&format!("RELEASE SAVEPOINT {name}"), &[])
            .await
            .map(drop)
    }

    /// Runs `sql` (one statement, or several separated by `;` without parameters) and returns
    /// the whole result: command tag, columns, rows and the affected-row count.
    pub async fn run(&mut self, sql: &str, params: &[Value]) -> Result<QueryResult, DbError> {
        if self.broken {
            return Err(DbError::ConnectionLost);
        }
        let may_commit = !self.in_block || is_commit(sql);
        match self.round_trip(sql, params).await {
            Ok(reply) => reply.map_err(DbError::Server),
            // The client cannot tell a request lost on the way from a reply lost on the way
            // back, so whatever may have committed is unknown, however it was really lost.
            Err(_) => {
                self.broken = true;
                Err(if may_commit {
                    DbError::OutcomeUnknown
                } else {
                    DbError::ConnectionLost
                })
            }
        }
    }

    async fn round_trip(&mut self, sql: &str, params: &[Value]) -> Result<Reply, Lost> {
        let ctx = self.ctx.clone();
        let target = self.server.name().to_string();
        let request = format!("{} {}", self.label, describe(sql, params));
        let (server, epoch) = (self.server.clone(), self.epoch);
        let alive = move |_: &Reply| server.lock().epoch() == epoch;
        let trip = Trip {
            faults: TripFaults::ReplyOnly,
            deadline: Deadline::Outbound,
            alive: Some(&alive),
            ..Trip::new(&target, &request)
        };
        let serve = move |arrival: TripArrival| {
            // Moved, not reborrowed: the closure runs once and its future keeps the borrow.
            let connection = self;
            connection.serve(sql, params, arrival)
        };
        // The client cannot tell a lost request from a lost reply or a reset: all are Lost.
        ctx.round_trip(trip, serve).await.map_err(|_| Lost)
    }

    /// The statement reached the server: run it there. A reply the network will lose ends
    /// the session (the server notices the dropped connection and rolls back whatever the
    /// transaction had not committed).
    async fn serve(&mut self, sql: &str, params: &[Value], arrival: TripArrival) -> Served<Reply> {
        let reply = match self.execute_on_arrival(sql, params).await {
            Ok(reply) => reply,
            Err(reset) => return reset,
        };
        self.ctx.world().check_always();
        if arrival.reply_lost {
            let now_micros = kit::now().as_micros();
            self.server
                .lock()
                .close(self.session, self.epoch, now_micros);
            let drop = format!("{} connection dropped: {}", self.label, summary(&reply));
            return Served::Reset {
                drop,
                recv: "connection lost".to_string(),
            };
        }
        let text = summary(&reply);
        Served::Reply(reply, text)
    }

    /// The statement reached the server: run it, and wait there if it blocks. A session the
    /// server no longer has answers with a reset.
    async fn execute_on_arrival(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Reply, Served<Reply>> {
        let now_micros = kit::now().as_micros();
        let arrival = self
            .server
            .lock()
            .submit(self.session, self.epoch, sql, params, now_micros);
        let reply = match arrival {
            Arrival::Stale => {
                return Err(self.reset("unknown session (server restarted)", "connection lost"))
            }
            Arrival::Reset => {
                let drop = "session closed by the server: reset";
                return Err(self.reset(drop, "connection reset"));
            }
            Arrival::Done { reply, in_block } => {
                self.in_block = in_block;
                reply
            }
            Arrival::Blocked {
                waiting_for,
                receiver,
            } => {
                let holders: Vec<String> =
                    waiting_for.iter().map(|session| label(*session)).collect();
                self.message(
                    EventKind::Apply,
                    format!("waits for {}", holders.join(", ")),
                );
                match wait::wait_for_reply(&self.server, self.session, self.epoch, receiver).await {
                    Ok(reply) => {
                        self.in_block = self.server.lock().in_block(self.session, self.epoch);
                        reply
                    }
                    Err(ReplyLost) => {
                        // The server crashed, or its kernel closed the session of a client
                        // it found gone.
                        let drop = "wait ended: the session is gone";
                        return Err(self.reset(drop, "connection lost"));
                    }
                }
            }
        };
        self.message(EventKind::Apply, summary(&reply));
        Ok(reply)
    }

    /// The session is gone on the server: its `drop` line, and what the client receives.
    fn reset(&self, drop: &str, recv: &str) -> Served<Reply> {
        Served::Reset {
            drop: format!("{} {drop}", self.label),
            recv: recv.to_string(),
        }
    }

    /// Records a server-side event about this connection.
    fn message(&self, kind: EventKind, detail: String) {
        let detail = format!("{} {detail}", self.label);
        self.ctx
            .message(self.server.name(), kind, self.ctx.node(), detail);
    }

    /// Records the client receiving `detail` from the server.
    fn receive(&self, detail: String) {
        self.ctx
            .message(self.ctx.node(), EventKind::Recv, self.server.name(), detail);
    }
}

/// A session the server accepted.
/// The server accepts a connection: it opens the session, and its kernel watches the socket
/// from that moment on.
fn accept(ctx: &Ctx, server: &PgHandle) -> Served<PgConnection> {
    let world = ctx.world().clone();
    let target = server.name();
    let (session, kernel_node, epoch) = {
        let mut state = server.lock();
        let now_micros = kit::now().as_micros();
        let (session, kernel_node) = state.open(&world, target, ctx.node(), now_micros);
        (session, kernel_node, state.epoch())
    };
    let connection = PgConnection {
        ctx: ctx.clone(),
        server: server.clone(),
        session,
        epoch,
        label: label(session),
        in_block: false,
        broken: false,
        kernel_node,
    };
    connection.message(EventKind::Apply, "opened".to_string());
    connection.watched().keepalive();
    let ready = format!("{} ready", connection.label);
    Served::Reply(connection, ready)
}

/// A session's name in the trace (`conn#3`).
fn label(session: SessionId) -> String {
    format!("conn#{}", session.0)
}

impl Drop for PgConnection {
    /// The client closes its socket: the FIN reaches the server at once while the link works
    /// (a crash of the client's process closes it the same way); otherwise it is lost and the
    /// server's kernel learns of the close later (`keepalive.rs`).
    fn drop(&mut self) {
        // Outside a running simulation (the runtime is being torn down) the session dies with
        // the run; nothing to record.
        let Some(now) = kit::try_now() else {
            return;
        };
        let world = self.ctx.world().clone();
        let link_down = world.is_isolated(self.ctx.node()) || world.is_isolated(self.server.name());
        if link_down {
            let open = self.server.lock().link(self.session, self.epoch).is_some();
            if open && !std::thread::panicking() {
                self.server.lock().orphan(self.session, self.epoch);
                self.message(EventKind::Drop, "FIN lost: the session lives on".into());
                self.watched().retransmit_fin();
            }
            return;
        }
        let was_in_block = self.server.lock().in_block(self.session, self.epoch);
        let closed = self
            .server
            .lock()
            .close(self.session, self.epoch, now.as_micros());
        if closed && (was_in_block || self.broken) && !std::thread::panicking() {
            let detail = if was_in_block {
                "closed: open transaction rolled back"
            } else {
                "closed"
            };
            self.message(EventKind::Apply, detail.into());
        }
    }
}

/// `COMMIT` or `END`, the statements that end a block by committing it.
fn is_commit(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    first.eq_ignore_ascii_case("commit") || first.eq_ignore_ascii_case("end")
}

/// The statement as one trace line: whitespace collapsed, parameters after it.
/// Written in one pass into one buffer: it runs for every statement of every run.
fn describe(sql: &str, params: &[Value]) -> String {
    let mut line = String::with_capacity(sql.len() + 16 * params.len());
    for (index, word) in sql.split_whitespace().enumerate() {
        if index > 0 {
            line.push(' ');
        }
        line.push_str(word);
    }
    for (index, param) in params.iter().enumerate() {
        line.push_str(if index == 0 { " [" } else { ", " });
        line.push_str(&param.to_pg_text());
    }
    if !params.is_empty() {
        line.push(']');
    }
    line
}

/// A reply as one trace line: the command tag and row count, or the error.
fn summary(reply: &Reply) -> String {
    match reply {
        Ok(result) if result.columns.is_empty() => result.command_tag.clone(),
        Ok(result) => format!("{} ({} row(s))", result.command_tag, result.rows.len()),
        Err(error) => format!("ERROR {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_one_line_with_its_parameters_after_it() {
        let sql = "SELECT id\n    FROM  t WHERE a = $1 AND b = $2";
        let params = [Value::Int4(7), Value::Null];
        let line = "SELECT id FROM t WHERE a = $1 AND b = $2 [7, null]";
        assert_eq!(describe(sql, &params), line);
        assert_eq!(describe("  COMMIT ", &[]), "COMMIT");
    }
}
