//! Renderings of a trace for people and tools: a Mermaid sequence diagram (renders on
//! GitHub) and a Chrome trace (opens in Perfetto or chrome://tracing).
//!
//! Both are derived from the same events as the text trace; nothing is added. Not drawn:
//! `apply` events in the diagram (the request and reply arrows carry them).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::trace::{EventKind, Trace};

/// Mermaid breaks on a few characters inside message text; replace them with look-alikes.
fn mermaid_text(text: &str) -> String {
    text.replace(';', ",")
        .replace('#', "no. ")
        .replace('\n', " ")
        .replace("->>", "→")
        .replace("-->", "→")
}

/// A short participant id for each node, in order of first appearance.
fn participants(trace: &Trace) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for event in trace.events() {
        for name in std::iter::once(&event.node).chain(event.peer.iter()) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// The trace as a Mermaid `sequenceDiagram`.
pub fn mermaid(trace: &Trace) -> String {
    let names = participants(trace);
    let alias = |name: &str| {
        let index = names
            .iter()
            .position(|known| known == name)
            .expect("listed");
        format!("n{index}")
    };
    let mut lines = vec!["sequenceDiagram".to_string()];
    for name in &names {
        lines.push(format!(
            "    participant {} as {}",
            alias(name),
            mermaid_text(name)
        ));
    }
    for event in trace.events() {
        let time = event.time;
        let node = alias(&event.node);
        let detail = mermaid_text(&event.detail);
        let line = match (event.kind, event.peer.as_deref()) {
            (EventKind::Send, Some(peer)) => format!("{node}->>{}: {time} {detail}", alias(peer)),
            (EventKind::Recv, Some(peer)) => format!("{}-->>{node}: {time} {detail}", alias(peer)),
            (EventKind::Drop, Some(peer)) => format!("{node}--x{}: {time} {detail}", alias(peer)),
            (EventKind::Apply, _) => continue,
            (kind, _) => format!("Note over {node}: {time} {} {detail}", kind.label()),
        };
        lines.push(format!("    {line}"));
    }
    lines.join("\n") + "\n"
}

/// The trace as a Chrome trace event JSON object: one thread per node, one instant event
/// per trace event, timestamps in virtual microseconds.
pub fn chrome(trace: &Trace) -> Value {
    let names = participants(trace);
    let thread_ids: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (name.as_str(), index + 1))
        .collect();
    let mut events: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": thread_ids[name.as_str()],
                   "args": {"name": name}})
        })
        .collect();
    for event in trace.events() {
        let name = match &event.peer {
            Some(peer) => format!("{} {peer}", event.kind.label()),
            None => event.kind.label().to_string(),
        };
        events.push(json!({
            "name": name,
            "cat": event.kind.label(),
            "ph": "i",
            "s": "t",
            "ts": event.time.as_micros(),
            "pid": 1,
            "tid": thread_ids[event.node.as_str()],
            "args": {"detail": event.detail},
        }));
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"generator": "syncsim"}})
}
