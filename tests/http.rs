//! HTTP between nodes: a handler runs on its node; a down target refuses; an isolated or
//! paused one makes the caller wait or time out; a crash mid-handler leaves the side effect
//! without a response; the plan's request faults reject, duplicate and lose responses.
//!
//! The worlds use a fixed 10 ms one-way latency and a 200 ms call timeout, so the instants in
//! the assertions follow from the schedule in each test.

use std::time::Duration;

use serde_json::json;
use syncsim::services::http::{HttpRequest, HttpResponse};
use syncsim::sim::{
    Case, EventKind, Fault, FaultPlan, Outcome, RandomFault, Ratio, RequestFaults, Seed,
    WorldBuilder,
};

use crate::support::case;
use syncsim::services::http::HttpCall;
use syncsim::services::http::HttpServe;

const LATENCY: Duration = Duration::from_millis(10);

/// An `api` node whose handler notes each request, works `work` long, then answers 201; a
/// `client` node that posts once at 20 ms and notes the result.
fn api_case(work: Duration, faults: FaultPlan) -> Case {
    let install = move |world: &mut WorldBuilder| {
        world.node("api").http(move |ctx, request| async move {
            ctx.note(format!("handling {request} on {}", ctx.node()));
            ctx.sleep(work).await;
            HttpResponse {
                status: 201,
                body: json!({"id": 7}),
            }
        });
        world.node("client").process("post", |ctx| async move {
            ctx.sleep(Duration::from_millis(20)).await;
            let response = ctx
                .http("api", HttpRequest::post("/users", json!({"n": 1})))
                .await;
            ctx.note(format!("got {response:?}"));
        });
    };
    let mut case = case(install, vec![], faults);
    case.net.latency_min = LATENCY;
    case.net.latency_max = LATENCY;
    case
}

fn notes(outcome: &Outcome) -> Vec<String> {
    outcome
        .trace
        .events()
        .iter()
        .filter(|event| event.kind == EventKind::Note)
        .map(|event| format!("{} {}: {}", event.time, event.node, event.detail))
        .collect()
}

const HANDLED: &str = "0.030000s api: handling POST /users {\"n\":1} on api";

#[test]
fn a_handler_runs_on_its_node_and_its_response_travels_back() {
    let outcome = api_case(Duration::from_millis(5), FaultPlan::new()).run(Seed(1));
    assert_eq!(outcome.failure, None);
    let expected = [
        HANDLED,
        "0.045000s client: got Ok(HttpResponse { status: 201, body: Object {\"id\": Number(7)} })",
    ];
    assert_eq!(notes(&outcome), expected);
}

#[test]
fn a_down_target_refuses_after_one_round_trip() {
    let faults = FaultPlan::new().at(Duration::from_millis(5), Fault::crash("api"));
    let outcome = api_case(Duration::ZERO, faults).run(Seed(1));
    assert_eq!(notes(&outcome), ["0.040000s client: got Err(Refused)"]);
}

#[test]
fn a_crash_mid_handler_keeps_the_side_effect_and_the_caller_times_out() {
    let faults = FaultPlan::new()
        .at(Duration::from_millis(40), Fault::crash("api"))
        .at(Duration::from_millis(60), Fault::restart("api"));
    let outcome = api_case(Duration::from_millis(50), faults).run(Seed(1));
    // Sent at 20 ms, the timeout runs out at 220 ms.
    assert_eq!(
        notes(&outcome),
        [HANDLED, "0.220000s client: got Err(Timeout)"]
    );
}

#[test]
fn an_isolated_target_times_out_and_a_paused_one_answers_after_resume() {
    let isolated = FaultPlan::new().at(Duration::from_millis(5), Fault::isolate("api"));
    let outcome = api_case(Duration::ZERO, isolated).run(Seed(1));
    assert_eq!(notes(&outcome), ["0.220000s client: got Err(Timeout)"]);
    let paused = FaultPlan::new()
        .at(Duration::from_millis(5), Fault::pause("api"))
        .at(Duration::from_millis(100), Fault::resume("api"));
    let outcome = api_case(Duration::ZERO, paused).run(Seed(1));
    let notes = notes(&outcome);
    // Held until the resume (polled each millisecond), then a 10 ms trip back.
    assert!(
        notes[0].starts_with("0.100") && notes[0].contains("api: handling"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("0.11") && notes[1].contains("client: got Ok"),
        "{notes:?}"
    );
}

#[test]
fn a_restarted_node_serves_again() {
    let faults = FaultPlan::new()
        .at(Duration::from_millis(1), Fault::crash("api"))
        .at(Duration::from_millis(2), Fault::restart("api"));
    let outcome = api_case(Duration::ZERO, faults).run(Seed(1));
    assert_eq!(notes(&outcome).len(), 2, "{:?}", notes(&outcome));
}

fn always(requests: RequestFaults) -> FaultPlan {
    FaultPlan::new().random(RandomFault::Requests(requests))
}

#[test]
fn request_faults_reject_duplicate_and_lose_responses() {
    let every = Ratio::new(1, 1);
    let rejected = always(RequestFaults {
        reject_probability: every,
        ..RequestFaults::default()
    });
    let outcome = api_case(Duration::ZERO, rejected).run(Seed(1));
    let expected = "0.040000s client: got Ok(HttpResponse { status: 503, body: Null })";
    assert_eq!(notes(&outcome), [expected]);

    let duplicated = always(RequestFaults {
        duplicate_probability: every,
        ..RequestFaults::default()
    });
    let outcome = api_case(Duration::ZERO, duplicated).run(Seed(1));
    let handled = notes(&outcome)
        .iter()
        .filter(|note| note.contains("handling"))
        .count();
    assert_eq!(handled, 2, "{:?}", notes(&outcome));

    let lost = always(RequestFaults {
        reply_lost_probability: every,
        ..RequestFaults::default()
    });
    let outcome = api_case(Duration::ZERO, lost).run(Seed(1));
    assert_eq!(
        notes(&outcome),
        [HANDLED, "0.220000s client: got Err(Timeout)"]
    );
}
