//! Every scenario file meets its expectation on its committed seeds (or on those
//! `SYNCSIM_SEED`, `SYNCSIM_SEEDS` and `SYNCSIM_SCENARIO` ask for).

#[test]
fn every_scenario_file_meets_its_expectation() {
    tally_sim::register();
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = syncsim::scenarios::file::load_dir(&directory).expect("the scenario files load");
    for (path, scenario) in files {
        let verdict = syncsim::scenarios::expect::meets_expectation(&scenario);
        let summary = verdict.unwrap_or_else(|report| panic!("{}:\n{report}", path.display()));
        println!("{summary}");
    }
}
