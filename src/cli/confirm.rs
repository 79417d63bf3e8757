//! `syncsim confirm FILE`: is a failure real, or an artifact of the simulation? Replays the
//! file, writes the SQL its run sent to a Postgres server as an isolationtester spec
//! (`history_spec`), runs that spec on the simulated engine and on a real PostgreSQL (`--url`,
//! else SYNCSIM_PG_URL, else a throwaway server from the installed binaries) with the same
//! runner as `syncsim conformance`, and compares step by step: each step's result (rows,
//! affected count or SQLSTATE) and whether it waited, against the real server and against what
//! the run's server answered.
//!
//! Exit 0 when all three agree (`confirmed: ...`), 1 when they differ (`differs at step K`),
//! 2 on bad input (an unreadable or malformed file, a run without SQL, no server).
//! Not compared: error message texts (the simulated ones differ, docs/postgres.md), NOTICEs,
//! timing beyond the order of the steps.

use syncsim_conformance::confirm::{self, Confirmation};
use syncsim_conformance::history_spec::{
    entities_of, write_spec, EmittedSpec, RunSql, SpecOptions,
};
use syncsim_conformance::real_backend::RealDriver;
use syncsim_conformance::server;
use syncsim_conformance::sim_backend::SimDriver;
use syncsim_conformance::spec::{self, Spec};

use crate::scenarios::replay::ReplayFile;
use crate::services::pg::{PgServer, SqlEntry};
use crate::sim::Outcome;

use super::args::{ConfirmArgs, SpecArgs};
use super::Usage;

fn read(path: &std::path::Path) -> Result<ReplayFile, Usage> {
    ReplayFile::load(path).map_err(|error| Usage(error.0))
}

/// The spec of the SQL the replayed run sent to one server: its name and the spec.
pub fn spec_of_run(
    file: &ReplayFile,
    outcome: &Outcome,
    arguments: &SpecArgs,
    focus: bool,
) -> Result<(String, EmittedSpec), Usage> {
    let servers = outcome.services.of_type::<PgServer>();
    let with_sql: Vec<&str> = servers
        .iter()
        .filter(|(_, server)| {
            let entries = server.sql_history();
            entries.iter().any(|e| matches!(e, SqlEntry::Statement(_)))
        })
        .map(|(name, _)| *name)
        .collect();
    let name = match (&arguments.server, with_sql.as_slice()) {
        (Some(wanted), _) => wanted.as_str(),
        (None, [only]) => only,
        // No statement, but the properties read its tables: their state is still confirmed.
        (None, []) if servers.len() == 1 => servers[0].0,
        (None, []) => {
            return Err(Usage(format!(
                "the run of {} sent no SQL to a Postgres server: nothing to confirm",
                file.scenario.id
            )))
        }
        (None, several) => {
            return Err(Usage(format!(
                "the run sent SQL to several servers ({}): choose one with --server",
                several.join(", ")
            )))
        }
    };
    let (_, server) = servers
        .iter()
        .find(|(candidate, _)| *candidate == name)
        .ok_or_else(|| {
            let names: Vec<&str> = servers.iter().map(|(name, _)| *name).collect();
            Usage(format!(
                "no Postgres server {name:?} in the run (it has: {})",
                names.join(", ")
            ))
        })?;
    let options = SpecOptions {
        tables: (!arguments.tables.is_empty()).then(|| arguments.tables.clone()),
        entities: focus.then(|| entities_of(&file.failure.reason)),
    };
    let title = format!("{} seed {}", file.scenario.id, file.seed);
    let run = RunSql::of(name, server, &outcome.trace);
    let spec = write_spec(&title, &run, &options).map_err(Usage)?;
    Ok((name.to_string(), spec))
}

/// Runs the command.
pub fn confirm(arguments: &ConfirmArgs) -> Result<u8, Usage> {
    let file = read(&arguments.file)?;
    if let Some(note) = file.version_note() {
        eprintln!("{note}");
    }
    let outcome = file.replay_keeping_services();
    let same = outcome.failure.as_ref().map(|failure| &failure.property);
    let reproduced = same == Some(&file.failure.property) && outcome.digest() == file.digest;
    if !reproduced {
        say!(
            "note: this replay did not reproduce the file's failure and digest {}: what is \
             compared is this run's SQL, and the verdict cannot be \"confirmed\"",
            file.digest
        );
    }
    let (server_name, emitted) = spec_of_run(&file, &outcome, &arguments.spec, arguments.focus)?;
    let spec = spec::parse(&file.scenario.id, &emitted.text)
        .map_err(|error| Usage(format!("the written spec does not parse: {error}")))?;
    let (server, mut real, version) = connect_real(arguments.url.as_deref(), &emitted)?;
    say!(
        "confirm: {} seed {}: {} statements of {} connections sent to {server_name} \
         (played by {} session(s))",
        file.scenario.id,
        file.seed,
        emitted.statements,
        emitted.connections,
        emitted.sessions
    );
    for note in &emitted.notes {
        say!("  note: {note}");
    }
    let mut sim = SimDriver::with_triggers(emitted.triggers.clone());
    let confirmation = match confirm::confirm(&emitted, &spec, &mut sim, Some(&mut real)) {
        Ok(confirmation) => confirmation,
        Err(error) => {
            say!("not confirmed: the spec could not run to its end: {error}");
            return Ok(1);
        }
    };
    drop(real);
    drop(server);
    print_steps(&confirmation, &spec, &version, arguments.show);
    let code = verdict(&confirmation, &emitted, &version);
    Ok(if reproduced { code } else { 1 })
}

/// Where the server comes from without `--url`.
const URL_SOURCE: &str = "SYNCSIM_PG_URL (or the throwaway local one)";

/// The real server (`url`, else SYNCSIM_PG_URL, else a throwaway one kept alive by the first
/// value) as a driver with the clock pinned and the run's row triggers, and its version.
fn connect_real(
    url: Option<&str>,
    emitted: &EmittedSpec,
) -> Result<(Option<server::Server>, RealDriver, String), Usage> {
    let (server, url) = match url {
        Some(url) => (None, url.to_string()),
        None => {
            let server = server::locate()
                .map_err(|error| Usage(format!("no PostgreSQL server: {error}")))?;
            let url = server.url.clone();
            (Some(server), url)
        }
    };
    let source = if server.is_some() {
        URL_SOURCE
    } else {
        "--url"
    };
    let mut real = RealDriver::connect(&url).map_err(|error| {
        Usage(format!(
            "cannot reach the PostgreSQL server of {source}: {error}"
        ))
    })?;
    for table in confirm::prepare_real(&mut real, emitted) {
        say!("  note: the row trigger on {table} has no SQL form: PostgreSQL runs without it");
    }
    let version = real
        .server_version()
        .map_err(|error| Usage(error.to_string()))?;
    if !version.starts_with("15.") {
        say!("  note: the server is PostgreSQL {version}; the simulation models 15");
    }
    Ok((server, real, version))
}

/// Prints the summary line; the exit code.
fn verdict(confirmation: &Confirmation, emitted: &EmittedSpec, version: &str) -> u8 {
    let differing: Vec<_> = confirmation.differing().collect();
    if confirmation.confirmed() {
        say!(
            "confirmed: {} statements, the same SQLSTATEs and waits on PostgreSQL {version}",
            emitted.statements
        );
        return 0;
    }
    match differing.first() {
        Some(first) => say!(
            "differs at step {} ({}); {} of {} steps differ",
            first.position,
            first.step,
            differing.len(),
            confirmation.steps.len()
        ),
        None => say!("differs at setup, or a side stopped early"),
    }
    1
}

/// Prints each step where the run, the simulation and the real server disagree (every step
/// with `show`).
fn print_steps(confirmation: &Confirmation, spec: &Spec, version: &str, show: bool) {
    let (sim_setup, real_setup) = &confirmation.setup;
    if !sim_setup.is_empty() || !real_setup.is_empty() {
        say!("setup failed: simulation {sim_setup:?}, PostgreSQL {real_setup:?}");
    }
    let (sim_stopped, real_stopped) = &confirmation.stopped;
    if !sim_stopped.is_empty() || !real_stopped.is_empty() {
        say!("stopped early: simulation {sim_stopped:?}, PostgreSQL {real_stopped:?}");
    }
    for report in &confirmation.steps {
        if !(show || report.differs()) {
            continue;
        }
        let sql = one_line(spec.step_sql(&report.step).unwrap_or(""));
        say!("step {} {}: {sql}", report.position, report.step);
        if let Some(run) = &report.run {
            say!("  run:        {run}");
        }
        say!("  simulation: {}", report.sim);
        if let Some(real) = &report.real {
            say!("  PostgreSQL {version}: {real}");
        }
    }
}

/// SQL on one line for the report (whitespace collapsed), cut to a readable length.
fn one_line(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = line.chars().take(200).collect();
    if cut.len() < line.len() {
        format!("{cut} ...")
    } else {
        cut
    }
}
