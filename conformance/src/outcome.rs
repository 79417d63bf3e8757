//! What a run of a script produced, in one shape for both backends, and its text rendering
//! (the recorded `expected/<case>.out` files are this rendering of the real server's log).
//!
//! A step's result is its rows (column names and text values, as PostgreSQL's text output
//! format prints them), or the number of rows it affected, or the SQLSTATE of its error.
//! Error messages are shown ([`PermutationLog::text`] with `detailed`) but not compared
//! ([`render`]): the simulated parser's texts differ (docs/postgres.md).

use std::fmt::{self, Write as _};

/// The result of one finished step (of its last statement when it holds several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepResult {
    /// A statement with a row description (SELECT, RETURNING): names and text values.
    Rows {
        /// Output column names.
        columns: Vec<String>,
        /// Values in text format; `None` is NULL.
        rows: Vec<Vec<Option<String>>>,
    },
    /// A statement without rows: rows affected (0 for BEGIN, SET, CREATE, ...).
    Affected(u64),
    /// The statement failed.
    Error(Failure),
}

/// An error a server answered: its SQLSTATE and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The SQLSTATE, e.g. `40P01`.
    pub code: String,
    /// The primary message, e.g. `deadlock detected`.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether the server refused the SQL as unsupported (`0A000`).
    pub fn is_unsupported(&self) -> bool {
        self.code == "0A000"
    }
}

impl fmt::Display for StepResult {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepResult::Rows { columns, rows } => {
                write!(formatter, "rows [{}]", columns.join(", "))?;
                for row in rows {
                    let cells: Vec<&str> = row
                        .iter()
                        .map(|cell| cell.as_deref().unwrap_or("NULL"))
                        .collect();
                    write!(formatter, " ({})", cells.join(", "))?;
                }
                Ok(())
            }
            StepResult::Affected(count) => write!(formatter, "ok {count}"),
            StepResult::Error(failure) => write!(formatter, "ERROR {}", failure.code),
        }
    }
}

impl StepResult {
    /// The rendering with the error message after the SQLSTATE.
    pub fn detailed(&self) -> String {
        match self {
            StepResult::Error(failure) => format!("ERROR {}: {}", failure.code, failure.message),
            other => other.to_string(),
        }
    }
}

/// One line of a permutation's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A setup block (shared or a session's) failed.
    SetupFailed {
        /// `setup` or the session name.
        block: String,
        /// The error.
        failure: Failure,
    },
    /// A step was issued and finished before the next one.
    Ran {
        /// The step.
        step: String,
        /// Its result.
        result: StepResult,
    },
    /// A step was issued and waits (for a lock, or for a `(*)` or `(other)` marker).
    Waiting {
        /// The step.
        step: String,
    },
    /// A waiting step finished (after a later step released what it waited for).
    Finished {
        /// The step.
        step: String,
        /// Its result.
        result: StepResult,
    },
    /// The step's session still waits for an earlier step that nothing left can wake: the
    /// permutation is invalid (isolationtester gives up on it too) and stops here.
    Invalid {
        /// The step that could not be issued.
        step: String,
        /// The earlier step its session waits for.
        waiting: String,
    },
    /// At the end of the permutation the step still waits; its session is closed.
    StillWaiting {
        /// The step.
        step: String,
    },
    /// A teardown block (a session's or shared) failed.
    TeardownFailed {
        /// `teardown` or the session name.
        block: String,
        /// The error.
        failure: Failure,
    },
}

impl Event {
    /// The line as in `expected/*.out`, with the error message after each SQLSTATE when
    /// `detailed`.
    pub fn line(&self, detailed: bool) -> String {
        let result = |result: &StepResult| {
            if detailed {
                result.detailed()
            } else {
                result.to_string()
            }
        };
        let failure = |failure: &Failure| result(&StepResult::Error(failure.clone()));
        match self {
            Event::SetupFailed { block, failure: f } => format!("{block}: setup {}", failure(f)),
            Event::Ran { step, result: r } => format!("{step}: {}", result(r)),
            Event::Waiting { step } => format!("{step}: <waiting>"),
            Event::Finished { step, result: r } => format!("{step}: <done> {}", result(r)),
            Event::Invalid { step, waiting } => {
                format!("{step}: <invalid permutation: its session still waits in {waiting}>")
            }
            Event::StillWaiting { step } => format!("{step}: <still waiting at end>"),
            Event::TeardownFailed { block, failure: f } => {
                format!("{block}: teardown {}", failure(f))
            }
        }
    }

    /// The error this line reports, if any.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Event::SetupFailed { failure, .. } | Event::TeardownFailed { failure, .. } => {
                Some(failure)
            }
            Event::Ran { result, .. } | Event::Finished { result, .. } => match result {
                StepResult::Error(failure) => Some(failure),
                _ => None,
            },
            Event::Waiting { .. } | Event::Invalid { .. } | Event::StillWaiting { .. } => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.line(false))
    }
}

/// Which kind of block a failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A setup block.
    Setup,
    /// A teardown block.
    Teardown,
}

impl Phase {
    /// The log line of a failed block.
    pub fn failed(self, block: &str, failure: Failure) -> Event {
        let block = block.to_string();
        match self {
            Phase::Setup => Event::SetupFailed { block, failure },
            Phase::Teardown => Event::TeardownFailed { block, failure },
        }
    }
}

/// The log of one permutation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermutationLog {
    /// The permutation as written on a `permutation` line.
    pub permutation: String,
    /// What happened, in order.
    pub events: Vec<Event>,
}

impl PermutationLog {
    /// The log as in `expected/<case>.out`: a `permutation` line, then one line per event.
    pub fn text(&self, detailed: bool) -> String {
        let mut text = format!("permutation {}\n", self.permutation);
        for event in &self.events {
            let _ = writeln!(text, "{}", event.line(detailed));
        }
        text
    }
}

/// Renders the logs of a case as the text stored in `expected/<case>.out` (SQLSTATEs only).
pub fn render(logs: &[PermutationLog]) -> String {
    join(logs.iter().map(|log| log.text(false)))
}

/// Permutation texts separated by blank lines, as [`split`] reads them back.
pub fn join(texts: impl Iterator<Item = String>) -> String {
    texts.collect::<Vec<_>>().join("\n")
}

/// A rendered case log cut into its permutations' texts (the inverse of [`join`]).
pub fn split(text: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("permutation ") || parts.is_empty() {
            parts.push(String::new());
        }
        if let Some(part) = parts.last_mut() {
            if !line.is_empty() {
                part.push_str(line);
                part.push('\n');
            }
        }
    }
    parts
}

/// A short summary of a case's logs for the CLI table: steps, waits and errors.
pub fn summary(logs: &[PermutationLog]) -> String {
    let mut steps = 0;
    let mut waits = 0;
    let mut errors = 0;
    for event in logs.iter().flat_map(|log| &log.events) {
        match event {
            Event::Ran { result, .. } | Event::Finished { result, .. } => {
                steps += usize::from(matches!(event, Event::Ran { .. }));
                errors += usize::from(matches!(result, StepResult::Error(_)));
            }
            Event::Waiting { .. } => {
                steps += 1;
                waits += 1;
            }
            Event::SetupFailed { .. } | Event::TeardownFailed { .. } => errors += 1,
            Event::Invalid { .. } | Event::StillWaiting { .. } => {}
        }
    }
    format!(
        "{} perm, {steps} steps, {waits} waits, {errors} errors",
        logs.len()
    )
}
