//! WITH queries: the refusals `cte.rs` makes where PostgreSQL's outcome depends on its plan
//! or the engine does not model the form (the agreeing behaviour is recorded against a live
//! server in `conformance/specs/writable-cte.spec`), the table locks of every part, and a
//! data-modifying WITH query that runs once across a block and re-run.

use super::{int, Harness};

const SETUP: &str = "CREATE TABLE t (k int PRIMARY KEY, v int); \
     CREATE TABLE a (k int PRIMARY KEY, v int); \
     INSERT INTO t VALUES (1, 10), (2, 20)";

fn refused(h: &mut Harness, session: super::SessionId, sql: &str, construct: &str) {
    let error = h.run(session, sql).unwrap_err();
    assert_eq!(error.code(), "0A000", "{sql}: {error:?}");
    assert!(
        error.message.contains(construct),
        "{sql}: message {:?} should name {construct:?}",
        error.message
    );
}

/// Goal: what is not modelled is 0A000 naming it, and nothing of the statement ran.
#[test]
fn unmodelled_forms_are_refused_by_name() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let cases = [
        (
            "WITH RECURSIVE r (n) AS (SELECT 1) SELECT * FROM r",
            "WITH RECURSIVE",
        ),
        (
            "WITH c AS NOT MATERIALIZED (SELECT k FROM t) SELECT * FROM c",
            "NOT MATERIALIZED",
        ),
        (
            "WITH c AS (WITH d AS (SELECT 1) SELECT * FROM d) SELECT * FROM c",
            "WITH inside a WITH query",
        ),
        (
            "SELECT * FROM t WHERE k IN (WITH c AS (SELECT 1) SELECT * FROM c)",
            "WITH in a subquery",
        ),
        (
            "WITH c AS (UPDATE t SET v = 0 RETURNING k) UPDATE t SET v = 1 FROM c \
             WHERE t.k = c.k",
            "writing table \"t\"",
        ),
        (
            "WITH c AS (DELETE FROM t RETURNING k), d AS (UPDATE t SET v = 1 RETURNING k) \
             SELECT * FROM c, d",
            "writing table \"t\"",
        ),
        (
            "WITH c AS (SELECT k FROM t FOR UPDATE) UPDATE a SET v = 1 \
             WHERE k = (SELECT k FROM c LIMIT 1)",
            "read inside a subquery",
        ),
        (
            "WITH c AS (SELECT k FROM t FOR UPDATE) SELECT * FROM c LIMIT 1",
            "LIMIT",
        ),
    ];
    for (sql, construct) in cases {
        refused(&mut h, s, sql, construct);
    }
    assert_eq!(
        h.rows(s, "SELECT v FROM t ORDER BY k"),
        vec![vec![int(10)], vec![int(20)]]
    );
}

/// Goal: a WITH query nothing reads may write the main statement's table (it runs after
/// it, in PostgreSQL's fixed order), so the same-table refusal only covers parts that run
/// together.
#[test]
fn an_unread_writer_may_share_the_main_statements_table() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let result = h.ok(
        s,
        "WITH c AS (UPDATE t SET v = 0 WHERE k = 1) UPDATE t SET v = 5 WHERE k = 1",
    );
    assert_eq!(result.command_tag, "UPDATE 1");
    assert_eq!(h.rows(s, "SELECT v FROM t WHERE k = 1"), vec![vec![int(5)]]);
}

/// Goal: every part's table lock is taken before the statement runs: a WITH query's
/// INSERT target waits for a LOCK TABLE held elsewhere, as PostgreSQL's parse analysis
/// locks it.
#[test]
fn a_with_querys_target_is_locked_before_the_statement_runs() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let other = h.session();
    h.ok(other, "BEGIN; LOCK TABLE a IN SHARE MODE");
    let blocked = h.blocks(
        s,
        "WITH c AS (INSERT INTO a VALUES (1, 1) RETURNING k) SELECT * FROM c",
    );
    assert_eq!(blocked, vec![other]);
    h.ok(other, "COMMIT");
    let woken = h.wake_one(s).expect("runs after the lock is released");
    assert_eq!(woken.rows, vec![vec![int(1)]]);
}

/// Goal: a WITH query's INSERT that ran before the main statement blocked is not repeated
/// when the statement re-runs, and its RETURNING rows are the same.
#[test]
fn a_with_insert_runs_once_across_a_block() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let other = h.session();
    h.ok(other, "BEGIN; SELECT * FROM t WHERE k = 2 FOR UPDATE");
    let blocked = h.blocks(
        s,
        "WITH c AS (INSERT INTO a VALUES (7, 7), (8, 8) RETURNING k) \
         UPDATE t SET v = v + 1 FROM c WHERE t.k = c.k - 6 RETURNING t.k, c.k",
    );
    assert_eq!(blocked, vec![other]);
    h.ok(other, "COMMIT");
    let woken = h.wake_one(s).expect("no duplicate key on the re-run");
    assert_eq!(woken.command_tag, "UPDATE 2");
    assert_eq!(
        h.rows(s, "SELECT k FROM a ORDER BY k"),
        vec![vec![int(7)], vec![int(8)]]
    );
}
