//! Faults as data: what can go wrong, a plan of when it does, and random generators.
//!
//! A `FaultPlan` holds timed faults (crash/restart, pause/resume, isolate/rejoin of one
//! node) and random generators: episodes of those pairs drawn per node with a probability per
//! second, a duration range and a stability window (minimum up-time between two episodes on
//! one node), plus request faults drawn per call (reject, reply lost after the side effect,
//! duplicate delivery, extra delay). `swarm` draws per seed which generators are on and how
//! hard, so a sweep covers many mixtures. `materialize` turns a plan and a seed into a
//! concrete plan: timed faults only, plus the request faults; that concrete plan is what a
//! run executes, what shrinking removes episodes from, and what a replay file stores. Not
//! here: broker and webhook faults, offered by those services when they land.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::prng::{Prng, Ratio};
use crate::seed::Seed;
use crate::time::describe;

mod episode;

pub use episode::{episodes, timed_faults, Episode};

/// One fault against one named node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Kills every task of the node. A service keeps only its durable state.
    Crash {
        /// The node.
        node: String,
    },
    /// Boots a crashed node again: its processes start from the beginning.
    Restart {
        /// The node.
        node: String,
    },
    /// Freezes every task of the node (a stop-the-world pause); requests to it wait.
    Pause {
        /// The node.
        node: String,
    },
    /// Unfreezes a paused node.
    Resume {
        /// The node.
        node: String,
    },
    /// Cuts the node off the network: requests from it and to it are lost.
    Isolate {
        /// The node.
        node: String,
    },
    /// Reconnects an isolated node.
    Rejoin {
        /// The node.
        node: String,
    },
    /// Starts an outage of the service on the node (a broker that is up but refuses work):
    /// requests fail fast with "unavailable". Only service nodes that model outages take it.
    Outage {
        /// The node.
        node: String,
    },
    /// Ends the outage of the service on the node.
    Recover {
        /// The node.
        node: String,
    },
}

impl Fault {
    /// A crash of `node`.
    pub fn crash(node: &str) -> Fault {
        Fault::Crash { node: node.into() }
    }

    /// A restart of `node`.
    pub fn restart(node: &str) -> Fault {
        Fault::Restart { node: node.into() }
    }

    /// A pause of `node`.
    pub fn pause(node: &str) -> Fault {
        Fault::Pause { node: node.into() }
    }

    /// A resume of `node`.
    pub fn resume(node: &str) -> Fault {
        Fault::Resume { node: node.into() }
    }

    /// An isolation of `node`.
    pub fn isolate(node: &str) -> Fault {
        Fault::Isolate { node: node.into() }
    }

    /// A rejoin of `node`.
    pub fn rejoin(node: &str) -> Fault {
        Fault::Rejoin { node: node.into() }
    }

    /// An outage of the service on `node`.
    pub fn outage(node: &str) -> Fault {
        Fault::Outage { node: node.into() }
    }

    /// The end of the outage of the service on `node`.
    pub fn recover(node: &str) -> Fault {
        Fault::Recover { node: node.into() }
    }

    /// The node the fault applies to.
    pub fn node(&self) -> &str {
        match self {
            Fault::Crash { node }
            | Fault::Restart { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::Isolate { node }
            | Fault::Rejoin { node }
            | Fault::Outage { node }
            | Fault::Recover { node } => node,
        }
    }

    /// The verb, as in the trace.
    pub fn verb(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::Isolate { .. } => "isolate",
            Fault::Rejoin { .. } => "rejoin",
            Fault::Outage { .. } => "outage",
            Fault::Recover { .. } => "recover",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.verb(), self.node())
    }
}

/// A fault at a virtual time. (Unknown fields are refused by `Fault`, which sees every field
/// but `at`; serde's `deny_unknown_fields` does not combine with `flatten`.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedFault {
    /// When the fault happens, from the start of the run.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// What happens.
    #[serde(flatten)]
    pub fault: Fault,
}

/// Episodes of one fault pair (crash/restart, pause/resume, isolate/rejoin) on some nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Episodes {
    /// The nodes that may be hit, each independently.
    pub nodes: Vec<String>,
    /// Chance, in each second of the chaos phase, that an episode starts on a node.
    pub probability_per_sec: Ratio,
    /// Shortest episode.
    #[serde(with = "humantime_serde")]
    pub duration_min: Duration,
    /// Longest episode.
    #[serde(with = "humantime_serde")]
    pub duration_max: Duration,
    /// Minimum up-time of a node between two episodes.
    #[serde(with = "humantime_serde")]
    pub stability: Duration,
}

/// Faults drawn for each request while the chaos phase lasts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFaults {
    /// The service refuses the request (an overload answer); nothing is applied.
    pub reject_probability: Ratio,
    /// The service applies the request but the reply is lost: the caller times out.
    pub reply_lost_probability: Ratio,
    /// The request is delivered twice; the caller sees the first reply.
    pub duplicate_probability: Ratio,
    /// The reply is delayed by up to `delay_max` more, so later messages can overtake it.
    pub delay_probability: Ratio,
    /// Longest extra delay.
    #[serde(with = "humantime_serde")]
    pub delay_max: Duration,
    /// The service nodes whose requests draw these faults (a lost reply from the CRM only,
    /// say); empty: requests to every service.
    #[serde(default)]
    pub targets: Vec<String>,
}

impl RequestFaults {
    /// Whether requests to `target` draw these faults.
    pub fn applies_to(&self, target: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|name| name == target)
    }

    /// True when no request fault can happen.
    pub fn is_quiet(&self) -> bool {
        [
            self.reject_probability,
            self.reply_lost_probability,
            self.duplicate_probability,
            self.delay_probability,
        ]
        .iter()
        .all(|ratio| ratio.numerator == 0)
    }
}

impl fmt::Display for RequestFaults {
    /// `requests: reject 1/20, reply lost 1/20, delay 1/10 up to 150ms (to crm)`: the
    /// nonzero probabilities only.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = [
            ("reject", self.reject_probability),
            ("reply lost", self.reply_lost_probability),
            ("duplicate", self.duplicate_probability),
            ("delay", self.delay_probability),
        ];
        let drawn: Vec<String> = kinds
            .iter()
            .filter(|(_, ratio)| ratio.numerator > 0)
            .map(|(kind, ratio)| match *kind {
                "delay" => format!("delay {ratio} up to {}", describe(self.delay_max)),
                _ => format!("{kind} {ratio}"),
            })
            .collect();
        write!(formatter, "requests: {}", drawn.join(", "))?;
        if !self.targets.is_empty() {
            write!(formatter, " (to {})", self.targets.join(", "))?;
        }
        Ok(())
    }
}

/// A random fault generator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum RandomFault {
    /// Crash episodes, each ended by a restart.
    CrashRestart(Episodes),
    /// Pause episodes, each ended by a resume.
    PauseResume(Episodes),
    /// Isolation episodes, each ended by a rejoin.
    IsolateRejoin(Episodes),
    /// Service outage episodes, each ended by a recovery.
    OutageRecover(Episodes),
    /// Per-request faults.
    Requests(RequestFaults),
}

/// The faults of one run: timed ones, random generators, and whether swarm mode is on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Faults at fixed times, in time order.
    #[serde(default)]
    pub timed: Vec<TimedFault>,
    /// Generators drawn from the seed's `faults` stream.
    #[serde(default)]
    pub random: Vec<RandomFault>,
    /// Per seed, turn each generator on or off and scale its probabilities.
    #[serde(default)]
    pub swarm: bool,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// Adds `fault` at `at`; keeps the timed faults sorted by time (stable for equal times).
    pub fn at(mut self, at: Duration, fault: Fault) -> FaultPlan {
        self.timed.push(TimedFault { at, fault });
        self.timed.sort_by_key(|timed| timed.at);
        self
    }

    /// Adds a random generator.
    pub fn random(mut self, generator: RandomFault) -> FaultPlan {
        self.random.push(generator);
        self
    }

    /// Turns swarm mode on.
    pub fn swarm(mut self) -> FaultPlan {
        self.swarm = true;
        self
    }

    /// The timed faults in time order.
    pub fn faults(&self) -> &[TimedFault] {
        &self.timed
    }

    /// The timed faults paired into episodes (crash..restart and the like), in start order.
    pub fn episodes(&self) -> Vec<Episode> {
        episodes(&self.timed)
    }

    /// The request faults of a concrete plan (none when quiet).
    pub fn request_faults(&self) -> Option<&RequestFaults> {
        self.random.iter().find_map(|generator| match generator {
            RandomFault::Requests(requests) if !requests.is_quiet() => Some(requests),
            _ => None,
        })
    }

    /// True when the plan is concrete: only timed faults and at most one request generator.
    pub fn is_concrete(&self) -> bool {
        !self.swarm
            && self.random.len() <= 1
            && self
                .random
                .iter()
                .all(|generator| matches!(generator, RandomFault::Requests(_)))
    }

    /// The concrete plan for `seed`: episodes drawn into timed faults (within `chaos`),
    /// swarm choices made, request faults kept as one generator.
    pub fn materialize(&self, seed: Seed, chaos: Duration) -> FaultPlan {
        let mut prng = Prng::new(seed.stream("faults"));
        let mut concrete = FaultPlan {
            timed: self.timed.clone(),
            random: Vec::new(),
            swarm: false,
        };
        let mut requests: Option<RequestFaults> = None;
        for generator in &self.random {
            let generator = if self.swarm {
                match swarm_choice(generator, &mut prng) {
                    Some(generator) => generator,
                    None => continue,
                }
            } else {
                generator.clone()
            };
            match &generator {
                RandomFault::CrashRestart(episodes) => draw_episodes(
                    &mut concrete,
                    episodes,
                    chaos,
                    &mut prng,
                    Fault::crash,
                    Fault::restart,
                ),
                RandomFault::PauseResume(episodes) => draw_episodes(
                    &mut concrete,
                    episodes,
                    chaos,
                    &mut prng,
                    Fault::pause,
                    Fault::resume,
                ),
                RandomFault::IsolateRejoin(episodes) => draw_episodes(
                    &mut concrete,
                    episodes,
                    chaos,
                    &mut prng,
                    Fault::isolate,
                    Fault::rejoin,
                ),
                RandomFault::OutageRecover(episodes) => draw_episodes(
                    &mut concrete,
                    episodes,
                    chaos,
                    &mut prng,
                    Fault::outage,
                    Fault::recover,
                ),
                RandomFault::Requests(drawn) => requests = Some(drawn.clone()),
            }
        }
        concrete.timed.sort_by_key(|timed| timed.at);
        if let Some(requests) = requests.filter(|requests| !requests.is_quiet()) {
            concrete.random.push(RandomFault::Requests(requests));
        }
        assert!(concrete.is_concrete());
        concrete
    }
}

/// Swarm mode: keep a generator with probability 1/2, and scale its probabilities by 1, 2
/// or 4 (capped at certainty), so seeds differ in which faults happen and how often.
fn swarm_choice(generator: &RandomFault, prng: &mut Prng) -> Option<RandomFault> {
    if !prng.chance(Ratio::new(1, 2)) {
        return None;
    }
    let scale = *prng.pick(&[1u32, 2, 4]);
    let scaled = |ratio: Ratio, keep: bool| {
        let numerator = if keep {
            (ratio.numerator * scale).min(ratio.denominator)
        } else {
            0
        };
        Ratio::new(numerator, ratio.denominator)
    };
    Some(match generator {
        RandomFault::CrashRestart(episodes) => RandomFault::CrashRestart(Episodes {
            probability_per_sec: scaled(episodes.probability_per_sec, true),
            ..episodes.clone()
        }),
        RandomFault::PauseResume(episodes) => RandomFault::PauseResume(Episodes {
            probability_per_sec: scaled(episodes.probability_per_sec, true),
            ..episodes.clone()
        }),
        RandomFault::IsolateRejoin(episodes) => RandomFault::IsolateRejoin(Episodes {
            probability_per_sec: scaled(episodes.probability_per_sec, true),
            ..episodes.clone()
        }),
        RandomFault::OutageRecover(episodes) => RandomFault::OutageRecover(Episodes {
            probability_per_sec: scaled(episodes.probability_per_sec, true),
            ..episodes.clone()
        }),
        RandomFault::Requests(requests) => {
            let mut keep = [true; 4];
            for kept in &mut keep {
                *kept = prng.chance(Ratio::new(1, 2));
            }
            RandomFault::Requests(RequestFaults {
                reject_probability: scaled(requests.reject_probability, keep[0]),
                reply_lost_probability: scaled(requests.reply_lost_probability, keep[1]),
                duplicate_probability: scaled(requests.duplicate_probability, keep[2]),
                delay_probability: scaled(requests.delay_probability, keep[3]),
                delay_max: requests.delay_max,
                targets: requests.targets.clone(),
            })
        }
    })
}

/// Draws episodes per node, second by second of the chaos phase. An episode that would end
/// after chaos gets no closing fault: the heal phase closes it.
fn draw_episodes(
    plan: &mut FaultPlan,
    episodes: &Episodes,
    chaos: Duration,
    prng: &mut Prng,
    open: fn(&str) -> Fault,
    close: fn(&str) -> Fault,
) {
    assert!(
        episodes.duration_min <= episodes.duration_max,
        "episode durations out of order"
    );
    let second_count = chaos.as_secs();
    for node in &episodes.nodes {
        let mut next_allowed = Duration::ZERO;
        for second_index in 0..second_count {
            if !prng.chance(episodes.probability_per_sec) {
                continue;
            }
            let offset_ms = prng.range_inclusive(0, 999);
            let start = Duration::from_secs(second_index) + Duration::from_millis(offset_ms);
            if start < next_allowed || start >= chaos {
                continue;
            }
            let length_ms = prng.range_inclusive(
                episodes.duration_min.as_millis() as u64,
                episodes.duration_max.as_millis() as u64,
            );
            let end = start + Duration::from_millis(length_ms);
            plan.timed.push(TimedFault {
                at: start,
                fault: open(node),
            });
            if end < chaos {
                plan.timed.push(TimedFault {
                    at: end,
                    fault: close(node),
                });
            }
            next_allowed = end + episodes.stability;
        }
    }
}

#[cfg(test)]
mod tests;
