//! Scenarios as data: a serde value naming a model variant, its workload, faults, phases,
//! bounds, expectation and seed budget.
//!
//! The same value is the catalog entry, what shrinking rewrites, and what a replay file
//! stores, so a replay needs no catalog lookup. Not here: workloads that are not integers
//! (shrinking lowers integer knobs only).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use syncsim_models::campaign_control::{CampaignControl, CampaignControlConfig};
use syncsim_models::contract_outbox::{ContractOutbox, ContractOutboxConfig};
use syncsim_models::counter::{Counter, CounterConfig};
use syncsim_models::journey_sessions::{JourneySessions, JourneySessionsConfig};
use syncsim_models::org_sync::{OrgSync, OrgSyncConfig};
use syncsim_models::role_sync::{RoleSync, RoleSyncConfig};
use syncsim_sim::{
    select_properties, Bounds, Case, CaseError, FaultPlan, Knob, Model, NetConfig, Phases, Seed,
};

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

/// A model with its configuration (variant and workload included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "name",
    content = "config",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ModelSpec {
    /// The toy counter model.
    Counter(CounterConfig),
    /// Identity-provider webhooks against a unique slug.
    OrgSync(OrgSyncConfig),
    /// School roles mirrored to a CRM through jobs.
    RoleSync(RoleSyncConfig),
    /// Pause and stop through a broker fast path.
    CampaignControl(CampaignControlConfig),
    /// A contract signature and its outbox event.
    ContractOutbox(ContractOutboxConfig),
    /// Journey sessions referencing a local contacts table the service never fills.
    JourneySessions(JourneySessionsConfig),
}

impl ModelSpec {
    /// The runnable model.
    pub fn model(&self) -> Arc<dyn Model> {
        match self {
            ModelSpec::Counter(config) => Arc::new(Counter {
                config: config.clone(),
            }),
            ModelSpec::OrgSync(config) => Arc::new(OrgSync {
                config: config.clone(),
            }),
            ModelSpec::RoleSync(config) => Arc::new(RoleSync {
                config: config.clone(),
            }),
            ModelSpec::CampaignControl(config) => Arc::new(CampaignControl {
                config: config.clone(),
            }),
            ModelSpec::ContractOutbox(config) => Arc::new(ContractOutbox {
                config: config.clone(),
            }),
            ModelSpec::JourneySessions(config) => Arc::new(JourneySessions {
                config: config.clone(),
            }),
        }
    }

    /// `<model>/<variant>`, the prefix every scenario id of this model starts with.
    pub fn variant_id(&self) -> String {
        match self {
            ModelSpec::Counter(config) => format!("counter/{}", config.variant.name()),
            ModelSpec::OrgSync(config) => format!("org_sync/{}", config.variant.name()),
            ModelSpec::RoleSync(config) => format!("role_sync/{}", config.variant.name()),
            ModelSpec::CampaignControl(config) => {
                format!("campaign_control/{}", config.variant.name())
            }
            ModelSpec::ContractOutbox(config) => {
                format!("contract_outbox/{}", config.variant.name())
            }
            ModelSpec::JourneySessions(config) => {
                format!("journey_sessions/{}", config.variant.name())
            }
        }
    }

    /// The workload knobs shrinking may lower.
    pub fn workload(&self) -> Vec<Knob> {
        match self {
            ModelSpec::Counter(config) => config.workload(),
            ModelSpec::OrgSync(config) => config.workload(),
            ModelSpec::RoleSync(config) => config.workload(),
            ModelSpec::CampaignControl(config) => config.workload(),
            ModelSpec::ContractOutbox(config) => config.workload(),
            ModelSpec::JourneySessions(config) => config.workload(),
        }
    }

    /// The workload knob that counts the model's entities (workers, orgs, schools,
    /// campaigns, players, journeys): what `syncsim bench` multiplies to measure scaling.
    pub fn entity_knob(&self) -> &'static str {
        match self {
            ModelSpec::Counter(_) => "worker_count",
            ModelSpec::OrgSync(_) => "org_count",
            ModelSpec::RoleSync(_) => "school_count",
            ModelSpec::CampaignControl(_) => "campaign_count",
            ModelSpec::ContractOutbox(_) => "player_count",
            ModelSpec::JourneySessions(_) => "journey_count",
        }
    }

    /// This model with its workload knobs set to `values`.
    pub fn with_workload(&self, values: &[u64]) -> ModelSpec {
        match self {
            ModelSpec::Counter(config) => ModelSpec::Counter(config.with_workload(values)),
            ModelSpec::OrgSync(config) => ModelSpec::OrgSync(config.with_workload(values)),
            ModelSpec::RoleSync(config) => ModelSpec::RoleSync(config.with_workload(values)),
            ModelSpec::CampaignControl(config) => {
                ModelSpec::CampaignControl(config.with_workload(values))
            }
            ModelSpec::ContractOutbox(config) => {
                ModelSpec::ContractOutbox(config.with_workload(values))
            }
            ModelSpec::JourneySessions(config) => {
                ModelSpec::JourneySessions(config.with_workload(values))
            }
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
}

impl ScenarioSpec {
    /// The runnable case.
    pub fn case(&self) -> Case {
        let model = select_properties(self.model.model(), &self.properties)
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
        let prefix = self.model.variant_id();
        let shaped = self.id.strip_prefix(&prefix).is_some_and(|rest| {
            rest.is_empty() || (rest.len() > 1 && rest.starts_with('/') && !rest[1..].contains('/'))
        });
        if !shaped {
            let message = format!("scenario id {:?} must read {prefix}[/<shape>]", self.id);
            return Err(CaseError(message));
        }
        select_properties(self.model.model(), &self.properties)
            .map_err(|problem| CaseError(format!("{}: properties: {problem}", self.id)))?;
        self.case().validate()
    }

    /// The committed seeds.
    pub fn seeds(&self) -> impl Iterator<Item = Seed> {
        syncsim_sim::seed_range(0, self.seed_count)
    }
}
