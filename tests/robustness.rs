//! Bad input never panics or hangs: property tests feed the CLI's argument parsers, the
//! seed syntax, and the scenario and replay file loaders arbitrary and mutated inputs (the
//! committed catalog's files with a line deleted, duplicated or cut, a number replaced by
//! any u64, a value by any text). Every input is either accepted or refused with a message;
//! a panic fails the test, and so does a load that does not finish within a deadline far
//! above its cost (a hang, not a speed target). Memory is bounded by the loaders' limits
//! (1 MiB scenario files, 64 MiB replay files, `limits`); it is not measured here.
//!
//! `PROPTEST_CASES` raises the number of inputs (default 256 per property); the inputs are
//! the same on every run unless `PROPTEST_RNG_SEED` picks others. `ROBUSTNESS_TRACE=1`
//! prints each mutated file before it loads, to name the input of a crash no test can catch
//! (an abort on a failed allocation, under `ulimit -v`).

use std::sync::mpsc;
use std::time::Duration;

use clap::Parser as _;
use proptest::prelude::*;
use syncsim::cli::args::Cli;
use syncsim::scenarios::{budget, file, replay::ReplayFile};
use syncsim::sim::Seed;

use crate::scenario_files::committed;

/// Far above any load's cost: only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `load` on its own thread; a panic or a run past the deadline is the test's failure.
#[allow(clippy::disallowed_methods)] // A watchdog thread of the test, outside any run.
fn settles<T: Send + 'static>(what: &str, load: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(load));
        let _ = sender.send(result);
    });
    match receiver.recv_timeout(DEADLINE) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => panic!("{what}: panicked"),
        Err(_) => panic!("{what}: did not finish within {DEADLINE:?}"),
    }
}

/// The committed catalog files the mutations start from.
const FILES: [&str; 6] = [
    "counter/unguarded_swarm.toml",
    "org_sync/blind_upsert.toml",
    "role_sync/guarded.toml",
    "campaign_control/gated.toml",
    "contract_outbox/fixed.toml",
    "journey_sessions/lazy_upsert.toml",
];

/// One change to a file's text.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    Truncate(usize),
    /// The first number on a line becomes this one.
    Number(usize, u64),
    /// The value after ` = ` on a line becomes this text, as written.
    Value(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0usize..200;
    let number = prop_oneof![any::<u64>(), 0u64..3, Just(u64::MAX), 10_000u64..10_002];
    let value = prop_oneof![
        any::<String>(),
        "\"[0-9]{1,20}(ns|ms|s|h|days|years)\"",
        "-?[0-9]{1,25}",
        Just("\"\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
    ];
    prop_oneof![
        line.clone().prop_map(Mutation::DeleteLine),
        line.clone().prop_map(Mutation::DuplicateLine),
        (0usize..20_000).prop_map(Mutation::Truncate),
        (line.clone(), number).prop_map(|(line, number)| Mutation::Number(line, number)),
        (line, value).prop_map(|(line, value)| Mutation::Value(line, value)),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = |index: usize| index % lines.len().max(1);
    match mutation {
        Mutation::DeleteLine(index) => {
            let index = at(*index);
            lines.remove(index);
        }
        Mutation::DuplicateLine(index) => {
            let index = at(*index);
            lines.insert(index, lines[index].clone());
        }
        Mutation::Truncate(length) => {
            let cut: String = text.chars().take(*length).collect();
            return cut;
        }
        Mutation::Number(index, number) => {
            let index = at(*index);
            let line = &lines[index];
            if let Some(start) = line.find(|c: char| c.is_ascii_digit()) {
                let end = line[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(line.len(), |offset| start + offset);
                lines[index] = format!("{}{number}{}", &line[..start], &line[end..]);
            }
        }
        Mutation::Value(index, value) => {
            let index = at(*index);
            if let Some((key, _)) = lines[index].split_once(" = ") {
                lines[index] = format!("{key} = {value}");
            }
        }
    }
    lines.join("\n")
}

/// A replay file of a real failure, as JSON: what `replay` and `confirm` read (made once).
fn replay_json() -> String {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let scenario = syncsim::scenarios::find("counter/unguarded").expect("in the catalog");
        let mut runs = scenario.seeds().map(|seed| scenario.case().run(seed));
        let failed = runs.find(|run| run.failure.is_some());
        ReplayFile::from_outcome(&scenario, &failed.expect("counter/unguarded fails")).to_json()
    })
    .clone()
}

/// 256 cases from a fixed seed, unless `PROPTEST_CASES` or `PROPTEST_RNG_SEED` say
/// otherwise: CI runs the same inputs every time.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(256);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x5eed);
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seed_texts_never_panic(text in any::<String>()) {
        let parsed = text.parse::<Seed>();
        if let Ok(seed) = parsed {
            // Whatever is accepted is digits, and reads back.
            prop_assert_eq!(seed.to_string().parse::<Seed>(), Ok(seed));
        }
        let _ = budget::parse_seeds(&text);
    }

    #[test]
    fn command_lines_never_panic(words in proptest::collection::vec(
        prop_oneof![
            any::<String>(),
            Just("run".to_string()), Just("fuzz".to_string()), Just("bench".to_string()),
            Just("--seeds".to_string()), Just("--seed".to_string()),
            Just("--budget".to_string()), Just("--shard".to_string()),
            Just("--scale-max".to_string()), Just("--repeats".to_string()),
            "[0-9x.+/-]{0,24}", "[0-9]{1,22}(ns|ms|s|h|years)?",
        ],
        0..6,
    )) {
        let mut args = vec!["syncsim".to_string()];
        args.extend(words);
        // Parsing checks every value (seeds, ranges, budgets, shards); it runs nothing.
        let _ = settles("parsing arguments", move || Cli::try_parse_from(args).is_ok());
    }

    #[test]
    fn mutated_scenario_files_load_or_are_refused(
        index in 0..FILES.len(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut text = committed(FILES[index]);
        for change in &mutations {
            text = mutate(&text, change);
        }
        let what = format!("{} with {mutations:?}", FILES[index]);
        if std::env::var_os("ROBUSTNESS_TRACE").is_some() {
            eprintln!("loading {what}");
        }
        let json_text = text.clone();
        let _ = settles(&what, move || file::parse(&text, "mutated.toml").is_ok());
        // The same bytes as a JSON file: refused by the JSON parser, never a panic.
        let _ = settles(&what, move || file::parse(&json_text, "mutated.json").is_ok());
    }

    #[test]
    fn mutated_replay_files_load_or_are_refused(
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut text = replay_json();
        for change in &mutations {
            text = mutate(&text.replace(": ", " = "), change).replace(" = ", ": ");
        }
        let what = format!("a replay file with {mutations:?}");
        let _ = settles(&what, move || ReplayFile::from_json(&text, "mutated.json").is_ok());
    }
}
