//! `syncsim bench`: how fast syncsim explores and finds bugs, and what the harness costs,
//! as Markdown tables (BENCHMARKS.md). One module per section, plus the driver that runs
//! seeds on several threads, the statistics and the Markdown rendering. Every section picks
//! its scenarios from the catalog (filtered by `--scenario`), never from a list of its own.
//! Each section is printed and, with `--out`, written into the file between its markers,
//! with the command that produced it and the machine it ran on. Timings are only meaningful
//! from a release build; a debug build says so in the output. Not here: timed assertions
//! (tests only check that the command runs).

pub mod confirm;
pub mod driver;
pub mod machine;
pub mod markdown;
pub mod overhead;
pub mod postgres;
pub mod scaling;
pub mod stats;
pub mod throughput;
pub mod time_to_bug;

use std::time::Duration;

use crate::scenarios::{self, ScenarioSpec};

use super::args::{BenchArgs, Section};
use super::Usage;
use machine::Machine;

/// What every section needs from the arguments.
pub struct Settings {
    /// Measurements per cell.
    pub repeats: u32,
    /// Real time of one throughput window.
    pub window: Duration,
    /// Starting seeds per `caught` scenario.
    pub starts: u32,
    /// Failures shrunk per `caught` scenario.
    pub shrinks: u32,
    /// Largest scaling factor.
    pub scale_max: u64,
    /// Threads of the "all cores" throughput.
    pub thread_count: u32,
}

fn section_name(section: Section) -> &'static str {
    match section {
        Section::Throughput => "throughput",
        Section::TimeToBug => "time-to-bug",
        Section::Overhead => "overhead",
        Section::Postgres => "postgres",
        Section::Scaling => "scaling",
        Section::Confirm => "confirm",
    }
}

fn run_section(section: Section, selected: &[ScenarioSpec], settings: &Settings) -> String {
    match section {
        Section::Throughput => throughput::section(selected, settings),
        Section::TimeToBug => time_to_bug::section(selected, settings),
        Section::Overhead => overhead::section(settings),
        Section::Postgres => postgres::section(settings),
        Section::Scaling => scaling::section(selected, settings),
        Section::Confirm => confirm::section(selected, settings),
    }
}

/// Runs the selected sections; exit code 0 (measurements do not fail).
pub fn bench(arguments: &BenchArgs) -> Result<u8, Usage> {
    if let Some(probe) = &arguments.memory_probe {
        return scaling::memory_probe(probe);
    }
    if let Some(path) = &arguments.out {
        super::check_writable(path)?;
    }
    let selected = match &arguments.scenario {
        Some(pattern) => scenarios::filter(pattern).map_err(Usage)?,
        None => scenarios::catalog(),
    };
    let mut sections = arguments.sections.clone();
    if sections.is_empty() {
        sections = vec![
            Section::Throughput,
            Section::TimeToBug,
            Section::Overhead,
            Section::Postgres,
            Section::Scaling,
            Section::Confirm,
        ];
    }
    sections.sort();
    sections.dedup();
    let settings = Settings {
        repeats: arguments.repeats,
        window: arguments.window,
        starts: arguments.starts,
        shrinks: arguments.shrinks,
        scale_max: arguments.scale_max,
        thread_count: arguments.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |cores| cores.get() as u32)
        }),
    };
    let build = if cfg!(debug_assertions) {
        "debug build: these timings do not represent a release build"
    } else {
        "release build"
    };
    let command = machine::command_line();
    let mut document = match &arguments.out {
        Some(path) => read_existing(path)?,
        None => String::new(),
    };
    for section in sections {
        let machine = Machine::describe();
        let body = run_section(section, &selected, &settings);
        let text = format!(
            "Command: `{command}` ({build}).\n{}\n\n{body}",
            machine.line()
        );
        say!("<!-- bench:{} -->\n{text}", section_name(section));
        if let Some(path) = &arguments.out {
            document = markdown::splice(&document, section_name(section), &text);
            // Written after every section, so a long run keeps what it measured so far.
            super::write_file(path, &document)?;
        }
    }
    Ok(0)
}

#[allow(clippy::disallowed_methods)] // The CLI reads its output file, outside any simulation.
fn read_existing(path: &std::path::Path) -> Result<String, Usage> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok("# Benchmarks\n".to_string())
        }
        Err(error) => Err(Usage(format!("cannot read {}: {error}", path.display()))),
    }
}
