//! The engine's own invariants, asserted where versions are written, fire on a violation: a
//! write without the chain's row lock, or over a version another transaction deleted, is an
//! engine bug that panics (in a run: a crash report with its seed), never a silent write.

use std::collections::BTreeMap;

use super::super::catalog::TableId;
use super::super::exec::{Progress, StmtCtx};
use super::super::locks::RowLockMode;
use super::super::rowops::write_update;
use super::super::storage::{ReadView, RowId};
use super::super::IsolationLevel;
use super::{int, Harness};

/// Table `t` (the catalog's first) with one committed row, and a session.
fn one_row() -> (Harness, super::SessionId) {
    let (mut harness, session) = Harness::with_setup("CREATE TABLE t (id int PRIMARY KEY, v int)");
    harness.ok(session, "INSERT INTO t VALUES (1, 1)");
    (harness, session)
}

/// Updates `t`'s first row as transaction `xid` straight through the write primitive, with
/// no statement around it to take the row lock.
fn write_as(harness: &mut Harness, session: super::SessionId, xid: u64) {
    let snapshot_csn = harness.pg.db.txns.latest_csn();
    let mut progress = Progress::default();
    let mut ctx = StmtCtx {
        db: &mut harness.pg.db,
        session,
        view: ReadView {
            snapshot_csn,
            xid,
            cid: 0,
        },
        command: 0,
        isolation: IsolationLevel::ReadCommitted,
        read_only: false,
        in_subtransaction: false,
        txn_start_unix_micros: 0,
        params: &[],
        entropy: &mut harness.entropy,
        progress: &mut progress,
        replay_index: 0,
        subqueries: BTreeMap::new(),
        xmlbinary: Default::default(),
        with: Default::default(),
        ssi_reads: 0,
    };
    write_update(&mut ctx, TableId(0), RowId(0), vec![int(1), int(2)]);
}

#[test]
#[should_panic(expected = "writes row RowId(0) without its row lock")]
fn a_write_without_the_row_lock_is_an_engine_bug() {
    let (mut harness, session) = one_row();
    let xid = harness.pg.db.txns.begin();
    write_as(&mut harness, session, xid);
}

#[test]
#[should_panic(expected = "over a version xid Some((")]
fn a_write_over_another_transactions_delete_is_an_engine_bug() {
    let (mut harness, session) = one_row();
    let deleter = harness.session();
    harness.ok(deleter, "BEGIN");
    harness.ok(deleter, "DELETE FROM t WHERE id = 1");
    // A lock granted by mistake beside the deleter's: the write must still be refused.
    let xid = harness.pg.db.txns.begin();
    let key = (TableId(0), RowId(0));
    harness
        .pg
        .db
        .row_locks
        .grant(key, xid, RowLockMode::Update, 0);
    write_as(&mut harness, session, xid);
}
