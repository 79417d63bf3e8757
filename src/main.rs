//! The `syncsim` command: check the catalog, list it, run a scenario on seeds.
//!
//! Exit codes: 0 when every expectation is met, 1 when a run fails or an expectation is
//! not met, 2 on bad input (unknown scenario, malformed seed or range, bad flag). Not here
//! yet: replay files, fuzzing for a wall-clock budget, sharding.
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use syncsim::scenarios::{self, Expectation, Scenario};
use syncsim::sim::{Outcome, Seed};

/// Deterministic simulation of sync pipelines: one seed reproduces one run.
#[derive(Parser, Debug)]
#[command(name = "syncsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs every catalog scenario on its committed seed budget (the default command).
    Check,
    /// Lists the scenarios with their expectations and properties.
    List,
    /// Runs one scenario on a seed or a range of seeds; stops at the first failure.
    Run {
        /// Scenario id, `<model>/<variant>`.
        scenario: String,
        /// One seed, decimal or 0x-hex.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<Seed>,
        /// A range of seeds `A..B` (B excluded); defaults to the scenario's committed budget.
        #[arg(long, value_parser = parse_seed_range)]
        seeds: Option<(u64, u64)>,
        /// Prints the whole trace of the last run.
        #[arg(long)]
        trace: bool,
    },
}

/// Prints a line to stdout. A closed stdout (`syncsim run ... | head`) ends the command
/// quietly with exit code 1 instead of the panic `println!` would raise.
macro_rules! say {
    ($($argument:tt)*) => {
        if writeln!(std::io::stdout(), $($argument)*).is_err() {
            eprintln!("syncsim: stdout closed; stopping");
            std::process::exit(1);
        }
    };
}

fn parse_seed_range(text: &str) -> Result<(u64, u64), String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("invalid seed range {text:?}: expected A..B, e.g. 0..100"))?;
    let start: Seed = start.parse().map_err(|error| format!("{error}"))?;
    let end: Seed = end.parse().map_err(|error| format!("{error}"))?;
    if start.0 >= end.0 {
        return Err(format!("invalid seed range {text:?}: it is empty"));
    }
    Ok((start.0, end.0))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Check) {
        Command::Check => check(),
        Command::List => list(),
        Command::Run {
            scenario,
            seed,
            seeds,
            trace,
        } => run(&scenario, seed, seeds, trace),
    }
}

fn list() -> ExitCode {
    for scenario in scenarios::catalog() {
        let properties: Vec<String> = scenario
            .case
            .model
            .properties()
            .iter()
            .map(|property| format!("{} {:?}", property.modality(), property.name()))
            .collect();
        say!(
            "{:<28} {:<7} {}",
            scenario.id(),
            scenario.expectation.to_string(),
            properties.join("; ")
        );
    }
    ExitCode::SUCCESS
}

fn run(id: &str, seed: Option<Seed>, seeds: Option<(u64, u64)>, trace: bool) -> ExitCode {
    let scenario = match scenarios::find(id) {
        Ok(scenario) => scenario,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let seeds: Vec<Seed> = match (seed, seeds) {
        (Some(seed), _) => vec![seed],
        (None, Some((start, end))) => syncsim::sim::seed_range(start, end).collect(),
        (None, None) => scenario.seeds().collect(),
    };
    let mut last: Option<Outcome> = None;
    for seed in &seeds {
        let outcome = scenario.case.run(*seed);
        say!(
            "seed {} digest {} events {}{}",
            seed,
            outcome.digest(),
            outcome.trace.len(),
            if outcome.failure.is_some() {
                " FAILED"
            } else {
                ""
            }
        );
        let failed = outcome.failure.is_some();
        last = Some(outcome);
        if failed {
            break;
        }
    }
    let last = last.expect("at least one seed ran");
    if trace {
        for line in last.trace.lines() {
            say!("{line}");
        }
    }
    match last.report() {
        Some(report) => {
            say!("{report}");
            ExitCode::from(1)
        }
        None => {
            say!("{} seed(s) of {} passed", seeds.len(), scenario.id());
            ExitCode::SUCCESS
        }
    }
}

/// Whether a scenario's budget met its expectation, with a one-line summary.
fn verdict(scenario: &Scenario) -> (bool, String) {
    let stop_at_failure = scenario.expectation == Expectation::Caught;
    let sweep = scenario.case.run_seeds(scenario.seeds(), stop_at_failure);
    let ran = sweep.seeds.len();
    match (scenario.expectation, &sweep.failure) {
        (Expectation::Caught, Some(outcome)) => {
            let failure = outcome
                .failure
                .as_ref()
                .expect("a failed outcome has a failure");
            let replay = syncsim::sim::replay_command(scenario.id(), outcome.seed);
            let summary = format!(
                "caught at seed {} after {ran} seed(s): {}\n{:46}replay: {replay}",
                outcome.seed, failure.property, ""
            );
            (true, summary)
        }
        (Expectation::Caught, None) => (false, format!("NOT caught in {ran} seed(s)")),
        (Expectation::Holds, Some(outcome)) => {
            let report = outcome.report().expect("a failed outcome has a report");
            (false, format!("FAILED at seed {}:\n{report}", outcome.seed))
        }
        (Expectation::Holds, None) => {
            let uncovered = sweep.uncovered();
            if uncovered.is_empty() {
                (true, format!("held {ran} seed(s), every sometimes hit"))
            } else {
                (
                    false,
                    format!("held {ran} seed(s) but never hit: {}", uncovered.join("; ")),
                )
            }
        }
    }
}

fn check() -> ExitCode {
    let (mut met_count, mut unmet_count) = (0, 0);
    say!("{:<28} {:<7} {:<4} result", "scenario", "expect", "met");
    for scenario in scenarios::catalog() {
        let (met, summary) = verdict(&scenario);
        if met {
            met_count += 1;
        } else {
            unmet_count += 1;
        }
        let mark = if met { "yes" } else { "NO" };
        say!(
            "{:<28} {:<7} {:<4} {summary}",
            scenario.id(),
            scenario.expectation.to_string(),
            mark
        );
    }
    let verdict = if unmet_count == 0 {
        "every expectation met"
    } else {
        "some expectations NOT met"
    };
    say!("{verdict}");
    // The plain closing line CI readers count: one scenario, one pass or fail.
    say!("check: {met_count} passed, {unmet_count} failed");
    if unmet_count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
