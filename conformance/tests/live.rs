//! The corpus on the simulation and on a live PostgreSQL, compared step by step.
//! SYNCSIM_CONFORMANCE_RECORD=1 rewrites `expected/*.out` from the live server.

use syncsim_conformance::compare::compare_case;
use syncsim_conformance::corpus;

use crate::support::with_server;

#[test]
fn every_case_agrees_with_a_live_server() {
    let dir = corpus::default_dir();
    let cases = corpus::load(&dir, None).expect("corpus loads");
    let record = std::env::var("SYNCSIM_CONFORMANCE_RECORD").is_ok_and(|value| value == "1");
    with_server("live corpus", |driver| {
        let mut problems = Vec::new();
        for case in &cases {
            let report = compare_case(case, Some(driver));
            let real = report.real.as_ref().expect("a live run has a real side");
            match (&real.text(), record) {
                (Ok(log), true) => corpus::record(&dir, &report.case, log).expect("records"),
                (Err(error), _) => problems.push(format!("{}: real backend: {error}", report.case)),
                _ => {}
            }
            if !report.agrees() {
                let difference = report.first_difference().unwrap_or_default();
                problems.push(format!("{}: {difference}", report.case));
            }
        }
        assert!(
            problems.is_empty(),
            "disagreements:\n{}",
            problems.join("\n")
        );
    });
}
