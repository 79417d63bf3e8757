//! hashtext() must equal the real server's values (semantics note §2.6): advisory lock keys
//! derived from it must collide exactly where PostgreSQL's do.

use super::hashtext;
use super::{int, Harness};

/// Goal: the lookup3 port matches every vector measured on PostgreSQL 15.20 (x86_64).
#[test]
fn hashtext_matches_postgres_vectors() {
    assert_eq!(hashtext(""), -1_477_818_771);
    assert_eq!(hashtext("a"), 1_075_015_857);
    assert_eq!(hashtext("foo"), 1_955_559_433);
    assert_eq!(hashtext("job-42"), -959_650_134);
    assert_eq!(hashtext("GoodJob"), 941_585_746);
}

/// Goal: the tail of 9 to 11 bytes, exactly one 12-byte block, a block and a tail, several
/// blocks, and multibyte text all match PostgreSQL (values from `SELECT hashtext(...)` on
/// PostgreSQL 15.18, x86_64; the short vectors above never reach the block loop).
#[test]
fn hashtext_matches_postgres_on_long_and_odd_lengths() {
    let vectors = [
        ("slug-9", 1_718_885_425),
        ("org_12345", 1_665_346_263),
        ("abcdefghijk", -1_483_803_693),
        ("abcdefghijkl", -1_586_087_212),
        ("abcdefghijklm", 405_849_808),
        ("twenty-four bytes long!!", -769_203_940),
        ("0123456789abcdefghijklmnopqrstuvwxyz0123", 2_013_769_886),
        (
            "a string longer than twelve bytes to exercise the block loop",
            1_571_641_170,
        ),
        ("école-été", 1_183_390_326),
    ];
    for (text, expected) in vectors {
        assert_eq!(
            hashtext(text),
            expected,
            "hashtext({text:?}), {} bytes",
            text.len()
        );
    }
}

/// Goal: the SQL function is the same hash, reachable with a parameter.
#[test]
fn hashtext_sql_function_uses_the_same_hash() {
    let mut harness = Harness::new();
    let session = harness.session();
    let rows = harness
        .run_params(session, "SELECT hashtext($1)", &[super::text("job-42")])
        .expect("select")
        .rows;
    assert_eq!(rows, vec![vec![int(-959_650_134)]]);
    let long = "a string longer than twelve bytes to exercise the block loop";
    let rows = harness.rows(session, &format!("SELECT hashtext('{long}') AS h"));
    assert_eq!(rows, vec![vec![int(1_571_641_170)]], "PostgreSQL's value");
}
