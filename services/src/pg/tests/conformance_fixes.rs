//! Behaviours the conformance corpus (conformance/specs) found differing from a real
//! PostgreSQL 15 and the engine now matches; each test fails on the old behaviour.

use super::{Harness, Value};

/// advisory-locks.spec: void functions return a value that prints empty, not NULL.
#[test]
fn void_functions_return_void_not_null() {
    let (mut harness, session) = Harness::with_setup("SELECT 1");
    for sql in [
        "SELECT pg_advisory_lock(1)",
        "SELECT pg_advisory_unlock_all()",
        "SELECT pg_notify('c', 'p')",
    ] {
        let rows = harness.rows(session, sql);
        assert_eq!(rows, vec![vec![Value::Void]], "{sql}");
        assert_eq!(rows[0][0].to_pg_text(), "");
    }
    assert_eq!(
        harness.rows(session, "SELECT pg_advisory_lock(2) IS NULL"),
        vec![vec![Value::Bool(false)]]
    );
}

/// constraints-not-null.spec: a bad VALUES literal fails while planning, before the serial
/// default runs, so it burns no sequence value.
#[test]
fn a_bad_values_literal_burns_no_sequence_value() {
    let (mut harness, session) =
        Harness::with_setup("CREATE TABLE t (id serial PRIMARY KEY, note varchar(3))");
    assert_eq!(
        harness.code(session, "INSERT INTO t (note) VALUES ('toolong')"),
        "22001"
    );
    assert_eq!(
        harness.code(session, "INSERT INTO t (id, note) VALUES ('x', 'a')"),
        "22P02"
    );
    let rows = harness.rows(session, "INSERT INTO t (note) VALUES ('ok') RETURNING id");
    assert_eq!(rows, vec![vec![Value::Int4(1)]]);
}

/// sqlstates.spec: a text-typed expression has no assignment cast to uuid or int (42804);
/// an untyped literal or a parameter still fills the column.
#[test]
fn text_typed_expressions_do_not_fill_typed_columns() {
    let (mut harness, session) = Harness::with_setup("CREATE TABLE t (id int, u uuid)");
    assert_eq!(
        harness.code(session, "INSERT INTO t (u) VALUES ('x'::text)"),
        "42804"
    );
    assert_eq!(
        harness.code(session, "INSERT INTO t (id) VALUES (lower('6'))"),
        "42804"
    );
    harness.ok(
        session,
        "INSERT INTO t (id, u) VALUES ('6', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
    );
    harness.ok(session, "INSERT INTO t (id, u) VALUES (7, NULL)");
}

/// fk-snapshot.spec: in REPEATABLE READ, a child insert whose parent got a committed non-key
/// update after the snapshot succeeds (FOR KEY SHARE ignores it); a key update is 40001.
#[test]
fn repeatable_read_fk_check_ignores_non_key_parent_updates() {
    let (mut harness, s1) = Harness::with_setup(
        "CREATE TABLE parent (id int PRIMARY KEY, v int); \
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent); \
         INSERT INTO parent VALUES (1, 0), (2, 0)",
    );
    let s2 = harness.session();
    harness.ok(
        s1,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM parent",
    );
    harness.ok(s2, "UPDATE parent SET v = 1 WHERE id = 1");
    harness.ok(s2, "UPDATE parent SET id = 3 WHERE id = 2");
    harness.ok(s1, "INSERT INTO child VALUES (1, 1)");
    assert_eq!(harness.code(s1, "INSERT INTO child VALUES (2, 2)"), "40001");
}
