//! `WebhookSource`: the durable state of a webhook provider (an identity provider or a CRM
//! calling us) and its ground truth: every event emitted, every delivery attempt and how it
//! ended, the events given up on.
//!
//! Event ids are ULIDs built from the virtual clock (on the simulation's calendar, which
//! starts 2026-01-01T00:00:00Z) and the source node's seeded stream; within one millisecond
//! they count up, so ids sort in emission order. Not modelled: signatures (HMAC headers),
//! event schemas, per-endpoint rate limits.

use std::collections::BTreeSet;

use serde::Serialize;

use super::WebhookConfig;
use crate::services::pg::SIM_EPOCH_UNIX_MICROS;

/// One event the source emitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmittedEvent {
    /// The ULID of the event; ids sort in emission order.
    pub id: String,
    /// The event type, e.g. `user.created`.
    pub kind: String,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Virtual time of emission, in microseconds since the run started.
    pub emitted_at_micros: u64,
}

/// Why the source sent a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AttemptReason {
    /// The first attempt of an event.
    First,
    /// A retry after a failed attempt, with backoff.
    Retry,
    /// An extra copy of an already acknowledged event (at-least-once duplicates).
    Duplicate,
    /// The periodic reconcile replaying recent events.
    Reconcile,
}

/// How a delivery attempt ended, as the source saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AttemptOutcome {
    /// A 2xx response: the receiver acknowledged the event.
    Acknowledged(u16),
    /// Another status code: the receiver refused it; the source retries.
    Failed(u16),
    /// The receiver's node was down.
    Refused,
    /// No response in time; the receiver may or may not have processed it.
    TimedOut,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The event's id.
    pub event_id: String,
    /// 1 for the event's first request, counting every request for it.
    pub number: u32,
    /// Why it was sent.
    pub reason: AttemptReason,
    /// Virtual time the outcome was known, in microseconds since the run started.
    pub at_micros: u64,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

/// The webhook source's durable state and ground truth.
#[derive(Debug)]
pub struct WebhookSource {
    pub(crate) config: WebhookConfig,
    events: Vec<EmittedEvent>,
    attempts: Vec<Attempt>,
    given_up: BTreeSet<String>,
    /// The millisecond and random part of the last id, so ids count up within a millisecond.
    last_id: Option<(u64, u128)>,
}

/// The random part of a ULID has 80 bits.
const ULID_RANDOM_MASK: u128 = (1 << 80) - 1;

impl WebhookSource {
    pub(crate) fn new(config: WebhookConfig) -> Self {
        WebhookSource {
            config,
            events: Vec::new(),
            attempts: Vec::new(),
            given_up: BTreeSet::new(),
            last_id: None,
        }
    }

    /// Every event emitted, in emission order.
    pub fn events(&self) -> &[EmittedEvent] {
        &self.events
    }

    /// Every delivery attempt, in the order their outcomes were known.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Whether some attempt for `event_id` got a 2xx.
    pub fn is_acknowledged(&self, event_id: &str) -> bool {
        self.attempts.iter().any(|attempt| {
            attempt.event_id == event_id
                && matches!(attempt.outcome, AttemptOutcome::Acknowledged(_))
        })
    }

    /// Events not acknowledged yet and not given up on: the source still owes them.
    pub fn pending(&self) -> Vec<&EmittedEvent> {
        self.events
            .iter()
            .filter(|event| !self.is_acknowledged(&event.id) && !self.given_up.contains(&event.id))
            .collect()
    }

    /// Events the source stopped retrying after `attempts_max` failures.
    pub fn given_up(&self) -> &BTreeSet<String> {
        &self.given_up
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Records a new event emitted at `now_micros`; `random` is 80 fresh random bits.
    pub(crate) fn emit(
        &mut self,
        kind: &str,
        payload: serde_json::Value,
        now_micros: u64,
        random: u128,
    ) -> String {
        let unix_millis = (SIM_EPOCH_UNIX_MICROS as u64 + now_micros) / 1000;
        let random = match self.last_id {
            Some((millis, last)) if millis == unix_millis => (last + 1) & ULID_RANDOM_MASK,
            _ => random & ULID_RANDOM_MASK,
        };
        self.last_id = Some((unix_millis, random));
        let id = ulid::Ulid::from_parts(unix_millis, random).to_string();
        self.events.push(EmittedEvent {
            id: id.clone(),
            kind: kind.to_string(),
            payload,
            emitted_at_micros: now_micros,
        });
        id
    }

    /// The JSON body a delivery of `event_id` carries.
    pub(crate) fn body(&self, event_id: &str) -> serde_json::Value {
        let event = self
            .events
            .iter()
            .find(|event| event.id == event_id)
            .expect("only emitted events are delivered");
        serde_json::json!({
            "id": event.id,
            "type": event.kind,
            "data": event.payload,
        })
    }

    pub(crate) fn attempt_count(&self, event_id: &str) -> u32 {
        let count = self
            .attempts
            .iter()
            .filter(|attempt| attempt.event_id == event_id)
            .count();
        u32::try_from(count).expect("fewer than 4 billion attempts")
    }

    pub(crate) fn record(
        &mut self,
        event_id: &str,
        reason: AttemptReason,
        at_micros: u64,
        outcome: AttemptOutcome,
    ) -> u32 {
        let number = self.attempt_count(event_id) + 1;
        self.attempts.push(Attempt {
            event_id: event_id.to_string(),
            number,
            reason,
            at_micros,
            outcome,
        });
        number
    }

    pub(crate) fn give_up(&mut self, event_id: &str) {
        self.given_up.insert(event_id.to_string());
    }

    /// Ids of the events emitted at or after `since_micros`, for the reconcile.
    pub(crate) fn recent(&self, since_micros: u64) -> Vec<String> {
        self.events
            .iter()
            .filter(|event| event.emitted_at_micros >= since_micros)
            .map(|event| event.id.clone())
            .collect()
    }
}
