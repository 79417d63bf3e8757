//! Virtual time: the simulated clock, as the duration since the start of a run.
//!
//! There is no wall clock in simulated code; `now()` in `rt` returns a `VirtualTime`. Not
//! modelled: clock skew between nodes (every node reads the same virtual clock).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point on the virtual clock: the time elapsed since the run started.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct VirtualTime(pub Duration);

impl VirtualTime {
    /// The start of every run.
    pub const ZERO: VirtualTime = VirtualTime(Duration::ZERO);

    /// Microseconds since the start of the run.
    pub fn as_micros(self) -> u64 {
        u64::try_from(self.0.as_micros()).expect("a run lasts less than 584 000 years")
    }

    /// The time `duration` later.
    pub fn after(self, duration: Duration) -> VirtualTime {
        VirtualTime(self.0 + duration)
    }
}

impl fmt::Display for VirtualTime {
    /// Seconds with microsecond precision, as `12.000345s`: fixed width for the trace.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.as_micros();
        write!(
            formatter,
            "{}.{:06}s",
            micros / 1_000_000,
            micros % 1_000_000
        )
    }
}

/// Renders a duration for humans in messages: `250ms`, `3s`, `1.5s`.
pub fn describe(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else if millis >= 1000 {
        format!("{}.{:03}s", millis / 1000, millis % 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_seconds_with_six_decimals() {
        assert_eq!(
            VirtualTime(Duration::from_micros(12_000_345)).to_string(),
            "12.000345s"
        );
        assert_eq!(VirtualTime::ZERO.to_string(), "0.000000s");
    }

    #[test]
    fn describe_picks_a_readable_unit() {
        assert_eq!(describe(Duration::from_millis(250)), "250ms");
        assert_eq!(describe(Duration::from_secs(3)), "3s");
        assert_eq!(describe(Duration::from_millis(1500)), "1.500s");
    }
}
