//! A webhook source: an external system (an identity provider, a CRM) that emits events and
//! delivers them to an HTTP endpoint of one of our nodes, at least once.
//!
//! ```text
//!  model process ── emit(kind, payload) ──▶ WebhookSource (durable: events, attempts)
//!                                              │ the dispatcher daemon on the source node
//!                                              ▼
//!       first attempt after a seeded delay (so deliveries overtake each other)
//!       non-2xx / refused / timeout ─▶ retry on the `RetrySchedule` (WorkOS production by
//!                                      default: 12 retries over about 3 days), then give up
//!       2xx ─▶ acknowledged; with `duplicate_probability` one more copy later
//!       every `reconcile_interval`: replay the events of the last `reconcile_window`
//!  pull: GET /events?after=<id>&limit=<n> on the source node ─▶ the Events API, a page of
//!        the stream in emission order (kept `events_retention`, 30 days by default)
//! ```
//!
//! The source's state is durable: a crash of its node stops the deliveries in flight, and the
//! restarted dispatcher picks up every event still owed. Not modelled: signatures, ordering
//! keys, per-endpoint concurrency limits, a dead-letter view for the receiver, manual
//! redelivery from a dashboard.

mod deliver;
mod events;
mod source;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use serde::{Deserialize, Serialize};

pub use events::{PullError, PulledPage, EVENTS_PATH};
pub use source::{
    Attempt, AttemptOutcome, AttemptReason, EmittedEvent, EventsError, EventsPage, IdOrder,
    WebhookSource, EVENTS_PAGE_LIMIT_MAX,
};

use crate::http::HttpServe;
use syncsim_sim::ctx::Ctx;
use syncsim_sim::prng::Ratio;
use syncsim_sim::world::{NodeBuilder, WorldBuilder};

/// When a failed delivery is tried again, and when the source gives up.
///
/// The backoff before retry `n` (1-based) is `backoff_initial * backoff_multiplier^(n-1)`,
/// capped at `backoff_max`, and the wait is drawn between half of it and all of it (jitter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySchedule {
    /// Backoff before the first retry.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Factor the backoff grows by per failed attempt (1: constant).
    pub backoff_multiplier: u32,
    /// The backoff never grows past this.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Failed attempts after which the source gives up on an event (first attempt included).
    pub attempts_max: u32,
}

impl RetrySchedule {
    /// WorkOS in production: "retry up to 12 times, with exponential backoff over 3 days"
    /// (workos.com/docs/events/data-syncing/webhooks, read 2026-12-03). WorkOS publishes no
    /// intervals, so these are ours: 13 attempts (the first and 12 retries), backoffs 1 s
    /// tripling (1 s, 3 s, 9 s, ... 5.5 h, 16.4 h) with the last capped at 48 h: about 3.0
    /// days from the first failure to the last retry at full jitter, 1.5 days at half.
    pub fn workos_production() -> Self {
        RetrySchedule {
            backoff_initial: Duration::from_secs(1),
            backoff_multiplier: 3,
            backoff_max: Duration::from_secs(48 * 3600),
            attempts_max: 13,
        }
    }

    /// WorkOS outside production: it "only retries failed webhooks for several minutes"
    /// (workos.com/docs/webhooks, read 2026-12-03). Ours: the production backoffs, 7
    /// attempts, about 6 minutes at full jitter.
    pub fn workos_non_production() -> Self {
        RetrySchedule {
            attempts_max: 7,
            ..RetrySchedule::workos_production()
        }
    }

    /// The schedule syncsim used before it followed WorkOS: 100 ms doubling to 5 s, 8
    /// attempts, so the source gives up about 20 s after the first failure. For tests that
    /// want a give-up within seconds.
    pub fn quick() -> Self {
        RetrySchedule {
            backoff_initial: Duration::from_millis(100),
            backoff_multiplier: 2,
            backoff_max: Duration::from_secs(5),
            attempts_max: 8,
        }
    }

    /// The backoff after `failures` failed attempts (at least one), before jitter.
    pub fn backoff(&self, failures: u32) -> Duration {
        assert!(failures >= 1, "a backoff follows a failed attempt");
        let initial_micros = self.backoff_initial.as_micros();
        let max_micros = self.backoff_max.as_micros();
        let mut micros = initial_micros;
        for _ in 1..failures {
            if micros >= max_micros {
                break;
            }
            micros = micros.saturating_mul(u128::from(self.backoff_multiplier));
        }
        let micros = micros.min(max_micros);
        Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }
}

/// How a webhook source delivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The node whose HTTP endpoint receives the events.
    pub target_node: String,
    /// The path events are POSTed to.
    pub path: String,
    /// Longest seeded delay before an event's first attempt (0: in emission order).
    #[serde(with = "humantime_serde")]
    pub first_delay_max: Duration,
    /// Retries of failed attempts.
    pub retry: RetrySchedule,
    /// How ids of one millisecond compare.
    pub id_order: IdOrder,
    /// How long the Events API keeps an event.
    #[serde(with = "humantime_serde")]
    pub events_retention: Duration,
    /// Chance that an acknowledged event is delivered once more.
    pub duplicate_probability: Ratio,
    /// Longest delay of that extra copy after the acknowledgement.
    #[serde(with = "humantime_serde")]
    pub duplicate_delay_max: Duration,
    /// How often the reconcile replays recent events; none when absent.
    #[serde(default, with = "humantime_serde")]
    pub reconcile_interval: Option<Duration>,
    /// How far back the reconcile looks.
    #[serde(with = "humantime_serde")]
    pub reconcile_window: Duration,
}

impl WebhookConfig {
    /// Defaults shaped like WorkOS in production: first attempt within 50 ms, its retry
    /// schedule (`RetrySchedule::workos_production`), ids unordered within a millisecond,
    /// events kept 30 days by the Events API ("The Events API returns events up to 30 days
    /// old", workos.com/docs/events); no duplicates, no reconcile.
    pub fn new(target_node: &str, path: &str) -> Self {
        WebhookConfig {
            target_node: target_node.to_string(),
            path: path.to_string(),
            first_delay_max: Duration::from_millis(50),
            retry: RetrySchedule::workos_production(),
            id_order: IdOrder::UnorderedWithinMillisecond,
            events_retention: Duration::from_secs(30 * 24 * 3600),
            duplicate_probability: Ratio::new(0, 1),
            duplicate_delay_max: Duration::from_millis(500),
            reconcile_interval: None,
            reconcile_window: Duration::from_secs(60),
        }
    }
}

/// A handle to a webhook source: processes emit events through it; properties read its
/// ground truth with `history.service::<WebhookSource>(name)`.
#[derive(Clone)]
pub struct WebhookHandle {
    name: Arc<str>,
    state: Arc<Mutex<WebhookSource>>,
    /// The running dispatcher's queue of new event ids (None while the node is down).
    dispatcher: Arc<Mutex<Option<UnboundedSender<String>>>>,
}

impl std::fmt::Debug for WebhookHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "WebhookHandle({})", self.name)
    }
}

impl WebhookHandle {
    /// The source's node name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Emits an event now (something happened at the provider) and returns its id. The event
    /// is stored durably; the source's dispatcher delivers it, now or after a restart.
    pub fn emit(&self, ctx: &Ctx, kind: &str, payload: serde_json::Value) -> String {
        let random =
            ctx.random(|prng| (u128::from(prng.next_u64()) << 16) ^ u128::from(prng.next_u64()));
        let now_micros = ctx.now().as_micros();
        let id = self.lock().emit(kind, payload, now_micros, random);
        ctx.note(format!("{} emitted {kind} {id}", self.name));
        if let Some(dispatcher) = lock(&self.dispatcher).as_ref() {
            // A dispatcher that just died leaves the event pending for its restart.
            let _ = dispatcher.unbounded_send(id.clone());
        }
        id
    }

    /// True once every emitted event is acknowledged or given up on: the source owes the
    /// receiver nothing more (a reconcile may still replay). The provider's own workload may
    /// wait for this, as a test waits for quiescence.
    pub fn owes_nothing(&self) -> bool {
        self.lock().owes_nothing()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WebhookSource> {
        lock(&self.state)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while held is already a reported failure; keep reading the state.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Declares webhook sources in a world.
pub trait WebhookWorld {
    /// Registers a webhook source on its own node `name`, returning its handle and the node's
    /// builder (a model may add processes to it, though emitting from anywhere works).
    fn webhook_source(
        &mut self,
        name: &str,
        config: WebhookConfig,
    ) -> (WebhookHandle, NodeBuilder<'_>);
}

impl WebhookWorld for WorldBuilder {
    fn webhook_source(
        &mut self,
        name: &str,
        config: WebhookConfig,
    ) -> (WebhookHandle, NodeBuilder<'_>) {
        let handle = WebhookHandle {
            name: Arc::from(name),
            state: Arc::new(Mutex::new(WebhookSource::new(config))),
            dispatcher: Arc::new(Mutex::new(None)),
        };
        let dispatcher = handle.clone();
        let reconciler = handle.clone();
        let events_api = handle.clone();
        let node = self
            .stateful_node(name, handle.state.clone())
            .http(move |ctx, request| events::serve(ctx, events_api.clone(), request))
            .daemon("dispatch", move |ctx| {
                deliver::dispatch(ctx, dispatcher.clone())
            })
            .daemon("reconcile", move |ctx| {
                deliver::reconcile(ctx, reconciler.clone())
            });
        (handle, node)
    }
}
