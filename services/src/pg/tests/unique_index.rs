//! Expression and partial unique indexes: the names CREATE INDEX picks and the 23505
//! messages that show them, pinned to what PostgreSQL 15.18 answered (the behaviour is
//! recorded against a live server in `conformance/specs/unique-index-expressions.spec`,
//! which compares SQLSTATEs, not messages).

use super::Harness;

const SETUP: &str = "CREATE TABLE u (id int PRIMARY KEY, slug text, email text, \
     deleted_at int, n int); \
     CREATE UNIQUE INDEX ON u (lower(slug)); \
     CREATE UNIQUE INDEX ON u (email) WHERE deleted_at IS NULL; \
     CREATE UNIQUE INDEX ON u ((n + 1), lower(email)); \
     INSERT INTO u VALUES (1, 'Abc', 'a@x', NULL, 1)";

fn violation(h: &mut Harness, sql: &str) -> (String, Option<String>) {
    let session = h.session();
    let error = h.run(session, sql).unwrap_err();
    assert_eq!(error.code(), "23505", "{sql}: {error:?}");
    (error.message, error.detail)
}

/// Goal: each index is named as PostgreSQL names it and its key shown as PostgreSQL shows
/// it: `lower(slug)`, a plain column of a partial index, `(n + 1)` beside a function.
#[test]
fn violations_name_the_index_and_show_the_computed_key() {
    let (mut h, _) = Harness::with_setup(SETUP);
    let cases = [
        (
            "INSERT INTO u VALUES (2, 'ABC', 'b@x', NULL, 5)",
            "u_lower_idx",
            "Key (lower(slug))=(abc) already exists.",
        ),
        (
            "INSERT INTO u VALUES (3, 'q', 'a@x', NULL, 7)",
            "u_email_idx",
            "Key (email)=(a@x) already exists.",
        ),
        (
            "INSERT INTO u VALUES (4, 'r', 'A@x', 1, 1)",
            "u_expr_lower_idx",
            "Key ((n + 1), lower(email))=(2, a@x) already exists.",
        ),
    ];
    for (sql, index, detail) in cases {
        let (message, shown) = violation(&mut h, sql);
        assert_eq!(
            message,
            format!("duplicate key value violates unique constraint \"{index}\"")
        );
        assert_eq!(shown.as_deref(), Some(detail));
    }
}

/// Goal: an unnamed index whose name is taken gets the first free number, as PostgreSQL's
/// `ChooseRelationName` does; a cast is named by its column, an operator `expr`.
#[test]
fn unnamed_indexes_take_the_next_free_number() {
    let (mut h, s) = Harness::with_setup(SETUP);
    h.ok(s, "CREATE INDEX ON u (lower(slug))");
    h.ok(s, "CREATE INDEX ON u (lower(slug))");
    h.ok(s, "CREATE UNIQUE INDEX ON u ((n::text))");
    h.ok(s, "CREATE INDEX ON u ((n + n))");
    for taken in ["u_lower_idx1", "u_lower_idx2", "u_n_idx", "u_expr_idx"] {
        let error = h
            .run(s, &format!("CREATE INDEX {taken} ON u (id)"))
            .unwrap_err();
        assert_eq!(error.code(), "42P07", "{taken}");
    }
    h.ok(s, "CREATE INDEX u_lower_idx3 ON u (id)");
}

/// Goal: an expression or partial index makes no column a key column, so an UPDATE of
/// `slug` or `email` takes FOR NO KEY UPDATE and a FOR KEY SHARE holder does not block it
/// (PostgreSQL's key columns come from non-partial, non-expression unique indexes).
#[test]
fn computed_indexes_make_no_key_columns() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let other = h.session();
    h.ok(other, "BEGIN; SELECT id FROM u WHERE id = 1 FOR KEY SHARE");
    h.ok(s, "UPDATE u SET slug = 'xyz', email = 'e@x' WHERE id = 1");
    let blocked = h.blocks(s, "UPDATE u SET id = 9 WHERE id = 1");
    assert_eq!(blocked, vec![other]);
}

/// Goal: a partial index whose predicate the target's WHERE may imply in ways the engine
/// does not prove is refused by name (never a 42P10 PostgreSQL might not raise); text in
/// strings that looks like a conflict target is left alone by the rewrite.
#[test]
fn undecided_implication_is_refused_and_strings_are_untouched() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let error = h
        .run(
            s,
            "INSERT INTO u VALUES (40, 'x', 'a@x', NULL, 40) \
             ON CONFLICT (email) WHERE deleted_at < 0 DO NOTHING",
        )
        .unwrap_err();
    assert_eq!(error.code(), "0A000");
    assert!(
        error.message.contains("partial index \"u_email_idx\""),
        "{error:?}"
    );
    let rows = h.rows(
        s,
        "INSERT INTO u VALUES (41, 'ON CONFLICT (lower(slug)) DO', 'e41', NULL, 41) \
         ON CONFLICT (id) DO NOTHING RETURNING slug",
    );
    assert_eq!(
        rows,
        vec![vec![super::text("ON CONFLICT (lower(slug)) DO")]]
    );
}

/// Goal: building a unique index over rows with duplicates names the pair PostgreSQL's sort
/// meets first, as PostgreSQL 15.18 answered for these tables (six rows: insertion sort; a
/// hundred: median-of-three partitions; one and two key parts). The first of 5, 3, 5, 3 met
/// is 5, not the smaller 3.
#[test]
fn a_unique_index_build_names_the_first_duplicate_its_sort_meets() {
    let (mut h, _) = Harness::with_setup(
        "CREATE TABLE b (id int PRIMARY KEY, a int, s text, flag int); \
         INSERT INTO b VALUES (1, 5, 'B', 0), (2, 3, 'b', 0), (3, 5, 'x', 1), (4, 3, 'y', 1), \
           (5, NULL, 'z', 0), (6, NULL, 'Z', 1); \
         CREATE TABLE big (id int PRIMARY KEY, k int); \
         INSERT INTO big SELECT g, (g * 37) % 101 FROM generate_series(1, 100) g",
    );
    let cases = [
        ("b_a ON b (a)", "(a)=(5)"),
        ("b_lower ON b (lower(s))", "(lower(s))=(b)"),
        ("b_a_all ON b (a) WHERE flag >= 0", "(a)=(5)"),
        ("big_k_mod ON big ((k % 50))", "((k % 50))=(24)"),
        (
            "big_k_mod7 ON big ((k % 7), (k % 3))",
            "((k % 7), (k % 3))=(2, 1)",
        ),
        ("big_k_id ON big ((id % 9))", "((id % 9))=(4)"),
        ("big_k_id2 ON big ((id / 3))", "((id / 3))=(0)"),
        ("big_k_id3 ON big ((k / 4))", "((k / 4))=(9)"),
    ];
    for (index, key) in cases {
        let sql = format!("CREATE UNIQUE INDEX {index}");
        let (message, detail) = violation(&mut h, &sql);
        let name = index.split(' ').next().unwrap();
        assert_eq!(message, format!("could not create unique index \"{name}\""));
        assert_eq!(
            detail.as_deref(),
            Some(format!("Key {key} is duplicated.").as_str())
        );
    }
}
