//! A statement that must wait for a lock: the caller's task parks on the virtual clock until
//! the server hands it a reply, or until one of its timers runs out.
//!
//! Timers, all counted from the start of the wait as PostgreSQL counts them for a statement
//! that spends its time waiting: `deadlock_timeout` (look for a deadlock once; the waiter that
//! finds the cycle is the victim, 40P01), `lock_timeout` (55P03) and `statement_timeout`
//! (57014), read from the session's `SET`s. A wait for a safe snapshot (SERIALIZABLE READ
//! ONLY DEFERRABLE) is no lock wait: only `statement_timeout` applies, and a recheck every
//! `deadlock_timeout` notices when the statement moves on to a lock wait, whose timers then
//! start (up to one `deadlock_timeout` late). Not modelled: a deadlock check repeated after
//! the first (PostgreSQL checks once per wait too), the new wait, with new timers, of a row
//! waiter whose turn in the row's queue comes (`Postgres::restart_queue_heads`; the
//! conformance runner models it), a paused server delaying these timers.

use std::time::Duration;

use futures::channel::oneshot;

use super::super::{CancelReason, SessionId};
use super::server::Reply;
use super::PgHandle;
use syncsim_sim::kit;

/// Why a wait ended without a reply.
pub(crate) struct ReplyLost;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Deadlock,
    Lock,
    Statement,
    /// Look again at what the statement waits for (a safe-snapshot wait may become a lock
    /// wait when the statement re-runs).
    Recheck,
}

/// Waits for the reply of `session`'s blocked statement (connection of `epoch`).
pub(crate) async fn wait_for_reply(
    server: &PgHandle,
    session: SessionId,
    epoch: u64,
    mut receiver: oneshot::Receiver<Reply>,
) -> Result<Reply, ReplyLost> {
    let started_micros = kit::now().as_micros();
    let mut lock_wait = Wait {
        started_micros,
        was_lock: true,
        deadlock_checked: false,
    };
    loop {
        lock_wait.observe(server, session);
        let next = next_timer(server, session, started_micros, &lock_wait);
        let received = match next {
            None => Some((&mut receiver).await),
            Some((at_micros, _)) => {
                let remaining = at_micros.saturating_sub(kit::now().as_micros());
                kit::timeout(Duration::from_micros(remaining), &mut receiver).await
            }
        };
        match received {
            Some(Ok(reply)) => return Ok(reply),
            // The sender is gone without a reply: the server crashed.
            Some(Err(oneshot::Canceled)) => return Err(ReplyLost),
            None => {}
        }
        let (_, timer) = next.expect("only a timer ends a wait without a reply");
        lock_wait.deadlock_checked |= timer == Timer::Deadlock;
        if timer == Timer::Recheck {
            continue;
        }
        if let Some(reply) = fire(server, session, epoch, timer, &mut receiver)? {
            return Ok(reply);
        }
    }
}

/// The lock-wait side of a statement's wait: when it started, whether its deadlock check
/// ran. A statement that waits for a safe snapshot first (no lock wait) and then for a lock
/// starts its lock timers when the task sees the change, at its next recheck.
struct Wait {
    started_micros: u64,
    was_lock: bool,
    deadlock_checked: bool,
}

impl Wait {
    fn observe(&mut self, server: &PgHandle, session: SessionId) {
        let lock = server.lock().waits_for_lock(session);
        if lock && !self.was_lock {
            self.started_micros = kit::now().as_micros();
            self.deadlock_checked = false;
        }
        self.was_lock = lock;
    }
}

/// The earliest timer still to fire, as (virtual microseconds, which). A wait that is no
/// lock wait (for a safe snapshot) arms no deadlock check and no `lock_timeout`, only a
/// recheck every `deadlock_timeout`, in case it turns into a lock wait.
fn next_timer(
    server: &PgHandle,
    session: SessionId,
    started_micros: u64,
    lock_wait: &Wait,
) -> Option<(u64, Timer)> {
    let timeouts = server.lock().timeouts(session);
    let lock_timers = [
        (!lock_wait.deadlock_checked)
            .then_some((timeouts.deadlock_timeout_micros, Timer::Deadlock)),
        timeouts
            .lock_timeout_micros
            .map(|micros| (micros, Timer::Lock)),
    ];
    let statement = timeouts
        .statement_timeout_micros
        .map(|micros| (started_micros.saturating_add(micros), Timer::Statement));
    let recheck = (
        kit::now().as_micros() + timeouts.deadlock_timeout_micros,
        Timer::Recheck,
    );
    let lock_or_recheck: Vec<(u64, Timer)> = match lock_wait.was_lock {
        true => lock_timers
            .into_iter()
            .flatten()
            .map(|(micros, timer)| (lock_wait.started_micros.saturating_add(micros), timer))
            .collect(),
        false => vec![recheck],
    };
    // Ties go to the first listed: a deadlock is reported before a timeout, as the deadlock
    // check runs inside the lock wait.
    lock_or_recheck
        .into_iter()
        .chain(statement)
        .min_by_key(|(micros, _)| *micros)
}

/// A timer ran out: check for a deadlock or cancel the statement. Some(reply) when the wait
/// ends here.
fn fire(
    server: &PgHandle,
    session: SessionId,
    epoch: u64,
    timer: Timer,
    receiver: &mut oneshot::Receiver<Reply>,
) -> Result<Option<Reply>, ReplyLost> {
    let now_micros = kit::now().as_micros();
    let mut state = server.lock();
    if state.epoch() != epoch {
        return Err(ReplyLost);
    }
    if !state.waiting(session) {
        // The reply was handed over at this very instant.
        return match receiver.try_recv() {
            Ok(Some(reply)) => Ok(Some(reply)),
            Ok(None) | Err(oneshot::Canceled) => Err(ReplyLost),
        };
    }
    Ok(match timer {
        Timer::Deadlock => state.check_deadlock(session, now_micros),
        Timer::Lock => state.cancel(session, CancelReason::LockTimeout, now_micros),
        Timer::Statement => state.cancel(session, CancelReason::StatementTimeout, now_micros),
        // The loop only looks again; it never reaches here.
        Timer::Recheck => None,
    })
}
