//! Random scripts for differential testing: a small schema (a parent table with a primary key,
//! a NOT NULL column with a default and a nullable unique column, optionally an expression
//! and partial unique index over them; optionally a child table
//! with a foreign key and a random ON DELETE action; the unique column and the foreign key
//! NOT DEFERRABLE, DEFERRABLE or INITIALLY DEFERRED, and SET CONSTRAINTS among the
//! transaction-control statements), a few seed rows, and two or three
//! sessions whose statements are drawn from the supported subset over a tiny key range (so
//! they collide), interleaved in a random order. An observer session reads the committed
//! state at the end.
//!
//! Everything shrinks with proptest: fewer sessions, fewer statements, simpler statements
//! (earlier alternatives), a plainer interleaving, so a disagreement ends as a minimal script,
//! printed in the `.spec` format to be added to the corpus.
//! Writes include data-modifying WITH queries (read by the main statement, and not); the
//! parent's `interval` column is scaled, justified, compared and summed, its `date` column
//! moved by days and months and compared with a timestamptz, its `char(2)` column grown past
//! its length, its `numeric(7,2)` column multiplied, divided, rounded on assignment and
//! summed and averaged (with avg over the integer column).
//! Not generated: timeouts, NOTIFY (the runner does not compare them), DDL races (LOCK TABLE
//! in every mode is: it makes the statements of the other sessions wait as DDL would).

use proptest::prelude::*;

use crate::spec::{permutation_text, Permutation, PermutationStep, Session, Spec, Step};

/// Keys statements use: small, so sessions collide.
const KEY_MAX: i32 = 3;

/// A generated script before it becomes a [`Spec`].
#[derive(Clone, Debug)]
pub struct Script {
    /// `None`: no child table; else the child's ON DELETE action.
    pub child_action: Option<&'static str>,
    /// The clause after the unique column and the foreign key: empty (NOT DEFERRABLE),
    /// ` DEFERRABLE` or ` DEFERRABLE INITIALLY DEFERRED`.
    pub deferral: &'static str,
    /// Parent rows 1..=n inserted by the setup.
    pub seed_row_count: i32,
    /// Whether the parent also has an expression and partial unique index.
    pub computed_unique: bool,
    /// Each session's statements.
    pub sessions: Vec<Vec<String>>,
    /// The interleaving: each entry picks the next step of session `entry % sessions`.
    pub order: Vec<usize>,
}

fn key() -> impl Strategy<Value = i32> {
    1..=KEY_MAX
}

fn parent_write() -> impl Strategy<Value = String> {
    prop_oneof![
        (key(), 0..3_i32).prop_map(|(k, v)| format!("INSERT INTO p (id, v) VALUES ({k}, {v})")),
        key().prop_map(|k| format!("UPDATE p SET v = v + 1 WHERE id = {k}")),
        key().prop_map(|k| format!("DELETE FROM p WHERE id = {k}")),
        key().prop_map(|k| format!(
            "INSERT INTO p (id) VALUES ({k}) ON CONFLICT (id) DO NOTHING RETURNING id"
        )),
        key().prop_map(|k| format!(
            "INSERT INTO p (id, v) VALUES ({k}, 5) ON CONFLICT (id) DO UPDATE SET v = p.v + \
             excluded.v RETURNING id, v, (xmax = 0) AS inserted"
        )),
        (key(), key()).prop_map(|(k, u)| format!("UPDATE p SET u = {u} WHERE id = {k}")),
        (key(), key()).prop_map(|(k, n)| format!("UPDATE p SET id = {n} + 10 WHERE id = {k}")),
        // Several rows without RETURNING: the real server's scan order is physical order.
        key().prop_map(|k| format!("UPDATE p SET v = v * 2 WHERE id = {k} OR v > 1")),
        key().prop_map(|k| format!("DELETE FROM p WHERE v >= {k}")),
        key().prop_map(|k| format!(
            "UPDATE p SET v = p.v + g FROM generate_series(1, {k}) g WHERE p.id = g"
        )),
        key().prop_map(|k| format!("DELETE FROM p USING generate_series({k}, 3) g WHERE p.v = g")),
        (key(), key()).prop_map(|(k, n)| format!(
            "INSERT INTO p (id, v) SELECT id + {n}, v FROM p WHERE id = {k} \
             ON CONFLICT (id) DO NOTHING RETURNING id, v"
        )),
        (key(), key()).prop_map(|(k, n)| format!(
            "INSERT INTO p (id, v) SELECT g, {n} FROM generate_series({k}, {k} + 1) g \
             ON CONFLICT (id) DO UPDATE SET v = excluded.v RETURNING id, v"
        )),
        // The job-queue claim: a locking WITH query read by an UPDATE ... FROM.
        key().prop_map(|k| format!(
            "WITH next AS (SELECT id FROM p WHERE v < {k} ORDER BY id LIMIT 1 \
             FOR UPDATE SKIP LOCKED) UPDATE p SET v = p.v + 1 FROM next WHERE p.id = next.id \
             RETURNING p.id, p.v"
        )),
        key().prop_map(|k| format!(
            "WITH d AS (DELETE FROM p WHERE id = {k} RETURNING id, v) SELECT id, v FROM d"
        )),
        // Infers the partial expression index when the schema has it (42P10 otherwise).
        (key(), 0..3_i32).prop_map(|(k, v)| format!(
            "INSERT INTO p (id, v, u) VALUES ({k} + 3, {v}, {k}) ON CONFLICT ((v % 3)) \
             WHERE u IS NOT NULL DO UPDATE SET v = p.v + 1 RETURNING id, v"
        )),
        // The interval column: scaling with float math, mixed-sign fields, justify_*.
        (key(), 1..4_i32).prop_map(|(k, n)| format!(
            "UPDATE p SET w = w * {n} - interval '{n} hours' / 3 WHERE id = {k} RETURNING id, w"
        )),
        // Several rows, so no RETURNING (the server's row order is its plan's).
        key().prop_map(|k| format!(
            "UPDATE p SET w = justify_interval(w + '1 mon -29 days') WHERE id <= {k}"
        )),
        // The date column: days added, a month added through a timestamp and cast back.
        key().prop_map(|k| format!(
            "UPDATE p SET d = (d + {k} + interval '1 mon')::date WHERE id = {k} \
             RETURNING id, d, d - date '2026-01-31' AS days"
        )),
        // The char(2) column: padded, compared without its blanks, 22001 past its length.
        key().prop_map(|k| format!(
            "UPDATE p SET k = k || {k} WHERE id = {k} RETURNING id, k, '[' || k || ']'"
        )),
        // The numeric(7,2) column: a quotient rounded on assignment, 22003 past 99999.99.
        (key(), 1..4_i32).prop_map(|(k, n)| format!(
            "UPDATE p SET m = m * {n}.5 + {k} / 3.0 WHERE id = {k} RETURNING id, m, m / 7"
        )),
    ]
}

fn parent_read() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SELECT id, v, u FROM p ORDER BY id".to_string()),
        (key(), 0..10_usize).prop_map(|(k, mode)| {
            let lock = [
                "FOR UPDATE",
                "FOR SHARE",
                "FOR UPDATE NOWAIT",
                "FOR UPDATE SKIP LOCKED",
                "FOR SHARE NOWAIT",
                "FOR SHARE SKIP LOCKED",
                "FOR NO KEY UPDATE",
                "FOR KEY SHARE",
                "FOR NO KEY UPDATE NOWAIT",
                "FOR KEY SHARE SKIP LOCKED",
            ][mode];
            format!("SELECT id, v FROM p WHERE id = {k} {lock}")
        }),
        Just("SELECT id FROM p ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED".to_string()),
        Just("SELECT count(*) FROM p".to_string()),
        Just(
            "SELECT v, count(*), sum(id), min(u), max(id) FROM p GROUP BY v ORDER BY v".to_string()
        ),
        key().prop_map(|k| format!(
            "SELECT u, count(*) FROM p GROUP BY u HAVING count(*) >= {k} - 1 ORDER BY u NULLS FIRST"
        )),
        key().prop_map(|k| format!(
            "SELECT count(DISTINCT v), max(v) FILTER (WHERE id > {k}), sum(v) FROM p"
        )),
        Just("SELECT DISTINCT v FROM p ORDER BY v".to_string()),
        // Intervals compared by span ('1 mon' = '30 days'), added to a month end.
        key().prop_map(|k| format!(
            "SELECT id, w, timestamptz '2026-01-31 00:00:00+00' + w * {k} AS at FROM p \
             WHERE w >= interval '{k} days' - interval '1 hour' ORDER BY w, id"
        )),
        Just("SELECT sum(w), avg(w), min(w), max(w) FROM p".to_string()),
        Just("SELECT k, count(*), k = 'a ' AS blank FROM p GROUP BY k ORDER BY k".to_string()),
        Just("SELECT sum(m), avg(m), avg(v), sum(v::bigint), max(m % 1) FROM p".to_string()),
        key().prop_map(|k| format!(
            "SELECT m, count(*) FROM p WHERE m >= {k}.25 - 1 GROUP BY m ORDER BY m"
        )),
        key().prop_map(|k| format!(
            "SELECT id, d, d + w AS due FROM p WHERE d >= date '2026-01-31' + {k} - 1 \
             AND d < timestamptz '2026-03-31 00:00:00+00' ORDER BY d, id"
        )),
    ]
}

fn control() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("BEGIN".to_string()),
        Just("COMMIT".to_string()),
        Just("ROLLBACK".to_string()),
        Just("BEGIN ISOLATION LEVEL REPEATABLE READ".to_string()),
        Just("BEGIN ISOLATION LEVEL SERIALIZABLE".to_string()),
        Just("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY".to_string()),
        Just("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE".to_string()),
        Just("SAVEPOINT a".to_string()),
        Just("ROLLBACK TO SAVEPOINT a".to_string()),
        prop_oneof![
            Just("SET CONSTRAINTS ALL IMMEDIATE"),
            Just("SET CONSTRAINTS ALL DEFERRED"),
            Just("SET CONSTRAINTS p_u_key DEFERRED"),
            Just("SET CONSTRAINTS c_p_id_fkey IMMEDIATE"),
        ]
        .prop_map(str::to_string),
        key().prop_map(|k| format!("SELECT pg_advisory_xact_lock({k})")),
        key().prop_map(|k| format!("SELECT pg_advisory_lock({k})")),
        key().prop_map(|k| format!("SELECT pg_advisory_unlock({k})")),
        key().prop_map(|k| format!("SELECT pg_try_advisory_lock({k})")),
        (0..8_usize, any::<bool>()).prop_map(|(mode, nowait)| {
            let mode = [
                "ACCESS SHARE",
                "ROW SHARE",
                "ROW EXCLUSIVE",
                "SHARE UPDATE EXCLUSIVE",
                "SHARE",
                "SHARE ROW EXCLUSIVE",
                "EXCLUSIVE",
                "ACCESS EXCLUSIVE",
            ][mode];
            let nowait = if nowait { " NOWAIT" } else { "" };
            format!("LOCK TABLE p IN {mode} MODE{nowait}")
        }),
    ]
}

fn child_statement() -> impl Strategy<Value = String> {
    prop_oneof![
        (key(), key()).prop_map(|(id, k)| format!("INSERT INTO c VALUES ({id}, {k})")),
        key().prop_map(|id| format!("DELETE FROM c WHERE id = {id}")),
        Just("SELECT id, p_id FROM c ORDER BY id".to_string()),
        Just("SELECT p.id, c.id FROM p, c WHERE c.p_id = p.id ORDER BY 1, 2".to_string()),
        // A WITH query nothing reads (it runs after the main statement), and a parent
        // inserted by a WITH query for the child the main statement inserts.
        key().prop_map(|k| format!(
            "WITH gone AS (DELETE FROM c WHERE p_id = {k}) DELETE FROM p WHERE id = {k}"
        )),
        key().prop_map(|k| format!(
            "WITH made AS (INSERT INTO p (id) VALUES ({k} + 5) ON CONFLICT (id) DO NOTHING \
             RETURNING id) INSERT INTO c SELECT id, id FROM made"
        )),
        // Grouped by the parent's primary key: its other columns are functionally dependent.
        Just(
            "SELECT p.id, p.v, count(c.id) FROM p JOIN c ON c.p_id = p.id GROUP BY p.id \
             ORDER BY p.id"
                .to_string()
        ),
    ]
}

fn statement(with_child: bool) -> BoxedStrategy<String> {
    if with_child {
        prop_oneof![
            3 => parent_write(),
            2 => parent_read(),
            3 => control(),
            2 => child_statement(),
        ]
        .boxed()
    } else {
        prop_oneof![3 => parent_write(), 2 => parent_read(), 3 => control()].boxed()
    }
}

/// Whether `sql` starts, ends or splits a transaction (left out of a generated block).
fn is_control(sql: &str) -> bool {
    ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"]
        .iter()
        .any(|word| sql.starts_with(word))
}

/// The strategy for scripts with `session_count_max` (2 or 3) sessions at most.
pub fn script(session_count_max: usize) -> impl Strategy<Value = Script> {
    let child = prop_oneof![
        Just(None),
        Just(Some("CASCADE")),
        Just(Some("SET NULL")),
        Just(Some("RESTRICT")),
    ];
    let deferral = prop_oneof![
        Just(""),
        Just(" DEFERRABLE"),
        Just(" DEFERRABLE INITIALLY DEFERRED"),
    ];
    let schema = (child, deferral, 0..=KEY_MAX, any::<bool>());
    schema.prop_flat_map(
        move |(child_action, deferral, seed_row_count, computed_unique)| {
            let statements = prop::collection::vec(statement(child_action.is_some()), 1..5);
            // Half the sessions are one block at one level, committed at its end, of their
            // statements but the transaction control ones, so that two sessions meet inside
            // SERIALIZABLE (or REPEATABLE READ) often enough for their dangerous structures
            // to form and reach COMMIT. Shrinking unwraps a block first (`None` is the first
            // choice) and keeps its statements.
            let block = prop_oneof![
                4 => Just(None),
                1 => Just(Some("REPEATABLE READ")),
                3 => Just(Some("SERIALIZABLE")),
            ];
            let session = (block, statements).prop_map(|(block, statements)| match block {
                None => statements,
                Some(level) => std::iter::once(format!("BEGIN ISOLATION LEVEL {level}"))
                    .chain(statements.into_iter().filter(|sql| !is_control(sql)))
                    .chain(std::iter::once("COMMIT".to_string()))
                    .collect(),
            });
            let sessions = prop::collection::vec(session, 2..=session_count_max.max(2));
            let order = prop::collection::vec(0..3_usize, 0..18);
            (sessions, order).prop_map(move |(sessions, order)| Script {
                child_action,
                deferral,
                seed_row_count,
                computed_unique,
                sessions,
                order,
            })
        },
    )
}

impl Script {
    /// The script as a [`Spec`] named `name`.
    pub fn to_spec(&self, name: &str) -> Spec {
        let deferral = self.deferral;
        let mut setup = vec![format!(
            "CREATE TABLE p (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, u int UNIQUE{deferral}, \
             w interval NOT NULL DEFAULT '1 day', d date NOT NULL DEFAULT '2026-01-31', \
             k char(2) NOT NULL DEFAULT 'a', m numeric(7,2) NOT NULL DEFAULT 0.5)"
        )];
        if self.computed_unique {
            setup.push("CREATE UNIQUE INDEX p_v_mod ON p ((v % 3)) WHERE u IS NOT NULL".into());
        }
        if let Some(action) = self.child_action {
            setup.push(format!(
                "CREATE TABLE c (id int PRIMARY KEY, \
                 p_id int REFERENCES p ON DELETE {action}{deferral})"
            ));
        }
        if self.seed_row_count > 0 {
            let rows: Vec<String> = (1..=self.seed_row_count)
                .map(|id| format!("({id}, {id})"))
                .collect();
            setup.push(format!("INSERT INTO p (id, v) VALUES {}", rows.join(", ")));
        }
        let mut sessions: Vec<Session> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(index, statements)| Session {
                name: format!("s{}", index + 1),
                setup: None,
                teardown: None,
                steps: statements
                    .iter()
                    .enumerate()
                    .map(|(step, sql)| Step {
                        name: format!("s{}_{}", index + 1, step + 1),
                        sql: sql.clone(),
                    })
                    .collect(),
            })
            .collect();
        let mut observe = vec!["SELECT id, v, u, w, d, k, m FROM p ORDER BY id".to_string()];
        if self.child_action.is_some() {
            observe.push("SELECT id, p_id FROM c ORDER BY id".to_string());
        }
        sessions.push(Session {
            name: "observer".to_string(),
            setup: None,
            teardown: None,
            steps: vec![Step {
                name: "observe".to_string(),
                sql: observe.join("; "),
            }],
        });
        Spec {
            name: name.to_string(),
            setup,
            teardown: Vec::new(),
            listed: vec![self.permutation()],
            sessions,
        }
    }

    /// The interleaving as step names: `order` first, then the steps left, session by
    /// session, then the observer.
    fn permutation(&self) -> Permutation {
        let mut next = vec![0; self.sessions.len()];
        let mut steps = Vec::new();
        let mut take = |session: usize, steps: &mut Vec<String>| {
            if next[session] < self.sessions[session].len() {
                next[session] += 1;
                steps.push(format!("s{}_{}", session + 1, next[session]));
            }
        };
        for entry in &self.order {
            take(entry % self.sessions.len(), &mut steps);
        }
        for session in 0..self.sessions.len() {
            for _ in 0..self.sessions[session].len() {
                take(session, &mut steps);
            }
        }
        steps.push("observe".to_string());
        steps
            .into_iter()
            .map(|step| PermutationStep {
                step,
                blockers: Vec::new(),
            })
            .collect()
    }
}

/// A spec in the `.spec` text format (for adding a shrunk case to the corpus).
pub fn spec_text(spec: &Spec) -> String {
    let mut text = String::new();
    for block in &spec.setup {
        text.push_str(&format!("setup {{ {block}; }}\n"));
    }
    for session in &spec.sessions {
        text.push_str(&format!("\nsession {}\n", session.name));
        for step in &session.steps {
            text.push_str(&format!("step {} {{ {}; }}\n", step.name, step.sql));
        }
    }
    for permutation in &spec.listed {
        text.push_str(&format!(
            "\npermutation {}\n",
            permutation_text(permutation)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn generated_scripts_parse_back_from_their_text() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..50 {
            let script = script(3).new_tree(&mut runner).expect("tree").current();
            let spec = script.to_spec("generated");
            let text = spec_text(&spec);
            let parsed = crate::spec::parse("generated", &text).expect("round trip");
            assert_eq!(parsed.listed, spec.listed);
            assert_eq!(parsed.sessions.len(), spec.sessions.len());
            let steps: usize = script.sessions.iter().map(Vec::len).sum();
            assert_eq!(spec.listed[0].len(), steps + 1, "every step runs once");
        }
    }
}
