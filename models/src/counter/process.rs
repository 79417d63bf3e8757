//! The worker process: increments the counter a fixed number of times.
//!
//! A request that times out (the store was unreachable) is retried from the read, as a
//! production worker would. Not modelled: giving up after too many timeouts.

use std::time::Duration;

use syncsim_services::register::{Register, RegisterRequest, RegisterResponse};
use syncsim_sim::{Ctx, ServiceRef};

use super::{CounterConfig, Variant, COUNTER_KEY};

/// Performs `increments_per_worker` increments, each read-think-write.
pub async fn worker(ctx: Ctx, store: ServiceRef<Register>, config: CounterConfig) {
    let start_delay_ms = ctx.random(|prng| prng.range_inclusive(0, config.start_delay_max_ms));
    ctx.sleep(Duration::from_millis(start_delay_ms)).await;
    let mut done_count = 0;
    while done_count < config.increments_per_worker {
        if increment(&ctx, &store, &config).await {
            done_count += 1;
        }
    }
}

/// One attempt at an increment; false when it must be retried.
async fn increment(ctx: &Ctx, store: &ServiceRef<Register>, config: &CounterConfig) -> bool {
    let read = RegisterRequest::Get {
        key: COUNTER_KEY.to_string(),
    };
    let Ok(RegisterResponse::Value(value)) = ctx.call(store, read).await else {
        return false;
    };
    let think_ms = ctx.random(|prng| prng.range_inclusive(0, config.think_time_max_ms));
    ctx.sleep(Duration::from_millis(think_ms)).await;
    let write = match config.variant {
        Variant::Unguarded => RegisterRequest::Put {
            key: COUNTER_KEY.to_string(),
            value: value + 1,
        },
        Variant::CompareAndSet => RegisterRequest::CompareAndSet {
            key: COUNTER_KEY.to_string(),
            expected: value,
            value: value + 1,
        },
    };
    matches!(ctx.call(store, write).await, Ok(RegisterResponse::Written))
}
