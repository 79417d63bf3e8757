//! Row locks (FOR KEY SHARE .. FOR UPDATE) and advisory locks, with PostgreSQL's conflict
//! tables. The lock manager only answers "granted" or "blocked by these holders"; waiting,
//! wake-up and deadlock detection live in the engine.
//!
//! Table-level locks live in `table_locks`.
//! Not modelled: a per-row wait queue (the engine offers waiters the lock oldest wait first,
//! and names an earlier conflicting waiter as a later one's blocker, as the tuple lock of
//! PostgreSQL's `heap_lock_tuple` does (`Postgres::blockers`), but a new statement submitted
//! before they resume may overtake them),
//! lock_timeout (the driver cancels waits), shared advisory locks, and the
//! "older lock kept" rule when a savepoint that upgraded a row lock is rolled back beyond what
//! the per-command lock list gives naturally.
//! Invariant: a row lock is held only by an in-progress transaction; commit and rollback call
//! `release_xid`.

use std::collections::BTreeMap;

use super::catalog::TableId;
use super::storage::{CommandId, RowId, Xid};

/// Row lock strengths (PostgreSQL §13.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowLockMode {
    /// FK checks.
    KeyShare,
    /// SELECT … FOR SHARE.
    Share,
    /// UPDATE that changes no key column.
    NoKeyUpdate,
    /// SELECT … FOR UPDATE, DELETE, key-changing UPDATE.
    Update,
}

impl RowLockMode {
    /// Whether a request in this mode conflicts with `held` (PostgreSQL's row-lock table;
    /// the tuple-lock modes `heap_lock_tuple` maps them to conflict the same way).
    pub(crate) fn conflicts_with(self, held: RowLockMode) -> bool {
        use RowLockMode::{KeyShare, NoKeyUpdate, Share, Update};
        match self {
            KeyShare => held == Update,
            Share => matches!(held, NoKeyUpdate | Update),
            NoKeyUpdate => matches!(held, Share | NoKeyUpdate | Update),
            Update => true,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct RowLock {
    xid: Xid,
    mode: RowLockMode,
    cid: CommandId,
}

/// Row locks of all tables.
#[derive(Clone, Debug, Default)]
pub struct RowLocks {
    held: BTreeMap<(TableId, RowId), Vec<RowLock>>,
}

impl RowLocks {
    /// Whether `xid` holds a lock (any mode) on the row.
    pub fn holds(&self, key: (TableId, RowId), xid: Xid) -> bool {
        self.held
            .get(&key)
            .is_some_and(|locks| locks.iter().any(|lock| lock.xid == xid))
    }

    /// Other transactions holding a lock on the row that conflicts with `mode`.
    pub fn conflicting(&self, key: (TableId, RowId), xid: Xid, mode: RowLockMode) -> Vec<Xid> {
        let mut blockers: Vec<Xid> = self
            .held
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|lock| lock.xid != xid && mode.conflicts_with(lock.mode))
            .map(|lock| lock.xid)
            .collect();
        blockers.sort_unstable();
        blockers.dedup();
        blockers
    }

    /// Records a granted lock (call only after `conflicting` returned nothing).
    pub fn grant(&mut self, key: (TableId, RowId), xid: Xid, mode: RowLockMode, cid: CommandId) {
        let locks = self.held.entry(key).or_default();
        let stronger_held = locks
            .iter()
            .any(|lock| lock.xid == xid && lock.mode >= mode);
        if !stronger_held {
            locks.push(RowLock { xid, mode, cid });
        }
    }

    /// Releases every lock of a transaction (commit or rollback).
    pub fn release_xid(&mut self, xid: Xid) {
        self.release_where(|lock| lock.xid == xid);
    }

    /// Releases the locks a transaction took at or after `cid` (ROLLBACK TO SAVEPOINT).
    pub fn release_since(&mut self, xid: Xid, cid: CommandId) {
        self.release_where(|lock| lock.xid == xid && lock.cid >= cid);
    }

    fn release_where(&mut self, release: impl Fn(&RowLock) -> bool) {
        for locks in self.held.values_mut() {
            locks.retain(|lock| !release(lock));
        }
        self.held.retain(|_, locks| !locks.is_empty());
    }
}

/// Who a session is, as far as the lock manager is concerned.
pub type Owner = u32;

/// An advisory lock key: one bigint, or two int4 (separate key spaces, as in PostgreSQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdvisoryKey {
    /// `pg_advisory_lock(bigint)`.
    Single(i64),
    /// `pg_advisory_lock(int4, int4)`.
    Pair(i32, i32),
}

#[derive(Clone, Copy, Debug)]
struct AdvisoryHold {
    owner: Owner,
    /// `Some(xid)` for a transaction-level lock, `None` for a session-level one.
    xid: Option<Xid>,
    /// Re-entrant acquisitions still to be released.
    count: u32,
    cid: CommandId,
}

/// Exclusive advisory locks, session- and transaction-level.
#[derive(Clone, Debug, Default)]
pub struct AdvisoryLocks {
    held: BTreeMap<AdvisoryKey, Vec<AdvisoryHold>>,
}

impl AdvisoryLocks {
    /// Owners other than `owner` holding the key (empty means `owner` may take it).
    pub fn blockers(&self, key: AdvisoryKey, owner: Owner) -> Vec<Owner> {
        let mut owners: Vec<Owner> = self
            .held
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|hold| hold.owner != owner)
            .map(|hold| hold.owner)
            .collect();
        owners.dedup();
        owners
    }

    /// Takes (or re-takes) a lock; the caller checked `blockers` first.
    pub fn acquire(&mut self, key: AdvisoryKey, owner: Owner, xid: Option<Xid>, cid: CommandId) {
        let holds = self.held.entry(key).or_default();
        match holds
            .iter_mut()
            .find(|hold| hold.owner == owner && hold.xid == xid)
        {
            Some(hold) => hold.count += 1,
            None => holds.push(AdvisoryHold {
                owner,
                xid,
                count: 1,
                cid,
            }),
        }
    }

    /// `pg_advisory_unlock`: releases one session-level acquisition; false if none was held.
    pub fn unlock_session(&mut self, key: AdvisoryKey, owner: Owner) -> bool {
        let Some(holds) = self.held.get_mut(&key) else {
            return false;
        };
        let Some(position) = holds
            .iter()
            .position(|hold| hold.owner == owner && hold.xid.is_none())
        else {
            return false;
        };
        holds[position].count -= 1;
        if holds[position].count == 0 {
            holds.remove(position);
        }
        self.held.retain(|_, holds| !holds.is_empty());
        true
    }

    /// Releases the transaction-level locks of `xid` taken at or after `cid`.
    pub fn release_xid(&mut self, xid: Xid, cid: CommandId) {
        for holds in self.held.values_mut() {
            holds.retain(|hold| !(hold.xid == Some(xid) && hold.cid >= cid));
        }
        self.held.retain(|_, holds| !holds.is_empty());
    }

    /// Releases every lock of a session (disconnect, `pg_advisory_unlock_all`).
    pub fn release_owner(&mut self, owner: Owner, session_level_only: bool) {
        for holds in self.held.values_mut() {
            holds.retain(|hold| hold.owner != owner || (session_level_only && hold.xid.is_some()));
        }
        self.held.retain(|_, holds| !holds.is_empty());
    }
}
