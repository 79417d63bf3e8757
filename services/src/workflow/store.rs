//! `WorkflowStore`: the durable side of a Temporal-like executor. One workflow per key holds a
//! queue of signals; a worker leases the key to run its oldest signal, so a key's signals run
//! one after the other, while different keys run in parallel on different workers.
//!
//! Each signal keeps the history of its handler's activities, as Temporal's event history does:
//! the attempts started and ended, when, and the result of a completed activity. A lease that
//! runs out (its worker crashed, or stalled past it) lets another worker claim the signal and
//! replay that history: completed activities are not run again, and an attempt that was still
//! running is recorded as timed out (the lease doubles as its start-to-close timeout), so the
//! next attempt carries on the count. A start, a result or a completion under a lease that was
//! lost is refused, as Temporal refuses a stale task token.
//!
//! One run is open per key at most: a handler's error fails the run, closing it with the
//! signals it had not handled, and a run that handled every signal completes; the next
//! signal-with-start starts a new run. Not modelled: timers and child
//! workflows, queries, task queues by name, cancellation.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::text::List;
use syncsim_sim::service::{Caller, Service};
use syncsim_sim::time::VirtualTime;

/// A signal waiting in a workflow's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// Unique per store, in arrival order.
    pub id: u64,
    /// The model's payload.
    pub payload: serde_json::Value,
    /// How many times a worker started it.
    pub starts: u32,
    /// Its handler's activities so far, in the order the handler scheduled them.
    pub history: Vec<ActivityRecord>,
}

/// The error an attempt that outlived its start-to-close timeout (the lease) ends with.
pub const START_TO_CLOSE_TIMEOUT: &str = "activity StartToClose timeout";

/// One activity of a signal's handler, as its history holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActivityRecord {
    /// The activity's name (a replay must schedule the same one at the same place).
    pub name: String,
    /// Attempts started; one more than `attempts_ended` while an attempt runs.
    pub attempts_started: u32,
    /// Attempts that ended (with a result, an error or a timeout).
    pub attempts_ended: u32,
    /// When the last attempt ended.
    pub ended_at_micros: u64,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// Set once the activity is closed: no attempt follows.
    pub outcome: Option<ActivityOutcome>,
}

/// How one attempt ended, as the worker reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    /// It failed and the policy allows another attempt.
    Retrying(String),
    /// It succeeded or failed for good: the activity is closed.
    Closed(ActivityOutcome),
}

/// How a closed activity ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ActivityOutcome {
    /// Its result, which a replay returns instead of running it again.
    Completed(serde_json::Value),
    /// It failed for good: attempts exhausted, or a non-retryable error.
    Failed {
        /// The last error.
        error: String,
        /// Whether a non-retryable error closed it (else the attempts ran out).
        non_retryable: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Lease {
    token: u64,
    until_micros: u64,
}

#[derive(Debug, Default)]
struct Workflow {
    signals: VecDeque<Signal>,
    lease: Option<Lease>,
    /// The open run's number, 0 when no run is open (one open execution per key).
    run: u32,
    /// Runs started for this key so far.
    runs_started: u32,
}

/// What happened in the store, as ground truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum WorkflowEvent {
    /// A signal arrived (signal-with-start).
    Signaled {
        /// The workflow key.
        key: String,
        /// The signal id.
        signal: u64,
        /// The run it went to (a new one when none was open).
        run: u32,
    },
    /// A run closed: its handler failed, or it had handled every signal.
    RunClosed {
        /// The workflow key.
        key: String,
        /// The run.
        run: u32,
        /// The handler's error, if the run failed.
        error: Option<String>,
        /// Signals the run had received and not handled: they close with it, and the next
        /// signal-with-start starts a new run without them.
        unhandled: Vec<u64>,
    },
    /// A worker started running a signal (the `start`-th time).
    Started {
        /// The workflow key.
        key: String,
        /// The signal id.
        signal: u64,
        /// The worker node.
        worker: String,
        /// 1 for the first start; more after a lost lease.
        start: u32,
        /// Activities the history holds as completed: the replay returns their results
        /// without running them again.
        replayed: u32,
    },
    /// One attempt of an activity ended.
    Activity {
        /// The workflow key.
        key: String,
        /// The signal id.
        signal: u64,
        /// The activity's name.
        name: String,
        /// 1 for the first attempt.
        attempt: u32,
        /// Its error, if it failed.
        error: Option<String>,
    },
    /// A signal finished; it leaves the queue.
    Completed {
        /// The workflow key.
        key: String,
        /// The signal id.
        signal: u64,
        /// Its error, if the workflow code gave up.
        error: Option<String>,
    },
}

/// A request to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkflowRequest {
    /// Appends a signal to the workflow of `key`, starting it if needed.
    SignalWithStart {
        /// The workflow key.
        key: String,
        /// The payload.
        payload: serde_json::Value,
    },
    /// Leases the oldest runnable key for `worker` until `now + lease_micros`.
    Claim {
        /// The worker node.
        worker: String,
        /// How long the lease lasts.
        lease_micros: u64,
    },
    /// Extends a lease (a heartbeat); refused when the lease was lost.
    Renew {
        /// The workflow key.
        key: String,
        /// The lease token.
        token: u64,
        /// How long from now.
        lease_micros: u64,
    },
    /// Records that an activity attempt starts, renewing the lease for it.
    StartAttempt(StartAttempt),
    /// Records how an activity attempt ended.
    RecordActivity(RecordActivity),
    /// Finishes the leased signal and releases the key.
    Complete {
        /// The workflow key.
        key: String,
        /// The lease token.
        token: u64,
        /// Its error, if the workflow code gave up.
        error: Option<String>,
    },
}

/// Records that attempt `attempt` of activity `seq` starts, and renews the lease for it
/// (its start-to-close timeout). Idempotent, so a worker may resend it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartAttempt {
    /// The workflow key.
    pub key: String,
    /// The lease token.
    pub token: u64,
    /// The activity's place in the handler's order (0-based).
    pub seq: usize,
    /// The activity's name.
    pub name: String,
    /// The attempt number.
    pub attempt: u32,
    /// How long from now the lease lasts.
    pub lease_micros: u64,
}

/// Records how attempt `attempt` of activity `seq` ended. Idempotent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordActivity {
    /// The workflow key.
    pub key: String,
    /// The lease token.
    pub token: u64,
    /// The activity's place in the handler's order.
    pub seq: usize,
    /// The attempt number.
    pub attempt: u32,
    /// How it ended.
    pub end: AttemptEnd,
}

/// The store's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkflowResponse {
    /// The signal's id.
    Signaled(u64),
    /// A leased signal to run, or None when nothing is runnable.
    Claimed(Option<Claim>),
    /// Done.
    Ok,
    /// The lease was lost (expired and taken over, or the signal finished elsewhere).
    LeaseLost,
}

/// A signal leased to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The workflow key.
    pub key: String,
    /// The lease token for renewals and completion.
    pub token: u64,
    /// The signal to run.
    pub signal: Signal,
}

/// A length of time given in microseconds, in the largest exact unit: `30s`, `1500ms`, `7us`.
struct Micros(u64);

impl fmt::Display for Micros {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            micros if micros > 0 && micros % 1_000_000 == 0 => {
                write!(formatter, "{}s", micros / 1_000_000)
            }
            micros if micros > 0 && micros % 1_000 == 0 => {
                write!(formatter, "{}ms", micros / 1_000)
            }
            micros => write!(formatter, "{micros}us"),
        }
    }
}

impl fmt::Display for WorkflowRequest {
    /// A verb, the workflow key, then the arguments: `renew org-1 token 4 lease 30s`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkflowRequest::SignalWithStart { key, payload } => {
                write!(formatter, "signal-with-start {key} {payload}")
            }
            WorkflowRequest::Claim {
                worker,
                lease_micros,
            } => write!(
                formatter,
                "claim for {worker} lease {}",
                Micros(*lease_micros)
            ),
            WorkflowRequest::Renew {
                key,
                token,
                lease_micros,
            } => write!(
                formatter,
                "renew {key} token {token} lease {}",
                Micros(*lease_micros)
            ),
            WorkflowRequest::StartAttempt(start) => write!(formatter, "{start}"),
            WorkflowRequest::RecordActivity(record) => write!(formatter, "{record}"),
            WorkflowRequest::Complete { key, token, error } => {
                write!(formatter, "complete {key} token {token} ")?;
                match error {
                    Some(error) => write!(formatter, "error {error:?}"),
                    None => formatter.write_str("ok"),
                }
            }
        }
    }
}

impl fmt::Display for StartAttempt {
    /// `start-attempt org-1 token 4 activity 0 charge attempt 2 lease 30s`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "start-attempt {} token {} activity {} {} attempt {} lease {}",
            self.key,
            self.token,
            self.seq,
            self.name,
            self.attempt,
            Micros(self.lease_micros)
        )
    }
}

impl fmt::Display for RecordActivity {
    /// `record-activity org-1 token 4 activity 0 attempt 2 retrying "timeout"`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "record-activity {} token {} activity {} attempt {} {}",
            self.key, self.token, self.seq, self.attempt, self.end
        )
    }
}

impl fmt::Display for AttemptEnd {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptEnd::Retrying(error) => write!(formatter, "retrying {error:?}"),
            AttemptEnd::Closed(outcome) => write!(formatter, "{outcome}"),
        }
    }
}

impl fmt::Display for ActivityOutcome {
    /// `completed {"id":1}`, `failed "boom"` or `failed non-retryable "boom"`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActivityOutcome::Completed(result) => write!(formatter, "completed {result}"),
            ActivityOutcome::Failed {
                error,
                non_retryable,
            } => {
                let how = if *non_retryable { " non-retryable" } else { "" };
                write!(formatter, "failed{how} {error:?}")
            }
        }
    }
}

impl fmt::Display for ActivityRecord {
    /// `charge (started 2, ended 1 at 1.500000s, last error "timeout", open)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ended_at = VirtualTime(Duration::from_micros(self.ended_at_micros));
        write!(
            formatter,
            "{} (started {}, ended {} at {ended_at}, ",
            self.name, self.attempts_started, self.attempts_ended
        )?;
        match &self.last_error {
            Some(error) => write!(formatter, "last error {error:?}, ")?,
            None => formatter.write_str("no error, ")?,
        }
        match &self.outcome {
            Some(outcome) => write!(formatter, "{outcome})"),
            None => formatter.write_str("open)"),
        }
    }
}

impl fmt::Display for Signal {
    /// `signal 7 {"org":1} starts 1 history [..]`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "signal {} {} starts {} history {}",
            self.id,
            self.payload,
            self.starts,
            List(&self.history)
        )
    }
}

impl fmt::Display for Claim {
    /// `org-1 token 4 signal 7 ..`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} token {} {}",
            self.key, self.token, self.signal
        )
    }
}

impl fmt::Display for WorkflowResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkflowResponse::Signaled(id) => write!(formatter, "signaled {id}"),
            WorkflowResponse::Claimed(Some(claim)) => write!(formatter, "claimed {claim}"),
            WorkflowResponse::Claimed(None) => formatter.write_str("claimed nothing"),
            WorkflowResponse::Ok => formatter.write_str("ok"),
            WorkflowResponse::LeaseLost => formatter.write_str("lease lost"),
        }
    }
}

/// The durable workflows and their log.
#[derive(Debug, Default)]
pub struct WorkflowStore {
    workflows: BTreeMap<String, Workflow>,
    log: Vec<WorkflowEvent>,
    signals_issued: u64,
    tokens_issued: u64,
}

impl WorkflowStore {
    /// Everything that happened, in order.
    pub fn log(&self) -> &[WorkflowEvent] {
        &self.log
    }

    /// The signals still queued for `key`, oldest first.
    pub fn queued(&self, key: &str) -> Vec<&Signal> {
        self.workflows
            .get(key)
            .map(|workflow| workflow.signals.iter().collect())
            .unwrap_or_default()
    }

    /// Every key with queued signals.
    pub fn busy_keys(&self) -> Vec<&str> {
        self.workflows
            .iter()
            .filter(|(_, workflow)| !workflow.signals.is_empty())
            .map(|(key, _)| key.as_str())
            .collect()
    }

    fn claim(&mut self, worker: &str, now_micros: u64, lease_micros: u64) -> Option<Claim> {
        let (key, workflow) = self.workflows.iter_mut().find(|(_, workflow)| {
            !workflow.signals.is_empty()
                && workflow
                    .lease
                    .as_ref()
                    .is_none_or(|lease| lease.until_micros <= now_micros)
        })?;
        self.tokens_issued += 1;
        workflow.lease = Some(Lease {
            token: self.tokens_issued,
            until_micros: now_micros + lease_micros,
        });
        let signal = workflow.signals.front_mut().expect("checked non-empty");
        signal.starts += 1;
        if let Some(timed_out) = time_out_running_attempt(signal, now_micros) {
            self.log.push(WorkflowEvent::Activity {
                key: key.clone(),
                signal: signal.id,
                name: timed_out.0,
                attempt: timed_out.1,
                error: Some(START_TO_CLOSE_TIMEOUT.to_string()),
            });
        }
        let replayed = signal
            .history
            .iter()
            .filter(|record| matches!(record.outcome, Some(ActivityOutcome::Completed(_))))
            .count();
        self.log.push(WorkflowEvent::Started {
            key: key.clone(),
            signal: signal.id,
            worker: worker.to_string(),
            start: signal.starts,
            replayed: u32::try_from(replayed).expect("a handler runs few activities"),
        });
        Some(Claim {
            key: key.clone(),
            token: self.tokens_issued,
            signal: signal.clone(),
        })
    }

    /// Starts attempt `attempt` of activity `seq` under the lease `token`, renewing the lease.
    fn start_attempt(&mut self, request: StartAttempt, now_micros: u64) -> WorkflowResponse {
        let Some(workflow) = self.lease_of(&request.key, request.token) else {
            return WorkflowResponse::LeaseLost;
        };
        let lease = workflow.lease.as_mut().expect("matched by token");
        lease.until_micros = now_micros + request.lease_micros;
        let signal = workflow
            .signals
            .front_mut()
            .expect("a leased key has a signal");
        assert!(
            request.seq <= signal.history.len(),
            "activity {} scheduled past the history's end",
            request.seq
        );
        if request.seq == signal.history.len() {
            signal.history.push(ActivityRecord {
                name: request.name.clone(),
                attempts_started: 0,
                attempts_ended: 0,
                ended_at_micros: now_micros,
                last_error: None,
                outcome: None,
            });
        }
        let record = &mut signal.history[request.seq];
        // Temporal fails a replay that schedules another activity than its history holds.
        assert_eq!(
            record.name, request.name,
            "nondeterministic handler: activity {} was {:?}, now {:?}",
            request.seq, record.name, request.name
        );
        assert!(record.outcome.is_none(), "a closed activity started again");
        assert!(
            request.attempt == record.attempts_started
                || request.attempt == record.attempts_ended + 1,
            "attempt {} after {} ended",
            request.attempt,
            record.attempts_ended
        );
        record.attempts_started = request.attempt;
        WorkflowResponse::Ok
    }

    /// Records how attempt `attempt` of activity `seq` ended; a resent record is a no-op.
    fn record_activity(&mut self, request: RecordActivity, now_micros: u64) -> WorkflowResponse {
        let Some(workflow) = self.lease_of(&request.key, request.token) else {
            return WorkflowResponse::LeaseLost;
        };
        let signal = workflow
            .signals
            .front_mut()
            .expect("a leased key has a signal");
        let record = signal
            .history
            .get_mut(request.seq)
            .expect("an attempt ends after it started");
        if record.attempts_ended >= request.attempt {
            return WorkflowResponse::Ok;
        }
        assert_eq!(
            record.attempts_started, request.attempt,
            "the attempt that ran"
        );
        record.attempts_ended = request.attempt;
        record.ended_at_micros = now_micros;
        let error = match request.end {
            AttemptEnd::Retrying(error) => Some(error),
            AttemptEnd::Closed(outcome) => {
                let error = match &outcome {
                    ActivityOutcome::Completed(_) => None,
                    ActivityOutcome::Failed { error, .. } => Some(error.clone()),
                };
                record.outcome = Some(outcome);
                error
            }
        };
        record.last_error.clone_from(&error);
        let event = WorkflowEvent::Activity {
            key: request.key,
            signal: signal.id,
            name: record.name.clone(),
            attempt: request.attempt,
            error,
        };
        self.log.push(event);
        WorkflowResponse::Ok
    }

    fn lease_of(&mut self, key: &str, token: u64) -> Option<&mut Workflow> {
        self.workflows.get_mut(key).filter(|workflow| {
            workflow
                .lease
                .as_ref()
                .is_some_and(|lease| lease.token == token)
        })
    }

    fn complete(&mut self, key: &str, token: u64, error: Option<String>) -> WorkflowResponse {
        let Some(workflow) = self.lease_of(key, token) else {
            return WorkflowResponse::LeaseLost;
        };
        workflow.lease = None;
        let signal = workflow
            .signals
            .pop_front()
            .expect("a leased key has a signal");
        let mut events = vec![WorkflowEvent::Completed {
            key: key.to_string(),
            signal: signal.id,
            error: error.clone(),
        }];
        // A failed run closes with whatever it had not handled; a run that handled every
        // signal completes (a workflow that drains its signals before returning).
        if error.is_some() || workflow.signals.is_empty() {
            assert!(workflow.run > 0, "a signal ran outside a run");
            let unhandled = workflow.signals.drain(..).map(|signal| signal.id).collect();
            events.push(WorkflowEvent::RunClosed {
                key: key.to_string(),
                run: workflow.run,
                error,
                unhandled,
            });
            workflow.run = 0;
        }
        self.log.extend(events);
        WorkflowResponse::Ok
    }
}

impl Service for WorkflowStore {
    type Request = WorkflowRequest;
    type Response = WorkflowResponse;

    fn apply(&mut self, caller: Caller<'_>, request: WorkflowRequest) -> WorkflowResponse {
        let now_micros = caller.now.as_micros();
        match request {
            WorkflowRequest::SignalWithStart { key, payload } => {
                self.signals_issued += 1;
                let id = self.signals_issued;
                let workflow = self.workflows.entry(key.clone()).or_default();
                if workflow.run == 0 {
                    workflow.runs_started += 1;
                    workflow.run = workflow.runs_started;
                }
                let run = workflow.run;
                workflow.signals.push_back(Signal {
                    id,
                    payload,
                    starts: 0,
                    history: Vec::new(),
                });
                self.log.push(WorkflowEvent::Signaled {
                    key,
                    signal: id,
                    run,
                });
                WorkflowResponse::Signaled(id)
            }
            WorkflowRequest::Claim {
                worker,
                lease_micros,
            } => WorkflowResponse::Claimed(self.claim(&worker, now_micros, lease_micros)),
            WorkflowRequest::Renew {
                key,
                token,
                lease_micros,
            } => match self.lease_of(&key, token) {
                Some(workflow) => {
                    let lease = workflow.lease.as_mut().expect("matched by token");
                    lease.until_micros = now_micros + lease_micros;
                    WorkflowResponse::Ok
                }
                None => WorkflowResponse::LeaseLost,
            },
            WorkflowRequest::StartAttempt(request) => self.start_attempt(request, now_micros),
            WorkflowRequest::RecordActivity(request) => self.record_activity(request, now_micros),
            WorkflowRequest::Complete { key, token, error } => self.complete(&key, token, error),
        }
    }

    fn crash(&mut self) {
        // Durable: every request was applied atomically on arrival.
    }
}

/// Ends an attempt of `signal` that was still running when its lease ran out: the lease is
/// its start-to-close timeout, which Temporal counts as a failed attempt. The activity's
/// name and the attempt, if there was one.
fn time_out_running_attempt(signal: &mut Signal, now_micros: u64) -> Option<(String, u32)> {
    let record = signal.history.last_mut()?;
    if record.outcome.is_some() || record.attempts_started == record.attempts_ended {
        return None;
    }
    assert_eq!(record.attempts_started, record.attempts_ended + 1);
    record.attempts_ended = record.attempts_started;
    record.ended_at_micros = now_micros;
    record.last_error = Some(START_TO_CLOSE_TIMEOUT.to_string());
    Some((record.name.clone(), record.attempts_ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_render_for_people() {
        let signal = WorkflowRequest::SignalWithStart {
            key: "org-1".to_string(),
            payload: serde_json::json!({"org": 1}),
        };
        assert_eq!(signal.to_string(), r#"signal-with-start org-1 {"org":1}"#);
        let claim = WorkflowRequest::Claim {
            worker: "worker-0".to_string(),
            lease_micros: 30_000_000,
        };
        assert_eq!(claim.to_string(), "claim for worker-0 lease 30s");
        let record = WorkflowRequest::RecordActivity(RecordActivity {
            key: "org-1".to_string(),
            token: 4,
            seq: 0,
            attempt: 2,
            end: AttemptEnd::Retrying("timeout".to_string()),
        });
        assert_eq!(
            record.to_string(),
            r#"record-activity org-1 token 4 activity 0 attempt 2 retrying "timeout""#
        );
        let claimed = WorkflowResponse::Claimed(Some(Claim {
            key: "org-1".to_string(),
            token: 4,
            signal: Signal {
                id: 7,
                payload: serde_json::json!({"org": 1}),
                starts: 2,
                history: vec![ActivityRecord {
                    name: "charge".to_string(),
                    attempts_started: 1,
                    attempts_ended: 1,
                    ended_at_micros: 1_500_000,
                    last_error: None,
                    outcome: Some(ActivityOutcome::Completed(serde_json::json!(true))),
                }],
            },
        }));
        assert_eq!(
            claimed.to_string(),
            r#"claimed org-1 token 4 signal 7 {"org":1} starts 2 history [charge (started 1, "#
                .to_string()
                + "ended 1 at 1.500000s, no error, completed true)]"
        );
        assert_eq!(WorkflowResponse::LeaseLost.to_string(), "lease lost");
        assert_eq!(Micros(1_500).to_string(), "1500us");
        assert_eq!(Micros(0).to_string(), "0us");
    }
}
