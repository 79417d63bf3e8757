//! The `syncsim` command: check the catalog, list it, run a scenario, replay a failure file,
//! fuzz for a wall-clock budget, compare the simulated Postgres with a real one, benchmark.
//!
//! Exit codes: 0 when every expectation is met (or a replay reproduced its failure), 1 when
//! a run fails, an expectation is not met or a replay does not reproduce, 2 on bad input
//! (unknown scenario, malformed seed, range, budget, shard or replay file, unknown flag).

#[macro_use]
mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let arguments = cli::args::Cli::parse();
    let command = arguments
        .command
        .unwrap_or(cli::args::Command::Check(cli::args::DirArgs::default()));
    let code = match command {
        cli::args::Command::Check(arguments) => cli::check::check(&arguments),
        cli::args::Command::List(arguments) => cli::check::list(&arguments),
        cli::args::Command::Run(run) => cli::run::run(&run),
        cli::args::Command::Replay(replay) => cli::replay::replay(&replay),
        cli::args::Command::Fuzz(fuzz) => cli::fuzz::fuzz(&fuzz),
        cli::args::Command::Conformance(arguments) => cli::conformance::conformance(&arguments),
        cli::args::Command::Bench(arguments) => cli::bench::bench(&arguments),
        cli::args::Command::Confirm(arguments) => cli::confirm::confirm(&arguments),
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(cli::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
