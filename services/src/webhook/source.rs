//! `WebhookSource`: the durable state of a webhook provider (an identity provider or a CRM
//! calling us) and its ground truth: every event emitted, every delivery attempt and how it
//! ended, the events given up on.
//!
//! Event ids are ULIDs built from the virtual clock (on the simulation's calendar, which
//! starts 2026-01-01T00:00:00Z) and the source node's seeded stream. By default two ids of one
//! millisecond tie on their time part and sort by fresh random bits, so they can invert
//! against emission order, as the ULID spec allows; `IdOrder::Monotonic` is the spec's
//! optional counting generator. The Events API view (`events_after`) is the emission order
//! itself, paged with an `after` cursor over a retention window. Not modelled: signatures
//! (HMAC headers), event schemas, per-endpoint rate limits, clock skew between the
//! provider's hosts (ids inverting across milliseconds).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::WebhookConfig;
use crate::pg::SIM_EPOCH_UNIX_MICROS;

/// How the ids of events emitted within one millisecond compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdOrder {
    /// Fresh random bits per id: ids of one millisecond tie on their time part and sort in a
    /// seeded random order, so a later event's id can sort first. The ULID spec: "Within the
    /// same millisecond, sort order is not guaranteed" (github.com/ulid/spec at 04b8527).
    UnorderedWithinMillisecond,
    /// The spec's optional monotonic generator: within a millisecond the random part counts
    /// up, so ids sort in emission order. Stronger than a provider promises.
    Monotonic,
}

/// One page of the Events API: events in emission order after a cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventsPage {
    /// The events, oldest first.
    pub data: Vec<EmittedEvent>,
    /// The cursor for the next page: the last event's id; none when the page is empty (the
    /// caller keeps its cursor and asks again later).
    pub after: Option<String>,
}

/// Why the Events API refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventsError {
    /// The `after` cursor names no event this source emitted.
    UnknownCursor(String),
    /// `limit` is outside 1..=100.
    LimitOutOfRange(usize),
}

impl std::fmt::Display for EventsError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventsError::UnknownCursor(id) => write!(formatter, "unknown cursor {id:?}"),
            EventsError::LimitOutOfRange(limit) => {
                write!(formatter, "limit {limit} is outside 1..=100")
            }
        }
    }
}

/// Most events one page may hold, as the WorkOS list endpoints allow.
pub const EVENTS_PAGE_LIMIT_MAX: usize = 100;

/// One event the source emitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmittedEvent {
    /// The ULID of the event. Ids of different milliseconds sort in emission order; within a
    /// millisecond they may not (see `IdOrder`).
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

/// The webhook source's durable state and ground truth. `Clone` so a test can keep a copy of
/// the ground truth after its run.
#[derive(Clone, Debug)]
pub struct WebhookSource {
    pub(crate) config: WebhookConfig,
    events: Vec<EmittedEvent>,
    attempts: Vec<Attempt>,
    /// Ids of the events some attempt acknowledged, and the attempt count per event: kept
    /// beside `attempts` so the questions asked per attempt or per poll do not rescan it.
    acknowledged: BTreeSet<String>,
    attempt_counts: BTreeMap<String, u32>,
    given_up: BTreeSet<String>,
    /// The millisecond and random part of the last id, for `IdOrder::Monotonic`.
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
            acknowledged: BTreeSet::new(),
            attempt_counts: BTreeMap::new(),
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
        self.acknowledged.contains(event_id)
    }

    /// Events not acknowledged yet and not given up on: the source still owes them.
    pub fn pending(&self) -> Vec<&EmittedEvent> {
        self.events
            .iter()
            .filter(|event| !self.is_acknowledged(&event.id) && !self.given_up.contains(&event.id))
            .collect()
    }

    /// True once every event is acknowledged or given up on.
    pub fn owes_nothing(&self) -> bool {
        self.events
            .iter()
            .all(|event| self.is_acknowledged(&event.id) || self.given_up.contains(&event.id))
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
        let random = match (self.config.id_order, self.last_id) {
            (IdOrder::Monotonic, Some((millis, last))) if millis == unix_millis => {
                (last + 1) & ULID_RANDOM_MASK
            }
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

    pub(crate) fn record(
        &mut self,
        event_id: &str,
        reason: AttemptReason,
        at_micros: u64,
        outcome: AttemptOutcome,
    ) -> u32 {
        let count = self.attempt_counts.entry(event_id.to_string()).or_insert(0);
        *count += 1;
        let number = *count;
        if matches!(outcome, AttemptOutcome::Acknowledged(_)) {
            self.acknowledged.insert(event_id.to_string());
        }
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

    /// The Events API: up to `limit` events after the event `after` (from the oldest retained
    /// one without a cursor), in emission order, skipping events older than the retention
    /// window at `now_micros`. The cursor is a position in the stream, not an id to compare:
    /// ids of one millisecond need not sort in emission order.
    pub fn events_after(
        &self,
        after: Option<&str>,
        limit: usize,
        now_micros: u64,
    ) -> Result<EventsPage, EventsError> {
        if !(1..=EVENTS_PAGE_LIMIT_MAX).contains(&limit) {
            return Err(EventsError::LimitOutOfRange(limit));
        }
        let start = match after {
            None => 0,
            Some(cursor) => {
                let position = self.events.iter().position(|event| event.id == cursor);
                position.ok_or_else(|| EventsError::UnknownCursor(cursor.to_string()))? + 1
            }
        };
        let retention_micros =
            u64::try_from(self.config.events_retention.as_micros()).unwrap_or(u64::MAX);
        let oldest_micros = now_micros.saturating_sub(retention_micros);
        let data: Vec<EmittedEvent> = self.events[start..]
            .iter()
            .filter(|event| event.emitted_at_micros >= oldest_micros)
            .take(limit)
            .cloned()
            .collect();
        assert!(data.len() <= limit);
        let after = data.last().map(|event| event.id.clone());
        Ok(EventsPage { data, after })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::RetrySchedule;

    const DAY_MICROS: u64 = 24 * 3600 * 1_000_000;

    fn source(id_order: IdOrder) -> WebhookSource {
        let mut config = WebhookConfig::new("api", "/webhooks");
        config.id_order = id_order;
        WebhookSource::new(config)
    }

    fn emit_at(source: &mut WebhookSource, now_micros: u64, random: u128) -> String {
        source.emit("org.updated", serde_json::Value::Null, now_micros, random)
    }

    #[test]
    fn ids_of_one_millisecond_tie_on_time_and_follow_their_random_bits() {
        // The second event draws smaller random bits in the same millisecond.
        let mut unordered = source(IdOrder::UnorderedWithinMillisecond);
        let first = emit_at(&mut unordered, 1_000, 900);
        let second = emit_at(&mut unordered, 1_400, 7);
        assert_eq!(
            first[..10],
            second[..10],
            "same millisecond, same time part"
        );
        assert!(second < first, "the later event's id sorts first");

        let mut monotonic = source(IdOrder::Monotonic);
        let first = emit_at(&mut monotonic, 1_000, 900);
        let second = emit_at(&mut monotonic, 1_400, 7);
        assert!(first < second, "the monotonic generator counts up");
        // A new millisecond draws fresh bits in both modes, and sorts after.
        let third = emit_at(&mut monotonic, 2_000, 1);
        assert!(second < third);
    }

    #[test]
    fn the_events_api_pages_in_emission_order_by_position_not_by_id() {
        let mut source = source(IdOrder::UnorderedWithinMillisecond);
        // Three events in one millisecond whose ids sort 2 < 0 < 1, then one later: after
        // the cursor on event 1 comes event 2, whose id sorts below both.
        let ids = [
            emit_at(&mut source, 5_000, 200),
            emit_at(&mut source, 5_100, 300),
            emit_at(&mut source, 5_200, 100),
            emit_at(&mut source, 9_000, 50),
        ];
        let now = 10_000;
        let ids_of = |page: &EventsPage| -> Vec<String> {
            page.data.iter().map(|event| event.id.clone()).collect()
        };
        let first = source.events_after(None, 2, now).unwrap();
        assert_eq!(ids_of(&first), ids[..2].to_vec());
        assert_eq!(first.after.as_deref(), Some(ids[1].as_str()));
        // After the second event comes the third, although its id sorts before the cursor.
        let second = source.events_after(first.after.as_deref(), 2, now).unwrap();
        assert_eq!(ids_of(&second), ids[2..].to_vec());
        let end = source
            .events_after(second.after.as_deref(), 2, now)
            .unwrap();
        assert!(end.data.is_empty() && end.after.is_none());
    }

    #[test]
    fn the_events_api_keeps_thirty_days_and_refuses_bad_requests() {
        let mut source = source(IdOrder::UnorderedWithinMillisecond);
        let old = emit_at(&mut source, 0, 1);
        let recent = emit_at(&mut source, 2 * DAY_MICROS, 2);
        let at_thirty_days = source.events_after(None, 10, 30 * DAY_MICROS).unwrap();
        assert_eq!(
            at_thirty_days.data.len(),
            2,
            "an event exactly 30 days old is kept"
        );
        let later = source.events_after(None, 10, 31 * DAY_MICROS).unwrap();
        let kept: Vec<&str> = later.data.iter().map(|event| event.id.as_str()).collect();
        assert_eq!(kept, vec![recent.as_str()]);
        // A cursor on an expired event still marks a position in the stream.
        let after_old = source
            .events_after(Some(&old), 10, 31 * DAY_MICROS)
            .unwrap();
        assert_eq!(after_old.data.len(), 1);
        assert_eq!(
            source.events_after(Some("01NOSUCHEVENT"), 10, 0),
            Err(EventsError::UnknownCursor("01NOSUCHEVENT".to_string()))
        );
        assert_eq!(
            source.events_after(None, 0, 0),
            Err(EventsError::LimitOutOfRange(0))
        );
        assert_eq!(
            source.events_after(None, 101, 0),
            Err(EventsError::LimitOutOfRange(101))
        );
    }

    #[test]
    fn the_workos_schedule_retries_twelve_times_over_about_three_days() {
        let schedule = RetrySchedule::workos_production();
        assert_eq!(
            schedule.attempts_max, 13,
            "the first attempt and 12 retries"
        );
        let backoffs: Vec<u64> = (1..schedule.attempts_max)
            .map(|failures| schedule.backoff(failures).as_secs())
            .collect();
        assert_eq!(backoffs[..4], [1, 3, 9, 27]);
        assert_eq!(
            *backoffs.last().unwrap(),
            48 * 3600,
            "the last one is capped"
        );
        let span_secs: u64 = backoffs.iter().sum();
        // Full jitter spans 3.0 days; half of every backoff, 1.5 days.
        assert!(
            (2 * 86_400..=4 * 86_400).contains(&span_secs),
            "{span_secs} s"
        );
        assert!(
            (86_400..2 * 86_400).contains(&(span_secs / 2)),
            "{span_secs} s"
        );
        let quick = RetrySchedule::quick();
        let quick_span_ms: u128 = (1..quick.attempts_max)
            .map(|failures| quick.backoff(failures).as_millis())
            .sum();
        assert_eq!(quick_span_ms, 100 + 200 + 400 + 800 + 1600 + 3200 + 5000);
    }
}
