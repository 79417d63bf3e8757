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
    assert_eq!(rows, vec![vec![int(hashtext(long))]]);
}
