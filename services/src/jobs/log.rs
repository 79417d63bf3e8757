//! `JobsLog`: ground truth of the job queue, recorded by the harness's worker code at the
//! moment things happen (never read back from the model): every attempt a worker started,
//! and how each attempt ended. Jobs themselves are rows of `good_jobs` in the simulated
//! Postgres; `JobsLog::jobs` reads the committed ones from the server.
//!
//! An attempt without an end is one whose worker crashed (or whose outcome never got
//! written before the run ended); `abandoned_at` says when its worker's task died. Not
//! recorded: what a handler did inside its attempt; models
//! keep their own effects in their own tables.

use std::time::Duration;

use serde::Serialize;

use super::policy::{Decision, CONCURRENCY_EXCEEDED};
use crate::pg::{PgServer, Value};
use syncsim_sim::time::VirtualTime;

/// One attempt of one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The job's id (`good_jobs.id`).
    pub job: i64,
    /// The job kind (ActiveJob's class).
    pub kind: String,
    /// The job's concurrency key.
    pub concurrency_key: Option<String>,
    /// ActiveJob's `executions` for this attempt: 1 for the first; an attempt cut short by a
    /// crash does not raise it, so the re-run has the same number.
    pub execution: u32,
    /// Which claim of the row this is (1 for the first; grows on every claim).
    pub claim: u32,
    /// The worker node.
    pub worker: String,
    /// When the worker claimed it.
    pub started: VirtualTime,
    /// When its worker's task died mid-attempt (a crash of the node, or the run's end); None
    /// while it runs or once it ended.
    pub abandoned_at: Option<VirtualTime>,
    /// How it ended; None while running or when the worker crashed.
    pub end: Option<End>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct End {
    /// When the handler returned.
    pub at: VirtualTime,
    /// The handler's error: (kind, message).
    pub error: Option<(String, String)>,
    /// What the policy decided (None on success).
    pub decision: Option<Decision>,
}

/// A committed job row, as the server holds it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobRow {
    /// `id`.
    pub id: i64,
    /// `queue_name`.
    pub queue: String,
    /// `job_class`.
    pub kind: String,
    /// `serialized_params`.
    pub args: serde_json::Value,
    /// `concurrency_key`.
    pub concurrency_key: Option<String>,
    /// `executions`: ActiveJob's count of ended executions.
    pub executions: i64,
    /// `outcome`: `succeeded`, `failed`, `discarded`, or None while queued or running.
    pub outcome: Option<String>,
    /// `error`: the last error, `Kind: message`.
    pub error: Option<String>,
    /// `cron_key`, for jobs enqueued by a cron entry.
    pub cron_key: Option<String>,
    /// `cron_at_micros`: the tick that enqueued it.
    pub cron_at_micros: Option<i64>,
}

/// The ground-truth log of the job queue.
#[derive(Clone, Debug, Default)]
pub struct JobsLog {
    attempts: Vec<Attempt>,
}

impl JobsLog {
    /// Every attempt, in start order.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The attempts of job `job`, in start order.
    pub fn attempts_of(&self, job: i64) -> Vec<&Attempt> {
        self.attempts
            .iter()
            .filter(|attempt| attempt.job == job)
            .collect()
    }

    /// Attempts that never ended: their worker crashed mid-job (or the run ended first).
    pub fn abandoned(&self) -> Vec<&Attempt> {
        self.attempts
            .iter()
            .filter(|attempt| attempt.end.is_none())
            .collect()
    }

    /// Pairs of attempts with the same concurrency key whose running times overlap. An
    /// attempt runs from its start to its end, or to its abandonment (forever while its
    /// worker still holds it). An execution that raised `ConcurrencyExceededError` ran no
    /// handler and counts for nothing.
    pub fn overlapping_keys(&self) -> Vec<(&Attempt, &Attempt)> {
        self.overlapping_keys_since(0)
    }

    /// The pairs of [`Self::overlapping_keys`] whose later attempt is at position `since` or
    /// after in the log. Attempts are logged as they start, and each is compared with those
    /// before it as they stand at the check: an earlier attempt either ended before the
    /// later one started (no overlap, ever) or had not (an overlap already), so a check run
    /// after every change that keeps its position finds each overlap when a full rescan
    /// would, comparing each pair once.
    pub fn overlapping_keys_since(&self, since: usize) -> Vec<(&Attempt, &Attempt)> {
        assert!(since <= self.attempts.len(), "the attempt log shrank");
        let mut pairs = Vec::new();
        for (later, second) in self.attempts.iter().enumerate().skip(since) {
            if second.concurrency_key.is_none() || !ran(second) {
                continue;
            }
            for (earlier, first) in self.attempts[..later].iter().enumerate() {
                let same_key = first.concurrency_key == second.concurrency_key;
                let overlap = second.started < until(first) && first.started < until(second);
                if same_key && ran(first) && overlap {
                    pairs.push((earlier, later));
                }
            }
        }
        // In the order of the earlier attempt, as a reader lists them.
        pairs.sort_unstable();
        let attempt = |index: usize| &self.attempts[index];
        pairs
            .into_iter()
            .map(|(earlier, later)| (attempt(earlier), attempt(later)))
            .collect()
    }

    /// The gaps between consecutive attempt starts of job `job`.
    pub fn gaps_of(&self, job: i64) -> Vec<Duration> {
        let starts: Vec<VirtualTime> = self
            .attempts_of(job)
            .iter()
            .map(|attempt| attempt.started)
            .collect();
        starts
            .windows(2)
            .map(|pair| pair[1].0 - pair[0].0)
            .collect()
    }

    /// Every committed job row on `server`, in id order.
    pub fn jobs(server: &PgServer) -> Vec<JobRow> {
        let mut rows: Vec<JobRow> = server
            .table_snapshot("good_jobs")
            .iter()
            .map(|row| job_row(row))
            .collect();
        rows.sort_by_key(|row| row.id);
        rows
    }

    /// Logs an attempt as it starts: the log is in start order, which the incremental
    /// overlap check relies on.
    pub(crate) fn start(&mut self, attempt: Attempt) {
        let last_started = self.attempts.last().map(|last| last.started);
        assert!(
            last_started.is_none_or(|last| last <= attempt.started),
            "attempts are logged as they start: {} after {last_started:?}",
            attempt.started
        );
        self.attempts.push(attempt);
    }

    pub(crate) fn abandon(&mut self, job: i64, claim: u32, at: VirtualTime) {
        let attempt = self
            .attempts
            .iter_mut()
            .rev()
            .find(|attempt| attempt.job == job && attempt.claim == claim)
            .expect("an attempt is abandoned after it started");
        assert!(attempt.end.is_none(), "an ended attempt is not abandoned");
        attempt.abandoned_at = Some(at);
    }

    pub(crate) fn end(&mut self, job: i64, claim: u32, end: End) {
        let attempt = self
            .attempts
            .iter_mut()
            .rev()
            .find(|attempt| attempt.job == job && attempt.claim == claim)
            .expect("an attempt ends after it started");
        assert!(attempt.end.is_none(), "an attempt ends once");
        attempt.end = Some(end);
    }
}

/// Reads a `good_jobs` row by the column order of `super::SCHEMA`.
fn job_row(row: &[Value]) -> JobRow {
    let text = |index: usize| match &row[index] {
        Value::Null => None,
        value => Some(value.to_pg_text()),
    };
    let int_or_null = |index: usize| match &row[index] {
        Value::Int8(number) => Some(*number),
        Value::Int4(number) => Some(i64::from(*number)),
        Value::Null => None,
        other => panic!("good_jobs column {index} is not an integer: {other:?}"),
    };
    let int = |index: usize| int_or_null(index).unwrap_or_default();
    JobRow {
        id: int(0),
        queue: text(1).unwrap_or_default(),
        kind: text(2).unwrap_or_default(),
        args: match &row[3] {
            Value::Jsonb(json) => json.clone(),
            _ => serde_json::Value::Null,
        },
        concurrency_key: text(4),
        executions: int(6),
        outcome: text(10),
        error: text(11),
        cron_key: text(12),
        cron_at_micros: int_or_null(13),
    }
}

/// When an attempt stopped running: its end, its abandonment, or never yet.
fn until(attempt: &Attempt) -> VirtualTime {
    attempt.end.as_ref().map_or_else(
        || attempt.abandoned_at.unwrap_or(VirtualTime(Duration::MAX)),
        |end| end.at,
    )
}

/// Whether an attempt ran its handler: one that raised `ConcurrencyExceededError` did not.
fn ran(attempt: &Attempt) -> bool {
    attempt.end.as_ref().is_none_or(|end| {
        end.error
            .as_ref()
            .is_none_or(|(kind, _)| kind != CONCURRENCY_EXCEEDED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(job: i64, key: Option<&str>, start_ms: u64, end_ms: Option<u64>) -> Attempt {
        let at = |millis| VirtualTime(Duration::from_millis(millis));
        Attempt {
            job,
            kind: "K".to_string(),
            concurrency_key: key.map(str::to_string),
            execution: 1,
            claim: 1,
            worker: "w".to_string(),
            started: at(start_ms),
            abandoned_at: end_ms.is_none().then(|| at(start_ms + 1_000)),
            end: end_ms.map(|millis| End {
                at: at(millis),
                error: None,
                decision: None,
            }),
        }
    }

    #[test]
    #[should_panic(expected = "an attempt ends once")]
    fn an_attempt_that_ends_twice_is_a_harness_bug() {
        let mut log = JobsLog::default();
        log.start(attempt(1, None, 0, Some(10)));
        let end = || End {
            at: VirtualTime(Duration::from_millis(20)),
            error: None,
            decision: None,
        };
        log.end(1, 1, end());
    }

    #[test]
    #[should_panic(expected = "attempts are logged as they start")]
    fn an_attempt_logged_out_of_start_order_is_a_harness_bug() {
        let mut log = JobsLog::default();
        log.start(attempt(1, Some("a"), 10, Some(20)));
        log.start(attempt(2, Some("a"), 5, Some(20)));
    }

    #[test]
    fn overlaps_count_an_abandoned_attempt_as_running_until_its_worker_died() {
        let mut log = JobsLog::default();
        log.start(attempt(1, Some("a"), 0, None)); // crashed: runs until 1000 ms
        log.start(attempt(2, Some("a"), 1_000, Some(1_500))); // starts as its worker died
        log.start(attempt(3, Some("b"), 1_200, Some(1_300))); // another key
        log.start(attempt(4, None, 1_200, Some(1_300))); // no key
        assert!(log.overlapping_keys().is_empty());
        log.start(attempt(5, Some("a"), 1_499, Some(1_600))); // overlaps job 2
        let pairs: Vec<(i64, i64)> = log
            .overlapping_keys()
            .iter()
            .map(|(first, second)| (first.job, second.job))
            .collect();
        assert_eq!(pairs, vec![(2, 5)]);
        let since = |from| -> Vec<(i64, i64)> {
            let pairs = log.overlapping_keys_since(from);
            pairs.iter().map(|(a, b)| (a.job, b.job)).collect()
        };
        assert_eq!(
            since(4),
            vec![(2, 5)],
            "found when the later attempt arrives"
        );
        assert_eq!(since(5), Vec::new(), "and not again after it");
        assert_eq!(log.abandoned().len(), 1);
        assert_eq!(log.gaps_of(1), Vec::<Duration>::new());
    }
}
