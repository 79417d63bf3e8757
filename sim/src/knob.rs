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
    /// A knob at `value` that shrinks no lower than `min`. A value below the floor is a
    /// scenario's mistake, not a programmer's: the scenario loader refuses it, naming the
    /// field.
    pub fn new(name: &str, min: u64, value: u64) -> Knob {
        Knob {
            name: name.to_string(),
            min,
            value,
        }
    }
}
