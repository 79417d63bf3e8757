//! Quickstart: sweep seeds of the toy counter model until a lost update shows up, then
//! replay that one seed and check it reproduces the same trace.
//!
//! Run with `cargo run --example quickstart`. The model itself lives in
//! `models/src/counter/`; `scenarios/catalog/counter/` puts it under faults.
#![allow(clippy::print_stdout)]

use syncsim::scenarios;
use syncsim::sim::seed_range;

fn main() {
    let scenario =
        scenarios::find("counter/unguarded").expect("the toy scenario is in the catalog");
    let sweep = scenario.case().run_seeds(seed_range(0, 100), true);
    let Some(found) = sweep.failure else {
        println!("no failure in {} seeds", sweep.seeds.len());
        std::process::exit(1);
    };
    let report = found.report().expect("a failed run has a report");
    let replay = syncsim::cli::seed_command(&scenario.id, None, found.seed);
    println!("{}", syncsim::cli::printed(&report, &replay));
    let replayed = scenario.case().run(found.seed);
    assert_eq!(
        replayed.digest(),
        found.digest(),
        "a replay must reproduce the trace"
    );
    println!(
        "replayed seed {}: same digest {}",
        found.seed,
        replayed.digest()
    );
}
