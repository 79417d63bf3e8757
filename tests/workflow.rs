//! The workflow executor: signals for one key run one after the other while keys run in
//! parallel; activities retry by policy, forever when asked (and a bounded-retry property
//! catches it); a worker crash mid-signal makes another worker run it again after the lease.

use std::time::Duration;

use serde_json::json;
use syncsim::services::workflow::{
    ActivityFailure, RetryPolicy, WorkerConfig, WorkflowEvent, WorkflowStore, Workflows,
    START_TO_CLOSE_TIMEOUT,
};
use syncsim::sim::{Case, Fault, FaultPlan, History, Property, Seed, Verdict, WorldBuilder};

use crate::support::{case, with_properties};
use syncsim::services::workflow::WorkflowWorld;

const LEASE: Duration = Duration::from_millis(500);

/// Two workers; `signals` (key, payload) sent at 10 ms; the handler runs one activity named
/// after the payload's `work` that sleeps 100 ms and fails when `fail` is set, with `policy`.
fn workflow_case(signals: Vec<(&'static str, u64)>, policy: RetryPolicy, fail: bool) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let workflows: Workflows = world.workflows("temporal");
        let config = WorkerConfig {
            lease: LEASE,
            poll_interval: Duration::from_millis(50),
        };
        for node in ["worker-1", "worker-2"] {
            let policy = policy.clone();
            workflows.worker(world.node(node), config.clone(), move |wf, key, payload| {
                let policy = policy.clone();
                async move {
                    let ctx = wf.ctx.clone();
                    let run = || async {
                        ctx.note(format!("start {key} {payload}"));
                        ctx.sleep(Duration::from_millis(100)).await;
                        ctx.note(format!("end {key} {payload}"));
                        if fail {
                            Err("CRM said no".to_string())
                        } else {
                            Ok(())
                        }
                    };
                    wf.activity("push", &policy, run)
                        .await
                        .map_err(|error| error.to_string())
                }
            });
        }
        let signals = signals.clone();
        world.node("api").process("signal", move |ctx| {
            let (workflows, signals) = (workflows.clone(), signals.clone());
            async move {
                ctx.sleep(Duration::from_millis(10)).await;
                for (key, work) in signals {
                    let _ = workflows.signal_with_start(&ctx, key, json!(work)).await;
                }
                // Keep the chaos phase going for the tests' timed faults.
                ctx.sleep(Duration::from_secs(2)).await;
            }
        });
    };
    let mut case = case(install, vec![], FaultPlan::new());
    case.phases.chaos = Duration::from_secs(3);
    case.phases.heal = Duration::from_secs(60);
    case.bounds.time_max = Duration::from_secs(120);
    case.bounds.events_max = 100_000;
    case
}

fn started_and_ended(history: &History) -> Vec<(u64, String)> {
    history
        .trace()
        .events()
        .iter()
        .filter(|event| event.detail.starts_with("start ") || event.detail.starts_with("end "))
        .map(|event| (event.time.as_micros(), event.detail.clone()))
        .collect()
}

#[test]
fn signals_for_one_key_run_serially_and_keys_run_in_parallel() {
    let serial = Property::eventually("test: org-1 serial, org-2 in parallel", |history| {
        let events = started_and_ended(history);
        let at = |detail: &str| {
            events
                .iter()
                .find(|(_, text)| text == detail)
                .map(|(time, _)| *time)
        };
        let (Some(end_first), Some(start_second), Some(start_other), Some(end_other)) = (
            at("end org-1 1"),
            at("start org-1 2"),
            at("start org-2 3"),
            at("end org-2 3"),
        ) else {
            return Verdict::violated(format!("missing runs: {events:?}"));
        };
        let start_first = at("start org-1 1").unwrap_or(u64::MAX);
        let parallel = start_other < end_first && start_first < end_other;
        Verdict::check(end_first <= start_second && parallel, || {
            format!("{events:?}")
        })
    });
    let signals = vec![("org-1", 1), ("org-1", 2), ("org-2", 3)];
    let case = with_properties(
        workflow_case(signals, RetryPolicy::attempts(3), false),
        vec![serial],
    );
    let outcome = case.run(Seed(1));
    assert_eq!(outcome.failure, None);
    assert!(case.check_determinism(Seed(1)).is_ok());
}

/// Every signal ends within `attempts_max` activity attempts.
fn bounded_retries(attempts_max: u32) -> Property {
    Property::eventually("test: no signal is retried forever", move |history| {
        let store = history.service::<WorkflowStore>("temporal");
        let most = store
            .log()
            .iter()
            .filter_map(|event| match event {
                WorkflowEvent::Activity { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let busy: Vec<String> = store
            .busy_keys()
            .iter()
            .map(|key| key.to_string())
            .collect();
        Verdict::check(most <= attempts_max && busy.is_empty(), || {
            format!("{most} attempts; still running: {busy:?}")
        })
    })
}

#[test]
fn a_bounded_policy_gives_up_visibly_and_backs_off_exponentially() {
    let gave_up = Property::eventually("test: failed after 3 attempts, 1 s then 2 s apart", |h| {
        let store = h.service::<WorkflowStore>("temporal");
        let failed = store.log().iter().any(|event| {
            matches!(event, WorkflowEvent::Completed { error: Some(error), .. }
                if error.contains("attempts exhausted: CRM said no"))
        });
        drop(store);
        let starts: Vec<u64> = started_and_ended(h)
            .into_iter()
            .filter(|(_, text)| text.starts_with("start"))
            .map(|(time, _)| time)
            .collect();
        // Each attempt takes 100 ms plus a renew and a record round trip, then the backoff.
        let gaps: Vec<u64> = starts.windows(2).map(|pair| pair[1] - pair[0]).collect();
        let backoff_ok = gaps.len() == 2
            && (1_100_000..1_200_000).contains(&gaps[0])
            && (2_100_000..2_200_000).contains(&gaps[1]);
        Verdict::check(failed && backoff_ok, || format!("gaps {gaps:?}"))
    });
    let case = workflow_case(vec![("org-1", 1)], RetryPolicy::attempts(3), true);
    let case = with_properties(case, vec![gave_up, bounded_retries(3)]);
    assert_eq!(case.run(Seed(2)).failure, None);
}

#[test]
fn retrying_forever_is_caught_by_a_bounded_retry_property() {
    let case = workflow_case(vec![("org-1", 1)], RetryPolicy::forever(), true);
    let case = with_properties(case, vec![bounded_retries(10)]);
    let failure = case
        .run(Seed(3))
        .failure
        .expect("the activity never stops retrying");
    assert_eq!(failure.property, "test: no signal is retried forever");
    assert!(
        failure.reason.contains("still running: [\"org-1\"]"),
        "{failure:?}"
    );
}

#[test]
fn a_worker_crash_mid_signal_reruns_it_on_another_worker_after_the_lease() {
    let rerun = Property::eventually("test: started twice, completed once", |history| {
        let store = history.service::<WorkflowStore>("temporal");
        let starts = store
            .log()
            .iter()
            .filter(|event| matches!(event, WorkflowEvent::Started { .. }))
            .count();
        let completed = store
            .log()
            .iter()
            .filter(|event| matches!(event, WorkflowEvent::Completed { error: None, .. }))
            .count();
        Verdict::check(starts == 2 && completed == 1, || {
            format!("{:?}", store.log())
        })
    });
    let mut case = workflow_case(vec![("org-1", 1)], RetryPolicy::attempts(3), false);
    // The signal is claimed by 60 ms at the latest and runs 100 ms: crash both candidates'
    // first run by crashing whichever holds it at 80 ms, i.e. both workers, then restart one.
    case.faults = FaultPlan::new()
        .at(Duration::from_millis(80), Fault::crash("worker-1"))
        .at(Duration::from_millis(80), Fault::crash("worker-2"))
        .at(Duration::from_millis(100), Fault::restart("worker-2"));
    let case = with_properties(case, vec![rerun]);
    assert_eq!(case.run(Seed(4)).failure, None);
}

/// Two workers; one signal for `org-1` at 10 ms whose handler runs two activities: "fetch"
/// (50 ms, returns 7) then "push" (300 ms, fails when `fail_push`), the second with `policy`.
/// Every run of an activity body leaves a note, so the trace counts executions.
fn two_activity_case(policy: RetryPolicy, fail_push: bool) -> Case {
    let install = move |world: &mut WorldBuilder| {
        let workflows: Workflows = world.workflows("temporal");
        let config = WorkerConfig {
            lease: LEASE,
            poll_interval: Duration::from_millis(50),
        };
        for node in ["worker-1", "worker-2"] {
            let policy = policy.clone();
            workflows.worker(
                world.node(node),
                config.clone(),
                move |wf, _key, _payload| {
                    let policy = policy.clone();
                    async move {
                        let ctx = wf.ctx.clone();
                        let fetch = || async {
                            ctx.note("run fetch");
                            ctx.sleep(Duration::from_millis(50)).await;
                            Ok::<u32, String>(7)
                        };
                        let fetched = wf.activity("fetch", &policy, fetch).await;
                        let fetched = fetched.map_err(|error| error.to_string())?;
                        let push = || async {
                            ctx.note(format!("run push with {fetched}"));
                            ctx.sleep(Duration::from_millis(300)).await;
                            if fail_push {
                                Err("CRM said no".to_string())
                            } else {
                                Ok(())
                            }
                        };
                        wf.activity("push", &policy, push)
                            .await
                            .map_err(|error| error.to_string())
                    }
                },
            );
        }
        world.node("api").process("signal", move |ctx| {
            let workflows = workflows.clone();
            async move {
                ctx.sleep(Duration::from_millis(10)).await;
                let _ = workflows.signal_with_start(&ctx, "org-1", json!(1)).await;
                ctx.sleep(Duration::from_secs(2)).await;
            }
        });
    };
    let mut case = case(install, vec![], FaultPlan::new());
    case.phases.chaos = Duration::from_secs(3);
    case.phases.heal = Duration::from_secs(60);
    case.bounds.time_max = Duration::from_secs(120);
    case.bounds.events_max = 100_000;
    case
}

/// The times (µs) of the trace notes that start with `prefix`.
fn notes_at(history: &History, prefix: &str) -> Vec<u64> {
    history
        .trace()
        .events()
        .iter()
        .filter(|event| event.detail.starts_with(prefix))
        .map(|event| event.time.as_micros())
        .collect()
}

/// The attempts of activity `name` as the store logged them: (attempt, error).
fn attempts_of(store: &WorkflowStore, name: &str) -> Vec<(u32, Option<String>)> {
    store
        .log()
        .iter()
        .filter_map(|event| match event {
            WorkflowEvent::Activity {
                name: ran,
                attempt,
                error,
                ..
            } if ran == name => Some((*attempt, error.clone())),
            _ => None,
        })
        .collect()
}

/// Both workers crash mid-"push" (claimed by ~60 ms, "fetch" done by ~120 ms, "push" runs
/// until ~420 ms) and one restarts at 300 ms.
fn crash_mid_push() -> FaultPlan {
    FaultPlan::new()
        .at(Duration::from_millis(250), Fault::crash("worker-1"))
        .at(Duration::from_millis(250), Fault::crash("worker-2"))
        .at(Duration::from_millis(300), Fault::restart("worker-2"))
}

#[test]
fn a_replay_after_a_crash_skips_completed_activities_and_keeps_the_attempt_count() {
    let replayed = Property::eventually("test: fetch ran once, push resumed at attempt 2", |h| {
        let fetches = notes_at(h, "run fetch");
        let pushes = notes_at(h, "run push with 7");
        let store = h.service::<WorkflowStore>("temporal");
        let push_attempts = attempts_of(&store, "push");
        let replays: Vec<u32> = store
            .log()
            .iter()
            .filter_map(|event| match event {
                WorkflowEvent::Started { replayed, .. } => Some(*replayed),
                _ => None,
            })
            .collect();
        let timed_out = Some(START_TO_CLOSE_TIMEOUT.to_string());
        let resumed = push_attempts == vec![(1, timed_out), (2, None)];
        // The second attempt waits out the first's start-to-close timeout (the lease), then
        // the policy's backoff after it (1 s).
        let waited = pushes.len() == 2 && pushes[1] >= pushes[0] + 1_500_000;
        Verdict::check(
            fetches.len() == 1 && resumed && waited && replays == vec![0, 1],
            || format!("fetch at {fetches:?}, push at {pushes:?}, {push_attempts:?}, {replays:?}"),
        )
    });
    let mut case = two_activity_case(RetryPolicy::attempts(3), false);
    case.faults = crash_mid_push();
    let case = with_properties(case, vec![replayed]);
    assert_eq!(case.run(Seed(5)).failure, None);
}

#[test]
fn a_timed_out_attempt_counts_against_the_attempts_bound() {
    // Two attempts allowed: the crash times the first out, the second fails, so the signal
    // fails after two runs of "push", not three (which a count restarting at 1 would allow).
    let bounded = Property::eventually("test: push ran twice and the signal failed", |h| {
        let pushes = notes_at(h, "run push with 7");
        let store = h.service::<WorkflowStore>("temporal");
        let failed = store.log().iter().any(|event| {
            matches!(event, WorkflowEvent::Completed { error: Some(error), .. }
                if error.contains("attempts exhausted: CRM said no"))
        });
        Verdict::check(pushes.len() == 2 && failed, || {
            format!("push at {pushes:?}: {:?}", store.log())
        })
    });
    let mut case = two_activity_case(RetryPolicy::attempts(2), true);
    case.faults = crash_mid_push();
    let case = with_properties(case, vec![bounded]);
    assert_eq!(case.run(Seed(6)).failure, None);
}

#[test]
fn a_non_retryable_error_fails_the_activity_at_once_despite_a_forever_policy() {
    let install = |world: &mut WorldBuilder| {
        let workflows: Workflows = world.workflows("temporal");
        let config = WorkerConfig {
            lease: LEASE,
            poll_interval: Duration::from_millis(50),
        };
        // Retry forever, except an `InvalidAccount` (listed) or a failure flagged so.
        let policy = RetryPolicy {
            non_retryable_error_types: vec!["InvalidAccount".to_string()],
            ..RetryPolicy::forever()
        };
        workflows.worker(world.node("worker-1"), config, move |wf, _key, payload| {
            let policy = policy.clone();
            async move {
                let fail = || async {
                    let failure = if payload == json!("listed") {
                        ActivityFailure::new("InvalidAccount", "no such account")
                    } else {
                        ActivityFailure::non_retryable("Revoked", "API key revoked")
                    };
                    Err::<(), _>(failure)
                };
                wf.activity("push", &policy, fail)
                    .await
                    .map_err(|error| error.to_string())
            }
        });
        world.node("api").process("signal", move |ctx| {
            let workflows = workflows.clone();
            async move {
                ctx.sleep(Duration::from_millis(10)).await;
                let _ = workflows
                    .signal_with_start(&ctx, "org-1", json!("listed"))
                    .await;
                let _ = workflows
                    .signal_with_start(&ctx, "org-2", json!("flagged"))
                    .await;
            }
        });
    };
    let failed_once = Property::eventually("test: each signal failed after one attempt", |h| {
        let store = h.service::<WorkflowStore>("temporal");
        let errors: Vec<&str> = store
            .log()
            .iter()
            .filter_map(|event| match event {
                WorkflowEvent::Completed {
                    error: Some(error), ..
                } => Some(error.as_str()),
                _ => None,
            })
            .collect();
        let expected = [
            "non-retryable: InvalidAccount: no such account",
            "non-retryable: Revoked: API key revoked",
        ];
        let once = attempts_of(&store, "push")
            .iter()
            .all(|(attempt, _)| *attempt == 1);
        Verdict::check(once && errors == expected, || format!("{:?}", store.log()))
    });
    let mut case = case(install, vec![failed_once], FaultPlan::new());
    case.phases.chaos = Duration::from_secs(1);
    case.phases.heal = Duration::from_secs(30);
    case.bounds.time_max = Duration::from_secs(60);
    case.bounds.events_max = 100_000;
    assert_eq!(case.run(Seed(7)).failure, None);
}

#[test]
fn a_failed_run_closes_with_its_unhandled_signals_and_the_next_signal_starts_a_new_run() {
    let install = |world: &mut WorldBuilder| {
        let workflows: Workflows = world.workflows("temporal");
        let config = WorkerConfig {
            lease: LEASE,
            poll_interval: Duration::from_millis(50),
        };
        workflows.worker(
            world.node("worker-1"),
            config,
            move |wf, _key, payload| async move {
                wf.ctx.note(format!("handle {payload}"));
                let policy = RetryPolicy::attempts(1);
                let push = || async {
                    wf.ctx.sleep(Duration::from_millis(100)).await;
                    if payload == json!("bad") {
                        Err("CRM said no".to_string())
                    } else {
                        Ok(())
                    }
                };
                wf.activity("push", &policy, push)
                    .await
                    .map_err(|error| error.to_string())
            },
        );
        world.node("api").process("signal", move |ctx| {
            let workflows = workflows.clone();
            async move {
                // "queued" arrives while "bad" runs; "later" after the run failed.
                ctx.sleep(Duration::from_millis(10)).await;
                let _ = workflows
                    .signal_with_start(&ctx, "org-1", json!("bad"))
                    .await;
                let _ = workflows
                    .signal_with_start(&ctx, "org-1", json!("queued"))
                    .await;
                ctx.sleep(Duration::from_secs(1)).await;
                let _ = workflows
                    .signal_with_start(&ctx, "org-1", json!("later"))
                    .await;
            }
        });
    };
    let lifecycle = Property::eventually(
        "test: run 1 failed with one unhandled signal",
        run_one_failed_with_one_unhandled_signal,
    );
    let mut case = case(install, vec![lifecycle], FaultPlan::new());
    case.phases.chaos = Duration::from_secs(2);
    case.phases.heal = Duration::from_secs(30);
    case.bounds.time_max = Duration::from_secs(60);
    case.bounds.events_max = 100_000;
    assert_eq!(case.run(Seed(8)).failure, None);
}

fn run_one_failed_with_one_unhandled_signal(h: &History) -> Verdict {
    let handled = notes_at(h, "handle \"queued\"").len();
    let store = h.service::<WorkflowStore>("temporal");
    let mut runs: Vec<(u32, Option<String>, Vec<u64>)> = Vec::new();
    let mut signaled: Vec<(u64, u32)> = Vec::new();
    for event in store.log() {
        match event {
            WorkflowEvent::RunClosed {
                run,
                error,
                unhandled,
                ..
            } => runs.push((*run, error.clone(), unhandled.clone())),
            WorkflowEvent::Signaled { signal, run, .. } => signaled.push((*signal, *run)),
            _ => {}
        }
    }
    let failed = Some("attempts exhausted: CRM said no".to_string());
    let expected_runs = vec![(1, failed, vec![2]), (2, None, vec![])];
    Verdict::check(
        handled == 0 && runs == expected_runs && signaled == vec![(1, 1), (2, 1), (3, 2)],
        || format!("queued handled {handled} times; {runs:?}; {signaled:?}"),
    )
}
