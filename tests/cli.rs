//! The `syncsim` command: its main job passes, a failure is shrunk into a replay file whose
//! command reproduces it in a fresh process, and bad input gets a clear message and exit
//! code 2, never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A fresh directory for failure files, so tests never write into the checkout.
pub fn scratch_dir(name: &str) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("syncsim-test-{}-{name}", std::process::id()));
    directory
}

pub fn syncsim_in(failures: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncsim"))
        .args(args)
        .env("SYNCSIM_FAILURES_DIR", failures)
        .output()
        .expect("the syncsim binary runs")
}

fn syncsim(args: &[&str]) -> Output {
    syncsim_in(&scratch_dir("cli"), args)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[test]
fn the_main_job_meets_every_expectation() {
    let output = syncsim(&[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("counter/unguarded"), "{stdout}");
    assert!(stdout.contains("every expectation met"), "{stdout}");
    let summary = format!(
        "check: {} passed, 0 failed",
        syncsim::scenarios::catalog().len()
    );
    assert!(stdout.trim_end().ends_with(&summary), "{stdout}");
}

#[test]
fn a_failing_run_writes_a_replay_file_whose_command_reproduces_it() {
    let failures = scratch_dir("replay-command");
    let output = syncsim_in(&failures, &["run", "counter/unguarded"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let replay = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("replay:"))
        .expect("a replay line");
    let arguments: Vec<&str> = replay
        .split_whitespace()
        .skip_while(|word| *word != "--")
        .skip(1)
        .collect();
    assert_eq!(arguments[0], "replay", "{replay}");
    assert!(
        arguments[1].ends_with("counter_unguarded-0x000000000000000f.json"),
        "{replay}"
    );
    let digest = stdout
        .lines()
        .find_map(|line| {
            line.split("digest ")
                .nth(1)
                .filter(|_| line.contains("events,"))
        })
        .expect("the report's digest line")
        .to_string();
    let replayed = syncsim_in(&failures, &arguments);
    let stderr = text(&replayed.stderr);
    assert_eq!(replayed.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "reproduced: counter/unguarded fails \"counter: no lost update\", digest {digest}"
        )),
        "{stderr}"
    );
}

/// The names of the files in `directory`, sorted.
fn file_names(directory: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .map(|entries| {
            let names = entries.map(|entry| entry.expect("an entry").file_name());
            names
                .map(|name| name.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A replay file that cannot be written still leaves the report (exit 1, the write error
/// after it); files are written whole, through a temporary file; the same run written twice
/// is one file, and a different run of the same scenario and seed is kept next to it.
#[test]
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn failure_files_are_written_whole_and_never_over_another() {
    let blocked = scratch_dir("failures-blocked");
    std::fs::write(&blocked, "a file where the directory should be").expect("a scratch file");
    let output = syncsim_in(&blocked.join("sub"), &["run", "counter/unguarded"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("property: counter: no lost update"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(no replay file: see the error below)"),
        "{stdout}"
    );
    assert!(stderr.contains("error: cannot create"), "{stderr}");
    let _ = std::fs::remove_file(&blocked);

    let failures = scratch_dir("failures-kept");
    let _ = std::fs::remove_dir_all(&failures);
    for args in [
        &["run", "counter/unguarded"][..],
        &["run", "counter/unguarded"],
        &["run", "counter/unguarded", "--no-shrink"],
    ] {
        assert_eq!(syncsim_in(&failures, args).status.code(), Some(1));
    }
    let names = file_names(&failures);
    assert_eq!(
        names,
        [
            "counter_unguarded-0x000000000000000f-2.json",
            "counter_unguarded-0x000000000000000f.json"
        ],
        "the shrunk run once, the unshrunk one beside it, no temporary file"
    );
    let _ = std::fs::remove_dir_all(&failures);

    let report = scratch_dir("report-blocked");
    std::fs::write(&report, "a file").expect("a scratch file");
    let report_path = report.join("report.json");
    let report_path = report_path.to_str().expect("utf-8");
    let output = syncsim(&["fuzz", "--budget", "10m", "--report", report_path]);
    assert_eq!(output.status.code(), Some(2), "refused before the sweep");
    assert!(
        text(&output.stderr).contains("cannot create"),
        "{}",
        text(&output.stderr)
    );
    let _ = std::fs::remove_file(&report);
}

#[test]
fn bad_input_gets_a_clear_message_and_exit_code_2() {
    let cases: [(&[&str], &str); 17] = [
        (
            &["run", "counter/nope"],
            "unknown scenario \"counter/nope\"",
        ),
        (
            &["run", "counter/unguarded", "--seed", "0xzz"],
            "invalid seed \"0xzz\"",
        ),
        (&["run", "counter/unguarded", "--seeds", "9..3"], "is empty"),
        (
            &["run", "counter/unguarded", "--seed", "+5"],
            "invalid seed \"+5\"",
        ),
        (
            &["run", "counter/unguarded", "--seed", "0x+f"],
            "invalid seed \"0x+f\"",
        ),
        (
            &["run", "counter/unguarded", "--seeds", "x..3"],
            "invalid seed \"x\"",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
        (&["fuzz", "--budget", "soon"], "invalid budget \"soon\""),
        (
            &["fuzz", "--budget", "1s", "--shard", "3/2"],
            "invalid shard \"3/2\"",
        ),
        (
            &["fuzz", "--budget", "1s", "--filter", "nothing/*"],
            "no scenario matches",
        ),
        (
            &["replay", "/nonexistent/file.json"],
            "cannot read /nonexistent/file.json",
        ),
        (
            &["bench", "--repeats", "0"],
            "invalid value '0' for '--repeats",
        ),
        (&["bench", "--scale-max", "7"], "invalid scale \"7\""),
        (
            &["bench", "--section", "speed"],
            "invalid value 'speed' for '--section",
        ),
        (&["bench", "--scenario", "nothing/*"], "no scenario matches"),
        (
            &["bench", "--memory-probe", "counter/unguarded@1000000000"],
            "above the limit",
        ),
        (
            &[
                "bench",
                "--memory-probe",
                "counter/unguarded@10000000000000000000",
            ],
            "the factor overflows",
        ),
    ];
    for (args, message) in cases {
        let output = syncsim(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// `syncsim run ... | head -1`: the reader goes away and the command ends as coreutils do
/// on SIGPIPE: exit code 141 and nothing on stderr (it said "stdout closed"; `println!`
/// would panic).
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::io::BufRead as _;
    // A run that prints a line per seed for up to a minute: it is still writing when the
    // reader goes (`list` can finish into the pipe's buffer before the reader closes it).
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncsim"))
        .args([
            "run",
            "counter/compare_and_set",
            "--seeds",
            "1000000",
            "--budget",
            "60s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the syncsim binary runs");
    let stdout = child.stdout.take().expect("piped");
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a line");
    // The reader is dropped here, closing the pipe with most of the list unread.
    let output = child.wait_with_output().expect("it ends");
    assert!(!first.is_empty());
    assert_eq!(output.status.code(), Some(141), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "");
}

/// `fuzz --budget` covers shrinking: role_sync's failure takes minutes to shrink in a debug
/// build, and the command ends one run past its budget, saying shrinking stopped (it
/// shrank to the end after the budget before). The bound checked is the budget plus a
/// minute: a run in flight finishes (the stated margin), and a noisy machine must not flake.
#[test]
fn fuzz_shrinks_within_its_budget() {
    let failures = scratch_dir("fuzz-budget");
    let stopwatch = syncsim::cli::Stopwatch::start();
    let args = [
        "fuzz",
        "--budget",
        "2s",
        "--filter",
        "role_sync/unguarded",
        "--jobs",
        "1",
    ];
    let output = syncsim_in(&failures, &args);
    let elapsed = stopwatch.elapsed();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("(shrinking stopped at the budget)")
            || stdout.contains("(not shrunk: the budget was spent)"),
        "{stdout}"
    );
    assert!(elapsed < std::time::Duration::from_secs(62), "{elapsed:?}");
    let _ = std::fs::remove_dir_all(failures);
}

/// A fresh scratch directory whose `mine/` holds counter/unguarded filed as `holds`: a
/// scenario that fails seed after seed, and every failure of which a sweep keeps.
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn unguarded_filed_as_holds(name: &str) -> PathBuf {
    let directory = scratch_dir(name);
    let _ = std::fs::remove_dir_all(&directory);
    let committed = crate::scenario_files::committed("counter/unguarded.toml");
    let holds = committed.replace("expectation = \"caught\"", "expectation = \"holds\"");
    std::fs::create_dir_all(directory.join("mine")).expect("a scratch directory");
    std::fs::write(directory.join("mine/holds.toml"), holds).expect("a scenario file");
    directory
}

/// `fuzz` over `directory/mine` on one job with `extra` arguments, its report and replay
/// files under `directory`, its output piped.
fn spawn_fuzz(directory: &std::path::Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_syncsim"))
        .args(["fuzz", "--jobs", "1", "--dir"])
        .arg(directory.join("mine"))
        .arg("--report")
        .arg(directory.join("report.json"))
        .args(extra)
        .env("SYNCSIM_FAILURES_DIR", directory.join("failures"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the syncsim binary runs")
}

/// The report a `spawn_fuzz` sweep wrote, after checking it wrote replay files too; the
/// scratch directory is removed.
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn written(directory: &std::path::Path) -> String {
    let report = std::fs::read_to_string(directory.join("report.json")).expect("a report");
    let files = std::fs::read_dir(directory.join("failures")).expect("replay files");
    assert!(files.count() > 0);
    let _ = std::fs::remove_dir_all(directory);
    report
}

/// SIGINT or SIGTERM stops a sweep at once: what it found is written (unshrunk, said so),
/// the report and the resume lines too. Here a counter scenario without a guard, filed as
/// `holds`, fails seed after seed for a ten-minute budget until the signal comes.
#[test]
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn an_interrupted_fuzz_writes_what_it_found() {
    for signal in ["-INT", "-TERM"] {
        let directory = unguarded_filed_as_holds(&format!("interrupted{signal}"));
        let child = spawn_fuzz(&directory, &["--budget", "10m"]);
        std::thread::sleep(std::time::Duration::from_secs(2));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        assert!(killed.expect("kill runs").success());
        let stopwatch = syncsim::cli::Stopwatch::start();
        let output = child.wait_with_output().expect("it ends");
        let stdout = text(&output.stdout);
        assert!(
            stopwatch.elapsed() < std::time::Duration::from_secs(60),
            "{stdout}"
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "a holds scenario failed: {stdout}"
        );
        assert!(stdout.contains("(not shrunk: interrupted)"), "{stdout}");
        assert!(stdout.contains("resume with --seeds"), "{stdout}");
        assert!(stdout.contains("fuzz: interrupted"), "{stdout}");
        let report = written(&directory);
        assert!(report.contains("\"interrupted\": true"), "{report}");
    }
}

/// A fuzz whose reader went away (`syncsim fuzz ... | head -1` after the pipe closed)
/// still writes its replay files and report before it notices, then ends quietly.
#[test]
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn a_fuzz_with_a_closed_stdout_still_writes_what_it_found() {
    let directory = unguarded_filed_as_holds("fuzz-closed-stdout");
    let mut child = spawn_fuzz(&directory, &["--budget", "2s", "--no-shrink"]);
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("it ends");
    assert_eq!(output.status.code(), Some(141), "{}", text(&output.stderr));
    let report = written(&directory);
    assert!(report.contains("\"failures\""), "{report}");
}

/// `fuzz merge`: three shard reports of a range merge into what one unsharded sweep of the
/// same range reports (seeds, `sometimes` hits, failures), and a report passed twice is
/// named as overlapping (exit 1).
#[test]
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn shard_reports_merge_into_one_sweep() {
    let directory = scratch_dir("merge");
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    let report = |name: &str| directory.join(name).to_str().expect("utf-8").to_string();
    let sweep = |shard: Option<&str>, name: &str| {
        let mut args = vec![
            "fuzz",
            "--filter",
            "counter/compare_and_set*",
            "--seeds",
            "0..30",
        ];
        args.extend(["--budget", "5m", "--jobs", "2"]);
        let path = report(name);
        args.extend(["--report", &path]);
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        let output = syncsim_in(&directory, &args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
        assert!(text(&output.stdout).contains("the range is done"));
    };
    for (index, shard) in ["1/3", "2/3", "3/3"].into_iter().enumerate() {
        sweep(Some(shard), &format!("shard{index}.json"));
    }
    sweep(None, "whole.json");
    let merged = |names: &[&str]| {
        let mut args = vec!["fuzz".to_string(), "merge".to_string()];
        args.extend(names.iter().map(|name| report(name)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = syncsim_in(&directory, &args);
        (output.status.code(), text(&output.stdout))
    };
    let (code, shards) = merged(&["shard0.json", "shard1.json", "shard2.json"]);
    assert_eq!(code, Some(0), "{shards}");
    let (_, whole) = merged(&["whole.json"]);
    let body = |text: &str| -> Vec<String> {
        let lines = text.lines().filter(|line| !line.starts_with("merge:"));
        lines.map(str::to_string).collect()
    };
    assert_eq!(body(&shards), body(&whole));
    assert!(shards.contains("30 seed(s) from 0 to 29"), "{shards}");
    let (code, twice) = merged(&["shard0.json", "shard0.json"]);
    assert_eq!(code, Some(1), "{twice}");
    assert!(twice.contains("OVERLAP: seed 0 is in"), "{twice}");
    let _ = std::fs::remove_dir_all(&directory);
}

/// Failures merge by property and shrunk plan: two shards of an unguarded counter (filed
/// `holds`, so every failure is shrunk and kept) merge into the groups of one unsharded
/// sweep, with their seeds; a regression seed that a resumed sweep ran again is no overlap.
#[test]
#[allow(clippy::disallowed_methods)] // Scratch files of the test, outside any run.
fn failures_merge_by_plan_and_regressions_are_no_overlap() {
    let directory = unguarded_filed_as_holds("merge-failures");
    let path = |name: &str| directory.join(name).to_str().expect("utf-8").to_string();
    let mine = path("mine");
    for (shard, name) in [
        (Some("1/2"), "a.json"),
        (Some("2/2"), "b.json"),
        (None, "c.json"),
    ] {
        let report = path(name);
        let mut args = vec!["fuzz", "--dir", &mine, "--seeds", "0..40", "--budget", "5m"];
        args.extend(["--report", &report]);
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        let output = syncsim_in(&directory.join("failures"), &args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "holds fails: {}",
            text(&output.stdout)
        );
    }
    let merge = |names: &[&str]| {
        let mut args = vec!["fuzz".to_string(), "merge".to_string()];
        args.extend(names.iter().map(|name| path(name)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        text(&syncsim_in(&directory, &args).stdout)
    };
    let (shards, whole) = (merge(&["a.json", "b.json"]), merge(&["c.json"]));
    let failures = |text: &str| -> Vec<String> {
        let lines = text
            .lines()
            .filter(|line| line.trim_start().starts_with("failure"));
        lines.map(str::to_string).collect()
    };
    assert!(!failures(&whole).is_empty(), "{whole}");
    assert_eq!(failures(&shards), failures(&whole));
    // Seed 15 (shard 2/2) and seed 24 (shard 1/2) shrink to the same plan: one group.
    let across = "0x000000000000000f, 0x0000000000000018";
    assert!(shards.contains(across), "{shards}");
    // A sweep and its resumed sweep both ran the committed regression seed 15.
    let report = |seeds: &str| {
        format!(
            "{{\"shard\": null, \"scenarios\": [{{\"id\": \"counter/unguarded\", \
             \"expectation\": \"holds\", \"seeds\": [{seeds}], \"regressions\": [15], \
             \"failures\": []}}]}}"
        )
    };
    std::fs::write(path("first.json"), report("15, 0, 1, 2")).expect("a report");
    std::fs::write(path("resumed.json"), report("15, 3, 4")).expect("a report");
    let resumed = merge(&["first.json", "resumed.json"]);
    assert!(!resumed.contains("OVERLAP"), "{resumed}");
    assert!(resumed.contains("6 seed(s) from 0 to 15"), "{resumed}");
    let _ = std::fs::remove_dir_all(&directory);
}

/// A seed range is never built in memory: ten billion seeds, or a count of u64::MAX, run
/// under a budget; a budget shorter than one run still runs one seed.
#[test]
fn any_seed_range_runs_under_a_budget() {
    let runs: [&[&str]; 3] = [
        &["--seeds", "0..10000000000", "--budget", "300ms"],
        &["--seeds", "18446744073709551615", "--budget", "300ms"],
        &["--budget", "1ns"],
    ];
    for extra in runs {
        let mut args = vec!["run", "counter/compare_and_set"];
        args.extend_from_slice(extra);
        let output = syncsim(&args);
        let stdout = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(stdout.contains("budget spent after"), "{args:?}: {stdout}");
        assert!(
            !stdout.contains("budget spent after 0 "),
            "{args:?}: {stdout}"
        );
    }
}

/// `bench` runs a tiny section and splices it into the output file twice without
/// duplicating it. Its numbers are not checked: timings are not for tests.
#[test]
fn bench_writes_a_section_between_its_markers() {
    let directory = scratch_dir("bench");
    let out = directory.join("BENCHMARKS.md");
    let out_text = out.to_string_lossy().to_string();
    let args = [
        "bench",
        "--section",
        "throughput",
        "--scenario",
        "counter/unguarded",
        "--repeats",
        "1",
        "--window",
        "1ms",
        "--threads",
        "1",
        "--out",
        &out_text,
    ];
    for _ in 0..2 {
        let output = syncsim_in(&directory, &args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    #[allow(clippy::disallowed_methods)] // Reads the file the CLI wrote.
    let written = std::fs::read_to_string(&out).expect("the section was written");
    assert_eq!(
        written.matches("<!-- bench:throughput -->").count(),
        1,
        "{written}"
    );
    assert!(written.contains("| counter/unguarded | 1 |"), "{written}");
    assert!(
        written.contains("Command: `syncsim bench --section throughput"),
        "{written}"
    );
}

/// `conformance --dir` takes a folder of `.spec` files as dropped from PostgreSQL's repository
/// (no `specs/` inside), runs them offline (no recording: the real side is missing and the
/// case fails, exit 1), and refuses a spec that does not parse, naming file and line (exit 2).
#[test]
#[allow(clippy::disallowed_methods)] // Test fixtures on disk, outside any simulation.
fn conformance_runs_a_folder_of_spec_files_and_refuses_bad_ones() {
    let folder = scratch_dir("conformance-folder");
    std::fs::create_dir_all(&folder).expect("scratch folder");
    let spec = "setup { CREATE TABLE t (id int PRIMARY KEY); }\n\
                session s1\nstep ins { INSERT INTO t VALUES (1); }\n\
                session s2\nstep sel { SELECT id FROM t; }\n";
    std::fs::write(folder.join("dropped.spec"), spec).expect("spec written");
    let dir = folder.to_string_lossy().into_owned();
    let output = syncsim(&["conformance", "--dir", &dir, "--offline"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("dropped"), "{stdout}");
    assert!(stdout.contains("permutations: 2 run"), "{stdout}");
    assert!(stdout.contains("no recording"), "{stdout}");
    std::fs::write(folder.join("broken.spec"), "session s\nstep a { x").expect("spec written");
    let output = syncsim(&["conformance", "--dir", &dir, "--offline"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("broken.spec: line 2: unterminated"),
        "{stderr}"
    );
    let missing = syncsim(&[
        "conformance",
        "--dir",
        "/nonexistent/specs-dir",
        "--offline",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read /nonexistent/specs-dir"));
    let _ = std::fs::remove_dir_all(&folder);
}

/// `replay --format spec` writes a failure's SQL as a spec; `confirm` refuses what it cannot
/// confirm with exit code 2 and a message: no file, a malformed one, a run without SQL, an
/// unknown server, options that keep nothing, a server it cannot reach.
#[test]
#[allow(clippy::disallowed_methods)] // The test writes and lists its own scratch files.
fn spec_format_and_confirm_refuse_bad_input() {
    let failures = scratch_dir("confirm-input");
    for scenario in ["counter/unguarded", "org_sync/blind_upsert"] {
        let output = syncsim_in(&failures, &["run", scenario]);
        assert_eq!(output.status.code(), Some(1), "{scenario} fails");
    }
    let file = |stem: &str| {
        let path = std::fs::read_dir(&failures)
            .expect("failures written")
            .map(|entry| entry.expect("entry").path())
            .find(|path| path.to_string_lossy().contains(stem))
            .expect("the replay file");
        path.to_string_lossy().to_string()
    };
    let (counter, org_sync) = (file("counter_unguarded-"), file("org_sync_blind_upsert-"));
    let spec = syncsim_in(&failures, &["replay", &org_sync, "--format", "spec"]);
    assert_eq!(spec.status.code(), Some(0), "{}", text(&spec.stderr));
    let stdout = text(&spec.stdout);
    assert!(stdout.starts_with("# syncsim: the SQL history of org_sync/blind_upsert"));
    assert!(
        stdout.contains("CREATE TABLE organization_metadata"),
        "{stdout}"
    );
    let malformed = failures.join("malformed.json");
    std::fs::write(&malformed, "{\"scenario\": 1").expect("written");
    let malformed = malformed.to_string_lossy().to_string();
    let unreachable = "postgres://postgres@127.0.0.1:1/postgres";
    let cases: [(Vec<&str>, &str); 7] = [
        (vec!["replay", &org_sync, "--all"], "go with --format spec"),
        (
            vec!["confirm", "/nonexistent/x.json"],
            "cannot read /nonexistent/x.json",
        ),
        (vec!["confirm", &malformed], "malformed.json"),
        (
            vec!["confirm", &counter],
            "sent no SQL to a Postgres server",
        ),
        (
            vec!["replay", &org_sync, "--format", "spec", "--server", "nope"],
            "no Postgres server \"nope\"",
        ),
        (
            vec![
                "replay", &org_sync, "--format", "spec", "--tables", "nothing",
            ],
            "nothing to write",
        ),
        (
            vec!["confirm", &org_sync, "--url", unreachable],
            "cannot reach the PostgreSQL server of --url",
        ),
    ];
    for (args, message) in cases {
        let output = syncsim_in(&failures, &args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
