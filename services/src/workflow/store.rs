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

use serde::Serialize;

use syncsim_sim::service::{Caller, Service};

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
