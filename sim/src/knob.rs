//! Workload knobs: the integers of a model's workload that shrinking may lower.
//!
//! A model lists its knobs (entity counts, operation counts, timing spreads) with a floor
//! each; the shrinker searches each one down toward its floor while the failure persists.
//! Not modelled: knobs that must grow to keep a failure (shrinking only ever lowers).

use serde::{Deserialize, Serialize};

/// One shrinkable workload integer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knob {
    /// The config field it stands for.
    pub name: String,
    /// The smallest value that still makes a meaningful workload.
    pub min: u64,
    /// The current value.
    pub value: u64,
}

impl Knob {
    /// A knob at `value` that shrinks no lower than `min`.
    pub fn new(name: &str, min: u64, value: u64) -> Knob {
        assert!(
            min <= value,
            "knob {name}: value {value} is below its floor {min}"
        );
        Knob {
            name: name.to_string(),
            min,
            value,
        }
    }
}
