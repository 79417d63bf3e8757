//! Shrinking: a failing (scenario, seed) made as small as it will go while the same
//! property still fails.
//!
//! The run's concrete fault plan (random generators drawn for the seed) becomes a list of
//! episodes (crash..restart and the like, `Episode`) that proptest-style value trees
//! simplify: drop one episode at a time, shorten each kept episode, lower each workload knob
//! by binary search toward its floor, lower each request-fault probability toward zero, and
//! narrow the latency spread toward its minimum (a scheduling choice made shrinkable). The
//! seed stays fixed. The search is proptest's own loop: simplify while the failure persists,
//! complicate when it disappears. Not shrunk: the madsim scheduler's choices (they follow
//! from the seed), and the episodes' start times.

use std::time::Duration;

use proptest::num::u64::BinarySearch;
use proptest::strategy::ValueTree;
use proptest::tuple::TupleValueTree;
use syncsim_sim::fault::timed_faults;
use syncsim_sim::{Episode, FaultPlan, Outcome, RandomFault, Ratio, RequestFaults, Seed};

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
    /// Whether the caller's deadline stopped the search before it ended on its own.
    pub stopped: bool,
}

/// Drops one episode at a time (its opening and closing fault together); a dropped episode
/// that turns out to matter is put back. Once every drop was tried, shortens each kept
/// episode's length by binary search toward zero (in milliseconds), so a shrunk plan still
/// says how long each outage lasted.
#[derive(Clone, Debug)]
struct EpisodesTree {
    units: Vec<Episode>,
    included: Vec<bool>,
    cursor: usize,
    last_removed: Option<usize>,
    /// Per unit, the search over its length (built when the drops are done; `None` for a
    /// dropped unit or one without a length).
    lengths: Vec<Option<BinarySearch>>,
    length_cursor: usize,
}

impl EpisodesTree {
    /// The tree over `units`, without the faults that have no partner: the run skips them
    /// (a restart of a running node, a second crash of a crashed one), and dropping or
    /// shortening the episode around one would bring it to life.
    fn new(units: Vec<Episode>) -> EpisodesTree {
        let units: Vec<Episode> = units.into_iter().filter(|unit| !unit.is_lone()).collect();
        EpisodesTree {
            included: vec![true; units.len()],
            units,
            cursor: 0,
            last_removed: None,
            lengths: Vec::new(),
            length_cursor: 0,
        }
    }

    fn start_lengths(&mut self) {
        self.last_removed = None;
        self.lengths = self
            .units
            .iter()
            .zip(&self.included)
            .map(|(unit, included)| {
                let length = unit.length.filter(|_| *included)?;
                Some(BinarySearch::new_above(0, length.as_millis() as u64))
            })
            .collect();
    }
}

/// `unit` with the length `length_ms` a search proposes (its own exact length when unchanged).
fn shortened(unit: &Episode, search: &BinarySearch) -> Episode {
    let length_ms = search.current();
    match unit.length {
        Some(length) if length.as_millis() as u64 != length_ms => {
            unit.with_length(Duration::from_millis(length_ms))
        }
        _ => unit.clone(),
    }
}

impl ValueTree for EpisodesTree {
    type Value = Vec<Episode>;

    fn current(&self) -> Vec<Episode> {
        let kept = self
            .units
            .iter()
            .enumerate()
            .filter(|(index, _)| self.included[*index]);
        kept.map(|(index, unit)| match self.lengths.get(index) {
            Some(Some(search)) => shortened(unit, search),
            _ => unit.clone(),
        })
        .collect()
    }

    fn simplify(&mut self) -> bool {
        while self.cursor < self.units.len() {
            let index = self.cursor;
            self.cursor += 1;
            if self.included[index] {
                self.included[index] = false;
                self.last_removed = Some(index);
                return true;
            }
        }
        if self.lengths.is_empty() {
            self.start_lengths();
        }
        while let Some(search) = self.lengths.get_mut(self.length_cursor) {
            if search.as_mut().is_some_and(ValueTree::simplify) {
                return true;
            }
            self.length_cursor += 1;
        }
        false
    }

    fn complicate(&mut self) -> bool {
        if let Some(index) = self.last_removed.take() {
            self.included[index] = true;
            return true;
        }
        match self.lengths.get_mut(self.length_cursor) {
            Some(Some(search)) => search.complicate(),
            _ => false,
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

type Tree = TupleValueTree<(EpisodesTree, IntegersTree, IntegersTree, BinarySearch)>;

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
    let (episodes, workload, numerators, latency_max_micros) = value;
    let mut spec = base.clone();
    spec.model = base.model.with_workload(workload);
    let requests = with_numerators(requests, numerators);
    spec.faults = FaultPlan {
        timed: timed_faults(episodes),
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

/// `spec` without the episodes that start after `outcome`'s failure (whole: an episode that
/// started before it keeps its closing fault); `None` when there are none.
fn without_faults_after_failure(spec: &ScenarioSpec, outcome: &Outcome) -> Option<ScenarioSpec> {
    let failed_at = outcome.failure.as_ref()?.time.0;
    let units = spec.faults.episodes();
    let kept: Vec<Episode> = units
        .iter()
        .filter(|unit| unit.at <= failed_at)
        .cloned()
        .collect();
    if kept.len() == units.len() {
        return None;
    }
    let mut pruned = spec.clone();
    pruned.faults.timed = timed_faults(&kept);
    Some(pruned)
}

/// The dimensions shrinking searches: episodes, workload knobs, request-fault numerators,
/// the latency spread.
fn search_tree(spec: &ScenarioSpec, failed: &Outcome, requests: &RequestFaults) -> Tree {
    let latency_min_micros = spec.net.latency_min.as_micros() as u64;
    let latency_max_micros = spec.net.latency_max.as_micros() as u64;
    TupleValueTree::new((
        EpisodesTree::new(failed.plan.episodes()),
        IntegersTree::new(
            spec.model
                .workload()
                .iter()
                .map(|knob| (knob.min, knob.value)),
        ),
        IntegersTree::new(request_numerators(requests)),
        BinarySearch::new_above(latency_min_micros, latency_max_micros),
    ))
}

/// Shrinks the failure `failed` of `spec` (a run on `failed.seed`), trying at most
/// `run_count_max` candidates. The result fails the same property on the same seed.
pub fn shrink(spec: &ScenarioSpec, failed: &Outcome, run_count_max: u32) -> Shrunk {
    shrink_while(spec, failed, run_count_max, &|| true)
}

/// [`shrink`], trying a next candidate only while `keep_going()` says so (a caller's
/// deadline): the result is the smallest failure found by then, `Shrunk::stopped` set.
pub fn shrink_while(
    spec: &ScenarioSpec,
    failed: &Outcome,
    run_count_max: u32,
    keep_going: &dyn Fn() -> bool,
) -> Shrunk {
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
    let mut tree = search_tree(spec, failed, &requests);
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
    let stopped = std::cell::Cell::new(false);
    // Asked only before a candidate is run: a search that ends on its own is not "stopped".
    let may_run = |run_count: u32| {
        if run_count >= run_count_max || stopped.get() {
            return false;
        }
        stopped.set(!keep_going());
        !stopped.get()
    };
    while run_count < run_count_max && !stopped.get() && tree.simplify() {
        while may_run(run_count) {
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
    let (mut spec, mut outcome) = best;
    // A fault due after the failure never ran (the run stops at its failure), but a later
    // step (lower latency, say) can move the failure before episodes an earlier step had to
    // keep: drop them, so the report lists only faults the failing run executed.
    let pruned = without_faults_after_failure(&spec, &outcome);
    if let Some(pruned) = pruned.filter(|_| may_run(run_count)) {
        run_count += 1;
        if let Some(pruned_outcome) = still_fails(&pruned) {
            (spec, outcome) = (pruned, pruned_outcome);
        }
    }
    Shrunk {
        fault_count: (failed.plan.timed.len(), spec.faults.timed.len()),
        event_count: (failed.trace.len(), outcome.trace.len()),
        spec,
        outcome,
        run_count,
        stopped: stopped.get(),
    }
}

#[cfg(test)]
mod tests {
    use syncsim_sim::Fault;

    use super::*;

    fn plan() -> FaultPlan {
        let ms = Duration::from_millis;
        FaultPlan::new()
            .at(ms(10), Fault::crash("worker-0"))
            .at(ms(50), Fault::pause("store"))
            .at(ms(90), Fault::restart("worker-0"))
            .at(ms(450), Fault::resume("store"))
    }

    fn shown(tree: &EpisodesTree) -> Vec<String> {
        tree.current().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_episode_is_dropped_whole_then_shortened_never_left_open() {
        let mut tree = EpisodesTree::new(plan().episodes());
        assert_eq!(
            shown(&tree),
            [
                "crash worker-0 at 10ms for 80ms",
                "pause store at 50ms for 400ms"
            ]
        );
        assert!(tree.simplify());
        assert_eq!(
            shown(&tree),
            ["pause store at 50ms for 400ms"],
            "crash and restart go"
        );
        assert!(
            tree.complicate(),
            "the crash mattered: back with its restart"
        );
        assert!(tree.simplify());
        assert_eq!(shown(&tree), ["crash worker-0 at 10ms for 80ms"]);
        // The pause mattered too; then lengths shrink, the crash's first, by halving.
        assert!(tree.complicate());
        assert!(tree.simplify());
        assert_eq!(
            shown(&tree),
            [
                "crash worker-0 at 10ms for 40ms",
                "pause store at 50ms for 400ms"
            ]
        );
        assert!(
            tree.complicate(),
            "40 ms was too short: the search goes back up"
        );
        assert_eq!(
            shown(&tree),
            [
                "crash worker-0 at 10ms for 60ms",
                "pause store at 50ms for 400ms"
            ]
        );
        let faults = timed_faults(&tree.current());
        assert_eq!(faults.len(), 4, "every episode keeps its closing fault");
    }
}

#[cfg(test)]
mod prune_tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use syncsim_sim::{Failure, FailureClass, Fault, Trace, VirtualTime};

    use super::*;

    fn failed_at(spec: &ScenarioSpec, at: Duration) -> Outcome {
        Outcome {
            scenario: spec.id.clone(),
            seed: Seed(0),
            trace: Trace::default(),
            failure: Some(Failure {
                class: FailureClass::Correctness,
                property: "test".to_string(),
                reason: String::new(),
                time: VirtualTime(at),
                entities: Vec::new(),
                also: Vec::new(),
            }),
            sometimes: BTreeMap::new(),
            plan: spec.faults.clone(),
            services: Default::default(),
        }
    }

    #[test]
    fn faults_after_the_failure_go_by_whole_episodes() {
        let ms = Duration::from_millis;
        let mut spec = crate::find("counter/unguarded").expect("in the catalog");
        spec.faults = FaultPlan::new()
            .at(ms(30), Fault::pause("worker-1"))
            .at(ms(60), Fault::resume("worker-1"))
            .at(ms(90), Fault::crash("worker-0"))
            .at(ms(150), Fault::restart("worker-0"));
        // The failure at 45 ms: the pause began before it and keeps its resume; the crash
        // episode starts after it and goes whole.
        let pruned = without_faults_after_failure(&spec, &failed_at(&spec, ms(45)));
        let shown: Vec<String> = pruned
            .expect("an episode starts after the failure")
            .faults
            .episodes()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["pause worker-1 at 30ms for 30ms"]);
        assert!(without_faults_after_failure(&spec, &failed_at(&spec, ms(200))).is_none());
    }

    /// A deadline stops shrinking: the search asks before each candidate (and between its
    /// passes), stops at the first no, and says so; without one it runs until it is done.
    #[test]
    fn a_deadline_stops_shrinking_and_says_so() {
        let spec = crate::find("counter/unguarded").expect("in the catalog");
        let failed = spec.seeds().map(|seed| spec.case().run(seed));
        let failed = failed
            .into_iter()
            .find(|run| run.failure.is_some())
            .expect("it fails");
        let whole = shrink(&spec, &failed, 400);
        assert!(!whole.stopped && whole.run_count > 3, "{}", whole.run_count);
        let asked = std::cell::Cell::new(0);
        let three_more = || {
            asked.set(asked.get() + 1);
            asked.get() <= 3
        };
        let stopped = shrink_while(&spec, &failed, 400, &three_more);
        assert!(stopped.stopped);
        assert!(stopped.run_count <= 3, "{}", stopped.run_count);
        let property = |shrunk: &Shrunk| shrunk.outcome.failure.clone().map(|f| f.property);
        assert_eq!(
            property(&stopped),
            property(&whole),
            "still the same failure"
        );
    }
}
