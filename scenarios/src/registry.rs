//! The model registry: a model joins by name with its serde config (`ModelConfig`), and a
//! scenario or replay file names the model and carries its config as data.
//!
//! The catalog's models are registered before any lookup; a user's crate registers its own
//! with `register::<MyConfig>()` (or through `ModelSpec::of`). A config is read by field
//! name, so workload knobs are set by name, never by position. Not here: models loaded at
//! run time from outside the binary (a model is code; its scenarios are files).

use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::{Arc, Once, PoisonError, RwLock};

use serde_json::Value;

use crate::limits::{self, ConfigKey};
use syncsim_models::campaign_control::CampaignControlConfig;
use syncsim_models::contract_outbox::ContractOutboxConfig;
use syncsim_models::counter::CounterConfig;
use syncsim_models::journey_sessions::JourneySessionsConfig;
use syncsim_models::org_sync::OrgSyncConfig;
use syncsim_models::role_sync::RoleSyncConfig;
use syncsim_sim::{Knob, Model, ModelConfig};

/// A model config read through the registry: what a scenario needs of it.
pub struct Resolved {
    /// The runnable model.
    pub model: Arc<dyn Model>,
    /// The variant's name.
    pub variant: String,
    /// The workload knobs, named as config fields.
    pub knobs: Vec<Knob>,
    /// The knob counting the model's entities.
    pub entity_knob: &'static str,
}

type Resolve = fn(&Value) -> Result<Resolved, ConfigError>;

/// Why a config does not read as its model's type, or asks for more than the limits
/// (`limits`): where (the path inside the config; empty for the config itself) and what.
#[derive(Clone, Debug)]
pub struct ConfigError {
    /// The path of the offending field inside `model.config`; `None` when the model itself
    /// is unknown.
    pub path: Option<Vec<ConfigKey>>,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path.as_deref().map(limits::display_path).as_deref() {
            None => write!(formatter, "{}", self.message),
            Some(".") => write!(formatter, "field `model.config`: {}", self.message),
            Some(field) => write!(formatter, "field `model.config.{field}`: {}", self.message),
        }
    }
}

/// A serde path as config keys.
fn keys_of(path: &serde_path_to_error::Path) -> Vec<ConfigKey> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(ConfigKey::Field(key.clone())),
            Segment::Seq { index } => Some(ConfigKey::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Registered models by name, with their config type (a `BTreeMap`: listing them is
/// deterministic).
static REGISTRY: RwLock<BTreeMap<&'static str, (TypeId, Resolve)>> = RwLock::new(BTreeMap::new());

fn resolve_as<C: ModelConfig>(config: &Value) -> Result<Resolved, ConfigError> {
    limits::check(config).map_err(|(path, message)| ConfigError {
        path: Some(path),
        message,
    })?;
    let config: C = serde_path_to_error::deserialize(config).map_err(|error| ConfigError {
        path: Some(keys_of(error.path())),
        message: error.inner().to_string(),
    })?;
    config.check_limits().map_err(|message| ConfigError {
        path: Some(Vec::new()),
        message,
    })?;
    let knobs = config.knobs();
    if let Some(knob) = knobs.iter().find(|knob| knob.value < knob.min) {
        return Err(ConfigError {
            path: Some(vec![ConfigKey::Field(knob.name.clone())]),
            message: format!("{} is below its floor {}", knob.value, knob.min),
        });
    }
    Ok(Resolved {
        model: config.model(),
        variant: config.variant().to_string(),
        knobs,
        entity_knob: C::ENTITY_KNOB,
    })
}

/// Registers the model of config type `C` under `C::NAME` (again: nothing changes). A name
/// already taken by another config type (a catalog model's included) is a programmer error:
/// it panics, and the registry keeps the first.
pub fn register<C: ModelConfig>() {
    register_catalog();
    insert::<C>();
}

fn insert<C: ModelConfig>() {
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    match registry.get(C::NAME) {
        Some((type_id, _)) => assert!(
            *type_id == TypeId::of::<C>(),
            "two config types register the model name {:?}",
            C::NAME
        ),
        None => {
            registry.insert(C::NAME, (TypeId::of::<C>(), resolve_as::<C> as Resolve));
        }
    }
}

/// The catalog's models, registered once per process.
fn register_catalog() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        insert::<CounterConfig>();
        insert::<OrgSyncConfig>();
        insert::<RoleSyncConfig>();
        insert::<CampaignControlConfig>();
        insert::<ContractOutboxConfig>();
        insert::<JourneySessionsConfig>();
    });
}

/// The names of every registered model.
pub fn names() -> Vec<&'static str> {
    register_catalog();
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    registry.keys().copied().collect()
}

/// Reads `config` as the config of the model `name`.
pub fn resolve(name: &str, config: &Value) -> Result<Resolved, String> {
    resolve_located(name, config).map_err(|error| error.to_string())
}

/// [`resolve`], saying where in the config an error is (a scenario file turns the path into
/// a line).
pub fn resolve_located(name: &str, config: &Value) -> Result<Resolved, ConfigError> {
    register_catalog();
    let resolve = {
        let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        registry.get(name).map(|(_, resolve)| *resolve)
    };
    match resolve {
        Some(resolve) => resolve(config),
        None => Err(ConfigError {
            path: None,
            message: format!(
                "unknown model {name:?}; registered models: {}",
                names().join(", ")
            ),
        }),
    }
}
