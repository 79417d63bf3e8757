//! The crate's own `syncsim` command reads its `scenarios/` directory as the catalog: `list`
//! and `run <id>` need no `--dir`, and a failing scenario leaves a replay file that `replay`
//! reproduces.

use std::process::Command;

fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tally-sim"))
}

#[test]
fn list_shows_this_crates_scenarios() {
    let output = command().arg("list").output().expect("the command runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("tally/blind"), "{stdout}");
    assert!(stdout.contains("tally/compare_and_set"), "{stdout}");
    assert!(
        !stdout.contains("counter/"),
        "the built-in catalog is not listed: {stdout}"
    );
}

#[test]
fn run_by_id_fails_and_its_replay_reproduces() {
    let failures = std::env::temp_dir().join(format!("tally-sim-failures-{}", std::process::id()));
    let output = command()
        .args(["run", "tally/blind", "--seeds", "50"])
        .env("SYNCSIM_FAILURES_DIR", &failures)
        .output()
        .expect("the command runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the blind tally fails: {stdout}"
    );
    assert!(
        stdout.contains("--file"),
        "the seed command names the file: {stdout}"
    );
    let replay_file = std::fs::read_dir(&failures)
        .expect("the failures directory exists")
        .map(|entry| entry.expect("an entry").path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .expect("a replay file was written");
    let replayed = command()
        .arg("replay")
        .arg(&replay_file)
        .output()
        .expect("replay runs");
    let _ = std::fs::remove_dir_all(&failures);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stdout)
    );
}

/// `SYNCSIM_CATALOG_DIR` points the command at another scenario directory (a binary moved
/// away from the checkout it was built in).
#[test]
fn the_catalog_directory_can_be_moved() {
    let moved = std::env::temp_dir().join(format!("tally-sim-catalog-{}", std::process::id()));
    std::fs::create_dir_all(&moved).expect("a scratch directory");
    let blind = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/blind.toml");
    std::fs::copy(blind, moved.join("blind.toml")).expect("a scenario file");
    let output = command()
        .arg("list")
        .env("SYNCSIM_CATALOG_DIR", &moved)
        .output()
        .expect("the command runs");
    let _ = std::fs::remove_dir_all(&moved);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("tally/blind"), "{stdout}");
    assert!(
        !stdout.contains("tally/compare_and_set"),
        "only the moved directory: {stdout}"
    );
}
