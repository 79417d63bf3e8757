//! Scenario files: one scenario per TOML (or JSON) file, read at run time, so a user tries a
//! new fault plan, workload or property selection on a catalog model without a rebuild.
//!
//! A file holds a `ScenarioSpec` as data (the same fields a replay file's `scenario` has);
//! unknown fields are refused. Every error names the file, the field (its path, as
//! `faults.timed[2].at`) and, for a syntax or type error, the line and column. The committed
//! catalog is such files (`scenarios/catalog/`), embedded at build time. A file names its model by
//! its registered name (`registry`). Not here: models themselves (a model is code).

use std::path::{Path, PathBuf};

use crate::spec::ScenarioSpec;

/// The longest scenario file read, in bytes: far above any real scenario (the catalog's
/// largest is under 3 KiB), low enough that a wrong path to a huge file fails at once.
pub const FILE_BYTES_MAX: u64 = 1 << 20;

/// Parses and validates one scenario file's text; `origin` (its path) names it in errors.
/// `.json` is read as JSON, anything else as TOML.
pub fn parse(text: &str, origin: &str) -> Result<ScenarioSpec, String> {
    let spec: ScenarioSpec = if origin.ends_with(".json") {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer)
            .map_err(|error| located(origin, error.path(), &error.inner().to_string()))?
    } else {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|error| format!("{origin}: {}", error.to_string().trim_end()))?;
        serde_path_to_error::deserialize(deserializer)
            .map_err(|error| located(origin, error.path(), &error.inner().to_string()))?
    };
    spec.validate()
        .map_err(|error| format!("{origin}: invalid scenario: {error}"))?;
    Ok(spec)
}

/// `origin: field `path`: message`, the path left out when the error is at the top.
fn located(origin: &str, path: &serde_path_to_error::Path, message: &str) -> String {
    let message = message.trim_end();
    match path.to_string().as_str() {
        "." | "" => format!("{origin}: {message}"),
        field => format!("{origin}: field `{field}`: {message}"),
    }
}

/// Reads and parses the scenario file at `path`.
#[allow(clippy::disallowed_methods)] // Scenario files are read by the CLI, outside any run.
pub fn load(path: &Path) -> Result<ScenarioSpec, String> {
    let origin = path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|error| format!("{origin}: cannot read: {error}"))?
        .len();
    if size > FILE_BYTES_MAX {
        return Err(format!(
            "{origin}: {size} bytes, above the {FILE_BYTES_MAX}-byte limit of a scenario file"
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{origin}: cannot read: {error}"))?;
    parse(&text, &origin)
}

/// Every scenario file (`*.toml`, `*.json`) under `directory`, recursively, in path order,
/// each with its path. Two files with one id are refused, as is a directory with none.
pub fn load_dir(directory: &Path) -> Result<Vec<(PathBuf, ScenarioSpec)>, String> {
    let mut paths = Vec::new();
    collect(directory, &mut paths)?;
    paths.sort();
    if paths.is_empty() {
        let shown = directory.display();
        return Err(format!("{shown}: no scenario files (*.toml, *.json)"));
    }
    let mut loaded: Vec<(PathBuf, ScenarioSpec)> = Vec::new();
    for path in paths {
        let spec = load(&path)?;
        if let Some((first, _)) = loaded.iter().find(|(_, other)| other.id == spec.id) {
            return Err(format!(
                "{}: scenario id {:?} is also the id of {}",
                path.display(),
                spec.id,
                first.display()
            ));
        }
        loaded.push((path, spec));
    }
    Ok(loaded)
}

fn collect(directory: &Path, paths: &mut Vec<PathBuf>) -> Result<(), String> {
    let shown = directory.display();
    let entries =
        std::fs::read_dir(directory).map_err(|error| format!("{shown}: cannot read: {error}"))?;
    for entry in entries {
        let path = entry
            .map_err(|error| format!("{shown}: cannot read: {error}"))?
            .path();
        if path.is_dir() {
            collect(&path, paths)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml" || extension == "json")
        {
            paths.push(path);
        }
    }
    Ok(())
}

/// The committed catalog: the embedded files, parsed (a test checks each loads).
pub(crate) fn embedded() -> Vec<ScenarioSpec> {
    mod files {
        include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
    }
    files::FILES
        .iter()
        .map(|(path, text)| {
            let origin = format!("scenarios/catalog/{path}");
            parse(text, &origin)
                .unwrap_or_else(|error| panic!("a committed scenario file: {error}"))
        })
        .collect()
}
