//! Scenario files: a user's TOML (or JSON) scenario for a catalog model runs with `run
//! --file`, `check --dir` and `fuzz --dir` from the built binary, with no rebuild; the
//! catalog is the committed files; a bad file is refused naming the file, the field and the
//! line (exit 2).

use std::path::{Path, PathBuf};

use syncsim::scenarios::{self, file};
use syncsim::sim::Seed;

use crate::cli::{scratch_dir, syncsim_in, text};

#[allow(clippy::disallowed_methods)] // Tests write scenario files for the CLI to read.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("a scratch directory");
    std::fs::write(path, text).expect("writable");
}

/// The text of a committed scenario file, by its path under `scenarios/catalog/`.
#[allow(clippy::disallowed_methods)] // Reads the committed scenario files.
pub fn committed(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/catalog")
        .join(relative);
    std::fs::read_to_string(path).expect("a committed scenario file")
}

/// counter/unguarded under another id, with its pause planned to last until 700 ms.
fn long_pause() -> String {
    committed("counter/unguarded.toml")
        .replace(
            "id = \"counter/unguarded\"",
            "id = \"counter/unguarded/long_pause\"",
        )
        .replace("at = \"60ms\"", "at = \"700ms\"")
}

#[test]
fn the_catalog_is_the_committed_files_and_each_loads() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalog");
    let loaded = file::load_dir(&directory).expect("every committed file loads");
    let from_files: Vec<String> = loaded.iter().map(|(_, spec)| spec.id.clone()).collect();
    let catalog: Vec<String> = scenarios::catalog()
        .into_iter()
        .map(|spec| spec.id)
        .collect();
    assert_eq!(
        from_files, catalog,
        "the embedded catalog is the files, in path order"
    );
}

#[test]
fn a_new_scenario_file_runs_without_a_rebuild_and_its_failure_names_the_file() {
    let directory = scratch_dir("scenario-file");
    let path = directory.join("long_pause.toml");
    write(&path, &long_pause());
    let output = syncsim_in(
        &directory,
        &["run", "--file", path.to_str().expect("utf-8")],
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("FAILED counter/unguarded/long_pause seed"),
        "{stdout}"
    );
    let seed_line = format!("run --file {} --seed", path.display());
    assert!(stdout.contains(&seed_line), "{stdout}");
    let _ = std::fs::remove_dir_all(directory);
}

/// `run <id> --dir D` finds the id among D's files (a user crate's `main_with` sets D), and
/// its seed line names the file; an id D does not hold is refused listing D's ids.
#[test]
fn run_finds_a_scenario_id_in_a_directory() {
    let directory = scratch_dir("scenario-id-in-dir");
    let path = directory.join("mine/long_pause.toml");
    write(&path, &long_pause());
    let dir = directory.join("mine");
    let dir = dir.to_str().expect("utf-8");
    let run = ["run", "counter/unguarded/long_pause", "--dir", dir];
    let output = syncsim_in(&directory, &run);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let seed_line = format!("run --file {} --seed", path.display());
    assert!(stdout.contains(&seed_line), "{stdout}");
    let output = syncsim_in(&directory, &["run", "counter/unguarded", "--dir", dir]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown scenario \"counter/unguarded\" in")
            && stderr.contains("known: counter/unguarded/long_pause"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn check_and_list_read_a_directory_of_files_toml_and_json() {
    let directory = scratch_dir("scenario-dir");
    write(&directory.join("mine/long_pause.toml"), &long_pause());
    let holds: scenarios::ScenarioSpec =
        toml::from_str(&committed("counter/compare_and_set.toml")).expect("parses");
    let json = serde_json::to_string_pretty(&holds).expect("serializes");
    write(&directory.join("mine/compare_and_set.json"), &json);
    let dir = directory.join("mine");
    let dir = dir.to_str().expect("utf-8");
    let output = syncsim_in(&directory, &["check", "--dir", dir]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("counter/unguarded/long_pause"), "{stdout}");
    assert!(
        stdout.contains("run --file"),
        "the replay line names the file: {stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("check: 2 passed, 0 failed"),
        "{stdout}"
    );
    let listed = text(&syncsim_in(&directory, &["list", "--dir", dir]).stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let _ = std::fs::remove_dir_all(directory);
}

#[test]
fn fuzz_reads_a_directory_of_files() {
    let directory = scratch_dir("scenario-fuzz");
    write(&directory.join("mine/long_pause.toml"), &long_pause());
    let dir = directory.join("mine");
    let args = [
        "fuzz",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--budget",
        "1s",
        "--jobs",
        "1",
    ];
    let output = syncsim_in(&directory, &args);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("counter/unguarded/long_pause"), "{stdout}");
    let _ = std::fs::remove_dir_all(directory);
}

/// Runs `run --file` on `contents` and returns the error line (exit code 2 asserted).
fn refused(name: &str, contents: &str) -> String {
    let directory = scratch_dir(&format!("bad-scenario-{name}"));
    let path = directory.join(name);
    write(&path, contents);
    let output = syncsim_in(
        &directory,
        &["run", "--file", path.to_str().expect("utf-8")],
    );
    let _ = std::fs::remove_dir_all(&directory);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    text(&output.stderr)
}

#[test]
fn a_bad_scenario_file_is_refused_naming_the_file_the_field_and_the_line() {
    let contents = long_pause().replace("seed_count = 50", "seeds = 3");
    let line = contents
        .lines()
        .position(|line| line == "seeds = 3")
        .expect("replaced")
        + 1;
    let unknown = refused("unknown.toml", &contents);
    assert!(unknown.contains("unknown.toml: field `seeds`"), "{unknown}");
    assert!(
        unknown.contains(&format!("at line {line}, column 1\n")),
        "{unknown}"
    );
    assert!(unknown.contains("unknown field `seeds`"), "{unknown}");
    let typed = refused(
        "typed.toml",
        &long_pause().replace("at = \"30ms\"", "at = 30"),
    );
    assert!(typed.contains("field `faults.timed[0].at`"), "{typed}");
    assert!(typed.contains("expected a duration"), "{typed}");
    let json = refused("broken.json", "{\"id\": \"counter/unguarded\",");
    assert!(
        json.contains("broken.json: ") && json.contains("line 1"),
        "{json}"
    );
    let property = long_pause().replace("seed_count = 50", "seed_count = 50\nproperties = [\"x\"]");
    let property = refused("property.toml", &property);
    assert!(property.contains("has no property \"x\""), "{property}");
    let node = refused(
        "node.toml",
        &long_pause().replace("\"worker-1\"", "\"worker-9\""),
    );
    assert!(
        node.contains("invalid scenario") && node.contains("worker-9"),
        "{node}"
    );
    let two = long_pause().replace("worker_count = 2", "worker_count = \"two\"");
    let line = two
        .lines()
        .position(|line| line.starts_with("worker_count"))
        .expect("a knob");
    let config = refused("config.toml", &two);
    assert!(
        config.contains(&format!("at line {}, column 16:", line + 1))
            && config.contains("field `model.config.worker_count`"),
        "{config}"
    );
    let misspelt = long_pause().replace("worker_count = 2", "worker_count = 2\nworkers = 3");
    let misspelt = refused("misspelt.toml", &misspelt);
    assert!(
        misspelt.contains(&format!("at line {}, column 1:", line + 2))
            && misspelt.contains("unknown field `workers`"),
        "{misspelt}"
    );
    let empty = refused(
        "empty.toml",
        &long_pause().replace("seed_count = 50", "seed_count = 0"),
    );
    assert!(empty.contains("seed_count is 0"), "{empty}");
    let missing = PathBuf::from("/nonexistent/scenario.toml");
    let output = syncsim_in(
        &scratch_dir("missing"),
        &["run", "--file", "/nonexistent/scenario.toml"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains(&missing.display().to_string()));
}

#[test]
fn a_directory_with_two_files_of_one_id_or_with_no_file_is_refused() {
    let directory = scratch_dir("scenario-duplicates");
    write(&directory.join("a.toml"), &long_pause());
    write(&directory.join("b.toml"), &long_pause());
    let dir = directory.to_str().expect("utf-8");
    let output = syncsim_in(&directory, &["check", "--dir", dir]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("is also the id of"),
        "{}",
        text(&output.stderr)
    );
    let empty = directory.join("empty");
    std::fs::create_dir_all(&empty).expect("a scratch directory");
    let output = syncsim_in(
        &directory,
        &["check", "--dir", empty.to_str().expect("utf-8")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no scenario files"));
    let _ = std::fs::remove_dir_all(directory);
}

/// A scenario sets a property's parameters by name: ttl_only's senders trust a 5 s status
/// cache, so the default 1 s pause bound breaks on seed 0 and a 10 s bound holds. A bad
/// parameter is refused naming the property and its parameters.
#[test]
fn a_scenario_sets_a_propertys_parameters() {
    let healthy = "campaign_control: pause is honoured in time while the broker is healthy";
    let base = committed("campaign_control/ttl_only.toml");
    let with = |table: &str| format!("{base}\n[parameters.\"{healthy}\"]\n{table}\n");
    let strict = file::parse(&base, "strict.toml").expect("parses");
    let failure = strict.case().run(Seed(0)).failure.expect("1 s is broken");
    assert_eq!(failure.property, healthy);
    assert!(
        failure.reason.contains("over the 1s bound"),
        "{}",
        failure.reason
    );
    let loose = file::parse(&with("within = \"10s\""), "loose.toml").expect("parses");
    for seed in 0..10 {
        let outcome = loose.case().run(Seed(seed));
        assert!(outcome.failure.is_none(), "{seed}: {:?}", outcome.failure);
    }
    let shown = loose.case().model.properties();
    let shown = shown
        .iter()
        .find(|property| property.name() == healthy)
        .expect("checked");
    assert_eq!(shown.shown_parameters(), " (within = \"10s\")");
    let refusals = [
        (with("within = 10"), "parameters of"),
        (
            with("speed = \"1s\""),
            "has no parameter `speed`; its parameters: within",
        ),
        (
            base.replace(
                "seed_count = ",
                "properties = [\"campaign_control: stop is terminal\"]\nseed_count = ",
            ) + &format!("\n[parameters.\"{healthy}\"]\nwithin = \"2s\"\n"),
            "a property not checked",
        ),
        (
            format!("{base}\n[parameters.\"campaign_control: stop is terminal\"]\nx = 1\n"),
            "takes no parameters",
        ),
    ];
    for (text, expected) in refusals {
        let error = file::parse(&text, "bad.toml").expect_err("refused");
        assert!(error.contains(expected), "{error}");
    }
}

/// Every size and duration has a limit checked at load, before the model is built: a count
/// of a hundred million workers (which hung setting up nodes), a knob below its floor (which
/// panicked), durations of centuries, and a random fault generator over more node-seconds
/// than a plan may draw, are refused naming the field.
#[test]
fn sizes_and_durations_above_their_limits_are_refused_naming_the_field() {
    let base = committed("counter/unguarded.toml");
    let cases = [
        (
            "worker_count = 2",
            "worker_count = 100000000",
            "model.config.worker_count",
        ),
        ("worker_count = 2", "worker_count = 0", "below its floor 1"),
        (
            "think_time_max_ms = 2",
            "think_time_max_ms = 18446744073709551615",
            "think_time_max_ms",
        ),
        (
            "time_max = \"1m\"",
            "time_max = \"600000000years\"",
            "bounds.time_max",
        ),
        (
            "wall_max = \"30s\"",
            "wall_max = \"2days\"",
            "bounds.wall_max",
        ),
        (
            "events_max = ",
            "events_max = 18446744073709551615 #",
            "bounds.events_max",
        ),
        (
            "call_timeout = \"200ms\"",
            "call_timeout = \"5h\"",
            "net.call_timeout",
        ),
    ];
    for (from, to, field) in cases {
        assert!(base.contains(from), "{from}");
        let error = file::parse(&base.replacen(from, to, 1), "limits.toml").expect_err(to);
        assert!(error.contains(field), "{to}: {error}");
        assert!(
            error.contains("limit") || error.contains("floor"),
            "{to}: {error}"
        );
    }
    let outbox = committed("contract_outbox/fixed.toml");
    let cron = outbox
        .lines()
        .find(|line| line.starts_with("cron_interval_ms"))
        .expect("a cron");
    let zero = outbox.replacen(cron, "cron_interval_ms = 0", 1);
    let error = file::parse(&zero, "cron.toml").expect_err("a cron of period 0");
    assert!(error.contains("cron_interval_ms"), "{error}");
    let long = committed("counter/unguarded_swarm.toml");
    let chaos = long
        .lines()
        .find(|line| line.starts_with("chaos = "))
        .expect("a chaos phase");
    let long = long.replacen(chaos, "chaos = \"25days\"", 1).replacen(
        "time_max = ",
        "time_max = \"30days\" #",
        1,
    );
    let error = file::parse(&long, "long.toml").expect_err("too many draws");
    assert!(error.contains("node-seconds of random episodes"), "{error}");
}

/// A bound that stops a run ends it quietly: the failure is reported and nothing else
/// reaches stderr (the bound used to unwind the process that hit it, and madsim printed the
/// task's context for each such unwinding).
#[test]
fn a_bound_that_stops_a_run_leaves_stderr_empty() {
    let guarded = committed("role_sync/guarded.toml");
    let events = guarded
        .lines()
        .find(|line| line.starts_with("events_max"))
        .expect("a bound");
    let wall = guarded
        .lines()
        .find(|line| line.starts_with("wall_max"))
        .expect("a bound");
    let cases = [
        (
            guarded.replacen(events, "events_max = 50", 1),
            "its event bound",
        ),
        (
            guarded.replacen(wall, "wall_max = \"1ms\"", 1),
            "its wall-clock bound",
        ),
    ];
    for (index, (contents, bound)) in cases.into_iter().enumerate() {
        let directory = scratch_dir(&format!("quiet-bound-{index}"));
        let path = directory.join("bound.toml");
        write(&path, &contents);
        let file = path.to_str().expect("utf-8");
        let output = syncsim_in(
            &directory,
            &["run", "--file", file, "--seed", "0", "--no-shrink"],
        );
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(bound), "{stdout}");
        assert_eq!(stderr, "", "nothing but the report");
        let _ = std::fs::remove_dir_all(directory);
    }
}
