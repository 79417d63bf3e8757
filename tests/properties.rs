//! Properties as a scenario chooses them: a scenario names the properties it checks (all by
//! default), and a failed run reports every property that failed in its failing check, not
//! only the first in the model's order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use syncsim::scenarios::{self, ScenarioSpec};
use syncsim::services::register::{Register, RegisterRequest};
use syncsim::sim::{Case, EventKind, FaultPlan, Property, Seed, ServiceKey, Verdict, WorldBuilder};

use crate::cli::{scratch_dir, syncsim_in, text};
use crate::support::case;

const WITHOUT_EVENT: &str = "contract_outbox: a contract is never signed without its event";
const EMAIL: &str = "contract_outbox: every signed contract with a parent gets its email";
const LOST_UPDATE: &str = "counter: no lost update";
const SAME_VALUE: &str = "counter: two workers read the same value";

fn scenario(id: &str, properties: &[&str]) -> ScenarioSpec {
    let mut scenario = scenarios::find(id).expect("in the catalog");
    scenario.properties = properties.iter().map(ToString::to_string).collect();
    scenario
}

#[test]
fn every_property_failing_the_end_of_run_check_is_reported() {
    // no_outbox writes no event: both the event property and the email property fail.
    let outcome = scenario("contract_outbox/no_outbox", &[])
        .case()
        .run(Seed(0));
    let failure = outcome.failure.clone().expect("caught on seed 0");
    assert_eq!(failure.property, WITHOUT_EVENT);
    let also: Vec<&str> = failure
        .also
        .iter()
        .map(|other| other.property.as_str())
        .collect();
    assert_eq!(also, [EMAIL]);
    let report = outcome.report().expect("failed").to_string();
    assert!(
        report.contains(&format!("  also:     {EMAIL}: ")),
        "{report}"
    );
}

#[test]
fn every_always_property_violated_in_one_check_is_reported() {
    let short = |name: &'static str, events_max: usize| {
        Property::always(name, move |history| {
            let count = history.trace().len();
            Verdict::check(count < events_max, || format!("{count} events"))
        })
    };
    let outcome = case(
        |world| {
            world.node("client").process("work", |ctx| async move {
                for step in 0..10 {
                    ctx.note(format!("step {step}"));
                }
            });
        },
        vec![
            short("test: first", 4),
            short("test: second", 4),
            short("test: third", 1_000),
        ],
        FaultPlan::new(),
    )
    .run(Seed(1));
    let failure = outcome.failure.expect("both short properties fail");
    assert_eq!(failure.property, "test: first");
    let also: Vec<&str> = failure
        .also
        .iter()
        .map(|other| other.property.as_str())
        .collect();
    assert_eq!(also, ["test: second"], "the third still held");
}

#[test]
fn a_scenario_checks_only_the_properties_it_names() {
    let only_email = scenario("contract_outbox/no_outbox", &[EMAIL]);
    only_email.validate().expect("a property of the model");
    let failure = only_email
        .case()
        .run(Seed(0))
        .failure
        .expect("still caught");
    assert_eq!(failure.property, EMAIL);
    assert!(
        failure.also.is_empty(),
        "the event property is switched off"
    );
    // Without its `always`, the unguarded counter has nothing left to fail.
    let unchecked = scenario("counter/unguarded", &[SAME_VALUE]);
    let sweep = unchecked.case().run_seeds(unchecked.seeds(), true);
    assert!(
        sweep.failure.is_none(),
        "{:?}",
        sweep.failure.map(|run| run.failure)
    );
    let checked = scenario("counter/unguarded", &[LOST_UPDATE, SAME_VALUE]);
    assert!(checked
        .case()
        .run_seeds(checked.seeds(), true)
        .failure
        .is_some());
}

#[test]
fn a_property_the_model_lacks_is_refused_naming_the_known_ones() {
    let error = scenario("counter/unguarded", &["counter: no double count"])
        .validate()
        .expect_err("no such property");
    let message = error.to_string();
    assert!(
        message.contains("has no property \"counter: no double count\""),
        "{message}"
    );
    assert!(message.contains(LOST_UPDATE), "{message}");
}

#[test]
fn run_says_which_property_shrinking_kept_when_several_failed() {
    let failures = scratch_dir("kept-property");
    let output = syncsim_in(&failures, &["run", "contract_outbox/no_outbox"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let kept = format!(
        "kept:     shrinking kept `{WITHOUT_EVENT}`; the unshrunk run also failed `{EMAIL}`"
    );
    assert!(stdout.contains(&kept), "{stdout}");
    let _ = std::fs::remove_dir_all(failures);
}

#[test]
fn an_end_of_run_failure_shows_the_lines_about_its_entities_not_the_idle_tail() {
    // role_sync/unguarded fails at the end of a run of about 18,500 virtual seconds; its
    // cause (affiliations sent to the CRM before their contacts) is in its first hours.
    let outcome = scenarios::find("role_sync/unguarded")
        .expect("in the catalog")
        .case()
        .run(Seed(0));
    let failure = outcome.failure.clone().expect("caught on seed 0");
    assert!(failure.entities.contains(&"/1".to_string()), "{failure:?}");
    let seconds = |line: &String| -> f64 {
        let time = line.split_whitespace().next().expect("a time");
        time.trim_end_matches('s').parse().expect("seconds")
    };
    let report = outcome.report().expect("failed");
    assert!(report.entity_line_count.is_some());
    let shown: Vec<f64> = report.trace_tail.iter().map(seconds).collect();
    // The last line is the failing check itself; the ones before it are the cause.
    assert!(
        shown[..shown.len() - 1].iter().all(|time| *time < 10_000.0),
        "{shown:?}"
    );
    let idle: Vec<f64> = outcome.trace.tail(12).iter().map(seconds).collect();
    assert!(idle.iter().all(|time| *time > 10_000.0), "{idle:?}");
    let text = report.to_string();
    assert!(text.contains("trace lines mentioning `/1`"), "{text}");
}

/// The register of the incremental-property tests: its name and type, declared once.
const LOG: ServiceKey<Register> = ServiceKey::new("store");

/// A writer that puts 1, 2, ... `count` into one key, one call after the other.
fn writes(count: i64) -> impl Fn(&mut WorldBuilder) + Send + Sync + 'static {
    move |world| {
        let store = world.service(LOG.name(), Register::default());
        world.node("writer").process("put", move |ctx| {
            let store = store.clone();
            async move {
                for value in 1..=count {
                    let put = RegisterRequest::Put {
                        key: "k".to_string(),
                        value,
                    };
                    let _ = ctx.call(&store, put).await;
                }
            }
        });
    }
}

#[test]
fn an_incremental_always_reads_each_entry_once_and_all_of_them_at_the_end() {
    let visits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&visits);
    let seen = Property::always_each("test: entries seen", LOG, Register::log, move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Verdict::Pass
    });
    let all_written = Property::eventually("test: every put applied", |history| {
        let applied = history.read(&LOG).log().len();
        Verdict::check(applied == 50, || format!("{applied} applied"))
    });
    let outcome = Case::quick("test/incremental", writes(50))
        .properties([seen, all_written])
        .run(Seed(1));
    assert_eq!(outcome.failure, None);
    // 50 after the writes, one check each, and 50 again by the end-of-run check; a rescan
    // at every check would have read 50 * 51 / 2 + 50 = 1,325.
    assert_eq!(visits.load(Ordering::SeqCst), 100);
}

#[test]
fn an_incremental_always_fails_at_the_first_bad_entry_when_it_arrives() {
    let below = Property::always_each("test: below 20", LOG, Register::log, |applied| {
        Verdict::check(applied.after < 20, || format!("put {}", applied.after))
    });
    let outcome = Case::quick("test/incremental", writes(50))
        .property(below)
        .run(Seed(1));
    let failure = outcome.failure.expect("the 20th put breaks it");
    assert_eq!(failure.reason, "put 20");
    let applied_at = outcome
        .trace
        .events()
        .iter()
        .find(|event| event.kind == EventKind::Apply && event.detail.contains("= 20 ->"))
        .map(|event| event.time);
    assert_eq!(
        Some(failure.time),
        applied_at,
        "checked right after the 20th put"
    );
}
