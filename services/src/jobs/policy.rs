//! A job kind's retry policy, as ActiveJob declares it with `retry_on` and `discard_on`, and
//! the wait before the next attempt with ActiveJob's formulas.
//!
//! Rules are checked last declared first, as `rescue_from` handlers are: the last rule that
//! names the error's kind decides. An error no rule names fails the job at once (GoodJob's
//! default `retry_on_unhandled_error = false`). Before every declared rule sits GoodJob's own
//! `retry_on ConcurrencyExceededError, attempts: Float::INFINITY, wait: :polynomially_longer`
//! (declared when its concurrency extension is included, so a job's own rules come after it).
//! Attempts and waits count ActiveJob's `exception_executions` of the matching `retry_on`
//! declaration (Rails `executions_for`: a counter per declaration, keyed by its list of
//! exception classes, raised each time that declaration handles an error), not the job's
//! overall `executions`. Waits, after the `n`-th execution the rule handled:
//! `:polynomially_longer` is `n^4 + 2` seconds plus a jitter of up to
//! `n^4 * jitter` seconds; a fixed wait `d` is `d` plus up to `d * jitter`. The jitter
//! fraction is drawn from the worker node's seeded stream, uniform in `[0, max)` microseconds,
//! as `Kernel.rand` is uniform in `[0, 1)`. Not modelled: error class hierarchies (a kind
//! matches by name only), `retry_on` blocks, `:exponentially_longer`, wait procs, `after_discard`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use syncsim_sim::prng::{Prng, Ratio};
use syncsim_sim::time::VirtualTime;

/// The error a claimed job raises when its concurrency key already has `perform_limit` jobs
/// running (GoodJob's `GoodJob::ActiveJobExtensions::Concurrency::ConcurrencyExceededError`).
pub const CONCURRENCY_EXCEEDED: &str = "ConcurrencyExceededError";

/// ActiveJob's `exception_executions`: per `retry_on` declaration (keyed as Rails keys it,
/// by its exception list, `[Kind]`), how many executions it handled. Saved with the job when
/// it is retried, so an execution cut short by a crash does not count.
pub type ExceptionExecutions = BTreeMap<String, u32>;

/// How long to wait before the next attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    /// ActiveJob's `:polynomially_longer`: `executions^4 + 2` seconds, plus jitter.
    PolynomiallyLonger,
    /// A fixed wait, plus jitter.
    #[serde(with = "humantime_serde")]
    Fixed(Duration),
}

/// One `retry_on` or `discard_on` declaration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// `retry_on error_kind, wait:, attempts:`: retry until this declaration handled
    /// `attempts` executions.
    RetryOn {
        /// The error kind it handles.
        error_kind: String,
        /// The wait before each retry.
        wait: Wait,
        /// Executions this declaration handles, before the job fails (`u32::MAX`: unlimited).
        attempts: u32,
    },
    /// `discard_on error_kind`: the job ends as discarded, never retried.
    DiscardOn {
        /// The error kind it handles.
        error_kind: String,
    },
}

/// The retry declarations of one job kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// `retry_on` and `discard_on` declarations, in declaration order.
    pub rules: Vec<Rule>,
    /// ActiveJob's `retry_jitter` (default 15/100).
    pub jitter: Ratio,
}

/// What happens to a job after a failed execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Decision {
    /// Run it again after `wait`.
    Retry {
        /// The drawn wait, jitter included.
        #[serde(with = "humantime_serde")]
        wait: Duration,
    },
    /// End it as discarded (`discard_on`).
    Discard,
    /// End it as failed: attempts exhausted, or an error no rule handles.
    Fail,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Retry { wait } => write!(formatter, "retry in {}", VirtualTime(*wait)),
            Decision::Discard => formatter.write_str("discard"),
            Decision::Fail => formatter.write_str("fail"),
        }
    }
}

impl Default for RetryPolicy {
    /// No rule (every error fails the job) and ActiveJob's default jitter.
    fn default() -> Self {
        RetryPolicy {
            rules: Vec::new(),
            jitter: Ratio::new(15, 100),
        }
    }
}

impl RetryPolicy {
    /// Adds `retry_on error_kind, wait:, attempts:`.
    pub fn retry_on(mut self, error_kind: &str, wait: Wait, attempts: u32) -> Self {
        self.rules.push(Rule::RetryOn {
            error_kind: error_kind.to_string(),
            wait,
            attempts,
        });
        self
    }

    /// Adds `discard_on error_kind`.
    pub fn discard_on(mut self, error_kind: &str) -> Self {
        self.rules.push(Rule::DiscardOn {
            error_kind: error_kind.to_string(),
        });
        self
    }

    /// The rule that handles `error_kind`: the last declared that names it, else GoodJob's
    /// built-in `retry_on ConcurrencyExceededError`, else none.
    pub fn rule_for(&self, error_kind: &str) -> Option<Rule> {
        let declared = self.rules.iter().rev().find(|rule| match rule {
            Rule::RetryOn {
                error_kind: kind, ..
            }
            | Rule::DiscardOn { error_kind: kind } => kind == error_kind,
        });
        declared.cloned().or_else(|| {
            (error_kind == CONCURRENCY_EXCEEDED).then(|| Rule::RetryOn {
                error_kind: CONCURRENCY_EXCEEDED.to_string(),
                wait: Wait::PolynomiallyLonger,
                attempts: u32::MAX,
            })
        })
    }

    /// What to do after an execution failed with `error_kind`, given the job's
    /// `exception_executions` before it: raises the matching `retry_on` declaration's counter
    /// (Rails `executions_for`) and decides by it. Returns the decision and the counter used.
    pub fn decide_counted(
        &self,
        error_kind: &str,
        counters: &mut ExceptionExecutions,
        prng: &mut Prng,
    ) -> (Decision, Option<u32>) {
        let Some(Rule::RetryOn { .. }) = self.rule_for(error_kind) else {
            return (self.decide(error_kind, 0, prng), None);
        };
        let counter = counters.entry(counter_key(error_kind)).or_insert(0);
        *counter = counter.saturating_add(1);
        let count = *counter;
        (self.decide(error_kind, count, prng), Some(count))
    }

    /// What to do after an execution failed with `error_kind`, when the matching `retry_on`
    /// declaration has now handled `executions` executions (1 for the first).
    pub fn decide(&self, error_kind: &str, executions: u32, prng: &mut Prng) -> Decision {
        match self.rule_for(error_kind) {
            Some(Rule::RetryOn { wait, attempts, .. }) if executions < attempts => {
                let (base, jitter_max) = wait_bounds(&wait, executions, self.jitter);
                Decision::Retry {
                    wait: base + draw_below(jitter_max, prng),
                }
            }
            Some(Rule::DiscardOn { .. }) => Decision::Discard,
            Some(Rule::RetryOn { .. }) | None => Decision::Fail,
        }
    }
}

/// The `exception_executions` key of the `retry_on` declaration of `error_kind`: Rails keys
/// it by the declaration's exception list, `[Kind]`.
pub fn counter_key(error_kind: &str) -> String {
    format!("[{error_kind}]")
}

/// The wait after execution `executions` without its jitter, and the jitter's exclusive
/// upper bound: the wait lies in `[base, base + jitter_max)` (exactly `base` when no jitter).
pub fn wait_bounds(wait: &Wait, executions: u32, jitter: Ratio) -> (Duration, Duration) {
    let (grows, fixed) = match wait {
        Wait::PolynomiallyLonger => {
            let seconds = u64::from(executions).saturating_pow(4);
            (Duration::from_secs(seconds), Duration::from_secs(2))
        }
        Wait::Fixed(duration) => (*duration, Duration::ZERO),
    };
    let grows_micros = u64::try_from(grows.as_micros()).unwrap_or(u64::MAX);
    let jitter_micros =
        grows_micros.saturating_mul(u64::from(jitter.numerator)) / u64::from(jitter.denominator);
    (grows + fixed, Duration::from_micros(jitter_micros))
}

/// A uniform draw in `[0, max)` microseconds (zero when `max` is zero).
fn draw_below(max: Duration, prng: &mut Prng) -> Duration {
    let max_micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    if max_micros == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(prng.range_inclusive(0, max_micros - 1))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use syncsim_sim::seed::Seed;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .retry_on("Timeout", Wait::PolynomiallyLonger, 4)
            .retry_on("RateLimited", Wait::Fixed(Duration::from_secs(10)), 3)
            .discard_on("NotFound")
    }

    #[test]
    fn polynomially_longer_is_executions_to_the_fourth_plus_two_seconds_plus_jitter() {
        let jitter = Ratio::new(15, 100);
        let bounds = |executions| wait_bounds(&Wait::PolynomiallyLonger, executions, jitter);
        assert_eq!(
            bounds(1),
            (Duration::from_secs(3), Duration::from_millis(150))
        );
        assert_eq!(
            bounds(2),
            (Duration::from_secs(18), Duration::from_millis(2400))
        );
        assert_eq!(
            bounds(3),
            (Duration::from_secs(83), Duration::from_millis(12150))
        );
        let fixed = wait_bounds(&Wait::Fixed(Duration::from_secs(10)), 7, jitter);
        assert_eq!(
            fixed,
            (Duration::from_secs(10), Duration::from_millis(1500))
        );
        let none = wait_bounds(&Wait::PolynomiallyLonger, 2, Ratio::ZERO);
        assert_eq!(none, (Duration::from_secs(18), Duration::ZERO));
    }

    #[test]
    fn drawn_waits_stay_in_bounds_and_spread_over_them() {
        let mut prng = Prng::new(Seed(7));
        let waits: Vec<Duration> = (0..200)
            .map(|_| match policy().decide("Timeout", 2, &mut prng) {
                Decision::Retry { wait } => wait,
                other => panic!("expected a retry, got {other:?}"),
            })
            .collect();
        let (low, high) = (Duration::from_secs(18), Duration::from_millis(20_400));
        assert!(waits.iter().all(|wait| (low..high).contains(wait)));
        // The jitter really is drawn: both halves of the range are hit.
        let middle = Duration::from_millis(19_200);
        assert!(waits.iter().any(|wait| *wait < middle));
        assert!(waits.iter().any(|wait| *wait >= middle));
    }

    #[test]
    fn attempts_count_every_execution_and_the_last_declared_rule_wins() {
        let mut prng = Prng::new(Seed(1));
        let policy = policy();
        assert!(matches!(
            policy.decide("RateLimited", 2, &mut prng),
            Decision::Retry { .. }
        ));
        assert_eq!(policy.decide("RateLimited", 3, &mut prng), Decision::Fail);
        assert_eq!(policy.decide("NotFound", 1, &mut prng), Decision::Discard);
        assert_eq!(policy.decide("Unhandled", 1, &mut prng), Decision::Fail);
        let overridden = policy.discard_on("Timeout");
        assert_eq!(
            overridden.decide("Timeout", 1, &mut prng),
            Decision::Discard
        );
    }

    #[test]
    fn each_retry_on_declaration_counts_its_own_executions() {
        let mut prng = Prng::new(Seed(1));
        let policy = policy();
        let mut counters = ExceptionExecutions::new();
        // Two rate limits, then timeouts: the Timeout declaration starts at 1, so its first
        // wait is 3 s and it allows 3 retries after the rate limits.
        for expected in [1, 2] {
            let (decision, count) = policy.decide_counted("RateLimited", &mut counters, &mut prng);
            assert!(matches!(decision, Decision::Retry { .. }));
            assert_eq!(count, Some(expected));
        }
        let (decision, count) = policy.decide_counted("Timeout", &mut counters, &mut prng);
        let Decision::Retry { wait } = decision else {
            panic!("the Timeout declaration handled one execution: {decision:?}");
        };
        assert_eq!(count, Some(1));
        assert!(wait >= Duration::from_secs(3) && wait < Duration::from_millis(3150));
        assert_eq!(counters.get("[RateLimited]"), Some(&2));
        assert_eq!(counters.get("[Timeout]"), Some(&1));
        // discard_on and unhandled errors count nothing.
        let (decision, count) = policy.decide_counted("NotFound", &mut counters, &mut prng);
        assert_eq!((decision, count), (Decision::Discard, None));
        assert_eq!(counters.len(), 2);
    }

    #[test]
    fn concurrency_exceeded_retries_polynomially_without_limit_unless_a_rule_names_it() {
        let mut prng = Prng::new(Seed(2));
        let Decision::Retry { wait } = policy().decide(CONCURRENCY_EXCEEDED, 40, &mut prng) else {
            panic!("unlimited attempts");
        };
        assert!(wait >= Duration::from_secs(40_u64.pow(4) + 2));
        let overridden = policy().discard_on(CONCURRENCY_EXCEEDED);
        let decision = overridden.decide(CONCURRENCY_EXCEEDED, 1, &mut prng);
        assert_eq!(decision, Decision::Discard);
    }

    fn any_wait() -> impl Strategy<Value = Wait> {
        prop_oneof![
            Just(Wait::PolynomiallyLonger),
            (0_u64..100_000).prop_map(|millis| Wait::Fixed(Duration::from_millis(millis))),
        ]
    }

    proptest! {
        /// Every drawn wait is ActiveJob's: `n^4 + 2` s (or `d`) plus a jitter below
        /// `n^4 * jitter` s (or `d * jitter`), computed here in floating point as Rails does.
        #[test]
        fn every_drawn_wait_is_within_activejob_bounds(
            wait in any_wait(),
            executions in 1_u32..12,
            jitter_percent in 0_u32..=100,
            seed in any::<u64>(),
        ) {
            let policy = RetryPolicy {
                rules: vec![Rule::RetryOn {
                    error_kind: "E".to_string(),
                    wait: wait.clone(),
                    attempts: executions + 1,
                }],
                jitter: Ratio::new(jitter_percent, 100),
            };
            let mut prng = Prng::new(Seed(seed));
            let Decision::Retry { wait: drawn } = policy.decide("E", executions, &mut prng) else {
                panic!("executions < attempts retries");
            };
            let (grows, fixed) = match wait {
                Wait::PolynomiallyLonger => (f64::from(executions).powi(4), 2.0),
                Wait::Fixed(duration) => (duration.as_secs_f64(), 0.0),
            };
            let low = grows + fixed;
            let high = low + grows * f64::from(jitter_percent) / 100.0;
            let drawn = drawn.as_secs_f64();
            let inside = drawn >= low - 1e-6 && drawn < high + 1e-6;
            prop_assert!(inside, "{drawn} not in [{low}, {high})");
            let last = policy.decide("E", executions + 1, &mut prng);
            prop_assert_eq!(last, Decision::Fail);
        }
    }
}
