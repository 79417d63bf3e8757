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
