//! Episodes: a concrete plan's timed faults paired into the units a reader and shrinking
//! think in (crash..restart, pause..resume, isolate..rejoin, outage..recover).
//!
//! An opening fault is paired with the next closing fault of the same kind on the same node;
//! an opening fault with no closing fault lasts until the heal phase. A fault with no partner
//! (a restart of a node that was never crashed, a second crash while one is open: the run
//! skips both) stays a unit of its own, so turning a plan into episodes and back gives the
//! same plan, faults in the same order. Not here: request faults (drawn per call, not timed).

use std::fmt;
use std::time::Duration;

use super::{Fault, TimedFault};
use crate::time::describe;

/// One unit of a concrete plan: an episode, or a fault with no partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// When it starts.
    pub at: Duration,
    /// The opening fault (for a unit of one fault, that fault).
    pub fault: Fault,
    /// Time from the opening to the closing fault; `None`: the heal phase ends the episode
    /// (or the unit is a fault with no partner).
    pub length: Option<Duration>,
    /// Positions of its faults in the plan it came from: equal times keep their order.
    positions: (usize, usize),
    /// True for a fault with no partner.
    lone: bool,
}

impl Fault {
    /// The fault that ends the episode this fault opens; `None` for a closing fault.
    pub fn closing(&self) -> Option<Fault> {
        let node = self.node();
        match self {
            Fault::Crash { .. } => Some(Fault::restart(node)),
            Fault::Pause { .. } => Some(Fault::resume(node)),
            Fault::Isolate { .. } => Some(Fault::rejoin(node)),
            Fault::Outage { .. } => Some(Fault::recover(node)),
            Fault::Restart { .. }
            | Fault::Resume { .. }
            | Fault::Rejoin { .. }
            | Fault::Recover { .. } => None,
        }
    }
}

impl Episode {
    /// True for a fault with no partner, which the run skips (a restart of a node that is
    /// up, a second crash of a crashed one).
    pub fn is_lone(&self) -> bool {
        self.lone
    }

    /// A copy lasting `length` (an episode the heal phase ends stays so).
    pub fn with_length(&self, length: Duration) -> Episode {
        assert!(self.length.is_some(), "only a closed episode has a length");
        Episode {
            length: Some(length),
            ..self.clone()
        }
    }
}

impl fmt::Display for Episode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = describe(self.at);
        match (self.lone, self.length) {
            (true, _) => write!(
                formatter,
                "{} at {at} (skipped: no episode to end)",
                self.fault
            ),
            (false, Some(length)) => {
                write!(formatter, "{} at {at} for {}", self.fault, describe(length))
            }
            (false, None) => write!(formatter, "{} at {at} until heal", self.fault),
        }
    }
}

/// The plan's timed faults (in time order) as episodes, in the order they start.
pub fn episodes(timed: &[TimedFault]) -> Vec<Episode> {
    let mut units: Vec<Episode> = Vec::new();
    // Indexes into `units` of the episodes still open, by their closing fault.
    let mut open: Vec<(Fault, usize)> = Vec::new();
    for (position, timed) in timed.iter().enumerate() {
        if let Some(slot) = open.iter().position(|(closing, _)| *closing == timed.fault) {
            let (_, unit) = open.remove(slot);
            let episode = &mut units[unit];
            episode.length = Some(timed.at - episode.at);
            episode.positions.1 = position;
            continue;
        }
        let closing = timed.fault.closing();
        let already_open = closing
            .as_ref()
            .is_some_and(|closing| open.iter().any(|(pending, _)| pending == closing));
        let lone = closing.is_none() || already_open;
        if let (Some(closing), false) = (closing, lone) {
            open.push((closing, units.len()));
        }
        units.push(Episode {
            at: timed.at,
            fault: timed.fault.clone(),
            length: None,
            positions: (position, position),
            lone,
        });
    }
    units
}

/// The timed faults of `units`, in time order; faults at equal times keep the order of the
/// plan the units came from.
pub fn timed_faults(units: &[Episode]) -> Vec<TimedFault> {
    let mut faults: Vec<(Duration, usize, TimedFault)> = Vec::new();
    for unit in units {
        let opening = TimedFault {
            at: unit.at,
            fault: unit.fault.clone(),
        };
        faults.push((unit.at, unit.positions.0, opening));
        if let (Some(length), false) = (unit.length, unit.lone) {
            let closing = unit
                .fault
                .closing()
                .expect("an episode opens with its fault");
            let at = unit.at + length;
            faults.push((at, unit.positions.1, TimedFault { at, fault: closing }));
        }
    }
    faults.sort_by_key(|(at, position, _)| (*at, *position));
    faults.into_iter().map(|(_, _, fault)| fault).collect()
}
