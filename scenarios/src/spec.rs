//! Scenarios as data: a serde value naming a model variant, its workload, faults, phases,
//! bounds, expectation and seed budget.
//!
//! The same value is the catalog entry, what shrinking rewrites, and what a replay file
//! stores, so a replay needs no catalog lookup: the model is named and its config is data,
//! read through the registry. Not here: workloads that are not integers (shrinking lowers
//! integer knobs only).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use syncsim_sim::{
    select_properties, Bounds, Case, CaseError, FaultPlan, Knob, Model, ModelConfig, NetConfig,
    Phases, PropertyParameters, Seed,
};

use crate::registry::{self, Resolved};

/// What a scenario's seed budget must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// The variant is buggy: some seed in the budget must fail.
    Caught,
    /// The variant is fixed: every seed must pass and every `sometimes` must be hit.
    Holds,
}

impl fmt::Display for Expectation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.pad(match self {
            Expectation::Caught => "caught",
            Expectation::Holds => "holds",
        })
    }
}

/// A model by name with its configuration (variant and workload included), as data: the
/// registry (`registry`) reads the config as the model's own type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model's registered name (`counter`).
    pub name: String,
    /// Its config, as the model's `ModelConfig` type reads it.
    pub config: Value,
}

impl ModelSpec {
    /// The spec of `config` (registering its model).
    pub fn of<C: ModelConfig>(config: &C) -> ModelSpec {
        registry::register::<C>();
        ModelSpec {
            name: C::NAME.to_string(),
            config: serde_json::to_value(config).expect("a model config serializes"),
        }
    }

    /// The config as the model's own type, for a test or a tool that edits it.
    pub fn config_as<C: ModelConfig>(&self) -> Result<C, String> {
        if self.name != C::NAME {
            return Err(format!("model {:?} is not {:?}", self.name, C::NAME));
        }
        serde_json::from_value(self.config.clone()).map_err(|error| error.to_string())
    }

    /// Changes the config as the model's own type (a test's mutation, another deployment).
    pub fn edit<C: ModelConfig>(&mut self, change: impl FnOnce(&mut C)) -> Result<(), String> {
        let mut config: C = self.config_as()?;
        change(&mut config);
        *self = ModelSpec::of(&config);
        Ok(())
    }

    /// The config read through the registry, or why it cannot be (an unknown model, a bad
    /// field).
    pub fn resolve(&self) -> Result<Resolved, String> {
        registry::resolve(&self.name, &self.config)
    }

    fn resolved(&self) -> Resolved {
        self.resolve()
            .unwrap_or_else(|problem| panic!("a validated model spec: {problem}"))
    }

    /// The runnable model.
    pub fn model(&self) -> Arc<dyn Model> {
        self.resolved().model
    }

    /// `<model>/<variant>`, the prefix every scenario id of this model starts with.
    pub fn variant_id(&self) -> String {
        format!("{}/{}", self.name, self.resolved().variant)
    }

    /// The workload knobs shrinking may lower.
    pub fn workload(&self) -> Vec<Knob> {
        self.resolved().knobs
    }

    /// The workload knob that counts the model's entities (workers, orgs, schools,
    /// campaigns, players, journeys): what `syncsim bench` multiplies to measure scaling.
    pub fn entity_knob(&self) -> &'static str {
        self.resolved().entity_knob
    }

    /// This model with its workload knobs set to `values` (in `workload()` order), each by
    /// its config field's name.
    pub fn with_workload(&self, values: &[u64]) -> ModelSpec {
        let knobs = self.workload();
        if knobs.is_empty() {
            return self.clone();
        }
        assert_eq!(knobs.len(), values.len(), "one value per workload knob");
        let mut config = self.config.clone();
        let fields = config
            .as_object_mut()
            .expect("a model config with knobs is an object");
        for (knob, value) in knobs.iter().zip(values) {
            fields.insert(knob.name.clone(), Value::from(*value));
        }
        ModelSpec {
            name: self.name.clone(),
            config,
        }
    }
}

/// A named scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// `<model>/<variant>[/<shape>]`.
    pub id: String,
    /// What its seed budget must show.
    pub expectation: Expectation,
    /// The committed seed budget: seeds `0..seed_count`.
    pub seed_count: u64,
    /// The model variant and its workload.
    pub model: ModelSpec,
    /// Timed faults and random generators.
    pub faults: FaultPlan,
    /// Phase lengths.
    pub phases: Phases,
    /// Run bounds.
    pub bounds: Bounds,
    /// Latencies and timeouts.
    pub net: NetConfig,
    /// The model's properties this scenario checks, by name; empty (the default): all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    /// Parameters of some of those properties, by property name (a bound, a count); the
    /// rest keep the model's defaults.
    #[serde(default, skip_serializing_if = "PropertyParameters::is_empty")]
    pub parameters: PropertyParameters,
}

impl ScenarioSpec {
    /// The runnable case.
    pub fn case(&self) -> Case {
        let model = select_properties(self.model.model(), &self.properties, &self.parameters)
            .expect("a validated scenario names only its model's properties");
        Case {
            scenario: self.id.clone(),
            model,
            faults: self.faults.clone(),
            phases: self.phases.clone(),
            bounds: self.bounds.clone(),
            net: self.net.clone(),
        }
    }

    /// Checks the id against the model and the case's configuration.
    pub fn validate(&self) -> Result<(), CaseError> {
        self.model
            .resolve()
            .map_err(|problem| CaseError(format!("{}: {problem}", self.id)))?;
        if self.seed_count == 0 {
            let message = format!("{}: seed_count is 0; a budget needs a seed", self.id);
            return Err(CaseError(message));
        }
        let prefix = self.model.variant_id();
        let shaped = self.id.strip_prefix(&prefix).is_some_and(|rest| {
            rest.is_empty() || (rest.len() > 1 && rest.starts_with('/') && !rest[1..].contains('/'))
        });
        if !shaped {
            let message = format!("scenario id {:?} must read {prefix}[/<shape>]", self.id);
            return Err(CaseError(message));
        }
        for (name, values) in &self.parameters {
            crate::limits::check(values).map_err(|(path, problem)| {
                let field = crate::limits::display_path(&path);
                CaseError(format!(
                    "{}: parameters of {name:?}: `{field}`: {problem}",
                    self.id
                ))
            })?;
        }
        select_properties(self.model.model(), &self.properties, &self.parameters)
            .map_err(|problem| CaseError(format!("{}: properties: {problem}", self.id)))?;
        self.case().validate()
    }

    /// The committed seeds.
    pub fn seeds(&self) -> impl Iterator<Item = Seed> {
        self.seed_range().into_iter()
    }

    /// The committed seeds as a range (`seed_count` is at least 1 in a valid scenario).
    pub fn seed_range(&self) -> syncsim_sim::SeedRange {
        syncsim_sim::SeedRange::exclusive(0, self.seed_count.max(1))
            .expect("a range of at least one seed")
    }
}
