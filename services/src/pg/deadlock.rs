//! The deadlock check a waiter runs once after `deadlock_timeout`, as PostgreSQL 15's
//! `DeadLockCheck` (`src/backend/storage/lmgr/deadlock.c`, and its README) does it.
//!
//! The wait-for graph has hard edges (a waiter and a transaction holding a conflicting lock:
//! row, advisory or table) and soft edges (a table-lock waiter and a conflicting request
//! queued ahead of it). A cycle through the checking waiter made of hard edges only is a
//! deadlock: the checker fails with 40P01. A cycle with soft edges may be a queue-order
//! artefact: PostgreSQL tries to reverse soft edges (put the waiter ahead of the request it
//! queues behind, keeping the rest of the queue in its order as far as the constraints
//! allow) until no cycle is left; if it finds such an order it rewrites the queues and grants
//! what became grantable, and nobody fails. The same here: the search adds one reversal at a
//! time, depth first, the soft edge farthest along the cycle first, and the found order
//! replaces the table's queue (the driver then resumes the waiters it lets through).
//!
//! Not modelled: PostgreSQL's bounds on the search (`MaxBackends`-sized arrays; here at most
//! `SEARCH_STEPS_MAX` configurations are tried, far more than the sessions a run opens), lock
//! groups of parallel queries.
//! Invariant: the check changes nothing unless it fails the checker or reorders a queue under
//! which no cycle through the checker (or a reordered waiter) is left.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::TableId;
use super::engine::Postgres;
use super::error::{PgError, SqlState};
use super::exec::Wait;
use super::table_locks::Waiter;
use super::SessionId;

/// Most queue configurations one check tries before it calls the cycle a deadlock.
const SEARCH_STEPS_MAX: usize = 256;

/// Table queues as a configuration under test has them.
type Queues = BTreeMap<TableId, Vec<Waiter>>;

/// "`waiter` goes before `blocker` in `table`'s queue": one reversed soft edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reversal {
    table: TableId,
    waiter: SessionId,
    blocker: SessionId,
}

/// One edge of the wait-for graph, from a waiting session.
#[derive(Clone, Copy, Debug)]
struct Edge {
    to: SessionId,
    /// The queue of a soft edge.
    soft: Option<TableId>,
}

/// What a configuration shows.
enum Cycles {
    None,
    Hard,
    /// A cycle with these soft edges (as reversals to try).
    Soft(Vec<Reversal>),
}

impl Postgres {
    /// The deadlock check a waiter runs once after `deadlock_timeout`: if `session` waits in a
    /// cycle no queue reordering breaks, its statement fails with 40P01 (and its transaction
    /// is aborted) and the error is returned for the driver to deliver; otherwise `None` and
    /// the session keeps waiting (a reordered queue may let waiters through: the driver
    /// resumes `runnable_waiters` after every check).
    pub fn check_deadlock(&mut self, session: SessionId) -> Option<PgError> {
        let first_hop = self.blockers(session);
        let mut reversals = Vec::new();
        let mut steps_left = SEARCH_STEPS_MAX;
        if let Some(queues) = self.search(session, &mut reversals, &mut steps_left) {
            for (table, queue) in queues {
                self.db.table_locks.set_queue(table, queue);
            }
            return None;
        }
        let pending = self.sessions.get_mut(&session)?.pending.take()?;
        self.fail_parked(session, &pending);
        let blocker = first_hop.first().map_or(0, |blocker| blocker.0);
        Some(
            PgError::new(SqlState::DeadlockDetected, "deadlock detected").with_detail(format!(
                "Process {} waits for a lock held by process {blocker}; process {blocker} waits \
             (directly or not) for process {}.",
                session.0, session.0
            )),
        )
    }

    /// PostgreSQL's `DeadLockCheckRecurse`: the queues of a configuration without a cycle
    /// (the reversals applied), or `None` when every one tried still has one.
    fn search(
        &self,
        start: SessionId,
        reversals: &mut Vec<Reversal>,
        steps_left: &mut usize,
    ) -> Option<Queues> {
        let queues = self.expand(reversals)?;
        let soft = match self.test_configuration(start, reversals, &queues) {
            Cycles::None => return Some(queues),
            Cycles::Hard => return None,
            Cycles::Soft(soft) => soft,
        };
        for reversal in soft {
            if *steps_left == 0 {
                return None;
            }
            *steps_left -= 1;
            if reversals.contains(&reversal) {
                continue;
            }
            reversals.push(reversal);
            if let Some(queues) = self.search(start, reversals, steps_left) {
                return Some(queues);
            }
            reversals.pop();
        }
        None
    }

    /// The queues of the tables the reversals touch, each sorted to honour them (`None` when
    /// they contradict each other).
    fn expand(&self, reversals: &[Reversal]) -> Option<Queues> {
        let tables: BTreeSet<TableId> = reversals.iter().map(|reversal| reversal.table).collect();
        let mut queues = Queues::new();
        for table in tables {
            let before: Vec<(SessionId, SessionId)> = reversals
                .iter()
                .filter(|reversal| reversal.table == table)
                .map(|reversal| (reversal.waiter, reversal.blocker))
                .collect();
            let queue = topo_sort(self.db.table_locks.queue(table), &before)?;
            queues.insert(table, queue);
        }
        Some(queues)
    }

    /// PostgreSQL's `TestConfiguration`: looks for cycles through the checker and through
    /// every session a reversal names. Any hard cycle decides; else the last soft one found.
    fn test_configuration(
        &self,
        start: SessionId,
        reversals: &[Reversal],
        queues: &Queues,
    ) -> Cycles {
        let named = reversals
            .iter()
            .flat_map(|reversal| [reversal.waiter, reversal.blocker]);
        let mut found = Cycles::None;
        for session in std::iter::once(start).chain(named) {
            match self.find_cycle(session, queues) {
                None => {}
                Some(soft) if soft.is_empty() => return Cycles::Hard,
                Some(soft) => found = Cycles::Soft(soft),
            }
        }
        found
    }

    /// PostgreSQL's `FindLockCycle`: a depth-first walk from `start` (hard edges before soft
    /// ones, each session visited once) that returns the soft edges of the first cycle back
    /// to `start`, or `None` when there is none.
    fn find_cycle(&self, start: SessionId, queues: &Queues) -> Option<Vec<Reversal>> {
        let mut visited = BTreeSet::from([start]);
        // Each frame: a session and the edges still to follow from it; `path` holds the edge
        // taken into each frame after the first.
        let mut stack = vec![(start, self.edges(start, queues))];
        let mut path: Vec<(SessionId, Edge)> = Vec::new();
        while let Some((from, edges)) = stack.last_mut() {
            let from = *from;
            let Some(edge) = edges.pop() else {
                stack.pop();
                path.pop();
                continue;
            };
            if edge.to == start {
                path.push((from, edge));
                return Some(soft_edges(&path));
            }
            if visited.insert(edge.to) {
                stack.push((edge.to, self.edges(edge.to, queues)));
                path.push((from, edge));
            }
        }
        None
    }

    /// The edges out of `session`, in the order they are followed (popped from the end):
    /// hard edges first, then soft ones, each in queue or holder order.
    fn edges(&self, session: SessionId, queues: &Queues) -> Vec<Edge> {
        let wait = self
            .sessions
            .get(&session)
            .and_then(|state| state.pending.as_ref())
            .map(|pending| pending.wait.clone());
        let mut edges: Vec<Edge> = match wait {
            None => Vec::new(),
            Some(Wait::Table(table, _)) => {
                let queue = queues
                    .get(&table)
                    .map_or_else(|| self.db.table_locks.queue(table), Vec::as_slice);
                let (hard, soft) = self.db.table_locks.edges(table, session, queue);
                let hard = self
                    .db
                    .owners(&hard)
                    .into_iter()
                    .map(|to| Edge { to, soft: None });
                let soft = soft.into_iter().map(|to| Edge {
                    to,
                    soft: Some(table),
                });
                hard.chain(soft).collect()
            }
            // A wait for a safe snapshot is no lock wait: PostgreSQL's detector never sees it.
            Some(Wait::SafeSnapshot(_)) => Vec::new(),
            Some(_) => self
                .blockers(session)
                .into_iter()
                .map(|to| Edge { to, soft: None })
                .collect(),
        };
        edges.reverse();
        edges
    }
}

/// The soft edges of a cycle, as the reversals that would break each, the edge farthest
/// from the checker first (PostgreSQL records them as its recursion unwinds, and tries them
/// in that order).
fn soft_edges(path: &[(SessionId, Edge)]) -> Vec<Reversal> {
    path.iter()
        .rev()
        .filter_map(|(from, edge)| {
            edge.soft.map(|table| Reversal {
                table,
                waiter: *from,
                blocker: edge.to,
            })
        })
        .collect()
}

/// PostgreSQL's `TopoSort`: `queue` reordered so each `(waiter, blocker)` pair has the waiter
/// first, built from the back: each time, the last remaining waiter that need not precede
/// another remaining one. `None` when the pairs form a cycle.
fn topo_sort(queue: &[Waiter], before: &[(SessionId, SessionId)]) -> Option<Vec<Waiter>> {
    let mut remaining: Vec<Waiter> = queue.to_vec();
    let mut sorted_reversed = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let must_precede = |candidate: &Waiter| {
            before.iter().any(|(waiter, blocker)| {
                *waiter == candidate.session
                    && remaining
                        .iter()
                        .any(|other| other.session == *blocker && *blocker != *waiter)
            })
        };
        let last_free = remaining.iter().rposition(|waiter| !must_precede(waiter))?;
        sorted_reversed.push(remaining.remove(last_free));
    }
    sorted_reversed.reverse();
    Some(sorted_reversed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::table_locks::{Request, TableLockMode, TableLocks};

    /// Goal: the sort PostgreSQL's detector uses keeps the queue's order where the
    /// reversals allow: in a queue [3, 4, 1], "1 before 3" gives [1, 3, 4] (1 jumps over both,
    /// as in PostgreSQL's spec deadlock-soft-2), not [4, 1, 3]; contradicting pairs fail.
    #[test]
    fn topo_sort_moves_only_what_it_must() {
        let mut locks = TableLocks::default();
        let holder = Request {
            table: TableId(0),
            session: SessionId(9),
            xid: 9,
            mode: TableLockMode::AccessShare,
            cid: 0,
            nowait: false,
        };
        assert_eq!(
            locks.acquire(holder),
            crate::pg::table_locks::Acquired::Granted
        );
        for (session, mode) in [
            (3, TableLockMode::AccessExclusive),
            (4, TableLockMode::AccessExclusive),
            (1, TableLockMode::ShareUpdateExclusive),
        ] {
            let request = Request {
                session: SessionId(session),
                xid: u64::from(session),
                mode,
                ..holder
            };
            locks.acquire(request);
        }
        let queue = locks.queue(TableId(0));
        let order = |before: &[(u32, u32)]| {
            let pairs: Vec<_> = before
                .iter()
                .map(|(a, b)| (SessionId(*a), SessionId(*b)))
                .collect();
            topo_sort(queue, &pairs).map(|sorted| {
                sorted
                    .iter()
                    .map(|waiter| waiter.session.0)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(order(&[]), Some(vec![3, 4, 1]));
        assert_eq!(order(&[(1, 3)]), Some(vec![1, 3, 4]));
        assert_eq!(order(&[(1, 4)]), Some(vec![3, 1, 4]));
        assert_eq!(order(&[(1, 3), (3, 1)]), None);
    }
}
