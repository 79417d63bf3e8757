//! The `Model` trait: what a user writes to put their system under simulation.
//!
//! A model installs its services and nodes into a `WorldBuilder` and names its properties.
//! Its processes are async functions of a `Ctx`; they never import madsim or tokio. Not
//! provided: a reference spec hook; models that have one call it from their properties.
//! `select_properties` lets a scenario check a subset of a model's properties;
//! `ModelConfig` is what a model's serde config gives the registry of models.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::knob::Knob;
use crate::property::Property;
use crate::world::WorldBuilder;

/// A system under test, in one of its variants.
pub trait Model: Send + Sync + 'static {
    /// The model's name, the first part of its scenario ids and property names.
    fn name(&self) -> &str;

    /// Registers the model's services and nodes.
    fn install(&self, world: &mut WorldBuilder);

    /// The properties that must hold for this model.
    fn properties(&self) -> Vec<Property>;
}

/// A model's configuration (its variant and workload), as scenario and replay files hold it:
/// what registers a model by name (`syncsim_scenarios::registry`), so a file names the model
/// and carries its config and no catalog is consulted to run it.
pub trait ModelConfig: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The model's name: the first part of its scenario ids (`counter`).
    const NAME: &'static str;
    /// The workload knob that counts the model's entities (workers, orgs): what `syncsim
    /// bench` multiplies to measure scaling.
    const ENTITY_KNOB: &'static str;

    /// The variant's name: the second part of its scenario ids (`unguarded`).
    fn variant(&self) -> &str;

    /// The runnable model in this configuration.
    fn model(&self) -> Arc<dyn Model>;

    /// The workload knobs shrinking may lower, each named as its config field (shrinking
    /// sets them by that name), with its floor.
    fn knobs(&self) -> Vec<Knob>;
}

/// `model` checking only its properties named in `names` (every property when `names` is
/// empty): a scenario switches off a property that is wrong for its deployment without
/// editing the model. An unknown name is an error listing the model's properties.
pub fn select_properties(
    model: Arc<dyn Model>,
    names: &[String],
) -> Result<Arc<dyn Model>, String> {
    if names.is_empty() {
        return Ok(model);
    }
    let known: Vec<String> = model
        .properties()
        .iter()
        .map(|property| property.name().to_string())
        .collect();
    if let Some(unknown) = names.iter().find(|name| !known.contains(name)) {
        return Err(format!(
            "model {} has no property {unknown:?}; its properties: {}",
            model.name(),
            known.join("; ")
        ));
    }
    Ok(Arc::new(Selected {
        inner: model,
        names: names.to_vec(),
    }))
}

/// A model with some of its properties switched off.
struct Selected {
    inner: Arc<dyn Model>,
    names: Vec<String>,
}

impl Model for Selected {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn install(&self, world: &mut WorldBuilder) {
        self.inner.install(world);
    }

    fn properties(&self) -> Vec<Property> {
        let mut properties = self.inner.properties();
        properties.retain(|property| self.names.iter().any(|name| name == property.name()));
        properties
    }
}
