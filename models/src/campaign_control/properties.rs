//! Properties of campaign_control, read from ground truth: the provider's dispatches, the
//! database's commit log (every status transition with its time, every message marked
//! `SENT`), the final campaign and workflow rows, and the plan's broker faults.
//!
//! "Honoured in time" is measured from the transition's write to each later dispatch of the
//! campaign, against the property's `within` parameter (1 s and 30 s by default; a scenario
//! sets another under `[parameters."<property>"]`); the healthy-broker property only counts
//! pauses whose first `within` the broker was up.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use syncsim_services::pg::Value;
use syncsim_sim::{History, Property, Verdict};

use super::api::MARK_BROKER_DOWN_DURING_PAUSE;
use super::esp::Dispatch;
use super::packer::MARK_CONTROL_DROPPED;
use super::schema::{campaign_column, message_column, workflow_column, workflow_state};
use super::sender::{MARK_CACHE_DROPPED, MARK_SENT_UNASSIGNED};
use super::{Variant, BROKER, DB, ESP};

/// No message of a paused campaign is dispatched later than `within` after the pause, for
/// pauses whose first `within` the broker was up (the product's promise: 1 s).
pub const PAUSE_HONOURED_HEALTHY: &str =
    "campaign_control: pause is honoured in time while the broker is healthy";
/// The same for every pause, broker outages included (the product's promise: 30 s).
pub const PAUSE_HONOURED: &str = "campaign_control: pause is honoured in time through outages";

/// The parameter of the two pause properties, set per scenario as `within = "500ms"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseBound {
    /// How long after a pause's commit a dispatch of its campaign is still allowed.
    #[serde(with = "humantime_serde")]
    pub within: Duration,
}

impl PauseBound {
    fn within(within: Duration) -> PauseBound {
        PauseBound { within }
    }
}

/// Every property of the model; the coverage marks depend on what the variant can meet.
pub fn all(variant: Variant) -> Vec<Property> {
    let mut properties = vec![
        Property::eventually_with(
            PAUSE_HONOURED_HEALTHY,
            PauseBound::within(Duration::from_secs(1)),
            |history, bound| pause_honoured(history, bound.within, true),
        ),
        Property::eventually_with(
            PAUSE_HONOURED,
            PauseBound::within(Duration::from_secs(30)),
            |history, bound| pause_honoured(history, bound.within, false),
        ),
        Property::eventually(
            "campaign_control: a broker outage never fails a committed transition",
            status_and_workflow_agree,
        ),
        Property::eventually("campaign_control: stop is terminal", stop_is_terminal),
        Property::eventually(
            "campaign_control: resume never re-sends a SENT message",
            no_resend,
        ),
    ];
    let marks: &[&'static str] = match variant {
        Variant::TtlOnly => &[],
        Variant::RequestCorrelation => &[MARK_CONTROL_DROPPED, MARK_BROKER_DOWN_DURING_PAUSE],
        Variant::Fixed => &[MARK_BROKER_DOWN_DURING_PAUSE, MARK_CACHE_DROPPED],
        Variant::Gated => &[
            MARK_BROKER_DOWN_DURING_PAUSE,
            MARK_CACHE_DROPPED,
            MARK_SENT_UNASSIGNED,
        ],
    };
    properties.extend(marks.iter().map(|&mark| Property::marked(mark)));
    properties
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int8(number) => *number,
        Value::Int4(number) => i64::from(*number),
        _ => i64::MIN,
    }
}

fn text(value: &Value) -> &str {
    match value {
        Value::Text(text) => text,
        _ => "",
    }
}

/// Each campaign's status transitions in commit order: (status, written at, in micros).
fn transitions(history: &History) -> BTreeMap<i64, Vec<(String, i64)>> {
    let server = history.read(&DB);
    let mut timeline: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    for txn in server.commit_log() {
        for change in txn.changes.get("public.campaigns").into_iter().flatten() {
            let values = &change.values;
            let status = text(&values[campaign_column::STATUS]).to_string();
            let entry = timeline
                .entry(int(&values[campaign_column::ID]))
                .or_default();
            entry.push((status, int(&values[campaign_column::CHANGED_AT])));
        }
    }
    timeline
}

/// Intervals (micros) in which the broker was down: outage, crash, pause or isolation.
fn broker_down(history: &History) -> Vec<(u64, u64)> {
    let mut intervals = Vec::new();
    let mut since: Option<u64> = None;
    for (time, fault) in history.faults() {
        if fault.node() != BROKER {
            continue;
        }
        match (fault.verb(), since) {
            ("outage" | "crash" | "pause" | "isolate", None) => since = Some(time.as_micros()),
            ("recover" | "restart" | "resume" | "rejoin", Some(start)) => {
                intervals.push((start, time.as_micros()));
                since = None;
            }
            _ => {}
        }
    }
    intervals.extend(since.map(|start| (start, u64::MAX)));
    intervals
}

fn dispatches(history: &History) -> Vec<Dispatch> {
    history.read(&ESP).dispatches().to_vec()
}

/// No dispatch of a paused campaign later than `bound` after the pause, until its resume.
fn pause_honoured(history: &History, bound: Duration, healthy_only: bool) -> Verdict {
    let down = broker_down(history);
    let sent = dispatches(history);
    let bound_micros = i64::try_from(bound.as_micros()).unwrap_or(i64::MAX);
    for (campaign, steps) in transitions(history) {
        for (index, (status, at)) in steps.iter().enumerate() {
            if status != "PAUSED" {
                continue;
            }
            let until = steps.get(index + 1).map_or(i64::MAX, |(_, next)| *next);
            let window = (*at as u64, at.saturating_add(bound_micros) as u64);
            let unhealthy = down
                .iter()
                .any(|(from, to)| *from < window.1 && *to > window.0);
            if healthy_only && unhealthy {
                continue;
            }
            let late = sent.iter().find(|dispatch| {
                let time = dispatch.time.as_micros() as i64;
                let after_bound = time > at.saturating_add(bound_micros);
                dispatch.campaign_id == campaign && after_bound && time < until
            });
            if let Some(dispatch) = late {
                return Verdict::violated(format!(
                    "campaign {campaign} paused at {:.3}s; {} dispatched message {} at {}, \
                     over the {} bound",
                    *at as f64 / 1e6,
                    dispatch.sender,
                    dispatch.message_id,
                    dispatch.time,
                    humantime_serde::re::humantime::format_duration(bound)
                ))
                .about(campaign_entities(campaign, Some(dispatch.message_id)));
            }
        }
    }
    Verdict::Pass
}

/// Each campaign's legacy workflow state matches its status.
fn status_and_workflow_agree(history: &History) -> Verdict {
    let server = history.read(&DB);
    let workflows: BTreeMap<i64, String> = server
        .table_snapshot("campaign_workflows")
        .iter()
        .map(|row| {
            let campaign = int(&row[workflow_column::CAMPAIGN_ID]);
            (campaign, text(&row[workflow_column::STATE]).to_string())
        })
        .collect();
    for row in server.table_snapshot("campaigns") {
        let campaign = int(&row[campaign_column::ID]);
        let status = text(&row[campaign_column::STATUS]);
        let state = workflows.get(&campaign).map_or("", String::as_str);
        if state != workflow_state(status) {
            return Verdict::violated(format!(
                "campaign {campaign} is {status} in Postgres but its workflow is {state:?}"
            ))
            .about(campaign_entities(campaign, None));
        }
    }
    Verdict::Pass
}

/// Nothing leaves `STOPPED`, and nothing is dispatched more than 30 s after a stop.
fn stop_is_terminal(history: &History) -> Verdict {
    let sent = dispatches(history);
    for (campaign, steps) in transitions(history) {
        let Some(stop) = steps.iter().position(|(status, _)| status == "STOPPED") else {
            continue;
        };
        if let Some((status, _)) = steps[stop..].iter().find(|(status, _)| status != "STOPPED") {
            return Verdict::violated(format!("campaign {campaign} left STOPPED for {status}"))
                .about(campaign_entities(campaign, None));
        }
        let stopped_at = steps[stop].1;
        let late = sent.iter().find(|dispatch| {
            dispatch.campaign_id == campaign
                && dispatch.time.as_micros() as i64 > stopped_at + 30_000_000
        });
        if let Some(dispatch) = late {
            return Verdict::violated(format!(
                "campaign {campaign} stopped; message {} dispatched at {}",
                dispatch.message_id, dispatch.time
            ))
            .about(campaign_entities(campaign, Some(dispatch.message_id)));
        }
    }
    Verdict::Pass
}

/// No message is dispatched after it was first marked `SENT`.
fn no_resend(history: &History) -> Verdict {
    let first_sent: BTreeMap<i64, i64> = {
        let server = history.read(&DB);
        let mut first = BTreeMap::new();
        for txn in server.commit_log() {
            for change in txn
                .changes
                .get("public.campaign_messages")
                .into_iter()
                .flatten()
            {
                let values = &change.values;
                if text(&values[message_column::STATUS]) == "SENT" {
                    let id = int(&values[message_column::ID]);
                    first
                        .entry(id)
                        .or_insert(int(&values[message_column::SENT_AT]));
                }
            }
        }
        first
    };
    let resent = dispatches(history).into_iter().find(|dispatch| {
        first_sent
            .get(&dispatch.message_id)
            .is_some_and(|sent_at| dispatch.time.as_micros() as i64 > *sent_at)
    });
    match resent {
        None => Verdict::Pass,
        Some(dispatch) => Verdict::violated(format!(
            "message {} was SENT, then dispatched again at {} by {}",
            dispatch.message_id, dispatch.time, dispatch.sender
        ))
        .about([dispatch.message_id.to_string()]),
    }
}

/// How trace lines name campaign `campaign`'s transitions (its API requests, its status and
/// workflow updates) and, when given, one message's status check and dispatch; not every
/// send of the campaign, which would bury them.
fn campaign_entities(campaign: i64, message: Option<i64>) -> Vec<String> {
    let mut entities = vec![format!("/campaigns/{campaign}/")];
    for status in [
        "PAUSED", "STOPPED", "SENDING", "paused]", "stopped]", "running]",
    ] {
        entities.push(format!("[{campaign}, {status}"));
    }
    entities.extend(message.map(|message| message.to_string()));
    entities
}
