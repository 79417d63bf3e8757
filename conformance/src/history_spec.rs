//! A run's SQL history written as an isolationtester spec (`syncsim replay FILE --format
//! spec`): the setup scripts as `setup` blocks, one `session` per simulated connection, one
//! `step` per statement with its parameters written in as literals, and one `permutation` in
//! the order the simulated server received the statements. A statement that waited is issued
//! where it arrived; the runner's wait detection reports it waiting, as the run did.
//!
//! What the spec makes explicit that the run's server assumed:
//! - the settings: each session's `setup` sets `TimeZone` to UTC (and `deadlock_timeout`
//!   when the run's server did not use PostgreSQL's 1 s);
//! - the clock: a step that starts a transaction (`BEGIN`, or a statement outside a block)
//!   opens with `/* syncsim clock: N us */`, the virtual time it arrived at; the simulated
//!   backend runs it at that time and the real one pins `now()` to it ([`clock_of`]);
//! - a closed connection: a step `ROLLBACK` when its transaction was open, and
//!   `SELECT pg_advisory_unlock_all()` when the session took advisory locks, since a real
//!   session stays open until the permutation ends;
//! - the state the properties judged: a last session, `syncsim_check`, reads every table
//!   (`SELECT * FROM schema.table`, compared as a set of rows, since heap order is not
//!   PostgreSQL's promise) against the run's committed rows at its end;
//! - what happened between statements outside SQL (requests, faults, crashes): `#` comments
//!   in the permutation, with their virtual times.
//!
//! Not expressible, and said in the spec's notes: a session closed while its statement waited
//! (a spec cannot cancel a waiting step), row triggers written in Rust (the spec names them;
//! `confirm` installs them on the simulated side and their PL/pgSQL form on the real one
//! when the trigger provides it), a deadlock found a virtual `deadlock_timeout` after the
//! cycle formed (the runner settles a cycle at once: statements that arrived in between run
//! after the victim's rollback instead of before).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use syncsim_services::pg::{PgServer, Row, RowTrigger, SessionId, SqlEntry, SqlStatement, Value};
use syncsim_sim::trace::{Event as TraceEvent, Trace};

use crate::outcome::StepResult;
use crate::sim_backend::convert;

/// The prefix of a step's clock marker; the virtual microseconds and ` us */` follow.
const CLOCK_PREFIX: &str = "/* syncsim clock: ";
/// The prefix of the arrival-time marker of a step inside a transaction.
const AT_PREFIX: &str = "/* syncsim at: ";

/// How to cut the history down.
#[derive(Clone, Debug, Default)]
pub struct SpecOptions {
    /// Keep only statements naming one of these tables (and their sessions' transaction
    /// control); `None` keeps every statement.
    pub tables: Option<Vec<String>>,
    /// Keep only statements with one of these values as a parameter or a quoted literal (the
    /// entities a failure names), with their sessions' transaction control and every
    /// statement of the sessions they waited for; `None` keeps every statement. When no
    /// statement has one, every statement is kept and a note says so.
    pub entities: Option<Vec<String>>,
}

impl SpecOptions {
    /// Whether the options may drop statements.
    fn cuts(&self) -> bool {
        self.tables.is_some() || self.entities.is_some()
    }
}

/// The entities a failure's reason names: its words that look like identifiers (`org_0`, a
/// UUID, an email; at least three characters with a digit, `_`, `-` or `@`), for
/// [`SpecOptions::entities`].
pub fn entities_of(reason: &str) -> Vec<String> {
    let mut entities: Vec<String> = Vec::new();
    let words = reason.split(|c: char| !(c.is_alphanumeric() || "_-@.".contains(c)));
    for word in words.map(|word| word.trim_matches('.')) {
        let marked = word.contains(|c: char| c.is_ascii_digit() || "_-@".contains(c));
        if word.chars().count() >= 3 && marked && !entities.iter().any(|e| e == word) {
            entities.push(word.to_string());
        }
    }
    entities
}

/// What the run's server answered to one step's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedStep {
    /// The step's name in the spec.
    pub step: String,
    /// The answer, in the runner's shape; `None` when the run never answered it (its session
    /// closed or the server crashed while it waited), or for steps the spec adds.
    pub result: Option<StepResult>,
    /// Whether it was still waiting for a lock in the run when the next step's statement
    /// arrived: what the runner reports as `<waiting>` (a wait the run ended before the next
    /// arrival, a deadlock victim's partner say, the runner settles within the step).
    pub waited: bool,
    /// Whether its rows compare as a set (a table read without ORDER BY).
    pub unordered: bool,
}

/// A table as the run's server left it: the committed rows its properties read.
#[derive(Clone, Debug)]
pub struct TableState {
    /// `schema.name`.
    pub name: String,
    /// Its column names.
    pub columns: Vec<String>,
    /// Its committed rows.
    pub rows: Vec<Row>,
}

/// What a run left of one Postgres server.
pub struct RunSql<'a> {
    /// The server's name in the run.
    pub server: &'a str,
    /// Its history.
    pub entries: &'a [SqlEntry],
    /// Its tables at the end of the run.
    pub tables: Vec<TableState>,
    /// The run's trace (for the comments between statements).
    pub trace: &'a Trace,
    /// The server's `deadlock_timeout`, in virtual microseconds.
    pub deadlock_timeout_micros: u64,
}

/// A spec written from a history, with what the run answered.
#[derive(Clone, Debug)]
pub struct EmittedSpec {
    /// The spec text.
    pub text: String,
    /// Statements of the run kept as steps.
    pub statements: usize,
    /// Connections of the run kept.
    pub connections: usize,
    /// Spec sessions that play them (a session is reused once its connection closed).
    pub sessions: usize,
    /// One entry per step, in permutation order.
    pub expected: Vec<ExpectedStep>,
    /// What was dropped or cannot be expressed, one line each (also in the text).
    pub notes: Vec<String>,
    /// The run's native row triggers, by table.
    pub triggers: Vec<(String, Arc<dyn RowTrigger>)>,
}

impl<'a> RunSql<'a> {
    /// What server `name` (`pg`) recorded in a run with `trace`: its history and its
    /// committed tables at the end.
    pub fn of(name: &'a str, pg: &'a PgServer, trace: &'a Trace) -> RunSql<'a> {
        let tables = pg.engine().tables().into_iter();
        RunSql {
            server: name,
            entries: pg.sql_history(),
            tables: tables
                .map(|(table, columns)| TableState {
                    rows: pg.table_snapshot(&table),
                    name: table,
                    columns,
                })
                .collect(),
            trace,
            deadlock_timeout_micros: pg.engine().config().deadlock_timeout_micros,
        }
    }
}

/// The virtual time a step's clock marker pins `now()` to, in microseconds (a step that
/// starts a transaction).
pub fn clock_of(sql: &str) -> Option<u64> {
    let rest = sql.trim_start().strip_prefix(CLOCK_PREFIX)?;
    let (digits, _) = rest.split_once(" us */")?;
    digits.parse().ok()
}

/// The virtual time a step arrived at in the run, from either marker (`syncsim clock:` or,
/// inside a transaction, `syncsim at:`), in microseconds: the simulated backend runs the step
/// then, so lock waits start, and their timers run out, in the run's order.
pub fn time_of(sql: &str) -> Option<u64> {
    let at = sql.trim_start().strip_prefix(AT_PREFIX);
    let digits = at.and_then(|rest| rest.split_once(" us */"));
    let micros = digits.and_then(|(digits, _)| digits.parse().ok());
    micros.or_else(|| clock_of(sql))
}

/// The wall time the simulation shows at virtual `micros` (`2026-01-01 00:00:00+00` at 0),
/// as `timestamptz` text.
pub fn clock_text(micros: u64) -> String {
    let unix = syncsim_services::pg::SIM_EPOCH_UNIX_MICROS
        .saturating_add(i64::try_from(micros).unwrap_or(i64::MAX));
    syncsim_services::pg::Value::Timestamptz(unix).to_pg_text()
}

/// One step as planned, before the text is written.
struct Planned {
    /// The spec session (an index into the builder's slots).
    slot: usize,
    /// The index of the history entry it comes from (the end of the history for the final
    /// reads).
    entry: usize,
    /// When the run answered it, in history entries (see `SqlStatement`); `None`: never.
    answered_after_entries: Option<usize>,
    step: String,
    sql: String,
    at_micros: u64,
    expected: ExpectedStep,
    comment: String,
}

/// Writes a run's SQL as a spec named `title`. An error when nothing is left to run.
pub fn write_spec(
    title: &str,
    run: &RunSql<'_>,
    options: &SpecOptions,
) -> Result<EmittedSpec, String> {
    let mut builder = Builder {
        session_setup: session_setup(run.deadlock_timeout_micros),
        ..Builder::default()
    };
    let mut kept = kept_sessions(run.entries, options);
    let everything;
    let mut options = options;
    if options.entities.is_some() && kept.0.is_empty() {
        builder.notes.push(
            "the failure names no entity found among the SQL's parameters or literals: \
             every statement kept"
                .to_string(),
        );
        everything = SpecOptions {
            entities: None,
            ..options.clone()
        };
        options = &everything;
        kept = kept_sessions(run.entries, options);
    }
    for (index, entry) in run.entries.iter().enumerate() {
        builder.index = index;
        builder.entry(entry, &kept, options)?;
    }
    builder.index = run.entries.len();
    builder.final_state(&run.tables, options);
    if builder.planned.is_empty() {
        return Err(format!(
            "the run sent no SQL to {} that the options keep, and no table is kept: nothing \
             to write",
            run.server
        ));
    }
    builder.settle_waits();
    if builder.dropped > 0 && options.cuts() {
        // The run's answers depended on what was dropped: compare the two servers only.
        for planned in &mut builder.planned {
            planned.expected.result = None;
        }
        builder.notes.push(
            "a cut-down history: the run's own answers are not compared, only the \
             simulation's and PostgreSQL's"
                .to_string(),
        );
    }
    let text = builder.text(title, run.server, run.trace);
    builder.check_round_trip(title, &text)?;
    Ok(EmittedSpec {
        text,
        statements: builder.statements,
        connections: builder.connections,
        sessions: builder.client_sessions(),
        expected: builder.planned.iter().map(|p| p.expected.clone()).collect(),
        notes: builder.notes,
        triggers: builder.triggers,
    })
}

/// The settings the simulated server assumes, as SQL: its zone is UTC, and its
/// `deadlock_timeout` when not PostgreSQL's default of 1 s (setting it needs a superuser).
fn session_setup(deadlock_timeout_micros: u64) -> String {
    let mut sql = "SET TimeZone = 'UTC'".to_string();
    if deadlock_timeout_micros != 1_000_000 {
        let _ = write!(
            sql,
            "; SET deadlock_timeout = '{deadlock_timeout_micros}us'"
        );
    }
    sql
}

/// The sessions with at least one statement the options keep.
/// The sessions with a statement the options keep, and the sessions those statements waited
/// for (all of whose statements are kept).
fn kept_sessions(entries: &[SqlEntry], options: &SpecOptions) -> (Vec<SessionId>, Vec<SessionId>) {
    let (mut kept, mut blockers) = (Vec::new(), Vec::new());
    for entry in entries {
        if let SqlEntry::Statement(statement) = entry {
            if keeps(options, statement) {
                if !kept.contains(&statement.session) {
                    kept.push(statement.session);
                }
                for holder in &statement.waited_for {
                    if !blockers.contains(holder) {
                        blockers.push(*holder);
                    }
                }
            }
        }
    }
    (kept, blockers)
}

/// Whether `statement` passes the options' table and entity filters.
fn keeps(options: &SpecOptions, statement: &SqlStatement) -> bool {
    keeps_sql(options, &statement.sql) && names_entity(options, statement)
}

/// Whether one of the options' entities is a parameter of `statement` or a quoted literal
/// in its text (every statement without the option).
fn names_entity(options: &SpecOptions, statement: &SqlStatement) -> bool {
    let Some(entities) = &options.entities else {
        return true;
    };
    let params = statement.params.iter().filter(|value| !value.is_null());
    let texts: Vec<String> = params
        .map(Value::to_pg_text)
        .chain(
            spans(&statement.sql)
                .into_iter()
                .filter_map(|(quoted, span)| {
                    let literal = span.strip_prefix('\'')?.strip_suffix('\'')?;
                    quoted.then(|| literal.replace("''", "'"))
                }),
        )
        .collect();
    entities
        .iter()
        .any(|entity| texts.iter().any(|text| text == entity))
}

/// Whether `sql` names one of the option's tables (every statement without the option).
fn keeps_sql(options: &SpecOptions, sql: &str) -> bool {
    let Some(tables) = &options.tables else {
        return true;
    };
    let words: Vec<String> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map(str::to_lowercase)
        .collect();
    // `schema.table` matches by its table name (a statement may leave the schema out).
    tables.iter().any(|table| {
        let name = table.rsplit('.').next().unwrap_or(table);
        words.contains(&name.to_lowercase())
    })
}

/// The first two words of `sql` outside comments, upper-cased (`SET`, `LOCAL`).
fn first_words(sql: &str) -> (String, String) {
    let code: String = spans(sql)
        .into_iter()
        .filter(|(quoted, span)| !(*quoted && (span.starts_with("--") || span.starts_with("/*"))))
        .map(|(_, span)| span)
        .collect();
    let mut words = code
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_uppercase);
    let first = words.next().unwrap_or_default();
    (first, words.next().unwrap_or_default())
}

fn is_transaction_control(sql: &str) -> bool {
    let (first, _) = first_words(sql);
    matches!(
        first.as_str(),
        "BEGIN"
            | "START"
            | "COMMIT"
            | "END"
            | "ROLLBACK"
            | "ABORT"
            | "SAVEPOINT"
            | "RELEASE"
            | "SET"
            | "RESET"
    )
}

/// What a connection set on its session that outlives a transaction, so that a spec session
/// reused by a later connection starts clean.
#[derive(Clone, Copy, Debug, Default)]
struct SessionState {
    advisory: bool,
    settings: bool,
    listening: bool,
}

impl SessionState {
    fn note(&mut self, sql: &str) {
        let lower = sql.to_ascii_lowercase();
        self.advisory |= lower.contains("advisory_lock");
        let (first, second) = first_words(sql);
        let session_set = (first == "SET"
            && !matches!(second.as_str(), "LOCAL" | "TRANSACTION" | "CONSTRAINTS"))
            || first == "RESET";
        self.settings |= session_set || lower.contains("set_config");
        self.listening |= first == "LISTEN";
    }

    /// What ends this state, as a session closing would.
    fn cleanup(self) -> Vec<&'static str> {
        if self.advisory {
            vec!["SELECT pg_advisory_unlock_all()"]
        } else {
            Vec::new()
        }
    }

    /// Whether a later connection may play the same spec session: not after session-level
    /// settings or LISTEN, which the simulation has no RESET ALL or UNLISTEN * to end.
    fn reusable(self) -> bool {
        !(self.settings || self.listening)
    }
}

/// A spec session: the simulated connections it plays, one after another (a connection
/// takes the first session free when it sends its first statement, and frees it when it
/// closes), so that a run with many short connections needs few real ones.
struct Slot {
    name: String,
    steps: usize,
}

#[derive(Default)]
struct Builder {
    setup: Vec<String>,
    triggers: Vec<(String, Arc<dyn RowTrigger>)>,
    slots: Vec<Slot>,
    /// The spec session each open connection plays.
    slot_of: BTreeMap<SessionId, usize>,
    free: std::collections::BTreeSet<usize>,
    states: BTreeMap<SessionId, SessionState>,
    /// Connections seen (kept ones).
    connections: usize,
    /// A connection's statement that the run never answered (it waited when the connection
    /// ended): its spec session stays busy.
    waiting: BTreeMap<SessionId, String>,
    planned: Vec<Planned>,
    statements: usize,
    dropped: usize,
    notes: Vec<String>,
    check_slot: Option<usize>,
    /// Steps that read a clock other than now().
    unpinned: Vec<String>,
    /// The index of the history entry being read.
    index: usize,
    /// What each session runs first: the settings the simulated server assumes.
    session_setup: String,
}

impl Builder {
    fn entry(
        &mut self,
        entry: &SqlEntry,
        kept: &(Vec<SessionId>, Vec<SessionId>),
        options: &SpecOptions,
    ) -> Result<(), String> {
        match entry {
            SqlEntry::Setup { sql } => {
                let triggered = self.triggers.iter().any(|(table, _)| {
                    let options = SpecOptions {
                        tables: Some(vec![table.clone()]),
                        entities: None,
                    };
                    keeps_sql(&options, sql)
                });
                if triggered {
                    self.notes.push(
                        "a setup script naming a table with a row trigger ran after the \
                         trigger was installed: the spec installs triggers after every setup \
                         block, so that script's rows do not fire them"
                            .to_string(),
                    );
                }
                let pinned = pin_clock_calls(sql);
                if reads_unpinned_clock(&pinned) {
                    self.unpinned.push("setup".to_string());
                }
                self.setup.push(pinned);
            }
            SqlEntry::Trigger { table, trigger } => {
                self.triggers.push((table.clone(), trigger.clone()));
            }
            SqlEntry::Statement(statement) => {
                let (focus, blockers) = kept;
                let keep = blockers.contains(&statement.session)
                    || (focus.contains(&statement.session)
                        && (keeps(options, statement) || is_transaction_control(&statement.sql)));
                if keep {
                    self.statement(statement)?;
                } else {
                    self.dropped += 1;
                }
            }
            SqlEntry::Closed {
                session,
                at_micros,
                in_transaction,
            } => self.closed(*session, *at_micros, *in_transaction, "closed"),
            SqlEntry::Crashed {
                at_micros,
                sessions,
            } => {
                for (session, in_transaction) in sessions {
                    let how = "ended by a server crash";
                    self.closed(*session, *at_micros, *in_transaction, how);
                }
            }
        }
        Ok(())
    }

    fn new_slot(&mut self, name: String) -> usize {
        self.slots.push(Slot { name, steps: 0 });
        self.slots.len() - 1
    }

    /// The spec session `session` plays, taken now if it has none.
    fn slot(&mut self, session: SessionId) -> usize {
        if let Some(slot) = self.slot_of.get(&session) {
            return *slot;
        }
        self.connections += 1;
        let slot = match self.free.pop_first() {
            Some(slot) => slot,
            None => {
                let name = format!("conn{}", self.slots.len() + 1);
                self.new_slot(name)
            }
        };
        self.slot_of.insert(session, slot);
        slot
    }

    fn next_step(&mut self, slot: usize) -> String {
        let slot = &mut self.slots[slot];
        slot.steps += 1;
        format!("{}_{}", slot.name, slot.steps)
    }

    fn statement(&mut self, statement: &SqlStatement) -> Result<(), String> {
        let slot = self.slot(statement.session);
        let step = self.next_step(slot);
        let inlined = inline_params(&pin_clock_calls(&statement.sql), &statement.params)
            .map_err(|error| format!("step {step}: {error}"))?;
        let marker = if statement.starts_transaction {
            CLOCK_PREFIX
        } else {
            AT_PREFIX
        };
        let sql = format!("{marker}{} us */ {inlined}", statement.sent_micros);
        let lower = statement.sql.to_ascii_lowercase();
        for (word, note) in [
            (
                "gen_random_uuid",
                "gen_random_uuid() values differ between servers",
            ),
            ("notify", "NOTIFY deliveries are not compared"),
        ] {
            if lower.contains(word) && !self.notes.iter().any(|n| n.as_str() == note) {
                self.notes.push(note.to_string());
            }
        }
        if reads_unpinned_clock(&pin_clock_calls(&statement.sql)) {
            self.unpinned.push(step.clone());
        }
        self.states
            .entry(statement.session)
            .or_default()
            .note(&statement.sql);
        if statement.reply.is_none() {
            self.waiting.insert(statement.session, step.clone());
        }
        let mut comment = format!(
            "{} {} conn#{}",
            seconds(statement.sent_micros),
            statement.client_node,
            statement.session.0
        );
        if !statement.waited_for.is_empty() {
            let holders: Vec<String> = statement
                .waited_for
                .iter()
                .map(|holder| match self.slot_of.get(holder) {
                    Some(slot) => format!("{} (conn#{})", self.slots[*slot].name, holder.0),
                    None => format!("conn#{}", holder.0),
                })
                .collect();
            let _ = write!(comment, ", waited for {}", holders.join(", "));
        }
        self.statements += 1;
        self.planned.push(Planned {
            slot,
            entry: self.index,
            answered_after_entries: statement.answered_after_entries,
            step: step.clone(),
            sql,
            at_micros: statement.sent_micros,
            expected: ExpectedStep {
                step,
                result: statement.reply.clone().map(convert),
                waited: !statement.waited_for.is_empty(),
                // Without ORDER BY, rows come in scan order, which PostgreSQL does not promise.
                unordered: !statement.sql.to_ascii_lowercase().contains("order by"),
            },
            comment,
        });
        Ok(())
    }

    /// `session` ended in the run: end it in the spec as the server did, and free its spec
    /// session for a later connection.
    fn closed(&mut self, session: SessionId, at_micros: u64, in_transaction: bool, how: &str) {
        let Some(slot) = self.slot_of.remove(&session) else {
            return;
        };
        let state = self.states.remove(&session).unwrap_or_default();
        if let Some(step) = self.waiting.remove(&session) {
            self.notes.push(format!(
                "conn#{} was {how} while {step} waited: a spec cannot cancel a waiting step, \
                 so from there on the real server keeps that session's locks",
                session.0
            ));
            return;
        }
        let mut statements = Vec::new();
        if in_transaction {
            statements.push("ROLLBACK");
        }
        statements.extend(state.cleanup());
        for sql in statements {
            let step = self.next_step(slot);
            self.planned.push(Planned {
                slot,
                entry: self.index,
                answered_after_entries: Some(self.index),
                step: step.clone(),
                sql: format!("{AT_PREFIX}{at_micros} us */ {sql}"),
                at_micros,
                expected: ExpectedStep {
                    step,
                    result: None,
                    waited: false,
                    unordered: false,
                },
                comment: format!(
                    "{} conn#{} {how}: what its end does on the server",
                    seconds(at_micros),
                    session.0
                ),
            });
        }
        if state.reusable() {
            self.free.insert(slot);
        }
    }

    /// A statement that blocked in the run counts as waiting only if the next step's
    /// statement arrived before its answer: otherwise the runner sees it finish within its
    /// own step, as the run's server answered it before anything else happened.
    fn settle_waits(&mut self) {
        let next_entries: Vec<usize> = self
            .planned
            .iter()
            .skip(1)
            .map(|planned| planned.entry)
            .chain([usize::MAX])
            .collect();
        for (planned, next_entry) in self.planned.iter_mut().zip(next_entries) {
            let answered = planned.answered_after_entries.unwrap_or(usize::MAX);
            planned.expected.waited &= next_entry < answered;
            let timer = matches!(
                &planned.expected.result,
                Some(StepResult::Error(failure))
                    if matches!(failure.code.as_str(), "40P01" | "55P03" | "57014")
            );
            if timer && planned.expected.waited {
                self.notes.push(format!(
                    "{} ended its wait on a timer (deadlock_timeout, lock_timeout or \
                     statement_timeout) after later statements arrived; the runner fires \
                     timers at once, so those may run in another order",
                    planned.step
                ));
            }
        }
    }

    /// The text reads back with every step's SQL as planned (an SQL text the spec language
    /// cannot hold is an error, not a different statement).
    fn check_round_trip(&self, title: &str, text: &str) -> Result<(), String> {
        let parsed = crate::spec::parse(title, text)
            .map_err(|error| format!("the written spec does not parse: {error}"))?;
        for planned in &self.planned {
            if parsed.step_sql(&planned.step) != Some(planned.sql.trim()) {
                return Err(format!(
                    "step {} cannot be written as a spec step: {:?}",
                    planned.step, planned.sql
                ));
            }
        }
        Ok(())
    }

    /// Spec sessions that play the run's connections (the check session not counted).
    fn client_sessions(&self) -> usize {
        self.slots.len() - usize::from(self.check_slot.is_some())
    }

    /// The last session: one read of every table (the options' tables only, when given).
    fn final_state(&mut self, tables: &[TableState], options: &SpecOptions) {
        // After every event of the run, the failing check included.
        let at_micros = u64::MAX;
        for table in tables {
            let sql = format!("SELECT * FROM {}", table.name);
            if !keeps_sql(options, &sql) {
                continue;
            }
            let slot = match self.check_slot {
                Some(slot) => slot,
                None => {
                    let slot = self.new_slot("syncsim_check".to_string());
                    self.check_slot = Some(slot);
                    slot
                }
            };
            let step = self.next_step(slot);
            let rows = table.rows.iter().map(|row| row.to_vec()).collect();
            let result = convert(Ok(syncsim_services::pg::QueryResult {
                command_tag: String::new(),
                columns: table.columns.clone(),
                rows,
                rows_affected: 0,
            }));
            self.planned.push(Planned {
                slot,
                entry: self.index,
                answered_after_entries: Some(self.index),
                step: step.clone(),
                sql,
                at_micros,
                expected: ExpectedStep {
                    step,
                    result: Some(result),
                    waited: false,
                    unordered: true,
                },
                comment: "the committed rows at the end of the run".to_string(),
            });
        }
    }

    fn text(&mut self, title: &str, server: &str, trace: &Trace) -> String {
        let mut text = format!("# syncsim: the SQL history of {title}, server {server}\n");
        let _ = writeln!(
            text,
            "# {} statements of {} connections (played by {} session(s)), in the order the \
             server received them; then syncsim_check reads each table.",
            self.statements,
            self.connections,
            self.client_sessions()
        );
        if self.dropped > 0 {
            self.notes.insert(
                0,
                format!(
                    "dropped {} statements the options do not keep",
                    self.dropped
                ),
            );
        }
        if !self.unpinned.is_empty() {
            self.notes.push(format!(
                "{} statements read a clock confirm cannot pin on a real server \
                 (clock_timestamp, statement_timestamp, timeofday, CURRENT_TIMESTAMP, \
                 LOCALTIMESTAMP, CURRENT_DATE, CURRENT_TIME: only now() is pinned), first {}: \
                 results that depend on it may differ",
                self.unpinned.len(),
                self.unpinned[0]
            ));
        }
        for (table, trigger) in &self.triggers {
            self.notes.push(format!(
                "row trigger on {table}, native to the simulation: {trigger:?}; confirm \
                 installs its PL/pgSQL form on the real server"
            ));
        }
        for note in &self.notes {
            let _ = writeln!(text, "# note: {note}");
        }
        text.push_str(
            "# A step that starts a transaction carries the virtual time it arrived at \
             (`syncsim clock`):\n# `syncsim confirm` pins now() to it on both servers.\n",
        );
        for block in &self.setup {
            let _ = writeln!(text, "\nsetup\n{{\n{}\n}}", block.trim());
        }
        for (index, slot) in self.slots.iter().enumerate() {
            let _ = writeln!(text, "\nsession {}", slot.name);
            let _ = writeln!(text, "setup {{ {} }}", self.session_setup);
            for planned in self.planned.iter().filter(|p| p.slot == index) {
                if planned.sql.contains("--") || planned.sql.contains('\n') {
                    // A `--` comment would run over a closing brace on its line.
                    let _ = writeln!(text, "step {}\n{{\n{}\n}}", planned.step, planned.sql);
                } else {
                    let _ = writeln!(text, "step {} {{ {} }}", planned.step, planned.sql);
                }
            }
        }
        text.push_str("\npermutation\n");
        let mut events = trace
            .events()
            .iter()
            .filter(|event| !touches(event, server))
            .peekable();
        for planned in &self.planned {
            while let Some(event) = events.next_if(|e| e.time.as_micros() <= planned.at_micros) {
                let _ = writeln!(text, "  # {}", one_line(event));
            }
            let _ = writeln!(text, "  {}  # {}", planned.step, planned.comment);
        }
        text
    }
}

/// Whether `sql` names a clock other than `now()` (a false positive only adds a note).
fn reads_unpinned_clock(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    [
        "clock_timestamp",
        "statement_timestamp",
        "timeofday",
        "current_timestamp",
        "localtimestamp",
        "current_date",
        "current_time",
    ]
    .iter()
    .any(|name| lower.contains(name))
}

/// Whether a trace event is the server's own (its statements are the steps).
fn touches(event: &TraceEvent, server: &str) -> bool {
    event.node == server || event.peer.as_deref() == Some(server)
}

fn one_line(event: &TraceEvent) -> String {
    let line = event.to_string().replace(['\n', '\r'], " ");
    let mut cut: String = line.chars().take(160).collect();
    if cut.len() < line.len() {
        cut.push_str(" ...");
    }
    cut
}

fn seconds(micros: u64) -> String {
    format!("{}.{:06}s", micros / 1_000_000, micros % 1_000_000)
}

/// `sql` with each `$n` outside literals, quoted names and comments replaced by parameter n as
/// an untyped literal (`'text'`, or `NULL`): the server infers its type from the context, as
/// it does for a parameter a client such as node-postgres sends without a type. An error
/// names a `$n` without a value.
pub fn inline_params(sql: &str, params: &[Value]) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    for (quoted, span) in spans(sql) {
        if quoted {
            out.push_str(span);
            continue;
        }
        let mut rest = span;
        while let Some(at) = find_param(rest) {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            let number: usize = rest[at + 1..at + 1 + digits]
                .parse()
                .map_err(|_| format!("parameter number too large in {sql:?}"))?;
            let value = number
                .checked_sub(1)
                .and_then(|i| params.get(i))
                .ok_or_else(|| format!("${number} has no value ({} given)", params.len()))?;
            out.push_str(&literal(value));
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// The byte offset of the first `$n` parameter in a code span (a `$` not inside a name).
fn find_param(code: &str) -> Option<usize> {
    let bytes = code.as_bytes();
    (0..bytes.len()).find(|&at| {
        bytes[at] == b'$'
            && bytes.get(at + 1).is_some_and(u8::is_ascii_digit)
            && (at == 0 || !is_name_byte(bytes[at - 1]))
    })
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// `CURRENT_TIMESTAMP` (without a precision) and `transaction_timestamp()` written as `now()`,
/// which they are in PostgreSQL, so that the pinned `now()` covers them; outside quoted text.
pub fn pin_clock_calls(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    for (quoted, span) in spans(sql) {
        if quoted {
            out.push_str(span);
            continue;
        }
        let mut rest = span;
        while let Some((at, length)) = clock_word(rest) {
            out.push_str(&rest[..at]);
            out.push_str("now");
            rest = &rest[at + length..];
            if !rest.trim_start().starts_with('(') {
                out.push_str("()");
            }
        }
        out.push_str(rest);
    }
    out
}

/// The first `current_timestamp` or `transaction_timestamp` word of a code span (not a
/// precision form `CURRENT_TIMESTAMP(3)`, which is not `now()`).
fn clock_word(code: &str) -> Option<(usize, usize)> {
    let lower = code.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut best: Option<(usize, usize)> = None;
    for word in ["current_timestamp", "transaction_timestamp"] {
        let mut from = 0;
        while let Some(found) = lower[from..].find(word) {
            let at = from + found;
            let end = at + word.len();
            let bounded = (at == 0 || !(is_name_byte(bytes[at - 1]) || bytes[at - 1] == b'.'))
                && bytes.get(end).is_none_or(|next| !is_name_byte(*next));
            let call = lower[end..].trim_start().starts_with('(');
            let keep = bounded && (word == "transaction_timestamp") == call;
            if keep {
                if best.is_none_or(|(earliest, _)| at < earliest) {
                    best = Some((at, word.len()));
                }
                break;
            }
            from = end;
        }
    }
    best
}

/// `sql` cut into spans, each either quoted (a string literal, a quoted name, a dollar-quoted
/// body or a comment: `true`) or code (`false`), in order; together they are `sql`.
fn spans(sql: &str) -> Vec<(bool, &str)> {
    let mut spans = Vec::new();
    let (mut code_start, mut index) = (0, 0);
    while index < sql.len() {
        let end = quoted_end(sql, index);
        if end > index {
            if code_start < index {
                spans.push((false, &sql[code_start..index]));
            }
            spans.push((true, &sql[index..end]));
            (code_start, index) = (end, end);
        } else {
            index += sql[index..].chars().next().map_or(1, char::len_utf8);
        }
    }
    if code_start < sql.len() {
        spans.push((false, &sql[code_start..]));
    }
    spans
}

/// The end of a quoted literal (`'..'`, `E'..'` with backslash escapes), quoted name,
/// dollar-quoted body or comment (`--`, nested `/* */`) starting at `start`, or `start` when
/// none does there. An unterminated one runs to the end.
fn quoted_end(sql: &str, start: usize) -> usize {
    let rest = &sql[start..];
    let bytes = rest.as_bytes();
    let after_name = start > 0 && is_name_byte(sql.as_bytes()[start - 1]);
    match bytes.first() {
        Some(b'-') if rest.starts_with("--") => rest.find('\n').map_or(sql.len(), |e| start + e),
        Some(b'/') if rest.starts_with("/*") => start + block_comment_length(rest),
        Some(b'\'') => start + literal_length(rest, false),
        Some(b'E' | b'e') if bytes.get(1) == Some(&b'\'') && !after_name => {
            start + 1 + literal_length(&rest[1..], true)
        }
        Some(b'"') => rest[1..].find('"').map_or(sql.len(), |e| start + e + 2),
        Some(b'$') if !after_name => dollar_tag(rest).map_or(start, |tag| {
            let body = &rest[tag.len()..];
            body.find(tag)
                .map_or(sql.len(), |e| start + tag.len() + e + tag.len())
        }),
        _ => start,
    }
}

/// The length of a `'...'` literal at the start of `text` (a doubled quote is part of it;
/// with `escapes`, a backslash escapes the next character).
fn literal_length(text: &str, escapes: bool) -> usize {
    let bytes = text.as_bytes();
    let mut index = 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if escapes => index += 2,
            b'\'' if bytes.get(index + 1) == Some(&b'\'') => index += 2,
            b'\'' => return index + 1,
            _ => index += 1,
        }
    }
    text.len()
}

/// The length of a (nested) `/* */` comment at the start of `text`.
fn block_comment_length(text: &str) -> usize {
    let (mut depth, mut index) = (0_usize, 0);
    while index < text.len() {
        if text[index..].starts_with("/*") {
            depth += 1;
            index += 2;
        } else if text[index..].starts_with("*/") {
            depth -= 1;
            index += 2;
            if depth == 0 {
                return index;
            }
        } else {
            index += text[index..].chars().next().map_or(1, char::len_utf8);
        }
    }
    text.len()
}

/// A dollar-quote tag (`$$`, `$body$`) at the start of `text`; a `$` and digits is a
/// parameter, not a tag.
fn dollar_tag(text: &str) -> Option<&str> {
    let inner = &text[1..];
    if inner.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let end = inner.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    inner[end..].starts_with('$').then(|| &text[..end + 2])
}

/// A parameter as an untyped literal.
fn literal(value: &Value) -> String {
    if value.is_null() {
        return "NULL".to_string();
    }
    format!("'{}'", value.to_pg_text().replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_written_in_outside_literals_and_comments() {
        let params = [Value::Int8(7), Value::Text("it's".into()), Value::Null];
        let sql = "SELECT $1, '$2', \"$1\", $2 -- $3\n, /* $1 */ $3, $$ $1 $$, $10x";
        let error = inline_params(sql, &params).unwrap_err();
        assert!(error.contains("$10 has no value"), "{error}");
        let sql = "SELECT $1, '$2', \"$1\", $2 -- $3\n, /* $1 */ $3, $$ $1 $$";
        assert_eq!(
            inline_params(sql, &params).unwrap(),
            "SELECT '7', '$2', \"$1\", 'it''s' -- $3\n, /* $1 */ NULL, $$ $1 $$"
        );
    }

    #[test]
    fn escapes_names_and_multibyte_text_keep_parameters_apart() {
        let params = [Value::Int8(7), Value::Text("x".into())];
        let sql = "UPDATE t SET note = E'it\\'s $1', a$1 = $2 WHERE id = $1\u{a0}AND v = '\u{fc}'";
        assert_eq!(
            inline_params(sql, &params).unwrap(),
            "UPDATE t SET note = E'it\\'s $1', a$1 = 'x' WHERE id = '7'\u{a0}AND v = '\u{fc}'"
        );
        // As in PostgreSQL's lexer, a byte over 0x7f continues a name: `\u{ff0c}$2` is one.
        let sql = "SELECT $body$ $1 $body$, /* a /* $1 */ $2 */ $2, $1\u{ff0c}$2";
        assert_eq!(
            inline_params(sql, &params).unwrap(),
            "SELECT $body$ $1 $body$, /* a /* $1 */ $2 */ 'x', '7'\u{ff0c}$2"
        );
    }

    #[test]
    fn current_timestamp_is_written_as_now() {
        let sql = "CREATE TABLE t (a timestamptz DEFAULT CURRENT_TIMESTAMP, b text DEFAULT \
                   'current_timestamp', c timestamptz DEFAULT current_timestamp(3), \
                   d timestamptz DEFAULT transaction_timestamp ())";
        assert_eq!(
            pin_clock_calls(sql),
            "CREATE TABLE t (a timestamptz DEFAULT now(), b text DEFAULT 'current_timestamp', \
             c timestamptz DEFAULT current_timestamp(3), d timestamptz DEFAULT now ())"
        );
    }

    fn statement(session: u32, sql: &str, answered: bool) -> SqlEntry {
        let reply = Ok(syncsim_services::pg::QueryResult {
            command_tag: "SET".into(),
            columns: Vec::new(),
            rows: Vec::new(),
            rows_affected: 0,
        });
        SqlEntry::Statement(Box::new(SqlStatement {
            session: SessionId(session),
            client_node: "w".into(),
            sql: sql.into(),
            params: Vec::new(),
            sent_micros: 0,
            starts_transaction: true,
            waited_for: Vec::new(),
            finished_micros: answered.then_some(0),
            reply: answered.then_some(reply),
            answered_after_entries: answered.then_some(0),
        }))
    }

    fn closed(session: u32) -> SqlEntry {
        SqlEntry::Closed {
            session: SessionId(session),
            at_micros: 0,
            in_transaction: false,
        }
    }

    #[test]
    fn a_session_is_reused_only_without_session_state() {
        let entries = [
            statement(1, "/* c */ SET\tlock_timeout = '1s'", true),
            closed(1),
            statement(2, "SELECT pg_advisory_lock(1)", true),
            closed(2),
            statement(3, "SELECT 1", true),
            statement(4, "UPDATE t SET a = 1", false),
            SqlEntry::Crashed {
                at_micros: 5,
                sessions: vec![(SessionId(3), false), (SessionId(4), true)],
            },
        ];
        let run = RunSql {
            server: "db",
            entries: &entries,
            tables: Vec::new(),
            trace: &Trace::default(),
            deadlock_timeout_micros: 1_000_000,
        };
        let spec = write_spec("t", &run, &SpecOptions::default()).unwrap();
        // conn1 keeps its SET; conn2's advisory lock ends with an unlock, and conn3 reuses it.
        let unlock = "step conn2_2 { /* syncsim at: 0 us */ SELECT pg_advisory_unlock_all() }";
        assert!(spec.text.contains(unlock), "{}", spec.text);
        assert!(spec
            .text
            .contains("step conn2_3 { /* syncsim clock: 0 us */ SELECT 1 }"));
        assert_eq!((spec.connections, spec.sessions), (4, 3));
        let waiting = spec
            .notes
            .iter()
            .any(|note| note.contains("conn#4 was ended by"));
        assert!(waiting, "{:?}", spec.notes);
    }

    #[test]
    fn a_clock_marker_reads_back() {
        let sql = format!("{CLOCK_PREFIX}1500000 us */ BEGIN");
        assert_eq!(clock_of(&sql), Some(1_500_000));
        assert_eq!(clock_of("BEGIN"), None);
        assert_eq!(time_of(&sql), Some(1_500_000));
        assert_eq!(time_of(&format!("{AT_PREFIX}7 us */ SELECT 1")), Some(7));
        assert_eq!(clock_of(&format!("{AT_PREFIX}7 us */ SELECT 1")), None);
        assert_eq!(clock_text(0), "2026-01-01 00:00:00+00");
    }

    #[test]
    fn tables_keep_statements_that_name_them() {
        let options = SpecOptions {
            tables: Some(vec!["public.Orgs".into()]),
            entities: None,
        };
        assert!(keeps_sql(&options, "UPDATE orgs SET x = 1"));
        assert!(keeps_sql(&options, "select * from public.\"orgs\""));
        assert!(!keeps_sql(&options, "UPDATE orgs_archive SET x = 1"));
        assert!(keeps_sql(&SpecOptions::default(), "anything"));
    }

    #[test]
    fn entities_are_the_identifier_words_of_a_reason_matched_as_values() {
        let reason = "org_0: external_id \"f6e2-75d7\" has no row; player 1 of a@b.c.";
        let entities = entities_of(reason);
        assert_eq!(entities, ["org_0", "external_id", "f6e2-75d7", "a@b.c"]);
        let options = SpecOptions {
            tables: None,
            entities: Some(entities),
        };
        let SqlEntry::Statement(mut statement) = statement(1, "SELECT 1", true) else {
            unreachable!("a statement")
        };
        statement.sql = "UPDATE orgs SET external_id = $1 WHERE id = 'org_1'".into();
        statement.params = vec![Value::Text("other".into())];
        assert!(
            !names_entity(&options, &statement),
            "a column name is not a value"
        );
        statement.params = vec![Value::Text("f6e2-75d7".into())];
        assert!(names_entity(&options, &statement));
        statement.params.clear();
        statement.sql = "DELETE FROM orgs WHERE id = 'org_0'".into();
        assert!(names_entity(&options, &statement));
    }
}
