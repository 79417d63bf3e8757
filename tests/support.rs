//! Cases for kernel tests, built from closures (`Case::quick`), and helpers around them.
//!
//! Not a model of any real system: each test states the one behaviour it needs.

use std::sync::Arc;

use syncsim::sim::{select_properties, Case, FaultPlan, Model, Property, Seed, WorldBuilder};

/// A case running `install` with `properties` and `faults`, with `Case::quick`'s test
/// defaults.
pub fn case(
    install: impl Fn(&mut WorldBuilder) + Send + Sync + 'static,
    properties: Vec<Property>,
    faults: FaultPlan,
) -> Case {
    Case::quick("test/kernel", install)
        .properties(properties)
        .faults(faults)
        .build()
}

/// Another model with more properties: for tests that read a service's ground truth at the
/// end of a run through an extra `eventually` check.
struct WithProperties {
    inner: Arc<dyn Model>,
    extra: Vec<Property>,
}

impl Model for WithProperties {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn install(&self, world: &mut WorldBuilder) {
        self.inner.install(world);
    }

    fn properties(&self) -> Vec<Property> {
        // The extra checks go first, so a failure names them before the model's own.
        let mut properties = self.extra.clone();
        properties.extend(self.inner.properties());
        properties
    }
}

/// `case` with `extra` properties checked before the model's own.
pub fn with_properties(mut case: Case, extra: Vec<Property>) -> Case {
    case.model = Arc::new(WithProperties {
        inner: case.model.clone(),
        extra,
    });
    case
}

/// Asserts that each property in `names`, checked alone, fails the catalog scenario `id` on
/// some seed of its committed budget.
pub fn each_property_catches(id: &str, names: &[&'static str]) {
    let scenario = syncsim::scenarios::find(id).expect("in the catalog");
    for &name in names {
        let case = only_property(scenario.case(), name);
        let seeds = 0..scenario.seed_count;
        let failed = seeds
            .into_iter()
            .find_map(|seed| case.run(Seed(seed)).failure);
        let failure = failed.unwrap_or_else(|| panic!("{id}: {name} held on every seed"));
        assert_eq!(failure.property, name, "{failure:?}");
    }
}

/// The model of `case` with only its property named `name` checked: to show that one
/// property, alone, catches a buggy variant.
pub fn only_property(mut case: Case, name: &'static str) -> Case {
    case.model = select_properties(case.model.clone(), &[name.to_string()], &Default::default())
        .unwrap_or_else(|problem| panic!("{problem}"));
    case
}
