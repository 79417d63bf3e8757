//! A workflow executor (Temporal-like): work for one key (an org id, a journey id) runs
//! serially, signal by signal, on whichever worker holds the key's lease; activities retry by
//! their policy, including forever.
//!
//! ```text
//!  process ── signal_with_start(key, payload) ──▶ WorkflowStore (node "temporal")
//!                                                   │ one queue per key
//!  worker daemon ── Claim (lease) ◀─────────────────┘
//!     │ runs the model's handler(WorkflowCtx, key, payload)
//!     │    └─ wf.activity(name, policy, || async { ... }) retries with backoff;
//!     │       StartAttempt (renews the lease) and RecordActivity write the signal's history
//!     └─ Complete (refused if the lease was lost: another worker replays it)
//! ```
//!
//! A worker that claims a signal after a lost lease runs the handler from the top against the
//! history, as Temporal replays a workflow: completed activities return their recorded
//! results, an unfinished one resumes its attempt count. Not modelled: timers, child
//! workflows, queries, cancellation, task-queue routing, workflow code's own side effects
//! outside activities (they repeat on a replay, as in Temporal).

mod store;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use store::{
    ActivityOutcome, ActivityRecord, AttemptEnd, Claim, RecordActivity, Signal, StartAttempt,
    WorkflowEvent, WorkflowRequest, WorkflowResponse, WorkflowStore, START_TO_CLOSE_TIMEOUT,
};
pub use worker::{ActivityError, ActivityFailure, RetryPolicy, WorkflowCtx, GENERIC_ERROR_TYPE};

use syncsim_sim::ctx::{CallError, Ctx};
use syncsim_sim::service::ServiceRef;
use syncsim_sim::world::{NodeBuilder, WorldBuilder};

/// How workers lease and poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// How long a claimed key stays leased without a renewal (activities renew it).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How long an idle worker waits before claiming again.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(10),
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// A handle to the workflow service: processes signal through it; workers serve it.
#[derive(Clone, Debug)]
pub struct Workflows {
    store: ServiceRef<WorkflowStore>,
}

impl Workflows {
    /// Appends `payload` to the workflow of `key`, starting it if needed (one round trip).
    pub async fn signal_with_start(
        &self,
        ctx: &Ctx,
        key: &str,
        payload: serde_json::Value,
    ) -> Result<u64, CallError> {
        let request = WorkflowRequest::SignalWithStart {
            key: key.to_string(),
            payload,
        };
        match ctx.call(&self.store, request).await? {
            WorkflowResponse::Signaled(id) => Ok(id),
            other => unreachable!("a signal answers Signaled, got {other:?}"),
        }
    }

    /// Makes `node` a worker: a daemon claims keys and runs `handler` for each signal.
    pub fn worker<'a, F, Fut>(
        &self,
        node: NodeBuilder<'a>,
        config: WorkerConfig,
        handler: F,
    ) -> NodeBuilder<'a>
    where
        F: Fn(WorkflowCtx, String, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + 'static,
    {
        let handler: worker::Handler =
            Arc::new(move |wf, key, payload| Box::pin(handler(wf, key, payload)));
        let store = self.store.clone();
        node.daemon("workflows", move |ctx| {
            worker::serve(ctx, store.clone(), config.clone(), handler.clone())
        })
    }
}

/// Declares the workflow service in a world.
pub trait WorkflowWorld {
    /// Registers the workflow service on its own node `name`.
    fn workflows(&mut self, name: &str) -> Workflows;
}

impl WorkflowWorld for WorldBuilder {
    fn workflows(&mut self, name: &str) -> Workflows {
        Workflows {
            store: self.service(name, WorkflowStore::default()),
        }
    }
}
