//! Section "postgres": the conformance corpus (conformance/specs, every permutation of
//! every case) on the simulated Postgres and on a real PostgreSQL over loopback, in one run,
//! as steps per second and their ratio. A step is one SQL string a session issues; the time
//! includes each permutation's setup and the driver's settling (on the real server, polling
//! `pg_locks` until every issued step finished or waits stably). The server is
//! SYNCSIM_PG_URL, else a throwaway one started from the installed binaries; without either
//! the section is skipped with a message. A second table runs the corpus on the simulated
//! side only with every BEGIN at READ COMMITTED, then at SERIALIZABLE: what serializable
//! snapshot isolation costs. Not measured: the harness's async Postgres face.

use syncsim_conformance::corpus::{self, Case};
use syncsim_conformance::outcome::Event;
use syncsim_conformance::real_backend::RealDriver;
use syncsim_conformance::runner::{run_spec, BackendError, Driver, Settled};
use syncsim_conformance::server;
use syncsim_conformance::sim_backend::SimDriver;
use syncsim_conformance::spec::Spec;

use super::markdown::Table;
use super::stats::{number, Spread};
use super::Settings;

use crate::cli::Stopwatch;

/// A driver that counts the steps issued through it.
struct Counting<'a> {
    inner: &'a mut dyn Driver,
    step_count: u64,
}

impl Driver for Counting<'_> {
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        self.inner.start(spec)
    }

    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError> {
        self.step_count += 1;
        self.inner.issue(session, sql)
    }

    fn settle(&mut self) -> Result<Settled, BackendError> {
        self.inner.settle()
    }

    fn finish(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        self.inner.finish(spec)
    }
}

/// A driver that runs every transaction block at one isolation level: each step that is a
/// lone BEGIN (with or without modes) becomes `BEGIN ISOLATION LEVEL <level>`.
struct Leveled<'a> {
    inner: &'a mut dyn Driver,
    level: &'static str,
}

impl Driver for Leveled<'_> {
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        self.inner.start(spec)
    }

    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError> {
        let statement = sql.trim().trim_end_matches(';');
        let begins = statement.to_ascii_uppercase().starts_with("BEGIN");
        match begins && !statement.contains(';') {
            true => {
                let leveled = format!("BEGIN ISOLATION LEVEL {}", self.level);
                self.inner.issue(session, &leveled)
            }
            false => self.inner.issue(session, sql),
        }
    }

    fn settle(&mut self) -> Result<Settled, BackendError> {
        self.inner.settle()
    }

    fn finish(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        self.inner.finish(spec)
    }
}

/// The simulated corpus at READ COMMITTED and at SERIALIZABLE, alternating, as a table.
fn isolation_table(cases: &[Case], settings: &Settings) -> Result<String, BackendError> {
    const LEVELS: [&str; 2] = ["READ COMMITTED", "SERIALIZABLE"];
    let mut rates = [Vec::new(), Vec::new()];
    let mut step_counts = [0, 0];
    for _ in 0..settings.repeats {
        for (at, level) in LEVELS.iter().enumerate() {
            let (steps, seconds) = corpus_pass(cases, None, Some(level))?;
            step_counts[at] = steps;
            rates[at].push(steps as f64 / seconds);
        }
    }
    let mut table = Table::new(&["every BEGIN at", "steps", "simulated steps/s"]);
    for (at, level) in LEVELS.iter().enumerate() {
        table.row(vec![
            level.to_string(),
            number(step_counts[at] as f64),
            Spread::of(&rates[at]).show(),
        ]);
    }
    Ok(table.render())
}

/// Runs the whole corpus once, on `real` or (None) on a fresh simulated engine per case,
/// with every BEGIN at `level` if one is given; returns (steps, wall seconds).
fn corpus_pass(
    cases: &[Case],
    mut real: Option<&mut RealDriver>,
    level: Option<&'static str>,
) -> Result<(u64, f64), BackendError> {
    let mut step_count = 0;
    let stopwatch = Stopwatch::start();
    for case in cases {
        let mut sim = SimDriver::default();
        let base: &mut dyn Driver = match real.as_deref_mut() {
            Some(real) => real,
            None => &mut sim,
        };
        let mut leveled;
        let inner: &mut dyn Driver = match level {
            Some(level) => {
                leveled = Leveled { inner: base, level };
                &mut leveled
            }
            None => base,
        };
        let mut counting = Counting {
            inner,
            step_count: 0,
        };
        run_spec(&mut counting, &case.spec)?;
        step_count += counting.step_count;
    }
    Ok((step_count, stopwatch.elapsed().as_secs_f64()))
}

/// The section's Markdown body.
pub fn section(settings: &Settings) -> String {
    let cases = match corpus::load(&corpus::default_dir(), None) {
        Ok(cases) => cases,
        Err(error) => return format!("Skipped: the corpus did not load: {error}\n"),
    };
    let server = match server::locate() {
        Ok(server) => server,
        Err(reason) => {
            eprintln!("bench postgres: skipped: {reason}");
            return format!("Skipped: no PostgreSQL server available ({reason}).\n");
        }
    };
    let mut real = match RealDriver::connect(&server.url) {
        Ok(driver) => driver,
        Err(error) => return format!("Skipped: cannot connect to the server: {error}\n"),
    };
    let mut rates = (Vec::new(), Vec::new(), Vec::new());
    let mut step_count = 0;
    for _ in 0..settings.repeats {
        let sim = corpus_pass(&cases, None, None);
        let live = corpus_pass(&cases, Some(&mut real), None);
        let ((sim_steps, sim_s), (real_steps, real_s)) = match (sim, live) {
            (Ok(sim), Ok(live)) => (sim, live),
            (Err(error), _) | (_, Err(error)) => {
                return format!("Skipped: the corpus failed to run: {error}\n")
            }
        };
        step_count = sim_steps.max(real_steps);
        rates.0.push(sim_steps as f64 / sim_s);
        rates.1.push(real_steps as f64 / real_s);
        rates
            .2
            .push((sim_steps as f64 / sim_s) / (real_steps as f64 / real_s));
    }
    let mut table = Table::new(&[
        "corpus",
        "steps",
        "simulated steps/s",
        "real steps/s",
        "ratio (simulated / real)",
    ]);
    table.row(vec![
        format!("{} cases, every permutation", cases.len()),
        number(step_count as f64),
        Spread::of(&rates.0).show(),
        Spread::of(&rates.1).show(),
        Spread::of(&rates.2).show(),
    ]);
    let source = if server.is_local() {
        "a throwaway server started from the installed binaries"
    } else {
        "SYNCSIM_PG_URL"
    };
    let isolation = match isolation_table(&cases, settings) {
        Ok(table) => table,
        Err(error) => format!("Skipped: the corpus failed to run: {error}\n"),
    };
    format!(
        "Real server: {source}, on loopback. Median (min..max) over {} passes of the whole \
         corpus on each side, alternating.\n\n{}\nThe simulated side alone, every \
         transaction block at one level (a statement outside a block runs at READ \
         COMMITTED), median (min..max) over {} passes each, alternating:\n\n{}",
        settings.repeats,
        table.render(),
        settings.repeats,
        isolation
    )
}
