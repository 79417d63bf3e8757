//! Table-level ("heavyweight") locks with PostgreSQL 15's eight modes, their conflict table,
//! and the per-table wait queue of its lock manager
//! (<https://www.postgresql.org/docs/15/explicit-locking.html#LOCKING-TABLES>; queue rules from
//! `src/backend/storage/lmgr/lock.c` and `proc.c` of PostgreSQL 15: `LockAcquireExtended`,
//! `ProcSleep`, `ProcLockWakeup`).
//!
//! What PostgreSQL does, and what this does the same way:
//! - A lock a transaction already holds in the same mode is granted again at once.
//! - A new request waits when it conflicts with a mode another transaction holds, or with the
//!   mode of any request already waiting (so a stream of ACCESS SHARE readers cannot starve a
//!   waiting ACCESS EXCLUSIVE).
//! - A transaction that already holds a mode some waiter conflicts with does not queue behind
//!   that waiter: it goes in front of the first such waiter, and is granted at once if nothing
//!   held by others and nothing ahead of it conflicts. If its request also conflicts with what
//!   that waiter holds, it is a deadlock at once (40P01 without waiting `deadlock_timeout`).
//! - When locks are released, waiters are granted in queue order; a waiter that conflicts
//!   with a holder or with a waiter ahead of it stays.
//! - Locks are held to the end of the transaction; ROLLBACK TO SAVEPOINT releases those first
//!   taken after the savepoint.
//!
//! The deadlock check can reorder a queue (`deadlock`: a cycle through a queue position is
//! broken by putting a waiter ahead, as PostgreSQL's detector does).
//!
//! Not modelled: fast-path locks (no visible difference), session-level locks, locks on
//! objects other than tables.
//! Invariant: a session has at most one queue entry, and only while its statement waits for
//! that table lock; holds belong to in-progress transactions only.

use std::collections::BTreeMap;

use super::catalog::TableId;
use super::storage::{CommandId, Xid};
use super::SessionId;

/// PostgreSQL's table lock modes, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableLockMode {
    /// SELECT.
    AccessShare,
    /// SELECT ... FOR UPDATE / FOR SHARE (and foreign-key checks).
    RowShare,
    /// INSERT, UPDATE, DELETE.
    RowExclusive,
    /// VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY.
    ShareUpdateExclusive,
    /// CREATE INDEX.
    Share,
    /// CREATE TRIGGER, adding a foreign key.
    ShareRowExclusive,
    /// REFRESH MATERIALIZED VIEW CONCURRENTLY.
    Exclusive,
    /// DROP TABLE, TRUNCATE, most ALTER TABLE; LOCK TABLE's default.
    AccessExclusive,
}

/// Bit `i` set: conflicts with the mode of index `i` (PostgreSQL 15 docs, Table 13.2).
const CONFLICTS: [u8; 8] = [
    0b1000_0000, // ACCESS SHARE: ACCESS EXCLUSIVE
    0b1100_0000, // ROW SHARE: EXCLUSIVE and up
    0b1111_0000, // ROW EXCLUSIVE: SHARE and up
    0b1111_1000, // SHARE UPDATE EXCLUSIVE: itself and up
    0b1110_1100, // SHARE: ROW EXCLUSIVE, SHARE UPDATE EXCLUSIVE, SHARE ROW EXCLUSIVE and up
    0b1111_1100, // SHARE ROW EXCLUSIVE: ROW EXCLUSIVE and up
    0b1111_1110, // EXCLUSIVE: everything but ACCESS SHARE
    0b1111_1111, // ACCESS EXCLUSIVE: everything
];

impl TableLockMode {
    fn bit(self) -> u8 {
        1 << self as u8
    }

    fn conflict_mask(self) -> u8 {
        CONFLICTS[self as usize]
    }

    /// Whether a request for `self` conflicts with `other` held or requested by another
    /// transaction.
    pub fn conflicts_with(self, other: TableLockMode) -> bool {
        self.conflict_mask() & other.bit() != 0
    }
}

#[derive(Clone, Copy, Debug)]
struct Hold {
    xid: Xid,
    mode: TableLockMode,
    cid: CommandId,
}

/// A queued request.
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    /// The session whose statement waits.
    pub session: SessionId,
    xid: Xid,
    mode: TableLockMode,
}

/// What a lock request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lock is held now.
    Granted,
    /// The session waits in the table's queue.
    Queued,
    /// NOWAIT and the lock is not free: nothing was queued.
    NotAvailable,
    /// The request closes a cycle with this transaction at once (PostgreSQL's early deadlock).
    Deadlock(Xid),
}

/// Table locks of all tables: holds, and one wait queue per table.
#[derive(Clone, Debug, Default)]
pub struct TableLocks {
    held: BTreeMap<TableId, Vec<Hold>>,
    queues: BTreeMap<TableId, Vec<Waiter>>,
}

/// One lock request.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// The table.
    pub table: TableId,
    /// The session asking.
    pub session: SessionId,
    /// Its transaction.
    pub xid: Xid,
    /// The mode.
    pub mode: TableLockMode,
    /// The command asking (for ROLLBACK TO SAVEPOINT).
    pub cid: CommandId,
    /// NOWAIT: fail rather than queue.
    pub nowait: bool,
}

impl TableLocks {
    /// Modes `xid` holds on `table`, as a bit set.
    fn mask_of(&self, table: TableId, xid: Xid) -> u8 {
        self.holds(table)
            .filter(|hold| hold.xid == xid)
            .fold(0, |mask, hold| mask | hold.mode.bit())
    }

    /// Modes transactions other than `xid` hold on `table`, as a bit set.
    fn others_mask(&self, table: TableId, xid: Xid) -> u8 {
        self.holds(table)
            .filter(|hold| hold.xid != xid)
            .fold(0, |mask, hold| mask | hold.mode.bit())
    }

    fn holds(&self, table: TableId) -> impl Iterator<Item = &Hold> {
        self.held.get(&table).into_iter().flatten()
    }

    /// `table`'s wait queue, first in line first.
    pub fn queue(&self, table: TableId) -> &[Waiter] {
        self.queues.get(&table).map_or(&[], Vec::as_slice)
    }

    /// The deadlock check's new order for `table`'s queue (the same waiters).
    pub fn set_queue(&mut self, table: TableId, queue: Vec<Waiter>) {
        assert_eq!(
            queue.len(),
            self.queue(table).len(),
            "a reordered queue keeps its waiters"
        );
        self.queues.insert(table, queue);
    }

    /// The wait-for edges of `session`, queued on `table`, were the queue `queue`: holders of
    /// conflicting modes (hard), and sessions queued ahead with conflicting requests (soft).
    pub fn edges(
        &self,
        table: TableId,
        session: SessionId,
        queue: &[Waiter],
    ) -> (Vec<Xid>, Vec<SessionId>) {
        let Some(position) = queue.iter().position(|waiter| waiter.session == session) else {
            return (Vec::new(), Vec::new());
        };
        let waiter = queue[position];
        let mut hard: Vec<Xid> = Vec::new();
        for hold in self.holds(table) {
            if hold.xid != waiter.xid
                && waiter.mode.conflicts_with(hold.mode)
                && !hard.contains(&hold.xid)
            {
                hard.push(hold.xid);
            }
        }
        let soft = queue[..position]
            .iter()
            .filter(|earlier| earlier.xid != waiter.xid && waiter.mode.conflicts_with(earlier.mode))
            .map(|earlier| earlier.session)
            .collect();
        (hard, soft)
    }

    /// Asks for a lock; see the module doc for the rules.
    pub fn acquire(&mut self, request: Request) -> Acquired {
        let Request {
            table, xid, mode, ..
        } = request;
        if self.mask_of(table, xid) & mode.bit() != 0 {
            return Acquired::Granted;
        }
        if let Some(position) = self.position(table, request.session) {
            return self.retry(request, position);
        }
        let waiting_mask = self
            .queue(table)
            .iter()
            .fold(0, |mask, waiter| mask | waiter.mode.bit());
        if mode.conflict_mask() & (waiting_mask | self.others_mask(table, xid)) == 0 {
            self.grant(request);
            return Acquired::Granted;
        }
        if request.nowait {
            return Acquired::NotAvailable;
        }
        self.enqueue(request)
    }

    /// A queued session asks again after a wake-up: granted if nothing held by others and
    /// no waiter ahead conflicts; otherwise it keeps its place.
    fn retry(&mut self, request: Request, position: usize) -> Acquired {
        let queued = self.queue(request.table)[position];
        assert_eq!(
            (queued.xid, queued.mode),
            (request.xid, request.mode),
            "a waiting session re-asks for the lock it waits for"
        );
        if !self.grantable_at(request.table, position) {
            return Acquired::Queued;
        }
        self.queues
            .get_mut(&request.table)
            .expect("queued")
            .remove(position);
        self.grant(request);
        Acquired::Granted
    }

    /// PostgreSQL's `ProcSleep`: queue in front of the first waiter whose request conflicts
    /// with a mode we hold (granted at once if possible), else at the end.
    fn enqueue(&mut self, request: Request) -> Acquired {
        let Request {
            table, xid, mode, ..
        } = request;
        let mine = self.mask_of(table, xid);
        let mut insert_at = self.queue(table).len();
        let mut ahead = 0_u8;
        if mine != 0 {
            for (index, waiter) in self.queue(table).iter().enumerate() {
                if waiter.mode.conflict_mask() & mine != 0 {
                    if mode.conflict_mask() & self.mask_of(table, waiter.xid) != 0 {
                        return Acquired::Deadlock(waiter.xid);
                    }
                    if mode.conflict_mask() & (ahead | self.others_mask(table, xid)) == 0 {
                        self.grant(request);
                        return Acquired::Granted;
                    }
                    insert_at = index;
                    break;
                }
                ahead |= waiter.mode.bit();
            }
        }
        self.queues.entry(table).or_default().insert(
            insert_at,
            Waiter {
                session: request.session,
                xid,
                mode,
            },
        );
        Acquired::Queued
    }

    fn grant(&mut self, request: Request) {
        self.held.entry(request.table).or_default().push(Hold {
            xid: request.xid,
            mode: request.mode,
            cid: request.cid,
        });
    }

    fn position(&self, table: TableId, session: SessionId) -> Option<usize> {
        self.queue(table)
            .iter()
            .position(|waiter| waiter.session == session)
    }

    /// Whether the waiter at `position` of `table`'s queue can be granted now.
    fn grantable_at(&self, table: TableId, position: usize) -> bool {
        let waiter = self.queue(table)[position];
        let ahead = self.queue(table)[..position]
            .iter()
            .filter(|earlier| earlier.xid != waiter.xid)
            .fold(0, |mask, earlier| mask | earlier.mode.bit());
        waiter.mode.conflict_mask() & (ahead | self.others_mask(table, waiter.xid)) == 0
    }

    /// Whether `session`, queued on `table`, would be granted if it asked now.
    pub fn waiter_grantable(&self, table: TableId, session: SessionId) -> bool {
        self.position(table, session)
            .is_some_and(|position| self.grantable_at(table, position))
    }

    /// Transactions `session`'s queued request on `table` waits for: holders of conflicting
    /// modes, then conflicting waiters ahead of it.
    pub fn blockers(&self, table: TableId, session: SessionId) -> Vec<Xid> {
        let Some(position) = self.position(table, session) else {
            return Vec::new();
        };
        let waiter = self.queue(table)[position];
        let holders = self
            .holds(table)
            .filter(|hold| hold.xid != waiter.xid && waiter.mode.conflicts_with(hold.mode))
            .map(|hold| hold.xid);
        let ahead = self.queue(table)[..position]
            .iter()
            .filter(|earlier| earlier.xid != waiter.xid && waiter.mode.conflicts_with(earlier.mode))
            .map(|earlier| earlier.xid);
        let mut xids: Vec<Xid> = Vec::new();
        for xid in holders.chain(ahead) {
            if !xids.contains(&xid) {
                xids.push(xid);
            }
        }
        xids
    }

    /// The session no longer waits (its statement failed, was canceled, or it disconnected).
    pub fn forget_waiter(&mut self, session: SessionId) {
        for queue in self.queues.values_mut() {
            queue.retain(|waiter| waiter.session != session);
        }
        self.queues.retain(|_, queue| !queue.is_empty());
    }

    /// Releases every lock of a transaction (commit or rollback).
    pub fn release_xid(&mut self, xid: Xid) {
        self.release_where(|hold| hold.xid == xid);
    }

    /// Releases the locks a transaction first took at or after `cid` (ROLLBACK TO SAVEPOINT).
    pub fn release_since(&mut self, xid: Xid, cid: CommandId) {
        self.release_where(|hold| hold.xid == xid && hold.cid >= cid);
    }

    fn release_where(&mut self, release: impl Fn(&Hold) -> bool) {
        for holds in self.held.values_mut() {
            holds.retain(|hold| !release(hold));
        }
        self.held.retain(|_, holds| !holds.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_table_is_symmetric_and_matches_the_documented_pairs() {
        use TableLockMode::*;
        let modes = [
            AccessShare,
            RowShare,
            RowExclusive,
            ShareUpdateExclusive,
            Share,
            ShareRowExclusive,
            Exclusive,
            AccessExclusive,
        ];
        for a in modes {
            for b in modes {
                assert_eq!(a.conflicts_with(b), b.conflicts_with(a), "{a:?} vs {b:?}");
            }
        }
        // Table 13.2: the self-compatible modes, and a few cells worth naming.
        let self_conflicting: Vec<_> = modes.iter().filter(|m| m.conflicts_with(**m)).collect();
        assert_eq!(
            self_conflicting,
            [
                &ShareUpdateExclusive,
                &ShareRowExclusive,
                &Exclusive,
                &AccessExclusive
            ]
        );
        assert!(!RowExclusive.conflicts_with(RowShare));
        assert!(RowExclusive.conflicts_with(Share));
        assert!(!Exclusive.conflicts_with(AccessShare));
        assert!(Exclusive.conflicts_with(RowShare));
        assert!(!Share.conflicts_with(Share));
    }

    fn request(table: usize, session: u32, mode: TableLockMode) -> Request {
        Request {
            table: TableId(table),
            session: SessionId(session),
            xid: u64::from(session) + 100,
            mode,
            cid: 0,
            nowait: false,
        }
    }

    /// Goal: the queue rules spec `lock-table` checks against PostgreSQL, on the manager
    /// alone: a reader queues behind a waiting ACCESS EXCLUSIVE and is granted only after
    /// it; a holder's upgrade goes ahead of the waiter; two upgraders are an early deadlock.
    #[test]
    fn queue_rules() {
        use TableLockMode::{AccessExclusive, AccessShare, RowExclusive};
        let mut locks = TableLocks::default();
        assert_eq!(locks.acquire(request(0, 1, AccessShare)), Acquired::Granted);
        assert_eq!(
            locks.acquire(request(0, 2, AccessExclusive)),
            Acquired::Queued
        );
        assert_eq!(locks.acquire(request(0, 3, AccessShare)), Acquired::Queued);
        assert_eq!(locks.blockers(TableId(0), SessionId(3)), vec![102]);
        // Session 1 holds ACCESS SHARE, which session 2 waits for: its upgrade goes first.
        assert_eq!(
            locks.acquire(request(0, 1, RowExclusive)),
            Acquired::Granted
        );
        locks.release_xid(101);
        assert!(locks.waiter_grantable(TableId(0), SessionId(2)));
        assert!(!locks.waiter_grantable(TableId(0), SessionId(3)));
        assert_eq!(
            locks.acquire(request(0, 2, AccessExclusive)),
            Acquired::Granted
        );
        assert!(!locks.waiter_grantable(TableId(0), SessionId(3)));
        locks.release_xid(102);
        assert!(locks.waiter_grantable(TableId(0), SessionId(3)));

        let mut locks = TableLocks::default();
        for session in [1, 2] {
            assert_eq!(
                locks.acquire(request(0, session, AccessShare)),
                Acquired::Granted
            );
        }
        assert_eq!(
            locks.acquire(request(0, 2, AccessExclusive)),
            Acquired::Queued
        );
        assert_eq!(
            locks.acquire(request(0, 1, AccessExclusive)),
            Acquired::Deadlock(102)
        );
    }

    /// Goal: ROLLBACK TO SAVEPOINT releases only locks first taken after it, NOWAIT queues
    /// nothing, and a session that stops waiting leaves the queue.
    #[test]
    fn savepoints_nowait_and_forgetting() {
        use TableLockMode::{AccessExclusive, AccessShare, Share};
        let mut locks = TableLocks::default();
        assert_eq!(locks.acquire(request(0, 1, AccessShare)), Acquired::Granted);
        let later = Request {
            cid: 5,
            ..request(1, 1, Share)
        };
        assert_eq!(locks.acquire(later), Acquired::Granted);
        locks.release_since(101, 5);
        let nowait = Request {
            nowait: true,
            ..request(0, 2, AccessExclusive)
        };
        assert_eq!(locks.acquire(nowait), Acquired::NotAvailable);
        assert!(locks.queue(TableId(0)).is_empty());
        assert_eq!(
            locks.acquire(request(1, 2, AccessExclusive)),
            Acquired::Granted
        );
        assert_eq!(
            locks.acquire(request(0, 2, AccessExclusive)),
            Acquired::Queued
        );
        locks.forget_waiter(SessionId(2));
        assert!(locks.queue(TableId(0)).is_empty());
    }
}
