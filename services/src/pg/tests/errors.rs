//! Every SQLSTATE the engine raises, and the dedicated 0A000 error for each construct outside
//! the simulated subset (the message must name the construct, never approximate it).

use super::StepOutcome;
use super::{text, Harness};

const SETUP: &str = "CREATE TABLE p (id int PRIMARY KEY, name text NOT NULL); \
    CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p(id)); \
    INSERT INTO p VALUES (1, 'one')";

/// Goal: each listed SQLSTATE is produced by the statement PostgreSQL produces it for.
#[test]
fn every_sqlstate_has_a_trigger() {
    let (mut harness, session) = Harness::with_setup(SETUP);
    let cases = [
        ("INSERT INTO p VALUES (1, 'x')", "23505"),
        ("INSERT INTO c VALUES (1, 42)", "23503"),
        ("INSERT INTO p VALUES (2, NULL)", "23502"),
        ("SELECT * FROM nope", "42P01"),
        ("SELECT nope FROM p", "42703"),
        ("SELECT p.nope FROM p", "42703"),
        ("INSERT INTO p (nope) VALUES (1)", "42703"),
        ("SELEC 1", "42601"),
        ("SELECT 1; SELEC 1", "42601"),
        ("SELECT 'unterminated", "42601"),
        (
            "INSERT INTO p VALUES (1, 'x') ON CONFLICT DO UPDATE SET name = 'y'",
            "42601",
        ),
        ("INSERT INTO p (id) VALUES (1, 'x')", "42601"),
        // Cast forms of other dialects that sqlparser reads: PostgreSQL 15.18 says 42601.
        ("SELECT TRY_CAST('1' AS int)", "42601"),
        ("SELECT SAFE_CAST('1' AS int)", "42601"),
        ("SELECT CAST('1' AS int FORMAT 'x')", "42601"),
        ("SELECT {d '2025-07-16'}", "42601"),
        ("SELECT {fn lower('A')}", "42601"),
        ("SELECT lower('A') IGNORE NULLS", "42601"),
        ("CREATE TABLE p (id int)", "42P07"),
        ("SELECT 'zz'::uuid", "22P02"),
        ("SELECT 'x'::int", "22P02"),
        ("SELECT 'not a time'::timestamptz", "22007"),
        ("SELECT 2147483647 + 1", "22003"),
        ("SELECT 1 / 0", "22012"),
        (
            "INSERT INTO p VALUES (1, 'x') ON CONFLICT (name) DO NOTHING",
            "42P10",
        ),
        ("SELECT 1 = true", "42883"),
        ("SELECT * FROM p WHERE id", "42804"),
        ("ROLLBACK TO SAVEPOINT nope", "25P01"),
        ("SELECT $1", "08P01"),
        ("SELECT unknown_function(1)", "0A000"),
    ];
    for (sql, code) in cases {
        assert_eq!(harness.code(session, sql), code, "{sql}");
    }
    let error = harness
        .run(session, "INSERT INTO p VALUES (2, NULL)")
        .unwrap_err();
    assert_eq!(
        error.message,
        "null value in column \"name\" of relation \"p\" violates not-null constraint"
    );
    assert_eq!(
        error.detail.as_deref(),
        Some("Failing row contains (2, null).")
    );
}

/// Goal: a statement on a blocked session and a statement on a gone session are protocol
/// errors the driver can tell apart.
#[test]
fn driver_misuse_errors() {
    let (mut harness, first) = Harness::with_setup(SETUP);
    let second = harness.session();
    harness.ok(first, "BEGIN; UPDATE p SET name = 'x' WHERE id = 1");
    harness.blocks(second, "UPDATE p SET name = 'y' WHERE id = 1");
    assert_eq!(harness.code(second, "SELECT 1"), "08P01");
    harness.pg.close_session(first);
    assert!(matches!(
        harness.pg.resume(second, 0, &mut harness.entropy),
        StepOutcome::Done(Ok(_))
    ));
    harness.pg.close_session(second);
    assert_eq!(harness.code(second, "SELECT 1"), "08003");
    assert_eq!(
        harness.pg.resume(second, 0, &mut harness.entropy),
        StepOutcome::Done(Err(super::PgError::new(
            super::SqlState::ProtocolViolation,
            "syncsim: session is not waiting"
        )))
    );
}

const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "CREATE TABLE m (a int, b int, FOREIGN KEY (a, b) REFERENCES m2 (x, y) MATCH FULL)",
        "MATCH FULL",
    ),
    ("SELECT count(*) OVER () FROM p", "WINDOW function"),
    (
        "CREATE TABLE u (a int, UNIQUE NULLS NOT DISTINCT (a))",
        "UNIQUE NULLS NOT DISTINCT",
    ),
    (
        "SELECT * FROM p WHERE EXISTS (SELECT 1 FROM p AS q WHERE q.id = p.id)",
        "correlated subquery",
    ),
    (
        "WITH RECURSIVE x AS (SELECT 1) SELECT * FROM x",
        "WITH RECURSIVE",
    ),
    ("SELECT id FROM p UNION SELECT id FROM c", "UNION"),
    (
        "SELECT name, count(*) FROM p GROUP BY ROLLUP (name)",
        "grouping sets (ROLLUP, CUBE, GROUPING SETS)",
    ),
    ("SELECT count(*) FROM p GROUP BY ()", "GROUP BY ()"),
    (
        "SELECT string_agg(name, ',') FROM p",
        "aggregate string_agg()",
    ),
    ("SELECT count(p.*) FROM p", "whole-row argument p.*"),
    ("SELECT DISTINCT ON (name) name FROM p", "DISTINCT ON"),
    (
        "SELECT * FROM p LEFT JOIN c ON c.p_id = p.id",
        "outer or cross JOIN",
    ),
    ("SELECT * FROM p, c, p AS q", "more than two FROM items"),
    ("SELECT CASE WHEN id = 1 THEN 'a' END FROM p", "CASE"),
    ("SELECT * FROM p WHERE name LIKE 'o%'", "expression"),
    ("SELECT 'NaN'::numeric", "numeric special value NaN"),
    ("CREATE TABLE t (id int CHECK (id > 0))", "column option"),
    (
        "CREATE TABLE t (id int, CHECK (id > 0))",
        "CHECK constraint",
    ),
    ("CREATE TABLE t (id double precision)", "column type"),
    (
        "CREATE TABLE t (id int REFERENCES p(id) ON UPDATE CASCADE)",
        "ON UPDATE",
    ),
    (
        "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
        "SET TRANSACTION SNAPSHOT",
    ),
    (
        "UPDATE p SET name = c.id FROM c, p AS q WHERE c.p_id = p.id",
        "UPDATE … FROM with several items or a JOIN",
    ),
    (
        "DELETE FROM p USING c JOIN p AS q ON q.id = c.p_id WHERE c.p_id = p.id",
        "DELETE … USING with several items or a JOIN",
    ),
    (
        "INSERT INTO p SELECT * FROM p FOR UPDATE",
        "INSERT … SELECT with a locking clause",
    ),
    ("DROP INDEX p_pkey", "DROP INDEX statement"),
    ("DROP SEQUENCE s", "DROP SEQUENCE statement"),
    ("DROP SCHEMA public", "DROP SCHEMA statement"),
    ("DROP VIEW v", "DROP VIEW statement"),
    ("ALTER TABLE p ADD COLUMN x int", "ALTER TABLE statement"),
    ("COPY p TO STDOUT", "COPY"),
    ("PREPARE q AS SELECT 1", "PREPARE"),
    ("SET search_path = 'x'", "SET search_path"),
    (
        "SELECT * FROM p FOR KEY SHARE OF nope",
        "a locking clause OF nope",
    ),
    (
        "SELECT * FROM p FOR NO KEY UPDATE OF p, q",
        "a form of SELECT",
    ),
    (
        "SELECT * FROM p JOIN c ON c.p_id = p.id FOR UPDATE",
        "FOR UPDATE/SHARE with a JOIN",
    ),
    ("SELECT pg_advisory_lock_shared(1)", "shared advisory lock"),
    ("SELECT round(id) FROM p", "round(integer)"),
    // Accepted and ignored before: each is refused now, by name.
    (
        "CREATE TABLE t (id int) PARTITION BY RANGE (id)",
        "PARTITION BY",
    ),
    (
        "CREATE TABLE t PARTITION OF p FOR VALUES IN (1)",
        "PARTITION OF",
    ),
    ("CREATE TABLE t (id int) INHERITS (p)", "INHERITS"),
    (
        "CREATE TABLE t (id int) WITH (fillfactor = 70)",
        "storage parameters",
    ),
    (
        "CREATE TABLE t (id int) TABLESPACE pg_default",
        "TABLESPACE",
    ),
    ("CREATE UNLOGGED TABLE t (id int)", "UNLOGGED"),
    ("CREATE TEMPORARY TABLE t (id int)", "TEMPORARY"),
    ("CREATE TABLE t AS SELECT 1", "CREATE TABLE AS"),
    (
        "CREATE INDEX ON p (name) WITH (fillfactor = 70)",
        "storage parameters",
    ),
    (
        "CREATE UNIQUE INDEX ON p (name) WHERE id IN (SELECT 1)",
        "a subquery in an index predicate",
    ),
    ("CREATE INDEX ON p (name) INCLUDE (id)", "INCLUDE"),
    ("CREATE SCHEMA AUTHORIZATION someone", "CREATE SCHEMA"),
    // Valid PostgreSQL sqlparser cannot parse: unsupported, never a syntax error.
    ("REINDEX TABLE p", "REINDEX"),
    ("CLUSTER p USING p_pkey", "CLUSTER"),
    (
        "ALTER TABLE p ATTACH PARTITION c FOR VALUES IN (1)",
        "ATTACH PARTITION",
    ),
    ("SELECT;", "empty target list"),
    (
        "SELECT relname FROM pg_class",
        "system catalog or view pg_class",
    ),
    (
        "SELECT 1 FROM information_schema.tables",
        "system catalog or view information_schema.tables",
    ),
    ("PREPARE TRANSACTION 's1'", "PREPARE TRANSACTION"),
    ("COMMIT PREPARED 's1'", "COMMIT PREPARED"),
    (
        "TABLE p",
        "a form of TABLE that sqlparser 0.63 cannot parse",
    ),
    ("DO $$BEGIN NULL; END$$", "a form of DO"),
    ("SELECT 1; DO $$BEGIN NULL; END$$", "a form of SELECT, DO"),
    (
        "ALTER TABLE p ALTER COLUMN name SET STORAGE EXTERNAL",
        "a form of ALTER",
    ),
    ("SELECT id FROM p FETCH FIRST 1 ROWS ONLY", "FETCH FIRST"),
    ("SELECT ctid FROM p", "system column ctid"),
    ("SELECT p.xmin FROM p", "system column xmin"),
];

/// Goal: constructs outside the subset fail with 0A000 and a message naming them.
#[test]
fn unsupported_constructs_are_named() {
    let (mut harness, session) = Harness::with_setup(SETUP);
    for (sql, construct) in UNSUPPORTED {
        let error = harness.run(session, sql).unwrap_err();
        assert_eq!(error.code(), "0A000", "{sql}: {error}");
        assert!(
            error
                .message
                .starts_with("syncsim: unsupported SQL construct: "),
            "{sql}: {error}"
        );
        assert!(
            error.message.contains(construct),
            "{sql}: {error} should name {construct}"
        );
    }
    assert_eq!(
        harness.rows(session, "SELECT name FROM p"),
        vec![vec![text("one")]]
    );
}

/// Goal: DDL inside a transaction block is refused (the simulated catalog is not versioned by
/// transaction, so a rollback could not take it back), with the block left usable after a
/// ROLLBACK, and the same DDL runs outside a block.
#[test]
fn ddl_inside_a_transaction_block_is_refused_by_name() {
    let (mut harness, session) = Harness::with_setup(SETUP);
    harness.ok(session, "BEGIN");
    let error = harness
        .run(session, "CREATE TABLE t (id int PRIMARY KEY)")
        .unwrap_err();
    assert_eq!(error.code(), "0A000", "{error}");
    assert!(
        error
            .message
            .contains("CREATE TABLE inside a transaction block"),
        "{error}"
    );
    harness.ok(session, "ROLLBACK");
    harness.ok(session, "CREATE TABLE t (id int PRIMARY KEY)");
    harness.ok(session, "INSERT INTO t VALUES (1)");
    assert_eq!(harness.rows(session, "SELECT id FROM t").len(), 1);
}

/// Goal: a table cannot define a column with a system column's name (42701, as PostgreSQL).
#[test]
fn a_system_column_name_is_refused_in_create_table() {
    let (mut harness, session) = Harness::with_setup(SETUP);
    let error = harness
        .run(session, "CREATE TABLE t (xmin int)")
        .unwrap_err();
    assert_eq!(error.code(), "42701", "{error}");
    assert_eq!(
        error.message,
        "column name \"xmin\" conflicts with a system column name"
    );
}

/// Goal: `SET TimeZone = 'UTC'`, which a spec written from a run sets in every session, is
/// accepted (the simulated server's zone is UTC); another zone is refused by name, since
/// timestamps would print in it on PostgreSQL.
#[test]
fn the_time_zone_can_be_set_to_utc_and_only_to_utc() {
    let mut harness = Harness::new();
    let session = harness.session();
    assert_eq!(
        harness.ok(session, "SET TimeZone = 'UTC'").command_tag,
        "SET"
    );
    assert_eq!(
        harness.ok(session, "SET timezone TO 'utc'").command_tag,
        "SET"
    );
    let error = harness
        .run(session, "SET TimeZone = 'Europe/Paris'")
        .unwrap_err();
    assert_eq!(error.code(), "0A000");
    assert!(error.message.contains("Europe/Paris"), "{}", error.message);
}
