//! The `Model` trait: what a user writes to put their system under simulation.
//!
//! A model installs its services and nodes into a `WorldBuilder` and names its properties.
//! Its processes are async functions of a `Ctx`; they never import madsim or tokio. Not
//! provided: a reference spec hook; models that have one call it from their properties.

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
