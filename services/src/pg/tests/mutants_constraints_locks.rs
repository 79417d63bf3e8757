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
/// Locks" table,
/// <https://www.postgresql.org/docs/15/explicit-locking.html#ROW-LOCK-COMPATIBILITY>).
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

/// Whether `session` could take advisory lock `key` now; the probe is transaction-level in
/// autocommit, so it holds nothing afterwards.
fn free(harness: &mut Harness, session: SessionId, key: i32) -> bool {
    let rows = harness.rows(session, &format!("SELECT pg_try_advisory_xact_lock({key})"));
    rows == vec![vec![Value::Bool(true)]]
}

/// A session-level and a transaction-level hold of the same advisory key by one session are
/// separate: the transaction-level one ends at COMMIT, the session-level one at its unlock,
/// and then the key is free ("Advisory Locks", §13.3.5,
/// <https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS>: "if a session
/// already holds a given advisory lock, additional requests by it will always succeed ...
/// regardless of whether the existing lock hold and new request are at session level or
/// transaction level"). Kills `locks.rs` `AdvisoryLocks::acquire`: `&&` → `||` and
/// `hold.xid == xid` → `!=`, which counted the transaction-level request on the session hold.
#[test]
fn a_transaction_hold_on_a_session_held_key_ends_at_commit() {
    let (mut harness, s1, s2, _) = three();
    harness.ok(s1, "SELECT pg_advisory_lock(7)");
    harness.ok(s1, "BEGIN; SELECT pg_advisory_xact_lock(7); COMMIT");
    assert!(!free(&mut harness, s2, 7));
    assert_eq!(
        harness.rows(s1, "SELECT pg_advisory_unlock(7)"),
        vec![vec![Value::Bool(true)]]
    );
    assert!(free(&mut harness, s2, 7));
}

/// The reverse order: a session-level lock taken inside a transaction that already holds the
/// key at transaction level outlives COMMIT, and one `pg_advisory_unlock` releases it (a
/// second returns false: the transaction-level hold is gone), PostgreSQL 15 §13.3.5 as above.
/// Kills the same two `AdvisoryLocks::acquire` mutants, which counted the session request on
/// the transaction hold and so released it at COMMIT.
#[test]
fn a_session_hold_taken_inside_a_transaction_outlives_commit() {
    let (mut harness, s1, s2, _) = three();
    harness.ok(
        s1,
        "BEGIN; SELECT pg_advisory_xact_lock(8); SELECT pg_advisory_lock(8); COMMIT",
    );
    assert!(!free(&mut harness, s2, 8));
    let unlock = "SELECT pg_advisory_unlock(8)";
    assert_eq!(harness.rows(s1, unlock), vec![vec![Value::Bool(true)]]);
    assert_eq!(harness.rows(s1, unlock), vec![vec![Value::Bool(false)]]);
    assert!(free(&mut harness, s2, 8));
}

/// `pg_advisory_unlock` releases only session-level holds: on a key held at transaction
/// level it returns false (PostgreSQL also warns "you don't own a lock of type
/// ExclusiveLock") and the key stays locked until COMMIT ("Advisory Lock Functions",
/// <https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS>).
/// Kills `locks.rs` `AdvisoryLocks::unlock_session`: `&&` → `||`, which released the
/// transaction-level hold.
#[test]
fn advisory_unlock_leaves_a_transaction_hold_alone() {
    let (mut harness, s1, s2, _) = three();
    assert_eq!(
        harness.rows(
            s1,
            "BEGIN; SELECT pg_advisory_xact_lock(9); SELECT pg_advisory_unlock(9)"
        ),
        vec![vec![Value::Bool(false)]]
    );
    assert!(!free(&mut harness, s2, 9));
    harness.ok(s1, "COMMIT");
    assert!(free(&mut harness, s2, 9));
}

/// `pg_advisory_unlock_all()` releases every session-level hold of the session, however many
/// times it was taken, and leaves a transaction-level hold until COMMIT ("Advisory Lock
/// Functions": "Releases all session-level advisory locks held by the current session",
/// <https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS>).
/// Kills `locks.rs` `AdvisoryLocks::release_owner`: `&&` → `||`, under which
/// `pg_advisory_unlock_all()` released nothing.
#[test]
fn advisory_unlock_all_releases_session_holds_only() {
    let (mut harness, s1, s2, _) = three();
    harness.ok(
        s1,
        "SELECT pg_advisory_lock(10); SELECT pg_advisory_lock(10)",
    );
    harness.ok(
        s1,
        "BEGIN; SELECT pg_advisory_xact_lock(11); SELECT pg_advisory_unlock_all()",
    );
    assert!(free(&mut harness, s2, 10));
    assert!(!free(&mut harness, s2, 11));
    harness.ok(s1, "COMMIT");
    assert!(free(&mut harness, s2, 11));
}
