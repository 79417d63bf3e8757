//! The command-line front end: argument parsing, one module per subcommand, and the few
//! things they share (output that survives a closed pipe, the failures directory, a
//! stopwatch). The CLI runs outside any simulation, so it may read the wall clock and the
//! file system; simulated code may not.
//!
//! It is part of the library so a user's crate gets the same command over its own models:
//! register them (`scenarios::registry::register`), then call [`main`].

/// Prints a line to stdout. A closed stdout (`syncsim list | head -1`) ends the command
/// quietly, as coreutils end on SIGPIPE (exit code 141, 128 + SIGPIPE, and no message),
/// instead of the panic `println!` would raise; another write error ends it with the error
/// and exit code 1.
macro_rules! say {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout(), $($argument)*) {
            $crate::cli::stdout_failed(&error);
        }
    }};
}

/// Ends the process after a failed write to stdout (see `say!`).
pub fn stdout_failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("syncsim: cannot write to stdout: {error}");
    std::process::exit(1);
}

/// The allocator the `syncsim` command runs on (mimalloc), for a crate's own command too:
/// `#[global_allocator] static ALLOCATOR: syncsim::cli::Allocator = syncsim::cli::Allocator;`.
/// Every run starts a fresh thread, and glibc's malloc gives each a fresh arena whose pages
/// go back to the kernel and fault in again: on the overhead bench the harness cost 1.55x
/// bare madsim with it and 1.19x with this one (BENCHMARKS.md, sections 3 and 6). Allocation
/// never shows in a trace: determinism is untouched.
pub use mimalloc::MiMalloc as Allocator;

pub mod args;
pub mod bench;
pub mod check;
pub mod confirm;
pub mod conformance;
pub mod fuzz;
pub mod merge;
pub mod replay;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

use crate::scenarios::replay::ReplayFile;
use crate::scenarios::shrink::{self, Shrunk};
use crate::scenarios::ScenarioSpec;
use crate::sim::Outcome;

/// The scenarios of every file under `dir` (each with its path), else the catalog's.
pub fn scenarios_from(
    dir: Option<&std::path::Path>,
) -> Result<Vec<(ScenarioSpec, Option<PathBuf>)>, Usage> {
    let Some(dir) = dir else {
        let catalog = crate::scenarios::catalog().into_iter();
        return Ok(catalog.map(|scenario| (scenario, None)).collect());
    };
    let loaded = crate::scenarios::file::load_dir(dir).map_err(Usage)?;
    Ok(loaded
        .into_iter()
        .map(|(path, scenario)| (scenario, Some(path)))
        .collect())
}

/// The scenario `id` among the files under `dir` (with its file), else in the catalog.
pub fn find_scenario(
    id: &str,
    dir: Option<&std::path::Path>,
) -> Result<(ScenarioSpec, Option<PathBuf>), Usage> {
    let Some(dir) = dir else {
        return Ok((crate::scenarios::find(id).map_err(Usage)?, None));
    };
    let all = crate::scenarios::file::load_dir(dir).map_err(Usage)?;
    let known: Vec<&str> = all
        .iter()
        .map(|(_, scenario)| scenario.id.as_str())
        .collect();
    let unknown = || {
        let known = known.join(", ");
        Usage(format!(
            "unknown scenario {id:?} in {}; known: {known}",
            dir.display()
        ))
    };
    let found = all.iter().find(|(_, scenario)| scenario.id == id);
    let (path, scenario) = found.ok_or_else(unknown)?;
    Ok((scenario.clone(), Some(path.clone())))
}

/// The command that runs a scenario on `seed`: by its id for a catalog scenario, by its
/// file for one read from a file.
pub fn seed_command(id: &str, file: Option<&std::path::Path>, seed: crate::sim::Seed) -> String {
    match file {
        None => format!("cargo run --release -- run {id} --seed {seed}"),
        Some(path) => format!(
            "cargo run --release -- run --file {} --seed {seed}",
            path.display()
        ),
    }
}

/// A failure report as the CLI prints it: the report, then the command that replays it.
pub fn printed(report: &crate::sim::Report, replay: &str) -> String {
    format!("{report}\n  replay:   {replay}")
}

/// Parses the process's arguments and runs the command: the `syncsim` binary's whole `main`,
/// and a user crate's, after it registered its models.
///
/// Exit codes: 0 when every expectation is met (or a replay reproduced its failure), 1 when
/// a run fails, an expectation is not met or a replay does not reproduce, 2 on bad input
/// (unknown scenario, malformed seed, range, budget, shard, replay or scenario file, unknown
/// flag), 130 when an interrupted `fuzz` wrote what it found, 141 when stdout closed early.
pub fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    exit_code(dispatch(args::Cli::parse().command.unwrap_or_default()))
}

/// [`main`] for a crate whose catalog is its own scenario files: `check`, `list`, `fuzz` and
/// `run <id>` read the files under `catalog_dir` when no `--dir` is given (a `--dir` still
/// wins), or under `SYNCSIM_CATALOG_DIR` when it is set (a binary moved away from the
/// checkout it was built in). The built-in catalog is then not used.
pub fn main_with(catalog_dir: impl Into<PathBuf>) -> std::process::ExitCode {
    use clap::Parser as _;
    let mut command = args::Cli::parse().command.unwrap_or_default();
    let from_environment = std::env::var_os("SYNCSIM_CATALOG_DIR").map(PathBuf::from);
    command.default_dir(from_environment.unwrap_or_else(|| catalog_dir.into()));
    exit_code(dispatch(command))
}

fn dispatch(command: args::Command) -> Result<u8, Usage> {
    match command {
        args::Command::Check(arguments) => check::check(&arguments),
        args::Command::List(arguments) => check::list(&arguments),
        args::Command::Run(run) => run::run(&run),
        args::Command::Replay(replay) => replay::replay(&replay),
        args::Command::Fuzz(fuzz) => fuzz::fuzz(&fuzz),
        args::Command::Conformance(arguments) => conformance::conformance(&arguments),
        args::Command::Bench(arguments) => bench::bench(&arguments),
        args::Command::Confirm(arguments) => confirm::confirm(&arguments),
    }
}

fn exit_code(code: Result<u8, Usage>) -> std::process::ExitCode {
    match code {
        Ok(code) => std::process::ExitCode::from(code),
        Err(Usage(message)) => {
            eprintln!("error: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Bad input: reported as `error: <message>` with exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

/// Where failure files go: `SYNCSIM_FAILURES_DIR`, else `./syncsim-failures`.
pub fn failures_dir() -> PathBuf {
    std::env::var_os("SYNCSIM_FAILURES_DIR")
        .map_or_else(|| PathBuf::from("syncsim-failures"), PathBuf::from)
}

/// How many candidate runs shrinking may try.
pub const SHRINK_RUN_COUNT_MAX: u32 = 400;

/// A failed run made into a replay file: the file, where it was written (or why it could
/// not be), and the shrink that made it.
pub struct Recorded {
    /// The replay file's contents.
    pub file: ReplayFile,
    /// Its path, or why writing it failed (the report is printed either way).
    pub written: Result<PathBuf, String>,
    /// The shrunk failure, when it was shrunk.
    pub shrunk: Option<Shrunk>,
}

/// Shrinks a failure (while `keep_shrinking()` says so; not at all when it is `None`) and
/// writes its replay file under the failures directory, next to (never over) an earlier file
/// of the same scenario and seed.
pub fn record_failure(
    spec: &ScenarioSpec,
    outcome: &Outcome,
    keep_shrinking: Option<&dyn Fn() -> bool>,
) -> Recorded {
    let shrunk = keep_shrinking
        .map(|keep_going| shrink::shrink_while(spec, outcome, SHRINK_RUN_COUNT_MAX, keep_going));
    let file = match &shrunk {
        Some(shrunk) => ReplayFile::from_shrunk(shrunk),
        None => ReplayFile::from_outcome(spec, outcome),
    };
    let json = file.to_json();
    let written = free_path(&file.path_in(&failures_dir()), &json)
        .and_then(|path| write_file(&path, &json).map(|()| path))
        .map_err(|Usage(error)| error);
    Recorded {
        file,
        written,
        shrunk,
    }
}

/// `path`, or when a different file is there already, the first of `<stem>-2.json`,
/// `<stem>-3.json`, ... that is free or holds the same text (a run written twice is one
/// file; two different runs of one scenario and seed keep both).
#[allow(clippy::disallowed_methods)] // The CLI reads the failures directory, outside any run.
fn free_path(path: &std::path::Path, text: &str) -> Result<PathBuf, Usage> {
    let stem = path.with_extension("");
    let stem = stem.display();
    for number in 1..=1000u32 {
        let candidate = match number {
            1 => path.to_path_buf(),
            _ => PathBuf::from(format!("{stem}-{number}.json")),
        };
        match std::fs::read_to_string(&candidate) {
            Ok(existing) if existing == text => return Ok(candidate),
            Ok(_) => continue,
            // Unreadable but there: keep it. Not there (or no directory yet): the write says.
            Err(_) if candidate.exists() => continue,
            Err(_) => return Ok(candidate),
        }
    }
    Err(Usage(format!(
        "{stem}: a thousand replay files of this scenario and seed exist"
    )))
}

/// Writes `text` to `path` atomically (a temporary file in the same directory, then a
/// rename), creating its directory: a full disk or an interrupt leaves the old file or
/// none, never a truncated one.
#[allow(clippy::disallowed_methods)] // The CLI writes files outside any simulation.
pub fn write_file(path: &std::path::Path, text: &str) -> Result<(), Usage> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|error| Usage(format!("cannot create {}: {error}", parent.display())))?;
    }
    let temporary = temporary_path(path);
    let cannot = |error: std::io::Error| Usage(format!("cannot write {}: {error}", path.display()));
    let written = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(cannot(error));
    }
    Ok(())
}

/// The temporary file a write of `path` goes through: hidden, next to it, per process.
fn temporary_path(path: &std::path::Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Checks before a long command that `path` can be written (its directory made, a file
/// created there), so a bad `--report` or `--out` fails at once instead of after the work.
#[allow(clippy::disallowed_methods)] // The CLI writes files outside any simulation.
pub fn check_writable(path: &std::path::Path) -> Result<(), Usage> {
    if path.is_dir() {
        return Err(Usage(format!(
            "cannot write {}: it is a directory",
            path.display()
        )));
    }
    let probe = temporary_path(path);
    write_file(&probe, "")?;
    std::fs::remove_file(&probe)
        .map_err(|error| Usage(format!("cannot write {}: {error}", path.display())))
}

/// The command that replays a replay file from a checkout.
pub fn replay_file_command(path: &std::path::Path) -> String {
    format!("cargo run --release -- replay {}", path.display())
}

/// Measures real time for budgets; the CLI is outside the simulation.
pub struct Stopwatch {
    #[allow(clippy::disallowed_types)] // Wall-clock budgets of the CLI, not simulated time.
    start: std::time::Instant,
}

impl Stopwatch {
    /// Starts now.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)] // The CLI's real budgets.
    pub fn start() -> Stopwatch {
        Stopwatch {
            start: std::time::Instant::now(),
        }
    }

    /// Real time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
