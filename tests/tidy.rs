//! Tidy: the house rules a reader relies on, checked over every Rust source file.
//!
//! Every file opens with a `//!` header; no fix-me tag or debug macro lands; no line passes 100
//! columns. Std-only, a few lines, like TigerBeetle's tidy.

#![allow(clippy::disallowed_methods)] // Reads the repository's sources, not simulated state.

use std::path::{Path, PathBuf};

fn rust_files(directory: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(directory).expect("readable directory");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        // A build inside the tree (the template built in place) is not source.
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_has_a_header_and_no_fixme_dbg_or_long_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in [
        "src",
        "sim/src",
        "services/src",
        "models/src",
        "scenarios/src",
        "conformance/src",
        "conformance/tests",
        "tests",
        "examples",
    ] {
        rust_files(&root.join(directory), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("utf-8 source");
        let name = file
            .strip_prefix(root)
            .expect("under the root")
            .display()
            .to_string();
        if !source.starts_with("//!") {
            problems.push(format!("{name}: does not open with a //! header"));
        }
        for (line_index, line) in source.lines().enumerate() {
            let line_number = line_index + 1;
            if line.contains(concat!("FIX", "ME")) || line.contains(concat!("dbg", "!(")) {
                let problem = "a fix-me tag or debug macro must not land";
                problems.push(format!("{name}:{line_number}: {problem}"));
            }
            if line.chars().count() > 100 {
                problems.push(format!("{name}:{line_number}: longer than 100 columns"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
