//! The worker side: a daemon that claims a key, runs the model's handler for its oldest
//! signal, and completes it; `WorkflowCtx::activity` runs one activity with its retry policy.
//!
//! Backoff follows Temporal's: `backoff_initial * coefficient^(attempt - 1)`, capped at
//! `backoff_max`, no jitter; `attempts_max: None` retries forever (Temporal's default), which
//! is exactly the behaviour a property must be able to catch. Not modelled: non-retryable
//! error types, activity timeouts other than the lease, heartbeat details.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{WorkflowRequest, WorkflowResponse, WorkflowStore};
use super::WorkerConfig;
use crate::ctx::Ctx;
use crate::service::ServiceRef;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;
pub(crate) type Handler =
    Arc<dyn Fn(WorkflowCtx, String, serde_json::Value) -> HandlerFuture + Send + Sync>;

/// An activity's retry policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts before giving up; None retries forever.
    pub attempts_max: Option<u32>,
    /// Wait before the second attempt.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Each wait is this many times the previous one.
    pub backoff_coefficient: u32,
    /// The wait never grows past this.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// Temporal's default: 1 s, doubling, capped at 100 s, forever.
    pub fn forever() -> Self {
        RetryPolicy {
            attempts_max: None,
            backoff_initial: Duration::from_secs(1),
            backoff_coefficient: 2,
            backoff_max: Duration::from_secs(100),
        }
    }

    /// The default backoff, at most `attempts_max` attempts.
    pub fn attempts(attempts_max: u32) -> Self {
        RetryPolicy {
            attempts_max: Some(attempts_max),
            ..RetryPolicy::forever()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = self
            .backoff_coefficient
            .saturating_pow(attempt.saturating_sub(1));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Why an activity gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivityError {
    /// Every allowed attempt failed; the last error.
    Exhausted(String),
    /// The worker lost the key's lease: another worker runs this signal now.
    LeaseLost,
}

impl std::fmt::Display for ActivityError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivityError::Exhausted(error) => write!(formatter, "attempts exhausted: {error}"),
            ActivityError::LeaseLost => formatter.write_str("the workflow's lease was lost"),
        }
    }
}

/// What a workflow handler gets: the worker's `Ctx` and the running signal's lease.
#[derive(Clone)]
pub struct WorkflowCtx {
    /// The worker process's context.
    pub ctx: Ctx,
    store: ServiceRef<WorkflowStore>,
    config: WorkerConfig,
    key: String,
    signal: u64,
    token: u64,
}

impl WorkflowCtx {
    /// The id of the running signal.
    pub fn signal_id(&self) -> u64 {
        self.signal
    }

    /// Runs `activity` until it succeeds or `policy` gives up, renewing the lease before each
    /// attempt and recording each attempt in the store.
    pub async fn activity<T, F, Fut>(
        &self,
        name: &str,
        policy: &RetryPolicy,
        mut activity: F,
    ) -> Result<T, ActivityError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.renew(self.config.lease).await?;
            let result = activity().await;
            let error = result.as_ref().err().cloned();
            self.record(name, attempt, error.clone()).await;
            match (result, error) {
                (Ok(value), _) => return Ok(value),
                (Err(_), Some(error)) if policy.attempts_max.is_some_and(|max| attempt >= max) => {
                    return Err(ActivityError::Exhausted(error));
                }
                _ => {
                    // The worker keeps the key through the backoff, as the server keeps an
                    // activity's retries to itself: the lease covers the wait.
                    let backoff = policy.backoff(attempt);
                    self.renew(backoff + self.config.lease).await?;
                    self.ctx.sleep(backoff).await;
                }
            }
        }
    }

    async fn renew(&self, lease: Duration) -> Result<(), ActivityError> {
        let request = WorkflowRequest::Renew {
            key: self.key.clone(),
            token: self.token,
            lease_micros: micros(lease),
        };
        match self.ctx.call(&self.store, request).await {
            Ok(WorkflowResponse::LeaseLost) => Err(ActivityError::LeaseLost),
            // A lost call keeps the lease as it was; the attempt goes ahead.
            _ => Ok(()),
        }
    }

    async fn record(&self, name: &str, attempt: u32, error: Option<String>) {
        let request = WorkflowRequest::RecordActivity {
            key: self.key.clone(),
            signal: self.signal,
            name: name.to_string(),
            attempt,
            error,
        };
        // The record is ground truth for properties; a lost one is a lost log line, as a
        // worker that crashes before reporting would lose it.
        let _ = self.ctx.call(&self.store, request).await;
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The worker daemon.
pub(crate) async fn serve(
    ctx: Ctx,
    store: ServiceRef<WorkflowStore>,
    config: WorkerConfig,
    handler: Handler,
) {
    loop {
        let request = WorkflowRequest::Claim {
            worker: ctx.node().to_string(),
            lease_micros: micros(config.lease),
        };
        let Ok(WorkflowResponse::Claimed(Some(claim))) = ctx.call(&store, request).await else {
            ctx.sleep(config.poll_interval).await;
            continue;
        };
        let workflow = WorkflowCtx {
            ctx: ctx.clone(),
            store: store.clone(),
            config: config.clone(),
            key: claim.key.clone(),
            signal: claim.signal.id,
            token: claim.token,
        };
        let outcome = handler(workflow, claim.key.clone(), claim.signal.payload).await;
        let request = WorkflowRequest::Complete {
            key: claim.key,
            token: claim.token,
            error: outcome.err(),
        };
        // A lost completion leaves the lease to run out; the signal then runs again.
        let _ = ctx.call(&store, request).await;
    }
}
