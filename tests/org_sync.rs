//! org_sync beyond the catalog's budget: every property of the model is shown able to fail
//! (the buggy variant breaks each one on some seed when it is checked alone), and a run of
//! the fixed variant repeats exactly under its seed.
//!
//! The catalog test (`catalog.rs`) covers the expectations, shrinking, replay and the
//! snapshot of the shrunk report.

use syncsim::scenarios;
use syncsim::sim::Seed;

use crate::support::each_property_catches;

const PROPERTIES: [&str; 4] = [
    "org_sync: no event is retried forever",
    "org_sync: the final row matches the org's latest event",
    "org_sync: a slug never changes after creation",
    "org_sync: the provider's external_id never points at a missing row",
];

#[test]
fn blind_upsert_breaks_every_property_on_some_seed() {
    each_property_catches("org_sync/blind_upsert", &PROPERTIES);
}

#[test]
fn fetch_then_write_repeats_under_its_seed() {
    let scenario = scenarios::find("org_sync/fetch_then_write").expect("in the catalog");
    assert!(scenario.case().check_determinism(Seed(7)).is_ok());
}
