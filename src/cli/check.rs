//! `syncsim check` (the main job) and `syncsim list`.
//!
//! `check` runs every catalog scenario on its committed seed budget: a `caught` scenario
//! must fail within it, a `holds` scenario must pass every seed and hit every `sometimes`
//! property. It ends with a plain `check: N passed, M failed` line. With `--dir`, both read
//! the scenario files under that directory instead of the catalog.

use std::path::Path;

use crate::scenarios::expect::{self, Judged};
use crate::scenarios::ScenarioSpec;

use super::args::DirArgs;
use super::Usage;

/// Lists the catalog (or the scenario files of `--dir`).
pub fn list(arguments: &DirArgs) -> Result<u8, Usage> {
    for (scenario, _) in super::scenarios_from(arguments.dir.as_deref())? {
        // The properties the scenario checks (its selection, else all of its model's).
        let properties: Vec<String> = scenario
            .case()
            .model
            .properties()
            .iter()
            .map(|property| {
                let (modality, name) = (property.modality(), property.name());
                format!("{modality} {name:?}{}", property.shown_parameters())
            })
            .collect();
        say!(
            "{:<32} {:<7} {}",
            scenario.id,
            scenario.expectation,
            properties.join("; ")
        );
    }
    Ok(0)
}

/// Whether a scenario's budget met its expectation, with a summary.
fn verdict(scenario: &ScenarioSpec, file: Option<&Path>) -> (bool, String) {
    let judged = expect::judge(scenario, scenario.seeds());
    let summary = match &judged {
        Judged::Caught(outcome, ran) => {
            let failure = outcome.failure.as_ref().expect("a failed outcome");
            let replay = super::seed_command(&scenario.id, file, outcome.seed);
            format!(
                "caught at seed {} after {ran} seed(s): {}\n{:50}replay: {replay}",
                outcome.seed, failure.property, ""
            )
        }
        Judged::NotCaught(ran) => format!("NOT caught in {ran} seed(s)"),
        Judged::Failed(outcome) => {
            let report = outcome.report().expect("a failed outcome has a report");
            let replay = super::seed_command(&scenario.id, file, outcome.seed);
            let printed = super::printed(&report, &replay);
            format!("FAILED at seed {}:\n{printed}", outcome.seed)
        }
        Judged::Held(ran) => format!("held {ran} seed(s), every sometimes hit"),
        Judged::Uncovered(ran, names) => {
            format!("held {ran} seed(s) but never hit: {}", names.join("; "))
        }
    };
    (judged.met(), summary)
}

/// Runs the catalog (or the files of `--dir`); exit code 1 unless every expectation is met.
pub fn check(arguments: &DirArgs) -> Result<u8, Usage> {
    let all = super::scenarios_from(arguments.dir.as_deref())?;
    let (mut met_count, mut unmet_count) = (0, 0);
    say!("{:<32} {:<7} {:<4} result", "scenario", "expect", "met");
    for (scenario, file) in all {
        let (met, summary) = verdict(&scenario, file.as_deref());
        if met {
            met_count += 1;
        } else {
            unmet_count += 1;
        }
        let mark = if met { "yes" } else { "NO" };
        say!(
            "{:<32} {:<7} {:<4} {summary}",
            scenario.id,
            scenario.expectation,
            mark
        );
    }
    say!(
        "{}",
        if unmet_count == 0 {
            "every expectation met"
        } else {
            "some expectations NOT met"
        }
    );
    // The plain closing line CI readers count: one scenario, one pass or fail.
    say!("check: {met_count} passed, {unmet_count} failed");
    Ok(u8::from(unmet_count != 0))
}
