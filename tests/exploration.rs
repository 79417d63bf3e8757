//! Exploration: scenarios as data, random faults and swarm, shrinking, replay files, the
//! Mermaid and Chrome renderings, and fuzz sharding.
//!
//! Each test drives the real catalog (the toy model) through the same code paths the CLI
//! uses, and checks the claims users rely on: a concrete plan replays its random run, a
//! shrunk failure still fails the same property and is smaller, a replay file reproduces
//! the digest, shards partition the seeds.

use std::collections::BTreeSet;

use syncsim::scenarios::replay::ReplayFile;
use syncsim::scenarios::{self, shrink, ScenarioSpec};
use syncsim::sim::{render, Modality, Property, Seed};

use crate::cli::{scratch_dir, syncsim_in, text};

fn first_failure(id: &str) -> (ScenarioSpec, syncsim::sim::Outcome) {
    let scenario = scenarios::find(id).expect("in the catalog");
    let sweep = scenario.case().run_seeds(scenario.seeds(), true);
    (scenario, sweep.failure.expect("the budget catches it"))
}

#[test]
fn every_catalog_scenario_validates_and_round_trips_through_json() {
    for scenario in scenarios::catalog() {
        scenario.validate().expect("valid");
        let json = serde_json::to_string(&scenario).expect("serializes");
        let back: ScenarioSpec = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, scenario);
        let tampered = json.replacen("\"seed_count\"", "\"seed_budget\"", 1);
        let error = serde_json::from_str::<ScenarioSpec>(&tampered).expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `seed_budget`"),
            "{error}"
        );
    }
}

#[test]
fn a_run_on_its_concrete_plan_is_the_same_run_as_on_the_random_generators() {
    let scenario = scenarios::find("counter/compare_and_set/swarm").expect("in the catalog");
    for seed in 0..5 {
        let random = scenario.case().run(Seed(seed));
        let mut concrete = scenario.clone();
        concrete.faults = random.plan.clone();
        assert!(concrete.faults.is_concrete());
        assert_eq!(
            concrete.case().run(Seed(seed)).digest(),
            random.digest(),
            "seed {seed}"
        );
    }
}

#[test]
fn swarm_mode_draws_every_fault_kind_and_different_mixtures_across_seeds() {
    let scenario = scenarios::find("counter/compare_and_set/swarm").expect("in the catalog");
    let mut mixtures = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for seed in 0..scenario.seed_count {
        let outcome = scenario.case().run(Seed(seed));
        let verbs: BTreeSet<&str> = outcome
            .plan
            .timed
            .iter()
            .map(|timed| timed.fault.verb())
            .collect();
        mixtures.insert(format!(
            "{verbs:?} requests={}",
            outcome.plan.request_faults().is_some()
        ));
        let rendered = outcome.trace.render();
        for needle in [
            "fault crash",
            "fault pause",
            "fault isolate",
            "-> rejected",
            "reply lost",
            "duplicate delivery",
            "request lost",
        ] {
            if rendered.contains(needle) {
                seen.insert(needle);
            }
        }
    }
    assert!(
        mixtures.len() >= 6,
        "only {} fault mixtures: {mixtures:?}",
        mixtures.len()
    );
    assert_eq!(seen.len(), 7, "fault kinds that really happened: {seen:?}");
}

#[test]
fn shrinking_keeps_the_property_and_makes_the_failure_smaller() {
    let (scenario, failed) = first_failure("counter/unguarded/swarm");
    let property = failed.failure.clone().expect("failed").property;
    let shrunk = shrink::shrink(&scenario, &failed, 400);
    assert_eq!(
        shrunk
            .outcome
            .failure
            .clone()
            .expect("still fails")
            .property,
        property
    );
    assert!(shrunk.fault_count.0 > 0, "the swarm drew faults");
    assert!(
        shrunk.fault_count.1 < shrunk.fault_count.0,
        "{:?}",
        shrunk.fault_count
    );
    assert!(
        shrunk.event_count.1 <= shrunk.event_count.0,
        "{:?}",
        shrunk.event_count
    );
    assert_eq!(
        shrunk.spec.case().run(failed.seed).digest(),
        shrunk.outcome.digest()
    );
}

#[test]
fn a_replay_file_round_trips_and_reproduces_the_digest() {
    let (scenario, failed) = first_failure("counter/unguarded/swarm");
    let shrunk = shrink::shrink(&scenario, &failed, 100);
    let file = ReplayFile::from_shrunk(&shrunk);
    let parsed = ReplayFile::from_json(&file.to_json(), "memory").expect("parses");
    assert_eq!(parsed, file);
    assert_eq!(parsed.version_note(), None);
    let replayed = parsed.replay();
    assert_eq!(replayed.digest(), file.digest);
    assert_eq!(replayed.failure, Some(file.failure.clone()));
}

fn write_replay_file(
    name: &str,
    mutate: impl Fn(String) -> String,
) -> (std::path::PathBuf, String) {
    let (scenario, failed) = first_failure("counter/unguarded");
    let file = ReplayFile::from_outcome(&scenario, &failed);
    let directory = scratch_dir(name);
    let path = directory.join("failure.json");
    std::fs::create_dir_all(&directory).expect("temp dir");
    #[allow(clippy::disallowed_methods)] // Test fixture on the real file system.
    std::fs::write(&path, mutate(file.to_json())).expect("writable");
    (path, file.digest)
}

#[test]
fn a_replay_file_from_another_version_says_so_and_still_runs() {
    let (path, digest) = write_replay_file("version", |json| {
        json.replacen(
            &format!("\"{}\"", scenarios::replay::VERSION),
            "\"0.0.1\"",
            1,
        )
    });
    let output = syncsim_in(
        &scratch_dir("version"),
        &["replay", path.to_str().expect("utf-8")],
    );
    let stderr = text(&output.stderr);
    assert!(stderr.contains("written by syncsim 0.0.1"), "{stderr}");
    assert!(stderr.contains(&format!("digest {digest}")), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn malformed_replay_files_get_a_clear_message_and_exit_code_2() {
    type Mutation = fn(String) -> String;
    let cases: [(&str, Mutation, &str); 3] = [
        (
            "truncated",
            |json| json[..json.len() / 2].to_string(),
            "not a syncsim replay file",
        ),
        (
            "bad-seed",
            |json| json.replacen("\"seed\": \"0x", "\"seed\": \"0y", 1),
            "invalid seed",
        ),
        (
            "bad-id",
            |json| json.replacen("\"counter/unguarded\"", "\"counter/other\"", 1),
            "invalid scenario",
        ),
    ];
    for (name, mutate, message) in cases {
        let (path, _) = write_replay_file(name, mutate);
        let output = syncsim_in(
            &scratch_dir(name),
            &["replay", path.to_str().expect("utf-8")],
        );
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
}

/// Checks the Mermaid subset we emit: a header, declared participants, and only arrows and
/// notes between declared participants, with no character Mermaid treats as syntax.
fn validate_mermaid(diagram: &str) -> Result<(), String> {
    let mut lines = diagram.lines();
    if lines.next() != Some("sequenceDiagram") {
        return Err("missing sequenceDiagram header".into());
    }
    let mut participants = BTreeSet::new();
    for line in lines {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("participant ") {
            let (id, _) = rest
                .split_once(" as ")
                .ok_or(format!("bad participant: {line}"))?;
            participants.insert(id.to_string());
            continue;
        }
        let (head, message) = line.split_once(": ").ok_or(format!("no message: {line}"))?;
        if message.contains(';') || message.contains('#') {
            return Err(format!("unescaped syntax character: {line}"));
        }
        let ids: Vec<&str> = if let Some(over) = head.strip_prefix("Note over ") {
            vec![over]
        } else {
            let arrow = ["-->>", "->>", "--x"]
                .into_iter()
                .find(|arrow| head.contains(arrow));
            let arrow = arrow.ok_or(format!("no arrow: {line}"))?;
            head.split(arrow).collect()
        };
        if let Some(unknown) = ids.iter().find(|id| !participants.contains(**id)) {
            return Err(format!("undeclared participant {unknown}: {line}"));
        }
    }
    Ok(())
}

#[test]
fn the_mermaid_rendering_is_a_valid_sequence_diagram() {
    let (_, failed) = first_failure("counter/unguarded/swarm");
    let diagram = render::mermaid(&failed.trace);
    validate_mermaid(&diagram).expect("valid Mermaid");
    assert!(
        diagram.contains("->>") && diagram.contains("-->>"),
        "{diagram}"
    );
    assert!(
        validate_mermaid("sequenceDiagram\n    n9->>n1: x\n").is_err(),
        "the validator can fail"
    );
}

#[test]
fn the_chrome_rendering_is_trace_event_json() {
    let (_, failed) = first_failure("counter/unguarded/swarm");
    let document = render::chrome(&failed.trace);
    let events = document["traceEvents"]
        .as_array()
        .expect("traceEvents array");
    let instants = events.iter().filter(|event| event["ph"] == "i").count();
    assert_eq!(instants, failed.trace.len());
    for event in events {
        assert!(event["name"].is_string(), "{event}");
        assert!(event["pid"].is_u64() && event["tid"].is_u64(), "{event}");
        match event["ph"].as_str() {
            Some("M") => assert!(event["args"]["name"].is_string(), "{event}"),
            Some("i") => assert!(event["ts"].is_u64() && event["s"] == "t", "{event}"),
            other => panic!("unexpected phase {other:?}"),
        }
    }
}

fn fuzz_seeds(name: &str, shard: Option<&str>) -> BTreeSet<u64> {
    let directory = scratch_dir(name);
    let report = directory.join("report.json");
    let report_path = report.to_str().expect("utf-8");
    let mut args = vec![
        "fuzz",
        "--budget",
        "120s",
        "--jobs",
        "2",
        "--filter",
        "counter/compare_and_set",
    ];
    args.extend(["--seeds", "0..41", "--report", report_path]);
    if let Some(shard) = shard {
        args.extend(["--shard", shard]);
    }
    let output = syncsim_in(&directory, &args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    #[allow(clippy::disallowed_methods)] // Reads the report the CLI wrote.
    let json = std::fs::read_to_string(&report).expect("report written");
    let document: serde_json::Value = serde_json::from_str(&json).expect("JSON report");
    let seeds = document["scenarios"][0]["seeds"].as_array().expect("seeds");
    seeds
        .iter()
        .map(|seed| seed.as_str().expect("hex").parse::<Seed>().expect("seed").0)
        .collect()
}

#[test]
fn fuzz_shards_together_cover_exactly_the_seeds_of_an_unsharded_run() {
    let whole = fuzz_seeds("fuzz-whole", None);
    let first = fuzz_seeds("fuzz-first", Some("1/2"));
    let second = fuzz_seeds("fuzz-second", Some("2/2"));
    assert_eq!(whole, (0..41).collect::<BTreeSet<u64>>());
    assert!(first.is_disjoint(&second));
    assert_eq!(
        first.union(&second).copied().collect::<BTreeSet<u64>>(),
        whole
    );
    assert!(first.iter().all(|seed| seed % 2 == 0));
}

/// counter's lost-update property remembers how much of the register's log it found clean.
/// One property object checked across every run of the sweep (a different log each time)
/// still stops at the same seed with the same failure as fresh properties per run.
#[test]
fn a_lost_update_property_shared_across_runs_finds_the_same_failure() {
    let (scenario, expected) = first_failure("counter/unguarded");
    let fresh = scenario.case();
    let shared: Vec<Property> = fresh
        .model
        .properties()
        .into_iter()
        .filter(|property| property.modality() == Modality::Always)
        .collect();
    assert_eq!(shared.len(), 1, "counter has one always property");
    let reused = crate::support::with_properties(scenario.case(), shared);
    let found = reused
        .run_seeds(scenario.seeds(), true)
        .failure
        .expect("the shared property catches it too");
    assert_eq!(found.seed, expected.seed);
    let found = found.failure.expect("failed");
    let expected = expected.failure.expect("failed");
    assert_eq!(
        (found.property, found.reason, found.time),
        (expected.property.clone(), expected.reason, expected.time)
    );
    // The extra copy fails in the same check as the model's own, and is reported with it.
    let also: Vec<String> = found.also.into_iter().map(|other| other.property).collect();
    assert_eq!(also, [expected.property]);
}
