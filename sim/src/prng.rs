//! The harness's pseudo-random number generator: ChaCha8 behind an integer-only API.
//!
//! Every draw in simulated code goes through `Prng`, so the rand crate's version churn and
//! float formatting never leak into a trace. There are no float probabilities: a chance is a
//! `Ratio`. Not provided: floats, distributions other than uniform.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::seed::Seed;

/// A probability as `numerator / denominator`, both integers; `denominator > 0` and
/// `numerator <= denominator`. Written as the text `"1/4"` in scenario and replay files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ratio {
    /// How many outcomes out of `denominator` are a hit.
    pub numerator: u32,
    /// The number of equally likely outcomes.
    pub denominator: u32,
}

impl Ratio {
    /// A ratio; panics on a zero denominator or a ratio above one, both programmer errors.
    pub const fn new(numerator: u32, denominator: u32) -> Ratio {
        assert!(denominator > 0, "a Ratio needs a positive denominator");
        assert!(numerator <= denominator, "a Ratio is at most one");
        Ratio {
            numerator,
            denominator,
        }
    }

    /// Never.
    pub const ZERO: Ratio = Ratio::new(0, 1);
    /// Always.
    pub const ONE: Ratio = Ratio::new(1, 1);
}

impl Default for Ratio {
    fn default() -> Ratio {
        Ratio::ZERO
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.numerator, self.denominator)
    }
}

impl From<Ratio> for String {
    fn from(ratio: Ratio) -> String {
        ratio.to_string()
    }
}

impl TryFrom<String> for Ratio {
    type Error = String;

    fn try_from(text: String) -> Result<Ratio, String> {
        let invalid = || format!("invalid ratio {text:?}: expected N/D with 0 <= N <= D and D > 0");
        let (numerator, denominator) = text.split_once('/').ok_or_else(invalid)?;
        let numerator: u32 = numerator.trim().parse().map_err(|_| invalid())?;
        let denominator: u32 = denominator.trim().parse().map_err(|_| invalid())?;
        if denominator == 0 || numerator > denominator {
            return Err(invalid());
        }
        Ok(Ratio {
            numerator,
            denominator,
        })
    }
}

/// A seeded ChaCha8 generator with an integer-only API.
#[derive(Clone, Debug)]
pub struct Prng {
    rng: ChaCha8Rng,
}

impl Prng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: Seed) -> Prng {
        Prng {
            rng: ChaCha8Rng::seed_from_u64(seed.0),
        }
    }

    /// A uniformly drawn u64.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.random()
    }

    /// True with probability `ratio`.
    pub fn chance(&mut self, ratio: Ratio) -> bool {
        if ratio.numerator == 0 {
            return false;
        }
        self.rng.random_ratio(ratio.numerator, ratio.denominator)
    }

    /// A uniform draw from `min..=max`; panics if `min > max`.
    pub fn range_inclusive(&mut self, min: u64, max: u64) -> u64 {
        assert!(min <= max, "range_inclusive({min}, {max}) is empty");
        self.rng.random_range(min..=max)
    }

    /// A uniform index into a collection of `count` items; panics on zero.
    pub fn index(&mut self, count: usize) -> usize {
        assert!(count > 0, "cannot pick from nothing");
        self.rng.random_range(0..count)
    }

    /// A uniformly chosen item; panics on an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Shuffles `items` in place, uniformly.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        items.shuffle(&mut self.rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let draw = |seed| {
            let mut prng = Prng::new(Seed(seed));
            (0..8)
                .map(|_| prng.range_inclusive(0, 1000))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn chance_of_zero_and_one_are_exact_and_a_half_is_roughly_half() {
        let mut prng = Prng::new(Seed(3));
        assert!((0..1000).all(|_| !prng.chance(Ratio::ZERO)));
        assert!((0..1000).all(|_| prng.chance(Ratio::ONE)));
        let hits = (0..10_000)
            .filter(|_| prng.chance(Ratio::new(1, 2)))
            .count();
        assert!((4_500..5_500).contains(&hits), "{hits}");
    }

    #[test]
    fn range_pick_and_shuffle_stay_in_bounds_and_cover_them() {
        let mut prng = Prng::new(Seed(4));
        let mut seen = [false; 5];
        for _ in 0..500 {
            let value = prng.range_inclusive(10, 14);
            assert!((10..=14).contains(&value));
            seen[(value - 10) as usize] = true;
        }
        assert!(seen.iter().all(|hit| *hit));
        let items = [1, 2, 3];
        assert!(items.contains(prng.pick(&items)));
        let mut deck: Vec<u32> = (0..20).collect();
        prng.shuffle(&mut deck);
        let mut sorted = deck.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_ne!(deck, sorted);
    }

    #[test]
    fn ratios_are_written_as_fractions_and_bad_ones_are_refused() {
        assert_eq!(
            serde_json::to_string(&Ratio::new(1, 4)).expect("ok"),
            r#""1/4""#
        );
        assert_eq!(
            serde_json::from_str::<Ratio>(r#""3/8""#).expect("ok"),
            Ratio::new(3, 8)
        );
        for bad in [r#""5/4""#, r#""1/0""#, r#""half""#, "0.5"] {
            assert!(serde_json::from_str::<Ratio>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    #[should_panic(expected = "is empty")]
    fn an_empty_range_is_a_programmer_error() {
        Prng::new(Seed(0)).range_inclusive(2, 1);
    }
}
