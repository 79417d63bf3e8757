//! The `Model` trait: what a user writes to put their system under simulation.
//!
//! A model installs its services and nodes into a `WorldBuilder` and names its properties.
//! Its processes are async functions of a `Ctx`; they never import madsim or tokio. Not
//! provided: a reference spec hook; models that have one call it from their properties.
//! `select_properties` lets a scenario check a subset of a model's properties.

use std::sync::Arc;

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
