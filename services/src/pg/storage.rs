//! MVCC storage: per-table heaps of row-version chains, the transaction status table, and the
//! visibility rules of PostgreSQL snapshots.
//!
//! Each logical row is a chain of versions (PostgreSQL's update chain through `t_ctid`); a
//! version carries `xmin`/`cmin` (creator) and `xmax`/`cmax` (deleter or updater). A snapshot
//! is a commit sequence number: it sees every transaction that committed at or before it.
//! Not modelled: VACUUM (dead versions stay), HOT, tuple freezing, subtransaction xids (a
//! savepoint is a command-id boundary inside its transaction's xid). SERIALIZABLE's SIREAD
//! locks and rw-conflicts live in `ssi.rs`; a snapshot here is the same for it.
//! Invariant: aborted work is removed eagerly (see `undo`), so every xmin/xmax in a heap
//! belongs to a transaction that is either committed or still in progress.

use std::collections::BTreeMap;

use super::catalog::TableId;
use super::index::HeapIndexes;
use super::value::Value;

/// Transaction id. 0 is never used.
pub type Xid = u64;
/// Command id within a transaction: each statement gets a new one.
pub type CommandId = u32;

/// Identity of a logical row (a version chain) within its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowId(pub u64);

/// One version of a row.
#[derive(Clone, Debug)]
pub struct Version {
    /// Creating transaction.
    pub xmin: Xid,
    /// Creating command within `xmin`.
    pub cmin: CommandId,
    /// Deleting or updating transaction and command, if any.
    pub xmax: Option<(Xid, CommandId)>,
    /// Column values in table order.
    pub values: Vec<Value>,
    /// Position in the heap's physical order (set by the heap when the version is stored):
    /// PostgreSQL stores a new version after the existing tuples (a small table is one page,
    /// whose line pointers a sequential scan follows in order), so an updated row moves to
    /// the end of a scan.
    pub slot: u64,
}

/// A row's versions, oldest first. A version with `xmax` set and a successor was updated; the
/// newest version with `xmax` set was deleted.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// Versions, oldest first.
    pub versions: Vec<Version>,
}

impl Chain {
    /// The newest version.
    pub fn newest(&self) -> &Version {
        self.versions.last().expect("a chain always has a version")
    }
}

/// One table's rows.
#[derive(Clone, Debug, Default)]
pub struct Heap {
    /// Chains by row id, in insertion order (row ids only grow).
    pub chains: BTreeMap<RowId, Chain>,
    /// Key indexes over the chains (superset; see `index.rs`).
    pub indexes: HeapIndexes,
    next_row_id: u64,
    next_slot: u64,
}

/// A heap with no rows, for tables that were never written.
pub static EMPTY_HEAP: Heap = Heap {
    chains: BTreeMap::new(),
    indexes: HeapIndexes::new(),
    next_row_id: 0,
    next_slot: 0,
};

impl Heap {
    /// Appends a new chain holding one version; returns its row id.
    pub fn insert(&mut self, mut version: Version) -> RowId {
        let row_id = RowId(self.next_row_id);
        self.next_row_id += 1;
        version.slot = self.take_slot();
        self.chains.insert(
            row_id,
            Chain {
                versions: vec![version],
            },
        );
        row_id
    }

    /// The physical position of the next version stored.
    pub fn take_slot(&mut self) -> u64 {
        self.next_slot += 1;
        self.next_slot
    }
}

/// Which rows a reader sees: committed work up to `snapshot_csn`, plus its own transaction's
/// work from commands before `cid` (so a statement never sees its own writes, as in
/// PostgreSQL, which prevents the Halloween problem).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadView {
    /// The commit sequence number the snapshot was taken at.
    pub snapshot_csn: u64,
    /// The reader's transaction.
    pub xid: Xid,
    /// The reader's current command id.
    pub cid: CommandId,
}

/// State of a transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XidStatus {
    /// Running.
    InProgress,
    /// Committed with this commit sequence number.
    Committed(u64),
    /// Rolled back (its writes are already undone).
    Aborted,
}

/// The commit log (PostgreSQL's clog plus a commit order).
#[derive(Clone, Debug, Default)]
pub struct TxnTable {
    status: BTreeMap<Xid, XidStatus>,
    last_xid: Xid,
    last_csn: u64,
}

impl TxnTable {
    /// Starts a transaction.
    pub fn begin(&mut self) -> Xid {
        self.last_xid += 1;
        self.status.insert(self.last_xid, XidStatus::InProgress);
        self.last_xid
    }

    /// Marks a transaction committed; returns its commit sequence number.
    pub fn commit(&mut self, xid: Xid) -> u64 {
        // Commit order is the order of this call: a transaction commits once, while running.
        assert!(
            self.in_progress(xid),
            "xid {xid} commits from {:?}",
            self.status(xid)
        );
        self.last_csn += 1;
        self.status.insert(xid, XidStatus::Committed(self.last_csn));
        self.last_csn
    }

    /// Marks a transaction aborted.
    pub fn abort(&mut self, xid: Xid) {
        assert!(
            !matches!(self.status(xid), XidStatus::Committed(_)),
            "xid {xid} aborts after it committed"
        );
        self.status.insert(xid, XidStatus::Aborted);
    }

    /// The status of a transaction.
    pub fn status(&self, xid: Xid) -> XidStatus {
        self.status.get(&xid).copied().unwrap_or(XidStatus::Aborted)
    }

    /// Whether a transaction is still running.
    pub fn in_progress(&self, xid: Xid) -> bool {
        self.status(xid) == XidStatus::InProgress
    }

    /// A snapshot that sees everything committed so far.
    pub fn latest_csn(&self) -> u64 {
        self.last_csn
    }

    fn committed_in(&self, xid: Xid, snapshot_csn: u64) -> bool {
        matches!(self.status(xid), XidStatus::Committed(csn) if csn <= snapshot_csn)
    }

    /// Whether `version` is visible to `view` (PostgreSQL's `HeapTupleSatisfiesMVCC`).
    pub fn visible(&self, version: &Version, view: &ReadView) -> bool {
        let created = if version.xmin == view.xid {
            version.cmin < view.cid
        } else {
            self.committed_in(version.xmin, view.snapshot_csn)
        };
        if !created {
            return false;
        }
        match version.xmax {
            None => true,
            Some((xmax, cmax)) if xmax == view.xid => cmax >= view.cid,
            Some((xmax, _)) => !self.committed_in(xmax, view.snapshot_csn),
        }
    }

    /// The version of `chain` visible to `view`, with its position.
    pub fn visible_version<'c>(
        &self,
        chain: &'c Chain,
        view: &ReadView,
    ) -> Option<(usize, &'c Version)> {
        chain
            .versions
            .iter()
            .enumerate()
            .rev()
            .find(|(_, version)| self.visible(version, view))
    }
}

/// What a transaction did to one row, kept for undo and for the ground-truth log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// A new chain.
    Insert,
    /// A new version appended to an existing chain.
    Update,
    /// The newest version got an xmax and no successor.
    Delete,
}

/// One write by a transaction.
#[derive(Clone, Copy, Debug)]
pub struct WriteRecord {
    /// The table written.
    pub table_id: TableId,
    /// The chain written.
    pub row_id: RowId,
    /// The command that wrote it.
    pub cid: CommandId,
    /// Kind of write.
    pub kind: WriteKind,
}

/// Undoes one write of `xid` (called newest first). Safe because no other transaction can
/// have touched a chain after us while we hold its row lock or it is invisible to them.
pub fn undo(heaps: &mut [Heap], record: &WriteRecord) {
    let heap = &mut heaps[record.table_id.0];
    match record.kind {
        WriteKind::Insert => {
            heap.chains.remove(&record.row_id);
        }
        WriteKind::Update => {
            let chain = heap
                .chains
                .get_mut(&record.row_id)
                .expect("updated chain exists");
            chain.versions.pop();
            chain.versions.last_mut().expect("old version exists").xmax = None;
        }
        WriteKind::Delete => {
            let chain = heap
                .chains
                .get_mut(&record.row_id)
                .expect("deleted chain exists");
            chain
                .versions
                .last_mut()
                .expect("deleted version exists")
                .xmax = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "xid 1 commits from Committed(1)")]
    fn a_transaction_commits_once() {
        let mut txns = TxnTable::default();
        let xid = txns.begin();
        txns.commit(xid);
        txns.commit(xid);
    }

    #[test]
    #[should_panic(expected = "xid 1 commits from Aborted")]
    fn an_aborted_transaction_never_commits() {
        let mut txns = TxnTable::default();
        let xid = txns.begin();
        txns.abort(xid);
        txns.commit(xid);
    }

    #[test]
    #[should_panic(expected = "xid 1 aborts after it committed")]
    fn a_committed_transaction_never_aborts() {
        let mut txns = TxnTable::default();
        let xid = txns.begin();
        txns.commit(xid);
        txns.abort(xid);
    }
}
