//! Serializable snapshot isolation: PostgreSQL's SIREAD predicate locks, the rw-antidependency
//! graph between concurrent SERIALIZABLE transactions, and the 40001 it raises when a
//! dangerous structure forms (Ports and Grittner, "Serializable Snapshot Isolation in
//! PostgreSQL", VLDB 2012; PostgreSQL 15's `src/backend/storage/lmgr/README-SSI` and
//! `predicate.c`,
//! <https://github.com/postgres/postgres/blob/REL_15_STABLE/src/backend/storage/lmgr/predicate.c>).
//!
//! Functions here mirror predicate.c's one to one: [`Ssi::register`] is
//! `GetSerializableTransactionSnapshotInt`, [`Ssi::lock`] `PredicateLockAcquire` (with its
//! promotion of tuple locks to a page lock), [`Ssi::conflict_out`]
//! `CheckForSerializableConflictOut`, [`Ssi::conflict_in`] `CheckForSerializableConflictIn`,
//! [`Ssi::pre_commit`] `PreCommit_CheckForSerializationFailure` and [`Ssi::release`]
//! `ReleasePredicateLocks`; `on_conflict` is `OnConflict_CheckForSerializationFailure`, with
//! its choice of victim: the writer when it is the caller, the reader when the writer has
//! already committed (or passed its commit check), else the writer is doomed and fails at
//! its next read, write or COMMIT.
//!
//! Where the engine must stand in for the physical layout PostgreSQL's locks name, it takes
//! a small table's layout, checked on a PostgreSQL 15.18 server with `pg_locks`:
//! - a table's heap is one page, and each index one leaf page (so a page lock on the heap
//!   covers every row, and an index lock every key);
//! - a tuple is a row version ([`Target::Tuple`] by its heap slot);
//! - the planner's choice (`access_path` in `select.rs`): an index scan when the WHERE
//!   clause compares an index's leading column with a constant, else a sequential scan.
//!
//! Not modelled (docs/postgres.md, "SERIALIZABLE"): multi-page heaps and indexes (so the
//! promotion of page locks to a relation lock never happens), summarising old committed
//! transactions to `pg_serial` (the engine keeps them all while they matter), the partial
//! clean-up of committed transactions' locks (`CanPartialClearThrough`: they are kept until
//! no transaction that overlapped them runs), two-phase commit, and lazily assigned xids: a
//! committed reader conflicts with a later writer when it committed after the writer's
//! snapshot, where PostgreSQL compares xids (`xmin` against `finishedBefore`).
//! Invariant: every edge is in both endpoints' lists, and every lock in both maps.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::TableId;
use super::error::{PgError, SqlState};
use super::storage::{TxnTable, Version, Xid, XidStatus};

/// What a SIREAD lock covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A whole table (a sequential scan).
    Relation(TableId),
    /// The table's heap page (three tuple locks on a page become this).
    Page(TableId),
    /// One row version, by its heap slot.
    Tuple(TableId, u64),
    /// An index's leaf page, by table and index name (an index scan).
    Index(TableId, String),
}

impl Target {
    fn table(&self) -> TableId {
        match self {
            Target::Relation(table)
            | Target::Page(table)
            | Target::Tuple(table, _)
            | Target::Index(table, _) => *table,
        }
    }

    /// Whether holding `self` makes a lock on `other` redundant.
    fn covers(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Relation(table), Target::Page(other) | Target::Tuple(other, _)) => {
                table == other
            }
            (Target::Page(table), Target::Tuple(other, _)) => table == other,
            _ => self == other,
        }
    }
}

/// PostgreSQL's `max_pred_locks_per_page` default: a third tuple lock on one page takes the
/// page instead (`PredicateLockPromotionThreshold`).
const TUPLE_LOCKS_PER_PAGE_MAX: usize = 2;

/// One SERIALIZABLE transaction's state (PostgreSQL's `SERIALIZABLEXACT`).
#[derive(Clone, Debug, Default)]
struct Sxact {
    /// The commit sequence number its snapshot sees.
    snapshot_csn: u64,
    /// `SeqNo.lastCommitBeforeSnapshot`.
    last_commit_before_snapshot: u64,
    /// Declared READ ONLY.
    declared_read_only: bool,
    /// Read-only: declared, or committed without writing.
    read_only: bool,
    /// Chosen as a victim: fails at its next read, write or COMMIT.
    doomed: bool,
    /// It wrote (`MyXactDidWrite`).
    did_write: bool,
    /// `prepareSeqNo`, once it passed its commit check.
    prepare_seq: Option<u64>,
    /// `commitSeqNo` and the engine's commit sequence number, once committed.
    commit: Option<(u64, u64)>,
    /// `SXACT_FLAG_CONFLICT_OUT` with `SeqNo.earliestOutConflictCommit`: it committed with
    /// a rw-conflict out to a transaction that committed before it.
    conflict_out_commit: Option<u64>,
    /// READ ONLY and known safe: it leaves SSI at its next read (`SXACT_FLAG_RO_SAFE`).
    ro_safe: bool,
    /// rw-conflicts out: transactions that wrote what this one read.
    out: BTreeSet<Xid>,
    /// rw-conflicts in: transactions that read what this one wrote.
    inn: BTreeSet<Xid>,
    /// For a READ ONLY transaction, the writable ones that might still make it unsafe; for
    /// a writable one, the READ ONLY ones it might make unsafe.
    possible_unsafe: BTreeSet<Xid>,
    /// Its SIREAD locks.
    locks: BTreeSet<Target>,
}

impl Sxact {
    fn committed(&self) -> bool {
        self.commit.is_some()
    }

    fn prepared(&self) -> bool {
        self.prepare_seq.is_some()
    }

    fn commit_seq(&self) -> u64 {
        self.commit.map_or(u64::MAX, |(seq, _)| seq)
    }

    fn prepare_seq(&self) -> u64 {
        self.prepare_seq.unwrap_or(u64::MAX)
    }
}

/// The SSI state of the whole server.
#[derive(Clone, Debug, Default)]
pub struct Ssi {
    sxacts: BTreeMap<Xid, Sxact>,
    holders: BTreeMap<Target, BTreeSet<Xid>>,
    /// `PredXact->LastSxactCommitSeqNo`: counts commit checks and commits.
    last_seq: u64,
}

/// PostgreSQL's 40001 for SSI, with the reason code as DETAIL.
fn failure(reason: &str) -> PgError {
    PgError::new(
        SqlState::SerializationFailure,
        "could not serialize access due to read/write dependencies among transactions",
    )
    .with_detail(format!("Reason code: {reason}"))
    .with_hint("The transaction might succeed if retried.")
}

/// Who is checking: the caller of `on_conflict` fails at once when it is the victim.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    Reader,
    Writer,
}

impl Ssi {
    /// How many transactions SSI still tracks, and how many SIREAD locks they hold (the
    /// state a server keeps for SERIALIZABLE work; none once no transaction that overlaps
    /// a tracked one runs).
    #[cfg(test)]
    pub fn footprint(&self) -> (usize, usize) {
        let locks = self.sxacts.values().map(|sxact| sxact.locks.len()).sum();
        (self.sxacts.len(), locks)
    }

    /// Whether `xid` is a SERIALIZABLE transaction taking part in SSI.
    pub fn tracks(&self, xid: Xid) -> bool {
        self.sxacts.contains_key(&xid)
    }

    /// A SERIALIZABLE transaction takes its snapshot. A READ ONLY one opts out at once when
    /// no writable SERIALIZABLE transaction runs (it can then be in no dangerous
    /// structure); returns whether it takes part.
    pub fn register(&mut self, xid: Xid, snapshot_csn: u64, read_only: bool) -> bool {
        let writable: BTreeSet<Xid> = self
            .sxacts
            .iter()
            .filter(|(_, other)| !other.committed() && !other.doomed && !other.read_only)
            .map(|(other, _)| *other)
            .collect();
        if read_only && writable.is_empty() {
            return false;
        }
        let mut sxact = Sxact {
            snapshot_csn,
            last_commit_before_snapshot: self.last_seq,
            declared_read_only: read_only,
            read_only,
            ..Sxact::default()
        };
        if read_only {
            for other in &writable {
                self.sxact_mut(*other).possible_unsafe.insert(xid);
            }
            sxact.possible_unsafe = writable;
        }
        self.sxacts.insert(xid, sxact);
        true
    }

    /// A DEFERRABLE READ ONLY transaction's snapshot (`GetSafeSnapshot`): `Some(true)` when
    /// it is safe (the transaction leaves SSI and runs on it), `Some(false)` when a writer
    /// made it unsafe (it leaves SSI and must take another), `None` while a writable
    /// transaction that might make it unsafe still runs.
    pub fn safe_snapshot(&mut self, xid: Xid) -> Option<bool> {
        let safe = match self.sxacts.get(&xid) {
            None => return Some(true),
            Some(sxact) if sxact.ro_safe => true,
            Some(sxact) if sxact.possible_unsafe.is_empty() => false,
            Some(_) => return None,
        };
        self.leave(xid);
        Some(safe)
    }

    /// The writable transactions a DEFERRABLE READ ONLY one still waits on
    /// (`pg_safe_snapshot_blocking_pids`); empty once its snapshot is known safe or unsafe.
    pub fn unsafe_writers(&self, xid: Xid) -> Vec<Xid> {
        match self.sxacts.get(&xid) {
            Some(sxact) if !sxact.ro_safe => sxact.possible_unsafe.iter().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// Whether reads of `xid` need SIREAD locks and conflict checks now
    /// (`SerializationNeededForRead`): a READ ONLY transaction found safe leaves SSI here.
    pub fn needed_for_read(&mut self, xid: Xid) -> bool {
        match self.sxacts.get(&xid) {
            None => false,
            Some(sxact) if sxact.ro_safe => {
                self.leave(xid);
                false
            }
            Some(_) => true,
        }
    }

    /// The check before a read examines a tuple (`CheckForSerializableConflictOutNeeded`):
    /// a doomed transaction fails.
    pub fn check_read(&self, xid: Xid) -> Result<(), PgError> {
        match self.sxacts.get(&xid) {
            Some(sxact) if sxact.doomed => Err(failure(
                "Canceled on identification as a pivot, during conflict out checking.",
            )),
            _ => Ok(()),
        }
    }

    /// Takes a SIREAD lock, unless a coarser one held covers it; a third tuple lock on the
    /// page takes the page instead.
    pub fn lock(&mut self, xid: Xid, target: Target) {
        let held = &self.sxacts[&xid].locks;
        if held.iter().any(|lock| lock.covers(&target)) {
            return;
        }
        let table = target.table();
        let target = match target {
            Target::Tuple(..) => {
                let tuples = held
                    .iter()
                    .filter(|lock| matches!(lock, Target::Tuple(other, _) if *other == table))
                    .count();
                if tuples >= TUPLE_LOCKS_PER_PAGE_MAX {
                    Target::Page(table)
                } else {
                    target
                }
            }
            other => other,
        };
        let covered: Vec<Target> = held
            .iter()
            .filter(|lock| target.covers(lock))
            .cloned()
            .collect();
        for lock in covered {
            self.unlock(xid, &lock);
        }
        self.holders.entry(target.clone()).or_default().insert(xid);
        self.sxact_mut(xid).locks.insert(target);
    }

    /// A write of a row version drops the writer's own SIREAD lock on it
    /// (`CheckTargetForConflictsIn`'s `mypredlock`).
    pub fn unlock_own_tuple(&mut self, xid: Xid, target: &Target) {
        if self
            .sxacts
            .get(&xid)
            .is_some_and(|sxact| sxact.locks.contains(target))
        {
            self.unlock(xid, target);
        }
    }

    fn unlock(&mut self, xid: Xid, target: &Target) {
        self.sxact_mut(xid).locks.remove(target);
        if let Some(holders) = self.holders.get_mut(target) {
            holders.remove(&xid);
            if holders.is_empty() {
                self.holders.remove(target);
            }
        }
    }

    /// A read by `reader` examined a version (`HeapCheckForSerializableConflictOut`): a
    /// version it cannot see because a concurrent transaction created it, or one it sees
    /// that a concurrent transaction deleted or replaced, is a rw-conflict out to that
    /// writer.
    pub fn conflict_out(
        &mut self,
        txns: &TxnTable,
        reader: Xid,
        version: &Version,
        visible: bool,
    ) -> Result<(), PgError> {
        self.check_read(reader)?;
        let Some(writer) = Self::writer_seen(txns, reader, version, visible) else {
            return Ok(());
        };
        let Some(written) = self.sxacts.get(&writer) else {
            // Not SERIALIZABLE (or long gone): no rw-conflict is tracked.
            return Ok(());
        };
        if written.doomed {
            return Ok(());
        }
        let me = &self.sxacts[&reader];
        // A READ ONLY reader runs first, in effect, unless the writer committed with a
        // conflict out to a transaction that committed before the reader's snapshot.
        if me.read_only
            && written.committed()
            && written
                .conflict_out_commit
                .is_none_or(|earliest| me.last_commit_before_snapshot < earliest)
        {
            return Ok(());
        }
        let concurrent = match txns.status(writer) {
            XidStatus::InProgress => true,
            XidStatus::Committed(csn) => csn > me.snapshot_csn,
            XidStatus::Aborted => false,
        };
        if !concurrent || me.out.contains(&writer) {
            return Ok(());
        }
        self.flag_rw_conflict(reader, writer, Caller::Reader)
    }

    /// The transaction whose write `reader` meets in `version`, if any (the cases of
    /// `HeapTupleSatisfiesVacuum` that `HeapCheckForSerializableConflictOut` acts on): the
    /// creator of a version it cannot see (one in progress, or committed after its
    /// snapshot: whether deleted since or not, as PostgreSQL 13.1 and later check, the
    /// `update-conflict-out` spec), the deleter or updater of one it sees.
    fn writer_seen(txns: &TxnTable, reader: Xid, version: &Version, visible: bool) -> Option<Xid> {
        let writer = if txns.in_progress(version.xmin) || !visible {
            version.xmin
        } else {
            version.xmax?.0
        };
        (writer != reader).then_some(writer)
    }

    /// A write by `writer` to `targets` (`CheckForSerializableConflictIn`): each other
    /// transaction holding a SIREAD lock there read what it overwrites, a rw-conflict in.
    pub fn conflict_in(&mut self, writer: Xid, targets: &[Target]) -> Result<(), PgError> {
        let Some(me) = self.sxacts.get_mut(&writer) else {
            return Ok(());
        };
        if me.doomed {
            return Err(failure(
                "Canceled on identification as a pivot, during conflict in checking.",
            ));
        }
        me.did_write = true;
        let snapshot_csn = me.snapshot_csn;
        for target in targets {
            let readers: Vec<Xid> = self
                .holders
                .get(target)
                .map(|holders| holders.iter().copied().collect())
                .unwrap_or_default();
            for reader in readers {
                let holder = &self.sxacts[&reader];
                let overlaps = holder
                    .commit
                    .is_none_or(|(_, commit_csn)| commit_csn > snapshot_csn);
                if reader == writer || holder.doomed || !overlaps || holder.out.contains(&writer) {
                    continue;
                }
                self.flag_rw_conflict(reader, writer, Caller::Writer)?;
            }
        }
        Ok(())
    }

    /// A write to the whole table (TRUNCATE, `CheckTableForSerializableConflictIn`): every
    /// other holder of a SIREAD lock on its heap, at any granularity, gets a rw-conflict to
    /// the writer; unlike a row write, PostgreSQL filters no holder out here.
    pub fn conflict_in_table(&mut self, writer: Xid, table: TableId) -> Result<(), PgError> {
        let Some(me) = self.sxacts.get_mut(&writer) else {
            return Ok(());
        };
        me.did_write = true;
        let readers: BTreeSet<Xid> = self
            .holders
            .iter()
            .filter(|(target, _)| target.table() == table && !matches!(target, Target::Index(..)))
            .flat_map(|(_, holders)| holders.iter().copied())
            .collect();
        for reader in readers {
            if reader != writer && !self.sxacts[&reader].out.contains(&writer) {
                self.flag_rw_conflict(reader, writer, Caller::Writer)?;
            }
        }
        Ok(())
    }

    /// Records the rw-conflict `reader` -> `writer`, after `on_conflict` had its say.
    fn flag_rw_conflict(
        &mut self,
        reader: Xid,
        writer: Xid,
        caller: Caller,
    ) -> Result<(), PgError> {
        self.on_conflict(reader, writer, caller)?;
        self.sxact_mut(reader).out.insert(writer);
        self.sxact_mut(writer).inn.insert(reader);
        Ok(())
    }

    /// Whether the new edge `reader` -> `writer` completes a dangerous structure, and whom
    /// that cancels.
    fn on_conflict(&mut self, reader: Xid, writer: Xid, caller: Caller) -> Result<(), PgError> {
        let (r, w) = (&self.sxacts[&reader], &self.sxacts[&writer]);
        // R -> W -> T2 where W committed with a conflict out to an earlier committer.
        let mut failed = w.committed() && w.conflict_out_commit.is_some();
        // W is a pivot: W -> T2 and T2 committed (or passed its check) first.
        failed = failed
            || w.out.iter().any(|t2| {
                let t2 = &self.sxacts[t2];
                t2.prepared()
                    && (!r.committed() || t2.prepare_seq() <= r.commit_seq())
                    && (!w.committed() || t2.prepare_seq() <= w.commit_seq())
                    && (!r.read_only || t2.prepare_seq() <= r.last_commit_before_snapshot)
            });
        // R is a pivot: T0 -> R and W committed (or passed its check) first.
        failed = failed
            || (w.prepared()
                && !r.read_only
                && r.inn.iter().any(|t0| {
                    let t0 = &self.sxacts[t0];
                    !t0.doomed
                        && (!t0.committed() || t0.commit_seq() >= w.prepare_seq())
                        && (!t0.read_only || t0.last_commit_before_snapshot >= w.prepare_seq())
                }));
        if !failed {
            return Ok(());
        }
        if caller == Caller::Writer {
            return Err(failure(
                "Canceled on identification as a pivot, during write.",
            ));
        }
        if w.prepared() {
            return Err(failure(&format!(
                "Canceled on conflict out to pivot {writer}, during read."
            )));
        }
        self.sxact_mut(writer).doomed = true;
        Ok(())
    }

    /// The check at COMMIT, after deferred constraints (`PreCommit_CheckForSerializationFailure`):
    /// a doomed transaction fails; otherwise a running pivot between it and another running
    /// transaction is doomed, so the committer wins.
    pub fn pre_commit(&mut self, xid: Xid) -> Result<(), PgError> {
        let Some(me) = self.sxacts.get(&xid) else {
            return Ok(());
        };
        if me.doomed {
            return Err(failure(
                "Canceled on identification as a pivot, during commit attempt.",
            ));
        }
        let mut doomed = Vec::new();
        for near in &me.inn {
            let pivot = &self.sxacts[near];
            if pivot.committed() || pivot.doomed {
                continue;
            }
            let dangerous = pivot.inn.iter().any(|far| {
                let far_sxact = &self.sxacts[far];
                *far == xid || (!far_sxact.committed() && !far_sxact.read_only && !far_sxact.doomed)
            });
            if dangerous {
                doomed.push(*near);
            }
        }
        for pivot in doomed {
            self.sxact_mut(pivot).doomed = true;
        }
        self.last_seq += 1;
        self.sxact_mut(xid).prepare_seq = Some(self.last_seq);
        Ok(())
    }

    /// The transaction ended (`ReleasePredicateLocks`). A rolled-back one leaves at once; a
    /// committed one keeps its locks while a transaction that overlapped it runs.
    pub fn release(&mut self, xid: Xid, commit_csn: Option<u64>) {
        if !self.sxacts.contains_key(&xid) {
            return;
        }
        match commit_csn {
            Some(csn) => self.release_committed(xid, csn),
            None => self.remove(xid),
        }
        self.clear_old();
    }

    fn release_committed(&mut self, xid: Xid, commit_csn: u64) {
        self.last_seq += 1;
        let seq = self.last_seq;
        let me = self.sxact_mut(xid);
        me.commit = Some((seq, commit_csn));
        if !me.did_write {
            me.read_only = true;
        }
        let (read_only, declared_read_only) = (me.read_only, me.declared_read_only);
        // Conflicts out to committed transactions become the CONFLICT_OUT flag.
        for other in self.sxacts[&xid].out.clone() {
            let other_sxact = &self.sxacts[&other];
            if !other_sxact.committed() {
                continue;
            }
            if !read_only {
                let prepared = other_sxact.prepare_seq();
                let me = self.sxact_mut(xid);
                me.conflict_out_commit =
                    Some(me.conflict_out_commit.map_or(prepared, |e| e.min(prepared)));
            }
            self.drop_edge(xid, other);
        }
        for other in self.sxacts[&xid].inn.clone() {
            let other_sxact = &self.sxacts[&other];
            if other_sxact.committed() || other_sxact.read_only {
                self.drop_edge(other, xid);
            }
        }
        let possible = std::mem::take(&mut self.sxact_mut(xid).possible_unsafe);
        if declared_read_only {
            for writer in possible {
                self.sxact_mut(writer).possible_unsafe.remove(&xid);
            }
            return;
        }
        let (did_write, conflict_out) = {
            let me = &self.sxacts[&xid];
            (me.did_write, me.conflict_out_commit)
        };
        for ro in possible {
            let ro_sxact = self.sxact_mut(ro);
            ro_sxact.possible_unsafe.remove(&xid);
            let unsafe_now = did_write
                && conflict_out
                    .is_some_and(|earliest| earliest <= ro_sxact.last_commit_before_snapshot);
            if unsafe_now {
                // RO_UNSAFE: it stays in SSI; its other possible conflicts no longer matter.
                for writer in std::mem::take(&mut ro_sxact.possible_unsafe) {
                    self.sxact_mut(writer).possible_unsafe.remove(&ro);
                }
            } else if ro_sxact.possible_unsafe.is_empty() {
                ro_sxact.ro_safe = true;
            }
        }
    }

    /// A running transaction leaves SSI (a READ ONLY one found safe, or one whose snapshot
    /// was unsafe): committed transactions only it overlapped go too.
    fn leave(&mut self, xid: Xid) {
        self.remove(xid);
        self.clear_old();
    }

    /// Removes a transaction with its locks and edges (a rollback, a safe READ ONLY one, or
    /// a committed one no running transaction overlaps).
    fn remove(&mut self, xid: Xid) {
        let Some(sxact) = self.sxacts.remove(&xid) else {
            return;
        };
        for target in &sxact.locks {
            if let Some(holders) = self.holders.get_mut(target) {
                holders.remove(&xid);
                if holders.is_empty() {
                    self.holders.remove(target);
                }
            }
        }
        for other in sxact
            .out
            .iter()
            .chain(&sxact.inn)
            .chain(&sxact.possible_unsafe)
        {
            if let Some(other) = self.sxacts.get_mut(other) {
                other.out.remove(&xid);
                other.inn.remove(&xid);
                other.possible_unsafe.remove(&xid);
            }
        }
        // A READ ONLY transaction whose last possible unsafe writer rolled back is safe.
        if !sxact.declared_read_only && sxact.commit.is_none() {
            for ro in &sxact.possible_unsafe {
                if let Some(ro_sxact) = self.sxacts.get_mut(ro) {
                    if ro_sxact.possible_unsafe.is_empty() {
                        ro_sxact.ro_safe = true;
                    }
                }
            }
        }
    }

    /// Drops committed transactions that no running SERIALIZABLE transaction overlaps: their
    /// locks and edges can no longer matter (`ClearOldPredicateLocks`).
    fn clear_old(&mut self) {
        let oldest_running = self
            .sxacts
            .values()
            .filter(|sxact| !sxact.committed())
            .map(|sxact| sxact.snapshot_csn)
            .min();
        let finished: Vec<Xid> = self
            .sxacts
            .iter()
            .filter(|(_, sxact)| {
                sxact
                    .commit
                    .is_some_and(|(_, csn)| oldest_running.is_none_or(|oldest| csn <= oldest))
            })
            .map(|(xid, _)| *xid)
            .collect();
        for xid in finished {
            self.remove(xid);
        }
    }

    fn drop_edge(&mut self, reader: Xid, writer: Xid) {
        self.sxact_mut(reader).out.remove(&writer);
        self.sxact_mut(writer).inn.remove(&reader);
    }

    fn sxact_mut(&mut self, xid: Xid) -> &mut Sxact {
        self.sxacts
            .get_mut(&xid)
            .unwrap_or_else(|| panic!("xid {xid} is not a tracked SERIALIZABLE transaction"))
    }
}
