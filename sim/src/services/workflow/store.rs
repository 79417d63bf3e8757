//! `WorkflowStore`: the durable side of a Temporal-like executor. One workflow per key holds a
//! queue of signals; a worker leases the key to run its oldest signal, so a key's signals run
//! one after the other, while different keys run in parallel on different workers.
//!
//! A lease that runs out (its worker crashed, or stalled past it) lets another worker run the
//! same signal again: execution is at least once. A completion under a lease that was lost is
//! refused. Not modelled: workflow histories and replay, timers and child workflows, queries,
//! task queues by name, cancellation.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::service::{Caller, Service};

/// A signal waiting in a workflow's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// Unique per store, in arrival order.
    pub id: u64,
    /// The model's payload.
    pub payload: serde_json::Value,
    /// How many times a worker started it.
    pub starts: u32,
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
    /// Records an activity attempt.
    RecordActivity {
        /// The workflow key.
        key: String,
        /// The signal id.
        signal: u64,
        /// The activity's name.
        name: String,
        /// The attempt number.
        attempt: u32,
        /// Its error, if it failed.
        error: Option<String>,
    },
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
        self.log.push(WorkflowEvent::Started {
            key: key.clone(),
            signal: signal.id,
            worker: worker.to_string(),
            start: signal.starts,
        });
        Some(Claim {
            key: key.clone(),
            token: self.tokens_issued,
            signal: signal.clone(),
        })
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
        self.log.push(WorkflowEvent::Completed {
            key: key.to_string(),
            signal: signal.id,
            error,
        });
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
                workflow.signals.push_back(Signal {
                    id,
                    payload,
                    starts: 0,
                });
                self.log.push(WorkflowEvent::Signaled { key, signal: id });
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
            WorkflowRequest::RecordActivity {
                key,
                signal,
                name,
                attempt,
                error,
            } => {
                self.log.push(WorkflowEvent::Activity {
                    key,
                    signal,
                    name,
                    attempt,
                    error,
                });
                WorkflowResponse::Ok
            }
            WorkflowRequest::Complete { key, token, error } => self.complete(&key, token, error),
        }
    }

    fn crash(&mut self) {
        // Durable: every request was applied atomically on arrival.
    }
}
