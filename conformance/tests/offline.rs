//! The corpus on the simulation against the logs recorded from a real PostgreSQL: runs
//! everywhere, no server needed.

use syncsim_conformance::compare::{compare_case, RealSource};
use syncsim_conformance::corpus;

#[test]
fn every_case_agrees_with_its_recorded_real_log() {
    let cases = corpus::load(&corpus::default_dir(), None).expect("corpus loads");
    assert!(cases.len() >= 5, "the corpus has cases");
    let mut problems = Vec::new();
    for case in &cases {
        let report = compare_case(case, None);
        if report.source == RealSource::Missing {
            problems.push(format!(
                "{}: no expected/{}.out recorded",
                report.case, report.case
            ));
        } else if !report.agrees() {
            let difference = report.first_difference().unwrap_or_default();
            problems.push(format!("{}: {difference}", report.case));
        }
    }
    assert!(
        problems.is_empty(),
        "disagreements:\n{}",
        problems.join("\n")
    );
}

/// A wait for a safe snapshot is no lock wait: the simulation's runner arms no
/// `lock_timeout` (nor deadlock check) for it, as PostgreSQL's does not, so a DEFERRABLE
/// read with a 10 ms `lock_timeout` waits for the writer's COMMIT and then returns its rows
/// (the real server cannot show a timer that never fires: its runner would wait for it).
#[test]
fn lock_timeout_does_not_end_a_safe_snapshot_wait() {
    use syncsim_conformance::outcome::render;
    use syncsim_conformance::runner::run_spec;
    use syncsim_conformance::sim_backend::SimDriver;
    let text = "setup { CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); }\n\
        session w\nsetup { BEGIN ISOLATION LEVEL SERIALIZABLE; }\n\
        step wr { SELECT id FROM t; }\nstep wc { COMMIT; }\n\
        session r\nstep rl { SET lock_timeout = '10ms'; }\n\
        step rb { BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE; }\n\
        step rr { SELECT id FROM t; }\nstep rc { COMMIT; }\n\
        permutation wr rl rb rr wc rc\n";
    let spec = syncsim_conformance::spec::parse("deferrable-lock-timeout", text).expect("parses");
    let logs = run_spec(&mut SimDriver::default(), &spec).expect("runs");
    let log = render(&logs);
    assert!(log.contains("rr: <waiting>"), "{log}");
    assert!(log.contains("rr: <done> rows [id] (1)"), "{log}");
}
