//! org_sync beyond the catalog's budget: every property of the model is shown able to fail
//! (the buggy variant breaks each one on some seed when it is checked alone), and a run of
//! the fixed variant repeats exactly under its seed.
//!
//! The catalog test (`catalog.rs`) covers the expectations, shrinking, replay and the
//! snapshot of the shrunk report.

use std::sync::Arc;

use syncsim::scenarios;
use syncsim::sim::{Model, Property, Seed, WorldBuilder};

/// The model with only the property named `name`.
struct OnlyProperty {
    inner: Arc<dyn Model>,
    name: &'static str,
}

impl Model for OnlyProperty {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn install(&self, world: &mut WorldBuilder) {
        self.inner.install(world);
    }

    fn properties(&self) -> Vec<Property> {
        let mut properties = self.inner.properties();
        properties.retain(|property| property.name() == self.name);
        assert_eq!(
            properties.len(),
            1,
            "the model has a property {:?}",
            self.name
        );
        properties
    }
}

const PROPERTIES: [&str; 4] = [
    "org_sync: no event is retried forever",
    "org_sync: the final row matches the org's latest event",
    "org_sync: a slug never changes after creation",
    "org_sync: the provider's external_id never points at a missing row",
];

#[test]
fn blind_upsert_breaks_every_property_on_some_seed() {
    let scenario = scenarios::find("org_sync/blind_upsert").expect("in the catalog");
    for name in PROPERTIES {
        let mut case = scenario.case();
        case.model = Arc::new(OnlyProperty {
            inner: case.model.clone(),
            name,
        });
        let failed = (0..scenario.seed_count).find_map(|seed| case.run(Seed(seed)).failure);
        let failure = failed.unwrap_or_else(|| panic!("{name}: held on every seed"));
        assert_eq!(failure.property, name, "{failure:?}");
    }
}

#[test]
fn fetch_then_write_repeats_under_its_seed() {
    let scenario = scenarios::find("org_sync/fetch_then_write").expect("in the catalog");
    assert!(scenario.case().check_determinism(Seed(7)).is_ok());
}
