//! Deployment choices are config knobs with the production setting as default: a scenario
//! file tries another deployment (broker partitions, worker leases, job retry attempts) by
//! adding a table under `[model.config]`, with no change to the model.

use syncsim::models::campaign_control::CampaignControlConfig;
use syncsim::models::role_sync::RoleSyncConfig;
use syncsim::scenarios::{file, ScenarioSpec};
use syncsim::services::broker::StartFrom;
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
    assert!(trace_has(&outcome, "lease 2s"), "the production 2 s lease");
    let longer = with_deployment(
        "org_sync/blind_upsert.toml",
        "[model.config.worker]\nlease = \"5s\"\npoll_interval = \"50ms\"",
    );
    let outcome = longer.case().run(Seed(0));
    assert!(trace_has(&outcome, "lease 5s"));
    assert!(!trace_has(&outcome, "lease 2s"));
    // A field left out keeps the deployed value (it was refused as missing).
    let partial = with_deployment(
        "org_sync/blind_upsert.toml",
        "[model.config.worker]
lease = \"5s\"",
    );
    let config: syncsim::models::org_sync::OrgSyncConfig =
        partial.model.config_as().expect("org_sync");
    assert_eq!(
        config.worker.poll_interval,
        std::time::Duration::from_millis(50)
    );
}

#[test]
fn the_broker_has_as_many_partitions_as_the_scenario_deploys() {
    let one = with_deployment(
        "campaign_control/ttl_only.toml",
        "[model.config.broker]\npartitions_default = 1",
    );
    let outcome = one.case().run(Seed(0));
    assert!(trace_has(&outcome, ":0@"));
    assert!(!trace_has(&outcome, ":1@"), "one partition only");
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
    assert!(trace_has(&outcome, ":1@"), "3 by default, two in use");
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

/// The seconds at which the first trace line containing `needle` happened.
fn first_time_of(outcome: &Outcome, needle: &str) -> f64 {
    let line = outcome.trace.lines().find(|line| line.contains(needle));
    let line = line.unwrap_or_else(|| panic!("no line with {needle:?}"));
    let seconds = line
        .split_whitespace()
        .next()
        .and_then(|time| time.strip_suffix('s'));
    seconds
        .and_then(|seconds| seconds.parse().ok())
        .expect("a trace line opens with its time")
}

/// The regression seed 0x13c isolates a worker mid-job: the server closes its session when
/// the kernel's keepalive gives up, after 2 h by default and a minute with a shorter idle.
#[test]
fn the_postgres_server_keeps_a_dead_session_as_long_as_its_keepalives_say() {
    let seed = Seed(0x13c);
    let closed = "keepalive probe";
    let deployed = with_deployment("role_sync/guarded.toml", "");
    let default_seconds = first_time_of(&deployed.case().run(seed), closed);
    assert!(default_seconds > 7_200.0, "{default_seconds}");
    let short = with_deployment(
        "role_sync/guarded.toml",
        "[model.config.postgres]\ntcp_keepalives_idle_micros = 60000000",
    );
    let short_seconds = first_time_of(&short.case().run(seed), closed);
    assert!(short_seconds < 300.0, "{short_seconds}");
    let unknown = "[model.config.postgres]\nkeepalive = 1";
    let text = committed("role_sync/guarded.toml");
    let error = file::parse(&format!("{text}\n{unknown}\n"), "bad.toml").expect_err("unknown");
    assert!(error.contains("unknown field `keepalive`"), "{error}");
}

/// Consumer groups and message keys are the scenario's: group ids show in the broker's
/// joins, and keyless send batches spread one campaign over partitions, so two senders
/// dispatch it and a message goes out twice, where batches keyed by campaign hold.
#[test]
fn consumer_groups_and_message_keys_are_the_scenarios() {
    let seed = Seed(1);
    let two =
        committed("campaign_control/gated.toml").replace("sender_count = 1", "sender_count = 2");
    let keyed = file::parse(&two, "two.toml").expect("parses");
    let outcome = keyed.case().run(seed);
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(trace_has(&outcome, "join senders/"));
    assert!(
        trace_has(&outcome, "join sender-2/"),
        "a control group per sender"
    );
    let renamed =
        "[model.config.groups]\nsend_group = \"dispatchers\"\ncontrol_groups = \"shared\"";
    let renamed = file::parse(&format!("{two}\n{renamed}\n"), "renamed.toml").expect("parses");
    let outcome = renamed.case().run(seed);
    assert!(trace_has(&outcome, "join dispatchers/"));
    assert!(trace_has(&outcome, "join senders-control/"));
    assert!(!trace_has(&outcome, "join sender-2/"));
    let keyless = "[model.config.groups]\nmessage_key = \"none\"";
    let keyless = file::parse(&format!("{two}\n{keyless}\n"), "keyless.toml").expect("parses");
    let failure = keyless
        .case()
        .run(seed)
        .failure
        .expect("a message sent twice");
    assert_eq!(
        failure.property,
        "campaign_control: resume never re-sends a SENT message"
    );
}

#[test]
fn the_job_claim_batch_is_a_knob_and_zero_is_refused() {
    let deployed = syncsim::scenarios::find("role_sync/guarded").expect("in the catalog");
    let config: RoleSyncConfig = deployed.model.config_as().expect("a role_sync config");
    assert_eq!(config.claim_batch_size_max.get(), 10);
    let text = committed("role_sync/guarded.toml").replace(
        "job_work_max_ms = 3000",
        "job_work_max_ms = 3000\nclaim_batch_size_max = 0",
    );
    assert!(
        text.contains("claim_batch_size_max = 0"),
        "the file sets job_work_max_ms"
    );
    let error = file::parse(&text, "zero.toml").expect_err("0 refused");
    assert!(error.contains("claim_batch_size_max"), "{error}");
}

/// org_sync's apply activity retries as the scenario deploys it: Temporal's default retries
/// forever and fetch_then_write holds; one attempt only gives up on a failed apply, and the
/// org's row keeps an older event's name (seed 1). Fields left out keep Temporal's values.
#[test]
fn the_activity_retry_policy_is_the_scenarios() {
    let seed = Seed(1);
    let deployed = with_deployment("org_sync/fetch_then_write.toml", "");
    assert!(deployed.case().run(seed).failure.is_none());
    let once = with_deployment(
        "org_sync/fetch_then_write.toml",
        "[model.config.activity_retry]\nattempts_max = 1",
    );
    let config: syncsim::models::org_sync::OrgSyncConfig =
        once.model.config_as().expect("org_sync");
    assert_eq!(config.activity_retry.attempts_max, Some(1));
    assert_eq!(
        config.activity_retry.backoff_max,
        std::time::Duration::from_secs(100)
    );
    let failure = once.case().run(seed).failure.expect("a lost apply");
    assert_eq!(
        failure.property,
        "org_sync: the final row matches the org's latest event"
    );
    let text = committed("org_sync/fetch_then_write.toml");
    let zero = format!("{text}\n[model.config.activity_retry]\nattempts_max = 0\n");
    let error = file::parse(&zero, "zero.toml").expect_err("0 attempts");
    assert!(error.contains("attempts_max"), "{error}");
}
