//! Deployment choices are config knobs with the production setting as default: a scenario
//! file tries another deployment (broker partitions, worker leases, job retry attempts) by
//! adding a table under `[model.config]`, with no change to the model.

use syncsim::models::campaign_control::CampaignControlConfig;
use syncsim::models::role_sync::RoleSyncConfig;
use syncsim::scenarios::{file, ScenarioSpec};
use syncsim::sim::services::broker::StartFrom;
use syncsim::sim::{Outcome, Seed};

use crate::scenario_files::committed;

fn with_deployment(relative: &str, table: &str) -> ScenarioSpec {
    let text = committed(relative);
    file::parse(&format!("{text}\n{table}\n"), relative).expect("a valid deployment")
}

fn trace_has(outcome: &Outcome, needle: &str) -> bool {
    outcome.trace.lines().any(|line| line.contains(needle))
}

#[test]
fn workers_lease_for_as_long_as_the_scenario_deploys_them() {
    let deployed = with_deployment("org_sync/blind_upsert.toml", "");
    let outcome = deployed.case().run(Seed(0));
    assert!(
        trace_has(&outcome, "lease_micros: 2000000"),
        "the production 2 s lease"
    );
    let longer = with_deployment(
        "org_sync/blind_upsert.toml",
        "[model.config.worker]\nlease = \"5s\"\npoll_interval = \"50ms\"",
    );
    let outcome = longer.case().run(Seed(0));
    assert!(trace_has(&outcome, "lease_micros: 5000000"));
    assert!(!trace_has(&outcome, "lease_micros: 2000000"));
}

#[test]
fn the_broker_has_as_many_partitions_as_the_scenario_deploys() {
    let one = with_deployment(
        "campaign_control/ttl_only.toml",
        "[model.config.broker]\npartitions_default = 1",
    );
    let outcome = one.case().run(Seed(0));
    assert!(trace_has(&outcome, "partition: 0"));
    assert!(!trace_has(&outcome, "partition: 1"), "one partition only");
    let config: CampaignControlConfig = one.model.config_as().expect("campaign_control");
    assert_eq!(
        config.broker.start_from,
        StartFrom::Earliest,
        "left out: the deployment's, not the broker's default"
    );
    let none = "[model.config.broker]\npartitions_default = 0";
    let text = committed("campaign_control/ttl_only.toml");
    let error = file::parse(&format!("{text}\n{none}\n"), "zero.toml").expect_err("0 partitions");
    assert!(error.contains("partitions_default"), "{error}");
    let deployed = syncsim::scenarios::find("campaign_control/ttl_only").expect("in the catalog");
    let outcome = deployed.case().run(Seed(0));
    assert!(
        trace_has(&outcome, "partition: 1"),
        "3 by default, two in use"
    );
}

#[test]
fn job_retry_attempts_are_a_knob_with_the_production_default() {
    let deployed = syncsim::scenarios::find("role_sync/guarded").expect("in the catalog");
    let config: RoleSyncConfig = deployed.model.config_as().expect("a role_sync config");
    assert_eq!(
        config.retry_attempts, 10,
        "the production jobs' attempts: 10"
    );
    let as_filed = with_deployment("role_sync/guarded.toml", "")
        .model
        .config
        .clone();
    assert!(
        as_filed.get("retry_attempts").is_none(),
        "left out of the file, defaulted"
    );
    let mut three = deployed.clone();
    three
        .model
        .edit(|config: &mut RoleSyncConfig| config.retry_attempts = 3)
        .expect("a role_sync config");
    let digests = |spec: &ScenarioSpec| spec.case().run(Seed(0)).digest();
    assert_ne!(
        digests(&three),
        digests(&deployed),
        "three attempts run differently"
    );
}
