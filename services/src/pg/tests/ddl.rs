//! DDL: CREATE SCHEMA / TABLE / INDEX, PostgreSQL's generated constraint names, and the
//! errors for duplicates, unknown relations and unsupported column features.

use super::Value;
use super::{int, text, Harness};

/// Goal: constraint names follow PostgreSQL's conventions, because applications match on them.
#[test]
fn generated_constraint_names_match_postgres() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE parent (id int PRIMARY KEY, email text UNIQUE); \
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent(id), \
         a int, b int, UNIQUE (a, b))",
    );
    harness.ok(session, "INSERT INTO parent VALUES (1, 'x')");
    let pkey = harness
        .run(session, "INSERT INTO parent VALUES (1, 'y')")
        .unwrap_err();
    assert_eq!(
        pkey.message,
        "duplicate key value violates unique constraint \"parent_pkey\""
    );
    assert_eq!(pkey.detail.as_deref(), Some("Key (id)=(1) already exists."));
    assert_eq!(
        (pkey.table.as_deref(), pkey.constraint.as_deref()),
        (Some("parent"), Some("parent_pkey"))
    );
    let key = harness
        .run(session, "INSERT INTO parent VALUES (2, 'x')")
        .unwrap_err();
    assert_eq!(
        key.message,
        "duplicate key value violates unique constraint \"parent_email_key\""
    );
    let fkey = harness
        .run(session, "INSERT INTO child VALUES (1, 9, 1, 1)")
        .unwrap_err();
    assert_eq!(
        fkey.message,
        "insert or update on table \"child\" violates foreign key constraint \
         \"child_parent_id_fkey\""
    );
    assert_eq!(
        fkey.detail.as_deref(),
        Some("Key (parent_id)=(9) is not present in table \"parent\".")
    );
    // The error's table field is the referencing table (semantics note §2.3).
    assert_eq!(
        (fkey.table.as_deref(), fkey.constraint.as_deref()),
        (Some("child"), Some("child_parent_id_fkey"))
    );
    harness.ok(session, "INSERT INTO child VALUES (1, 1, 1, 1)");
    let pair = harness
        .run(session, "INSERT INTO child VALUES (2, 1, 1, 1)")
        .unwrap_err();
    assert_eq!(
        pair.message,
        "duplicate key value violates unique constraint \"child_a_b_key\""
    );
    assert_eq!(
        pair.detail.as_deref(),
        Some("Key (a, b)=(1, 1) already exists.")
    );
}

/// Goal: schemas and qualified names work; named table constraints keep their names.
#[test]
fn schema_qualified_tables_and_named_constraints() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE SCHEMA salesforce; \
         CREATE TABLE salesforce.contact (sfid text, email varchar(20) NOT NULL, \
         CONSTRAINT contact_sfid_uq UNIQUE (sfid))",
    );
    harness.ok(
        session,
        "INSERT INTO salesforce.contact (sfid, email) VALUES ('a', 'e')",
    );
    let error = harness
        .run(session, "INSERT INTO salesforce.contact VALUES ('a', 'f')")
        .unwrap_err();
    assert_eq!(
        error.message,
        "duplicate key value violates unique constraint \"contact_sfid_uq\""
    );
    assert_eq!(
        harness.pg.table_snapshot("salesforce.contact"),
        vec![vec![text("a"), text("e")]]
    );
    assert_eq!(harness.code(session, "SELECT * FROM contact"), "42P01");
    assert_eq!(
        harness.code(
            session,
            "INSERT INTO salesforce.contact VALUES ('b', 'an email that is far too long')"
        ),
        "22001"
    );
}

/// Goal: CREATE UNIQUE INDEX is enforced under its own name; plain indexes are accepted.
#[test]
fn create_unique_index_is_enforced() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text); \
         CREATE UNIQUE INDEX users_email_idx ON users (email); CREATE INDEX ON users (id)",
    );
    harness.ok(session, "INSERT INTO users (email) VALUES ('a')");
    let error = harness
        .run(session, "INSERT INTO users (email) VALUES ('a')")
        .unwrap_err();
    assert_eq!(
        error.message,
        "duplicate key value violates unique constraint \"users_email_idx\""
    );
    assert_eq!(
        harness.code(session, "CREATE INDEX users_email_idx ON users (id)"),
        "42P07"
    );
    harness.ok(
        session,
        "CREATE INDEX IF NOT EXISTS users_email_idx ON users (id)",
    );
}

/// Goal: duplicate and missing objects give PostgreSQL's codes.
#[test]
fn duplicate_and_missing_objects() {
    let (mut harness, session) = Harness::with_setup("CREATE TABLE t (id int)");
    assert_eq!(harness.code(session, "CREATE TABLE t (id int)"), "42P07");
    harness.ok(session, "CREATE TABLE IF NOT EXISTS t (id int)");
    assert_eq!(
        harness.code(session, "CREATE TABLE nope.t (id int)"),
        "3F000"
    );
    assert_eq!(
        harness.code(session, "CREATE TABLE c (id int REFERENCES missing(id))"),
        "42P01"
    );
    assert_eq!(harness.code(session, "CREATE SCHEMA public"), "42P06");
    assert_eq!(harness.code(session, "SELECT * FROM missing"), "42P01");
    assert_eq!(
        harness.code(session, "CREATE TABLE u (id int, PRIMARY KEY (nope))"),
        "42703"
    );
}

/// Goal: every supported column type round-trips through INSERT and SELECT.
#[test]
fn all_supported_column_types_round_trip() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE every (a uuid, b text, c varchar(5), d int, e int4, f integer, \
         g bigint, h int8, i bool, j boolean, k jsonb, l timestamptz, \
         m timestamp with time zone, n serial, o bigserial, \
         p bigint GENERATED BY DEFAULT AS IDENTITY)",
    );
    harness.ok(
        session,
        "INSERT INTO every VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 't', 'v', \
         1, 2, 3, 4, 5, true, 'f', \
         '{\"k\": [1, 2]}', '2026-01-01 00:00:00+00', '2026-01-02T03:04:05.5Z')",
    );
    let rows = harness.rows(session, "SELECT * FROM every");
    let row = &rows[0];
    assert_eq!(
        row[0],
        Value::Uuid(0xa0ee_bc99_9c0b_4ef8_bb6d_6bb9_bd38_0a11)
    );
    assert_eq!(row[3..6], [int(1), int(2), int(3)]);
    assert_eq!(row[6..8], [Value::Int8(4), Value::Int8(5)]);
    assert_eq!(row[8..10], [Value::Bool(true), Value::Bool(false)]);
    assert_eq!(row[10].to_pg_text(), "{\"k\": [1, 2]}");
    assert_eq!(row[11], Value::Timestamptz(super::SIM_EPOCH_UNIX_MICROS));
    assert_eq!(row[12].to_pg_text(), "2026-01-02 03:04:05.5+00");
    assert_eq!(row[13..], [int(1), Value::Int8(1), Value::Int8(1)]);
}

/// Goal: a unique index created after rows exist covers those rows (its key index is built
/// from every stored version on first use).
#[test]
fn unique_index_created_late_covers_existing_rows() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE late (id int PRIMARY KEY, code text); \
         INSERT INTO late VALUES (1, 'a'), (2, 'b'); \
         UPDATE late SET code = 'c' WHERE id = 2",
    );
    harness.ok(session, "SELECT * FROM late WHERE id = 2");
    harness.ok(session, "CREATE UNIQUE INDEX late_code_key ON late (code)");
    assert_eq!(
        harness.code(session, "INSERT INTO late VALUES (3, 'c')"),
        "23505"
    );
    harness.ok(session, "INSERT INTO late VALUES (3, 'b')");
    assert_eq!(
        harness.rows(session, "SELECT id FROM late WHERE code = 'b'"),
        vec![vec![int(3)]]
    );
}

/// Goal: a CREATE TABLE clause the engine does not name is still refused, not ignored: the
/// statement is compared with itself rebuilt from the modelled clauses. Shown with clauses
/// set directly in the AST (so it holds for fields a later sqlparser adds, whatever their
/// syntax).
#[test]
fn a_create_table_clause_nobody_named_is_refused() {
    use super::super::catalog::Catalog;
    use super::super::ddl::create_table;
    use sqlparser::ast::Statement;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, "CREATE TABLE t (id int PRIMARY KEY)")
        .expect("parses");
    let Statement::CreateTable(plain) = &parsed[0] else {
        unreachable!("a CREATE TABLE")
    };
    assert!(create_table(&mut Catalog::default(), plain).is_ok());
    let mut strict = plain.clone();
    strict.strict = true;
    let mut without_rowid = plain.clone();
    without_rowid.without_rowid = true;
    for create in [strict, without_rowid] {
        let mut catalog = Catalog::default();
        let error = create_table(&mut catalog, &create).unwrap_err();
        assert_eq!(error.code(), "0A000", "{error}");
        assert!(
            error
                .message
                .contains("a CREATE TABLE clause beyond columns and constraints"),
            "{error}"
        );
        assert_eq!(catalog.tables().count(), 0, "nothing created");
    }
}

/// Goal: DDL rolls back with the statement string that ran it, as PostgreSQL's transactional
/// DDL does: a later failing statement of the string takes the new table away, and a
/// sequence keeps the values it handed out (nextval is never rolled back).
#[test]
fn ddl_in_a_failed_statement_string_is_rolled_back() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1); \
         CREATE TABLE s (id serial PRIMARY KEY, v int); INSERT INTO s (v) VALUES (1)",
    );
    let failed = harness
        .run(
            session,
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO s (v) VALUES (2); \
             CREATE SCHEMA extra; CREATE UNIQUE INDEX s_v ON s (v); \
             INSERT INTO t VALUES (1); INSERT INTO p VALUES (1)",
        )
        .unwrap_err();
    assert_eq!(failed.code(), "23505", "{failed}");
    assert_eq!(harness.code(session, "SELECT id FROM t"), "42P01");
    // The schema and the index went too: both names are free again.
    harness.ok(session, "CREATE SCHEMA extra");
    harness.ok(session, "INSERT INTO s (v) VALUES (1)");
    harness.ok(session, "CREATE TABLE t (id int PRIMARY KEY)");
    assert_eq!(
        harness.rows(session, "SELECT id FROM t"),
        Vec::<Vec<Value>>::new()
    );
    // id 2 went to the rolled-back insert; the next is 3, as in PostgreSQL.
    assert_eq!(
        harness.rows(session, "SELECT id FROM s ORDER BY id"),
        vec![vec![int(1)], vec![int(3)]]
    );
}
