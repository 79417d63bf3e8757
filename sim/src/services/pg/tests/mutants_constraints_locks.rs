//! Tests written to kill mutants that `cargo mutants` left alive in `constraints.rs` and
//! `locks.rs` (MUTANTS.md, "Postgres constraints and locks"). Each pins one PostgreSQL 15
//! behaviour, checked against a real 15.18 server, that no other test observed.

use super::{int, Harness};
use super::{SessionId, Value};

const A: &str = "CREATE TABLE a (id int PRIMARY KEY, v int, state text); \
    INSERT INTO a VALUES (1, 0, 'queued'), (2, 0, 'queued')";

fn three() -> (Harness, SessionId, SessionId, SessionId) {
    let (mut harness, first) = Harness::with_setup(A);
    let second = harness.session();
    let third = harness.session();
    (harness, first, second, third)
}

/// Two transactions share a row lock (FOR SHARE does not conflict with FOR SHARE), and a
/// writer waits for both of them: it is still blocked after the first sharer commits and
/// proceeds only when the second one ends too. PostgreSQL 15 keeps both sharers in a
/// MultiXact ("Explicit Row-Level Locks", §13.3.2 of
/// <https://www.postgresql.org/docs/15/explicit-locking.html#LOCKING-ROWS>).
/// Kills `locks.rs` `RowLocks::grant`: `&&` → `||` and `==` → `!=` in the "stronger lock
/// already held" test, which dropped the second sharer's lock.
#[test]
fn a_writer_waits_for_every_sharer_of_a_row() {
    let (mut harness, s1, s2, s3) = three();
    harness.ok(s1, "BEGIN; SELECT id FROM a WHERE id = 1 FOR SHARE");
    harness.ok(s2, "BEGIN; SELECT id FROM a WHERE id = 1 FOR SHARE");
    harness.ok(s3, "BEGIN");
    assert_eq!(
        harness.blocks(s3, "UPDATE a SET v = 1 WHERE id = 1 RETURNING v"),
        vec![s1, s2]
    );
    harness.ok(s1, "COMMIT");
    // Why: the second sharer still holds its lock, so the writer must not be offered the row.
    assert!(harness.pg.runnable_waiters().is_empty());
    harness.ok(s2, "COMMIT");
    assert_eq!(
        harness.wake_one(s3).expect("update").rows,
        vec![vec![int(1)]]
    );
}

/// A transaction that upgrades its own row lock (FOR KEY SHARE, then FOR UPDATE on the same
/// row) holds the stronger mode: another transaction's FOR KEY SHARE, which only conflicts
/// with FOR UPDATE, now waits until the holder commits (§13.3.2, "Conflicting Row-Level
/// Locks" table, <https://www.postgresql.org/docs/15/explicit-locking.html#ROW-LOCK-COMPATIBILITY>).
/// Kills `locks.rs` `RowLocks::grant`: `>=` → `<` (and `&&` → `||`), which kept only the
/// weaker lock of the first statement.
#[test]
fn an_upgraded_row_lock_blocks_key_share() {
    let (mut harness, s1, s2, _) = three();
    harness.ok(
        s1,
        "BEGIN; SELECT id FROM a WHERE id = 2 FOR KEY SHARE; \
         SELECT id FROM a WHERE id = 2 FOR UPDATE",
    );
    harness.ok(s2, "BEGIN");
    assert_eq!(
        harness.blocks(s2, "SELECT id FROM a WHERE id = 2 FOR KEY SHARE"),
        vec![s1]
    );
    harness.ok(s1, "COMMIT");
    assert_eq!(
        harness.wake_one(s2).expect("locked").rows,
        vec![vec![Value::Int4(2)]]
    );
}
