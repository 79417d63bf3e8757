//! Re-running a blocked statement: rows written before the block are not written twice,
//! RETURNING and tags still count them, sequence values are not drawn twice; plus how
//! savepoints and errors release locks that waiters depend on.

use super::{int, text, Harness};
use super::{ChangeKind, StepOutcome, Value};

/// Goal: a multi-row INSERT blocked on its second row finishes with one id per row, in
/// order, and no sequence value burnt by the re-run.
#[test]
fn blocked_multi_row_insert_keeps_its_sequence_values() {
    let (mut harness, s1) =
        Harness::with_setup("CREATE TABLE m (id bigserial PRIMARY KEY, email text UNIQUE)");
    let s2 = harness.session();
    harness.ok(s1, "BEGIN; INSERT INTO m (email) VALUES ('b')");
    harness.blocks(
        s2,
        "INSERT INTO m (email) VALUES ('a'), ('b'), ('c') RETURNING id, email",
    );
    harness.ok(s1, "ROLLBACK");
    let result = harness.wake_one(s2).expect("insert");
    assert_eq!(result.command_tag, "INSERT 0 3");
    let ids: Vec<Value> = result.rows.iter().map(|row| row[0].clone()).collect();
    assert_eq!(ids, vec![Value::Int8(2), Value::Int8(3), Value::Int8(4)]);
    let next = harness.rows(s2, "INSERT INTO m (email) VALUES ('d') RETURNING id");
    assert_eq!(next, vec![vec![Value::Int8(5)]]);
}

/// Goal: an UPDATE of several rows blocked midway increments each row exactly once and
/// reports every row.
#[test]
fn blocked_multi_row_update_applies_each_row_once() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE a (id int PRIMARY KEY, v int); INSERT INTO a VALUES (1, 0), (2, 0), (3, 0)",
    );
    let s2 = harness.session();
    harness.ok(s1, "BEGIN; SELECT * FROM a WHERE id = 2 FOR UPDATE");
    harness.blocks(s2, "UPDATE a SET v = v + 1 RETURNING id, v");
    harness.ok(s1, "COMMIT");
    let result = harness.wake_one(s2).expect("update");
    assert_eq!(result.command_tag, "UPDATE 3");
    assert_eq!(
        result.rows,
        vec![
            vec![int(1), int(1)],
            vec![int(2), int(1)],
            vec![int(3), int(1)]
        ]
    );
    assert_eq!(
        harness.pg.table_snapshot("a"),
        vec![
            vec![int(1), int(1)],
            vec![int(2), int(1)],
            vec![int(3), int(1)]
        ]
    );
}

/// Goal: a cascading DELETE blocked on a locked child completes the cascade after the wait.
#[test]
fn blocked_cascade_delete_finishes_the_cascade() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE p (id int PRIMARY KEY); \
         CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p(id) ON DELETE CASCADE); \
         INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1), (2, 1), (3, 1)",
    );
    let s2 = harness.session();
    harness.ok(s1, "BEGIN; SELECT * FROM c WHERE id = 2 FOR UPDATE");
    harness.blocks(s2, "DELETE FROM p WHERE id = 1");
    harness.ok(s1, "COMMIT");
    assert_eq!(
        harness.wake_one(s2).expect("delete").command_tag,
        "DELETE 1"
    );
    assert!(harness.pg.table_snapshot("c").is_empty());
    let log = harness.pg.commit_log().last().expect("commit").clone();
    assert_eq!(log.changes["public.c"].len(), 3);
    assert!(log.changes["public.c"]
        .iter()
        .all(|change| change.kind == ChangeKind::Delete));
}

/// Goal: ON CONFLICT DO UPDATE against a committed row locked by an updater waits, then
/// updates the newest version.
#[test]
fn upsert_waits_for_row_lock_then_updates_newest_version() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE kv (k int PRIMARY KEY, v int); INSERT INTO kv VALUES (1, 10)",
    );
    let s2 = harness.session();
    harness.ok(s1, "BEGIN; UPDATE kv SET v = 20 WHERE k = 1");
    harness.blocks(
        s2,
        "INSERT INTO kv VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = kv.v + EXCLUDED.v \
         RETURNING v",
    );
    harness.ok(s1, "COMMIT");
    assert_eq!(
        harness.wake_one(s2).expect("upsert").rows,
        vec![vec![int(21)]]
    );
}

/// Goal: ROLLBACK TO SAVEPOINT releases the row locks taken after it, so a waiter proceeds;
/// an error inside a savepoint keeps the locks taken before it.
#[test]
fn savepoint_rollback_releases_only_later_locks() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE a (id int PRIMARY KEY, v int); INSERT INTO a VALUES (1, 0), (2, 0)",
    );
    let s2 = harness.session();
    harness.ok(
        s1,
        "BEGIN; UPDATE a SET v = 1 WHERE id = 1; SAVEPOINT sp; UPDATE a SET v = 1 WHERE id = 2",
    );
    harness.blocks(s2, "UPDATE a SET v = 2 WHERE id = 2");
    harness.ok(s1, "ROLLBACK TO SAVEPOINT sp");
    assert_eq!(
        harness.wake_one(s2).expect("update").command_tag,
        "UPDATE 1"
    );
    assert_eq!(harness.code(s1, "INSERT INTO a VALUES (1, 0)"), "23505");
    // The error rolled back only the failed subtransaction: the lock on row 1 is still held.
    harness.blocks(s2, "UPDATE a SET v = 3 WHERE id = 1");
    assert_eq!(harness.ok(s1, "ROLLBACK").command_tag, "ROLLBACK");
    harness.wake_one(s2).expect("update after rollback");
}

/// Goal: an error in a block without savepoints releases the transaction's locks at once
/// (PostgreSQL aborts immediately and only waits for the client's ROLLBACK).
#[test]
fn error_without_savepoint_releases_locks_immediately() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE a (id int PRIMARY KEY, v int); INSERT INTO a VALUES (1, 0)",
    );
    let s2 = harness.session();
    harness.ok(s1, "BEGIN; UPDATE a SET v = 1 WHERE id = 1");
    harness.blocks(s2, "UPDATE a SET v = 2 WHERE id = 1");
    assert_eq!(harness.code(s1, "SELECT nope FROM a"), "42703");
    assert_eq!(
        harness.wake_one(s2).expect("update").command_tag,
        "UPDATE 1"
    );
    assert_eq!(harness.rows(s2, "SELECT v FROM a"), vec![vec![int(2)]]);
}

/// Goal: SKIP LOCKED skips locked rows and never sees uncommitted inserts (outbox pattern).
#[test]
fn skip_locked_ignores_uncommitted_inserts() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE jobs (id bigserial PRIMARY KEY, state text); \
         INSERT INTO jobs (state) VALUES ('queued')",
    );
    let s2 = harness.session();
    harness.ok(s1, "BEGIN; INSERT INTO jobs (state) VALUES ('queued')");
    harness.ok(s1, "SELECT id FROM jobs WHERE id = 1 FOR UPDATE");
    let taken = harness.ok(
        s2,
        "SELECT id FROM jobs WHERE state = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED",
    );
    assert_eq!(taken.rows.len(), 0);
    harness.ok(s1, "COMMIT");
    let taken = harness.rows(
        s2,
        "SELECT id, state FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 \
         FOR UPDATE SKIP LOCKED",
    );
    assert_eq!(taken, vec![vec![Value::Int8(1), text("queued")]]);
}

/// Goal: a transaction-level advisory lock taken in autocommit ends with the statement; a
/// blocked BEGIN…COMMIT batch resumes and finishes its remaining statements.
#[test]
fn autocommit_xact_lock_and_resumed_batches() {
    let (mut harness, s1) = Harness::with_setup("CREATE TABLE t (id int PRIMARY KEY)");
    let s2 = harness.session();
    harness.ok(s1, "SELECT pg_advisory_xact_lock(5)");
    harness.ok(s2, "SELECT pg_advisory_xact_lock(5)");
    harness.ok(s1, "BEGIN; SELECT pg_advisory_xact_lock(5)");
    harness.blocks(
        s2,
        "BEGIN; SELECT pg_advisory_xact_lock(5); INSERT INTO t VALUES (1); COMMIT",
    );
    harness.ok(s1, "COMMIT");
    let outcomes = harness.wake();
    assert!(matches!(
        &outcomes[..],
        [(_, StepOutcome::Done(Ok(result)))] if result.command_tag == "COMMIT"
    ));
    assert_eq!(harness.pg.table_snapshot("t"), vec![vec![int(1)]]);
    assert!(!harness.pg.in_transaction(s2));
}

/// Goal: `RETURNING (xmax = 0) AS inserted` tells inserts from ON CONFLICT updates, and an
/// upsert that sets only non-key columns does not wait for a child's FK lock on the row.
#[test]
fn upsert_reports_inserted_and_takes_no_key_lock() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE p (id int PRIMARY KEY, name text); \
         CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p(id)); \
         INSERT INTO p VALUES (10, 'ten')",
    );
    let s2 = harness.session();
    let upsert = "INSERT INTO p VALUES ($1, 'new') ON CONFLICT (id) \
                  DO UPDATE SET name = EXCLUDED.name RETURNING id, (xmax = 0) AS inserted";
    let fresh = harness.run_params(s2, upsert, &[int(11)]).expect("insert");
    assert_eq!(
        (fresh.columns.clone(), fresh.rows),
        (
            vec!["id".to_string(), "inserted".to_string()],
            vec![vec![int(11), Value::Bool(true)]]
        )
    );
    harness.ok(s1, "BEGIN; INSERT INTO c VALUES (1, 10)");
    let updated = harness
        .run_params(s2, upsert, &[int(10)])
        .expect("update without waiting");
    assert_eq!(updated.rows, vec![vec![int(10), Value::Bool(false)]]);
    harness.ok(s1, "COMMIT");
}

/// Goal: the job-queue claim `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)` gives
/// two concurrent workers different jobs; IN / NOT IN / EXISTS subqueries filter as in SQL.
#[test]
fn subquery_job_claim_and_membership() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE jobs (id int PRIMARY KEY, state text); \
         INSERT INTO jobs VALUES (1, 'queued'), (2, 'queued'), (3, 'done')",
    );
    let s2 = harness.session();
    let claim = "UPDATE jobs SET state = 'running' WHERE id = \
                 (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) RETURNING id";
    harness.ok(s1, "BEGIN");
    harness.ok(s2, "BEGIN");
    assert_eq!(harness.rows(s1, claim), vec![vec![int(1)]]);
    assert_eq!(harness.rows(s2, claim), vec![vec![int(2)]]);
    harness.ok(s1, "COMMIT");
    harness.ok(s2, "COMMIT");
    let ids = |harness: &mut Harness, sql: &str| harness.rows(s1, sql).len();
    assert_eq!(
        ids(
            &mut harness,
            "SELECT id FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'running')"
        ),
        2
    );
    assert_eq!(
        ids(
            &mut harness,
            "SELECT id FROM jobs WHERE id NOT IN (SELECT id FROM jobs WHERE state = 'running')"
        ),
        1
    );
    assert_eq!(
        ids(
            &mut harness,
            "SELECT id FROM jobs WHERE EXISTS (SELECT * FROM jobs WHERE state = 'queued')"
        ),
        0
    );
    assert_eq!(
        harness.code(s1, "SELECT id FROM jobs WHERE id = (SELECT id FROM jobs)"),
        "21000"
    );
}
