//! Transactions: autocommit, BEGIN/COMMIT/ROLLBACK, the aborted state (25P02), COMMIT of an
//! aborted transaction answering ROLLBACK, savepoints, multi-statement strings, isolation
//! levels, crash and the ground-truth log.

use super::{int, Harness};
use super::{ChangeKind, SqlState, Value};
use syncsim_sim::prng::Prng;
use syncsim_sim::seed::Seed;

fn setup() -> (Harness, super::SessionId) {
    Harness::with_setup("CREATE TABLE t (id int PRIMARY KEY, v int)")
}

/// Goal: after an error inside BEGIN every statement fails with 25P02, and COMMIT answers
/// with the tag ROLLBACK instead of an error (§2.7); nothing of the transaction survives.
#[test]
fn error_poisons_transaction_and_commit_answers_rollback() {
    let (mut harness, session) = setup();
    assert_eq!(harness.ok(session, "BEGIN").command_tag, "BEGIN");
    harness.ok(session, "INSERT INTO t VALUES (1, 1)");
    assert_eq!(
        harness.code(session, "INSERT INTO t VALUES (1, 2)"),
        "23505"
    );
    let poisoned = harness.run(session, "SELECT * FROM t").unwrap_err();
    assert_eq!(poisoned.sqlstate, SqlState::InFailedSqlTransaction);
    assert_eq!(
        poisoned.message,
        "current transaction is aborted, commands ignored until end of transaction block"
    );
    assert_eq!(harness.code(session, "SAVEPOINT a"), "25P02");
    assert_eq!(harness.ok(session, "COMMIT").command_tag, "ROLLBACK");
    assert!(harness.pg.table_snapshot("t").is_empty());
    assert_eq!(harness.ok(session, "COMMIT").command_tag, "COMMIT");
    assert_eq!(harness.ok(session, "ROLLBACK").command_tag, "ROLLBACK");
}

/// Goal: ROLLBACK TO SAVEPOINT undoes only later work and clears the aborted state; RELEASE
/// merges; unknown savepoints are 3B001; outside a block they are 25P01.
#[test]
fn savepoints_recover_from_errors() {
    let (mut harness, session) = setup();
    harness.ok(session, "BEGIN; INSERT INTO t VALUES (1, 1)");
    assert_eq!(harness.ok(session, "SAVEPOINT sp").command_tag, "SAVEPOINT");
    harness.ok(session, "INSERT INTO t VALUES (2, 2)");
    assert_eq!(
        harness.code(session, "INSERT INTO t VALUES (1, 9)"),
        "23505"
    );
    assert_eq!(harness.code(session, "SELECT 1"), "25P02");
    assert_eq!(
        harness.ok(session, "ROLLBACK TO SAVEPOINT sp").command_tag,
        "ROLLBACK"
    );
    harness.ok(session, "INSERT INTO t VALUES (3, 3)");
    harness.ok(session, "SAVEPOINT inner_sp");
    assert_eq!(
        harness
            .ok(session, "RELEASE SAVEPOINT inner_sp")
            .command_tag,
        "RELEASE"
    );
    assert_eq!(
        harness.code(session, "ROLLBACK TO SAVEPOINT inner_sp"),
        "3B001"
    );
    assert_eq!(
        harness.ok(session, "ROLLBACK TO sp").command_tag,
        "ROLLBACK"
    );
    harness.ok(session, "COMMIT");
    assert_eq!(harness.pg.table_snapshot("t"), vec![vec![int(1), int(1)]]);
    assert_eq!(harness.code(session, "ROLLBACK TO SAVEPOINT sp"), "25P01");
    assert_eq!(harness.code(session, "SAVEPOINT sp"), "25P01");
}

/// Goal: a failing autocommit statement rolls back alone; a multi-statement string is one
/// implicit transaction, so its error rolls back the earlier statements too.
#[test]
fn autocommit_and_multi_statement_strings() {
    let (mut harness, session) = setup();
    harness.ok(session, "INSERT INTO t VALUES (1, 1)");
    assert_eq!(
        harness.code(session, "INSERT INTO t VALUES (1, 1)"),
        "23505"
    );
    assert_eq!(
        harness.code(
            session,
            "INSERT INTO t VALUES (2, 2); INSERT INTO t VALUES (1, 1)"
        ),
        "23505"
    );
    assert_eq!(harness.pg.table_snapshot("t"), vec![vec![int(1), int(1)]]);
    assert!(!harness.pg.in_transaction(session));
    let last = harness.ok(
        session,
        "INSERT INTO t VALUES (2, 2); SELECT count(*) FROM t",
    );
    assert_eq!(last.rows, vec![vec![Value::Int8(2)]]);
}

/// Goal: READ COMMITTED sees other commits per statement; REPEATABLE READ keeps the snapshot
/// of its first statement (not of BEGIN).
#[test]
fn isolation_levels_choose_snapshots() {
    let (mut harness, writer) = setup();
    let reader = harness.session();
    harness.ok(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    harness.ok(writer, "INSERT INTO t VALUES (1, 1)");
    assert_eq!(
        harness.rows(reader, "SELECT count(*) FROM t"),
        vec![vec![Value::Int8(1)]]
    );
    harness.ok(writer, "INSERT INTO t VALUES (2, 2)");
    assert_eq!(
        harness.rows(reader, "SELECT count(*) FROM t"),
        vec![vec![Value::Int8(1)]]
    );
    harness.ok(reader, "COMMIT");
    harness.ok(reader, "BEGIN");
    harness.ok(writer, "INSERT INTO t VALUES (3, 3)");
    assert_eq!(
        harness.rows(reader, "SELECT count(*) FROM t"),
        vec![vec![Value::Int8(3)]]
    );
    harness.ok(writer, "BEGIN; INSERT INTO t VALUES (4, 4)");
    assert_eq!(
        harness.rows(reader, "SELECT count(*) FROM t"),
        vec![vec![Value::Int8(3)]]
    );
    assert_eq!(
        harness.rows(writer, "SELECT count(*) FROM t"),
        vec![vec![Value::Int8(4)]]
    );
}

/// Goal: a crash rolls back open transactions and ends sessions; committed rows and sequence
/// positions survive; the commit log records what committed.
#[test]
fn crash_keeps_committed_data_and_sequences() {
    let (mut harness, session) =
        Harness::with_setup("CREATE TABLE s (id bigserial PRIMARY KEY, v int)");
    harness.ok(session, "INSERT INTO s (v) VALUES (1)");
    harness.ok(session, "BEGIN; INSERT INTO s (v) VALUES (2)");
    harness.pg.crash();
    assert_eq!(harness.code(session, "SELECT 1"), "08003");
    let fresh = harness.session();
    assert_eq!(
        harness.rows(fresh, "SELECT id, v FROM s"),
        vec![vec![Value::Int8(1), int(1)]]
    );
    assert_eq!(
        harness.rows(fresh, "INSERT INTO s (v) VALUES (3) RETURNING id"),
        vec![vec![Value::Int8(3)]]
    );
    let log = harness.pg.commit_log();
    let last = log.last().expect("a commit");
    assert_eq!(
        last.statements,
        vec!["INSERT INTO s (v) VALUES (3) RETURNING id".to_string()]
    );
    assert_eq!(last.changes["public.s"][0].kind, ChangeKind::Insert);
    assert_eq!(
        last.changes["public.s"][0].values,
        vec![Value::Int8(3), int(3)]
    );
}

/// Goal: the crash-during-commit hook decides the outcome from entropy and applies it.
#[test]
fn crash_during_commit_applies_the_drawn_outcome() {
    let mut outcomes = Vec::new();
    for seed in 0..8 {
        let (mut harness, session) = setup();
        harness.entropy = Prng::new(Seed(seed));
        harness.ok(session, "BEGIN; INSERT INTO t VALUES (1, 1)");
        let mut entropy = Prng::new(Seed(seed));
        let committed = harness.pg.crash_during_commit(session, &mut entropy);
        assert_eq!(harness.pg.table_snapshot("t").len(), usize::from(committed));
        outcomes.push(committed);
    }
    assert!(outcomes.contains(&true) && outcomes.contains(&false));
}

/// Goal: close_session rolls back and frees session advisory locks.
#[test]
fn close_session_releases_everything() {
    let (mut harness, first) = setup();
    let second = harness.session();
    harness.ok(first, "SELECT pg_advisory_lock(7)");
    harness.ok(first, "BEGIN; INSERT INTO t VALUES (1, 1)");
    assert_eq!(
        harness.rows(second, "SELECT pg_try_advisory_lock(7)"),
        vec![vec![Value::Bool(false)]]
    );
    harness.pg.close_session(first);
    assert_eq!(
        harness.rows(second, "SELECT pg_try_advisory_lock(7)"),
        vec![vec![Value::Bool(true)]]
    );
    harness.ok(second, "INSERT INTO t VALUES (1, 1)");
}

/// Goal: a key deleted earlier in the same transaction can be inserted again, and the
/// commit log records both changes in order with the statements that made them.
#[test]
fn delete_then_reinsert_same_key_in_one_transaction() {
    let (mut harness, session) = setup();
    harness.ok(session, "INSERT INTO t VALUES (1, 1)");
    harness.ok(
        session,
        "BEGIN; DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (1, 2); COMMIT",
    );
    assert_eq!(harness.pg.table_snapshot("t"), vec![vec![int(1), int(2)]]);
    let last = harness.pg.commit_log().last().expect("commit").clone();
    assert_eq!(last.statements.len(), 2);
    let kinds: Vec<ChangeKind> = last.changes["public.t"]
        .iter()
        .map(|change| change.kind)
        .collect();
    assert_eq!(kinds, vec![ChangeKind::Delete, ChangeKind::Insert]);
    assert!(last.commit_sequence > harness.pg.commit_log()[0].commit_sequence);
}

/// Goal: a self-referencing foreign key cascades through the tree in one statement.
#[test]
fn self_referencing_cascade_deletes_the_subtree() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE node (id int PRIMARY KEY, \
         parent_id int REFERENCES node(id) ON DELETE CASCADE); \
         INSERT INTO node VALUES (1, NULL); INSERT INTO node VALUES (2, 1); \
         INSERT INTO node VALUES (3, 2); \
         INSERT INTO node VALUES (4, NULL)",
    );
    assert_eq!(
        harness.code(session, "INSERT INTO node VALUES (5, 42)"),
        "23503"
    );
    harness.ok(session, "DELETE FROM node WHERE id = 1");
    assert_eq!(
        harness.pg.table_snapshot("node"),
        vec![vec![int(4), Value::Null]]
    );
}

/// BEGIN inside a transaction applies its isolation level as SET TRANSACTION does (checked on
/// PostgreSQL 15.18): before the first query it takes effect; after it, another level is 25001
/// and the block is aborted; the same level is accepted.
#[test]
fn begin_inside_a_transaction_applies_its_isolation_level() {
    let (mut harness, session) = Harness::with_setup("CREATE TABLE t (id int PRIMARY KEY)");
    harness.ok(session, "BEGIN; SELECT 1");
    let error = harness
        .run(session, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        .unwrap_err();
    assert_eq!(error.code(), "25001", "{error}");
    assert_eq!(harness.code(session, "SELECT 1"), "25P02");
    harness.ok(session, "ROLLBACK");
    harness.ok(
        session,
        "BEGIN; SELECT 1; BEGIN ISOLATION LEVEL READ COMMITTED; ROLLBACK",
    );
    harness.ok(
        session,
        "BEGIN; BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1",
    );
    let other = harness.session();
    harness.ok(other, "INSERT INTO t VALUES (1)");
    // Repeatable read: the snapshot of the first query does not see the later insert.
    assert!(harness.ok(session, "SELECT id FROM t").rows.is_empty());
}
