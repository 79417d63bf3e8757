//! The top-N path (`ORDER BY` integer columns with `LIMIT`) against the full sort path.
//!
//! Goal: every query the top-N path serves returns what the full path returns. Method: each
//! query runs as written (top-N) and with its sort keys written as expressions (`id + 0`),
//! which the top-N path refuses, so the full path answers; the two results must match, on
//! data with NULLs, ties, updated keys, deleted rows and rows another session has locked.
//! A counter of SELECTs the top-N path served shows each query took the path meant for it.

use super::{Harness, SessionId, Value};

const SETUP: &str = "CREATE TABLE q (id int PRIMARY KEY, rank int, status text, body jsonb); \
    INSERT INTO q VALUES (5, 2, 'pending', '{\"n\": 5}'), (3, NULL, 'pending', '{}'), \
    (9, 2, 'sent', '{}'), (1, 7, 'pending', '{}'), (7, NULL, 'sent', '{}'), \
    (4, 2, 'pending', '{}'), (8, 1, 'pending', '{}'); \
    UPDATE q SET status = 'sent' WHERE id = 4; UPDATE q SET status = 'pending' WHERE id = 9; \
    DELETE FROM q WHERE id = 8; UPDATE q SET id = 2 WHERE id = 1";

/// (top-N query, the same query through the full path).
const PAIRS: &[(&str, &str)] = &[
    (
        "SELECT id FROM q ORDER BY id LIMIT 3",
        "SELECT id FROM q ORDER BY id + 0 LIMIT 3",
    ),
    (
        "SELECT id, body FROM q WHERE status = 'pending' ORDER BY id DESC LIMIT 2 OFFSET 1",
        "SELECT id, body FROM q WHERE status = 'pending' ORDER BY id + 0 DESC LIMIT 2 OFFSET 1",
    ),
    (
        "SELECT id, rank FROM q ORDER BY rank LIMIT 4",
        "SELECT id, rank FROM q ORDER BY rank + 0 LIMIT 4",
    ),
    (
        "SELECT id, rank FROM q ORDER BY rank DESC, id LIMIT 5",
        "SELECT id, rank FROM q ORDER BY rank + 0 DESC, id + 0 LIMIT 5",
    ),
    (
        "SELECT * FROM q ORDER BY rank NULLS FIRST LIMIT 3",
        "SELECT * FROM q ORDER BY rank + 0 NULLS FIRST LIMIT 3",
    ),
    (
        "SELECT q.id FROM q WHERE status = 'sent' ORDER BY q.rank DESC NULLS LAST LIMIT 9",
        "SELECT q.id FROM q WHERE status = 'sent' ORDER BY q.rank + 0 DESC NULLS LAST LIMIT 9",
    ),
    (
        "SELECT id FROM q WHERE rank IS NULL ORDER BY id LIMIT 5",
        "SELECT id FROM q WHERE rank IS NULL ORDER BY id + 0 LIMIT 5",
    ),
    (
        "SELECT id FROM q WHERE (rank IS NULL AND status = 'sent') ORDER BY id DESC LIMIT 5",
        "SELECT id FROM q WHERE (rank IS NULL AND status = 'sent') ORDER BY id + 0 DESC LIMIT 5",
    ),
];

type Rows = Vec<Vec<Value>>;

/// Each pair's answers; asserts the first query of each pair took the top-N path and the
/// second did not (else the comparison would compare the full path with itself).
fn answers(harness: &mut Harness, session: SessionId) -> Vec<(Rows, Rows)> {
    PAIRS
        .iter()
        .map(|(top_n, full)| {
            let served = harness.pg.db.top_n_served;
            let fast = harness.rows(session, top_n);
            assert_eq!(
                harness.pg.db.top_n_served,
                served + 1,
                "top-N path: {top_n}"
            );
            let slow = harness.rows(session, full);
            assert_eq!(harness.pg.db.top_n_served, served + 1, "full path: {full}");
            (fast, slow)
        })
        .collect()
}

/// Goal: ordering, NULL placement, ties, OFFSET and the point filter agree with a full sort.
#[test]
fn top_n_answers_equal_the_full_sort() {
    let (mut harness, session) = Harness::with_setup(SETUP);
    for (index, (top_n, full)) in answers(&mut harness, session).into_iter().enumerate() {
        assert!(!full.is_empty(), "query {index} returns rows");
        assert_eq!(top_n, full, "query {index}: {}", PAIRS[index].0);
    }
}

/// Goal: SKIP LOCKED keeps collecting past locked rows until the limit is met.
#[test]
fn skip_locked_batches_equal_the_full_sort() {
    let (mut harness, holder) = Harness::with_setup(SETUP);
    let claimer = harness.session();
    harness.ok(
        holder,
        "BEGIN; SELECT id FROM q WHERE id IN (2, 3) FOR UPDATE",
    );
    let claim = "SELECT id FROM q WHERE status = 'pending' ORDER BY id LIMIT 2 \
                 FOR UPDATE SKIP LOCKED";
    let full = "SELECT id FROM q WHERE status = 'pending' ORDER BY id + 0 LIMIT 2 \
                FOR UPDATE SKIP LOCKED";
    harness.ok(claimer, "BEGIN");
    let served = harness.pg.db.top_n_served;
    let claimed = harness.rows(claimer, claim);
    assert_eq!(
        harness.pg.db.top_n_served,
        served + 1,
        "the claim took the top-N path"
    );
    harness.ok(claimer, "ROLLBACK; BEGIN");
    assert_eq!(claimed, harness.rows(claimer, full));
    assert_eq!(claimed, vec![vec![Value::Int4(5)], vec![Value::Int4(9)]]);
}
