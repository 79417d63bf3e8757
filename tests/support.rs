//! Small models for kernel tests, built from closures, and a case builder around them.
//!
//! Not a model of any real system: each test states the one behaviour it needs.

use std::sync::Arc;
use std::time::Duration;

use syncsim::sim::{
    select_properties, Bounds, Case, FaultPlan, Model, NetConfig, Phases, Property, Seed,
    WorldBuilder,
};

type Install = Arc<dyn Fn(&mut WorldBuilder) + Send + Sync>;

/// A model whose install step and properties are given by the test.
pub struct TestModel {
    install: Install,
    properties: Vec<Property>,
}

impl Model for TestModel {
    fn name(&self) -> &str {
        "test"
    }

    fn install(&self, world: &mut WorldBuilder) {
        (self.install)(world);
    }

    fn properties(&self) -> Vec<Property> {
        self.properties.clone()
    }
}

/// A case running `install` with `properties` and `faults`, short phases and roomy bounds.
pub fn case(
    install: impl Fn(&mut WorldBuilder) + Send + Sync + 'static,
    properties: Vec<Property>,
    faults: FaultPlan,
) -> Case {
    Case {
        scenario: "test/kernel".to_string(),
        model: Arc::new(TestModel {
            install: Arc::new(install),
            properties,
        }),
        faults,
        phases: Phases {
            chaos: Duration::from_secs(1),
            heal: Duration::from_millis(100),
        },
        bounds: Bounds {
            events_max: 10_000,
            time_max: Duration::from_secs(10),
            wall_max: Duration::from_secs(20),
        },
        net: NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            call_timeout: Duration::from_millis(200),
        },
    }
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
