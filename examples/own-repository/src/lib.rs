//! Tally: tellers deposit into one shared balance, each reading it and writing it back plus
//! one; the `blind` variant writes without a guard and loses deposits when two tellers
//! overlap, `compare_and_set` writes only over the value it read and retries.
//!
//! A toy system of your own, modelled for syncsim: a config (variant and workload knobs), a
//! model that installs a store and teller nodes, and one property. Not modelled: anything a
//! real ledger does besides the read-modify-write.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncsim::services::register::{Op, Register, RegisterRequest, RegisterResponse};
use syncsim::sim::{
    Ctx, Knob, Model, ModelConfig, Property, ServiceKey, ServiceRef, Verdict, WorldBuilder,
};

const BALANCE: &str = "balance";
/// The store: its node's name and the type properties read.
const STORE: ServiceKey<Register> = ServiceKey::new("store");

/// How a teller writes the new balance.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// Overwrites it: a concurrent deposit is lost.
    Blind,
    /// Writes only over the value it read, else reads again.
    CompareAndSet,
}

/// The model's config, as a scenario file's `[model.config]` holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TallyConfig {
    /// How tellers write.
    pub guard: Guard,
    /// Teller nodes.
    pub tellers: u32,
    /// Deposits each teller makes.
    pub deposits_each: u32,
}

impl ModelConfig for TallyConfig {
    const NAME: &'static str = "tally";
    const ENTITY_KNOB: &'static str = "tellers";

    fn variant(&self) -> &str {
        match self.guard {
            Guard::Blind => "blind",
            Guard::CompareAndSet => "compare_and_set",
        }
    }

    fn model(&self) -> Arc<dyn Model> {
        Arc::new(Tally(self.clone()))
    }

    fn knobs(&self) -> Vec<Knob> {
        vec![
            Knob::new("tellers", 1, u64::from(self.tellers)),
            Knob::new("deposits_each", 1, u64::from(self.deposits_each)),
        ]
    }
}

/// The system under test in one configuration.
pub struct Tally(TallyConfig);

impl Model for Tally {
    fn name(&self) -> &str {
        TallyConfig::NAME
    }

    fn install(&self, world: &mut WorldBuilder) {
        let store = world.service(STORE.name(), Register::default());
        for teller in 0..self.0.tellers {
            let (store, config) = (store.clone(), self.0.clone());
            world
                .node(&format!("teller-{teller}"))
                .process("deposit", move |ctx| {
                    deposits(ctx, store.clone(), config.clone())
                });
        }
    }

    fn properties(&self) -> Vec<Property> {
        let expected = i64::from(self.0.tellers * self.0.deposits_each);
        let no_deposit_lost = Property::eventually("tally: no deposit is lost", move |history| {
            let balance = history.read(&STORE).value(BALANCE);
            Verdict::check(balance == expected, || {
                format!("balance {balance} after {expected} deposits")
            })
        });
        // The race a guard must survive happened: a write found another teller's deposit.
        let raced = Property::sometimes("tally: a write found another deposit", |history| {
            let store = history.read(&STORE);
            store.log().iter().any(|applied| applied.op == Op::Mismatch)
        });
        vec![no_deposit_lost, raced]
    }
}

/// Makes the teller's deposits; a deposit whose write failed or was refused is made again.
async fn deposits(ctx: Ctx, store: ServiceRef<Register>, config: TallyConfig) {
    let mut made = 0;
    while made < config.deposits_each {
        let read = RegisterRequest::Get {
            key: BALANCE.into(),
        };
        let Ok(RegisterResponse::Value(balance)) = ctx.call(&store, read).await else {
            continue;
        };
        ctx.sleep(Duration::from_millis(
            ctx.random(|prng| prng.range_inclusive(0, 3)),
        ))
        .await;
        let (key, value) = (BALANCE.to_string(), balance + 1);
        let write = match config.guard {
            Guard::Blind => RegisterRequest::Put { key, value },
            Guard::CompareAndSet => RegisterRequest::CompareAndSet {
                key,
                expected: balance,
                value,
            },
        };
        if matches!(ctx.call(&store, write).await, Ok(RegisterResponse::Written)) {
            made += 1;
        }
    }
}

/// Registers the model, so scenario and replay files can name it.
pub fn register() {
    syncsim::scenarios::registry::register::<TallyConfig>();
}
