//! Native row triggers: a status trigger in the shape of Heroku Connect's (application writes
//! become `PENDING` and get a log row; writes from a `hex` session are left alone) fires
//! before constraint checks, inside the writer's transaction, once per written row, and its
//! log rows roll back with the write (statement, savepoint and transaction rollbacks).

use std::sync::Arc;

use super::{text, Harness, SessionId, SqlState, Value};
use crate::pg::{RowTrigger, TriggerEvent, TriggerInsert, XmlBinary};

const SETUP: &str = "CREATE TABLE mirror (id bigint PRIMARY KEY, name text NOT NULL, \
                     status text NOT NULL); \
                     CREATE TABLE change_log (id bigserial PRIMARY KEY, record_id bigint NOT NULL, \
                     action text NOT NULL)";

#[derive(Debug)]
struct StatusTrigger;

impl RowTrigger for StatusTrigger {
    fn before(&self, event: &TriggerEvent<'_>, new: &mut [Value]) {
        if event.xmlbinary == XmlBinary::Base64 {
            new[event.column("status")] = text("PENDING");
        }
    }

    fn notify(&self, event: &TriggerEvent<'_>) -> Option<(String, String)> {
        (event.xmlbinary == XmlBinary::Base64)
            .then(|| ("changes".to_string(), "mirror".to_string()))
    }

    fn after(&self, event: &TriggerEvent<'_>, new: &[Value]) -> Vec<TriggerInsert> {
        if event.xmlbinary == XmlBinary::Hex {
            return Vec::new();
        }
        let action = event.op.keyword();
        vec![TriggerInsert {
            table: "change_log".to_string(),
            values: vec![
                ("record_id".to_string(), new[0].clone()),
                ("action".to_string(), text(action)),
            ],
        }]
    }
}

fn harness() -> (Harness, SessionId) {
    let (mut harness, session) = Harness::with_setup(SETUP);
    harness
        .pg
        .install_trigger("mirror", Arc::new(StatusTrigger));
    (harness, session)
}

fn log(harness: &mut Harness, session: SessionId) -> Vec<String> {
    harness
        .rows(
            session,
            "SELECT id, record_id, action FROM change_log ORDER BY id",
        )
        .iter()
        .map(|row| {
            format!(
                "{} {} {}",
                row[0].to_pg_text(),
                row[1].to_pg_text(),
                row[2].to_pg_text()
            )
        })
        .collect()
}

/// Goal: the BEFORE trigger fills a NOT NULL column the INSERT left out (so it runs before the
/// check), RETURNING sees the stored row, and each write gets its own log row.
#[test]
fn an_application_write_is_marked_pending_and_logged_once_per_row() {
    let (mut harness, session) = harness();
    let inserted = harness.rows(
        session,
        "INSERT INTO mirror (id, name) VALUES (1, 'a'), (2, 'b') RETURNING status",
    );
    assert_eq!(inserted, vec![vec![text("PENDING")], vec![text("PENDING")]]);
    harness.ok(
        session,
        "UPDATE mirror SET status = 'FAILED', name = 'c' WHERE id = 1",
    );
    let status = harness.rows(session, "SELECT status FROM mirror WHERE id = 1");
    assert_eq!(status, vec![vec![text("PENDING")]]);
    let upsert = "INSERT INTO mirror (id, name) VALUES (2, 'd') \
                  ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name";
    harness.ok(session, upsert);
    assert_eq!(
        log(&mut harness, session),
        ["1 1 INSERT", "2 2 INSERT", "3 1 UPDATE", "4 2 UPDATE"]
    );
}

/// Goal: a `hex` session (the sync process) writes what it says and logs nothing; SET LOCAL
/// ends with its transaction.
#[test]
fn a_hex_session_is_not_captured_and_set_local_ends_with_the_transaction() {
    let (mut harness, session) = harness();
    harness.ok(session, "INSERT INTO mirror (id, name) VALUES (1, 'a')");
    harness.ok(session, "BEGIN; SET LOCAL xmlbinary = 'hex'");
    harness.ok(session, "UPDATE mirror SET status = 'SYNCED' WHERE id = 1");
    harness.ok(session, "COMMIT");
    let status = harness.rows(session, "SELECT status FROM mirror");
    assert_eq!(status, vec![vec![text("SYNCED")]]);
    harness.ok(session, "UPDATE mirror SET name = 'b' WHERE id = 1");
    assert_eq!(log(&mut harness, session), ["1 1 INSERT", "2 1 UPDATE"]);
    assert_eq!(harness.code(session, "SET xmlbinary = 'octal'"), "22023");
}

/// Goal: log rows vanish with the write that made them: a failed statement, a rolled-back
/// savepoint, a rolled-back transaction.
#[test]
fn log_rows_roll_back_with_their_write() {
    let (mut harness, session) = harness();
    harness.ok(session, "INSERT INTO mirror (id, name) VALUES (1, 'a')");
    let duplicate = "INSERT INTO mirror (id, name) VALUES (2, 'b'), (1, 'again')";
    assert_eq!(
        harness.code(session, duplicate),
        SqlState::UniqueViolation.code()
    );
    harness.ok(session, "BEGIN; SAVEPOINT s");
    harness.ok(session, "UPDATE mirror SET name = 'x'");
    harness.ok(session, "ROLLBACK TO SAVEPOINT s");
    harness.ok(
        session,
        "INSERT INTO mirror (id, name) VALUES (3, 'c'); ROLLBACK",
    );
    let names = harness.rows(session, "SELECT id, name FROM mirror");
    assert_eq!(names, vec![vec![Value::Int8(1), text("a")]]);
    // Sequence values are not transactional, as in PostgreSQL: later rows skip them.
    harness.ok(session, "UPDATE mirror SET name = 'd'");
    let entries = log(&mut harness, session);
    assert_eq!(entries.len(), 2);
    assert!(entries[0] == "1 1 INSERT" && entries[1].ends_with(" 1 UPDATE"));
}

/// Goal: a statement that blocks on a row lock and re-runs logs each row once.
#[test]
fn a_statement_that_blocks_and_reruns_logs_each_row_once() {
    let (mut harness, session) = harness();
    harness.ok(
        session,
        "INSERT INTO mirror (id, name) VALUES (1, 'a'), (2, 'b')",
    );
    let other = harness.session();
    harness.ok(other, "BEGIN; UPDATE mirror SET name = 'held' WHERE id = 2");
    harness.blocks(session, "UPDATE mirror SET name = 'all'");
    harness.ok(other, "COMMIT");
    harness.wake_one(session).expect("the update finishes");
    let entries = log(&mut harness, session);
    let updates_of = |record: &str| {
        entries
            .iter()
            .filter(|entry| entry.ends_with(&format!(" {record} UPDATE")))
            .count()
    };
    assert_eq!((updates_of("1"), updates_of("2")), (1, 2), "{entries:?}");
}

/// Goal: a trigger's notification is delivered at commit only, once per transaction (folded),
/// and never for a rolled-back write or a `hex` session's.
#[test]
fn a_trigger_notifies_at_commit_once_per_transaction() {
    let (mut harness, session) = harness();
    let listener = harness.session();
    harness.ok(listener, "LISTEN changes");
    harness.ok(
        session,
        "BEGIN; INSERT INTO mirror (id, name) VALUES (1, 'a'), (2, 'b')",
    );
    assert!(harness.pg.take_notifications(listener).is_empty());
    harness.ok(session, "COMMIT");
    assert_eq!(harness.pg.take_notifications(listener).len(), 1);
    harness.ok(session, "BEGIN; UPDATE mirror SET name = 'c'; ROLLBACK");
    harness.ok(session, "SET xmlbinary = hex");
    harness.ok(session, "UPDATE mirror SET name = 'd'");
    assert!(harness.pg.take_notifications(listener).is_empty());
}
