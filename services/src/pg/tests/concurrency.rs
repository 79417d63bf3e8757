//! Two-session interleavings from Appendix A of the semantics note (r-unique, r-onconflict,
//! r-fk, r-fk-rr, r-more, r-rowlock, r-extras, r-advisory, r-adv-deadlock, r-deadlock), each
//! asserting the outcome recorded on a real PostgreSQL 15.20 server.
//!
//! Method: each permutation is a script; a step that PostgreSQL reports as waiting must come
//! back `Blocked` here, and is resumed when its blocker commits or aborts.

use super::SessionId;
use super::{int, text, Harness};

fn two(setup: &str) -> (Harness, SessionId, SessionId) {
    let (mut harness, first) = Harness::with_setup(setup);
    let second = harness.session();
    (harness, first, second)
}

const U: &str = "CREATE TABLE u (id int PRIMARY KEY, slug text UNIQUE, v int)";

/// r-unique: a second inserter of the same key waits; commit → 23505, then 25P02.
#[test]
fn r_unique_waits_then_fails_when_first_commits() {
    let (mut harness, s1, s2) = two(U);
    harness.ok(s1, "BEGIN; INSERT INTO u VALUES (1, 'a', 1)");
    harness.ok(s2, "BEGIN");
    assert_eq!(
        harness.blocks(s2, "INSERT INTO u VALUES (1, 'b', 2)"),
        vec![s1]
    );
    harness.ok(s1, "COMMIT");
    let error = harness.wake_one(s2).unwrap_err();
    assert_eq!(
        (error.code(), error.message.as_str()),
        (
            "23505",
            "duplicate key value violates unique constraint \"u_pkey\""
        )
    );
    assert_eq!(harness.code(s2, "SELECT * FROM u ORDER BY id"), "25P02");
    assert_eq!(harness.ok(s2, "COMMIT").command_tag, "ROLLBACK");
}

/// r-unique: … and when the first aborts, the waiter inserts.
#[test]
fn r_unique_waits_then_inserts_when_first_aborts() {
    let (mut harness, s1, s2) = two(U);
    harness.ok(s1, "BEGIN; INSERT INTO u VALUES (1, 'a', 1)");
    harness.ok(s2, "BEGIN");
    harness.blocks(s2, "INSERT INTO u VALUES (1, 'b', 2)");
    harness.ok(s1, "ROLLBACK");
    assert_eq!(
        harness.wake_one(s2).expect("insert").command_tag,
        "INSERT 0 1"
    );
    assert_eq!(
        harness.rows(s2, "SELECT * FROM u ORDER BY id"),
        vec![vec![int(1), text("b"), int(2)]]
    );
    harness.ok(s2, "COMMIT");
}

const DN2: &str = "INSERT INTO u VALUES (1, 'b', 2) ON CONFLICT (id) DO NOTHING RETURNING *";
const DU2: &str = "INSERT INTO u VALUES (1, 'b', 2) \
    ON CONFLICT (id) DO UPDATE SET v = u.v + EXCLUDED.v RETURNING *";

fn onconflict_started(second_begin: &str) -> (Harness, SessionId, SessionId) {
    let (mut harness, s1, s2) = two(U);
    harness.ok(s1, "BEGIN; INSERT INTO u VALUES (1, 'a', 1)");
    harness.ok(s2, second_begin);
    (harness, s1, s2)
}

/// r-onconflict: DO NOTHING waits; commit → 0 rows; abort → inserts its own row.
#[test]
fn r_onconflict_do_nothing_waits_for_the_inserter() {
    let (mut harness, s1, s2) = onconflict_started("BEGIN");
    harness.blocks(s2, DN2);
    harness.ok(s1, "COMMIT");
    let result = harness.wake_one(s2).expect("do nothing");
    assert_eq!(
        (result.command_tag.as_str(), result.rows.len()),
        ("INSERT 0 0", 0)
    );
    assert_eq!(
        harness.rows(s2, "SELECT * FROM u"),
        vec![vec![int(1), text("a"), int(1)]]
    );

    let (mut harness, s1, s2) = onconflict_started("BEGIN");
    harness.blocks(s2, DN2);
    harness.ok(s1, "ROLLBACK");
    assert_eq!(
        harness.wake_one(s2).expect("insert").rows,
        vec![vec![int(1), text("b"), int(2)]]
    );
}

/// r-onconflict: DO UPDATE waits, then updates the row the other transaction committed.
#[test]
fn r_onconflict_do_update_updates_the_committed_row() {
    let (mut harness, s1, s2) = onconflict_started("BEGIN");
    harness.blocks(s2, DU2);
    harness.ok(s1, "COMMIT");
    assert_eq!(
        harness.wake_one(s2).expect("update").rows,
        vec![vec![int(1), text("a"), int(3)]]
    );
}

/// r-onconflict: in REPEATABLE READ with the snapshot taken first, both forms give 40001.
#[test]
fn r_onconflict_repeatable_read_conflict_is_serialization_failure() {
    for statement in [DU2, DN2] {
        let (mut harness, s1, s2) = two(U);
        harness.ok(s2, "BEGIN ISOLATION LEVEL REPEATABLE READ");
        harness.ok(s2, "SELECT count(*) FROM u");
        harness.ok(s1, "BEGIN; INSERT INTO u VALUES (1, 'a', 1)");
        harness.blocks(s2, statement);
        harness.ok(s1, "COMMIT");
        let error = harness.wake_one(s2).unwrap_err();
        assert_eq!(
            (error.code(), error.message.as_str()),
            (
                "40001",
                "could not serialize access due to concurrent update"
            )
        );
    }
}

/// r-onconflict: RR with the row committed before the snapshot: DO NOTHING, no error.
#[test]
fn r_onconflict_repeatable_read_sees_row_committed_before_snapshot() {
    let (mut harness, s1, s2) = two(U);
    harness.ok(s1, "BEGIN; INSERT INTO u VALUES (1, 'a', 1); COMMIT");
    harness.ok(s2, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_eq!(harness.ok(s2, DN2).command_tag, "INSERT 0 0");
}

/// r-onconflict: a conflict on a non-arbiter index waits, then 23505 (commit) or inserts
/// (abort); with no target every unique index is an arbiter, so it does nothing.
#[test]
fn r_onconflict_non_arbiter_index_waits_then_decides() {
    let other = "INSERT INTO u VALUES (2, 'a', 2) ON CONFLICT (id) DO NOTHING RETURNING *";
    let (mut harness, s1, s2) = onconflict_started("BEGIN");
    harness.blocks(s2, other);
    harness.ok(s1, "COMMIT");
    let error = harness.wake_one(s2).unwrap_err();
    assert_eq!(
        error.message,
        "duplicate key value violates unique constraint \"u_slug_key\""
    );

    let (mut harness, s1, s2) = onconflict_started("BEGIN");
    harness.blocks(s2, other);
    harness.ok(s1, "ROLLBACK");
    assert_eq!(
        harness.wake_one(s2).expect("insert").rows,
        vec![vec![int(2), text("a"), int(2)]]
    );

    let (mut harness, s1, s2) = onconflict_started("BEGIN");
    harness.blocks(
        s2,
        "INSERT INTO u VALUES (2, 'a', 2) ON CONFLICT DO NOTHING RETURNING *",
    );
    harness.ok(s1, "COMMIT");
    assert_eq!(
        harness.wake_one(s2).expect("nothing").command_tag,
        "INSERT 0 0"
    );
}

const FK: &str = "CREATE TABLE p (id int PRIMARY KEY, name text); \
    CREATE TABLE c (id int PRIMARY KEY, p_id int NOT NULL REFERENCES p(id) ON DELETE CASCADE); \
    INSERT INTO p VALUES (10, 'ten')";

/// r-fk: a child of an uncommitted parent fails at once with 23503 (no wait).
#[test]
fn r_fk_uncommitted_parent_is_invisible() {
    let (mut harness, s1, s2) = two(FK);
    harness.ok(s1, "BEGIN; INSERT INTO p VALUES (1, 'one')");
    harness.ok(s2, "BEGIN");
    assert_eq!(harness.code(s2, "INSERT INTO c VALUES (100, 1)"), "23503");
}

/// r-fk: a child insert waits for a parent being deleted: commit → 23503, abort → inserted.
#[test]
fn r_fk_child_insert_waits_for_parent_delete() {
    for (end, expect_ok) in [("COMMIT", false), ("ROLLBACK", true)] {
        let (mut harness, s1, s2) = two(FK);
        harness.ok(s1, "BEGIN; DELETE FROM p WHERE id = 10");
        harness.ok(s2, "BEGIN");
        harness.blocks(s2, "INSERT INTO c VALUES (100, 10)");
        harness.ok(s1, end);
        let result = harness.wake_one(s2);
        assert_eq!(result.is_ok(), expect_ok, "{end}: {result:?}");
        if !expect_ok {
            assert_eq!(result.unwrap_err().code(), "23503");
        }
    }
}

/// r-fk: a parent delete waits for an uncommitted child, then cascades to it.
#[test]
fn r_fk_parent_delete_waits_then_cascades_to_new_child() {
    let (mut harness, s1, s2) = two(FK);
    harness.ok(s2, "BEGIN; INSERT INTO c VALUES (100, 10)");
    harness.ok(s1, "BEGIN");
    harness.blocks(s1, "DELETE FROM p WHERE id = 10");
    harness.ok(s2, "COMMIT");
    assert_eq!(
        harness.wake_one(s1).expect("delete").command_tag,
        "DELETE 1"
    );
    harness.ok(s1, "COMMIT");
    assert!(harness.pg.table_snapshot("c").is_empty());
}

/// r-fk: a non-key parent update does not block a child insert; a key update does.
#[test]
fn r_fk_only_key_updates_block_child_inserts() {
    let (mut harness, s1, s2) = two(FK);
    harness.ok(s1, "BEGIN; UPDATE p SET name = 'TEN' WHERE id = 10");
    harness.ok(s2, "BEGIN");
    harness.ok(s2, "INSERT INTO c VALUES (100, 10)");
    harness.ok(s2, "COMMIT");
    harness.ok(s1, "COMMIT");

    let (mut harness, s1, s2) = two(FK);
    harness.ok(s1, "BEGIN; UPDATE p SET id = 11 WHERE id = 10");
    harness.ok(s2, "BEGIN");
    harness.blocks(s2, "INSERT INTO c VALUES (100, 10)");
    harness.ok(s1, "COMMIT");
    assert_eq!(harness.wake_one(s2).unwrap_err().code(), "23503");
}

/// r-fk: RR child insert against a parent committed after the snapshot → 23503.
#[test]
fn r_fk_repeatable_read_parent_committed_after_snapshot_is_missing() {
    let (mut harness, s1, s2) = two(FK);
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM p",
    );
    harness.ok(s1, "BEGIN; INSERT INTO p VALUES (1, 'one'); COMMIT");
    assert_eq!(harness.code(s2, "INSERT INTO c VALUES (100, 1)"), "23503");
}

/// r-fk-rr: RR child insert against a parent deleted after the snapshot → 40001, whether
/// the delete committed before the insert or while it waited.
#[test]
fn r_fk_rr_parent_deleted_after_snapshot_is_serialization_failure() {
    let setup = "CREATE TABLE p (id int PRIMARY KEY); \
                 CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p(id)); \
                 INSERT INTO p VALUES (10)";
    let (mut harness, s1, s2) = two(setup);
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM p",
    );
    harness.ok(s1, "BEGIN; DELETE FROM p WHERE id = 10; COMMIT");
    assert_eq!(harness.code(s2, "INSERT INTO c VALUES (100, 10)"), "40001");

    let (mut harness, s1, s2) = two(setup);
    harness.ok(
        s2,
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM p",
    );
    harness.ok(s1, "BEGIN; DELETE FROM p WHERE id = 10");
    harness.blocks(s2, "INSERT INTO c VALUES (100, 10)");
    harness.ok(s1, "COMMIT");
    let error = harness.wake_one(s2).unwrap_err();
    assert_eq!(
        (error.code(), error.message.as_str()),
        (
            "40001",
            "could not serialize access due to concurrent update"
        )
    );
}

const MORE: &str = "CREATE TABLE k (id int PRIMARY KEY); INSERT INTO k VALUES (1); \
    CREATE TABLE p (id int PRIMARY KEY); \
    CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p(id)); INSERT INTO p VALUES (10)";

/// r-more: an insert waits for an in-progress delete of the same key: commit → inserted,
/// abort → 23505.
#[test]
fn r_more_unique_insert_waits_for_delete_of_same_key() {
    for (end, expect_ok) in [("COMMIT", true), ("ROLLBACK", false)] {
        let (mut harness, s1, s2) = two(MORE);
        harness.ok(s1, "BEGIN; DELETE FROM k WHERE id = 1");
        harness.ok(s2, "BEGIN");
        harness.blocks(s2, "INSERT INTO k VALUES (1)");
        harness.ok(s1, end);
        let result = harness.wake_one(s2);
        assert_eq!(result.is_ok(), expect_ok, "{end}: {result:?}");
    }
}

/// r-more: NO ACTION parent delete waits for an uncommitted child, then 23503 on table "c".
#[test]
fn r_more_no_action_parent_delete_waits_then_fails() {
    let (mut harness, s1, s2) = two(MORE);
    harness.ok(s1, "BEGIN; INSERT INTO c VALUES (1, 10)");
    harness.ok(s2, "BEGIN");
    harness.blocks(s2, "DELETE FROM p WHERE id = 10");
    harness.ok(s1, "COMMIT");
    let error = harness.wake_one(s2).unwrap_err();
    assert_eq!(
        error.message,
        "update or delete on table \"p\" violates foreign key constraint \"c_p_id_fkey\" \
         on table \"c\""
    );
}

/// A cascading delete locks the child row FOR UPDATE (it removes the row's key), so it waits
/// for a KEY SHARE lock an uncommitted grandchild insert holds on that child, then fails on
/// the committed grandchild (PostgreSQL 15: the delete blocks, then 23503 on `grandchild`).
/// A cascade taking FOR NO KEY UPDATE would not wait and would delete a referenced row.
#[test]
fn r_fk_cascade_waits_for_a_key_share_on_the_child_then_fails() {
    const CHAIN: &str = "CREATE TABLE parent (id int PRIMARY KEY); \
        CREATE TABLE child (id int PRIMARY KEY, \
            parent_id int REFERENCES parent(id) ON DELETE CASCADE); \
        CREATE TABLE grandchild (id int PRIMARY KEY, child_id int REFERENCES child(id)); \
        INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1)";
    let (mut harness, s1, s2) = two(CHAIN);
    harness.ok(s1, "BEGIN; INSERT INTO grandchild VALUES (1, 1)");
    harness.ok(s2, "BEGIN");
    assert_eq!(
        harness.blocks(s2, "DELETE FROM parent WHERE id = 1"),
        vec![s1],
        "the cascade waits for the grandchild's KEY SHARE on the child"
    );
    harness.ok(s1, "COMMIT");
    let error = harness.wake_one(s2).unwrap_err();
    assert_eq!(error.code(), "23503", "{error}");
    assert_eq!(error.table.as_deref(), Some("grandchild"), "{error}");
    harness.ok(s2, "ROLLBACK");
    assert_eq!(harness.pg.table_snapshot("child").len(), 1);
}
