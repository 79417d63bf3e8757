//! The real backend: a PostgreSQL server reached with tokio-postgres on a real tokio runtime,
//! one connection per session, outside any simulation.
//!
//! Each driver works in a scratch database of its own (`syncsim_conformance_<pid>_<n>`,
//! created with the `C` collation so text orders bytewise as in the simulation, dropped when
//! the driver is): two runs against one server, or another client's objects, cannot change its
//! answers. Each permutation starts from an empty `public` schema. Roles and other cluster-wide
//! objects a spec creates are not isolated (its teardown must drop them, as upstream's do).
//! Steps run through the simple query protocol, which returns values in text format. A step
//! "waits" when `pg_blocking_pids` (or `pg_safe_snapshot_blocking_pids`, for a SERIALIZABLE
//! READ ONLY DEFERRABLE transaction) of its backend names a session of the script on two polls
//! in a row; settling goes on while the waiting steps form a cycle (until the deadlock
//! detector breaks it) or one of them has a `lock_timeout` or `statement_timeout` (read with
//! `SHOW` before each step) to run out.
//!
//! A spec written from a run pins the clock ([`RealDriver::pin_clock`]): `now()` resolves to
//! `syncsim_clock.now()`, which reads the session setting `syncsim.now`, set to a step's clock
//! marker before the step runs; extra SQL (the PL/pgSQL form of the run's row triggers) runs
//! after the setup blocks ([`RealDriver::after_setup`]).
//!
//! Wall-clock timers are allowed here only: the settle loop has to give the real server time.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

use crate::history_spec::{clock_of, clock_text};
use crate::outcome::{Event, Failure, Phase, StepResult};
use crate::runner::{has_cycle, BackendError, Driver, Settled};
use crate::spec::Spec;

/// The prefix of the scratch databases the runner creates (and drops) on the server.
pub const DATABASE_PREFIX: &str = "syncsim_conformance";
/// Between two polls of a settle.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// A settle that takes longer fails the run (deadlock_timeout is 1 s by default).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

type StepTask = JoinHandle<Result<StepResult, BackendError>>;

struct RealSession {
    client: Arc<Client>,
    pid: i32,
    in_flight: Option<StepTask>,
    /// Whether the step in flight has a lock or statement timeout that will end its wait.
    timeout_armed: bool,
}

/// A real server as a [`Driver`].
pub struct RealDriver {
    runtime: Runtime,
    config: Config,
    /// Connected to the server's own database, to drop the scratch one at the end.
    bootstrap: Config,
    database: String,
    admin: Option<Client>,
    sessions: Vec<RealSession>,
    /// Whether `now()` is pinned to the steps' clock markers.
    pinned_clock: bool,
    /// SQL run after the setup blocks, in order.
    after_setup: Vec<String>,
}

/// Creates the pinned `now()`: `search_path` puts its schema before `pg_catalog`.
const CLOCK_FUNCTION: &str = "CREATE SCHEMA syncsim_clock; \
    CREATE FUNCTION syncsim_clock.now() RETURNS timestamptz LANGUAGE sql STABLE \
    AS $$ SELECT current_setting('syncsim.now')::timestamptz $$";

fn backend_error(context: &str, error: &tokio_postgres::Error) -> BackendError {
    BackendError(format!("{context}: {error}"))
}

/// A step's messages (of its last statement) in the shared shape; a server error is its
/// SQLSTATE, any other failure (a lost connection) is a backend error.
fn convert(
    result: Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>,
) -> Result<StepResult, BackendError> {
    let messages = match result {
        Ok(messages) => messages,
        Err(error) => {
            return match error.as_db_error() {
                Some(db) => Ok(StepResult::Error(Failure::new(
                    db.code().code(),
                    db.message(),
                ))),
                None => Err(backend_error("step", &error)),
            }
        }
    };
    let mut columns: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut last = StepResult::Affected(0);
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(description) => {
                columns = Some(description.iter().map(|c| c.name().to_string()).collect());
                rows.clear();
            }
            SimpleQueryMessage::Row(row) => {
                let values = (0..row.len()).map(|i| row.get(i).map(str::to_string));
                rows.push(values.collect());
            }
            SimpleQueryMessage::CommandComplete(count) => {
                last = match columns.take() {
                    Some(columns) => StepResult::Rows {
                        columns,
                        rows: std::mem::take(&mut rows),
                    },
                    None => StepResult::Affected(count),
                };
            }
            _ => {}
        }
    }
    Ok(last)
}

impl RealDriver {
    /// Connects to the server at `url` (a libpq-style URL or key=value string) and creates
    /// the driver's scratch database.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)] // A unique name: wall clock.
    pub fn connect(url: &str) -> Result<RealDriver, BackendError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| BackendError(format!("tokio runtime: {error}")))?;
        let mut bootstrap = Config::from_str(url)
            .map_err(|error| BackendError(format!("bad server URL {url:?}: {error}")))?;
        bootstrap.options("-c TimeZone=UTC -c client_min_messages=error");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let database = format!("{DATABASE_PREFIX}_{}_{nanos}", std::process::id());
        let client = connect_client(&runtime, &bootstrap)?;
        runtime.block_on(create_database(&client, &database))?;
        drop(client);
        let mut config = bootstrap.clone();
        config.dbname(&database);
        let admin = connect_client(&runtime, &config)?;
        Ok(RealDriver {
            runtime,
            config,
            bootstrap,
            database,
            admin: Some(admin),
            sessions: Vec::new(),
            pinned_clock: false,
            after_setup: Vec::new(),
        })
    }

    /// Pins `now()` to the steps' clock markers (the simulation's epoch until the first one).
    pub fn pin_clock(&mut self) {
        let epoch = clock_text(0).replace(' ', "T");
        self.config.options(format!(
            "-c TimeZone=UTC -c client_min_messages=error \
             -c search_path=public,syncsim_clock,pg_catalog -c syncsim.now={epoch}"
        ));
        self.pinned_clock = true;
    }

    /// The server's version, as `SHOW server_version` gives it (`15.18 (Debian ...)`: the
    /// first word).
    pub fn server_version(&self) -> Result<String, BackendError> {
        let messages = self
            .runtime
            .block_on(self.admin().simple_query("SHOW server_version"))
            .map_err(|error| backend_error("server_version", &error))?;
        messages
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .and_then(|version| version.split_whitespace().next().map(str::to_string))
            .ok_or_else(|| BackendError("no server_version".into()))
    }

    /// Runs `sql` after each permutation's setup blocks (a failure is a setup failure).
    pub fn after_setup(&mut self, sql: Vec<String>) {
        self.after_setup = sql;
    }

    fn admin(&self) -> &Client {
        self.admin
            .as_ref()
            .expect("the admin connection lives as long as the driver")
    }

    fn open_session(&self) -> Result<RealSession, BackendError> {
        let client = connect_client(&self.runtime, &self.config)?;
        let pid = self
            .runtime
            .block_on(client.simple_query("SELECT pg_backend_pid()"))
            .map_err(|error| backend_error("pg_backend_pid", &error))?
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(0).and_then(|pid| pid.parse().ok()),
                _ => None,
            })
            .ok_or_else(|| BackendError("no backend pid".into()))?;
        Ok(RealSession {
            client: Arc::new(client),
            pid,
            in_flight: None,
            timeout_armed: false,
        })
    }

    fn run_block(
        &self,
        client: &Client,
        block: &str,
        label: &str,
        phase: Phase,
    ) -> Result<Option<Event>, BackendError> {
        match convert(self.runtime.block_on(client.simple_query(block)))? {
            StepResult::Error(failure) => Ok(Some(phase.failed(label, failure))),
            _ => Ok(None),
        }
    }

    /// Whether `client`'s next statement would have a lock or statement timeout ending a
    /// wait (an aborted transaction refuses SHOW: its next statement fails at once anyway).
    fn timeout_armed(&self, client: &Client) -> bool {
        let show = "SHOW lock_timeout; SHOW statement_timeout";
        let Ok(messages) = self.runtime.block_on(client.simple_query(show)) else {
            return false;
        };
        messages.iter().any(|message| {
            matches!(message, SimpleQueryMessage::Row(row) if row.get(0).is_some_and(|v| v != "0"))
        })
    }

    /// Drops every schema the previous permutation made and recreates `public`.
    fn reset(&self) -> Result<(), BackendError> {
        let schemas = "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' \
                       AND nspname <> 'information_schema'";
        let messages = self
            .runtime
            .block_on(self.admin().simple_query(schemas))
            .map_err(|error| backend_error("list schemas", &error))?;
        let mut sql = String::new();
        for message in &messages {
            if let SimpleQueryMessage::Row(row) = message {
                let name = row.get(0).unwrap_or_default().replace('"', "\"\"");
                sql.push_str(&format!("DROP SCHEMA \"{name}\" CASCADE;"));
            }
        }
        sql.push_str("CREATE SCHEMA public;");
        self.runtime
            .block_on(self.admin().simple_query(&sql))
            .map_err(|error| backend_error("reset schemas", &error))?;
        Ok(())
    }

    /// For each session with a step in flight: the sessions it waits for (by backend pid).
    fn blocking(&self, pending: &[usize]) -> Result<Vec<Vec<usize>>, BackendError> {
        let pids: Vec<String> = pending
            .iter()
            .map(|index| self.sessions[*index].pid.to_string())
            .collect();
        let sql = format!(
            "SELECT p, (pg_blocking_pids(p) || pg_safe_snapshot_blocking_pids(p))::text \
             FROM unnest('{{{}}}'::int[]) AS p",
            pids.join(",")
        );
        let messages = self
            .runtime
            .block_on(self.admin().simple_query(&sql))
            .map_err(|error| backend_error("pg_blocking_pids", &error))?;
        let mut edges = vec![Vec::new(); self.sessions.len()];
        for message in &messages {
            let SimpleQueryMessage::Row(row) = message else {
                continue;
            };
            let pid: i32 = row.get(0).and_then(|pid| pid.parse().ok()).unwrap_or(0);
            let blockers = row.get(1).unwrap_or("{}").trim_matches(['{', '}']);
            let Some(waiter) = self.sessions.iter().position(|s| s.pid == pid) else {
                continue;
            };
            for blocker in blockers.split(',').filter_map(|b| b.parse::<i32>().ok()) {
                // A blocker outside the script (a backend of an earlier permutation still
                // exiting) is transient: marked usize::MAX, it does not count as a wait.
                let index = self.sessions.iter().position(|s| s.pid == blocker);
                edges[waiter].push(index.unwrap_or(usize::MAX));
            }
        }
        Ok(edges)
    }

    fn collect_finished(
        &mut self,
        finished: &mut Vec<(usize, StepResult)>,
    ) -> Result<(), BackendError> {
        for index in 0..self.sessions.len() {
            let done = self.sessions[index]
                .in_flight
                .as_ref()
                .is_some_and(JoinHandle::is_finished);
            if done {
                let task = self.sessions[index]
                    .in_flight
                    .take()
                    .expect("checked above");
                let result = self
                    .runtime
                    .block_on(task)
                    .map_err(|error| BackendError(format!("step task: {error}")))??;
                finished.push((index, result));
            }
        }
        Ok(())
    }

    fn pause(&self) {
        self.runtime
            .block_on(async { tokio::time::sleep(POLL_INTERVAL).await });
    }
}

fn connect_client(runtime: &Runtime, config: &Config) -> Result<Client, BackendError> {
    let (client, connection) = runtime
        .block_on(config.connect(NoTls))
        .map_err(|error| backend_error("connect", &error))?;
    runtime.spawn(connection);
    Ok(client)
}

async fn create_database(client: &Client, database: &str) -> Result<(), BackendError> {
    let create = format!(
        "CREATE DATABASE {database} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' \
         LC_CTYPE 'C'"
    );
    client
        .simple_query(&create)
        .await
        .map_err(|error| backend_error("create the scratch database", &error))?;
    Ok(())
}

impl Drop for RealDriver {
    fn drop(&mut self) {
        // Best effort: a server gone away leaves the database behind, named by its prefix.
        let _ = self.end_sessions();
        self.admin = None;
        let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        if let Ok(client) = connect_client(&self.runtime, &self.bootstrap) {
            let _ = self.runtime.block_on(client.simple_query(&drop_database));
        }
    }
}

impl Driver for RealDriver {
    fn start(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        self.end_sessions()?;
        self.reset()?;
        let mut failures = Vec::new();
        let setup = self.open_session()?;
        if self.pinned_clock {
            failures.extend(self.run_block(
                &setup.client,
                CLOCK_FUNCTION,
                "setup",
                Phase::Setup,
            )?);
        }
        for block in spec.setup.iter().chain(&self.after_setup) {
            failures.extend(self.run_block(&setup.client, block, "setup", Phase::Setup)?);
        }
        let setup_pid = setup.pid;
        drop(setup);
        self.wait_for_exit(&[setup_pid.to_string()])?;
        for session in &spec.sessions {
            let opened = self.open_session()?;
            if let Some(block) = &session.setup {
                let label = &session.name;
                failures.extend(self.run_block(&opened.client, block, label, Phase::Setup)?);
            }
            self.sessions.push(opened);
        }
        Ok(failures)
    }

    fn issue(&mut self, session: usize, sql: &str) -> Result<(), BackendError> {
        let state = self
            .sessions
            .get(session)
            .ok_or_else(|| BackendError(format!("no session {session}")))?;
        let timeout_armed = self.timeout_armed(&state.client);
        if let Some(at_micros) = clock_of(sql).filter(|_| self.pinned_clock) {
            let set = format!(
                "SELECT set_config('syncsim.now', '{}', false)",
                clock_text(at_micros)
            );
            // A session the real server left in an aborted transaction refuses it: the step
            // then reports its own SQLSTATE, which the comparison shows.
            let _ = self.runtime.block_on(state.client.simple_query(&set));
        }
        let client = Arc::clone(&state.client);
        let sql = sql.to_string();
        let task = self
            .runtime
            .spawn(async move { convert(client.simple_query(&sql).await) });
        let state = &mut self.sessions[session];
        state.in_flight = Some(task);
        state.timeout_armed = timeout_armed;
        Ok(())
    }

    #[allow(clippy::disallowed_methods)] // A real server needs real time to answer.
    fn settle(&mut self) -> Result<Settled, BackendError> {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        let mut finished = Vec::new();
        let mut stable_polls = 0;
        loop {
            self.pause();
            self.collect_finished(&mut finished)?;
            let pending: Vec<usize> = (0..self.sessions.len())
                .filter(|index| self.sessions[*index].in_flight.is_some())
                .collect();
            if pending.is_empty() {
                return Ok(Settled { finished });
            }
            let edges = self.blocking(&pending)?;
            let all_waiting = pending
                .iter()
                .all(|index| !edges[*index].is_empty() && !edges[*index].contains(&usize::MAX));
            stable_polls = if all_waiting { stable_polls + 1 } else { 0 };
            let timers = pending
                .iter()
                .any(|index| self.sessions[*index].timeout_armed);
            if stable_polls >= 2 && !has_cycle(&edges) && !timers {
                return Ok(Settled { finished });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BackendError(format!(
                    "steps neither finished nor waited within {SETTLE_TIMEOUT:?}"
                )));
            }
        }
    }

    fn finish(&mut self, spec: &Spec) -> Result<Vec<Event>, BackendError> {
        let mut failures = Vec::new();
        self.cancel_in_flight();
        for (state, session) in self.sessions.iter().zip(&spec.sessions) {
            if let Some(block) = &session.teardown {
                let label = &session.name;
                failures.extend(self.run_block(&state.client, block, label, Phase::Teardown)?);
            }
        }
        self.end_sessions()?;
        if !spec.teardown.is_empty() {
            let control = self.open_session()?;
            for block in &spec.teardown {
                let label = "teardown";
                failures.extend(self.run_block(&control.client, block, label, Phase::Teardown)?);
            }
            let pid = control.pid;
            drop(control);
            self.wait_for_exit(&[pid.to_string()])?;
        }
        Ok(failures)
    }
}

impl RealDriver {
    /// Cancels every step still running and waits for its answer (57014 or its result).
    fn cancel_in_flight(&mut self) {
        for session in &mut self.sessions {
            if let Some(task) = session.in_flight.take() {
                let cancel = session.client.cancel_token();
                let _ = self.runtime.block_on(cancel.cancel_query(NoTls));
                let _ = self.runtime.block_on(task);
            }
        }
    }

    /// Closes every session and waits for their backends to exit.
    fn end_sessions(&mut self) -> Result<(), BackendError> {
        self.cancel_in_flight();
        let sessions = std::mem::take(&mut self.sessions);
        let pids: Vec<String> = sessions.iter().map(|s| s.pid.to_string()).collect();
        drop(sessions);
        self.wait_for_exit(&pids)
    }

    fn wait_for_exit(&self, pids: &[String]) -> Result<(), BackendError> {
        if pids.is_empty() {
            return Ok(());
        }
        // Closed connections release their locks when their backends exit, which is
        // asynchronous: wait for them so the next permutation starts with no lock held.
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid IN ({})",
            pids.join(",")
        );
        for _ in 0..2000 {
            let messages = self
                .runtime
                .block_on(self.admin().simple_query(&sql))
                .map_err(|error| backend_error("pg_stat_activity", &error))?;
            let alive = messages.iter().any(|message| {
                matches!(message, SimpleQueryMessage::Row(row) if row.get(0) != Some("0"))
            });
            if !alive {
                return Ok(());
            }
            self.pause();
        }
        Err(BackendError(
            "closed sessions did not end within 10 s".into(),
        ))
    }
}
