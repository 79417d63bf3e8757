//! contract_outbox beyond the catalog's budget: each of the model's three properties is
//! shown able to fail on its own (the buggy variants break them); `no_txn`'s crash
//! scenario fails only because of its crashes (without faults the same seeds hold), and its
//! null-parent scenario only because of the players without a parent; an attempt budget of
//! one lets a mail crash lose `fixed`'s email; and a run of `fixed` repeats under its seed.
//!
//! The catalog test (`catalog.rs`) covers the expectations, shrinking, replay and the
//! snapshot of the shrunk report.

use syncsim::models::contract_outbox::ContractOutboxConfig;
use syncsim::scenarios::{self, ScenarioSpec};
use syncsim::sim::{FaultPlan, Seed};

use crate::support::{each_property_catches, only_property};

const NEVER_WITHOUT_EVENT: &str = "contract_outbox: a contract is never signed without its event";
const EVERY_EMAIL: &str = "contract_outbox: every signed contract with a parent gets its email";
const NO_PARENTLESS_FAILURE: &str = "contract_outbox: no event fails because of a missing parent";

/// The catalog scenario `id` with its config changed by `change`.
fn changed(id: &str, change: impl Fn(&mut ContractOutboxConfig)) -> ScenarioSpec {
    let mut scenario = scenarios::find(id).expect("in the catalog");
    scenario
        .model
        .edit(change)
        .expect("a contract_outbox scenario");
    scenario
}

#[test]
fn the_buggy_variants_break_every_property() {
    each_property_catches(
        "contract_outbox/no_outbox",
        &[NEVER_WITHOUT_EVENT, EVERY_EMAIL],
    );
    each_property_catches(
        "contract_outbox/no_txn/crash",
        &[NEVER_WITHOUT_EVENT, EVERY_EMAIL],
    );
    each_property_catches(
        "contract_outbox/no_txn/null_parent",
        &[NO_PARENTLESS_FAILURE],
    );
}

#[test]
fn no_txn_fails_only_through_its_crashes_and_its_orphans() {
    let mut calm = changed("contract_outbox/no_txn/crash", |_| {});
    calm.faults = FaultPlan::new();
    let with_parents = changed("contract_outbox/no_txn/null_parent", |config| {
        config.orphan_count = 0;
    });
    for scenario in [calm, with_parents] {
        let case = scenario.case();
        for seed in 0..scenario.seed_count {
            let outcome = case.run(Seed(seed));
            assert!(
                outcome.failure.is_none(),
                "{}: {:?}",
                scenario.id,
                outcome.failure
            );
        }
    }
}

#[test]
fn one_attempt_lets_a_mail_crash_lose_an_email() {
    let scenario = changed("contract_outbox/fixed", |config| config.attempts_max = 1);
    let case = only_property(scenario.case(), EVERY_EMAIL);
    let failure = (0..scenario.seed_count)
        .find_map(|seed| case.run(Seed(seed)).failure)
        .expect("a mail crash fails some event's only attempt");
    assert_eq!(failure.property, EVERY_EMAIL);
}

#[test]
fn fixed_repeats_under_its_seed() {
    let scenario = scenarios::find("contract_outbox/fixed").expect("in the catalog");
    assert!(scenario.case().check_determinism(Seed(4)).is_ok());
}
