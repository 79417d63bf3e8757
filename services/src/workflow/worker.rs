//! The worker side: a daemon that claims a key, runs the model's handler for its oldest
//! signal, and completes it; `WorkflowCtx::activity` runs one activity with its retry policy.
//!
//! Activities replay from the signal's history as Temporal's do: a completed activity's
//! result comes from the history, and an unfinished one carries on its attempt count. Backoff
//! follows Temporal's: `backoff_initial * coefficient^(attempt - 1)`, capped at
//! `backoff_max`, no jitter, timed from the attempt's end; `attempts_max: None` retries
//! forever (Temporal's default), which is exactly the behaviour a property must be able to
//! catch. A failure whose type the policy lists as non-retryable, or that is flagged so, ends
//! the activity at once. Not modelled: activity timeouts other than the lease
//! (which is the start-to-close timeout), heartbeat details, activities run on another worker
//! than the workflow code.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use std::cell::Cell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::store::{
    ActivityOutcome, ActivityRecord, AttemptEnd, RecordActivity, StartAttempt, WorkflowRequest,
    WorkflowResponse, WorkflowStore,
};
use super::WorkerConfig;
use syncsim_sim::ctx::Ctx;
use syncsim_sim::service::ServiceRef;

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
    /// Error types that fail the activity at once, whatever the attempts left (Temporal's
    /// `NonRetryableErrorTypes`, matched against `ActivityFailure::error_type`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable_error_types: Vec<String>,
}

/// How an activity attempt failed: Temporal's `ApplicationError`, a type, a message and a
/// non-retryable flag. A plain `String` error converts with type `GENERIC_ERROR_TYPE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityFailure {
    /// The error's type, which a policy's `non_retryable_error_types` lists.
    pub error_type: String,
    /// What went wrong.
    pub message: String,
    /// Fails the activity at once, whatever the policy says.
    pub non_retryable: bool,
}

/// The type of an activity error given as a plain `String` (the SDKs use the language's type
/// name of an error that is not an `ApplicationError`).
pub const GENERIC_ERROR_TYPE: &str = "String";

impl ActivityFailure {
    /// A retryable failure of type `error_type`.
    pub fn new(error_type: &str, message: impl Into<String>) -> Self {
        ActivityFailure {
            error_type: error_type.to_string(),
            message: message.into(),
            non_retryable: false,
        }
    }

    /// A failure no retry can fix, whatever the policy.
    pub fn non_retryable(error_type: &str, message: impl Into<String>) -> Self {
        ActivityFailure {
            non_retryable: true,
            ..ActivityFailure::new(error_type, message)
        }
    }

    /// Whether `policy` allows no retry after it.
    fn ends_retries(&self, policy: &RetryPolicy) -> bool {
        self.non_retryable || policy.non_retryable_error_types.contains(&self.error_type)
    }

    /// As recorded: the plain message for a plain error, else prefixed by the type.
    fn recorded(&self) -> String {
        if self.error_type == GENERIC_ERROR_TYPE {
            self.message.clone()
        } else {
            format!("{}: {}", self.error_type, self.message)
        }
    }
}

impl From<String> for ActivityFailure {
    fn from(message: String) -> Self {
        ActivityFailure::new(GENERIC_ERROR_TYPE, message)
    }
}

impl RetryPolicy {
    /// Temporal's default: 1 s, doubling, capped at 100 s, forever.
    pub fn forever() -> Self {
        RetryPolicy {
            attempts_max: None,
            backoff_initial: Duration::from_secs(1),
            backoff_coefficient: 2,
            backoff_max: Duration::from_secs(100),
            non_retryable_error_types: Vec::new(),
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
    /// An attempt failed with a non-retryable error; `type: message`.
    NonRetryable(String),
    /// The worker lost the key's lease: another worker runs this signal now.
    LeaseLost,
}

impl std::fmt::Display for ActivityError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivityError::Exhausted(error) => write!(formatter, "attempts exhausted: {error}"),
            ActivityError::NonRetryable(error) => write!(formatter, "non-retryable: {error}"),
            ActivityError::LeaseLost => formatter.write_str("the workflow's lease was lost"),
        }
    }
}

/// What a workflow handler gets: the worker's `Ctx`, the running signal's lease, and the
/// history its activities replay from.
#[derive(Clone)]
pub struct WorkflowCtx {
    /// The worker process's context.
    pub ctx: Ctx,
    store: ServiceRef<WorkflowStore>,
    config: WorkerConfig,
    key: String,
    signal: u64,
    token: u64,
    /// The signal's activities as the store held them at the claim.
    history: Rc<Vec<ActivityRecord>>,
    /// The next activity's place in the handler's order: a replay matches activities to the
    /// history by it, as Temporal matches commands to events.
    next_seq: Rc<Cell<usize>>,
}

/// Where an activity resumes: the attempts its history already ended, and the last error.
struct Resume {
    attempts_ended: u32,
    last_error: Option<String>,
    ended_at_micros: u64,
}

impl WorkflowCtx {
    /// The id of the running signal.
    pub fn signal_id(&self) -> u64 {
        self.signal
    }

    /// Runs `activity` until it succeeds or `policy` gives up, recording each attempt's start
    /// (which renews the lease) and end in the signal's history. A replay after a lost lease
    /// returns a completed activity's recorded result without running it, and carries on an
    /// unfinished one's attempt count (an attempt the lease outlived counts as timed out).
    pub async fn activity<T, E, F, Fut>(
        &self,
        name: &str,
        policy: &RetryPolicy,
        mut activity: F,
    ) -> Result<T, ActivityError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<ActivityFailure>,
    {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let resume = match self.replay(seq, name) {
            Replayed::Closed(outcome) => return closed_outcome(outcome),
            Replayed::Open(resume) => resume,
        };
        let mut attempt = resume.attempts_ended;
        if attempt > 0 {
            let error = resume.last_error.unwrap_or_default();
            if policy.attempts_max.is_some_and(|max| attempt >= max) {
                return Err(ActivityError::Exhausted(error));
            }
            // The retry timer runs from the attempt's end, as the server's does.
            let retry_at_micros = resume.ended_at_micros + micros(policy.backoff(attempt));
            let wait_micros = retry_at_micros.saturating_sub(self.ctx.now().as_micros());
            self.backoff(Duration::from_micros(wait_micros)).await?;
        }
        loop {
            attempt += 1;
            self.start_attempt(seq, name, attempt).await?;
            // The activity's return, once no attempt follows.
            let (end, returned) = match activity().await.map_err(Into::into) {
                Ok(value) => {
                    let json = serde_json::to_value(&value).expect("a result serializes");
                    let end = AttemptEnd::Closed(ActivityOutcome::Completed(json));
                    (end, Some(Ok(value)))
                }
                Err(failure) => failed_attempt(&failure, policy, attempt),
            };
            self.record(seq, attempt, end).await?;
            if let Some(returned) = returned {
                return returned;
            }
            self.backoff(policy.backoff(attempt)).await?;
        }
    }

    /// What the history holds for activity `seq`; asserts it is the same activity.
    fn replay(&self, seq: usize, name: &str) -> Replayed {
        let Some(record) = self.history.get(seq) else {
            return Replayed::Open(Resume {
                attempts_ended: 0,
                last_error: None,
                ended_at_micros: 0,
            });
        };
        // Temporal fails a replay whose code schedules another activity than the history.
        assert_eq!(
            record.name, name,
            "nondeterministic handler at activity {seq}"
        );
        match &record.outcome {
            Some(outcome) => Replayed::Closed(outcome.clone()),
            None => Replayed::Open(Resume {
                attempts_ended: record.attempts_ended,
                last_error: record.last_error.clone(),
                ended_at_micros: record.ended_at_micros,
            }),
        }
    }

    /// Waits `backoff` before the next attempt, the lease covering the wait: the server keeps
    /// an activity's retries to itself.
    async fn backoff(&self, backoff: Duration) -> Result<(), ActivityError> {
        self.renew(backoff + self.config.lease).await?;
        self.ctx.sleep(backoff).await;
        Ok(())
    }

    async fn renew(&self, lease: Duration) -> Result<(), ActivityError> {
        let request = WorkflowRequest::Renew {
            key: self.key.clone(),
            token: self.token,
            lease_micros: micros(lease),
        };
        match self.ctx.call(&self.store, request).await {
            Ok(WorkflowResponse::LeaseLost) => Err(ActivityError::LeaseLost),
            // A lost heartbeat keeps the lease as it was.
            _ => Ok(()),
        }
    }

    async fn start_attempt(
        &self,
        seq: usize,
        name: &str,
        attempt: u32,
    ) -> Result<(), ActivityError> {
        let request = WorkflowRequest::StartAttempt(StartAttempt {
            key: self.key.clone(),
            token: self.token,
            seq,
            name: name.to_string(),
            attempt,
            lease_micros: micros(self.config.lease),
        });
        self.until_answered(request).await
    }

    async fn record(&self, seq: usize, attempt: u32, end: AttemptEnd) -> Result<(), ActivityError> {
        let request = WorkflowRequest::RecordActivity(RecordActivity {
            key: self.key.clone(),
            token: self.token,
            seq,
            attempt,
            end,
        });
        self.until_answered(request).await
    }

    /// Sends an idempotent history request until the store answers: an attempt runs only once
    /// its start is durable, and its result counts only once recorded, as an activity task
    /// does. A lease lost meanwhile ends the wait.
    async fn until_answered(&self, request: WorkflowRequest) -> Result<(), ActivityError> {
        loop {
            match self.ctx.call(&self.store, request.clone()).await {
                Ok(WorkflowResponse::LeaseLost) => return Err(ActivityError::LeaseLost),
                Ok(_) => return Ok(()),
                Err(_) => self.ctx.sleep(self.config.poll_interval).await,
            }
        }
    }
}

/// What a replay found for one activity.
enum Replayed {
    /// Closed: its recorded result or failure.
    Closed(ActivityOutcome),
    /// Still open: where its attempts resume.
    Open(Resume),
}

/// How a failed attempt ends the activity under `policy`: retried, non-retryable, or
/// exhausted (then the handler's error).
fn failed_attempt<T>(
    failure: &ActivityFailure,
    policy: &RetryPolicy,
    attempt: u32,
) -> (AttemptEnd, Option<Result<T, ActivityError>>) {
    let error = failure.recorded();
    let non_retryable = failure.ends_retries(policy);
    let exhausted = policy.attempts_max.is_some_and(|max| attempt >= max);
    if !(non_retryable || exhausted) {
        return (AttemptEnd::Retrying(error), None);
    }
    let returned = if non_retryable {
        ActivityError::NonRetryable(error.clone())
    } else {
        ActivityError::Exhausted(error.clone())
    };
    let outcome = ActivityOutcome::Failed {
        error,
        non_retryable,
    };
    (AttemptEnd::Closed(outcome), Some(Err(returned)))
}

/// A closed activity's recorded outcome, as the handler gets it.
fn closed_outcome<T: DeserializeOwned>(outcome: ActivityOutcome) -> Result<T, ActivityError> {
    match outcome {
        ActivityOutcome::Completed(json) => {
            Ok(serde_json::from_value(json).expect("a recorded result deserializes"))
        }
        ActivityOutcome::Failed {
            error,
            non_retryable: true,
        } => Err(ActivityError::NonRetryable(error)),
        ActivityOutcome::Failed { error, .. } => Err(ActivityError::Exhausted(error)),
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
            history: Rc::new(claim.signal.history),
            next_seq: Rc::new(Cell::new(0)),
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
