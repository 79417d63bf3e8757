//! A statement that must wait for a lock: the caller's task parks on the virtual clock until
//! the server hands it a reply, or until one of its timers runs out.
//!
//! Timers, all counted from the start of the wait as PostgreSQL counts them for a statement
//! that spends its time waiting: `deadlock_timeout` (look for a deadlock once; the waiter that
//! finds the cycle is the victim, 40P01), `lock_timeout` (55P03) and `statement_timeout`
//! (57014), read from the session's `SET`s. Not modelled: a deadlock check repeated after the
//! first (PostgreSQL checks once per wait too), a paused server delaying these timers.

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
}

/// Waits for the reply of `session`'s blocked statement (connection of `epoch`).
pub(crate) async fn wait_for_reply(
    server: &PgHandle,
    session: SessionId,
    epoch: u64,
    mut receiver: oneshot::Receiver<Reply>,
) -> Result<Reply, ReplyLost> {
    let started_micros = kit::now().as_micros();
    let mut deadlock_checked = false;
    loop {
        let next = next_timer(server, session, started_micros, deadlock_checked);
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
        deadlock_checked |= timer == Timer::Deadlock;
        if let Some(reply) = fire(server, session, epoch, timer, &mut receiver)? {
            return Ok(reply);
        }
    }
}

/// The earliest timer still to fire, as (virtual microseconds, which).
fn next_timer(
    server: &PgHandle,
    session: SessionId,
    started_micros: u64,
    deadlock_checked: bool,
) -> Option<(u64, Timer)> {
    let (timeouts, lock_wait) = {
        let state = server.lock();
        (state.timeouts(session), state.waits_for_lock(session))
    };
    // A wait for a safe snapshot is no lock wait: neither timer applies to it.
    let deadlock = (lock_wait && !deadlock_checked)
        .then_some((timeouts.deadlock_timeout_micros, Timer::Deadlock));
    [
        deadlock,
        timeouts
            .lock_timeout_micros
            .filter(|_| lock_wait)
            .map(|micros| (micros, Timer::Lock)),
        timeouts
            .statement_timeout_micros
            .map(|micros| (micros, Timer::Statement)),
    ]
    .into_iter()
    .flatten()
    // Ties go to the first listed: a deadlock is reported before a timeout, as the deadlock
    // check runs inside the lock wait.
    .min_by_key(|(micros, _)| *micros)
    .map(|(micros, timer)| (started_micros.saturating_add(micros), timer))
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
    })
}
