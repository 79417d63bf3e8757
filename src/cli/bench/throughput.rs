//! Section "throughput": for every selected scenario, seeds per second, trace events per
//! second and virtual seconds per wall second, on one core and on all of them. Each repeat
//! runs seeds from 0 upward for one window, so repeats measure the same runs. A `caught`
//! scenario's failing seeds end early and count like any other: this is exploration speed,
//! not time to a bug (section "time-to-bug"). Not measured: shrinking, replay files.

use crate::scenarios::ScenarioSpec;

use super::driver::run_window;
use super::markdown::Table;
use super::stats::{number, Spread};
use super::Settings;

/// The section's Markdown body.
pub fn section(scenarios: &[ScenarioSpec], settings: &Settings) -> String {
    let mut table = Table::new(&[
        "scenario",
        "threads",
        "seeds/s",
        "seeds/s per core",
        "events/s",
        "virtual s per wall s",
        "events per seed",
    ]);
    let mut thread_counts = vec![1];
    if settings.thread_count > 1 {
        thread_counts.push(settings.thread_count);
    }
    for scenario in scenarios {
        let case = scenario.case();
        for &threads in &thread_counts {
            let batches: Vec<_> = (0..settings.repeats)
                .map(|_| run_window(&case, 0, threads, settings.window))
                .collect();
            let rate = |value: fn(&super::driver::Batch) -> f64| {
                let rates: Vec<f64> = batches
                    .iter()
                    .map(|batch| value(batch) / batch.wall_s)
                    .collect();
                Spread::of(&rates)
            };
            let seeds = rate(|batch| batch.seed_count as f64);
            let per_core: Vec<f64> = batches
                .iter()
                .map(|batch| batch.seed_count as f64 / batch.wall_s / f64::from(threads))
                .collect();
            let events_per_seed: Vec<f64> = batches
                .iter()
                .map(|batch| batch.event_count as f64 / batch.seed_count as f64)
                .collect();
            table.row(vec![
                scenario.id.clone(),
                threads.to_string(),
                seeds.show(),
                number(Spread::of(&per_core).median),
                rate(|batch| batch.event_count as f64).show(),
                rate(|batch| batch.virtual_s).show(),
                number(Spread::of(&events_per_seed).median),
            ]);
            eprintln!(
                "bench throughput: {} on {threads} thread(s) done",
                scenario.id
            );
        }
    }
    format!(
        "Each cell: median (min..max) over {} windows of {} of real time, seeds from 0 \
         upward; a `caught` scenario's failing runs end early and count like the others.\n\n{}",
        settings.repeats,
        humantime::format_duration(settings.window),
        table.render()
    )
}
