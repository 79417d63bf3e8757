//! org_sync beyond the catalog's budget: every property of the model is shown able to fail
//! (the buggy variant breaks each one on some seed when it is checked alone), a run of the
//! fixed variant repeats exactly under its seed, and the fix's id-ordered guard is shown
//! wrong exactly where the provider's ids invert within a millisecond (the monotonic ids
//! syncsim drew before issue 19 hide it).
//!
//! The catalog test (`catalog.rs`) covers the expectations, shrinking, replay and the
//! snapshot of the shrunk report.

use syncsim::models::org_sync::OrgSyncConfig;
use syncsim::scenarios;
use syncsim::services::webhook::IdOrder;
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

const SAME_MILLISECOND: &str = "org_sync/fetch_then_write/same_millisecond";

#[test]
fn the_id_guard_fails_where_ids_invert_and_monotonic_ids_hid_it() {
    let scenario = scenarios::find(SAME_MILLISECOND).expect("in the catalog");
    let sweep = scenario.case().run_seeds(scenario.seeds(), true);
    let failed = sweep.failure.expect("caught within the budget");
    let failure = failed.failure.clone().expect("failed");
    assert_eq!(
        failure.property,
        "org_sync: the final row matches the org's latest event"
    );
    // The dangerous interleaving happened in that run: a later event of one org got a
    // smaller id within the same millisecond.
    let inverted = "org_sync: a later event of an org got a smaller id in the same millisecond";
    assert_eq!(
        failed.sometimes.get(inverted),
        Some(&true),
        "seed {}",
        failed.seed
    );
    // The same seed, workload and faults with the spec's optional monotonic ids: the two
    // events of one millisecond sort in emission order and the guard is right.
    let mut monotonic = scenario.clone();
    monotonic
        .model
        .edit(|config: &mut OrgSyncConfig| config.id_order = IdOrder::Monotonic)
        .expect("an org_sync scenario");
    let outcome = monotonic.case().run(failed.seed);
    assert_eq!(outcome.failure, None, "seed {}", failed.seed);
}
