//! r-notify: NOTIFY is delivered only on commit, folded per transaction, in send order, to
//! sessions listening at delivery time, and to a listener inside a transaction only after
//! its transaction ends.

use super::{text, Harness, Notification, SessionId};

fn payloads(notifications: &[Notification]) -> Vec<String> {
    notifications
        .iter()
        .map(|notification| notification.payload.clone())
        .collect()
}

fn pair() -> (Harness, SessionId, SessionId) {
    let mut harness = Harness::new();
    let listener = harness.session();
    let notifier = harness.session();
    harness.ok(listener, "LISTEN jobs");
    (harness, listener, notifier)
}

/// Goal: nothing before commit; after commit "a", "b" with the duplicate "a" folded.
#[test]
fn r_notify_delivered_on_commit_and_folded() {
    let (mut harness, listener, notifier) = pair();
    harness.ok(notifier, "BEGIN; NOTIFY jobs, 'a'; NOTIFY jobs, 'a'");
    harness
        .run_params(
            notifier,
            "SELECT pg_notify($1, $2)",
            &[text("jobs"), text("b")],
        )
        .expect("pg_notify");
    assert!(harness.pg.take_notifications(listener).is_empty());
    harness.ok(notifier, "COMMIT");
    let delivered = harness.pg.take_notifications(listener);
    assert_eq!(payloads(&delivered), vec!["a", "b"]);
    assert_eq!(
        (delivered[0].channel.as_str(), delivered[0].sender),
        ("jobs", notifier)
    );
    assert!(
        harness.pg.take_notifications(notifier).is_empty(),
        "the sender does not listen"
    );
}

/// Goal: an aborted transaction's notifications are never delivered.
#[test]
fn r_notify_aborted_transaction_delivers_nothing() {
    let (mut harness, listener, notifier) = pair();
    harness.ok(notifier, "BEGIN; NOTIFY jobs, 'a'; ROLLBACK");
    assert!(harness.pg.take_notifications(listener).is_empty());
}

/// Goal: a listener inside a transaction gets the notification only after its own commit.
#[test]
fn r_notify_listener_in_transaction_waits_for_its_end() {
    let (mut harness, listener, notifier) = pair();
    harness.ok(listener, "BEGIN");
    harness.ok(notifier, "NOTIFY jobs, 'a'");
    assert!(harness.pg.take_notifications(listener).is_empty());
    harness.ok(listener, "COMMIT");
    assert_eq!(
        payloads(&harness.pg.take_notifications(listener)),
        vec!["a"]
    );
}

/// Goal: LISTEN takes effect at commit (a rolled-back LISTEN does nothing); UNLISTEN * stops
/// delivery; a reconnect loses the listen (nothing is durable).
#[test]
fn listen_takes_effect_at_commit_and_is_not_durable() {
    let mut harness = Harness::new();
    let listener = harness.session();
    let notifier = harness.session();
    harness.ok(listener, "BEGIN; LISTEN jobs; ROLLBACK");
    harness.ok(notifier, "NOTIFY jobs, 'lost'");
    assert!(harness.pg.take_notifications(listener).is_empty());
    harness.ok(listener, "BEGIN; LISTEN jobs; COMMIT");
    harness.ok(notifier, "NOTIFY jobs");
    assert_eq!(payloads(&harness.pg.take_notifications(listener)), vec![""]);
    harness.ok(listener, "UNLISTEN *");
    harness.ok(notifier, "NOTIFY jobs, 'after unlisten'");
    assert!(harness.pg.take_notifications(listener).is_empty());
    harness.ok(listener, "LISTEN jobs");
    harness.pg.crash();
    let fresh = harness.session();
    let other = harness.session();
    harness.ok(other, "NOTIFY jobs, 'x'");
    assert!(harness.pg.take_notifications(fresh).is_empty());
    assert_eq!(
        harness.code(other, &format!("NOTIFY jobs, '{}'", "x".repeat(8000))),
        "22023"
    );
}
