//! Deferred constraints (`DEFERRABLE`, `INITIALLY DEFERRED`, `SET CONSTRAINTS`), pinned to
//! what PostgreSQL 15.18 did (`conformance/specs/deferred-*.spec` records the same cases
//! against a live server; these check the messages and the engine paths the specs cannot
//! name: savepoints, re-runs after a wait, implicit transactions).

use super::{int, text, Harness, StepOutcome};

const SETUP: &str = "CREATE TABLE p (id int PRIMARY KEY); \
     CREATE TABLE c (p_id int REFERENCES p DEFERRABLE INITIALLY DEFERRED); \
     CREATE TABLE u (id int PRIMARY KEY DEFERRABLE, \
     tag text UNIQUE DEFERRABLE INITIALLY DEFERRED); \
     INSERT INTO p VALUES (1), (2); INSERT INTO u VALUES (1, 'a'), (2, 'b')";

/// Goal: a deferred FK's violation is COMMIT's error, and the whole transaction is gone.
#[test]
fn deferred_foreign_key_fails_at_commit_and_rolls_back() {
    let (mut h, s) = Harness::with_setup(SETUP);
    h.ok(s, "BEGIN");
    h.ok(s, "INSERT INTO p VALUES (3)");
    assert_eq!(
        h.ok(s, "INSERT INTO c VALUES (99)").command_tag,
        "INSERT 0 1"
    );
    let error = h.run(s, "COMMIT").unwrap_err();
    assert_eq!(error.code(), "23503");
    assert_eq!(
        error.message,
        "insert or update on table \"c\" violates foreign key constraint \"c_p_id_fkey\""
    );
    assert_eq!(
        error.detail.as_deref(),
        Some("Key (p_id)=(99) is not present in table \"p\".")
    );
    assert!(!h.pg.in_transaction(s));
    assert_eq!(
        h.rows(s, "SELECT id FROM p ORDER BY id"),
        vec![vec![int(1)], vec![int(2)]]
    );
}

/// Goal: a parent deleted and inserted again in one transaction satisfies a deferred FK;
/// deleted only, COMMIT names the parent side.
#[test]
fn deferred_parent_check_accepts_a_key_put_back() {
    let (mut h, s) = Harness::with_setup(SETUP);
    h.ok(s, "INSERT INTO c VALUES (1)");
    h.ok(
        s,
        "BEGIN; DELETE FROM p WHERE id = 1; INSERT INTO p VALUES (1); COMMIT",
    );
    h.ok(s, "BEGIN");
    h.ok(s, "DELETE FROM p WHERE id = 1");
    let error = h.run(s, "COMMIT").unwrap_err();
    assert_eq!(
        error.message,
        "update or delete on table \"p\" violates foreign key constraint \"c_p_id_fkey\" on \
         table \"c\""
    );
}

/// Goal: DEFERRABLE (initially immediate) unique keys are checked at the end of the
/// statement, so a swap passes; INITIALLY DEFERRED ones at COMMIT.
#[test]
fn deferrable_unique_checked_at_statement_end_and_commit() {
    let (mut h, s) = Harness::with_setup(SETUP);
    assert_eq!(h.ok(s, "UPDATE u SET id = id + 1").command_tag, "UPDATE 2");
    h.ok(s, "BEGIN");
    h.ok(s, "UPDATE u SET tag = 'a'");
    let error = h.run(s, "COMMIT").unwrap_err();
    assert_eq!(error.code(), "23505");
    assert_eq!(
        error.detail.as_deref(),
        Some("Key (tag)=(a) already exists.")
    );
    assert_eq!(h.code(s, "INSERT INTO u VALUES (2, 'z')"), "23505");
}

/// Goal: outside BEGIN the implicit transaction's end runs the deferred checks, also in a
/// statement string, where SET CONSTRAINTS is in effect for the rest of the string.
#[test]
fn implicit_transactions_run_deferred_checks() {
    let (mut h, s) = Harness::with_setup(SETUP);
    assert_eq!(h.code(s, "INSERT INTO c VALUES (7)"), "23503");
    h.ok(s, "INSERT INTO c VALUES (8); INSERT INTO p VALUES (8)");
    assert_eq!(
        h.code(
            s,
            "SET CONSTRAINTS ALL IMMEDIATE; INSERT INTO c VALUES (9); SELECT 1"
        ),
        "23503"
    );
    assert_eq!(h.rows(s, "SELECT p_id FROM c"), vec![vec![int(8)]]);
}

/// Goal: SET CONSTRAINTS resolves names, refuses non-deferrable and unknown ones with
/// PostgreSQL's codes, and IMMEDIATE runs pending checks at once.
#[test]
fn set_constraints_names_and_immediate() {
    let (mut h, s) = Harness::with_setup(SETUP);
    h.ok(s, "BEGIN");
    let error = h.run(s, "SET CONSTRAINTS p_pkey DEFERRED").unwrap_err();
    assert_eq!(
        (error.code(), error.message.as_str()),
        ("42809", "constraint \"p_pkey\" is not deferrable")
    );
    h.ok(s, "ROLLBACK");
    // PostgreSQL 15.18: making a non-deferrable constraint immediate is no error.
    h.ok(s, "BEGIN; SET CONSTRAINTS p_pkey IMMEDIATE; ROLLBACK");
    assert_eq!(h.code(s, "BEGIN; SET CONSTRAINTS nope IMMEDIATE"), "42704");
    h.ok(s, "ROLLBACK");
    h.ok(s, "BEGIN");
    h.ok(s, "INSERT INTO c VALUES (5)");
    let tag = h
        .ok(s, "SET CONSTRAINTS u_pkey, public.u_tag_key IMMEDIATE")
        .command_tag;
    assert_eq!(tag, "SET CONSTRAINTS");
    assert_eq!(h.code(s, "SET CONSTRAINTS c_p_id_fkey IMMEDIATE"), "23503");
    h.ok(s, "ROLLBACK");
}

/// Goal: a savepoint rollback drops the checks queued after it, undoes SET CONSTRAINTS
/// issued after it, and makes checks fired after it pending again.
#[test]
fn savepoint_rollback_restores_deferred_state() {
    let (mut h, s) = Harness::with_setup(SETUP);
    h.ok(
        s,
        "BEGIN; SAVEPOINT a; INSERT INTO c VALUES (50); ROLLBACK TO SAVEPOINT a",
    );
    h.ok(s, "COMMIT");
    h.ok(s, "BEGIN; INSERT INTO c VALUES (51); SAVEPOINT a");
    h.ok(
        s,
        "INSERT INTO p VALUES (51); SET CONSTRAINTS ALL IMMEDIATE",
    );
    h.ok(s, "ROLLBACK TO SAVEPOINT a");
    assert_eq!(h.code(s, "COMMIT"), "23503");
}

/// Goal: a deferrable unique key waits for a concurrent inserter only at its recheck; at
/// COMMIT for a deferred one, and the COMMIT re-run after the wait raises 23505.
#[test]
fn deferred_unique_waits_at_commit() {
    let (mut h, s1) = Harness::with_setup(SETUP);
    let s2 = h.session();
    h.ok(s1, "BEGIN; INSERT INTO u VALUES (8, 'g')");
    h.ok(s2, "BEGIN; INSERT INTO u VALUES (9, 'g')");
    assert_eq!(h.blocks(s2, "COMMIT"), vec![s1]);
    h.ok(s1, "COMMIT");
    assert_eq!(h.wake_one(s2).unwrap_err().code(), "23505");
    assert!(!h.pg.in_transaction(s2));
    let tags = h.rows(s1, "SELECT tag FROM u WHERE id > 2");
    assert_eq!(tags, vec![vec![text("g")]]);
}

/// Goal: an implicit transaction whose end waits (a deferred check) parks and resumes.
#[test]
fn implicit_commit_waits_and_resumes() {
    let (mut h, s1) = Harness::with_setup(SETUP);
    let s2 = h.session();
    h.ok(s1, "BEGIN; INSERT INTO u VALUES (8, 'g')");
    let outcome = h.start(
        s2,
        "SET CONSTRAINTS ALL DEFERRED; INSERT INTO u VALUES (9, 'g')",
    );
    assert!(matches!(outcome, StepOutcome::Blocked { .. }));
    h.ok(s1, "ROLLBACK");
    assert_eq!(h.wake_one(s2).unwrap().command_tag, "INSERT 0 1");
    assert!(!h.pg.in_transaction(s2));
}

/// Goal: ON CONFLICT refuses a deferrable arbiter with PostgreSQL's 55000.
#[test]
fn on_conflict_with_deferrable_arbiter() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let error = h
        .run(
            s,
            "INSERT INTO u VALUES (1, 'x') ON CONFLICT (id) DO NOTHING",
        )
        .unwrap_err();
    assert_eq!(error.code(), "55000");
    assert_eq!(error.constraint.as_deref(), Some("u_pkey"));
    let bad = "CREATE TABLE bad (x int REFERENCES p NOT DEFERRABLE INITIALLY DEFERRED)";
    assert_eq!(h.code(s, bad), "42601");
}

/// Goal: a crash during COMMIT never commits a transaction whose deferred checks have not
/// run (they would have failed here).
#[test]
fn crash_during_commit_skips_pending_deferred_checks() {
    for seed in 0..8 {
        let (mut h, s) = Harness::with_setup(SETUP);
        h.ok(s, "BEGIN; INSERT INTO c VALUES (77)");
        let mut entropy = syncsim_sim::prng::Prng::new(syncsim_sim::seed::Seed(seed));
        assert!(!h.pg.crash_during_commit(s, &mut entropy));
        let s = h.session();
        assert!(h.rows(s, "SELECT p_id FROM c").is_empty());
    }
}

/// Goal: a COMMIT cancelled while its deferred check waits ends the transaction (PostgreSQL
/// aborts on any error inside commit), so the session is idle, not in a failed block.
#[test]
fn cancelled_commit_wait_ends_the_transaction() {
    let (mut h, s1) = Harness::with_setup(SETUP);
    let s2 = h.session();
    h.ok(s1, "BEGIN; INSERT INTO u VALUES (8, 'g')");
    h.ok(s2, "BEGIN; SAVEPOINT a; INSERT INTO u VALUES (9, 'g')");
    assert_eq!(h.blocks(s2, "COMMIT"), vec![s1]);
    let error =
        h.pg.cancel_wait(s2, super::super::CancelReason::LockTimeout);
    assert_eq!(error.map(|error| error.code()), Some("55P03"));
    assert!(!h.pg.in_transaction(s2));
    assert_eq!(
        h.rows(s2, "SELECT count(*) FROM u"),
        vec![vec![super::Value::Int8(2)]]
    );
}

/// Goal: a check run inside a savepoint that is rolled back is pending again, and fires
/// before checks queued later (PostgreSQL 15.18 names the child side here, not the parent's
/// delete, which was queued after it).
#[test]
fn check_fired_in_rolled_back_savepoint_is_pending_again() {
    let (mut h, s) = Harness::with_setup(SETUP);
    h.ok(
        s,
        "BEGIN; INSERT INTO c VALUES (1); SAVEPOINT a; SET CONSTRAINTS ALL IMMEDIATE",
    );
    h.ok(s, "ROLLBACK TO SAVEPOINT a; DELETE FROM p WHERE id = 1");
    let error = h.run(s, "COMMIT").unwrap_err();
    assert_eq!(
        error.message,
        "insert or update on table \"c\" violates foreign key constraint \"c_p_id_fkey\""
    );
}

/// Goal: DROP TABLE and TRUNCATE refuse a table with deferred checks pending (55006), a NULL
/// key included, as PostgreSQL 15.18 does.
#[test]
fn drop_and_truncate_refuse_pending_checks() {
    let (mut h, s) = Harness::with_setup(SETUP);
    let error = h
        .run(s, "INSERT INTO c VALUES (NULL); DROP TABLE c")
        .unwrap_err();
    assert_eq!(
        (error.code(), error.message.as_str()),
        (
            "55006",
            "cannot DROP TABLE \"c\" because it has pending trigger events"
        )
    );
    let code = h.code(s, "DELETE FROM p WHERE id = 2; TRUNCATE p CASCADE");
    assert_eq!(code, "55006");
    h.ok(s, "INSERT INTO c VALUES (NULL)");
    h.ok(s, "DROP TABLE c");
}
