//! Row-lock, advisory-lock and deadlock interleavings from Appendix A (r-rowlock, r-extras,
//! r-advisory, r-adv-deadlock, r-deadlock), with the outcomes PostgreSQL 15.20 produced.

use super::{int, Harness};
use super::{SessionId, StepOutcome, Value};

const A: &str = "CREATE TABLE a (id int PRIMARY KEY, v int, state text); \
    INSERT INTO a VALUES (1, 0, 'queued'), (2, 0, 'queued'), (3, 0, 'queued')";

fn two() -> (Harness, SessionId, SessionId) {
    let (mut harness, first) = Harness::with_setup(A);
    let second = harness.session();
    (harness, first, second)
}

/// r-rowlock: a second incrementer waits and re-reads the new version: no lost update.
#[test]
fn r_rowlock_concurrent_increments_do_not_lose_updates() {
    let (mut harness, s1, s2) = two();
    harness.ok(s1, "BEGIN; UPDATE a SET v = v + 1 WHERE id = 1");
    harness.ok(s2, "BEGIN");
    assert_eq!(
        harness.blocks(s2, "UPDATE a SET v = v + 1 WHERE id = 1 RETURNING v"),
        vec![s1]
    );
    harness.ok(s1, "COMMIT");
    assert_eq!(
        harness.wake_one(s2).expect("update").rows,
        vec![vec![int(2)]]
    );
}

/// r-rowlock: the WHERE re-check after the wait fails → UPDATE 0.
#[test]
fn r_rowlock_recheck_failure_updates_nothing() {
    let (mut harness, s1, s2) = two();
    harness.ok(s1, "BEGIN; UPDATE a SET v = v + 1 WHERE id = 1");
    harness.ok(s2, "BEGIN");
    harness.blocks(
        s2,
        "UPDATE a SET v = 100 WHERE id = 1 AND v = 0 RETURNING v",
    );
    harness.ok(s1, "COMMIT");
    let result = harness.wake_one(s2).expect("update");
    assert_eq!(
        (result.command_tag.as_str(), result.rows.len()),
        ("UPDATE 0", 0)
    );
}

/// r-rowlock / r-extras: a row deleted by the lock holder is ignored by FOR UPDATE and UPDATE.
#[test]
fn r_rowlock_deleted_row_is_ignored_after_wait() {
    for statement in [
        "SELECT * FROM a WHERE id = 1 FOR UPDATE",
        "UPDATE a SET v = 9 WHERE id = 1",
    ] {
        let (mut harness, s1, s2) = two();
        harness.ok(s1, "BEGIN; DELETE FROM a WHERE id = 1");
        harness.ok(s2, "BEGIN");
        harness.blocks(s2, statement);
        harness.ok(s1, "COMMIT");
        let result = harness.wake_one(s2).expect("no error");
        assert_eq!(result.rows_affected, 0, "{statement}");
    }
}

/// r-rowlock: REPEATABLE READ gives 40001, after a wait or immediately.
#[test]
fn r_rowlock_repeatable_read_update_conflict_is_serialization_failure() {
    let (mut harness, s1, s2) = two();
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT v FROM a WHERE id = 1",
    );
    harness.ok(s1, "BEGIN; UPDATE a SET v = v + 1 WHERE id = 1");
    harness.blocks(s2, "UPDATE a SET v = v + 1 WHERE id = 1 RETURNING v");
    harness.ok(s1, "COMMIT");
    assert_eq!(harness.wake_one(s2).unwrap_err().code(), "40001");

    let (mut harness, s1, s2) = two();
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT v FROM a WHERE id = 1",
    );
    harness.ok(s1, "UPDATE a SET v = v + 1 WHERE id = 1");
    let error = harness
        .run(s2, "UPDATE a SET v = v + 1 WHERE id = 1")
        .unwrap_err();
    assert_eq!(
        error.message,
        "could not serialize access due to concurrent update"
    );
}

/// r-extras: RR update of a row deleted after the snapshot → 40001 "concurrent delete";
/// RR FOR UPDATE of a row updated after the snapshot → 40001 "concurrent update".
#[test]
fn r_extras_repeatable_read_delete_and_lock_conflicts() {
    let (mut harness, s1, s2) = two();
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM a",
    );
    harness.ok(s1, "DELETE FROM a WHERE id = 1");
    let error = harness
        .run(s2, "UPDATE a SET v = 9 WHERE id = 1")
        .unwrap_err();
    assert_eq!(
        error.message,
        "could not serialize access due to concurrent delete"
    );

    let (mut harness, s1, s2) = two();
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM a",
    );
    harness.ok(s1, "UPDATE a SET v = 5 WHERE id = 1");
    let error = harness
        .run(s2, "SELECT * FROM a WHERE id = 1 FOR UPDATE")
        .unwrap_err();
    assert_eq!(
        error.message,
        "could not serialize access due to concurrent update"
    );
}

/// r-rowlock: NOWAIT on a locked row → 55P03 at once.
#[test]
fn r_rowlock_nowait_fails_immediately() {
    let (mut harness, s1, s2) = two();
    harness.ok(s1, "BEGIN; UPDATE a SET v = v + 1 WHERE id = 1");
    harness.ok(s2, "BEGIN");
    let error = harness
        .run(s2, "SELECT * FROM a WHERE id = 1 FOR UPDATE NOWAIT")
        .unwrap_err();
    assert_eq!(
        (error.code(), error.message.as_str()),
        ("55P03", "could not obtain lock on row in relation \"a\"")
    );
}

/// r-rowlock: two SKIP LOCKED queue workers get different rows (locked rows are skipped
/// before LIMIT).
#[test]
fn r_rowlock_skip_locked_workers_take_different_rows() {
    let (mut harness, s1, s2) = two();
    let take = "SELECT id FROM a WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
    harness.ok(s1, "BEGIN");
    assert_eq!(harness.rows(s1, take), vec![vec![int(1)]]);
    harness.ok(s2, "BEGIN");
    assert_eq!(harness.rows(s2, take), vec![vec![int(2)]]);
    // FOR SHARE does not conflict with FOR SHARE, but does with FOR UPDATE.
    assert_eq!(
        harness.rows(s2, "SELECT id FROM a WHERE id = 3 FOR SHARE"),
        vec![vec![int(3)]]
    );
    assert_eq!(
        harness.rows(s1, "SELECT id FROM a WHERE id = 3 FOR SHARE"),
        vec![vec![int(3)]]
    );
    harness.blocks(s1, "SELECT id FROM a WHERE id = 2 FOR SHARE");
}

/// r-rowlock: the application-level lost update READ COMMITTED permits.
#[test]
fn r_rowlock_read_then_write_loses_an_update() {
    let (mut harness, s1, s2) = two();
    harness.ok(s2, "BEGIN");
    assert_eq!(
        harness.rows(s2, "SELECT v FROM a WHERE id = 1"),
        vec![vec![int(0)]]
    );
    harness.ok(s1, "UPDATE a SET v = v + 1 WHERE id = 1");
    assert_eq!(
        harness.rows(s2, "UPDATE a SET v = 0 + 1 WHERE id = 1 RETURNING v"),
        vec![vec![int(1)]]
    );
}

/// r-advisory: a transaction-level advisory lock blocks until the holder commits.
#[test]
fn r_advisory_xact_lock_waits_for_commit() {
    let (mut harness, s1, s2) = two();
    harness.ok(
        s1,
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext('job-42'))",
    );
    harness.ok(s2, "BEGIN");
    assert_eq!(
        harness.blocks(s2, "SELECT pg_advisory_xact_lock(hashtext('job-42'))"),
        vec![s1]
    );
    assert!(harness.pg.runnable_waiters().is_empty());
    harness.ok(s1, "COMMIT");
    harness.wake_one(s2).expect("acquired");
}

/// r-advisory: a session lock survives ROLLBACK; try-lock returns false for it.
#[test]
fn r_advisory_session_lock_survives_rollback() {
    let (mut harness, s1, s2) = two();
    harness.ok(s1, "BEGIN; SELECT pg_advisory_lock(7); ROLLBACK");
    harness.ok(s2, "BEGIN");
    let row = harness.rows(
        s2,
        "SELECT pg_try_advisory_lock(7) AS got7, \
         pg_try_advisory_xact_lock(hashtext('job-42')) AS got42",
    );
    assert_eq!(row, vec![vec![Value::Bool(false), Value::Bool(true)]]);
    harness.ok(s2, "COMMIT");
    assert_eq!(
        harness.rows(s1, "SELECT pg_advisory_unlock(7)"),
        vec![vec![Value::Bool(true)]]
    );
    assert_eq!(
        harness.rows(s1, "SELECT pg_advisory_unlock(7)"),
        vec![vec![Value::Bool(false)]]
    );
}

/// r-advisory: a session lock wait ends at unlock; locks stack (two locks, two unlocks).
#[test]
fn r_advisory_session_lock_wait_and_stacking() {
    let (mut harness, s1, s2) = two();
    harness.ok(s1, "SELECT pg_advisory_lock(7)");
    harness.ok(s1, "SELECT pg_advisory_lock(7)");
    harness.blocks(s2, "SELECT pg_advisory_lock(7)");
    assert_eq!(
        harness.rows(s1, "SELECT pg_advisory_unlock(7)"),
        vec![vec![Value::Bool(true)]]
    );
    assert!(harness.pg.runnable_waiters().is_empty());
    harness.ok(s1, "SELECT pg_advisory_unlock(7)");
    harness.wake_one(s2).expect("acquired");
    assert_eq!(
        harness.rows(s2, "SELECT pg_advisory_unlock(7)"),
        vec![vec![Value::Bool(true)]]
    );
}

/// r-adv-deadlock and r-deadlock: the waiter whose check runs finds the cycle and aborts
/// itself with 40P01; the other proceeds and commits.
#[test]
fn r_deadlock_checking_waiter_is_the_victim() {
    let scripts = [
        [
            "SELECT pg_advisory_xact_lock(1)",
            "SELECT pg_advisory_xact_lock(2)",
            "SELECT pg_advisory_xact_lock(2)",
            "SELECT pg_advisory_xact_lock(1)",
        ],
        [
            "UPDATE a SET v = v + 1 WHERE id = 1",
            "UPDATE a SET v = v + 1 WHERE id = 2",
            "UPDATE a SET v = v + 1 WHERE id = 2",
            "UPDATE a SET v = v + 1 WHERE id = 1",
        ],
    ];
    for [first_1, second_2, first_2, second_1] in scripts {
        let (mut harness, s1, s2) = two();
        harness.ok(s1, "BEGIN");
        harness.ok(s2, "BEGIN");
        harness.ok(s1, first_1);
        harness.ok(s2, second_2);
        harness.blocks(s1, first_2);
        assert_eq!(harness.pg.check_deadlock(s1), None, "no cycle yet");
        harness.blocks(s2, second_1);
        harness.now_micros += harness.pg.config().deadlock_timeout_micros;
        assert!(harness.pg.deadlock_check_due(s1, harness.now_micros));
        let error = harness.pg.check_deadlock(s1).expect("s1 finds the cycle");
        assert_eq!(
            (error.code(), error.message.as_str()),
            ("40P01", "deadlock detected")
        );
        assert!(matches!(
            harness.wake().as_slice(),
            [(session, StepOutcome::Done(Ok(_)))] if *session == s2
        ));
        assert_eq!(harness.ok(s1, "COMMIT").command_tag, "ROLLBACK");
        assert_eq!(harness.ok(s2, "COMMIT").command_tag, "COMMIT");
    }
}

/// Goal: waiters are offered the lock in the order they started waiting (PostgreSQL's lock
/// queue), not in session order; the second waiter then waits for the first.
#[test]
fn waiters_run_in_wait_order() {
    let (mut harness, s1, s2) = two();
    let s3 = harness.session();
    harness.ok(s1, "BEGIN; UPDATE a SET v = 1 WHERE id = 1");
    harness.ok(s3, "BEGIN");
    harness.ok(s2, "BEGIN");
    harness.blocks(s3, "UPDATE a SET v = 3 WHERE id = 1");
    harness.blocks(s2, "UPDATE a SET v = 2 WHERE id = 1");
    harness.ok(s1, "COMMIT");
    assert_eq!(harness.pg.runnable_waiters(), vec![s3, s2]);
    let outcomes = harness.wake();
    assert!(matches!(&outcomes[0], (session, StepOutcome::Done(Ok(_))) if *session == s3));
    assert!(matches!(
        &outcomes[1],
        (session, StepOutcome::Blocked { waiting_for })
            if *session == s2 && *waiting_for == vec![s3]
    ));
    harness.ok(s3, "COMMIT");
    harness.wake_one(s2).expect("update");
    harness.ok(s2, "COMMIT");
    assert_eq!(
        harness.rows(s1, "SELECT v FROM a WHERE id = 1"),
        vec![vec![int(2)]]
    );
}

/// r-extras: `SET LOCAL lock_timeout = '100ms'` is recorded for the driver, which cancels the
/// wait on virtual time with 55P03 "canceling statement due to lock timeout"; the setting ends
/// with the transaction. Session-level SETs persist; bad values are 22023.
#[test]
fn r_extras_lock_timeout_is_enforced_by_the_driver() {
    let (mut harness, s1, s2) = two();
    harness.ok(s1, "BEGIN; UPDATE a SET v = 5 WHERE id = 1");
    harness.ok(s2, "BEGIN");
    harness.blocks(
        s2,
        "SET LOCAL lock_timeout = '100ms'; UPDATE a SET v = 9 WHERE id = 1",
    );
    let timeouts = harness.pg.timeouts(s2);
    assert_eq!(timeouts.lock_timeout_micros, Some(100_000));
    let error = harness
        .pg
        .cancel_wait(s2, super::super::CancelReason::LockTimeout)
        .expect("was waiting");
    assert_eq!(
        (error.code(), error.message.as_str()),
        ("55P03", "canceling statement due to lock timeout")
    );
    assert_eq!(harness.ok(s2, "COMMIT").command_tag, "ROLLBACK");
    assert_eq!(harness.pg.timeouts(s2).lock_timeout_micros, None);
    harness.ok(
        s2,
        "SET deadlock_timeout = '100ms'; SET statement_timeout TO 5000",
    );
    let timeouts = harness.pg.timeouts(s2);
    assert_eq!(
        (
            timeouts.deadlock_timeout_micros,
            timeouts.statement_timeout_micros
        ),
        (100_000, Some(5_000_000))
    );
    assert_eq!(harness.code(s2, "SET lock_timeout = 'soon'"), "22023");
    harness.ok(s1, "COMMIT");
}

/// SET TRANSACTION ISOLATION LEVEL works before the first query of a block, and is 25001
/// after it.
#[test]
fn set_transaction_isolation_level_before_first_query() {
    let (mut harness, s1, s2) = two();
    harness.ok(s2, "BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    harness.ok(s2, "SELECT v FROM a WHERE id = 1");
    harness.ok(s1, "UPDATE a SET v = 7 WHERE id = 1");
    assert_eq!(
        harness.rows(s2, "SELECT v FROM a WHERE id = 1"),
        vec![vec![int(0)]]
    );
    assert_eq!(
        harness.code(s2, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        "25001"
    );
}

/// The four row-lock strengths in SQL text and PostgreSQL's conflict table
/// (https://www.postgresql.org/docs/15/explicit-locking.html#ROW-LOCK-COMPATIBILITY):
/// KEY SHARE conflicts only with UPDATE; SHARE with NO KEY UPDATE and UPDATE; NO KEY UPDATE
/// with all but KEY SHARE; UPDATE with all. NOWAIT shows a conflict at once (55P03).
#[test]
fn row_lock_strengths_in_sql_follow_the_conflict_table() {
    let strengths = ["KEY SHARE", "SHARE", "NO KEY UPDATE", "UPDATE"];
    // conflicts[held][requested]
    let conflicts = [
        [false, false, false, true],
        [false, false, true, true],
        [false, true, true, true],
        [true, true, true, true],
    ];
    for (held, row) in conflicts.iter().enumerate() {
        for (requested, conflict) in row.iter().enumerate() {
            let (mut harness, s1, s2) = two();
            let hold = format!(
                "BEGIN; SELECT id FROM a WHERE id = 1 FOR {}",
                strengths[held]
            );
            harness.ok(s1, &hold);
            let request = format!(
                "SELECT id FROM a WHERE id = 1 FOR {} NOWAIT",
                strengths[requested]
            );
            let code = harness.run(s2, &request).err().map(|error| error.code());
            let expected = conflict.then_some("55P03");
            assert_eq!(
                code, expected,
                "{} held, {} requested",
                strengths[held], strengths[requested]
            );
        }
    }
}

/// `FOR KEY SHARE OF a` names the locked table; the rewrite for sqlparser stays invisible.
#[test]
fn a_locking_clause_of_its_table_runs_and_others_are_refused() {
    let (mut harness, s1, _) = two();
    let rows = harness
        .run(
            s1,
            "SELECT id FROM a WHERE id = 2 FOR KEY SHARE OF a SKIP LOCKED",
        )
        .expect("locks")
        .rows;
    assert_eq!(rows, vec![vec![int(2)]]);
    let error = harness
        .run(s1, "SELECT id FROM a FOR NO KEY UPDATE OF b")
        .unwrap_err();
    assert_eq!(
        error.message,
        "syncsim: unsupported SQL construct: a locking clause OF b"
    );
}
