//! The model registry: a model of a user's own joins by name with its serde config, its
//! workload knobs shrink by name, and its replay file names the model and carries the config,
//! replaying with no catalog lookup.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use syncsim::models::counter::{Counter, CounterConfig, Variant};
use syncsim::scenarios::replay::ReplayFile;
use syncsim::scenarios::{registry, shrink, ModelSpec};
use syncsim::sim::{Knob, Model, ModelConfig};

/// A user's model: the toy counter behind a config of its own, knobs named its own way.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TallyConfig {
    variant: String,
    tellers: u32,
    deposits_each: u32,
}

impl ModelConfig for TallyConfig {
    const NAME: &'static str = "tally";
    const ENTITY_KNOB: &'static str = "tellers";

    fn variant(&self) -> &str {
        &self.variant
    }

    fn model(&self) -> Arc<dyn Model> {
        Arc::new(Counter {
            config: CounterConfig {
                variant: Variant::Unguarded,
                worker_count: self.tellers,
                increments_per_worker: self.deposits_each,
                think_time_max_ms: 2,
                start_delay_max_ms: 20,
            },
        })
    }

    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new("tellers", 1, u64::from(self.tellers)),
            Knob::new("deposits_each", 1, u64::from(self.deposits_each)),
        ]
    }
}

/// counter/unguarded's plan and bounds around the user's model.
fn tally_scenario() -> syncsim::scenarios::ScenarioSpec {
    let mut scenario = syncsim::scenarios::find("counter/unguarded").expect("in the catalog");
    scenario.id = "tally/racy".to_string();
    scenario.faults = syncsim::sim::FaultPlan::new();
    scenario.model = ModelSpec::of(&TallyConfig {
        variant: "racy".to_string(),
        tellers: 4,
        deposits_each: 3,
    });
    scenario
}

#[test]
fn a_users_model_registers_by_name_shrinks_by_knob_name_and_replays_from_its_file() {
    let scenario = tally_scenario();
    scenario.validate().expect("a registered model");
    assert!(registry::names().contains(&"tally"));
    let sweep = scenario.case().run_seeds(scenario.seeds(), true);
    let failed = sweep.failure.expect("four tellers lose a deposit");
    let shrunk = shrink::shrink(&scenario, &failed, 200);
    let config: TallyConfig = shrunk.spec.model.config_as().expect("a tally config");
    assert_eq!(config.tellers, 2, "shrinking lowered `tellers` by name");
    assert_eq!(config.deposits_each, 1);
    let file = ReplayFile::from_shrunk(&shrunk);
    let json = file.to_json();
    assert!(
        json.contains("\"name\": \"tally\"") && json.contains("\"tellers\": 2"),
        "{json}"
    );
    let parsed = ReplayFile::from_json(&json, "tally.json").expect("parses and validates");
    assert_eq!(
        parsed.replay().digest(),
        file.digest,
        "replays without the catalog"
    );
}

#[test]
fn an_unknown_model_or_a_bad_config_field_is_refused_by_name() {
    let mut scenario = tally_scenario();
    scenario.model.name = "talley".to_string();
    let error = scenario.validate().expect_err("no such model").to_string();
    assert!(
        error.contains("unknown model \"talley\"; registered models:"),
        "{error}"
    );
    assert!(
        error.contains("counter") && error.contains("role_sync"),
        "{error}"
    );
    let mut scenario = tally_scenario();
    scenario.model.config["tellers"] = serde_json::json!("four");
    let error = scenario
        .validate()
        .expect_err("a string teller count")
        .to_string();
    assert!(error.contains("field `model.config.tellers`"), "{error}");
}
