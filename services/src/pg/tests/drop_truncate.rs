//! DROP TABLE and TRUNCATE: what each removes, PostgreSQL 15's errors for them (codes,
//! messages, DETAIL and HINT checked against a real 15.18 server), their rollback with a
//! failing statement string, their waits for ACCESS EXCLUSIVE, and TRUNCATE seen through an
//! older snapshot.

use std::sync::Arc;

use super::{int, Harness, PgError, SessionId, Value};
use crate::pg::{ChangeKind, RowTrigger, TriggerEvent, TriggerInsert};

const FAMILY: &str = "CREATE TABLE p (id int PRIMARY KEY); \
                      CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id)); \
                      INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (1, 1)";

fn error(harness: &mut Harness, session: SessionId, sql: &str) -> PgError {
    harness
        .run(session, sql)
        .expect_err("the statement must fail")
}

fn ids(harness: &mut Harness, session: SessionId, sql: &str) -> Vec<Value> {
    harness
        .rows(session, sql)
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

/// Goal: DROP TABLE removes the table with its indexes and owned sequence, so the same names
/// can be created again, and the new table starts empty with its serial at 1. Method: drop a
/// table that has rows, a unique constraint, a plain index and a serial, then re-create it.
#[test]
fn a_dropped_table_can_be_recreated_empty_with_its_names_free() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE t (id serial PRIMARY KEY, email text UNIQUE); \
         CREATE INDEX t_email_idx ON t (email); \
         INSERT INTO t (email) VALUES ('a'), ('b')",
    );
    let dropped = harness.ok(session, "DROP TABLE t");
    assert_eq!(dropped.command_tag, "DROP TABLE");
    let gone = error(&mut harness, session, "SELECT * FROM t");
    assert_eq!(
        (gone.code(), gone.message.as_str()),
        ("42P01", "relation \"t\" does not exist")
    );
    let sequence = error(&mut harness, session, "SELECT nextval('t_id_seq')");
    assert_eq!(sequence.code(), "42P01", "{sequence}");
    harness.ok(
        session,
        "CREATE TABLE t (id serial PRIMARY KEY, email text UNIQUE); \
         CREATE INDEX t_email_idx ON t (email)",
    );
    assert_eq!(ids(&mut harness, session, "SELECT id FROM t"), vec![]);
    let first = harness.rows(session, "INSERT INTO t (email) VALUES ('a') RETURNING id");
    assert_eq!(first, vec![vec![int(1)]]);
}

/// Goal: a missing table is 42P01 `table "x" does not exist` (not "relation"), a missing
/// schema 3F000, and IF EXISTS skips both and drops the tables that do exist.
#[test]
fn drop_of_a_missing_table_fails_unless_if_exists() {
    let (mut harness, session) = Harness::with_setup("CREATE TABLE t (id int)");
    for (sql, code, message) in [
        ("DROP TABLE nope", "42P01", "table \"nope\" does not exist"),
        (
            "DROP TABLE public.nope",
            "42P01",
            "table \"nope\" does not exist",
        ),
        (
            "DROP TABLE t, nope",
            "42P01",
            "table \"nope\" does not exist",
        ),
        (
            "DROP TABLE nope.x",
            "3F000",
            "schema \"nope\" does not exist",
        ),
    ] {
        let failed = error(&mut harness, session, sql);
        assert_eq!((failed.code(), failed.message.as_str()), (code, message));
    }
    harness.ok(session, "DROP TABLE IF EXISTS nope, nope.x");
    harness.ok(session, "DROP TABLE IF EXISTS t, nope");
    assert_eq!(harness.code(session, "SELECT * FROM t"), "42P01");
}

/// Goal: a table another table's foreign key references cannot be dropped alone (2BP01 with
/// PostgreSQL's message, one DETAIL line per dependent constraint, and its HINT); dropped
/// together, or with a self-reference, it can. Method: each refused drop changes nothing.
#[test]
fn drop_of_a_referenced_table_fails_with_its_dependents() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    let refused = error(&mut harness, session, "DROP TABLE p");
    assert_eq!(refused.code(), "2BP01");
    assert_eq!(
        refused.message,
        "cannot drop table p because other objects depend on it"
    );
    assert_eq!(
        refused.detail.as_deref(),
        Some("constraint c_p_id_fkey on table c depends on table p")
    );
    assert_eq!(
        refused.hint.as_deref(),
        Some("Use DROP ... CASCADE to drop the dependent objects too.")
    );
    harness.ok(
        session,
        "CREATE TABLE d (id int PRIMARY KEY, p_id int REFERENCES p (id)); \
         CREATE TABLE q (id int PRIMARY KEY)",
    );
    let several = error(&mut harness, session, "DROP TABLE q, p RESTRICT");
    assert_eq!(
        several.message,
        "cannot drop desired object(s) because other objects depend on them"
    );
    assert_eq!(
        several.detail.as_deref(),
        Some(
            "constraint c_p_id_fkey on table c depends on table p\n\
             constraint d_p_id_fkey on table d depends on table p"
        )
    );
    assert_eq!(ids(&mut harness, session, "SELECT id FROM q"), vec![]);
    // Dependencies inside the dropped set do not count, in any order.
    harness.ok(session, "DROP TABLE c, p, d");
    harness.ok(
        session,
        "CREATE TABLE s (id int PRIMARY KEY, parent int REFERENCES s (id)); \
         INSERT INTO s VALUES (1, NULL); INSERT INTO s VALUES (2, 1); DROP TABLE s",
    );
}

/// Goal: DROP ... CASCADE drops the referencing foreign keys, not the referencing tables:
/// the child keeps its rows and no longer checks its column against anything.
#[test]
fn drop_cascade_drops_the_foreign_keys_and_keeps_the_children() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    harness.ok(session, "DROP TABLE p CASCADE");
    assert_eq!(
        harness.rows(session, "SELECT id, p_id FROM c"),
        vec![vec![int(1), int(1)]]
    );
    harness.ok(session, "INSERT INTO c VALUES (2, 99)");
    harness.ok(session, "CREATE TABLE p (id int PRIMARY KEY)");
    harness.ok(session, "DROP TABLE p");
}

/// Goal: syntax sqlparser takes from other dialects is PostgreSQL's 42601, never ignored.
#[test]
fn other_dialects_drop_and_truncate_syntax_is_a_syntax_error() {
    let (mut harness, session) = Harness::with_setup("CREATE TABLE t (id int)");
    for (sql, message) in [
        ("DROP TABLE t PURGE", "syntax error at or near \"PURGE\""),
        ("TRUNCATE IF EXISTS t", "syntax error at or near \"EXISTS\""),
    ] {
        let failed = error(&mut harness, session, sql);
        assert_eq!((failed.code(), failed.message.as_str()), ("42601", message));
    }
    assert_eq!(ids(&mut harness, session, "SELECT id FROM t"), vec![]);
}

#[derive(Debug)]
struct LogTrigger;

impl RowTrigger for LogTrigger {
    fn before(&self, _event: &TriggerEvent<'_>, _new: &mut [Value]) {}

    fn after(&self, _event: &TriggerEvent<'_>, new: &[Value]) -> Vec<TriggerInsert> {
        vec![TriggerInsert {
            table: "log".to_string(),
            values: vec![("id".to_string(), new[0].clone())],
        }]
    }
}

/// Goal: a table's row triggers go with it (a re-created table of the same name has none),
/// and stay when the drop rolls back. Method: a trigger logging each insert into `log`.
#[test]
fn drop_table_removes_its_triggers_unless_rolled_back() {
    let (mut harness, session) =
        Harness::with_setup("CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE log (id int)");
    harness.pg.install_trigger("t", Arc::new(LogTrigger));
    harness.ok(session, "INSERT INTO t VALUES (1)");
    let failed = error(&mut harness, session, "DROP TABLE t; SELECT 1 / 0");
    assert_eq!(failed.code(), "22012");
    harness.ok(session, "INSERT INTO t VALUES (2)");
    assert_eq!(
        ids(&mut harness, session, "SELECT id FROM log ORDER BY id"),
        vec![int(1), int(2)]
    );
    harness.ok(
        session,
        "DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (3)",
    );
    assert_eq!(
        ids(&mut harness, session, "SELECT id FROM log ORDER BY id"),
        vec![int(1), int(2)]
    );
}

/// Goal: DROP TABLE rolls back with its statement string, as CREATE TABLE does: the table
/// comes back with its rows, its foreign keys (after CASCADE) and its sequence position.
#[test]
fn drop_table_in_a_failed_statement_string_is_rolled_back() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE p (id serial PRIMARY KEY, v int); INSERT INTO p (v) VALUES (1), (2); \
         CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id))",
    );
    let failed = error(
        &mut harness,
        session,
        "INSERT INTO p (v) VALUES (3); DROP TABLE p CASCADE; CREATE TABLE p (id int); \
         SELECT 1 / 0",
    );
    assert_eq!(failed.code(), "22012");
    assert_eq!(
        ids(&mut harness, session, "SELECT id FROM p ORDER BY id"),
        vec![int(1), int(2)]
    );
    assert_eq!(
        harness.code(session, "INSERT INTO c VALUES (1, 9)"),
        "23503"
    );
    // id 3 went to the rolled-back insert; nextval is never rolled back.
    assert_eq!(
        harness.rows(session, "INSERT INTO p (v) VALUES (4) RETURNING id"),
        vec![vec![int(4)]]
    );
}

/// Goal: TRUNCATE empties every listed table (tag `TRUNCATE TABLE`), owned sequences go on
/// unless RESTART IDENTITY (then they start at 1 again), and ONLY / `*` are accepted.
#[test]
fn truncate_empties_tables_and_restart_identity_restarts_sequences() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE t (id serial PRIMARY KEY, v text); \
         CREATE TABLE g (id bigint GENERATED ALWAYS AS IDENTITY, v text); \
         INSERT INTO t (v) VALUES ('a'), ('b'); INSERT INTO g (v) VALUES ('a')",
    );
    let truncated = harness.ok(session, "TRUNCATE t");
    assert_eq!(truncated.command_tag, "TRUNCATE TABLE");
    assert_eq!(ids(&mut harness, session, "SELECT id FROM t"), vec![]);
    let next = harness.rows(session, "INSERT INTO t (v) VALUES ('c') RETURNING id");
    assert_eq!(next, vec![vec![int(3)]]);
    harness.ok(session, "TRUNCATE TABLE ONLY t, g * RESTART IDENTITY");
    assert_eq!(ids(&mut harness, session, "SELECT id FROM g"), vec![]);
    let restarted = harness.rows(
        session,
        "INSERT INTO t (v) VALUES ('d') RETURNING id; \
         INSERT INTO g (v) VALUES ('d') RETURNING id",
    );
    assert_eq!(restarted, vec![vec![Value::Int8(1)]]);
    assert_eq!(ids(&mut harness, session, "SELECT id FROM t"), vec![int(1)]);
    harness.ok(session, "TRUNCATE t CONTINUE IDENTITY");
    let continued = harness.rows(session, "INSERT INTO t (v) VALUES ('e') RETURNING id");
    assert_eq!(continued, vec![vec![int(2)]]);
}

/// Goal: TRUNCATE rolls back with its statement string, rows and RESTART IDENTITY both, and
/// the values drawn after the restart are rolled back too (PostgreSQL 15 gives 3 here).
#[test]
fn truncate_in_a_failed_statement_string_is_rolled_back() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('a'), ('b')",
    );
    let failed = error(
        &mut harness,
        session,
        "TRUNCATE t RESTART IDENTITY; INSERT INTO t (v) VALUES ('x'); SELECT 1 / 0",
    );
    assert_eq!(failed.code(), "22012");
    assert_eq!(
        ids(&mut harness, session, "SELECT id FROM t ORDER BY id"),
        vec![int(1), int(2)]
    );
    let next = harness.rows(session, "INSERT INTO t (v) VALUES ('c') RETURNING id");
    assert_eq!(next, vec![vec![int(3)]]);
}

/// Goal: rows a string inserted before its TRUNCATE go too, rows after it stay, and the
/// ground-truth log shows the truncated rows as deletes.
#[test]
fn truncate_sees_the_strings_own_earlier_rows() {
    let (mut harness, session) =
        Harness::with_setup("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    harness.ok(
        session,
        "INSERT INTO t VALUES (2); TRUNCATE t; INSERT INTO t VALUES (2)",
    );
    let log = harness.pg.commit_log().last().expect("committed").clone();
    assert_eq!(ids(&mut harness, session, "SELECT id FROM t"), vec![int(2)]);
    let kinds: Vec<(ChangeKind, Value)> = log.changes["public.t"]
        .iter()
        .map(|change| (change.kind, change.values[0].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ChangeKind::Insert, int(2)),
            (ChangeKind::Delete, int(1)),
            (ChangeKind::Delete, int(2)),
            (ChangeKind::Insert, int(2)),
        ]
    );
}

/// Goal: TRUNCATE of a table referenced from a table outside the list is PostgreSQL's 0A000
/// (DETAIL and HINT naming the referencing table), even when no row refers to it; listing
/// the child too, or CASCADE (which reaches grandchildren), truncates them all.
#[test]
fn truncate_of_a_referenced_table_needs_its_children_or_cascade() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    let refused = error(&mut harness, session, "TRUNCATE p");
    assert_eq!(refused.code(), "0A000");
    assert_eq!(
        refused.message,
        "cannot truncate a table referenced in a foreign key constraint"
    );
    assert_eq!(
        refused.detail.as_deref(),
        Some("Table \"c\" references \"p\".")
    );
    assert_eq!(
        refused.hint.as_deref(),
        Some("Truncate table \"c\" at the same time, or use TRUNCATE ... CASCADE.")
    );
    harness.ok(session, "TRUNCATE c, p");
    assert_eq!(ids(&mut harness, session, "SELECT id FROM p"), vec![]);
    harness.ok(
        session,
        "CREATE TABLE g (id int PRIMARY KEY, c_id int REFERENCES c (id)); \
         INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1); INSERT INTO g VALUES (1, 1)",
    );
    assert_eq!(harness.code(session, "TRUNCATE c, p RESTRICT"), "0A000");
    harness.ok(session, "TRUNCATE p CASCADE");
    assert_eq!(ids(&mut harness, session, "SELECT id FROM g"), vec![]);
    harness.ok(
        session,
        "CREATE TABLE s (id int PRIMARY KEY, parent int REFERENCES s (id)); \
         INSERT INTO s VALUES (1, NULL); INSERT INTO s VALUES (2, 1); TRUNCATE s",
    );
}

/// Goal: TRUNCATE of a missing table is 42P01 `relation "x" does not exist` (as written), of
/// a missing schema 3F000, and nothing listed is truncated.
#[test]
fn truncate_of_a_missing_table_fails_and_changes_nothing() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    for (sql, code, message) in [
        (
            "TRUNCATE c, nope",
            "42P01",
            "relation \"nope\" does not exist",
        ),
        (
            "TRUNCATE public.nope",
            "42P01",
            "relation \"public.nope\" does not exist",
        ),
        ("TRUNCATE nope.x", "3F000", "schema \"nope\" does not exist"),
    ] {
        let failed = error(&mut harness, session, sql);
        assert_eq!((failed.code(), failed.message.as_str()), (code, message));
    }
    assert_eq!(ids(&mut harness, session, "SELECT id FROM c"), vec![int(1)]);
}

/// Goal: both statements are refused inside a transaction block, like CREATE TABLE, and the
/// block is usable after its ROLLBACK.
#[test]
fn drop_and_truncate_inside_a_transaction_block_are_refused() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    for sql in ["DROP TABLE c", "TRUNCATE c"] {
        harness.ok(session, "BEGIN");
        let refused = error(&mut harness, session, sql);
        assert_eq!(refused.code(), "0A000");
        assert!(
            refused.message.contains("inside a transaction block"),
            "{refused}"
        );
        harness.ok(session, "ROLLBACK");
    }
    assert_eq!(ids(&mut harness, session, "SELECT id FROM c"), vec![int(1)]);
}

/// Goal: PostgreSQL's DROP TABLE and TRUNCATE wait for ACCESS EXCLUSIVE, so for every
/// transaction that used the table (here one that read it: ACCESS SHARE until it ends), and
/// run once it commits. The reader keeps reading meanwhile (it holds its lock already).
#[test]
fn drop_and_truncate_wait_for_a_transaction_that_used_the_table() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    let other = harness.session();
    harness.ok(other, "BEGIN");
    assert_eq!(harness.rows(other, "SELECT id FROM c").len(), 1);
    assert_eq!(harness.blocks(session, "TRUNCATE c"), vec![other]);
    assert_eq!(harness.rows(other, "SELECT id FROM c").len(), 1);
    harness.ok(other, "COMMIT");
    assert!(harness.wake_one(session).is_ok());
    harness.ok(other, "BEGIN");
    assert_eq!(harness.rows(other, "SELECT id FROM c").len(), 0);
    assert_eq!(harness.blocks(session, "DROP TABLE c"), vec![other]);
    harness.ok(other, "COMMIT");
    assert!(harness.wake_one(session).is_ok());
    assert_eq!(harness.code(other, "SELECT id FROM c"), "42P01");
}

/// Goal: a transaction that never touched the tables holds no lock on them, so DROP TABLE
/// and TRUNCATE run at once (PostgreSQL too); a REPEATABLE READ snapshot older than the
/// TRUNCATE then sees the table empty (TRUNCATE is not MVCC-safe, sql-truncate.html), and
/// rows the truncating transaction wrote after its TRUNCATE stay.
#[test]
fn an_unrelated_open_transaction_does_not_delay_them() {
    let (mut harness, session) = Harness::with_setup(FAMILY);
    let reader = harness.session();
    harness.ok(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_eq!(harness.rows(reader, "SELECT 1").len(), 1);
    harness.ok(session, "TRUNCATE c; INSERT INTO c VALUES (7, 2)");
    assert_eq!(
        ids(&mut harness, reader, "SELECT id FROM c"),
        Vec::<Value>::new()
    );
    harness.ok(reader, "COMMIT");
    assert_eq!(ids(&mut harness, reader, "SELECT id FROM c"), vec![int(7)]);
    harness.ok(reader, "BEGIN");
    harness.ok(session, "DROP TABLE c");
    assert_eq!(harness.code(reader, "SELECT id FROM c"), "42P01");
}
