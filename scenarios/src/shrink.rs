//! Shrinking: a failing (scenario, seed) made as small as it will go while the same
//! property still fails.
//!
//! The run's concrete fault plan (random generators drawn for the seed) becomes a list that
//! proptest-style value trees simplify: drop one fault at a time, lower each workload knob
//! by binary search toward its floor, lower each request-fault probability toward zero, and
//! narrow the latency spread toward its minimum (a scheduling choice made shrinkable). The
//! seed stays fixed. The search is proptest's own loop: simplify while the failure persists,
//! complicate when it disappears. Not shrunk: the madsim scheduler's choices (they follow
//! from the seed), and the fault times themselves.

use std::time::Duration;

use proptest::num::u64::BinarySearch;
use proptest::strategy::ValueTree;
use proptest::tuple::TupleValueTree;
use syncsim_sim::{FaultPlan, Outcome, RandomFault, Ratio, RequestFaults, Seed, TimedFault};

use crate::spec::ScenarioSpec;

/// A failure after shrinking, with how much smaller it got.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing scenario found (concrete fault plan, lowered workload).
    pub spec: ScenarioSpec,
    /// Its run on the same seed: the same property fails.
    pub outcome: Outcome,
    /// How many candidate runs the search made.
    pub run_count: u32,
    /// Timed faults before and after.
    pub fault_count: (usize, usize),
    /// Trace events before and after.
    pub event_count: (usize, usize),
}

/// Drops one fault at a time; a dropped fault that turns out to matter is put back.
#[derive(Clone, Debug)]
struct FaultListTree {
    faults: Vec<TimedFault>,
    included: Vec<bool>,
    cursor: usize,
    last_removed: Option<usize>,
}

impl ValueTree for FaultListTree {
    type Value = Vec<TimedFault>;

    fn current(&self) -> Vec<TimedFault> {
        let kept = self
            .faults
            .iter()
            .zip(&self.included)
            .filter(|(_, included)| **included);
        kept.map(|(fault, _)| fault.clone()).collect()
    }

    fn simplify(&mut self) -> bool {
        while self.cursor < self.faults.len() {
            let index = self.cursor;
            self.cursor += 1;
            if self.included[index] {
                self.included[index] = false;
                self.last_removed = Some(index);
                return true;
            }
        }
        false
    }

    fn complicate(&mut self) -> bool {
        match self.last_removed.take() {
            Some(index) => {
                self.included[index] = true;
                true
            }
            None => false,
        }
    }
}

/// Shrinks a list of integers one after another, each by binary search.
#[derive(Clone, Debug)]
struct IntegersTree {
    trees: Vec<BinarySearch>,
    index: usize,
}

impl IntegersTree {
    fn new(bounds: impl IntoIterator<Item = (u64, u64)>) -> IntegersTree {
        let trees = bounds
            .into_iter()
            .map(|(min, value)| BinarySearch::new_above(min, value));
        IntegersTree {
            trees: trees.collect(),
            index: 0,
        }
    }
}

impl ValueTree for IntegersTree {
    type Value = Vec<u64>;

    fn current(&self) -> Vec<u64> {
        self.trees.iter().map(ValueTree::current).collect()
    }

    fn simplify(&mut self) -> bool {
        while self.index < self.trees.len() {
            if self.trees[self.index].simplify() {
                return true;
            }
            self.index += 1;
        }
        false
    }

    fn complicate(&mut self) -> bool {
        self.trees
            .get_mut(self.index)
            .is_some_and(ValueTree::complicate)
    }
}

type Tree = TupleValueTree<(FaultListTree, IntegersTree, IntegersTree, BinarySearch)>;

fn request_numerators(requests: &RequestFaults) -> Vec<(u64, u64)> {
    let ratios = [
        requests.reject_probability,
        requests.reply_lost_probability,
        requests.duplicate_probability,
        requests.delay_probability,
    ];
    ratios
        .iter()
        .map(|ratio| (0, u64::from(ratio.numerator)))
        .collect()
}

fn with_numerators(requests: &RequestFaults, numerators: &[u64]) -> RequestFaults {
    let ratio = |old: Ratio, numerator: u64| {
        let numerator = u32::try_from(numerator).expect("never above the original numerator");
        Ratio::new(numerator, old.denominator)
    };
    RequestFaults {
        reject_probability: ratio(requests.reject_probability, numerators[0]),
        reply_lost_probability: ratio(requests.reply_lost_probability, numerators[1]),
        duplicate_probability: ratio(requests.duplicate_probability, numerators[2]),
        delay_probability: ratio(requests.delay_probability, numerators[3]),
        delay_max: requests.delay_max,
        targets: requests.targets.clone(),
    }
}

/// Builds the candidate scenario a tree value stands for.
fn candidate(
    base: &ScenarioSpec,
    requests: &RequestFaults,
    value: &<Tree as ValueTree>::Value,
) -> ScenarioSpec {
    let (faults, workload, numerators, latency_max_micros) = value;
    let mut spec = base.clone();
    spec.model = base.model.with_workload(workload);
    let requests = with_numerators(requests, numerators);
    spec.faults = FaultPlan {
        timed: faults.clone(),
        random: if requests.is_quiet() {
            vec![]
        } else {
            vec![RandomFault::Requests(requests)]
        },
        swarm: false,
    };
    spec.net.latency_max = Duration::from_micros(*latency_max_micros);
    spec
}

/// Shrinks the failure `failed` of `spec` (a run on `failed.seed`), trying at most
/// `run_count_max` candidates. The result fails the same property on the same seed.
pub fn shrink(spec: &ScenarioSpec, failed: &Outcome, run_count_max: u32) -> Shrunk {
    let property = failed
        .failure
        .as_ref()
        .expect("shrink a failed run")
        .property
        .clone();
    let seed: Seed = failed.seed;
    let mut base = spec.clone();
    base.faults = failed.plan.clone();
    let requests = failed.plan.request_faults().cloned().unwrap_or_default();
    let latency_min_micros = spec.net.latency_min.as_micros() as u64;
    let latency_max_micros = spec.net.latency_max.as_micros() as u64;
    let mut tree: Tree = TupleValueTree::new((
        FaultListTree {
            faults: failed.plan.timed.clone(),
            included: vec![true; failed.plan.timed.len()],
            cursor: 0,
            last_removed: None,
        },
        IntegersTree::new(
            spec.model
                .workload()
                .iter()
                .map(|knob| (knob.min, knob.value)),
        ),
        IntegersTree::new(request_numerators(&requests)),
        BinarySearch::new_above(latency_min_micros, latency_max_micros),
    ));
    let mut best = (base.clone(), failed.clone());
    let mut run_count = 0;
    let still_fails = |candidate: &ScenarioSpec| {
        // Fewer workers can orphan a fault naming a node that no longer exists.
        candidate.validate().ok()?;
        let outcome = candidate.case().run(seed);
        let same = outcome
            .failure
            .as_ref()
            .is_some_and(|failure| failure.property == property);
        same.then_some(outcome)
    };
    // proptest's shrink loop, restarted whenever a dimension is exhausted so the next one
    // gets its turn.
    while run_count < run_count_max && tree.simplify() {
        while run_count < run_count_max {
            run_count += 1;
            let spec = candidate(&base, &requests, &tree.current());
            let progressed = match still_fails(&spec) {
                Some(outcome) => {
                    best = (spec, outcome);
                    tree.simplify()
                }
                None => tree.complicate(),
            };
            if !progressed {
                break;
            }
        }
    }
    let (spec, outcome) = best;
    Shrunk {
        fault_count: (failed.plan.timed.len(), spec.faults.timed.len()),
        event_count: (failed.trace.len(), outcome.trace.len()),
        spec,
        outcome,
        run_count,
    }
}
