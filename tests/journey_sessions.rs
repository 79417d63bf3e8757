//! journey_sessions beyond the catalog's budget: each property is shown able to fail (the
//! foreign-key variants break "no journey aborted" and, through a retry loop on a deleted
//! contact, "ends the journey cleanly"; a lazy upsert that updates on conflict breaks "never
//! overwrites a real contact"); the CRM-shaped schema fails on `23502`, in the trace; and a
//! `lazy_upsert` run repeats under its seed.
//!
//! The catalog test (`catalog.rs`) covers the expectations, shrinking, replay and the
//! snapshot of the shrunk report.

use syncsim::models::journey_sessions::{JourneySessionsConfig, Mutation};
use syncsim::scenarios;
use syncsim::sim::Seed;

use crate::support::{each_property_catches, only_property};

const NO_ABORT: &str = "journey_sessions: no journey aborted by a missing local contact";
const NO_OVERWRITE: &str = "journey_sessions: the lazy upsert never overwrites a real contact";
const CLEAN_END: &str = "journey_sessions: a contact deleted mid-journey ends the journey cleanly";

#[test]
fn the_foreign_key_variants_abort_journeys_and_loop_on_a_deleted_contact() {
    each_property_catches("journey_sessions/original", &[NO_ABORT, CLEAN_END]);
    each_property_catches("journey_sessions/start_best_effort", &[NO_ABORT, CLEAN_END]);
}

#[test]
fn a_lazy_upsert_that_updates_on_conflict_overwrites_a_real_contact() {
    let mut scenario = scenarios::find("journey_sessions/lazy_upsert").expect("in the catalog");
    scenario
        .model
        .edit(|config: &mut JourneySessionsConfig| {
            config.mutation = Some(Mutation::LazyUpsertOverwrites);
        })
        .expect("a journey_sessions scenario");
    let case = only_property(scenario.case(), NO_OVERWRITE);
    let failure = case
        .run(Seed(0))
        .failure
        .expect("the first persist overwrites");
    assert_eq!(failure.property, NO_OVERWRITE);
    assert!(
        failure.reason.contains("held name \"Contact "),
        "{}",
        failure.reason
    );
}

#[test]
fn the_crm_schema_fails_the_id_only_insert_with_23502_in_the_trace() {
    let scenario =
        scenarios::find("journey_sessions/lazy_upsert_on_crm_schema").expect("in the catalog");
    let case = scenario.case();
    let outcome = (0..scenario.seed_count)
        .map(|seed| case.run(Seed(seed)))
        .find(|outcome| outcome.failure.is_some())
        .expect("caught within the budget");
    let failure = outcome.failure.as_ref().expect("failed");
    assert_eq!(failure.property, NO_ABORT);
    assert!(failure.reason.contains("23502"), "{}", failure.reason);
    let trace = outcome.trace.render();
    assert!(
        trace.contains("23502: null value in column \"created_at\""),
        "no 23502 in the trace"
    );
}

#[test]
fn lazy_upsert_repeats_under_its_seed() {
    let scenario = scenarios::find("journey_sessions/lazy_upsert").expect("in the catalog");
    assert!(scenario.case().check_determinism(Seed(3)).is_ok());
}
