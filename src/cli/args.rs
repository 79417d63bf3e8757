//! Command-line arguments, parsed by clap; every value is checked here so a bad one is a
//! clear message and exit code 2 before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::sim::{Seed, SeedRange};

/// Deterministic simulation of sync pipelines: one seed reproduces one run.
#[derive(Parser, Debug)]
#[command(name = "syncsim", version, about)]
pub struct Cli {
    /// What to do; `check` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs every catalog scenario on its committed seed budget (the default command).
    Check(DirArgs),
    /// Lists the scenarios with their expectations and properties.
    List(DirArgs),
    /// Runs one scenario on seeds; on a failure, shrinks it and writes a replay file.
    Run(RunArgs),
    /// Re-runs a replay file and prints its trace (text, Mermaid or Chrome trace JSON).
    Replay(ReplayArgs),
    /// Runs random seeds of the catalog for a wall-clock budget, on several cores.
    Fuzz(FuzzArgs),
    /// Runs the conformance corpus on the simulated and a real PostgreSQL; prints a table.
    Conformance(ConformanceArgs),
    /// Re-run a replay file's SQL on the simulation and on a real PostgreSQL, statement by
    /// statement: exit 0 when both give the same results, SQLSTATEs and waits as the run.
    Confirm(ConfirmArgs),
    /// Measures throughput, time to a bug, overhead, Postgres speed and scaling (release).
    Bench(BenchArgs),
}

impl Default for Command {
    /// `check` of the catalog, as `syncsim` with no arguments.
    fn default() -> Command {
        Command::Check(DirArgs::default())
    }
}

impl Command {
    /// Makes `dir` the catalog of the commands that read one, unless `--dir` named another.
    pub fn default_dir(&mut self, dir: PathBuf) {
        let slot = match self {
            Command::Check(arguments) | Command::List(arguments) => &mut arguments.dir,
            Command::Run(arguments) => &mut arguments.dir,
            Command::Fuzz(arguments) => &mut arguments.dir,
            Command::Replay(_)
            | Command::Conformance(_)
            | Command::Confirm(_)
            | Command::Bench(_) => return,
        };
        slot.get_or_insert(dir);
    }
}

/// The sections of `bench`, each a table of BENCHMARKS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Section {
    /// Seeds, events and virtual seconds per wall second, one core and all cores.
    Throughput,
    /// Wall time and seeds to the first failure of every `caught` scenario, then shrinking.
    TimeToBug,
    /// A ping-pong and timer workload on bare madsim against the same through syncsim.
    Overhead,
    /// The conformance corpus on the simulated Postgres against a real one.
    Postgres,
    /// Cost per seed and memory per case as a scenario's entity count grows.
    Scaling,
    /// `syncsim confirm` on every `caught` scenario's shrunk failure, against a real server.
    Confirm,
}

/// Arguments of `bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sections to run (repeatable); default: all of them.
    #[arg(long = "section", value_enum)]
    pub sections: Vec<Section>,
    /// Only scenarios whose id matches this glob (e.g. `counter/*`); default: the catalog.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Repeated measurements per table cell; medians and min..max are over them.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
    /// Real time of one throughput measurement (e.g. `1s`, `500ms`).
    #[arg(long, default_value = "1s", value_parser = parse_budget)]
    pub window: Duration,
    /// Starting seeds per `caught` scenario for the time to a bug.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub starts: u32,
    /// Failures shrunk per `caught` scenario (each shrink can take minutes on slow models).
    #[arg(long, default_value_t = 1)]
    pub shrinks: u32,
    /// Largest workload factor of the scaling section: 1, 10 or 100.
    #[arg(long, default_value_t = 100, value_parser = parse_scale_max)]
    pub scale_max: u64,
    /// Threads for the "all cores" throughput; default: the machine's cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Write the generated sections into this Markdown file (each between its own markers,
    /// replacing an earlier run's; the rest of the file is kept).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Internal: run `<scenario>@<factor>` once in this fresh process and print its peak
    /// memory (the scaling section starts one such process per step).
    #[arg(long, hide = true)]
    pub memory_probe: Option<String>,
}

fn parse_scale_max(text: &str) -> Result<u64, String> {
    match text {
        "1" => Ok(1),
        "10" => Ok(10),
        "100" => Ok(100),
        _ => Err(format!("invalid scale {text:?}: expected 1, 10 or 100")),
    }
}

/// Arguments of `conformance`.
#[derive(Args, Debug)]
pub struct ConformanceArgs {
    /// Only cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// The corpus directory (holding specs/ and expected/); default: the crate's own.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print both logs of every case (by default only of the cases that differ).
    #[arg(long)]
    pub show: bool,
    /// The server to compare with (default: SYNCSIM_PG_URL).
    #[arg(long, conflicts_with = "offline")]
    pub url: Option<String>,
    /// Compare with the recorded logs even when SYNCSIM_PG_URL is set.
    #[arg(long)]
    pub offline: bool,
    /// Exit 0 when every difference follows SQL the simulation refuses (0A000): for corpora
    /// beyond the simulated subset, such as PostgreSQL's own isolation specs.
    #[arg(long)]
    pub allow_unsupported: bool,
}

/// Where `check` and `list` take their scenarios from.
#[derive(Args, Debug, Default)]
pub struct DirArgs {
    /// Scenario files (`*.toml`, `*.json`, searched recursively) instead of the catalog.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Arguments of `run`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["scenario", "file"])))]
pub struct RunArgs {
    /// Scenario id, `<model>/<variant>[/<shape>]`.
    pub scenario: Option<String>,
    /// A scenario file (TOML, or JSON by its `.json` name) instead of a catalog id.
    #[arg(long, conflicts_with = "scenario")]
    pub file: Option<PathBuf>,
    /// Look the scenario id up in these scenario files instead of the catalog.
    #[arg(long, conflicts_with = "file")]
    pub dir: Option<PathBuf>,
    /// One seed, decimal or 0x-hex.
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<Seed>,
    /// Seeds `A..B` (B excluded) or a count `N` (seeds 0..N); default: the committed budget.
    #[arg(long, value_parser = parse_seeds)]
    pub seeds: Option<SeedRange>,
    /// Stop trying new seeds after this much real time (e.g. `30s`, `5m`); the first seed
    /// always runs.
    #[arg(long, value_parser = parse_budget)]
    pub budget: Option<Duration>,
    /// Print the whole trace of the last run.
    #[arg(long)]
    pub trace: bool,
    /// Do not shrink a failure (the replay file then holds the run's full fault plan).
    #[arg(long)]
    pub no_shrink: bool,
}

/// Output formats of `replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The text trace and the failure report.
    Text,
    /// A Mermaid sequence diagram.
    Mermaid,
    /// Chrome trace event JSON (Perfetto, chrome://tracing).
    Chrome,
    /// The run's SQL as an isolationtester spec (`syncsim conformance --dir`, `confirm`).
    Spec,
}

/// Which SQL of a run a spec keeps.
#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// Keep only statements naming one of these tables (comma-separated), with their
    /// sessions' transaction control; default: every statement.
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// The Postgres server whose SQL to take (default: the only one the run sent SQL to).
    #[arg(long)]
    pub server: Option<String>,
}

/// Arguments of `replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The replay file a failed run wrote.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the output here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With `--format spec`: which SQL to keep.
    #[command(flatten)]
    pub spec: SpecArgs,
    /// With `--format spec`: every statement, not only those with a value the failure's
    /// reason names (an id, a UUID, an email), their transactions and what they waited for.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `confirm`.
#[derive(Args, Debug)]
pub struct ConfirmArgs {
    /// The replay file a failed run wrote.
    pub file: PathBuf,
    /// The PostgreSQL server (default: SYNCSIM_PG_URL, else a throwaway local server).
    #[arg(long)]
    pub url: Option<String>,
    /// Print every step of both logs, not only the ones that differ.
    #[arg(long)]
    pub show: bool,
    /// Only the statements with a value the failure's reason names, their transactions and
    /// what they waited for (then the run's own answers are not compared).
    #[arg(long)]
    pub focus: bool,
    /// Which SQL to keep.
    #[command(flatten)]
    pub spec: SpecArgs,
}

/// Arguments of `fuzz`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct FuzzArgs {
    /// `merge`: merges shard reports instead of sweeping.
    #[command(subcommand)]
    pub action: Option<FuzzAction>,
    /// Real time for the whole command, shrinking included (e.g. `30s`, `10m`), split
    /// across scenarios.
    #[arg(long, value_parser = parse_budget, required = true)]
    pub budget: Option<Duration>,
    /// Parallel runs; default: the machine's cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only the seeds of shard `I` of `N` (seed % N == I - 1), e.g. `1/2`.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Only scenarios whose id matches this glob (e.g. `counter/*`).
    #[arg(long)]
    pub filter: Option<String>,
    /// Scenario files (`*.toml`, `*.json`, searched recursively) instead of the catalog.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The seed range to draw from: `A..B`, `A..` (open) or a count `N`; default: `0..`.
    #[arg(long, value_parser = parse_seed_bounds)]
    pub seeds: Option<(u64, u64)>,
    /// Write a JSON report (seeds tried and failures per scenario) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Do not shrink failures.
    #[arg(long)]
    pub no_shrink: bool,
}

/// What `fuzz` does besides sweeping.
#[derive(Subcommand, Debug)]
pub enum FuzzAction {
    /// Merges `--report` files of shards: seeds covered per scenario (overlaps and gaps
    /// named), failures grouped by property and shrunk plan, `sometimes` hits, resume lines.
    Merge(MergeArgs),
}

/// Arguments of `fuzz merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shard reports (`fuzz --report`), one per shard.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the merge here as JSON (per scenario: seeds, gaps, overlaps, `sometimes` hits,
    /// failure groups, resume lines).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn parse_seeds(text: &str) -> Result<SeedRange, String> {
    crate::scenarios::budget::parse_seeds(text)
}

fn parse_seed_bounds(text: &str) -> Result<(u64, u64), String> {
    let seed = |part: &str| {
        part.parse::<Seed>()
            .map(|seed| seed.0)
            .map_err(|error| error.to_string())
    };
    let (start, end) = match text.split_once("..") {
        Some((start, "")) => (seed(start)?, u64::MAX),
        Some((start, end)) => (seed(start)?, seed(end)?),
        None => (0, seed(text)?),
    };
    if start >= end {
        return Err(format!("invalid seed range {text:?}: it is empty"));
    }
    Ok((start, end))
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    let budget = humantime::parse_duration(text)
        .map_err(|error| format!("invalid budget {text:?}: {error} (e.g. 30s, 10m, 1h)"))?;
    if budget.is_zero() {
        return Err(format!("invalid budget {text:?}: it must be positive"));
    }
    Ok(budget)
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let invalid = || format!("invalid shard {text:?}: expected I/N with 1 <= I <= N, e.g. 1/2");
    let (index, count) = text.split_once('/').ok_or_else(invalid)?;
    let index: u64 = index.parse().map_err(|_| invalid())?;
    let count: u64 = count.parse().map_err(|_| invalid())?;
    if index == 0 || index > count {
        return Err(invalid());
    }
    Ok((index, count))
}
