//! Every catalog scenario on its committed seed budget, as `cargo test` runs it.
//!
//! A `caught` scenario must fail within its budget; its failure is shrunk, the shrunk report
//! and trace are snapshotted, and its replay file must reproduce the digest. A `holds`
//! scenario must pass every seed and hit every `sometimes` property (so the race it guards
//! against really happened). `SYNCSIM_SEED`, `SYNCSIM_SEEDS` and `SYNCSIM_SCENARIO` narrow,
//! widen or filter the budget.

use syncsim::scenarios::replay::ReplayFile;
use syncsim::scenarios::{self, budget, shrink, Expectation, ScenarioSpec};
use syncsim::sim::FaultPlan;

/// Longest shrunk trace a snapshot carries in full.
const TRACE_IN_SNAPSHOT_MAX: usize = 200;

fn scenario_budget(id: &str) -> Option<(ScenarioSpec, syncsim::sim::SeedRange)> {
    let scenario = scenarios::find(id).expect("in the catalog");
    let budget = budget::from_lookup(&scenario, |name| std::env::var(name).ok())
        .unwrap_or_else(|error| panic!("{error}"));
    budget.selected.then_some((scenario, budget.seeds))
}

/// The property each `caught` scenario must violate (the one its README row names): a
/// scenario caught by some other property is a changed verdict to investigate, not a pass.
const CAUGHT_BY: &[(&str, &str)] = &[
    ("counter/unguarded", "counter: no lost update"),
    ("counter/unguarded/swarm", "counter: no lost update"),
    (
        "org_sync/blind_upsert",
        "org_sync: the provider's external_id never points at a missing row",
    ),
    (
        "org_sync/fetch_then_write/same_millisecond",
        "org_sync: the final row matches the org's latest event",
    ),
    (
        "role_sync/unguarded",
        "role_sync: no permanently failed affiliation",
    ),
    (
        "role_sync/guarded/crm_reply_lost",
        "role_sync: every staff role reaches the CRM",
    ),
    (
        "campaign_control/ttl_only",
        "campaign_control: pause is honoured in time while the broker is healthy",
    ),
    (
        "campaign_control/request_correlation/foreign_ids",
        "campaign_control: pause is honoured in time while the broker is healthy",
    ),
    (
        "campaign_control/request_correlation/outage",
        "campaign_control: a broker outage never fails a committed transition",
    ),
    (
        "campaign_control/fixed/restart_between_joins",
        "campaign_control: pause is honoured in time while the broker is healthy",
    ),
    (
        "contract_outbox/no_outbox",
        "contract_outbox: a contract is never signed without its event",
    ),
    (
        "contract_outbox/no_txn/crash",
        "contract_outbox: a contract is never signed without its event",
    ),
    (
        "contract_outbox/no_txn/null_parent",
        "contract_outbox: no event fails because of a missing parent",
    ),
    (
        "journey_sessions/original",
        "journey_sessions: no journey aborted by a missing local contact",
    ),
    (
        "journey_sessions/start_best_effort",
        "journey_sessions: no journey aborted by a missing local contact",
    ),
    (
        "journey_sessions/lazy_upsert_on_crm_schema",
        "journey_sessions: no journey aborted by a missing local contact",
    ),
];

fn caught(id: &str, snapshot_name: &str) {
    let Some((scenario, seeds)) = scenario_budget(id) else {
        return;
    };
    assert_eq!(scenario.expectation, Expectation::Caught);
    let expected = CAUGHT_BY
        .iter()
        .find(|(scenario_id, _)| *scenario_id == id)
        .map(|(_, property)| *property)
        .unwrap_or_else(|| panic!("{id}: no expected property in CAUGHT_BY"));
    let sweep = scenario.case().run_seeds(seeds, true);
    let failed = sweep
        .failure
        .unwrap_or_else(|| panic!("{id}: not caught in {} seeds", sweep.seeds.len()));
    let violated = &failed.failure.as_ref().expect("a failed run").property;
    assert_eq!(violated, expected, "{id}: caught by another property");
    let shrunk = shrink::shrink(&scenario, &failed, 400);
    let shrunk_property = &shrunk
        .outcome
        .failure
        .as_ref()
        .expect("still fails")
        .property;
    assert_eq!(
        shrunk_property, expected,
        "{id}: shrinking kept the property"
    );
    episodes_stay_closed(id, &failed.plan, &shrunk.spec.faults);
    let file = ReplayFile::from_shrunk(&shrunk);
    let replayed = ReplayFile::from_json(&file.to_json(), id)
        .expect("parses")
        .replay();
    assert_eq!(
        replayed.digest(),
        file.digest,
        "{id}: the replay file reproduces the run"
    );
    let report = shrunk.outcome.report().expect("failed");
    let replay = syncsim::cli::seed_command(id, None, report.seed);
    let report = syncsim::cli::printed(&report, &replay);
    let stats = file.shrink.expect("shrunk");
    // A short trace is part of the reviewed snapshot; a long one would drown the report.
    let trace = if shrunk.outcome.trace.events().len() <= TRACE_IN_SNAPSHOT_MAX {
        shrunk.outcome.trace.render()
    } else {
        format!(
            "(trace of {} events not snapshotted)",
            stats.event_count_after
        )
    };
    let summary = format!(
        "{report}\nshrunk: faults {} -> {}, events {} -> {}\n\n{trace}",
        stats.fault_count_before,
        stats.fault_count_after,
        stats.event_count_before,
        stats.event_count_after,
    );
    if std::env::var_os("SYNCSIM_SEED").is_none() && std::env::var_os("SYNCSIM_SEEDS").is_none() {
        insta::assert_snapshot!(snapshot_name, summary);
    }
}

/// Shrinking drops or shortens whole episodes: an episode the run's plan closed (a crash
/// with its restart) is never left open until heal in the shrunk plan, which would no
/// longer say how long the outage lasted.
fn episodes_stay_closed(id: &str, original: &FaultPlan, shrunk: &FaultPlan) {
    let original = original.episodes();
    for episode in shrunk.episodes() {
        if episode.length.is_some() || episode.fault.closing().is_none() {
            continue;
        }
        let open_before = original.iter().any(|before| {
            before.at == episode.at && before.fault == episode.fault && before.length.is_none()
        });
        assert!(open_before, "{id}: shrinking left `{episode}` open");
    }
}

fn holds(id: &str) {
    let Some((scenario, seeds)) = scenario_budget(id) else {
        return;
    };
    assert_eq!(scenario.expectation, Expectation::Holds);
    let sweep = scenario.case().run_seeds(seeds, false);
    if let Some(outcome) = &sweep.failure {
        panic!("{}", outcome.report().expect("failed"));
    }
    assert_eq!(sweep.seeds.len() as u128, seeds.count());
    if seeds.count() > 1 {
        assert!(
            sweep.uncovered().is_empty(),
            "{id}: never hit {:?}",
            sweep.uncovered()
        );
    }
}

#[test]
fn counter_unguarded_is_caught_shrunk_and_replayable() {
    caught("counter/unguarded", "counter_unguarded");
}

#[test]
fn counter_unguarded_swarm_is_caught_shrunk_and_replayable() {
    caught("counter/unguarded/swarm", "counter_unguarded_swarm");
}

#[test]
fn counter_compare_and_set_holds_with_its_race_hit() {
    holds("counter/compare_and_set");
}

#[test]
fn counter_compare_and_set_swarm_holds_with_its_race_hit() {
    holds("counter/compare_and_set/swarm");
}

#[test]
fn org_sync_blind_upsert_is_caught_shrunk_and_replayable() {
    caught("org_sync/blind_upsert", "org_sync_blind_upsert");
}

#[test]
fn org_sync_fetch_then_write_holds_with_its_races_hit() {
    holds("org_sync/fetch_then_write");
}

#[test]
fn org_sync_fetch_then_write_same_millisecond_is_caught_shrunk_and_replayable() {
    caught(
        "org_sync/fetch_then_write/same_millisecond",
        "org_sync_fetch_then_write_same_millisecond",
    );
}

#[test]
fn role_sync_unguarded_is_caught_shrunk_and_replayable() {
    caught("role_sync/unguarded", "role_sync_unguarded");
}

#[test]
fn role_sync_guarded_holds_with_its_races_hit() {
    holds("role_sync/guarded");
}

#[test]
fn role_sync_guarded_crm_reply_lost_is_caught_shrunk_and_replayable() {
    caught(
        "role_sync/guarded/crm_reply_lost",
        "role_sync_guarded_crm_reply_lost",
    );
}

#[test]
fn campaign_control_ttl_only_is_caught_shrunk_and_replayable() {
    caught("campaign_control/ttl_only", "campaign_control_ttl_only");
}

#[test]
fn campaign_control_request_correlation_foreign_ids_is_caught_shrunk_and_replayable() {
    caught(
        "campaign_control/request_correlation/foreign_ids",
        "campaign_control_request_correlation_foreign_ids",
    );
}

#[test]
fn campaign_control_request_correlation_outage_is_caught_shrunk_and_replayable() {
    caught(
        "campaign_control/request_correlation/outage",
        "campaign_control_request_correlation_outage",
    );
}

#[test]
fn campaign_control_gated_holds_with_its_races_hit() {
    holds("campaign_control/gated");
}

#[test]
fn campaign_control_fixed_restart_between_joins_is_caught_shrunk_and_replayable() {
    caught(
        "campaign_control/fixed/restart_between_joins",
        "campaign_control_fixed_restart_between_joins",
    );
}

#[test]
fn contract_outbox_no_outbox_is_caught_shrunk_and_replayable() {
    caught("contract_outbox/no_outbox", "outbox_no_outbox");
}

#[test]
fn contract_outbox_no_txn_crash_is_caught_shrunk_and_replayable() {
    caught("contract_outbox/no_txn/crash", "outbox_no_txn_crash");
}

#[test]
fn contract_outbox_no_txn_null_parent_is_caught_shrunk_and_replayable() {
    caught("contract_outbox/no_txn/null_parent", "outbox_no_txn_null");
}

#[test]
fn contract_outbox_fixed_holds_with_its_races_hit() {
    holds("contract_outbox/fixed");
}

#[test]
fn journey_sessions_original_is_caught_shrunk_and_replayable() {
    caught("journey_sessions/original", "journey_sessions_original");
}

#[test]
fn journey_sessions_start_best_effort_is_caught_shrunk_and_replayable() {
    caught(
        "journey_sessions/start_best_effort",
        "journey_sessions_best_effort",
    );
}

#[test]
fn journey_sessions_lazy_upsert_holds_with_its_races_hit() {
    holds("journey_sessions/lazy_upsert");
}

#[test]
fn journey_sessions_lazy_upsert_on_crm_schema_is_caught_shrunk_and_replayable() {
    caught(
        "journey_sessions/lazy_upsert_on_crm_schema",
        "journey_sessions_crm_schema",
    );
}

#[test]
fn every_catalog_scenario_has_a_test_here() {
    let source = include_str!("catalog.rs");
    for scenario in scenarios::catalog() {
        let quoted = format!("\"{}\"", scenario.id);
        assert!(source.contains(&quoted), "no test runs {}", scenario.id);
    }
}
