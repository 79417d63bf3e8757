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
