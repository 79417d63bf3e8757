//! The trace: every event of a run, in order, one line each, with a stable digest.
//!
//! The trace is what makes a run reviewable and its determinism checkable: two runs of the
//! same case must produce byte-identical traces. The digest is BLAKE3 (never std's randomly
//! keyed hasher) over a canonical encoding of each event's meaning: its time in microseconds,
//! node, kind, peer and detail, each length-prefixed. The line layout (padding, the time's
//! format) can change without changing a digest, and so can a service's Rust types: a
//! request's and a response's detail is the `Display` text the service writes for people,
//! not a `Debug` dump of its fields. Not recorded: wall-clock times, memory addresses,
//! anything else that differs between machines.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::VirtualTime;

/// What kind of thing happened. Rendered as a fixed-width lower-case word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// The harness changed phase (start, heal, end).
    Phase,
    /// A node process started (at boot or after a restart).
    Start,
    /// A process finished its work.
    Done,
    /// A fault was applied (crash, restart, pause, resume).
    Fault,
    /// A client sent a request to a service.
    Send,
    /// A service applied a request and produced a response.
    Apply,
    /// A client received a response (or an error) from a service.
    Recv,
    /// A request was lost: the service was down or unreachable.
    Drop,
    /// A coverage mark was hit.
    Mark,
    /// A model-level note.
    Note,
    /// A property verdict (violations only).
    Check,
}

impl EventKind {
    /// The kind as rendered in the trace.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Phase => "phase",
            EventKind::Start => "start",
            EventKind::Done => "done",
            EventKind::Fault => "fault",
            EventKind::Send => "send",
            EventKind::Apply => "apply",
            EventKind::Recv => "recv",
            EventKind::Drop => "drop",
            EventKind::Mark => "mark",
            EventKind::Note => "note",
            EventKind::Check => "check",
        }
    }
}

/// One event: when, where, what kind, and a free-form detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Virtual time of the event.
    pub time: VirtualTime,
    /// Name of the node the event happened on (`harness` for the supervisor).
    pub node: String,
    /// Kind of event.
    pub kind: EventKind,
    /// The other node of a message event (`send`, `apply`, `recv`, `drop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Human-readable detail; deterministic text only.
    pub detail: String,
}

impl fmt::Display for Event {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = self.time.to_string();
        let (node, kind) = (&self.node, self.kind.label());
        match &self.peer {
            Some(peer) => write!(
                formatter,
                "{time:>12} {node:<10} {kind:<5} {peer}: {}",
                self.detail
            ),
            None => write!(formatter, "{time:>12} {node:<10} {kind:<5} {}", self.detail),
        }
    }
}

impl Event {
    /// Feeds the event's meaning to `hasher`: the time in microseconds (8 bytes, little
    /// endian), whether it has a peer (1 byte), then the node, the kind's label, the peer
    /// (empty when none) and the detail,
    /// each as its length (8 bytes) and its UTF-8 bytes, so no two events encode alike.
    pub fn encode(&self, hasher: &mut blake3::Hasher) {
        hasher.update(&self.time.as_micros().to_le_bytes());
        hasher.update(&[u8::from(self.peer.is_some())]);
        let peer = self.peer.as_deref().unwrap_or("");
        for field in [self.node.as_str(), self.kind.label(), peer, &self.detail] {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
    }
}

/// The ordered list of events of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    events: Vec<Event>,
}

/// Where two traces first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// 0-based index of the first differing line.
    pub line_index: usize,
    /// The line in the first trace (None if it ended there).
    pub first: Option<String>,
    /// The line in the second trace (None if it ended there).
    pub second: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |line: &Option<String>| line.clone().unwrap_or_else(|| "<end>".to_string());
        write!(
            formatter,
            "traces diverge at line {}:\n  first:  {}\n  second: {}",
            self.line_index + 1,
            show(&self.first),
            show(&self.second)
        )
    }
}

impl Trace {
    /// Appends an event. Events arrive in virtual-time order; a time going backwards means
    /// the recorder was called from outside the run, a harness bug.
    pub fn push(&mut self, event: Event) {
        if let Some(last) = self.events.last() {
            assert!(
                last.time <= event.time,
                "trace time went backwards: {event}"
            );
        }
        self.events.push(event);
    }

    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// One line per event.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.events.iter().map(Event::to_string)
    }

    /// The whole trace as text, one line per event, each ending in a newline.
    pub fn render(&self) -> String {
        self.lines().fold(String::new(), |mut text, line| {
            text.push_str(&line);
            text.push('\n');
            text
        })
    }

    /// The last `count` lines (fewer if the trace is shorter).
    pub fn tail(&self, count: usize) -> Vec<String> {
        let start = self.events.len().saturating_sub(count);
        self.events[start..].iter().map(Event::to_string).collect()
    }

    /// The lines that mention any of `entities` as a whole word (no letter, digit or `_`
    /// right before or after it), in order.
    pub fn mentioning(&self, entities: &[String]) -> Vec<String> {
        self.lines()
            .filter(|line| entities.iter().any(|entity| mentions(line, entity)))
            .collect()
    }

    /// A stable digest of the trace: the first 16 hex digits of the BLAKE3 hash of every
    /// event's canonical encoding ([`Event::encode`]).
    pub fn digest(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        for event in &self.events {
            event.encode(&mut hasher);
        }
        hasher.finalize().to_hex()[..16].to_string()
    }

    /// The first line where `self` and `other` differ, or None if they are identical.
    pub fn first_divergence(&self, other: &Trace) -> Option<Divergence> {
        let longest = self.events.len().max(other.events.len());
        (0..longest).find_map(|line_index| {
            let first = self.events.get(line_index).map(Event::to_string);
            let second = other.events.get(line_index).map(Event::to_string);
            (first != second).then_some(Divergence {
                line_index,
                first,
                second,
            })
        })
    }
}

/// Whether `line` holds `entity` with no word character glued to either end of it.
pub fn mentions(line: &str, entity: &str) -> bool {
    let word = |character: Option<char>| character.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let glued_start = entity.chars().next().is_some_and(|c| word(Some(c)));
    let glued_end = entity.chars().last().is_some_and(|c| word(Some(c)));
    !entity.is_empty()
        && line.match_indices(entity).any(|(start, _)| {
            let before = line[..start].chars().next_back();
            let after = line[start + entity.len()..].chars().next();
            let glued = (glued_start && word(before)) || (glued_end && word(after));
            !glued
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(micros: u64, node: &str, detail: &str) -> Event {
        Event {
            time: VirtualTime(Duration::from_micros(micros)),
            node: node.to_string(),
            kind: EventKind::Note,
            peer: None,
            detail: detail.to_string(),
        }
    }

    #[test]
    fn render_is_one_fixed_width_line_per_event() {
        let mut trace = Trace::default();
        trace.push(event(1_500, "worker-0", "hello"));
        assert_eq!(trace.render(), "   0.001500s worker-0   note  hello\n");
    }

    #[test]
    fn digest_depends_on_every_line_and_divergence_finds_the_first() {
        let mut first = Trace::default();
        let mut second = Trace::default();
        for micros in 0..5 {
            first.push(event(micros, "a", "same"));
            second.push(event(
                micros,
                "a",
                if micros == 3 { "other" } else { "same" },
            ));
        }
        assert_ne!(first.digest(), second.digest());
        assert_eq!(first.digest(), first.clone().digest());
        let divergence = first.first_divergence(&second).expect("they differ");
        assert_eq!(divergence.line_index, 3);
        assert!(divergence.to_string().contains("line 4"));
        assert_eq!(first.first_divergence(&first.clone()), None);
    }

    #[test]
    fn the_digest_sees_every_field_and_where_one_ends() {
        let digest = |event: Event| {
            let mut trace = Trace::default();
            trace.push(event);
            trace.digest()
        };
        let base = Event {
            peer: Some("store".to_string()),
            ..event(7, "ab", "c")
        };
        let variants = [
            Event {
                time: VirtualTime(Duration::from_micros(8)),
                ..base.clone()
            },
            Event {
                node: "a".to_string(),
                detail: "bc".to_string(),
                ..base.clone()
            },
            Event {
                kind: EventKind::Mark,
                ..base.clone()
            },
            Event {
                peer: None,
                ..base.clone()
            },
            Event {
                peer: Some(String::new()),
                ..base.clone()
            },
            Event {
                detail: "d".to_string(),
                ..base.clone()
            },
        ];
        let mut digests: Vec<String> = variants.into_iter().map(digest).collect();
        digests.push(digest(base));
        let distinct: std::collections::BTreeSet<&String> = digests.iter().collect();
        assert_eq!(distinct.len(), digests.len(), "{digests:?}");
    }

    #[test]
    #[should_panic(expected = "went backwards")]
    fn time_going_backwards_is_a_harness_bug() {
        let mut trace = Trace::default();
        trace.push(event(5, "a", "later"));
        trace.push(event(4, "a", "earlier"));
    }

    #[test]
    fn an_entity_is_mentioned_only_as_a_whole_word() {
        assert!(mentions("UPDATE players ... [9]", "9"));
        assert!(mentions("signed: player 9", "player 9"));
        assert!(!mentions("signed: player 91", "player 9"));
        assert!(!mentions("signed: player 19", "9"));
        assert!(!mentions("org_10 renamed", "org_1"));
        assert!(mentions(
            "Create { external_id: \"1\" }",
            "external_id: \"1\""
        ));
        assert!(mentions("[1, PAUSED, 1105679]", "[1, PAUSED"));
        assert!(!mentions("[11, PAUSED, 1105679]", "[1, PAUSED"));
        assert!(!mentions("anything", ""));
        let mut trace = Trace::default();
        trace.push(event(1, "a", "org_1 created"));
        trace.push(event(2, "a", "org_12 created"));
        trace.push(event(3, "b", "poll"));
        let lines = trace.mentioning(&["org_1".to_string()]);
        assert_eq!(lines, ["   0.000001s a          note  org_1 created"]);
    }
}
