//! `syncsim conformance`: runs the conformance corpus (conformance/specs) on the simulated
//! Postgres and on a real PostgreSQL (`--url`, else SYNCSIM_PG_URL), or against the logs
//! recorded from one (`--offline`, or when no server is named), and prints a per-case table.
//! Ends with a plain `conformance: N passed, M failed` line; exit code 1 on any disagreement.

use syncsim_conformance::compare::{compare_case, CaseReport, RealSource};
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
            dir.join("specs").display()
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
    say!("{:<28} {:<44} {:<44} agree", "case", "sim", "real");
    let mut reports = Vec::new();
    for case in &cases {
        let report = compare_case(case, driver.as_mut());
        print_row(&report);
        reports.push(report);
    }
    show(arguments, &reports);
    let failed = reports.iter().filter(|report| !report.agrees()).count();
    say!(
        "conformance: {} passed, {failed} failed",
        reports.len() - failed
    );
    Ok(u8::from(failed > 0))
}

fn print_row(report: &CaseReport) {
    let real = match (&report.real, report.source) {
        (Some(side), RealSource::Live) => side.summary.clone(),
        (Some(_), RealSource::Recorded) => "recorded".to_string(),
        _ => "missing: no server and no recording".to_string(),
    };
    let agree = if report.agrees() { "yes" } else { "NO" };
    say!(
        "{:<28} {:<44} {:<44} {agree}",
        report.case,
        report.sim.summary,
        real
    );
}

fn show(arguments: &ConformanceArgs, reports: &[CaseReport]) {
    for report in reports {
        if !arguments.show && report.agrees() {
            continue;
        }
        say!(
            "\n== {} ({})",
            report.case,
            if report.agrees() { "agrees" } else { "differs" }
        );
        if let Some(difference) = report.first_difference() {
            say!("first difference: {difference}");
        }
        let text = |log: &Result<String, String>| {
            log.clone()
                .unwrap_or_else(|error| format!("error: {error}"))
        };
        say!("-- sim\n{}", text(&report.sim.log));
        if let Some(real) = &report.real {
            say!("-- real\n{}", text(&real.log));
        }
    }
}
