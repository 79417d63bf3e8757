//! The module documentation's example, compiled and run (the doc block itself is `ignore`d
//! because the module's crate path changes when it moves into syncsim).

use super::{Entropy, PgConfig, Postgres, StepOutcome, Value};

struct Counter(u64);

impl Entropy for Counter {
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Goal: the quickstart in `mod.rs` works as written.
#[test]
fn module_doc_example_runs() {
    let mut pg = Postgres::new(PgConfig::default());
    let session = pg.open_session();
    let mut entropy = Counter(0);
    let mut run = |sql: &str| match pg.submit(session, sql, &[], 0, &mut entropy) {
        StepOutcome::Done(result) => result,
        StepOutcome::Blocked { .. } => unreachable!("one session never blocks"),
    };
    run("CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE)").unwrap();
    let inserted = run("INSERT INTO users (email) VALUES ('a@x') RETURNING id").unwrap();
    assert_eq!(inserted.command_tag, "INSERT 0 1");
    assert_eq!(inserted.rows, vec![vec![Value::Int8(1)]]);
    let duplicate = run("INSERT INTO users (email) VALUES ('a@x')").unwrap_err();
    assert_eq!(duplicate.code(), "23505");
}
