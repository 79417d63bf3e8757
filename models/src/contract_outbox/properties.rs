//! Properties of contract_outbox, read from ground truth: the final `players`, `parents` and
//! `outbox` rows, the mail service's record of what it accepted, and, for the crash and
//! overlap coverage, the trace (the endpoint's and the worker's notes around the crash faults
//! of their nodes, and batches whose claims overlap).
//!
//! "A contract is never signed without its event" asks for an event for every signed player
//! who has a parent: `fixed` writes none for a player without one, by design (a warning).

use std::collections::{BTreeMap, BTreeSet};

use syncsim_services::pg::{Row, Value};
use syncsim_sim::trace::EventKind;
use syncsim_sim::{History, Property, Verdict};

use super::endpoint::{MARK_NO_PARENT, NOTE_ENDED, NOTE_EVENT, NOTE_SIGNED};
use super::schema::{outbox_column, parent_column, player_column, CONTRACT_SIGNED};
use super::worker::{self, MARK_KICK_RAN, MARK_MAIL_RETRIED, NOTE_CLAIMED};
use super::{Variant, API, DB, MAIL, WEB};

/// Every signed player with a parent has a `contract_signed` event.
pub const NEVER_WITHOUT_EVENT: &str =
    "contract_outbox: a contract is never signed without its event";
/// Every signed player with a parent got the confirmation email, after healing.
pub const EVERY_EMAIL: &str = "contract_outbox: every signed contract with a parent gets its email";
/// No event ends `failed` for want of a parent.
pub const NO_PARENTLESS_FAILURE: &str =
    "contract_outbox: no event fails because of a missing parent";
/// Coverage: the endpoint crashed after its update, before its insert returned.
pub const MARK_ENDPOINT_CRASHED: &str =
    "contract_outbox: the endpoint crashed between the update and the insert";
/// Coverage: the API crashed while a batch held its claim.
pub const MARK_WORKER_CRASHED: &str = "contract_outbox: the worker crashed holding a claim";
/// Coverage: a batch claimed rows while another held its claim (SKIP LOCKED passed them).
pub const MARK_BATCHES_OVERLAPPED: &str =
    "contract_outbox: a batch claimed rows while another batch held its claim";

/// Every property of the model; the coverage marks are `fixed`'s.
pub fn all(variant: Variant) -> Vec<Property> {
    let mut properties = vec![
        Property::eventually(NEVER_WITHOUT_EVENT, never_without_event),
        Property::eventually(EVERY_EMAIL, every_email),
        Property::eventually(NO_PARENTLESS_FAILURE, no_parentless_failure),
    ];
    if variant != Variant::Fixed {
        return properties;
    }
    properties.push(Property::sometimes(MARK_ENDPOINT_CRASHED, |history| {
        crashed_inside(history, WEB, NOTE_SIGNED, &[NOTE_EVENT, NOTE_ENDED])
    }));
    properties.push(Property::sometimes(MARK_WORKER_CRASHED, |history| {
        crashed_inside(history, API, NOTE_CLAIMED, &[worker::NOTE_ENDED])
    }));
    properties.push(Property::sometimes(
        MARK_BATCHES_OVERLAPPED,
        batches_overlapped,
    ));
    for mark in [MARK_NO_PARENT, MARK_MAIL_RETRIED, MARK_KICK_RAN] {
        properties.push(Property::sometimes(mark, move |history| {
            history.mark_count(mark) > 0
        }));
    }
    properties
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int8(number) => Some(*number),
        Value::Int4(number) => Some(i64::from(*number)),
        _ => None,
    }
}

fn text(value: &Value) -> &str {
    match value {
        Value::Text(text) => text,
        _ => "",
    }
}

/// The database's final rows, read once per check.
struct Tables {
    /// Signed players: id -> parent id.
    signed: BTreeMap<i64, Option<i64>>,
    /// Parent id -> email.
    parents: BTreeMap<i64, String>,
    /// `contract_signed` rows.
    events: Vec<Row>,
}

fn tables(history: &History) -> Tables {
    let server = history.read(&DB);
    let signed = server
        .table_snapshot("players")
        .iter()
        .filter(|row| text(&row[player_column::CONTRACT_STATUS]) == "signed")
        .filter_map(|row| {
            Some((
                int(&row[player_column::ID])?,
                int(&row[player_column::PARENT_ID]),
            ))
        })
        .collect();
    let parents = server
        .table_snapshot("parents")
        .iter()
        .filter_map(|row| {
            let email = text(&row[parent_column::EMAIL]).to_string();
            Some((int(&row[parent_column::ID])?, email))
        })
        .collect();
    let events = server
        .table_snapshot("outbox")
        .into_iter()
        .filter(|row| text(&row[outbox_column::EVENT_TYPE]) == CONTRACT_SIGNED)
        .collect();
    Tables {
        signed,
        parents,
        events,
    }
}

fn payload_field(row: &Row, field: &str) -> Option<i64> {
    match &row[outbox_column::PAYLOAD] {
        Value::Jsonb(payload) => payload[field].as_i64(),
        _ => None,
    }
}

fn never_without_event(history: &History) -> Verdict {
    let tables = tables(history);
    let with_event: BTreeSet<i64> = tables
        .events
        .iter()
        .filter_map(|row| payload_field(row, "player_id"))
        .collect();
    for (player, parent) in &tables.signed {
        if let (Some(parent), false) = (parent, with_event.contains(player)) {
            return Verdict::violated(format!(
                "player {player} (parent {parent}) is signed but the outbox holds no \
                 {CONTRACT_SIGNED} event for it"
            ))
            .about(player_entities(*player));
        }
    }
    Verdict::Pass
}

fn every_email(history: &History) -> Verdict {
    let tables = tables(history);
    let mail = history.read(&MAIL);
    for (player, parent) in &tables.signed {
        let Some(email) = parent.and_then(|parent| tables.parents.get(&parent)) else {
            continue;
        };
        let got = mail
            .sent()
            .iter()
            .any(|sent| sent.player_id == *player && sent.to == *email);
        if !got {
            let event = tables
                .events
                .iter()
                .find(|row| payload_field(row, "player_id") == Some(*player))
                .map_or("no event".to_string(), |row| {
                    let status = text(&row[outbox_column::STATUS]);
                    let attempts = int(&row[outbox_column::ATTEMPTS]).unwrap_or_default();
                    format!("its event {status} after {attempts} attempts")
                });
            return Verdict::violated(format!(
                "player {player} is signed; {email} never got the confirmation email ({event})"
            ))
            .about(player_entities(*player).into_iter().chain([email.clone()]));
        }
    }
    Verdict::Pass
}

fn no_parentless_failure(history: &History) -> Verdict {
    let tables = tables(history);
    for row in &tables.events {
        if text(&row[outbox_column::STATUS]) != "failed" {
            continue;
        }
        let parent = payload_field(row, "parent_id");
        if parent.is_none_or(|parent| !tables.parents.contains_key(&parent)) {
            let id = int(&row[outbox_column::ID]).unwrap_or_default();
            let player = payload_field(row, "player_id").unwrap_or_default();
            let attempts = int(&row[outbox_column::ATTEMPTS]).unwrap_or_default();
            let parent = parent.map_or("null".to_string(), |parent| parent.to_string());
            return Verdict::violated(format!(
                "event {id} (player {player}) failed after {attempts} attempts: its payload's \
                 parent_id {parent} names no parent"
            ))
            .about(player_entities(player));
        }
    }
    Verdict::Pass
}

/// Whether a batch noted its claim while another batch's claim was open (not ended, its
/// node not crashed since).
fn batches_overlapped(history: &History) -> bool {
    let crash = format!("crash {API}");
    let mut open: BTreeSet<&str> = BTreeSet::new();
    for event in history.trace().events() {
        match event.kind {
            EventKind::Fault if event.detail == crash => open.clear(),
            EventKind::Note if event.node == API => {
                let detail = event.detail.as_str();
                if let Some((_, ids)) = detail.split_once(NOTE_CLAIMED) {
                    if !open.is_empty() {
                        return true;
                    }
                    open.insert(ids);
                }
                if let Some((_, ids)) = detail.split_once(worker::NOTE_ENDED) {
                    open.remove(ids);
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether `node` crashed after a note `<open><key>` and before a note `<close><key>` with
/// the same key (any of `closes`).
fn crashed_inside(history: &History, node: &str, open: &str, closes: &[&str]) -> bool {
    let crash = format!("crash {node}");
    let mut inside: BTreeSet<&str> = BTreeSet::new();
    for event in history.trace().events() {
        match event.kind {
            EventKind::Fault if event.detail == crash && !inside.is_empty() => return true,
            EventKind::Note if event.node == node => {
                let detail = event.detail.as_str();
                if let Some((_, key)) = detail.split_once(open) {
                    inside.insert(key);
                }
                for close in closes {
                    if let Some((_, key)) = detail.split_once(close) {
                        inside.remove(key);
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// How trace lines name player `player`: its signing token and request, the endpoint's
/// notes, the outbox payload and the mail request.
fn player_entities(player: i64) -> Vec<String> {
    vec![
        format!("player {player}"),
        format!("player-{player}"),
        format!("tok-{player}"),
        format!("\"player_id\": {player}"),
    ]
}
