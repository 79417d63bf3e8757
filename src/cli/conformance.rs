//! `syncsim conformance`: runs the conformance corpus (conformance/specs, or `--dir`'s
//! specs/, e.g. PostgreSQL's own isolation specs) on the simulated Postgres and on a real
//! PostgreSQL (`--url`, else SYNCSIM_PG_URL), or against the logs recorded from one
//! (`--offline`, or when no server is named), and prints a per-case table of permutations:
//! agreeing, stopped on unsupported SQL (the simulation answered 0A000), differing.
//! Ends with a totals line and `conformance: N passed, M failed`; exit code 1 on any
//! disagreement (with `--allow-unsupported`, only on a difference not explained by 0A000).

use syncsim_conformance::compare::{compare_case, CaseReport, RealSource, Verdict};
use syncsim_conformance::corpus;
use syncsim_conformance::real_backend::RealDriver;
use syncsim_conformance::server::URL_VAR;

use super::args::ConformanceArgs;
use super::Usage;

/// Runs the command.
pub fn conformance(arguments: &ConformanceArgs) -> Result<u8, Usage> {
    let dir = arguments.dir.clone().unwrap_or_else(corpus::default_dir);
    let cases = corpus::load(&dir, arguments.filter.as_deref()).map_err(Usage)?;
    if cases.is_empty() {
        let filter = arguments.filter.as_deref().unwrap_or("");
        return Err(Usage(format!(
            "no case in {} matches filter {filter:?}",
            dir.display()
        )));
    }
    let url = match (&arguments.url, arguments.offline) {
        (Some(url), _) => Some(url.clone()),
        (None, true) => None,
        (None, false) => std::env::var(URL_VAR).ok(),
    };
    let mut driver = match &url {
        Some(url) => Some(RealDriver::connect(url).map_err(|error| Usage(error.to_string()))?),
        None => None,
    };
    if driver.is_none() {
        eprintln!(
            "conformance: no server ({URL_VAR} unset or --offline): comparing with the \
             recorded logs"
        );
    }
    say!(
        "{:<32} {:>5} {:>6} {:>12} {:>7}  {}",
        "case",
        "perms",
        "agree",
        "unsupported",
        "differ",
        "real"
    );
    let mut reports = Vec::new();
    for case in &cases {
        let report = compare_case(case, driver.as_mut());
        print_row(&report);
        reports.push(report);
    }
    show(arguments, &reports);
    let total = |verdict| reports.iter().map(|r| r.count(verdict)).sum::<usize>();
    let permutations: usize = reports.iter().map(|report| report.permutations).sum();
    say!(
        "permutations: {permutations} run, {} agree, {} unsupported, {} differ",
        total(Verdict::Agrees),
        total(Verdict::Unsupported),
        total(Verdict::Differs)
    );
    let failed = reports.iter().filter(|report| !report.agrees()).count();
    say!(
        "conformance: {} passed, {failed} failed",
        reports.len() - failed
    );
    let failing = if arguments.allow_unsupported {
        total(Verdict::Differs) > 0
    } else {
        failed > 0
    };
    Ok(u8::from(failing))
}

fn print_row(report: &CaseReport) {
    let real = match (&report.real, report.source) {
        (Some(side), RealSource::Live) => side.summary.clone(),
        (Some(_), RealSource::Recorded) => "recorded".to_string(),
        _ => "missing: no server and no recording".to_string(),
    };
    say!(
        "{:<32} {:>5} {:>6} {:>12} {:>7}  {real}",
        report.case,
        report.permutations,
        report.count(Verdict::Agrees),
        report.count(Verdict::Unsupported),
        report.count(Verdict::Differs),
    );
}

/// After the table: every case's logs with `--show`; otherwise the differing permutations
/// (up to [`SHOWN_MAX`] per case, both sides, messages next to SQLSTATEs) and, for cases
/// stopped by unsupported SQL, the first construct the simulation refused.
fn show(arguments: &ConformanceArgs, reports: &[CaseReport]) {
    for report in reports {
        let differing: Vec<usize> = (0..report.permutations)
            .filter(|index| report.verdict_at(*index) == Verdict::Differs)
            .collect();
        let shown = if arguments.show {
            report.permutations
        } else {
            SHOWN_MAX
        };
        if differing.is_empty() && !arguments.show {
            if report.count(Verdict::Unsupported) == 0 {
                continue;
            }
            let refusal = match &report.sim.logs {
                Err(error) => Some(error.clone()),
                Ok(_) => report.sim.first_refusal(),
            };
            if let Some(refusal) = refusal {
                say!("unsupported in {}: {refusal}", report.case);
            }
            continue;
        }
        let verdict = if report.agrees() { "agrees" } else { "differs" };
        say!("\n== {} ({verdict})", report.case);
        if let Some(difference) = report.first_difference() {
            say!("first difference: {difference}");
        }
        let indices = if arguments.show {
            (0..report.permutations).collect()
        } else {
            differing
        };
        for index in indices.into_iter().take(shown) {
            say!("-- sim\n{}", report.sim.shown(index));
            if let Some(real) = &report.real {
                say!("-- real\n{}", real.shown(index));
            }
        }
    }
}

/// Differing permutations printed per case without `--show`.
const SHOWN_MAX: usize = 3;
