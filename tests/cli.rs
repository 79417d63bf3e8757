//! The `syncsim` command: its main job passes, a failure prints a replay command that
//! reproduces it, and bad input gets a clear message and exit code 2, never a panic.

use std::process::{Command, Output};

fn syncsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncsim"))
        .args(args)
        .output()
        .expect("the syncsim binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[test]
fn the_main_job_meets_every_expectation() {
    let output = syncsim(&[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("counter/unguarded"), "{stdout}");
    assert!(stdout.contains("every expectation met"), "{stdout}");
}

#[test]
fn a_failing_run_prints_a_replay_command_that_reproduces_the_digest() {
    let output = syncsim(&["run", "counter/unguarded"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let replay = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("replay:"))
        .expect("a replay line");
    let arguments: Vec<&str> = replay
        .split_whitespace()
        .skip_while(|word| *word != "--")
        .skip(1)
        .collect();
    assert_eq!(arguments[..2], ["run", "counter/unguarded"], "{replay}");
    let digest_line = |stdout: &str| {
        let line = stdout
            .lines()
            .rfind(|line| line.starts_with("seed "))
            .expect("seed line");
        line.to_string()
    };
    let replayed = syncsim(&arguments);
    assert_eq!(replayed.status.code(), Some(1));
    assert_eq!(digest_line(&text(&replayed.stdout)), digest_line(&stdout));
}

#[test]
fn bad_input_gets_a_clear_message_and_exit_code_2() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["run", "counter/nope"],
            "unknown scenario \"counter/nope\"",
        ),
        (
            &["run", "counter/unguarded", "--seed", "0xzz"],
            "invalid seed \"0xzz\"",
        ),
        (&["run", "counter/unguarded", "--seeds", "9..3"], "is empty"),
        (
            &["run", "counter/unguarded", "--seeds", "12"],
            "expected A..B",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, message) in cases {
        let output = syncsim(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
