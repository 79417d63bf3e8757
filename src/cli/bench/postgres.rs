//! Section "postgres": the conformance corpus (conformance/specs, every permutation of
//! every case) on the simulated Postgres and on a real PostgreSQL over loopback, in one run,
//! as steps per second and their ratio. A step is one SQL string a session issues; the time
//! includes each permutation's setup and the driver's settling (on the real server, polling
//! `pg_locks` until every issued step finished or waits stably). The server is
//! SYNCSIM_PG_URL, else a throwaway one started from the installed binaries; without either
//! the section is skipped with a message. Not measured: the harness's async Postgres face.

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

/// Runs the whole corpus once, on `real` or (None) on a fresh simulated engine per case;
/// returns (steps, wall seconds).
fn corpus_pass(
    cases: &[Case],
    mut real: Option<&mut RealDriver>,
) -> Result<(u64, f64), BackendError> {
    let mut step_count = 0;
    let stopwatch = Stopwatch::start();
    for case in cases {
        let mut sim = SimDriver::default();
        let inner: &mut dyn Driver = match real.as_deref_mut() {
            Some(real) => real,
            None => &mut sim,
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
        let sim = corpus_pass(&cases, None);
        let live = corpus_pass(&cases, Some(&mut real));
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
    format!(
        "Real server: {source}, on loopback. Median (min..max) over {} passes of the whole \
         corpus on each side, alternating.\n\n{}",
        settings.repeats,
        table.render()
    )
}
