//! SERIALIZABLE (serializable snapshot isolation, `ssi.rs`): the 40001 for a dangerous
//! structure at the point PostgreSQL reports it, with its reason code; what is released
//! when; mixed isolation levels; READ ONLY. The conformance specs `serializable-*` check the
//! same behaviour against a real PostgreSQL 15; these pin the reason codes and the state
//! the server keeps, which a spec does not show.

use super::{Harness, SessionId, SqlState};

const DOCTORS: &str = "CREATE TABLE doctors (name text PRIMARY KEY, on_call boolean NOT NULL); \
                       INSERT INTO doctors VALUES ('alice', true), ('bob', true)";

fn doctors() -> (Harness, SessionId, SessionId) {
    let (mut harness, first) = Harness::with_setup(DOCTORS);
    let second = harness.pg.open_session();
    (harness, first, second)
}

const ON_CALL: &str = "SELECT count(*) FROM doctors WHERE on_call";

/// Both doctors read two on call and each takes himself off: the write skew.
fn write_skew(harness: &mut Harness, (first, second): (SessionId, SessionId), levels: [&str; 2]) {
    harness.ok(first, &format!("BEGIN ISOLATION LEVEL {}", levels[0]));
    harness.ok(second, &format!("BEGIN ISOLATION LEVEL {}", levels[1]));
    harness.ok(first, ON_CALL);
    harness.ok(second, ON_CALL);
    harness.ok(
        first,
        "UPDATE doctors SET on_call = false WHERE name = 'alice'",
    );
    harness.ok(
        second,
        "UPDATE doctors SET on_call = false WHERE name = 'bob'",
    );
}

fn reason(error: &super::PgError) -> &str {
    error.detail.as_deref().unwrap_or("")
}

/// Goal: the write skew REPEATABLE READ lets through fails at SERIALIZABLE, at the second
/// COMMIT: the first committer wins and the other, a pivot, was doomed by it.
#[test]
fn write_skew_fails_at_the_second_commit() {
    let (mut harness, first, second) = doctors();
    write_skew(&mut harness, (first, second), ["SERIALIZABLE"; 2]);
    harness.ok(first, "COMMIT");
    let error = harness.run(second, "COMMIT").unwrap_err();
    assert_eq!(error.sqlstate, SqlState::SerializationFailure);
    assert_eq!(
        error.message,
        "could not serialize access due to read/write dependencies among transactions"
    );
    assert_eq!(
        reason(&error),
        "Reason code: Canceled on identification as a pivot, during commit attempt."
    );
    assert_eq!(
        error.hint.as_deref(),
        Some("The transaction might succeed if retried.")
    );
    assert_eq!(harness.rows(first, ON_CALL)[0][0], super::Value::Int8(1));
}

/// Goal: the same interleaving commits both sides at REPEATABLE READ (the anomaly), and
/// also when only one side is SERIALIZABLE: the other takes no SIREAD locks and its writes
/// are not checked.
#[test]
fn write_skew_commits_unless_both_are_serializable() {
    for levels in [
        ["REPEATABLE READ"; 2],
        ["SERIALIZABLE", "REPEATABLE READ"],
        ["READ COMMITTED", "SERIALIZABLE"],
    ] {
        let (mut harness, first, second) = doctors();
        write_skew(&mut harness, (first, second), levels);
        harness.ok(first, "COMMIT");
        harness.ok(second, "COMMIT");
        assert_eq!(
            harness.rows(first, ON_CALL)[0][0],
            super::Value::Int8(0),
            "{levels:?}"
        );
    }
}

/// Goal: when the other side has already committed, the write that closes the structure
/// fails at once ("during write"), and a read that meets a committed pivot's write fails
/// at the read ("conflict out to pivot").
#[test]
fn the_writer_fails_at_once_when_the_other_committed() {
    let (mut harness, first, second) = doctors();
    harness.ok(first, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    harness.ok(second, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    harness.ok(first, ON_CALL);
    harness.ok(second, ON_CALL);
    harness.ok(
        first,
        "UPDATE doctors SET on_call = false WHERE name = 'alice'",
    );
    harness.ok(first, "COMMIT");
    let error = harness
        .run(
            second,
            "UPDATE doctors SET on_call = false WHERE name = 'bob'",
        )
        .unwrap_err();
    assert_eq!(
        reason(&error),
        "Reason code: Canceled on identification as a pivot, during write."
    );
}

/// Goal: a doomed transaction fails at its next read of a row, before it could see more.
#[test]
fn a_doomed_transaction_fails_at_its_next_read() {
    let (mut harness, first, second) = doctors();
    write_skew(&mut harness, (first, second), ["SERIALIZABLE"; 2]);
    harness.ok(first, "COMMIT");
    let error = harness.run(second, ON_CALL).unwrap_err();
    assert_eq!(
        reason(&error),
        "Reason code: Canceled on identification as a pivot, during conflict out checking."
    );
}

/// Goal: SSI keeps nothing once no transaction that overlapped a SERIALIZABLE one runs: a
/// committed transaction's SIREAD locks stay while a concurrent one runs and go with it; a
/// rolled-back or failed one leaves at once; a crash leaves nothing.
#[test]
fn state_is_released_when_no_overlapping_transaction_runs() {
    let (mut harness, first, second) = doctors();
    write_skew(&mut harness, (first, second), ["SERIALIZABLE"; 2]);
    assert_eq!(harness.pg.db.ssi.footprint().0, 2);
    harness.ok(first, "COMMIT");
    // The committed reader's locks (the table, the key index) still matter to the other.
    assert_eq!(harness.pg.db.ssi.footprint(), (2, 4));
    assert_eq!(harness.code(second, "COMMIT"), "40001");
    assert_eq!(harness.pg.db.ssi.footprint(), (0, 0));
    harness.ok(first, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    harness.ok(first, ON_CALL);
    harness.ok(first, "ROLLBACK");
    assert_eq!(harness.pg.db.ssi.footprint(), (0, 0));
    harness.ok(first, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    harness.ok(first, ON_CALL);
    harness.pg.crash();
    assert_eq!(harness.pg.db.ssi.footprint(), (0, 0));
}

/// Goal: a READ ONLY SERIALIZABLE transaction that starts while no writable one runs opts
/// out of SSI (no locks, no failure); a writable one running makes it take part.
#[test]
fn read_only_opts_out_when_no_writer_runs() {
    let (mut harness, first, second) = doctors();
    harness.ok(first, "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY");
    harness.ok(first, ON_CALL);
    assert_eq!(harness.pg.db.ssi.footprint(), (0, 0));
    harness.ok(first, "COMMIT");
    harness.ok(second, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    harness.ok(second, ON_CALL);
    harness.ok(first, "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY");
    harness.ok(first, ON_CALL);
    assert_eq!(harness.pg.db.ssi.footprint().0, 2);
    assert_eq!(
        harness.code(first, "UPDATE doctors SET on_call = false"),
        "25006"
    );
}

/// Goal: a SERIALIZABLE READ ONLY DEFERRABLE transaction's first statement waits for the
/// writable SERIALIZABLE transaction that might make its snapshot unsafe, as a wait that is
/// no lock wait (no deadlock check sees it, `lock_timeout` does not apply); a clean commit
/// makes the snapshot safe, and the reader then runs on it outside SSI.
#[test]
fn deferrable_waits_for_a_safe_snapshot() {
    let (mut harness, writer, reader) = doctors();
    harness.ok(writer, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    harness.ok(writer, ON_CALL);
    harness.ok(
        reader,
        "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
    );
    assert_eq!(harness.blocks(reader, ON_CALL), vec![writer]);
    assert!(!harness.pg.waits_for_lock(reader));
    assert_eq!(harness.pg.check_deadlock(reader), None);
    harness.ok(
        writer,
        "UPDATE doctors SET on_call = false WHERE name = 'alice'",
    );
    harness.ok(writer, "COMMIT");
    // The snapshot from before the writer's commit is safe and kept.
    let rows = harness.wake_one(reader).expect("the read runs");
    assert_eq!(rows.rows[0][0], super::Value::Int8(2));
    assert_eq!(harness.pg.db.ssi.footprint(), (0, 0));
    harness.ok(reader, "COMMIT");
}
