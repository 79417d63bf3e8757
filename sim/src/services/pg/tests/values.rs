//! Value formats: timestamptz, uuid and jsonb text input/output as PostgreSQL prints them,
//! and the ordering/NULL rules comparisons rely on.

use proptest::prelude::*;

use super::super::timestamp;
use super::super::value::{parse_uuid, render_uuid, ColumnType};
use super::{int, text, Harness, Value, SIM_EPOCH_UNIX_MICROS};

proptest! {
    /// Goal: timestamp output parses back to the same instant (the adapter and the ground
    /// truth both print and re-read timestamps).
    #[test]
    fn timestamp_render_parse_round_trips(
        micros in -2_000_000_000_000_000i64..4_000_000_000_000_000i64
    ) {
        prop_assert_eq!(timestamp::parse(&timestamp::render(micros)).expect("parses"), micros);
    }

    /// Goal: uuid output parses back to the same value.
    #[test]
    fn uuid_render_parse_round_trips(uuid in any::<u128>()) {
        prop_assert_eq!(parse_uuid(&render_uuid(uuid)).expect("parses"), uuid);
    }
}

/// Goal: the text formats match PostgreSQL's output byte for byte.
#[test]
fn text_output_matches_postgres() {
    assert_eq!(
        timestamp::render(SIM_EPOCH_UNIX_MICROS),
        "2026-01-01 00:00:00+00"
    );
    assert_eq!(
        timestamp::render(SIM_EPOCH_UNIX_MICROS + 1_500_000),
        "2026-01-01 00:00:01.5+00"
    );
    assert_eq!(
        timestamp::parse("2026-01-01 02:00:00+02").expect("zone"),
        SIM_EPOCH_UNIX_MICROS
    );
    assert_eq!(
        timestamp::parse("2025-12-31T19:00:00-05:00").expect("zone"),
        SIM_EPOCH_UNIX_MICROS
    );
    assert_eq!(
        timestamp::parse("2026-01-01").expect("date"),
        SIM_EPOCH_UNIX_MICROS
    );
    let json: serde_json::Value =
        serde_json::from_str(r#"{"bb": [1, {"z": null}], "a": "x", "c": true}"#).expect("json");
    assert_eq!(
        Value::Jsonb(json).to_pg_text(),
        r#"{"a": "x", "c": true, "bb": [1, {"z": null}]}"#
    );
    assert_eq!(
        parse_uuid("{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}").expect("braces"),
        0xa0ee_bc99_9c0b_4ef8_bb6d_6bb9_bd38_0a11
    );
    assert_eq!(Value::Bool(true).to_pg_text(), "t");
    assert_eq!(Value::Null.cast_to(ColumnType::Uuid), Ok(Value::Null));
    assert_eq!(int(5).cast_to(ColumnType::Int8), Ok(Value::Int8(5)));
    assert_eq!(
        Value::Int8(1 << 40)
            .cast_to(ColumnType::Int4)
            .unwrap_err()
            .code(),
        "22003"
    );
}

/// Goal: SQL NULL semantics in WHERE and IS [NOT] DISTINCT FROM; text sorts bytewise.
#[test]
fn null_semantics_and_ordering() {
    let (mut harness, session) = Harness::with_setup(
        "CREATE TABLE n (id int PRIMARY KEY, v int, s text); \
         INSERT INTO n VALUES (1, NULL, 'b'), (2, 2, 'B'), (3, 3, 'a')",
    );
    assert_eq!(
        harness
            .rows(session, "SELECT id FROM n WHERE v = NULL")
            .len(),
        0
    );
    assert_eq!(
        harness.rows(session, "SELECT id FROM n WHERE NOT (v = 2)"),
        vec![vec![int(3)]]
    );
    assert_eq!(
        harness.rows(
            session,
            "SELECT id FROM n WHERE v IS DISTINCT FROM 2 ORDER BY id"
        ),
        vec![vec![int(1)], vec![int(3)]]
    );
    assert_eq!(
        harness.rows(
            session,
            "SELECT id FROM n WHERE v IS NOT DISTINCT FROM NULL"
        ),
        vec![vec![int(1)]]
    );
    assert_eq!(
        harness.rows(
            session,
            "SELECT id FROM n WHERE v BETWEEN 2 AND 3 ORDER BY id DESC"
        ),
        vec![vec![int(3)], vec![int(2)]]
    );
    let sorted = harness.rows(session, "SELECT s FROM n ORDER BY s");
    assert_eq!(
        sorted,
        vec![vec![text("B")], vec![text("a")], vec![text("b")]]
    );
    let nulls_first = harness.rows(session, "SELECT id FROM n ORDER BY v NULLS FIRST LIMIT 1");
    assert_eq!(nulls_first, vec![vec![int(1)]]);
    assert_eq!(
        harness.rows(
            session,
            "SELECT coalesce(v, 0) + 1 AS w FROM n WHERE id = 1"
        ),
        vec![vec![int(1)]]
    );
    assert_eq!(
        harness.rows(session, "SELECT lower('AbC'), upper(s) FROM n WHERE id = 3"),
        vec![vec![text("abc"), text("A")]]
    );
}
