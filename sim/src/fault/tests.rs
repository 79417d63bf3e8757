//! Tests of fault plans: ordering, serde, materialization, stability windows, swarm.

use super::*;

fn crash_episodes(probability_per_sec: Ratio) -> RandomFault {
    RandomFault::CrashRestart(Episodes {
        nodes: vec!["worker-0".into(), "worker-1".into()],
        probability_per_sec,
        duration_min: Duration::from_millis(200),
        duration_max: Duration::from_millis(800),
        stability: Duration::from_secs(2),
    })
}

#[test]
fn plan_keeps_time_order_and_round_trips_through_json() {
    let plan = FaultPlan::new()
        .at(Duration::from_secs(2), Fault::restart("worker-0"))
        .at(Duration::from_secs(1), Fault::crash("worker-0"))
        .random(crash_episodes(Ratio::new(1, 4)));
    assert_eq!(plan.faults()[0].fault, Fault::crash("worker-0"));
    let json = serde_json::to_string(&plan).expect("serializable");
    assert!(
        json.contains(r#"{"at":"1s","fault":"crash","node":"worker-0"}"#),
        "{json}"
    );
    let back: FaultPlan = serde_json::from_str(&json).expect("parses back");
    assert_eq!(back, plan);
}

#[test]
fn unknown_fields_are_rejected() {
    let bad = r#"{"timed":[],"chaos":true}"#;
    let error = serde_json::from_str::<FaultPlan>(bad).expect_err("unknown field");
    assert!(
        error.to_string().contains("unknown field `chaos`"),
        "{error}"
    );
}

#[test]
fn materialize_is_a_function_of_the_seed_and_respects_stability_windows() {
    let plan = FaultPlan::new().random(crash_episodes(Ratio::new(1, 1)));
    let chaos = Duration::from_secs(30);
    let first = plan.materialize(Seed(5), chaos);
    assert_eq!(first, plan.materialize(Seed(5), chaos));
    assert_ne!(first, plan.materialize(Seed(6), chaos));
    assert!(first.is_concrete());
    for node in ["worker-0", "worker-1"] {
        let mut down_since: Option<Duration> = None;
        let mut up_since = Duration::ZERO;
        for timed in first
            .faults()
            .iter()
            .filter(|timed| timed.fault.node() == node)
        {
            match &timed.fault {
                Fault::Crash { .. } => {
                    assert!(down_since.is_none(), "crashed twice: {first:?}");
                    assert!(
                        timed.at >= up_since,
                        "crashed before its stability window ended"
                    );
                    down_since = Some(timed.at);
                }
                Fault::Restart { .. } => {
                    let since = down_since.take().expect("restart follows a crash");
                    let down = timed.at - since;
                    assert!(
                        down >= Duration::from_millis(200) && down <= Duration::from_millis(800)
                    );
                    up_since = timed.at + Duration::from_secs(2);
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert!(
        first.faults().len() >= 10,
        "a certain episode every allowed second"
    );
}

#[test]
fn swarm_turns_generators_on_and_off_across_seeds() {
    let plan = FaultPlan::new()
        .random(crash_episodes(Ratio::new(1, 8)))
        .swarm();
    let counts: Vec<usize> = (0..40)
        .map(|seed| {
            plan.materialize(Seed(seed), Duration::from_secs(20))
                .faults()
                .len()
        })
        .collect();
    assert!(
        counts.contains(&0),
        "some seeds turn crashes off: {counts:?}"
    );
    assert!(
        counts.iter().any(|count| *count >= 6),
        "some seeds crash hard: {counts:?}"
    );
}

#[test]
fn quiet_request_faults_are_dropped_from_the_concrete_plan() {
    let plan = FaultPlan::new().random(RandomFault::Requests(RequestFaults::default()));
    assert_eq!(
        plan.materialize(Seed(1), Duration::from_secs(1))
            .request_faults(),
        None
    );
}

#[test]
fn request_faults_with_targets_apply_only_to_requests_to_those_services() {
    let everywhere = RequestFaults::default();
    assert!(everywhere.applies_to("crm") && everywhere.applies_to("db"));
    let crm_only = RequestFaults {
        targets: vec!["crm".to_string()],
        ..RequestFaults::default()
    };
    assert!(crm_only.applies_to("crm"));
    assert!(!crm_only.applies_to("db"));
}

#[test]
fn episodes_pair_each_opening_with_its_closing_fault_and_print_their_lengths() {
    let ms = Duration::from_millis;
    let plan = FaultPlan::new()
        .at(ms(10), Fault::restart("worker-1"))
        .at(ms(30), Fault::pause("store"))
        .at(ms(40), Fault::crash("worker-0"))
        .at(ms(45), Fault::crash("worker-0"))
        .at(ms(90), Fault::restart("worker-0"))
        .at(ms(1_530), Fault::resume("store"))
        .at(ms(2_000), Fault::isolate("worker-1"));
    let shown: Vec<String> = plan.episodes().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "restart worker-1 at 10ms (skipped: no episode to end)",
            "pause store at 30ms for 1.500s",
            "crash worker-0 at 40ms for 50ms",
            "crash worker-0 at 45ms (skipped: no episode to end)",
            "isolate worker-1 at 2s until heal",
        ]
    );
    assert_eq!(
        timed_faults(&plan.episodes()),
        plan.timed,
        "back to the same plan"
    );
}

#[test]
fn episodes_turn_back_into_the_same_plan_even_with_faults_at_equal_times() {
    for seed in 0..50 {
        let plan = FaultPlan::new()
            .at(Duration::from_millis(500), Fault::crash("worker-1"))
            .at(Duration::from_millis(500), Fault::restart("worker-0"))
            .random(crash_episodes(Ratio::new(1, 2)))
            .random(RandomFault::PauseResume(Episodes {
                nodes: vec!["worker-0".into(), "store".into()],
                probability_per_sec: Ratio::new(1, 2),
                duration_min: Duration::ZERO,
                duration_max: Duration::from_millis(300),
                stability: Duration::ZERO,
            }));
        let concrete = plan.materialize(Seed(seed), Duration::from_secs(20));
        assert_eq!(
            timed_faults(&concrete.episodes()),
            concrete.timed,
            "seed {seed}"
        );
    }
}

#[test]
fn a_shortened_episode_closes_earlier_and_keeps_its_place_among_equal_times() {
    let ms = Duration::from_millis;
    let plan = FaultPlan::new()
        .at(ms(100), Fault::outage("broker"))
        .at(ms(100), Fault::crash("worker-0"))
        .at(ms(400), Fault::recover("broker"));
    let mut units = plan.episodes();
    units[0] = units[0].with_length(Duration::ZERO);
    let faults: Vec<String> = timed_faults(&units)
        .iter()
        .map(|timed| format!("{} {}", describe_at(timed.at), timed.fault))
        .collect();
    assert_eq!(
        faults,
        vec![
            "100ms outage broker",
            "100ms crash worker-0",
            "100ms recover broker"
        ]
    );
}

fn describe_at(at: Duration) -> String {
    crate::time::describe(at)
}
