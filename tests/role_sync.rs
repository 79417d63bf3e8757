//! role_sync beyond the catalog's budget: each of the model's three properties catches the
//! unguarded variant on its own, and a guarded run repeats exactly under its seed.
//!
//! The catalog test (`catalog.rs`) covers the expectations, shrinking, replay and the
//! snapshot of the shrunk report.

use syncsim::scenarios;
use syncsim::sim::Seed;

use crate::support::each_property_catches;

const PROPERTIES: [&str; 3] = [
    "role_sync: no permanently failed affiliation",
    "role_sync: every staff role reaches the CRM",
    "role_sync: a role whose contact never arrives fails visibly",
];

#[test]
fn unguarded_breaks_every_property_on_some_seed() {
    each_property_catches("role_sync/unguarded", &PROPERTIES);
}

#[test]
fn guarded_repeats_under_its_seed() {
    let scenario = scenarios::find("role_sync/guarded").expect("in the catalog");
    assert!(scenario.case().check_determinism(Seed(3)).is_ok());
}
