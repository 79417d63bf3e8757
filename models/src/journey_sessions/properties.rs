//! Properties of journey_sessions, read from ground truth: the CRM's objects and deletes,
//! the workflow store's activity attempts and completions, the database's commit log, final
//! rows and answered errors. Plus the coverage marks a passing run must have hit.
//!
//! Not checked: the journeys' actions (not modelled), sessions of contacts never deleted
//! beyond reaching their last node.

use std::collections::{BTreeMap, BTreeSet};

use syncsim_services::pg::{ChangeKind, Value};
use syncsim_services::workflow::{WorkflowEvent, START_TO_CLOSE_TIMEOUT};
use syncsim_sim::{History, Property, Verdict};

use super::journey::{
    MARK_DELETED_MID_JOURNEY, MARK_MET_REAL_CONTACT, MARK_NODE1_CRM_ONLY, MARK_STOPPED,
};
use super::schema::{
    contact_column, contact_id, is_local, real_data, session_column, session_id, uuid_value,
};
use super::{JourneySessionsConfig, CONTACT, CRM, DB, TEMPORAL};

/// Every property of the model.
pub fn all(config: &JourneySessionsConfig) -> Vec<Property> {
    let (reach, keep, clean) = (config.clone(), config.clone(), config.clone());
    let mut properties = vec![
        Property::eventually(
            "journey_sessions: no journey aborted by a missing local contact",
            move |history| every_journey_reaches_its_last_node(history, &reach),
        ),
        // Reads every committed version, so a reader at any moment is covered.
        Property::eventually(
            "journey_sessions: the lazy upsert never overwrites a real contact",
            move |history| real_contacts_keep_their_data(history, &keep),
        ),
        Property::eventually(
            "journey_sessions: a contact deleted mid-journey ends the journey cleanly",
            move |history| deleted_contacts_end_cleanly(history, &clean),
        ),
        Property::sometimes(
            "journey_sessions: a journey ran again after its worker crashed",
            |history| {
                let store = history.read(&TEMPORAL);
                let rerun = store.log().iter().any(
                    |event| matches!(event, WorkflowEvent::Started { start, .. } if *start > 1),
                );
                rerun
            },
        ),
        // The replay mattered: a worker lost a journey after one of its nodes completed, and
        // the next worker took that node's result from the history instead of running it.
        Property::sometimes(
            "journey_sessions: a journey's replay skipped a node that had completed",
            |history| {
                let store = history.read(&TEMPORAL);
                let skipped = store.log().iter().any(|event| {
                    matches!(event, WorkflowEvent::Started { replayed, .. } if *replayed > 0)
                });
                skipped
            },
        ),
    ];
    properties.extend(
        [
            MARK_NODE1_CRM_ONLY,
            MARK_DELETED_MID_JOURNEY,
            MARK_STOPPED,
            MARK_MET_REAL_CONTACT,
        ]
        .map(Property::marked),
    );
    properties
}

/// A few words on what became of journey `key`: its last completion, or that it never ran.
fn journey_outcome(log: &[WorkflowEvent], key: &str, db_error_codes: &BTreeSet<&str>) -> String {
    let completed = log.iter().rev().find_map(|event| match event {
        WorkflowEvent::Completed {
            key: done, error, ..
        } if done == key => Some(error.clone()),
        _ => None,
    });
    match completed {
        Some(Some(error)) => format!("failed at {error}"),
        Some(None) => "completed without its last node".to_string(),
        None if signal_count(log, key) > 0 => "still running".to_string(),
        None => format!("never started (database errors answered: {db_error_codes:?})"),
    }
}

/// Each journey whose contact the CRM still holds ran its last node to a commit.
fn every_journey_reaches_its_last_node(
    history: &History,
    config: &JourneySessionsConfig,
) -> Verdict {
    let codes: BTreeSet<&str> = {
        let server = history.read(&DB);
        let codes = server
            .statement_errors()
            .iter()
            .map(|error| error.error.code())
            .collect();
        codes
    };
    let crm = history.read(&CRM);
    let store = history.read(&TEMPORAL);
    let last = format!("node {}", config.nodes_per_journey);
    for journey in 0..config.journey_count {
        let contact = contact_id(journey).to_string();
        if crm.object(CONTACT, &contact).is_none() {
            continue;
        }
        let key = session_id(journey).to_string();
        let reached = store.log().iter().any(|event| {
            matches!(event, WorkflowEvent::Activity { key: ran, name, error: None, .. }
                if *ran == key && *name == last)
        });
        if !reached {
            let kind = if is_local(config, journey) {
                "local"
            } else {
                "CRM-only"
            };
            return Verdict::violated(format!(
                "journey {journey} for {kind} contact {contact} (in the CRM) never reached \
                 {last}: {}",
                journey_outcome(store.log(), &key, &codes)
            ))
            .about(journey_entities(journey));
        }
    }
    Verdict::Pass
}

/// Every committed version of a legacy contact's row keeps its real data.
fn real_contacts_keep_their_data(history: &History, config: &JourneySessionsConfig) -> Verdict {
    let server = history.read(&DB);
    let legacy: Vec<(Value, u32)> = (0..config.journey_count)
        .filter(|journey| is_local(config, *journey))
        .map(|journey| (uuid_value(contact_id(journey)), journey))
        .collect();
    for txn in server.commit_log() {
        for change in txn.changes.get("public.contacts").into_iter().flatten() {
            if change.kind == ChangeKind::Delete {
                continue;
            }
            let id = &change.values[contact_column::ID];
            let Some((_, journey)) = legacy.iter().find(|(legacy_id, _)| legacy_id == id) else {
                continue;
            };
            let (name, blocked, attributes) = real_data(*journey);
            let written = (
                &change.values[contact_column::NAME],
                &change.values[contact_column::BLOCKED],
                &change.values[contact_column::CUSTOM_ATTRIBUTES],
            );
            let kept = *written.0 == Value::from(name.as_str())
                && *written.1 == Value::Bool(blocked)
                && *written.2 == Value::Jsonb(attributes.clone());
            if !kept {
                return Verdict::violated(format!(
                    "contact {} held name {name:?}, blocked {blocked}, attributes {attributes}; \
                     commit {} wrote {:?}, {:?}, {:?} ({})",
                    contact_id(*journey),
                    txn.commit_sequence,
                    written.0,
                    written.1,
                    written.2,
                    txn.statements.join("; ")
                ))
                .about(journey_entities(*journey));
            }
        }
    }
    Verdict::Pass
}

/// For each contact the CRM deleted: no session and no local row of it is left, its journey
/// ended without an error and no node took more than `attempts_bound` attempts.
fn deleted_contacts_end_cleanly(history: &History, config: &JourneySessionsConfig) -> Verdict {
    let deleted: BTreeSet<String> = {
        let crm = history.read(&CRM);
        let deleted = crm
            .deletions()
            .iter()
            .filter(|deletion| deletion.object_type == CONTACT)
            .map(|deletion| deletion.external_id.clone())
            .collect();
        deleted
    };
    let (sessions, contacts) = {
        let server = history.read(&DB);
        (
            server.table_snapshot("journey_sessions"),
            server.table_snapshot("contacts"),
        )
    };
    let store = history.read(&TEMPORAL);
    for journey in 0..config.journey_count {
        let contact = contact_id(journey);
        if !deleted.contains(&contact.to_string()) {
            continue;
        }
        let (contact_value, key) = (uuid_value(contact), session_id(journey).to_string());
        let left = sessions
            .iter()
            .find(|row| row[session_column::CONTACT_ID] == contact_value);
        if let Some(row) = left {
            return Verdict::violated(format!(
                "journey {journey}: contact {contact} was deleted, its session is still there \
                 ({:?} at node {:?})",
                row[session_column::STATUS],
                row[session_column::CURRENT_NODE]
            ))
            .about(journey_entities(journey));
        }
        if contacts
            .iter()
            .any(|row| row[contact_column::ID] == contact_value)
        {
            return Verdict::violated(format!(
                "journey {journey}: contact {contact} was deleted, a local row of it is back"
            ))
            .about(journey_entities(journey));
        }
        if let Some(reason) = retry_loop(store.log(), &key, config.attempts_bound) {
            return Verdict::violated(format!(
                "journey {journey}: contact {contact} was deleted and the journey {reason}"
            ))
            .about(journey_entities(journey));
        }
    }
    Verdict::Pass
}

/// Why journey `key` did not stop cleanly, if it did not: a failed end, a node that failed
/// `attempts_bound` times (a retry loop), or still running. Only attempts that ended in an
/// error count: an attempt its worker's crash cut short ends as Temporal's StartToClose
/// timeout and keeps the attempt count going, but it is a crash, not a retry the deletion
/// caused (before the executor replayed its history, a crash restarted the count at 1).
fn retry_loop(log: &[WorkflowEvent], key: &str, attempts_bound: u32) -> Option<String> {
    let mut failures: BTreeMap<(u64, &str), u32> = BTreeMap::new();
    for event in log {
        match event {
            WorkflowEvent::Activity {
                key: ran,
                signal,
                name,
                attempt,
                error: Some(error),
            } if ran == key && error != START_TO_CLOSE_TIMEOUT => {
                let failed = failures.entry((*signal, name.as_str())).or_default();
                *failed += 1;
                if *failed >= attempts_bound {
                    return Some(format!(
                        "failed {name} {failed} times by attempt {attempt} (bound \
                         {attempts_bound} attempts), last error {error}"
                    ));
                }
            }
            WorkflowEvent::Completed {
                key: done,
                error: Some(error),
                ..
            } if done == key => {
                return Some(format!("failed: {error}"));
            }
            _ => {}
        }
    }
    let completed = log
        .iter()
        .filter(|event| matches!(event, WorkflowEvent::Completed { key: done, .. } if done == key))
        .count();
    // Signals a failed run closed with never run; they are not waiting either.
    (signal_count(log, key) > completed + unhandled_count(log, key))
        .then(|| "is still running".to_string())
}

/// How many signals journey `key` received (one per start request that reached the app).
fn signal_count(log: &[WorkflowEvent], key: &str) -> usize {
    log.iter()
        .filter(|event| match event {
            WorkflowEvent::Signaled { key: signaled, .. } => signaled == key,
            _ => false,
        })
        .count()
}

/// How many of journey `key`'s signals a failed run closed with, unhandled.
fn unhandled_count(log: &[WorkflowEvent], key: &str) -> usize {
    log.iter()
        .map(|event| match event {
            WorkflowEvent::RunClosed {
                key: closed,
                unhandled,
                ..
            } if closed == key => unhandled.len(),
            _ => 0,
        })
        .sum()
}

/// How trace lines name journey `journey`: its contact's id and its session's (the
/// workflow key).
fn journey_entities(journey: u32) -> [String; 2] {
    [
        contact_id(journey).to_string(),
        session_id(journey).to_string(),
    ]
}
