//! Property tests against serial reference models.
//!
//! 1. Two sessions' autocommit statements on one keyed table, in random interleavings with
//!    random crashes, compared statement by statement with a `BTreeMap` model.
//! 2. Two sessions running short upsert transactions concurrently (so they block, resume and
//!    sometimes deadlock): every committed increment must be counted exactly once.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{int, Harness};
use super::{SessionId, StepOutcome, Value};

const KV_TABLE: &str = "CREATE TABLE kv (k int PRIMARY KEY, v int NOT NULL)";

#[derive(Clone, Debug)]
enum Op {
    Insert(i32, i32),
    Upsert(i32, i32),
    Update(i32, i32),
    Delete(i32),
    Select(i32),
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..6i32;
    prop_oneof![
        (key.clone(), 0..100i32).prop_map(|(k, v)| Op::Insert(k, v)),
        (key.clone(), 0..100i32).prop_map(|(k, v)| Op::Upsert(k, v)),
        (key.clone(), 0..100i32).prop_map(|(k, v)| Op::Update(k, v)),
        key.clone().prop_map(Op::Delete),
        key.prop_map(Op::Select),
        Just(Op::Crash),
    ]
}

/// Applies one op to the model; returns the expected (rows_affected or SQLSTATE, rows).
fn model_apply(
    model: &mut BTreeMap<i32, i32>,
    op: &Op,
) -> (Result<u64, &'static str>, Vec<Vec<Value>>) {
    match *op {
        Op::Insert(k, _) if model.contains_key(&k) => (Err("23505"), Vec::new()),
        Op::Insert(k, v) | Op::Upsert(k, v) => {
            model.insert(k, v);
            (Ok(1), Vec::new())
        }
        Op::Update(k, v) => match model.get_mut(&k) {
            Some(slot) => {
                *slot = v;
                (Ok(1), vec![vec![int(v)]])
            }
            None => (Ok(0), Vec::new()),
        },
        Op::Delete(k) => (Ok(u64::from(model.remove(&k).is_some())), Vec::new()),
        Op::Select(k) => match model.get(&k) {
            Some(v) => (Ok(1), vec![vec![int(*v)]]),
            None => (Ok(0), Vec::new()),
        },
        Op::Crash => (Ok(0), Vec::new()),
    }
}

fn sql_of(op: &Op) -> (String, Vec<Value>) {
    match *op {
        Op::Insert(k, v) => (
            "INSERT INTO kv VALUES ($1, $2)".into(),
            vec![int(k), int(v)],
        ),
        Op::Upsert(k, v) => (
            "INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v".into(),
            vec![int(k), int(v)],
        ),
        Op::Update(k, v) => (
            "UPDATE kv SET v = $2 WHERE k = $1 RETURNING v".into(),
            vec![int(k), int(v)],
        ),
        Op::Delete(k) => ("DELETE FROM kv WHERE k = $1".into(), vec![int(k)]),
        Op::Select(k) => ("SELECT v FROM kv WHERE k = $1".into(), vec![int(k)]),
        Op::Crash => (String::new(), Vec::new()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Goal: with autocommit statements the engine behaves exactly like a serial map, for any
    /// interleaving of two sessions and any crash points (crash loses nothing committed).
    #[test]
    fn autocommit_interleavings_match_serial_model(
        ops in proptest::collection::vec((any::<bool>(), op()), 1..40),
    ) {
        let (mut harness, first) = Harness::with_setup(KV_TABLE);
        let mut sessions = [first, harness.session()];
        let mut model = BTreeMap::new();
        for (use_second, op) in &ops {
            let (expected, expected_rows) = model_apply(&mut model, op);
            if let Op::Crash = op {
                harness.pg.crash();
                sessions = [harness.session(), harness.session()];
                continue;
            }
            let (sql, params) = sql_of(op);
            let result = harness.run_params(sessions[usize::from(*use_second)], &sql, &params);
            match (result, expected) {
                (Ok(result), Ok(affected)) => {
                    prop_assert_eq!(result.rows_affected, affected, "{:?}", op);
                    if matches!(op, Op::Select(_) | Op::Update(..)) {
                        prop_assert_eq!(result.rows, expected_rows);
                    }
                }
                (Err(error), Err(code)) => prop_assert_eq!(error.code(), code),
                (actual, expected) => {
                    prop_assert!(false, "{:?}: engine {:?}, model {:?}", op, actual, expected)
                }
            }
        }
        let expected: Vec<Vec<Value>> = model.iter().map(|(k, v)| vec![int(*k), int(*v)]).collect();
        let mut actual = harness.pg.table_snapshot("kv");
        actual.sort_by_key(|row| match row[0] { Value::Int4(k) => k, _ => i32::MIN });
        prop_assert_eq!(actual, expected);
    }
}

/// One session's script: transactions of upsert-increments on keys.
struct Worker {
    session: SessionId,
    transactions: Vec<Vec<i32>>,
    txn_index: usize,
    /// 0 = BEGIN next, 1..=n = statement n-1 next, n+1 = COMMIT next.
    step_index: usize,
    blocked: bool,
    failed: bool,
}

impl Worker {
    fn new(session: SessionId, transactions: Vec<Vec<i32>>) -> Self {
        Worker {
            session,
            transactions,
            txn_index: 0,
            step_index: 0,
            blocked: false,
            failed: false,
        }
    }

    fn done(&self) -> bool {
        self.txn_index >= self.transactions.len()
    }

    fn next_sql(&self) -> (String, Vec<Value>) {
        let keys = &self.transactions[self.txn_index];
        match self.step_index {
            0 => ("BEGIN".into(), Vec::new()),
            step if self.failed || step > keys.len() => ("COMMIT".into(), Vec::new()),
            step => (
                "INSERT INTO kv VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET v = kv.v + 1".into(),
                vec![int(keys[step - 1])],
            ),
        }
    }

    /// Records a finished statement; returns the keys of a transaction that just committed.
    fn finish(&mut self, result: &Result<super::QueryResult, super::PgError>) -> Option<Vec<i32>> {
        self.blocked = false;
        let committing = self.failed || self.step_index > self.transactions[self.txn_index].len();
        if committing && self.step_index > 0 {
            let tag = result
                .as_ref()
                .expect("COMMIT never fails")
                .command_tag
                .clone();
            let keys = self.transactions[self.txn_index].clone();
            self.txn_index += 1;
            self.step_index = 0;
            self.failed = false;
            return (tag == "COMMIT").then_some(keys);
        }
        if let Err(error) = result {
            assert_eq!(error.code(), "40P01", "only deadlocks may fail: {error}");
            self.failed = true;
        }
        self.step_index += 1;
        None
    }
}

fn transactions() -> impl Strategy<Value = Vec<Vec<i32>>> {
    proptest::collection::vec(proptest::collection::vec(0..3i32, 1..4), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Goal: concurrent upsert-increment transactions never lose or double an increment:
    /// ON CONFLICT waits for the concurrent inserter, row locks serialize updaters, and a
    /// deadlock victim's increments vanish with its rollback.
    #[test]
    fn concurrent_upsert_increments_are_counted_once(
        first in transactions(),
        second in transactions(),
        schedule in proptest::collection::vec(any::<bool>(), 64),
    ) {
        let (mut harness, s1) = Harness::with_setup(KV_TABLE);
        let s2 = harness.session();
        let mut workers = [
            Worker::new(s1, first),
            Worker::new(s2, second),
        ];
        let mut expected: BTreeMap<i32, i32> = BTreeMap::new();
        let mut schedule = schedule.into_iter().cycle();
        for _ in 0..400 {
            if workers.iter().all(Worker::done) {
                break;
            }
            let pick = usize::from(schedule.next().unwrap_or(false));
            let chosen = [pick, 1 - pick]
                .into_iter()
                .find(|index| !workers[*index].done() && !workers[*index].blocked);
            match chosen {
                Some(index) => {
                    let (sql, params) = workers[index].next_sql();
                    harness.now_micros += 1_000;
                    let session = workers[index].session;
                    let now_micros = harness.now_micros;
                    let outcome =
                        harness.pg.submit(session, &sql, &params, now_micros, &mut harness.entropy);
                    match outcome {
                        StepOutcome::Blocked { .. } => workers[index].blocked = true,
                        StepOutcome::Done(result) => {
                            for key in workers[index].finish(&result).into_iter().flatten() {
                                *expected.entry(key).or_default() += 1;
                            }
                        }
                    }
                }
                None => {
                    // Both blocked: the first waiter's deadlock check fires.
                    let victim = workers
                        .iter()
                        .position(|worker| worker.blocked)
                        .expect("someone waits");
                    let error = harness.pg.check_deadlock(workers[victim].session);
                    prop_assert!(error.is_some(), "two blocked sessions must be a deadlock");
                    workers[victim].finish(&Err(error.expect("checked")));
                }
            }
            for (session, outcome) in harness.wake() {
                let worker = workers
                    .iter_mut()
                    .find(|worker| worker.session == session)
                    .expect("known session");
                if let StepOutcome::Done(result) = outcome {
                    for key in worker.finish(&result).into_iter().flatten() {
                        *expected.entry(key).or_default() += 1;
                    }
                }
            }
        }
        prop_assert!(workers.iter().all(Worker::done), "scripts finish");
        let expected_rows: Vec<Vec<Value>> =
            expected.iter().map(|(k, v)| vec![int(*k), int(*v)]).collect();
        let mut actual = harness.pg.table_snapshot("kv");
        actual.sort_by_key(|row| match row[0] { Value::Int4(k) => k, _ => i32::MIN });
        prop_assert_eq!(actual, expected_rows);
    }
}
