//! One-off cases for tests: `Case::quick(id, install)` is a case with test defaults, built
//! from a closure, so a test that needs one behaviour writes no `Model` impl.
//!
//! ```
//! use std::time::Duration;
//! use syncsim_sim::{Case, Property, Seed};
//!
//! let outcome = Case::quick("test/sleep", |world| {
//!     world.node("n").process("nap", |ctx| async move {
//!         ctx.sleep(Duration::from_millis(5)).await;
//!         ctx.mark("test: napped");
//!     });
//! })
//! .property(Property::marked("test: napped"))
//! .run(Seed(1));
//! assert_eq!(outcome.failure, None);
//! assert!(outcome.sometimes["test: napped"]);
//! ```
//!
//! Defaults: no faults, no properties, a 1 s chaos phase and a 100 ms heal, at most 10,000
//! events, 10 s of virtual time and 20 s of real time, 1 to 5 ms latency, a 200 ms call
//! timeout. Not for the catalog: a scenario names a registered model and its config.

use std::sync::Arc;
use std::time::Duration;

use crate::fault::FaultPlan;
use crate::model::Model;
use crate::property::Property;
use crate::run::{Bounds, Case, Outcome, Phases};
use crate::seed::Seed;
use crate::world::{NetConfig, WorldBuilder};

type Install = Arc<dyn Fn(&mut WorldBuilder) + Send + Sync>;

/// A model made of a closure and a list of properties.
struct Installed {
    name: String,
    install: Install,
    properties: Vec<Property>,
}

impl Model for Installed {
    fn name(&self) -> &str {
        &self.name
    }

    fn install(&self, world: &mut WorldBuilder) {
        (self.install)(world);
    }

    fn properties(&self) -> Vec<Property> {
        self.properties.clone()
    }
}

/// A case being put together for a test (`Case::quick`).
#[must_use = "a case builder does nothing until it is built or run"]
pub struct CaseBuilder {
    scenario: String,
    install: Install,
    properties: Vec<Property>,
    faults: FaultPlan,
    phases: Phases,
    bounds: Bounds,
    net: NetConfig,
}

impl Case {
    /// A case named `scenario` (`<model>/<variant>`; its first part names the model) whose
    /// world `install` builds, with the test defaults of this module.
    pub fn quick(
        scenario: &str,
        install: impl Fn(&mut WorldBuilder) + Send + Sync + 'static,
    ) -> CaseBuilder {
        CaseBuilder {
            scenario: scenario.to_string(),
            install: Arc::new(install),
            properties: Vec::new(),
            faults: FaultPlan::new(),
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
}

impl CaseBuilder {
    /// Checks `property` too, after the ones added before it.
    pub fn property(mut self, property: Property) -> Self {
        self.properties.push(property);
        self
    }

    /// Checks `properties` too, after the ones added before them.
    pub fn properties(mut self, properties: impl IntoIterator<Item = Property>) -> Self {
        self.properties.extend(properties);
        self
    }

    /// Runs with `faults` instead of none.
    pub fn faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }

    /// A chaos phase of `chaos`, then a heal of `heal`.
    pub fn phases(mut self, chaos: Duration, heal: Duration) -> Self {
        self.phases = Phases { chaos, heal };
        self
    }

    /// Other bounds on events, virtual time and real time.
    pub fn bounds(mut self, bounds: Bounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Another network: latencies and call timeout.
    pub fn net(mut self, net: NetConfig) -> Self {
        self.net = net;
        self
    }

    /// The case.
    pub fn build(self) -> Case {
        let name = self.scenario.split('/').next().unwrap_or_default();
        Case {
            model: Arc::new(Installed {
                name: name.to_string(),
                install: self.install,
                properties: self.properties,
            }),
            scenario: self.scenario,
            faults: self.faults,
            phases: self.phases,
            bounds: self.bounds,
            net: self.net,
        }
    }

    /// Builds the case and runs it on `seed`.
    pub fn run(self, seed: Seed) -> Outcome {
        self.build().run(seed)
    }
}
