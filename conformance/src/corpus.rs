//! The corpus on disk: scripts in `specs/<case>.spec`, the real server's recorded logs in
//! `expected/<case>.out`, both under the crate directory by default.
//!
//! Reading files is fine here: the corpus is loaded outside any simulation.

use std::path::{Path, PathBuf};

use crate::spec::{self, Spec};

/// The crate's own corpus directory (holding `specs/` and `expected/`).
pub fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A case: its script and the recorded real-server log, if any.
#[derive(Clone, Debug)]
pub struct Case {
    /// The parsed script.
    pub spec: Spec,
    /// `expected/<case>.out`, if recorded.
    pub expected: Option<String>,
}

/// Loads every `specs/*.spec` under `dir` (or `dir/*.spec` when `dir` has no `specs/`: a
/// folder of spec files dropped from PostgreSQL's repository) whose name contains `filter`,
/// sorted by name. Errors name the file: a missing directory, an unreadable file or a script
/// that does not parse.
#[allow(clippy::disallowed_methods)] // The corpus is read outside any simulation.
pub fn load(dir: &Path, filter: Option<&str>) -> Result<Vec<Case>, String> {
    let nested = dir.join("specs");
    let specs_dir = if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let entries = std::fs::read_dir(&specs_dir)
        .map_err(|error| format!("cannot read {}: {error}", specs_dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "spec")
        })
        .collect();
    paths.sort();
    let mut cases = Vec::new();
    for path in paths {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or_else(|| format!("{}: file name is not UTF-8", path.display()))?
            .to_string();
        if filter.is_some_and(|filter| !name.contains(filter)) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let spec =
            spec::parse(&name, &text).map_err(|error| format!("{}: {error}", path.display()))?;
        let expected = std::fs::read_to_string(expected_path(dir, &name)).ok();
        cases.push(Case { spec, expected });
    }
    Ok(cases)
}

/// Where a case's recorded log lives.
pub fn expected_path(dir: &Path, case: &str) -> PathBuf {
    dir.join("expected").join(format!("{case}.out"))
}

/// Writes a recorded log (SYNCSIM_CONFORMANCE_RECORD=1).
#[allow(clippy::disallowed_methods)] // Recording writes the corpus, outside any simulation.
pub fn record(dir: &Path, case: &str, text: &str) -> Result<(), String> {
    let path = expected_path(dir, case);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    std::fs::write(&path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}
