//! What a run of a script produced, in one shape for both backends, and its text rendering
//! (the recorded `expected/<case>.out` files are this rendering of the real server's log).
//!
//! A step's result is its rows (column names and text values, as PostgreSQL's text output
//! format prints them), or the number of rows it affected, or the SQLSTATE of its error. Error
//! messages are not compared: the simulated parser's texts differ (docs/postgres.md).

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
    /// The statement failed with this SQLSTATE.
    Error(String),
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
            StepResult::Error(code) => write!(formatter, "ERROR {code}"),
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
        /// The SQLSTATE.
        code: String,
    },
    /// A step was issued and finished before the next one.
    Ran {
        /// The step.
        step: String,
        /// Its result.
        result: StepResult,
    },
    /// A step was issued and waits for a lock.
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
    /// A step was not issued because its session still waits on an earlier step.
    Busy {
        /// The step.
        step: String,
    },
    /// At the end of the permutation the step still waits; its session is closed.
    StillWaiting {
        /// The step.
        step: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::SetupFailed { block, code } => write!(formatter, "{block}: setup ERROR {code}"),
            Event::Ran { step, result } => write!(formatter, "{step}: {result}"),
            Event::Waiting { step } => write!(formatter, "{step}: <waiting>"),
            Event::Finished { step, result } => write!(formatter, "{step}: <done> {result}"),
            Event::Busy { step } => write!(formatter, "{step}: <not issued: session waiting>"),
            Event::StillWaiting { step } => write!(formatter, "{step}: <still waiting at end>"),
        }
    }
}

/// The log of one permutation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermutationLog {
    /// The step names of the permutation.
    pub permutation: Vec<String>,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// Renders the logs of a case as the text stored in `expected/<case>.out`.
pub fn render(logs: &[PermutationLog]) -> String {
    let mut text = String::new();
    for (index, log) in logs.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        let _ = writeln!(text, "permutation {}", log.permutation.join(" "));
        for event in &log.events {
            let _ = writeln!(text, "{event}");
        }
    }
    text
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
            Event::SetupFailed { .. } => errors += 1,
            Event::Busy { .. } | Event::StillWaiting { .. } => {}
        }
    }
    format!(
        "{} perm, {steps} steps, {waits} waits, {errors} errors",
        logs.len()
    )
}
