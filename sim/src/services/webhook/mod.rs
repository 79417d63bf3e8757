//! A webhook source: an external system (an identity provider, a CRM) that emits events and
//! delivers them to an HTTP endpoint of one of our nodes, at least once.
//!
//! ```text
//!  model process ── emit(kind, payload) ──▶ WebhookSource (durable: events, attempts)
//!                                              │ the dispatcher daemon on the source node
//!                                              ▼
//!       first attempt after a seeded delay (so deliveries overtake each other)
//!       non-2xx / refused / timeout ─▶ retry with exponential backoff and jitter,
//!                                      give up after `attempts_max`
//!       2xx ─▶ acknowledged; with `duplicate_probability` one more copy later
//!       every `reconcile_interval`: replay the events of the last `reconcile_window`
//! ```
//!
//! The source's state is durable: a crash of its node stops the deliveries in flight, and the
//! restarted dispatcher picks up every event still owed. Not modelled: signatures, ordering
//! keys, per-endpoint concurrency limits, a dead-letter view for the receiver.

mod deliver;
mod source;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use serde::{Deserialize, Serialize};

pub use source::{Attempt, AttemptOutcome, AttemptReason, EmittedEvent, WebhookSource};

use crate::ctx::Ctx;
use crate::prng::Ratio;
use crate::world::{NodeBuilder, WorldBuilder};

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
    /// Backoff before the first retry; it doubles per failed attempt.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_initial: Duration,
    /// The backoff never grows past this.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_max: Duration,
    /// Failed attempts after which the source gives up on an event.
    pub attempts_max: u32,
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
    /// Defaults shaped like common providers: first attempt within 50 ms, backoff 100 ms
    /// doubling to 5 s, 8 attempts, no duplicates, no reconcile.
    pub fn new(target_node: &str, path: &str) -> Self {
        WebhookConfig {
            target_node: target_node.to_string(),
            path: path.to_string(),
            first_delay_max: Duration::from_millis(50),
            retry_backoff_initial: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
            attempts_max: 8,
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

impl WorldBuilder {
    /// Registers a webhook source on its own node `name`, returning its handle and the node's
    /// builder (a model may add processes to it, though emitting from anywhere works).
    pub fn webhook_source(
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
        let node = self
            .stateful_node(name, handle.state.clone())
            .daemon("dispatch", move |ctx| {
                deliver::dispatch(ctx, dispatcher.clone())
            })
            .daemon("reconcile", move |ctx| {
                deliver::reconcile(ctx, reconciler.clone())
            });
        (handle, node)
    }
}
