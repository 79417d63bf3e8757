//! Tests written to kill mutants that `cargo mutants` left alive in `policy.rs` (MUTANTS.md,
//! "Jobs policy"). Each pins one ActiveJob behaviour that no other test observed.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::jobs::{wait_bounds, Decision, RetryPolicy, Wait};
use syncsim_sim::prng::{Prng, Ratio};
use syncsim_sim::seed::Seed;

/// The waits drawn for the first retry of a `polynomially_longer` declaration with `jitter`,
/// one draw per seed.
fn first_waits(jitter: Ratio, seed_count: u64) -> BTreeSet<Duration> {
    let policy = RetryPolicy {
        jitter,
        ..RetryPolicy::default()
    }
    .retry_on("Timeout", Wait::PolynomiallyLonger, 2);
    (0..seed_count)
        .map(|seed| {
            let mut prng = Prng::new(Seed(seed));
            match policy.decide("Timeout", 1, &mut prng) {
                Decision::Retry { wait } => wait,
                other => panic!("the first of two attempts retries, got {other:?}"),
            }
        })
        .collect()
}

/// ActiveJob's jitter is `Kernel.rand * delay * jitter` (`determine_jitter_for_delay` in
/// `ActiveJob::Exceptions`), and `Kernel.rand` lies in `[0, 1)`: the wait never reaches
/// `delay + delay * jitter`. The model draws whole microseconds below that bound, so with a
/// bound of one or two microseconds every value it may draw shows up in a few hundred seeds,
/// and the bound itself never does. After the first execution `polynomially_longer` waits
/// `1^4 + 2` = 3 s, and its jitter bound is `1 s * jitter` (a `retry_jitter` of 1e-6 is one
/// microsecond).
/// Kills `policy.rs` `draw_below`: `-` → `+` and `-` → `/` in `max_micros - 1`, which let
/// the draw reach the exclusive bound (and one past it).
#[test]
fn the_jitter_never_reaches_delay_times_jitter_even_when_that_is_one_microsecond() {
    let three = Duration::from_secs(3);
    let one_micro = Ratio::new(1, 1_000_000);
    assert_eq!(
        wait_bounds(&Wait::PolynomiallyLonger, 1, one_micro),
        (three, Duration::from_micros(1))
    );
    // Why: the only whole microsecond in [0, 1) is 0.
    assert_eq!(first_waits(one_micro, 200), BTreeSet::from([three]));
    // With a two-microsecond bound both 0 and 1 are drawn, and 2 never is.
    let two_micros = Ratio::new(2, 1_000_000);
    let expected = BTreeSet::from([three, three + Duration::from_micros(1)]);
    assert_eq!(first_waits(two_micros, 200), expected);
}
