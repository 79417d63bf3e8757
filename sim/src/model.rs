//! The `Model` trait: what a user writes to put their system under simulation.
//!
//! A model installs its services and nodes into a `WorldBuilder` and names its properties.
//! Its processes are async functions of a `Ctx`; they never import madsim or tokio. Not
//! provided: a reference spec hook; models that have one call it from their properties.
//! `select_properties` lets a scenario check a subset of a model's properties and set their
//! parameters;
//! `ModelConfig` is what a model's serde config gives the registry of models.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

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

    /// Limits beyond each field's own (`limits`): products of fields that size the model's
    /// setup (rows it inserts, entities it builds), checked when a scenario is loaded so a
    /// setup never outgrows memory before the run's bounds apply. Default: none.
    fn check_limits(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A scenario's parameters for some of its properties: property name to a table of
/// parameter values.
pub type PropertyParameters = BTreeMap<String, Value>;

/// `model` checking only its properties named in `names` (every property when `names` is
/// empty), with the parameters in `parameters` set: a scenario switches off a property that
/// is wrong for its deployment, or sets a bound, without editing the model. An unknown name,
/// parameters for a property not checked, or a bad parameter is an error naming the model's
/// properties or the property's parameters.
pub fn select_properties(
    model: Arc<dyn Model>,
    names: &[String],
    parameters: &PropertyParameters,
) -> Result<Arc<dyn Model>, String> {
    if names.is_empty() && parameters.is_empty() {
        return Ok(model);
    }
    let all = model.properties();
    let known: Vec<&str> = all.iter().map(Property::name).collect();
    let unknown = |name: &String| {
        format!(
            "model {} has no property {name:?}; its properties: {}",
            model.name(),
            known.join("; ")
        )
    };
    if let Some(name) = names.iter().find(|name| !known.contains(&name.as_str())) {
        return Err(unknown(name));
    }
    for (name, values) in parameters {
        let property = all.iter().find(|property| property.name() == name);
        let property = property.ok_or_else(|| unknown(name))?;
        if !names.is_empty() && !names.contains(name) {
            return Err(format!("parameters for {name:?}, a property not checked"));
        }
        property.with_parameters(values)?;
    }
    Ok(Arc::new(Selected {
        inner: model,
        names: names.to_vec(),
        parameters: parameters.clone(),
    }))
}

/// A model with some of its properties switched off or given other parameters.
struct Selected {
    inner: Arc<dyn Model>,
    names: Vec<String>,
    parameters: PropertyParameters,
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
        if !self.names.is_empty() {
            properties.retain(|property| self.names.iter().any(|name| name == property.name()));
        }
        for property in &mut properties {
            if let Some(values) = self.parameters.get(property.name()) {
                *property = property
                    .with_parameters(values)
                    .expect("parameters checked when the model was selected");
            }
        }
        properties
    }
}
