//! The source node's daemons: the dispatcher runs one delivery task per owed event (retries
//! on the config's `RetrySchedule` with jitter, then an optional duplicate), and the
//! reconciler replays recent events on a timer.
//!
//! Both start again after a crash: the dispatcher re-spawns a delivery for every event still
//! pending, which is how an event in flight at the crash gets delivered after the restart.
//! Not modelled: a cap on concurrent deliveries.

use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;

use super::source::{AttemptOutcome, AttemptReason};
use super::{lock, WebhookHandle};
use crate::http::{HttpCall, HttpError, HttpRequest};
use syncsim_sim::ctx::Ctx;
use syncsim_sim::kit;

/// The dispatcher daemon: owed events first, then every new one.
pub(crate) async fn dispatch(ctx: Ctx, source: WebhookHandle) {
    let (sender, mut receiver) = mpsc::unbounded();
    *lock(&source.dispatcher) = Some(sender);
    let owed: Vec<String> = source
        .lock()
        .pending()
        .iter()
        .map(|event| event.id.clone())
        .collect();
    for event_id in owed {
        spawn_delivery(&ctx, &source, event_id);
    }
    while let Some(event_id) = receiver.next().await {
        spawn_delivery(&ctx, &source, event_id);
    }
}

fn spawn_delivery(ctx: &Ctx, source: &WebhookHandle, event_id: String) {
    let (ctx, source) = (ctx.clone(), source.clone());
    kit::spawn_local(async move { deliver(ctx, source, event_id).await });
}

/// Delivers one event until it is acknowledged or the source gives up.
async fn deliver(ctx: Ctx, source: WebhookHandle, event_id: String) {
    let config = source.lock().config.clone();
    ctx.sleep(random_up_to(&ctx, config.first_delay_max)).await;
    let mut reason = AttemptReason::First;
    let mut failures: u32 = 0;
    loop {
        let outcome = attempt(&ctx, &source, &event_id, reason).await;
        if matches!(outcome, AttemptOutcome::Acknowledged(_)) {
            break;
        }
        failures += 1;
        if failures >= config.retry.attempts_max {
            source.lock().give_up(&event_id);
            ctx.note(format!("{} gave up on {event_id}", source.name()));
            return;
        }
        let backoff = config.retry.backoff(failures);
        // Jitter between half the backoff and the whole of it, so retries of events that
        // failed together spread out.
        ctx.sleep(backoff / 2 + random_up_to(&ctx, backoff / 2))
            .await;
        reason = AttemptReason::Retry;
    }
    if ctx.random(|prng| prng.chance(config.duplicate_probability)) {
        ctx.sleep(random_up_to(&ctx, config.duplicate_delay_max))
            .await;
        attempt(&ctx, &source, &event_id, AttemptReason::Duplicate).await;
    }
}

/// The reconciler daemon: every interval, one more request for each recent event.
pub(crate) async fn reconcile(ctx: Ctx, source: WebhookHandle) {
    let config = source.lock().config.clone();
    let Some(interval) = config.reconcile_interval else {
        return;
    };
    loop {
        ctx.sleep(interval).await;
        let now_micros = ctx.now().as_micros();
        let window_micros = u64::try_from(config.reconcile_window.as_micros()).unwrap_or(u64::MAX);
        let recent = source
            .lock()
            .recent(now_micros.saturating_sub(window_micros));
        for event_id in recent {
            let (ctx, source) = (ctx.clone(), source.clone());
            kit::spawn_local(async move {
                attempt(&ctx, &source, &event_id, AttemptReason::Reconcile).await;
            });
        }
    }
}

/// One POST of the event; records and returns how it ended.
async fn attempt(
    ctx: &Ctx,
    source: &WebhookHandle,
    event_id: &str,
    reason: AttemptReason,
) -> AttemptOutcome {
    let (target, request) = {
        let state = source.lock();
        let request = HttpRequest::post(&state.config.path, state.body(event_id));
        (state.config.target_node.clone(), request)
    };
    let outcome = match ctx.http(&target, request).await {
        Ok(response) if response.is_success() => AttemptOutcome::Acknowledged(response.status),
        Ok(response) => AttemptOutcome::Failed(response.status),
        Err(HttpError::Refused) => AttemptOutcome::Refused,
        Err(HttpError::Timeout) => AttemptOutcome::TimedOut,
    };
    let now_micros = ctx.now().as_micros();
    source.lock().record(event_id, reason, now_micros, outcome);
    outcome
}

fn random_up_to(ctx: &Ctx, duration_max: Duration) -> Duration {
    let micros_max = u64::try_from(duration_max.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(ctx.random(|prng| prng.range_inclusive(0, micros_max)))
}
