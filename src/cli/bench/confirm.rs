//! Section "confirm": what `syncsim confirm` costs on each `caught` scenario's failure. The
//! failure is the first of the scenario's committed seeds, shrunk as `syncsim run` shrinks it;
//! one measurement is the whole comparison (the spec run on the simulated engine and on a real
//! PostgreSQL over loopback, with the clock pinned), not the replay of the run or the
//! shrinking. The server is SYNCSIM_PG_URL, else a throwaway one; without either the section
//! is skipped. A scenario whose run sends no SQL is listed without numbers.

use syncsim_conformance::confirm::{confirm, prepare_real};
use syncsim_conformance::real_backend::RealDriver;
use syncsim_conformance::server;
use syncsim_conformance::sim_backend::SimDriver;
use syncsim_conformance::spec;

use crate::scenarios::replay::ReplayFile;
use crate::scenarios::{shrink, Expectation, ScenarioSpec};

use super::markdown::Table;
use super::stats::Spread;
use super::Settings;

use crate::cli::args::SpecArgs;
use crate::cli::confirm::spec_of_run;
use crate::cli::{Stopwatch, SHRINK_RUN_COUNT_MAX};

/// One scenario's row.
fn row(scenario: &ScenarioSpec, url: &str, settings: &Settings) -> Vec<String> {
    let id = format!("`{}`", scenario.id);
    let case = scenario.case();
    let Some(outcome) = scenario
        .seeds()
        .map(|seed| case.run(seed))
        .find(|outcome| outcome.failure.is_some())
    else {
        return vec![id, "no failure in the committed seeds".into()];
    };
    let shrunk = shrink::shrink(scenario, &outcome, SHRINK_RUN_COUNT_MAX);
    let file = ReplayFile::from_shrunk(&shrunk);
    let replayed = file.replay_keeping_services();
    let no_options = SpecArgs {
        tables: Vec::new(),
        server: None,
    };
    let emitted = match spec_of_run(&file, &replayed, &no_options, false) {
        Ok((_, emitted)) => emitted,
        Err(error) => return vec![id, error.0],
    };
    let Ok(parsed) = spec::parse(&scenario.id, &emitted.text) else {
        return vec![id, "the written spec does not parse".into()];
    };
    let mut seconds = Vec::new();
    let mut confirmed = true;
    for _ in 0..settings.repeats {
        let mut real = match RealDriver::connect(url) {
            Ok(real) => real,
            Err(error) => return vec![id, format!("cannot connect to the server: {error}")],
        };
        prepare_real(&mut real, &emitted);
        let mut sim = SimDriver::with_triggers(emitted.triggers.clone());
        let stopwatch = Stopwatch::start();
        let result = confirm(&emitted, &parsed, &mut sim, Some(&mut real));
        seconds.push(stopwatch.elapsed().as_secs_f64());
        confirmed &= result.is_ok_and(|confirmation| confirmation.confirmed());
    }
    vec![
        id,
        emitted.statements.to_string(),
        emitted.sessions.to_string(),
        Spread::of(&seconds).show(),
        if confirmed { "yes" } else { "NO" }.to_string(),
    ]
}

/// The section's Markdown body.
pub fn section(scenarios: &[ScenarioSpec], settings: &Settings) -> String {
    let server = match server::locate() {
        Ok(server) => server,
        Err(reason) => {
            eprintln!("bench confirm: skipped: {reason}");
            return format!("Skipped: no PostgreSQL server available ({reason}).\n");
        }
    };
    let mut table = Table::new(&[
        "failure",
        "statements",
        "sessions",
        "confirm seconds",
        "confirmed",
    ]);
    for scenario in scenarios
        .iter()
        .filter(|scenario| scenario.expectation == Expectation::Caught)
    {
        let mut cells = row(scenario, &server.url, settings);
        cells.resize(5, String::new());
        table.row(cells);
    }
    format!(
        "The first failure of each `caught` scenario's committed seeds, shrunk; median \
         (min..max) wall seconds of {} confirmations (simulation and real server, loopback).\n\n{}",
        settings.repeats,
        table.render()
    )
}
